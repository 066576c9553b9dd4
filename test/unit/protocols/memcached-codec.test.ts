import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  buildGetRequest, createGetRequest, escapeMemcachedKey, memcachedEscapes,
  MemcachedResponseParser, MemcachedMessages, type MemcachedSink, type MemcachedState,
} from '../../../src/protocols/memcached/codec.js';

/*
 * Expected escape set, derived by hand from nginx's table in
 * src/core/ngx_string.c, ngx_escape_uri(), `static uint32_t memcached[]`:
 *   word 0 (bytes 0x00-0x1f) = 0xffffffff  -> all 32 escaped
 *   word 1 (bytes 0x20-0x3f) = 0x00000021  -> bit 0 (0x20 ' ') and bit 5 (0x25 '%')
 *   words 2-7 (0x40-0xff)    = 0x00000000  -> none (so 0x7f and 0x80-0xff go raw)
 * nginx's comment above the table says the same: " ", "%", %00-%1F.
 */
function expectedEscaped(b: number): boolean {
  return b <= 0x1f || b === 0x20 || b === 0x25;
}

test('escape table matches nginx for all 256 bytes', () => {
  for (let b = 0; b < 256; b++) {
    assert.equal(memcachedEscapes(b), expectedEscaped(b), `byte 0x${b.toString(16)}`);
    const esc = escapeMemcachedKey(Buffer.from([b]));
    if (expectedEscaped(b)) {
      assert.equal(esc.toString('latin1'), '%' + b.toString(16).toUpperCase().padStart(2, '0'));
    } else {
      assert.deepEqual([...esc], [b]);
    }
  }
});

test('buildGetRequest escapes and frames', () => {
  assert.equal(buildGetRequest('/a b%c').toString('latin1'), 'get /a%20b%25c\r\n');
  assert.equal(buildGetRequest('/x\r\nset y').toString('latin1'), 'get /x%0D%0Aset%20y\r\n');
  assert.equal(buildGetRequest(Buffer.from([0x2f, 0xe2, 0x82, 0xac, 0x7f])).toString('latin1'),
    'get /\xe2\x82\xac\x7f\r\n');
  const { request, escapedKey } = createGetRequest('k k');
  assert.equal(escapedKey.toString(), 'k%20k');
  assert.equal(escapedKey.buffer, request.buffer, 'key is a view into the request');
  assert.throws(() => buildGetRequest(''), /memcached_key/);
});

interface Outcome {
  state: MemcachedState;
  headers: number;
  status: number;
  length: number;
  flags: number | null;
  gzip: boolean;
  data: string;
  error: string | null;
  warning: string | null;
  extraBytes: number;
  keepalive: boolean;
  finish: string | null;
}

class Collect implements MemcachedSink {
  headers = 0;
  parts: Buffer[] = [];
  onHeader(): void { assert.equal(this.parts.length, 0, 'header before data'); this.headers++; }
  onData(view: Buffer): void { assert.ok(view.length > 0); this.parts.push(view); }
}

function run(key: string, slices: Buffer[], opts: { bufferSize?: number; gzipFlag?: number } = {}): Outcome {
  const { escapedKey } = createGetRequest(key);
  const p = new MemcachedResponseParser({ key: escapedKey, ...opts });
  const sink = new Collect();
  let state: MemcachedState = 'header';
  for (const s of slices) state = p.feed(s, sink);
  return {
    state, headers: sink.headers, status: p.status, length: p.length, flags: p.flags, gzip: p.gzip,
    data: Buffer.concat(sink.parts).toString('latin1'), error: p.error, warning: p.warning,
    extraBytes: p.extraBytes, keepalive: p.keepalive, finish: p.finish(),
  };
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

test('VALUE reply', () => {
  const o = run('/k', [b('VALUE /k 5 3\r\nabc\r\nEND\r\n')]);
  assert.equal(o.state, 'done');
  assert.equal(o.status, 200);
  assert.equal(o.length, 3);
  assert.equal(o.flags, 5);
  assert.equal(o.data, 'abc');
  assert.equal(o.keepalive, true);
  assert.equal(o.warning, null);
  assert.equal(o.finish, null);
});

test('gzip flag', () => {
  assert.equal(run('k', [b('VALUE k 3 1\r\nx\r\nEND\r\n')], { gzipFlag: 2 }).gzip, true);
  assert.equal(run('k', [b('VALUE k 4 1\r\nx\r\nEND\r\n')], { gzipFlag: 2 }).gzip, false);
  assert.equal(run('k', [b('VALUE k 4294967296 1\r\nx\r\nEND\r\n')], { gzipFlag: 4294967296 }).gzip, true);
  // without memcached_gzip_flag nginx never reads the flags
  const o = run('k', [b('VALUE k zz 1\r\nx\r\nEND\r\n')]);
  assert.equal(o.state, 'done');
  assert.equal(o.flags, null);
});

test('U14: END alone is 404, not a failure', () => {
  const o = run('k', [b('END\r\n')]);
  assert.equal(o.state, 'done');
  assert.equal(o.status, 404);
  assert.equal(o.length, 0);
  assert.equal(o.error, null);
  assert.equal(o.keepalive, true);
});

test('U14: VALUE for another key', () => {
  const o = run('y', [b('VALUE x 0 3\r\nabc\r\nEND\r\n')]);
  assert.equal(o.state, 'invalid');
  assert.equal(o.error, 'memcached sent invalid key in response "VALUE x 0 3" for key "y"');
  assert.equal(o.headers, 0);
  assert.equal(o.keepalive, false);
  // the key is compared escaped, as sent
  assert.equal(run('a b', [b('VALUE a%20b 0 1\r\nx\r\nEND\r\n')]).state, 'done');
  assert.equal(run('a b', [b('VALUE a b 0 1\r\nx\r\nEND\r\n')]).error,
    'memcached sent invalid key in response "VALUE a b 0 1" for key "a%20b"');
  // a longer key that starts with ours: nginx sees no space after the key
  assert.equal(run('k', [b('VALUE kk 0 1\r\n')]).error, 'memcached sent invalid response: "VALUE kk 0 1"');
});

test('U14: bad flags and bad length', () => {
  assert.equal(run('k', [b('VALUE k x1 3\r\n')], { gzipFlag: 1 }).error,
    'memcached sent invalid flags in response "VALUE k x1 3" for key "k"');
  assert.equal(run('k', [b('VALUE k 0 3x\r\n')]).error,
    'memcached sent invalid length in response "VALUE k 0 3x" for key "k"');
  assert.equal(run('k', [b('VALUE k 0 \r\n')]).error,
    'memcached sent invalid length in response "VALUE k 0 " for key "k"');
  assert.equal(run('k', [b('VALUE k 0 -1\r\n')]).error,
    'memcached sent invalid length in response "VALUE k 0 -1" for key "k"');
  assert.equal(run('k', [b('VALUE k 0 3 77\r\n')]).error,
    'memcached sent invalid length in response "VALUE k 0 3 77" for key "k"');
  assert.equal(run('k', [b('VALUE k 0\r\n')]).error, 'memcached sent invalid response: "VALUE k 0"');
});

test('U14: SERVER_ERROR, CLIENT_ERROR, ERROR, bare LF, garbage', () => {
  for (const line of ['SERVER_ERROR out of memory', 'CLIENT_ERROR bad command line format', 'ERROR', 'END ', 'end']) {
    const o = run('k', [b(line + '\r\n')]);
    assert.equal(o.state, 'invalid');
    assert.equal(o.error, `memcached sent invalid response: "${line}"`);
  }
  assert.equal(run('k', [b('END\n')]).error, 'memcached sent invalid response: "END"');
  assert.equal(run('k', [b('\n')]).error, 'memcached sent invalid response: ""');
});

test('U14: data after END is reported, dropped, and prevents reuse (memcached_fake_extra.t)', () => {
  const o = run('/', [b('VALUE / 0 8\r\nSEE-THIS\r\nEND\r\nEXTRA\r\n')]);
  assert.equal(o.state, 'done');
  assert.equal(o.data, 'SEE-THIS');
  assert.equal(o.extraBytes, 7);
  assert.equal(o.keepalive, false);
  assert.equal(o.warning, 'memcached sent invalid trailer');
  const late = run('/', [b('VALUE / 0 8\r\nSEE-THIS\r\nEND\r\n'), b('EXTRA\r\n')]);
  assert.deepEqual(late, o);
  const nf = run('/', [b('END\r\nVALUE')]);
  assert.equal(nf.status, 404);
  assert.equal(nf.extraBytes, 5);
  assert.equal(nf.keepalive, false);
});

test('invalid trailer keeps the data, logs, no reuse', () => {
  const o = run('k', [b('VALUE k 0 3\r\nabcXXXXXXX')]);
  assert.equal(o.state, 'done');
  assert.equal(o.data, 'abc');
  assert.equal(o.warning, 'memcached sent invalid trailer');
  assert.equal(o.keepalive, false);
  assert.equal(o.extraBytes, 7);
});

test('truncated streams are detected', () => {
  assert.equal(run('k', [b('VALUE k 0 3\r\nab')]).finish, 'upstream prematurely closed connection');
  assert.equal(run('k', [b('VALUE k 0 3\r\nabc\r\nEN')]).finish, 'upstream prematurely closed connection');
  assert.equal(run('k', [b('VALUE k 0')]).finish, 'upstream prematurely closed connection');
  assert.equal(run('k', []).finish, 'upstream prematurely closed connection');
});

test('status line bounded by memcached_buffer_size', () => {
  const line = 'VALUE k 0 1\r\n'; // 13 bytes with the LF
  assert.equal(run('k', [b(line + 'x\r\nEND\r\n')], { bufferSize: 13 }).state, 'done');
  const o = run('k', [b(line)], { bufferSize: 12 });
  assert.equal(o.state, 'invalid');
  assert.equal(o.error, MemcachedMessages.tooBigHeader);
  assert.equal(run('k', [b('VALUE k'), b(' 0 1\r')], { bufferSize: 12 }).error, 'upstream sent too big header');
  assert.equal(run('k', [b('VALUE k'), b(' 0 1')], { bufferSize: 12 }).state, 'header');
});

test('body data comes as views of the fed chunk', () => {
  const chunk = b('VALUE k 0 4\r\ndata\r\nEND\r\n');
  const p = new MemcachedResponseParser({ key: createGetRequest('k').escapedKey });
  const views: Buffer[] = [];
  p.feed(chunk, { onHeader() {}, onData(v) { views.push(v); } });
  assert.equal(views.length, 1);
  assert.equal(views[0]!.buffer, chunk.buffer);
  assert.equal(views[0]!.byteOffset, chunk.byteOffset + 13);
});

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of points) { out.push(buf.subarray(prev, c)); prev = c; }
  out.push(buf.subarray(prev));
  return out;
}

test('every single split point gives the same outcome', () => {
  const streams = [
    'VALUE /k 5 3\r\nabc\r\nEND\r\n',
    'VALUE /k 0 0\r\n\r\nEND\r\n',
    'END\r\n',
    'VALUE /k 0 8\r\nSEE-THIS\r\nEND\r\nEXTRA\r\n',
    'VALUE /k 0 3\r\nabc\r\nEXD\r\n',
    'VALUE /x 0 3\r\nabc\r\nEND\r\n',
    'SERVER_ERROR boom\r\n',
    'VALUE /k 0 3\r\nab',
  ];
  for (const s of streams) {
    const whole = run('/k', [b(s)]);
    for (let i = 0; i <= s.length; i++) {
      assert.deepEqual(run('/k', [b(s.slice(0, i)), b(s.slice(i))]), whole, `${JSON.stringify(s)} at ${i}`);
    }
    assert.deepEqual(run('/k', [...b(s)].map((x) => Buffer.from([x]))), whole, 'byte by byte');
  }
});

test('property: any slicing gives the same result as one slice', () => {
  const keyArb = fc.uint8Array({ minLength: 1, maxLength: 20 }).map((a) => Buffer.from(a).toString('latin1'));
  const dataArb = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a).toString('latin1'));
  const tailArb = fc.constantFrom('', 'X', '\r\nEND', 'JUNK\r\n');
  fc.assert(fc.property(keyArb, fc.nat(0xffffffff), dataArb, tailArb, fc.array(fc.nat(), { maxLength: 8 }),
    (key, flags, data, tail, cuts) => {
      const ek = createGetRequest(key).escapedKey.toString('latin1');
      const stream = b(`VALUE ${ek} ${flags} ${data.length}\r\n${data}\r\nEND\r\n${tail}`);
      const whole = run(key, [stream], { gzipFlag: 1 });
      assert.equal(whole.state, 'done');
      assert.equal(whole.data, data);
      assert.equal(whole.gzip, (flags & 1) === 1);
      assert.equal(whole.keepalive, tail === '');
      assert.deepEqual(run(key, splitAt(stream, cuts), { gzipFlag: 1 }), whole);
    }), { numRuns: 300 });
});

test('property: arbitrary bytes never throw and slicing never changes the outcome', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
    const stream = Buffer.concat([b('VALUE k 0 2\r\n'), Buffer.from(bytes)]);
    const whole = run('k', [stream], { bufferSize: 32 });
    assert.deepEqual(run('k', splitAt(stream, cuts), { bufferSize: 32 }), whole);
    const raw = Buffer.from(bytes);
    assert.deepEqual(run('k', splitAt(raw, cuts), { bufferSize: 32 }), run('k', [raw], { bufferSize: 32 }));
  }), { numRuns: 500 });
});
