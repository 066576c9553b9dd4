import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  encodeBeginRequest, encodeStdin, encodeStream, FCGI_STDIN_END, FcgiRecordDecoder, FcgiType,
  FcgiMessages, trimStderr, writeRecordHeader, type FcgiRecordSink,
} from '../../../src/protocols/fastcgi/records.js';
import {
  decodeParams, encodeParams, encodeRequestHead, FCGI_PARAMS_RECORD_MAX, type FcgiParam,
} from '../../../src/protocols/fastcgi/params.js';
import { CgiHeaderParser } from '../../../src/protocols/fastcgi/cgi-header.js';
import { FcgiResponseParser, type FcgiResponseSink } from '../../../src/protocols/fastcgi/response.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/* ------------------------------------------------------------ helpers */

interface Rec { version: number; type: number; id: number; content: Buffer; padding: Buffer }

/* A straightforward reader used to check what the encoders wrote. */
function readRecords(buf: Buffer): Rec[] {
  const out: Rec[] = [];
  let p = 0;
  while (p < buf.length) {
    assert.ok(p + 8 <= buf.length, 'truncated header');
    const len = buf.readUInt16BE(p + 4);
    const pad = buf[p + 6]!;
    assert.equal(buf[p + 7], 0, 'reserved');
    out.push({
      version: buf[p]!, type: buf[p + 1]!, id: buf.readUInt16BE(p + 2),
      content: buf.subarray(p + 8, p + 8 + len), padding: buf.subarray(p + 8 + len, p + 8 + len + pad),
    });
    p += 8 + len + pad;
  }
  assert.equal(p, buf.length);
  return out;
}

function record(type: number, content: Buffer, padding = (8 - (content.length % 8)) % 8, id = 1): Buffer {
  const h = Buffer.alloc(8);
  writeRecordHeader(h, 0, type, content.length, padding);
  h.writeUInt16BE(id, 2);
  return Buffer.concat([h, content, Buffer.alloc(padding)]);
}

function endRequest(appStatus = 0, protocolStatus = 0, padding = 0): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(appStatus, 0);
  body[4] = protocolStatus;
  return record(FcgiType.END_REQUEST, body, padding);
}

function stdout(data: string | Buffer, max = 65535): Buffer {
  return Buffer.concat(encodeStream(FcgiType.STDOUT, typeof data === 'string' ? b(data) : data, max));
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of points) { out.push(buf.subarray(prev, c)); prev = c; }
  out.push(buf.subarray(prev));
  return out;
}

/* ------------------------------------------------------------ encoder */

test('BEGIN_REQUEST: role RESPONDER, KEEP_CONN flag, request id 1', () => {
  assert.deepEqual([...encodeBeginRequest(false)], [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...encodeBeginRequest(true)], [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
});

test('PARAMS: one record, 1-byte lengths, padding to 8, empty terminator (as nginx)', () => {
  const buf = encodeParams([{ name: 'SCRIPT_NAME', value: '/i.php' }, { name: 'A', value: '' }]);
  // 2 + 11 + 6 + 3 = 22 content bytes -> 2 bytes of padding
  const stream = Buffer.concat([b('\x0b\x06SCRIPT_NAME/i.php'), b('\x01\x00A')]);
  assert.deepEqual(readRecords(buf).map((r) => [r.type, r.id, r.content.toString('latin1'), r.padding.length]),
    [[FcgiType.PARAMS, 1, stream.toString('latin1'), 2], [FcgiType.PARAMS, 1, '', 0]]);
  assert.ok(readRecords(buf)[0]!.padding.every((x) => x === 0));
});

test('PARAMS: lengths >= 128 use 4 bytes with the high bit', () => {
  const value = 'v'.repeat(200);
  const name = 'N'.repeat(130);
  const buf = encodeParams([{ name: 'X', value }, { name, value: 'y' }]);
  const c = readRecords(buf)[0]!.content;
  assert.deepEqual([...c.subarray(0, 5)], [1, 0x80, 0, 0, 200]);
  assert.deepEqual([...c.subarray(6 + 200, 6 + 200 + 5)], [0x80, 0, 0, 130, 1]);
  assert.deepEqual(decodeParams(c)!.map(([k, v]) => [k.toString(), v.toString()]), [['X', value], [name, 'y']]);
  // 127 is still one byte
  assert.deepEqual([...readRecords(encodeParams([{ name: 'a', value: 'z'.repeat(127) }]))[0]!.content.subarray(0, 2)],
    [1, 127]);
});

test('PARAMS: a 70 KB value spans several records', () => {
  const big = Buffer.alloc(70 * 1024, 0x61);
  big[0] = 0x41; big[big.length - 1] = 0x5a;
  const params: FcgiParam[] = [{ name: 'HTTP_X', value: big }, { name: 'Q', value: 'after' }];
  const buf = encodeParams(params);
  const recs = readRecords(buf);
  assert.ok(recs.length >= 3);
  for (const r of recs) {
    assert.equal(r.type, FcgiType.PARAMS);
    assert.equal(r.id, 1);
    assert.ok(r.content.length <= FCGI_PARAMS_RECORD_MAX);
    assert.equal((r.content.length + r.padding.length) % 8, 0);
  }
  assert.equal(recs[recs.length - 1]!.content.length, 0, 'terminator');
  const stream = Buffer.concat(recs.map((r) => r.content));
  const decoded = decodeParams(stream)!;
  assert.equal(decoded.length, 2);
  assert.ok(decoded[0]![1].equals(big));
  assert.equal(decoded[1]![1].toString(), 'after');
  assert.deepEqual([...stream.subarray(0, 5)], [6, 0x80, 0x01, 0x18, 0x00]); // 71680
});

test('PARAMS property: any params survive encode/decode, records well-formed', () => {
  const s = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
  fc.assert(fc.property(fc.array(fc.record({ name: s, value: s }), { maxLength: 12 }), (params) => {
    const buf = encodeParams(params);
    const recs = readRecords(buf);
    assert.equal(recs.at(-1)!.content.length, 0);
    const decoded = decodeParams(Buffer.concat(recs.map((r) => r.content)))!;
    assert.deepEqual(decoded.map(([k, v]) => [[...k], [...v]]), params.map((p) => [[...p.name], [...p.value]]));
    // strings take the same path as buffers
    const asStrings = params.map((p) => ({ name: p.name.toString('latin1'), value: p.value.toString('latin1') }));
    assert.ok(encodeParams(asStrings).equals(buf));
  }), { numRuns: 200 });
});

test('request head = BEGIN_REQUEST + PARAMS in one buffer', () => {
  const params = [{ name: 'REQUEST_METHOD', value: 'GET' }];
  const head = encodeRequestHead(params, true);
  assert.ok(head.equals(Buffer.concat([encodeBeginRequest(true), encodeParams(params)])));
});

test('STDIN: 32 KB records, padded, data as views, empty STDIN ends', () => {
  const body = Buffer.alloc(70000, 0x62);
  const pieces = encodeStdin(body);
  const joined = Buffer.concat(pieces);
  const recs = readRecords(joined);
  assert.deepEqual(recs.map((r) => r.content.length), [32768, 32768, 70000 - 65536]);
  assert.deepEqual(recs.map((r) => r.padding.length), [0, 0, (8 - ((70000 - 65536) % 8)) % 8]);
  assert.ok(recs.every((r) => r.type === FcgiType.STDIN && r.id === 1));
  assert.ok(pieces.filter((p) => p.buffer === body.buffer).length === 3, 'body not copied');
  assert.deepEqual(encodeStdin(Buffer.alloc(0)), []);
  assert.deepEqual([...FCGI_STDIN_END], [1, 5, 0, 1, 0, 0, 0, 0]);
  const odd = readRecords(Buffer.concat(encodeStdin(b('abc'))));
  assert.deepEqual(odd.map((r) => [r.content.toString(), r.padding.length]), [['abc', 5]]);
});

/* ------------------------------------------------------------ decoder */

interface DecOutcome {
  state: string; stdout: string; stdoutEnds: number; stderr: string[];
  end: [number, number][]; error: string | null; extraBytes: number; keepalive: boolean; finish: string | null;
}

class DecSink implements FcgiRecordSink {
  out: Buffer[] = []; ends = 0; err: string[] = []; end: [number, number][] = [];
  onStdout(v: Buffer): void { this.out.push(v); }
  onStdoutEnd(): void { this.ends++; }
  onStderr(t: Buffer): void { this.err.push(t.toString('latin1')); }
  onEndRequest(a: number, p: number): void { this.end.push([a, p]); }
}

function decode(slices: Buffer[]): DecOutcome {
  const d = new FcgiRecordDecoder();
  const s = new DecSink();
  let state = 'again';
  for (const x of slices) state = d.feed(x, s);
  return {
    state, stdout: Buffer.concat(s.out).toString('latin1'), stdoutEnds: s.ends, stderr: s.err, end: s.end,
    error: d.error, extraBytes: d.extraBytes, keepalive: d.keepalive, finish: d.finish(),
  };
}

test('round trip: STDOUT records from the encoder decode to the same bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 1, max: 700 }),
    fc.array(fc.nat(), { maxLength: 10 }), (data, max, cuts) => {
      const stream = Buffer.concat([stdout(Buffer.from(data), max), record(FcgiType.STDOUT, Buffer.alloc(0)), endRequest(7, 0)]);
      const whole = decode([stream]);
      assert.equal(whole.state, 'end');
      assert.ok(b(whole.stdout).equals(Buffer.from(data)));
      assert.deepEqual(whole.end, [[7, 0]]);
      assert.equal(whole.keepalive, true);
      assert.deepEqual(decode(splitAt(stream, cuts)), whole);
    }), { numRuns: 300 });
});

test('U15: records split at every byte (fastcgi_split.t)', () => {
  const stream = Buffer.concat([
    record(FcgiType.STDERR, b('PHP Warning: x\n')),
    stdout('Content-Type: text/plain\r\n\r\nhello'),
    record(FcgiType.STDERR, b('second.. \r\n')),
    stdout(' world'),
    record(FcgiType.STDOUT, Buffer.alloc(0)),
    endRequest(0, 0, 3),
  ]);
  const whole = decode([stream]);
  assert.equal(whole.state, 'end');
  assert.equal(whole.stdout, 'Content-Type: text/plain\r\n\r\nhello world');
  assert.deepEqual(whole.stderr, ['PHP Warning: x', 'second']);
  assert.equal(whole.stdoutEnds, 1);
  for (let i = 0; i <= stream.length; i++) {
    assert.deepEqual(decode([stream.subarray(0, i), stream.subarray(i)]), whole, `cut at ${i}`);
  }
  assert.deepEqual(decode([...stream].map((x) => Buffer.from([x]))), whole);
});

test('U15: bad version, type, request id', () => {
  assert.equal(decode([b('\x02\x06\x00\x01\x00\x00\x00\x00')]).error, 'upstream sent unsupported FastCGI protocol version: 2');
  assert.equal(decode([b('\x01\x09\x00\x01')]).error, 'upstream sent invalid FastCGI record type: 9');
  assert.equal(decode([b('\x01\x01\x00\x01')]).error, 'upstream sent invalid FastCGI record type: 1');
  assert.equal(decode([b('\x01\x06\x01\x01')]).error, 'upstream sent unexpected FastCGI request id high byte: 1');
  assert.equal(decode([b('\x01\x06\x00\x02')]).error, 'upstream sent unexpected FastCGI request id low byte: 2');
  assert.equal(decode([b('\x01\x06\x00\x00')]).error, 'upstream sent unexpected FastCGI request id low byte: 0');
  // an error after valid records still stops the stream
  const o = decode([Buffer.concat([stdout('ok'), b('\x01\x0b')])]);
  assert.equal(o.state, 'invalid');
  assert.equal(o.stdout, 'ok');
  assert.equal(o.error, FcgiMessages.type(11));
  assert.equal(o.keepalive, false);
});

test('U15: stderr is reported, trimmed like nginx, never in stdout', () => {
  const o = decode([Buffer.concat([record(FcgiType.STDERR, b('oops. \n\r')), record(FcgiType.STDERR, b('')),
    record(FcgiType.STDERR, b('...')), stdout('x'), endRequest()])]);
  assert.deepEqual(o.stderr, ['oops', '.']);
  assert.equal(o.stdout, 'x');
  assert.equal(FcgiMessages.stderr('oops'), 'FastCGI sent in stderr: "oops"');
  assert.equal(trimStderr(b(' ')).toString(), ' ');
});

test('U15: data after END_REQUEST is extra; reuse only on an exact end', () => {
  const exact = decode([Buffer.concat([stdout('a'), endRequest(0, 0, 4)])]);
  assert.equal(exact.keepalive, true);
  assert.equal(exact.extraBytes, 0);
  const after = Buffer.concat([stdout('a'), endRequest(), stdout('late')]);
  const o = decode([after]);
  assert.equal(o.state, 'end');
  assert.equal(o.stdout, 'a');
  assert.equal(o.extraBytes, stdout('late').length);
  assert.equal(o.keepalive, false);
  for (let i = 0; i <= after.length; i++) assert.deepEqual(decode([after.subarray(0, i), after.subarray(i)]), o);
});

test('END_REQUEST statuses; truncated streams reported', () => {
  assert.deepEqual(decode([endRequest(0x01020304, 3)]).end, [[0x01020304, 3]]);
  assert.equal(decode([stdout('abc')]).finish, 'upstream prematurely closed connection');
  assert.equal(decode([endRequest(0, 0, 8).subarray(0, 18)]).finish, 'upstream prematurely closed connection');
  assert.equal(decode([endRequest()]).finish, null);
});

/* ------------------------------------------------------------ CGI header */

function header(slices: Buffer[], bufferSize = 4096): { st: string; h: CgiHeaderParser; body: string } {
  const h = new CgiHeaderParser(bufferSize);
  let st = 'again';
  let body = '';
  for (const s of slices) {
    if (st === 'done') { body += s.toString('latin1'); continue; }
    st = h.feed(s);
    if (st === 'done') body += s.subarray(h.bodyOffset).toString('latin1');
  }
  return { st, h, body };
}

function summary(r: { st: string; h: CgiHeaderParser; body: string }): unknown {
  return { st: r.st, status: r.h.status, line: r.h.statusLine, headers: r.h.headers, error: r.h.error, body: r.body };
}

test('CGI header: Status, Location, default', () => {
  const s = header([b('Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\nbody')]);
  assert.equal(s.st, 'done');
  assert.equal(s.h.status, 404);
  assert.equal(s.h.statusLine, '404 Not Found');
  assert.deepEqual(s.h.headers, [{ name: 'Status', value: '404 Not Found' }, { name: 'Content-Type', value: 'text/html' }]);
  assert.equal(s.body, 'body');
  const l = header([b('Location: /relative\r\n\r\n')]);
  assert.deepEqual([l.h.status, l.h.statusLine], [302, '302 Moved Temporarily']);
  const d = header([b('X-A: 1\r\n\r\n')]);
  assert.deepEqual([d.h.status, d.h.statusLine], [200, '200 OK']);
  const both = header([b('location: http://x/\r\nstatus: 201 Created\r\n\r\n')]);
  assert.equal(both.h.status, 201);
});

test('CGI header: bare LF, whitespace, lines without colon, HTTP/ lines', () => {
  const r = header([b('HTTP/1.1 500 Whatever\nX-A:\t v  a \t\nX-Empty:\nNoColon\nX-B: 1\r\r\n\nrest')]);
  assert.equal(r.st, 'done');
  assert.deepEqual(r.h.headers, [
    { name: 'X-A', value: 'v  a' }, { name: 'X-Empty', value: '' }, { name: 'NoColon', value: '' }, { name: 'X-B', value: '1' },
  ]);
  assert.equal(r.h.status, 200);
  assert.equal(r.body, 'rest');
});

test('CGI header: invalid lines and status', () => {
  const bad = ['X A: 1\r\n\r\n', ': v\r\n\r\n', ' X: 1\r\n\r\n', 'X: a\rb\r\n\r\n', 'X: a\x00\r\n\r\n', '\rX'];
  for (const s of bad) {
    const r = header([b(s)]);
    assert.equal(r.st, 'invalid', JSON.stringify(s));
    assert.equal(r.h.error, 'upstream sent invalid header');
  }
  assert.equal(header([b('Status: 20\r\n\r\n')]).h.error, 'upstream sent invalid status "20"');
  assert.equal(header([b('Status: abc\r\n\r\n')]).h.error, 'upstream sent invalid status "abc"');
  assert.equal(header([b('Status: 404abc\r\n\r\n')]).h.status, 404);
});

test('CGI header: bounded by fastcgi_buffer_size', () => {
  const text = 'X-A: 1234\r\n\r\n'; // 13 bytes
  assert.equal(header([b(text)], 13).st, 'done');
  assert.equal(header([b(text)], 12).h.error, 'upstream sent too big header');
  assert.equal(header([b('X-A: 12'), b('34\r\n\r')], 12).h.error, 'upstream sent too big header');
});

test('CGI header: every split gives the same result', () => {
  const streams = [
    'Status: 404 Not Found\r\nContent-Type: text/html\r\nX-Long: ' + 'z'.repeat(100) + '\r\n\r\nthe body',
    'HTTP/1.0 200 OK\nLocation: http://a/\n\nb',
    'X-A: 1\r\nX A: 2\r\n\r\n',
    'Status: 2\r\n\r\n',
    'A:b\r\r\r\n\r\n',
  ];
  for (const s of streams) {
    const whole = summary(header([b(s)]));
    for (let i = 0; i <= s.length; i++) {
      for (const j of [i, Math.min(s.length, i + 1), Math.min(s.length, i + 7)]) {
        assert.deepEqual(summary(header([b(s.slice(0, i)), b(s.slice(i, j)), b(s.slice(j))])), whole, `${JSON.stringify(s)} ${i}/${j}`);
      }
    }
  }
});

test('CGI header property: random headers, any slicing', () => {
  const name = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
  const value = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);
  fc.assert(fc.property(fc.array(fc.tuple(name, value), { maxLength: 8 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 8 }),
    (hs, lf, cuts) => {
      const eol = lf ? '\n' : '\r\n';
      const text = hs.map(([k, v]) => `${k}: ${v}${eol}`).join('') + eol + 'BODY';
      const whole = summary(header([b(text)]));
      assert.deepEqual(summary(header(splitAt(b(text), cuts))), whole);
      const r = header([b(text)]);
      if (r.st === 'done') {
        assert.equal(r.body, 'BODY');
        assert.deepEqual(r.h.headers.map((h) => [h.name, h.value]), hs);
      }
    }), { numRuns: 300 });
});

/* ------------------------------------------------------------ response */

interface RespOutcome { state: string; headers: number; status: number; body: string; stderr: string[]; error: string | null; extra: number; keepalive: boolean }

function respond(slices: Buffer[], bufferSize = 4096): RespOutcome {
  const r = new FcgiResponseParser({ bufferSize });
  let headers = 0;
  let status = 0;
  const body: Buffer[] = [];
  const stderr: string[] = [];
  const sink: FcgiResponseSink = {
    onHeader(h) { assert.equal(body.length, 0); headers++; status = h.status; },
    onBody(v) { assert.equal(headers, 1); assert.ok(v.length > 0); body.push(v); },
    onStderr(t) { stderr.push(t.toString()); },
  };
  let state = 'header';
  for (const s of slices) state = r.feed(s, sink);
  return { state, headers, status, body: Buffer.concat(body).toString('latin1'), stderr, error: r.error, extra: r.extraBytes, keepalive: r.keepalive };
}

test('response: header across records, body, stderr, end', () => {
  const stream = Buffer.concat([
    stdout('Status: 201 Cr', 5), record(FcgiType.STDERR, b('warn\n')), stdout('eated\r\nX: 1\r\n\r\nhel', 3),
    stdout('lo'), record(FcgiType.STDOUT, Buffer.alloc(0)), endRequest(),
  ]);
  const whole = respond([stream]);
  assert.deepEqual(whole, { state: 'done', headers: 1, status: 201, body: 'hello', stderr: ['warn'], error: null, extra: 0, keepalive: true });
  for (let i = 0; i <= stream.length; i++) assert.deepEqual(respond([stream.subarray(0, i), stream.subarray(i)]), whole);
});

test('U15: END_REQUEST or empty STDOUT before the header is complete', () => {
  assert.equal(respond([Buffer.concat([stdout('X: 1\r\n'), endRequest()])]).error, 'upstream sent unexpected FastCGI record: 3');
  assert.equal(respond([Buffer.concat([stdout('X: 1\r\n'), record(FcgiType.STDOUT, Buffer.alloc(0))])]).error,
    'upstream prematurely closed FastCGI stdout');
  const bad = respond([stdout('Bad Header\r\n\r\n')]);
  assert.equal(bad.state, 'invalid');
  assert.equal(bad.error, 'upstream sent invalid header');
  assert.equal(respond([stdout('X: ' + 'a'.repeat(100) + '\r\n\r\n')], 64).error, 'upstream sent too big header');
});

test('U15: stdout after END_REQUEST is not forwarded and prevents reuse', () => {
  const o = respond([Buffer.concat([stdout('X: 1\r\n\r\nok'), endRequest(), stdout('late')])]);
  assert.equal(o.state, 'done');
  assert.equal(o.body, 'ok');
  assert.ok(o.extra > 0);
  assert.equal(o.keepalive, false);
});
