// Chunked decoder: nginx's ngx_http_parse_chunked (upstream mode) and the
// strict downstream mode (RELIABILITY R15-R18), split invariance, trailers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChunkedDecoder, type ChunkedOptions, type ChunkedStatus } from '../../../src/codec/chunked.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

interface Out {
  status: ChunkedStatus;
  data: string;
  rest: string;
  reason: string;
  detail: string;
  trailers: [string, string][];
}

function decode(input: string, cuts: number[] = [], opts: ChunkedOptions = {}): Out {
  const bytes = b(input);
  const d = new ChunkedDecoder(opts);
  const views: Buffer[] = [];
  let data = '';
  let rest = '';
  let status: ChunkedStatus = 'again';
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    const slice = bytes.subarray(from, to);
    from = to;
    if (status === 'done') {
      rest += slice.toString('latin1');
      continue;
    }
    views.length = 0;
    status = d.execute(slice, 0, views);
    for (const v of views) {
      assert.ok(v.length > 0, 'no empty views');
      assert.equal(v.buffer, slice.buffer, 'views share the input memory');
      data += v.toString('latin1');
    }
    if (status === 'done') rest += slice.subarray(d.pos).toString('latin1');
    if (status === 'invalid') break;
  }
  return {
    status, data, rest, reason: d.reason, detail: d.detail,
    trailers: d.trailerNames.map((n, i) => [n, d.trailerValues[i]!]),
  };
}

const UP = { mode: 'upstream' } as const;
const DOWN = { mode: 'downstream' } as const;

test('basic decoding with a rest after the message', () => {
  const r = decode('5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT');
  assert.equal(r.status, 'done');
  assert.equal(r.data, 'hello world');
  assert.equal(r.rest, 'NEXT');
  assert.deepEqual(r.trailers, []);
  assert.equal(decode('A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n').data.length, 20);
});

test('again until the final CRLF', () => {
  for (const s of ['5\r\nhel', '5\r\nhello\r\n', '5\r\nhello\r\n0\r\n', '5\r\nhello\r\n0\r\n\r', '0\r\nX: y\r\n']) {
    assert.equal(decode(s).status, 'again', JSON.stringify(s));
  }
});

test('R15: chunk sizes (downstream strict)', () => {
  for (const s of ['0x5\r\nhello\r\n0\r\n\r\n', '+5\r\nhello\r\n0\r\n\r\n', '-0\r\n\r\n', ' 5\r\nhello\r\n0\r\n\r\n',
    '5 \r\nhello\r\n0\r\n\r\n', '1_0\r\n', '00000000000000005\r\nhello\r\n0\r\n\r\n', '\r\n', 'g\r\n', '5\t\r\n']) {
    const r = decode(s, [], DOWN);
    assert.equal(r.status, 'invalid', JSON.stringify(s));
    assert.equal(r.reason, 'client sent invalid chunked body');
  }
  assert.equal(decode('0000000000000005\r\nhello\r\n0\r\n\r\n', [], DOWN).data, 'hello');
});

test('R15 upstream: nginx accepts whitespace after the size, nothing before it', () => {
  assert.equal(decode('5 \r\nhello\r\n0\r\n\r\n', [], UP).data, 'hello');
  assert.equal(decode('5\t;a=b\r\nhello\r\n0 \r\n\r\n', [], UP).status, 'done');
  for (const s of ['0x5\r\n', '+5\r\n', '-0\r\n', ' 5\r\n', '1_0\r\n', '00000000000000005\r\n', '\r\n', '5\n']) {
    const r = decode(s, [], UP);
    assert.equal(r.status, 'invalid', JSON.stringify(s));
    assert.equal(r.reason, 'upstream sent invalid chunked response');
  }
});

test('big chunk sizes: up to Number.MAX_SAFE_INTEGER', () => {
  const d = new ChunkedDecoder();
  const views: Buffer[] = [];
  assert.equal(d.execute(b('1fffffffffffff\r\nabc'), 0, views), 'again');
  assert.equal(d.pendingData, Number.MAX_SAFE_INTEGER - 3);
  for (const s of ['20000000000000\r\n', 'ffffffffffffffff\r\n', '10000000000000000\r\n']) {
    const r = decode(s);
    assert.equal(r.status, 'invalid', s);
    assert.equal(r.detail, 'chunk size too big');
  }
});

test('R16: chunk extensions', () => {
  for (const opts of [UP, DOWN]) {
    assert.equal(decode('5;a\rb\r\nhello\r\n0\r\n\r\n', [], opts).status, 'invalid');
    assert.equal(decode('2\r\r;a\r\nab\r\n0\r\n\r\n', [], opts).status, 'invalid');
    assert.equal(decode('5;a\nhello\r\n0\r\n\r\n', [], opts).status, 'invalid');
    assert.equal(decode('5;a\x00\r\nhello\r\n0\r\n\r\n', [], opts).status, 'invalid');
    const long = '1;' + 'a'.repeat(5000) + '\r\nx\r\n0\r\n\r\n';
    assert.equal(decode(long, [], opts).detail, 'chunk extensions too long');
    // the bound is per message, not per chunk
    const many = ('1;' + 'e'.repeat(1000) + '\r\nx\r\n').repeat(5) + '0\r\n\r\n';
    assert.equal(decode(many, [], opts).status, 'invalid');
    assert.equal(decode(many, [], { ...opts, maxExtensionBytes: 10000 }).status, 'done');
  }
  const ok = '5;name=value;flag;q="a \\"quoted\\" ;x"\r\nhello\r\n0;last\r\n\r\n';
  assert.equal(decode(ok, [], DOWN).data, 'hello');
  assert.equal(decode(ok, [], UP).data, 'hello');
  for (const s of ['5;a="unbalanced\r\nhello\r\n0\r\n\r\n', '5;\r\nhello\r\n', '5; a\r\nhello\r\n', '5;a=\r\n',
    '5;a b\r\n', '5;a="x"y\r\n', '5;=x\r\n']) {
    assert.equal(decode(s, [], DOWN).status, 'invalid', JSON.stringify(s));
  }
});

test('R17: size/data mismatch, missing CRLF, bare LF (nginx >= 1.29.4)', () => {
  for (const opts of [UP, DOWN]) {
    for (const s of ['4\r\nSEE-THIS\r\n0\r\n\r\n', '5\r\nhello0\r\n\r\n', '5\r\nhello\n0\r\n\r\n', '1\nx\n0\n\n',
      '1\r\nx\r\n0\n\n', '1\r\nx\r\n0\r\n\n', '5\r\nhello\r\r\n', '1\r\nx\r\n0\r\nX: y\n\r\n']) {
      assert.equal(decode(s, [], opts).status, 'invalid', JSON.stringify(s));
    }
  }
  assert.equal(decode('4\r\nSEE-THIS\r\n0\r\n\r\n').detail, 'expected CRLF after chunk data');
});

test('R18: trailers are parsed, forbidden ones dropped', () => {
  const d = new ChunkedDecoder();
  const views: Buffer[] = [];
  const msg = b('3\r\nabc\r\n0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nHost: evil\r\n'
    + 'X-Checksum:  abc123 \r\nGrpc-Status: 0\r\nConnection: close\r\nX@: 1\r\n\r\n');
  assert.equal(d.execute(msg, 0, views), 'done');
  assert.equal(d.pos, msg.length);
  assert.deepEqual(d.trailerNames, ['X-Checksum', 'Grpc-Status']);
  assert.deepEqual(d.trailerValues, ['abc123', '0']);
  assert.equal(d.trailer('grpc-status'), '0');
  assert.equal(d.trailer('host'), undefined);
  assert.equal(d.trailersDropped, 5);
});

test('trailers: too big and invalid', () => {
  const big = '0\r\n' + 'X-A: bbbbbbbbbbbbbbbbbbbb\r\n'.repeat(200) + '\r\n';
  const r = decode(big);
  assert.equal(r.status, 'invalid');
  assert.equal(r.reason, 'upstream sent too big trailers');
  assert.equal(decode(big, [], { maxTrailerSize: 8192 }).status, 'done');
  assert.equal(decode('0\r\nX-A: a\r\n b\r\n\r\n').reason, 'upstream sent invalid trailer: "\\x20..."');
  assert.equal(decode('0\r\nX-A: a\x00\r\n\r\n').reason, 'upstream sent invalid trailer: "X-A: a\\x00..."');
  assert.equal(decode('0\r\nX-A: a\x00\r\n\r\n', [], DOWN).reason, 'client sent invalid trailer: "X-A: a\\x00..."');
});

test('R18: an optional cap on the number of chunks', () => {
  const flood = '1\r\nx\r\n'.repeat(1000) + '0\r\n\r\n';
  assert.equal(decode(flood).data.length, 1000);
  const r = decode(flood, [], { maxChunks: 999 });
  assert.equal(r.status, 'invalid');
  assert.equal(r.detail, 'too many chunks');
  assert.equal(decode(flood, [], { maxChunks: 1000 }).status, 'done');
});

test('after done, execute reports done and the position', () => {
  const d = new ChunkedDecoder();
  const views: Buffer[] = [];
  assert.equal(d.execute(b('0\r\n\r\n'), 0, views), 'done');
  assert.equal(d.done, true);
  assert.equal(d.execute(b('xyz'), 1, views), 'done');
  assert.equal(d.pos, 1);
  assert.equal(views.length, 0);
});

const SAMPLES: [string, ChunkedOptions][] = [
  ['5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nREST', UP],
  ['1a;ext="q;\\"x"\r\nabcdefghijklmnopqrstuvwxyz\r\n0;z\r\nX-T: 1\r\nX-U:  two \r\n\r\nHTTP/1.1 200 OK', DOWN],
  ['3 ;x\r\nabc\r\n0\r\nHost: h\r\nX: y\r\n\r\n', UP],
  ['4\r\nSEE-THIS\r\n0\r\n\r\n', UP],
  ['1\r\nx\r\n0\r\nX-A: a\r\n b\r\n\r\n', UP],
  ['1\nx\n0\n\n', DOWN],
  ['0\r\n' + 'X-Pad: 0123456789\r\n'.repeat(300) + '\r\n', UP],
];

test('property: any split gives the same result as one slice', () => {
  for (const [sample, opts] of SAMPLES) {
    const whole = decode(sample, [], opts);
    fc.assert(fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: sample.length - 1 }), { maxLength: 15 }),
      (cuts) => {
        assert.deepEqual(decode(sample, cuts.sort((x, y) => x - y), opts), whole);
      },
    ), { numRuns: 150 });
    const all = Array.from({ length: sample.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(decode(sample, all, opts), whole);
  }
});

test('property: encode random data in random chunks, decode in random slices', () => {
  fc.assert(fc.property(
    fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 10 }),
    fc.integer({ min: 1, max: 97 }),
    fc.boolean(),
    (chunks, step, upper) => {
      const parts: Buffer[] = [];
      for (const c of chunks) {
        const size = c.length.toString(16);
        parts.push(b((upper ? size.toUpperCase() : size) + '\r\n'), Buffer.from(c), b('\r\n'));
      }
      parts.push(b('0\r\n\r\n'));
      const wire = Buffer.concat(parts);
      const d = new ChunkedDecoder({ mode: 'downstream' });
      const views: Buffer[] = [];
      let status: ChunkedStatus = 'again';
      for (let i = 0; i < wire.length; i += step) {
        status = d.execute(wire.subarray(i, Math.min(wire.length, i + step)), 0, views);
      }
      assert.equal(status, 'done');
      assert.deepEqual(Buffer.concat(views), Buffer.concat(chunks.map((c) => Buffer.from(c))));
    },
  ), { numRuns: 200 });
});
