// Body framing and BodyReader: ngx_http_proxy_input_filter_init's decision
// and the copy/chunked filters (RELIABILITY U4, U5, U8, U11), end to end with
// the head parser at every split point.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseHeadParser, type ResponseHead } from '../../../src/protocols/http/response-parser.js';
import {
  BodyReader, decideFraming, ExtraReason, type BodyStatus,
} from '../../../src/protocols/http/body-framing.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function head(text: string): ResponseHead {
  const p = new ResponseHeadParser();
  assert.equal(p.feed(b(text)), 'ok');
  return p.head!;
}

test('decideFraming mirrors ngx_http_proxy_input_filter_init', () => {
  assert.equal(decideFraming(head('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'), true), 'none');
  assert.equal(decideFraming(head('HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n'), false), 'none');
  assert.equal(decideFraming(head('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'), false), 'none');
  assert.equal(decideFraming(head('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n'), false), 'none');
  assert.equal(decideFraming(head('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), false), 'chunked');
  assert.equal(decideFraming(head('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), false), 'none');
  assert.equal(decideFraming(head('HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n'), false), 'length');
  assert.equal(decideFraming(head('HTTP/1.1 200 OK\r\n\r\n'), false), 'close');
  assert.equal(decideFraming(head('HTTP/1.0 200 OK\r\n\r\n'), false), 'close');
  assert.equal(decideFraming(head('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'), false), 'upgrade');
});

test('length: views are subarrays, never copies', () => {
  const r = new BodyReader('length', 10);
  const s1 = b('01234');
  assert.equal(r.feed(s1), 'again');
  assert.equal(r.views.length, 1);
  assert.equal(r.views[0], s1);
  const s2 = b('56789');
  assert.equal(r.feed(s2), 'done');
  assert.equal(r.views[0]!.buffer, s2.buffer);
  assert.equal(r.received, 10);
  assert.equal(r.reusable, true);
  assert.equal(r.eof(), 'done');
});

test('U4: bytes after Content-Length are extra: cut, flagged, never reused', () => {
  const r = new BodyReader('length', 2);
  const s = b('okHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!');
  assert.equal(r.feed(s), 'done');
  assert.equal(Buffer.concat(r.views).toString(), 'ok');
  assert.equal(r.extra, s.length - 2);
  assert.equal(r.extraOffset, 2);
  assert.equal(r.sawExtra, true);
  assert.equal(r.extraReason, ExtraReason.length);
  assert.equal(r.reusable, false);
  assert.equal(r.feed(b('more')), 'done');
  assert.equal(r.views.length, 0);
  assert.equal(r.extra, 4);
});

test('U5: truncated Content-Length and chunked bodies', () => {
  const r = new BodyReader('length', 10);
  assert.equal(r.feed(b('abc')), 'again');
  assert.equal(r.eof(), 'truncated');
  const c = new BodyReader('chunked');
  assert.equal(c.feed(b('5\r\nhello\r\n')), 'again');
  assert.equal(c.eof(), 'truncated');
  const c2 = new BodyReader('chunked');
  assert.equal(c2.feed(b('5\r\nhello\r\n0\r\n\r')), 'again');
  assert.equal(c2.eof(), 'truncated');
});

test('U8: no body for HEAD/204/304: every byte is extra', () => {
  const r = BodyReader.forHead(head('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'), true);
  assert.equal(r.framing, 'none');
  assert.equal(r.done, true);
  assert.equal(r.reusable, true, 'nothing came yet');
  assert.equal(r.feed(Buffer.alloc(100, 0x61)), 'done');
  assert.equal(r.views.length, 0);
  assert.equal(r.extra, 100);
  assert.equal(r.reusable, false);
  assert.equal(r.eof(), 'done');
});

test('U11: close-delimited streams to EOF and is never reusable', () => {
  const r = BodyReader.forHead(head('HTTP/1.1 200 OK\r\n\r\n'), false);
  assert.equal(r.framing, 'close');
  for (let i = 0; i < 3; i++) {
    const s = b('part' + i);
    assert.equal(r.feed(s), 'again');
    assert.equal(r.views[0], s);
  }
  assert.equal(r.received, 15);
  assert.equal(r.eof(), 'done');
  assert.equal(r.reusable, false);
});

test('chunked: data, trailers, data after the final chunk', () => {
  const r = new BodyReader('chunked');
  assert.equal(r.feed(b('3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\nJUNK')), 'done');
  assert.equal(Buffer.concat(r.views).toString(), 'abc');
  assert.equal(r.trailer('x-sum'), '1');
  assert.equal(r.extra, 4);
  assert.equal(r.extraReason, ExtraReason.chunked);
  assert.equal(r.reusable, false);
  const bad = new BodyReader('chunked');
  assert.equal(bad.feed(b('4\r\nSEE-THIS\r\n')), 'invalid');
  assert.equal(bad.reason, 'upstream sent invalid chunked response');
  assert.equal(bad.eof(), 'invalid');
  assert.equal(bad.reusable, false);
});

test('upgrade: tunnel bytes pass through until EOF', () => {
  const r = new BodyReader('upgrade');
  assert.equal(r.feed(b('\x81\x00')), 'again');
  assert.equal(r.views.length, 1);
  assert.equal(r.eof(), 'done');
  assert.equal(r.reusable, false);
});

// ---- end to end: head + body, cut at every byte ------------------------------

interface E2E { head: number; body: string; status: BodyStatus | 'invalid-head'; extra: number; eof: string; reusable: boolean }

function e2e(wire: string, cuts: number[], headRequest = false): E2E {
  const bytes = b(wire);
  const p = new ResponseHeadParser();
  let reader: BodyReader | null = null;
  let body = '';
  let extra = 0;
  let status: BodyStatus | 'invalid-head' = 'again';
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    let slice = bytes.subarray(from, to);
    from = to;
    if (reader === null) {
      let st = p.feed(slice);
      while (st === 'interim') {
        slice = slice.subarray(p.consumed);
        st = p.feed(slice);
      }
      if (st === 'invalid') return { head: 0, body, status: 'invalid-head', extra, eof: '', reusable: false };
      if (st === 'again') continue;
      reader = BodyReader.forHead(p.head!, headRequest);
      slice = slice.subarray(p.consumed);
    }
    status = reader.feed(slice);
    for (const v of reader.views) body += v.toString('latin1');
    extra += reader.extra;
    if (status === 'invalid') break;
  }
  return { head: p.head?.statusCode ?? 0, body, status, extra, eof: reader ? reader.eof() : 'no-head', reusable: reader?.reusable ?? false };
}

const WIRES: [string, boolean, Partial<E2E>][] = [
  ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!', false,
    { body: 'ok', status: 'done', extra: 43, reusable: false }],
  ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n', false,
    { head: 200, body: 'Wikipedia', status: 'done', extra: 0, reusable: true }],
  ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', false, { body: 'abc', status: 'again', eof: 'truncated' }],
  ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' + 'x'.repeat(100), true, { body: '', extra: 100, reusable: false }],
  ['HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n', false, { body: '', extra: 0, reusable: true }],
  ['HTTP/1.1 200 OK\r\n\r\nuntil the end', false, { body: 'until the end', eof: 'done', reusable: false }],
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', false, { body: 'hello', eof: 'truncated' }],
];

test('U4/U5/U8/U11 end to end, cut at every byte boundary', () => {
  for (const [wire, headRequest, expect] of WIRES) {
    const whole = e2e(wire, [], headRequest);
    for (const [k, v] of Object.entries(expect)) assert.deepEqual(whole[k as keyof E2E], v, `${k} of ${JSON.stringify(wire)}`);
    for (let i = 1; i < wire.length; i++) {
      assert.deepEqual(e2e(wire, [i], headRequest), whole, `cut at ${i}`);
    }
    const all = Array.from({ length: wire.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(e2e(wire, all, headRequest), whole);
  }
});
