// Response head parser: nginx's upstream header checks (RELIABILITY U1-U3,
// U6, U7, U9, U10, U12) and byte-split invariance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ResponseHeadParser, HeadReason, getHeader, type ResponseHead, type HeadStatus,
} from '../../../src/protocols/http/response-parser.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

interface Outcome {
  status: HeadStatus;
  heads: ResponseHead[];
  reason: string;
  /** bytes of the input after the final head */
  rest: string;
}

/** Feeds `input` cut at `cuts` (sorted offsets), reading through 1xx heads. */
function run(input: string | Buffer, cuts: number[] = [], max = 4096): Outcome {
  const bytes = typeof input === 'string' ? b(input) : input;
  const p = new ResponseHeadParser(max);
  const heads: ResponseHead[] = [];
  const bounds = [...cuts, bytes.length];
  let from = 0;
  let status: HeadStatus = 'again';
  let rest = '';
  for (const to of bounds) {
    let slice = bytes.subarray(from, to);
    from = to;
    if (status === 'ok') {
      rest += slice.toString('latin1');
      continue;
    }
    for (;;) {
      status = p.feed(slice);
      if (status === 'interim') {
        heads.push(p.head!);
        slice = slice.subarray(p.consumed);
        continue;
      }
      if (status === 'ok') {
        heads.push(p.head!);
        rest += slice.subarray(p.consumed).toString('latin1');
      }
      break;
    }
    if (status === 'invalid') break;
  }
  return { status, heads, reason: p.reason, rest };
}

function invalid(input: string, reason: string | RegExp, max?: number): void {
  const r = run(input, [], max);
  assert.equal(r.status, 'invalid', JSON.stringify(input));
  if (typeof reason === 'string') assert.equal(r.reason, reason);
  else assert.match(r.reason, reason);
}

test('a plain 200 with a body', () => {
  const r = run('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Sp:   a  b \t\r\nX-Empty:\r\n\r\nhello');
  assert.equal(r.status, 'ok');
  const h = r.heads[0]!;
  assert.equal(h.statusCode, 200);
  assert.equal(h.statusLine, '200 OK');
  assert.equal(h.httpVersion, '1.1');
  assert.deepEqual(h.names, ['Content-Type', 'Content-Length', 'X-Sp', 'X-Empty']);
  assert.deepEqual(h.lowerNames, ['content-type', 'content-length', 'x-sp', 'x-empty']);
  assert.deepEqual(h.values, ['text/plain', '5', 'a  b', '']);
  assert.equal(h.contentLength, 5);
  assert.equal(h.chunked, false);
  assert.equal(h.connectionClose, false);
  assert.equal(h.interim, false);
  assert.equal(h.upgrade, false);
  assert.equal(getHeader(h, 'content-type'), 'text/plain');
  assert.equal(r.rest, 'hello');
});

test('consumed points at the first body byte', () => {
  const p = new ResponseHeadParser();
  const buf = b('HTTP/1.1 204 No Content\r\n\r\nXYZ');
  assert.equal(p.feed(buf), 'ok');
  assert.equal(buf.subarray(p.consumed).toString(), 'XYZ');
  assert.equal(p.head!.contentLength, -1);
});

test('status line forms, read as ngx_http_parse_status_line reads them', () => {
  const line = (s: string): string => run(s).heads[0]!.statusLine;
  assert.equal(line('HTTP/1.1 200\r\n\r\n'), '200');
  assert.equal(line('HTTP/1.1 200 \r\n\r\n'), '200 ');
  assert.equal(line('HTTP/1.1 404 Not  Found\r\n\r\n'), '404 Not  Found');
  assert.equal(line('HTTP/1.1   503 Busy\n\n'), '503 Busy', 'spaces before the status');
  assert.equal(line('HTTP/1.1 403.1 Forbidden\r\n\r\n'), '403.1 Forbidden', "IIS's sub-status");
  assert.equal(line('HTTP/1.1 200 O\x00K\r\n\r\n'), '200 O\x00K', 'any text but CR and LF');
  assert.equal(run('HTTP/1.1 099 X\r\n\r\n').heads[0]!.statusCode, 99);
  const h10 = run('HTTP/1.0 200 OK\r\n\r\n').heads[0]!;
  assert.equal(h10.httpVersion, '1.0');
  assert.equal(h10.connectionClose, true, 'nginx: HTTP/1.0 upstream means close');
  assert.equal(run('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n').heads[0]!.connectionClose, true);
  assert.equal(run('HTTP/1.2 200 OK\r\n\r\n').heads[0]!.httpVersion, '1.1');
  assert.equal(run('HTTP/2.0 200 OK\r\n\r\n').heads[0]!.connectionClose, false);
  assert.equal(run('HTTP/1.10 200 OK\r\n\r\n').heads[0]!.connectionClose, false, '1.10 is above 1.1');
});

test('U10: non-HTTP, HTTP/0.9 and malformed status lines', () => {
  for (const s of [
    'SSH-2.0-OpenSSH_9.6\r\n', '<html>hello</html>\n', 'HTTP/0.9 200 OK\r\n\r\n',
    'http/1.1 200 OK\r\n\r\n', 'HTTP/1.1 20 OK\r\n\r\n', 'HTTP/1.1 2000 OK\r\n\r\n',
    'HTTP/1.1 200 O\rK\r\n\r\n', 'HTTP/1.1\t200 OK\r\n\r\n', '\r\nHTTP/1.1 200 OK\r\n\r\n',
    'HTTP/1.x 200 OK\r\n\r\n', 'HTTP/1 200 OK\r\n\r\n', 'HTTP/1.1\r\n\r\n', 'HTTP/1000.1 200 OK\r\n\r\n',
  ]) invalid(s, HeadReason.noValidHttp);
});

test('U10: a non-HTTP banner fails on its first bytes, without a full line', () => {
  const p = new ResponseHeadParser();
  assert.equal(p.feed(b('HTT')), 'again');
  assert.equal(p.feed(b('P/1')), 'again');
  assert.equal(p.feed(b('.1 2')), 'again');
  const q = new ResponseHeadParser();
  assert.equal(q.feed(b('SSH-2')), 'invalid');
  assert.equal(q.reason, HeadReason.noValidHttp);
  const r = new ResponseHeadParser();
  assert.equal(r.feed(b('HT')), 'again');
  assert.equal(r.feed(b('TX')), 'invalid');
  // a 0.9 body longer than the buffer is still "no valid header", not "too big"
  invalid('x'.repeat(10000), HeadReason.noValidHttp);
});

test('U10: too big header, at the exact boundary', () => {
  const head = 'HTTP/1.1 200 OK\r\nX: ' + 'a'.repeat(100) + '\r\n\r\n';
  assert.equal(run(head, [], head.length).status, 'ok');
  invalid(head, HeadReason.tooBig, head.length - 1);
  // an incomplete head that filled the buffer
  const p = new ResponseHeadParser(64);
  assert.equal(p.feed(b('HTTP/1.1 200 OK\r\nX: ' + 'a'.repeat(45))), 'invalid');
  assert.equal(p.reason, HeadReason.tooBig);
  invalid('HTTP/1.1 200 OK\r\n' + 'X-A: b\r\n'.repeat(1000) + '\r\n', HeadReason.tooBig, 4096);
  // split in small slices gives the same
  const big = 'HTTP/1.1 200 OK\r\n' + 'X-A: b\r\n'.repeat(1000) + '\r\n';
  assert.equal(run(big, Array.from({ length: 100 }, (_, i) => i * 7 + 1), 4096).reason, HeadReason.tooBig);
});

test('U1: Content-Length and Transfer-Encoding together, either order', () => {
  invalid('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n', HeadReason.bothFraming);
  invalid('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n', HeadReason.bothFraming);
  assert.equal(HeadReason.bothFraming,
    'upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time');
});

test('U2: duplicate or invalid Content-Length', () => {
  invalid('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n',
    'upstream sent duplicate header line: "Content-Length: 5", previous value: "Content-Length: 5"');
  invalid('HTTP/1.1 200 OK\r\ncontent-length: 0\r\nContent-Length: 31\r\n\r\n',
    'upstream sent duplicate header line: "Content-Length: 31", previous value: "content-length: 0"');
  invalid('HTTP/1.1 200 OK\r\nContent-Length: foo\r\n\r\n',
    'upstream sent invalid "Content-Length" header: "Content-Length: foo"');
  for (const v of ['+5', '-1', '0x5', '5a', '1e3', '', '5, 5', '5 5', '99999999999999999999', '9007199254740992']) {
    invalid(`HTTP/1.1 200 OK\r\nContent-Length: ${v}\r\n\r\n`,
      `upstream sent invalid "Content-Length" header: "Content-Length: ${v}"`);
  }
  assert.equal(run('HTTP/1.1 200 OK\r\nContent-Length: 010\r\n\r\n').heads[0]!.contentLength, 10);
  assert.equal(run('HTTP/1.1 200 OK\r\nContent-Length: 9007199254740991\r\n\r\n').heads[0]!.contentLength,
    Number.MAX_SAFE_INTEGER);
});

test('U3: unknown or repeated Transfer-Encoding', () => {
  invalid('HTTP/1.1 200 OK\r\nTransfer-Encoding: foo\r\n\r\n', 'upstream sent unknown "Transfer-Encoding": "foo"');
  for (const v of ['gzip, chunked', 'chunked, identity', 'identity', ',chunked', 'chunked,', '"chunked"', 'chunk']) {
    invalid(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${v}\r\n\r\n`, `upstream sent unknown "Transfer-Encoding": "${v}"`);
  }
  invalid('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
    'upstream sent duplicate header line: "Transfer-Encoding: chunked", previous value: "Transfer-Encoding: chunked"');
  invalid('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\x0b\r\n\r\n', /^upstream sent invalid header: /);
  const h = run('HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n').heads[0]!;
  assert.equal(h.chunked, true);
  assert.equal(h.contentLength, -1);
});

test('U9: CR, NUL and CTLs in values; obs-fold', () => {
  invalid('HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n', 'upstream sent invalid header: "X-A: a\\x00..."');
  invalid('HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n', 'upstream sent invalid header: "X-A: a\\x0d..."');
  invalid('HTTP/1.1 200 OK\r\nX-A: a\x7fb\r\n\r\n', 'upstream sent invalid header: "X-A: a\\x7f..."');
  invalid('HTTP/1.1 200 OK\r\nX-A: a\x01\r\n\r\n', /invalid header/);
  invalid('HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n', 'upstream sent invalid header: "\\x20..."');
  invalid('HTTP/1.1 200 OK\r\nX-A: a\r\n\tb\r\n\r\n', 'upstream sent invalid header: "\\x09..."');
  invalid('HTTP/1.1 200 OK\r\n\r\r\n', /invalid header/);
  assert.equal(run('HTTP/1.1 200 OK\r\nX-A: caf\xe9\r\n\r\n').heads[0]!.values[0], 'caf\xe9');
});

test('U9: a bare LF ends a line, and a header line may end in CRs before its LF, as in nginx', () => {
  for (const s of ['HTTP/1.1 200 OK\nX-A: a\nX-B: b\n\nrest', 'HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\n\nrest',
    'HTTP/1.1 200 OK\r\nX-A: a\r\r\nX-B: b\r\n\r\nrest']) {
    const r = run(s);
    assert.equal(r.status, 'ok', JSON.stringify(s));
    assert.deepEqual([r.heads[0]!.names, r.heads[0]!.values, r.rest], [['X-A', 'X-B'], ['a', 'b'], 'rest'], JSON.stringify(s));
  }
  const empty = run('HTTP/1.1 204 No Content\n\n');
  assert.ok(empty.status === 'ok' && empty.heads[0]!.statusCode === 204 && empty.heads[0]!.names.length === 0);
});

test('header names: invalid ones fail, non-token printable ones are dropped (nginx forwards them), colon-less lines kept', () => {
  invalid('HTTP/1.1 200 OK\r\n: x\r\n\r\n', /invalid header/);
  invalid('HTTP/1.1 200 OK\r\nX Y: z\r\n\r\n', 'upstream sent invalid header: "X\\x20..."');
  invalid('HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n', /invalid header/);
  invalid('HTTP/1.1 200 OK\r\nTransfer-Encoding\t: chunked\r\n\r\n', /invalid header/);
  // a line without a colon is a header with an empty value (nginx's parser); a bare LF ends it
  assert.deepEqual(run('HTTP/1.1 200 OK\r\nNoColon\r\n\r\n').heads[0]!.names, ['NoColon']);
  const split = run('HTTP/1.1 200 OK\r\nTe\nst: x\r\n\r\n').heads[0]!;
  assert.deepEqual([split.names, split.values], [['Te', 'st'], ['', 'x']]);
  invalid('HTTP/1.1 200 OK\r\nX\x00: y\r\n\r\n', /invalid header/);
  const r = run('HTTP/1.1 200 OK\r\nX@: z\r\nHeader\x85: v\r\nTransfer_Encoding: chunked\r\nX-Ok: 1\r\n\r\n');
  assert.equal(r.status, 'ok');
  const h = r.heads[0]!;
  assert.deepEqual(h.names, ['Transfer_Encoding', 'X-Ok'], 'underscore is a token char and means nothing');
  assert.equal(h.chunked, false);
  assert.equal(h.droppedHeaders, 2);
  // IIS's duplicated status line among the headers is skipped, like nginx
  const iis = run('HTTP/1.1 200 OK\r\nHTTP/1.1 200 OK\r\nX: 1\r\n\r\n').heads[0]!;
  assert.deepEqual(iis.names, ['X']);
});

test('U6: 1xx heads are interim, then the final head', () => {
  const r = run('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n'
    + 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  assert.equal(r.status, 'ok');
  assert.equal(r.heads.length, 3);
  assert.equal(r.heads[0]!.statusCode, 100);
  assert.equal(r.heads[0]!.interim, true);
  assert.equal(r.heads[1]!.statusCode, 103);
  assert.equal(getHeader(r.heads[1]!, 'link'), '</a.css>; rel=preload');
  assert.equal(r.heads[2]!.statusCode, 200);
  assert.equal(r.heads[2]!.contentLength, 2);
  assert.equal(r.rest, 'ok');
});

test('U6: the number of 1xx heads is capped', () => {
  const many = 'HTTP/1.1 100 Continue\r\n\r\n'.repeat(50) + 'HTTP/1.1 200 OK\r\n\r\n';
  const r = run(many);
  assert.equal(r.status, 'invalid');
  assert.equal(r.reason, HeadReason.tooManyInterim);
  assert.equal(r.heads.length, 32);
  assert.equal(run('HTTP/1.1 100 Continue\r\n\r\n'.repeat(32) + 'HTTP/1.1 200 OK\r\n\r\n').status, 'ok');
});

test('U7: 101 is final and flagged as an upgrade', () => {
  const r = run('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello');
  assert.equal(r.status, 'ok');
  const h = r.heads[0]!;
  assert.equal(h.upgrade, true);
  assert.equal(h.interim, false);
  assert.equal(h.upgradeValue, 'websocket');
  assert.deepEqual(h.connectionTokens, ['upgrade']);
  assert.equal(r.rest, '\x81\x05hello');
  // an Upgrade header on a 200 is just reported
  const o = run('HTTP/1.1 200 OK\r\nUpgrade: h2c\r\n\r\n').heads[0]!;
  assert.equal(o.upgrade, false);
  assert.equal(o.upgradeValue, 'h2c');
});

test('U12: Connection tokens are exposed for hop-by-hop stripping', () => {
  const h = run('HTTP/1.1 200 OK\r\nConnection: Keep-Alive , X-Secret,,\r\nConnection: close\r\nKeep-Alive: timeout=5\r\n\r\n').heads[0]!;
  assert.deepEqual(h.connectionTokens, ['keep-alive', 'x-secret', 'close']);
  assert.equal(h.connectionClose, true);
  assert.equal(h.connectionKeepAlive, true);
  assert.equal(run('HTTP/1.1 200 OK\r\nConnection: closed\r\n\r\n').heads[0]!.connectionClose, false);
});

test('after ok or invalid the parser stays put; reset() starts over', () => {
  const p = new ResponseHeadParser();
  assert.equal(p.feed(b('HTTP/1.1 200 OK\r\n\r\n')), 'ok');
  assert.equal(p.feed(b('more')), 'ok');
  assert.equal(p.consumed, 0);
  p.reset();
  assert.equal(p.feed(b('HTTP/1.1 404 Not Found\r\n\r\n')), 'ok');
  assert.equal(p.head!.statusCode, 404);
  const q = new ResponseHeadParser();
  assert.equal(q.feed(b('nope')), 'invalid');
  assert.equal(q.feed(b('HTTP/1.1 200 OK\r\n\r\n')), 'invalid');
});

// ---- split invariance -----------------------------------------------------

const SAMPLES = [
  'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 3\r\nSet-Cookie: a=b\r\nSet-Cookie: c=d\r\n\r\nabc',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: <x>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'HTTP/1.0 302 Found\r\nLocation: http://x/\r\nConnection: keep-alive, X-A\r\n\r\n',
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nDATA',
  'HTTP/1.1 200 OK\r\nX-Long: ' + 'v'.repeat(300) + '\r\nHTTP/1.1 200 OK\r\nX@: 1\r\n\r\n',
  // invalid ones must fail the same way wherever they are cut
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n',
  'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n',
  'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n',
  'HTTP/1.1 200 OK\r\nX-A: a\n\r\n',
  'SSH-2.0-OpenSSH\r\n',
  'HTTP/1.1 200 OK\r\n' + 'X-Pad: 0123456789\r\n'.repeat(30) + '\r\n',
];

test('property: any split gives the same result as one slice', () => {
  for (const sample of SAMPLES) {
    const whole = run(sample, [], 512);
    fc.assert(fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: sample.length - 1 }), { maxLength: 12 }),
      (cuts) => {
        const r = run(sample, cuts.sort((x, y) => x - y), 512);
        assert.deepEqual(r, whole);
      },
    ), { numRuns: 150 });
  }
});

test('every single cut point and byte-at-a-time give the same result', () => {
  for (const sample of SAMPLES) {
    const whole = run(sample, [], 512);
    for (let i = 1; i < sample.length; i++) assert.deepEqual(run(sample, [i], 512), whole);
    const all = Array.from({ length: sample.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(run(sample, all, 512), whole);
  }
});

test('property: random header sets round-trip', () => {
  const tokenChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$%&\'*+.^_`|~'.split(''));
  const name = fc.array(tokenChar, { minLength: 1, maxLength: 20 }).map((a) => 'X' + a.join(''));
  const valueChar = fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c));
  const value = fc.array(valueChar, { maxLength: 40 }).map((a) => a.join('').trim());
  fc.assert(fc.property(fc.array(fc.tuple(name, value), { maxLength: 15 }), fc.integer({ min: 1, max: 50 }), (hs, step) => {
    const text = 'HTTP/1.1 200 OK\r\n' + hs.map(([n, v]) => `${n}: ${v}\r\n`).join('') + '\r\n';
    const cuts: number[] = [];
    for (let i = step; i < text.length; i += step) cuts.push(i);
    const r = run(text, cuts, 8192);
    assert.equal(r.status, 'ok');
    assert.deepEqual(r.heads[0]!.names, hs.map(([n]) => n));
    assert.deepEqual(r.heads[0]!.values, hs.map(([, v]) => v));
  }), { numRuns: 200 });
});
