/**
 * RELIABILITY.md §1, rows R1–R30 that concern the downstream server, sent as
 * raw bytes to a running weir. Each bad request is followed in the same write
 * by a pipelined `GET /admin.txt`: its answer (the body "ADMIN") must never
 * appear, and the connection must be closed where the row says so.
 *
 * Content: static files (`return` was not registered when this was written);
 * /echo reads the body with body.ts (test/helpers/body-echo.ts).
 * R29 is about headers sent upstream (proxy), not the downstream parser: not here.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { exchange, startWeir, type Exchange, type Weir } from '../helpers/raw-http.js';
import { echoBodyModule } from '../helpers/body-echo.js';

const conf = `
http {
  server {
    listen 127.0.0.1:%PORT% default_server;
    server_name a;
    root html;
    location / { }
    location /echo { client_body_timeout 500ms; echo_body buffered; }
  }
  server {
    listen 127.0.0.1:%PORT%;
    server_name b;
    root html-b;
  }
}`;

let w: Weir;
before(async () => {
  w = await startWeir(conf, {
    'html/index.html': 'ok',
    'html/admin.txt': 'ADMIN',
    'html-b/index.html': 'server b',
  }, [echoBodyModule]);
});
after(async () => { await w?.stop(); });

const ADMIN = 'GET /admin.txt HTTP/1.1\r\nHost: a\r\n\r\n';

async function send(bytes: string | Buffer, opts: { idleMs?: number } = {}): Promise<Exchange> {
  return exchange(w.port, bytes, { idleMs: opts.idleMs ?? 300 });
}

/** The request is rejected with `status`, the connection closed, and the pipelined request never answered. */
async function rejected(head: string, status: number | readonly number[]): Promise<void> {
  const ex = await send(Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(ADMIN)]));
  const statuses = ex.responses.map((r) => r.status);
  const allowed = typeof status === 'number' ? [status] : status;
  assert.ok(ex.responses.length >= 1, `no response; got ${JSON.stringify(ex.raw.toString('latin1'))}`);
  assert.ok(allowed.includes(ex.responses[0].status), `status ${statuses.join(',')} for ${JSON.stringify(head)}`);
  assert.equal(ex.responses.length, 1, `more than one response: ${statuses.join(',')}`);
  assert.ok(ex.closed, 'connection left open');
  assert.ok(!ex.raw.includes('ADMIN'), 'the pipelined request was processed');
}

/** Nothing after the bad bytes is processed and the connection closes (status not checked). */
async function cutOff(bytes: string): Promise<Exchange> {
  const ex = await send(Buffer.concat([Buffer.from(bytes, 'latin1'), Buffer.from(ADMIN)]), { idleMs: 800 });
  assert.ok(ex.closed, 'connection left open');
  assert.ok(!ex.raw.includes('ADMIN'), 'the pipelined request was processed');
  return ex;
}

const H = 'Host: a\r\n';
const post = (headers: string, body = ''): string => `POST /echo HTTP/1.1\r\n${H}${headers}\r\n${body}`;

// R1 --------------------------------------------------------------------------
test('R1: Content-Length + Transfer-Encoding (both orders) → 400 + close', async () => {
  await rejected(post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), 400);
  await rejected(post('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', '0\r\n\r\n'), 400);
});

// R2 --------------------------------------------------------------------------
test('R2: duplicate Content-Length → 400 + close', async () => {
  await rejected(post('Content-Length: 0\r\nContent-Length: 31\r\n'), 400);
  await rejected(post('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello'), 400);
  await rejected(post('Content-Length: 5, 5\r\n', 'hello'), 400);
});

// R3 --------------------------------------------------------------------------
test('R3: invalid Content-Length values → 400 + close', async () => {
  for (const v of ['+5', '-1', '0x5', '5a', '1e3', '', '99999999999999999999']) {
    await rejected(post(`Content-Length: ${v}\r\n`, 'hello'), 400);
  }
});

// R4 --------------------------------------------------------------------------
test('R4: Content-Length 010 is 10 (decimal); the next request parses after those 10 bytes', async () => {
  const ex = await send(`POST /echo HTTP/1.1\r\n${H}Content-Length: 010\r\n\r\n0123456789${ADMIN}`);
  assert.deepEqual(ex.responses.map((r) => r.status), [200, 200]);
  assert.equal(ex.responses[0].body.toString(), '0123456789');
  assert.equal(ex.responses[1].body.toString(), 'ADMIN');
});

// R5 --------------------------------------------------------------------------
test('R5: Transfer-Encoding other than chunked → 501 + close', async () => {
  for (const te of ['identity', 'gzip, chunked', 'identity, chunked']) {
    await rejected(post(`Transfer-Encoding: ${te}\r\n`, '0\r\n\r\n'), 501);
  }
});
test('R5: `chunked, identity` and nested forms → 501 + close, as nginx', async () => {
  for (const te of ['chunked, identity', 'identity, chunked, identity']) {
    await rejected(post(`Transfer-Encoding: ${te}\r\n`, '0\r\n\r\n'), 501);
  }
});

// R6 --------------------------------------------------------------------------
// R6 is "weir stricter": nginx answers these 501 (an unknown coding), weir 400 (a malformed one).
test('R6: malformed chunked tokens → 400 + close', async () => {
  for (const te of ['chunked, chunked', 'chunked,', 'chunked\x0b', 'chunked\x0c', 'chunked\x00', 'chunked\x7f']) {
    await rejected(post(`Transfer-Encoding: ${te}\r\n`, '0\r\n\r\n'), 400);
  }
});
test('R6: `,chunked`, quoted, `chunk` → 400 + close', async () => {
  for (const te of [',chunked', '"chunked"', "'chunked'", 'chunk']) {
    await rejected(post(`Transfer-Encoding: ${te}\r\n`, '0\r\n\r\n'), 400);
  }
});

// R7 --------------------------------------------------------------------------
test('R7: repeated Transfer-Encoding lines → 400 + close', async () => {
  await rejected(post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), 400);
  await rejected(post('Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), 400);
  await rejected(post('Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', '0\r\n\r\n'), 400);
});

// R8 --------------------------------------------------------------------------
test('R8: Transfer-Encoding on HTTP/1.0 → 400 + close', async () => {
  await rejected(`POST /echo HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400);
});

// R9 --------------------------------------------------------------------------
test('R9: whitespace before the colon → 400 + close', async () => {
  for (const n of ['Transfer-Encoding : chunked', 'Transfer-Encoding\t: chunked', 'Transfer-Encoding\n : chunked']) {
    await rejected(post(`${n}\r\n`, '0\r\n\r\n'), 400);
  }
});

// R10 -------------------------------------------------------------------------
test('R10: `Transfer_Encoding` is dropped: the body bytes are the next request, parsed by us', async () => {
  const ex = await send(`GET / HTTP/1.1\r\n${H}Transfer_Encoding: chunked\r\n\r\n${ADMIN}`);
  assert.deepEqual(ex.responses.map((r) => r.status), [200, 200]);
  assert.equal(ex.responses[0].body.toString(), 'ok');
});
test('R10: `Transfer Encoding:` (a space in the name) → 400 + close', async () => {
  await rejected(post('Transfer Encoding: chunked\r\n', '0\r\n\r\n'), 400);
});
test('R10: a non-ASCII name is ignored as nginx: its `chunked` frames nothing, `0` is then a bad request line', async () => {
  const ex = await send(Buffer.concat([Buffer.from(post('Transf\x82r-Encoding: chunked\r\n', '0\r\n\r\n'), 'latin1'), Buffer.from(ADMIN)]));
  assert.deepEqual(ex.responses.map((r) => r.status), [200, 400]);
  assert.ok(!ex.raw.includes('ADMIN'));
  assert.ok(ex.closed);
});
test('R10: `Transfer-%45ncoding:` is dropped, as nginx (ignore_invalid_headers): never read as Transfer-Encoding', async () => {
  const ex = await send(`GET / HTTP/1.1\r\n${H}Transfer-%45ncoding: chunked\r\n\r\n${ADMIN}`);
  // Had it framed the body, ADMIN's request line would have been read as a chunk size.
  assert.deepEqual(ex.responses.map((r) => r.status), [200, 200]);
  assert.equal(ex.responses[1].body.toString(), 'ADMIN');
});

// R11 -------------------------------------------------------------------------
test('R11: obs-fold → 400 + close', async () => {
  await rejected(post('X: a\r\n Transfer-Encoding: chunked\r\n', '0\r\n\r\n'), 400);
  await rejected(post('Transfer-Encoding:\r\n chunked\r\n', '0\r\n\r\n'), 400);
});

// R12 -------------------------------------------------------------------------
test('R12: a bare CR → 400 + close', async () => {
  await rejected(post('Foo: bar\rTransfer-Encoding: chunked\r\n', '0\r\n\r\n'), 400);
});
test('R12: a bare LF ends a line, as in nginx: `\\nTransfer-Encoding` is a header of its own', async () => {
  const ex = await send(`POST /echo HTTP/1.1\r\n${H}Foo: bar\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n${ADMIN}`);
  assert.deepEqual(ex.responses.map((r) => r.status), [200, 200]);
  assert.equal(ex.responses[1].body.toString(), 'ADMIN', 'the chunked body ended where its framing said');
  const lf = await send('GET / HTTP/1.1\nHost: a\nConnection: close\n\n');
  assert.equal(lf.responses[0]?.status, 200);
});
test('R12: `\\r\\n\\rZGET` after a request: the first request is answered, the CR and LFs are skipped as nginx does, and ZGET is not GET', async () => {
  const ex = await send(`GET / HTTP/1.1\r\n${H}\r\n\r\n\rZGET /admin.txt HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
  assert.deepEqual(ex.responses.map((r) => r.status), [200, 405]);
  assert.equal(ex.responses[0].body.toString(), 'ok');
  assert.ok(!ex.raw.includes('ADMIN'));
});

// R13 -------------------------------------------------------------------------
test('R13: NUL / DEL / VT in a value → 400 + close', async () => {
  await rejected('GET / HTTP/1.1\r\nHost: a\x00.evil\r\n\r\n', 400);
  await rejected(`GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`, 400);
  await rejected(`GET / HTTP/1.1\r\n${H}X: a\x0bb\r\n\r\n`, 400);
});

// R14 -------------------------------------------------------------------------
test('R14: an empty name or a space or control in a name → 400 + close', async () => {
  for (const line of [': x', 'X Y: z', 'X\x01: z']) {
    await rejected(`GET / HTTP/1.1\r\n${H}${line}\r\n\r\n`, 400);
  }
});
test('R14: names with other odd bytes are ignored (nginx ignore_invalid_headers); a line without a colon is a header', async () => {
  for (const line of ['X@: z', 'Header\x85: v', 'Te\nst: x', 'NoColon']) {
    const ex = await send(Buffer.from(`GET / HTTP/1.1\r\n${H}${line}\r\nConnection: close\r\n\r\n`, 'latin1'));
    assert.equal(ex.responses[0]?.status, 200, JSON.stringify(line));
  }
});

// R15–R17: chunked framing errors, found by weir's chunked decoder while the body is read
const badChunked: Array<[string, string]> = [
  ['R15', '0x5\r\nhello\r\n0\r\n\r\n'], ['R15', '+5\r\nhello\r\n0\r\n\r\n'], ['R15', '-0\r\n\r\n'],
  ['R15', ' 5\r\nhello\r\n0\r\n\r\n'], ['R15', '5 \r\nhello\r\n0\r\n\r\n'], ['R15', '1_0\r\n0123456789abcdef\r\n0\r\n\r\n'],
  ['R15', '11111111111111111\r\nx\r\n'], ['R15', '\r\nx\r\n0\r\n\r\n'],
  ['R16', '5;a\rb\r\nhello\r\n0\r\n\r\n'], ['R16', '2\r\r;a\r\nhi\r\n0\r\n\r\n'], ['R16', '5;a="b\r\nhello\r\n0\r\n\r\n'],
  ['R16', `5;${'a'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`],
  ['R17', '4\r\nSEE-THIS\r\n0\r\n\r\n'], ['R17', '5\r\nhelloXX0\r\n\r\n'], ['R17', '1\nx\n0\n\n'],
];
for (const [row, body] of badChunked) {
  test(`${row}: chunked body ${JSON.stringify(body.slice(0, 24))} → connection closed, nothing after it processed`, async () => {
    await cutOff(post('Transfer-Encoding: chunked\r\n', body));
  });
}
test('R15–R17: the bad chunked body is answered 400 before the close', async () => {
  const ex = await cutOff(post('Transfer-Encoding: chunked\r\n', '0x5\r\nhello\r\n0\r\n\r\n'));
  assert.equal(ex.responses[0]?.status, 400);
});

// R18 -------------------------------------------------------------------------
test('R18: plain trailers are accepted; the request is served and the next one too', async () => {
  const ex = await send(post('Transfer-Encoding: chunked\r\n', '2\r\nhi\r\n0\r\nX-T: 1\r\n\r\n') + ADMIN);
  assert.deepEqual(ex.responses.map((r) => r.status), [200, 200]);
  assert.equal(ex.responses[0].body.toString(), 'hi');
});
test('R18: trailers carrying framing headers are dropped and the request served', async () => {
  const ex = await send(post('Transfer-Encoding: chunked\r\n',
    '2\r\nhi\r\n0\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\nHost: evil\r\n\r\n') + ADMIN);
  assert.deepEqual(ex.responses.map((r) => r.status), [200, 200]);
  assert.equal(ex.responses[0].body.toString(), 'hi');
  assert.equal(ex.responses[1].body.toString(), 'ADMIN');
});
test('R18: 10^5 one-byte chunks are bounded (chunk-count / CPU limit): 400 + close', async () => {
  const chunks = '1\r\nx\r\n'.repeat(100_000);
  const ex = await exchange(w.port, post('Transfer-Encoding: chunked\r\n', chunks + '0\r\n\r\n'), { idleMs: 2000, totalMs: 15000 });
  assert.deepEqual(ex.responses.map((r) => r.status), [400]);
  assert.ok(ex.closed);
  await w.waitForLog(/\[info\] .*client sent too many tiny chunks: \d+ for \d+ bytes/);
});

// R19 -------------------------------------------------------------------------
test('R19: absolute-form routes on the request-line authority', async () => {
  const ex = await send('GET http://b/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(ex.responses[0].status, 200);
  assert.equal(ex.responses[0].body.toString(), 'server b');
});
test('R19: userinfo in absolute-form → 400 + close', async () => {
  await rejected('GET http://u@b/ HTTP/1.1\r\nHost: a\r\n\r\n', 400);
});

// R20 -------------------------------------------------------------------------
test('R20: duplicate / empty / invalid Host → 400 + close', async () => {
  await rejected('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400);
  for (const h of ['', 'a b', 'a/b', 'example.com.:1.2']) await rejected(`GET / HTTP/1.1\r\nHost: ${h}\r\n\r\n`, 400);
  await rejected('GET / HTTP/1.1\r\n\r\n', 400);
});

// R21 -------------------------------------------------------------------------
test('R21: runs of spaces (`GET  /`) and HTTP/1.2 are served, as nginx does', async () => {
  for (const line of ['GET  /  HTTP/1.1', 'GET / HTTP/1.1  ', 'GET / HTTP/1.2']) {
    const ex = await send(`${line}\r\n${H}Connection: close\r\n\r\n`);
    assert.equal(ex.responses[0]?.status, 200, line);
  }
});
test('R21: bad request lines → 400/505 + close', async () => {
  await rejected(`GET / HTTP/2.0\r\n${H}\r\n`, 505);
  for (const line of ['GET / http/1.1', 'GET\t/\tHTTP/1.1', 'GET /a b HTTP/1.1', 'GET /\x02 HTTP/1.1', 'GET * HTTP/1.1', 'GET a.b:80 HTTP/1.1']) {
    await rejected(`${line}\r\n${H}\r\n`, 400);
  }
});

// R22 -------------------------------------------------------------------------
test('R22: pipelined requests are answered in order', async () => {
  const ex = await send(`GET /admin.txt HTTP/1.1\r\n${H}\r\nGET / HTTP/1.1\r\n${H}\r\nGET /admin.txt HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
  assert.deepEqual(ex.responses.map((r) => r.body.toString()), ['ADMIN', 'ok', 'ADMIN']);
  assert.ok(ex.closed);
});
test('R22: bytes after a `Connection: close` request are never processed; the connection closes', async () => {
  const ex = await send(`GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n${ADMIN}`);
  assert.ok(!ex.raw.includes('ADMIN'));
  assert.ok(ex.closed);
});
test('R22: the request before the ignored bytes is answered', async () => {
  const ex = await send(`GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n${ADMIN}`);
  assert.equal(ex.responses.length, 1);
  assert.equal(ex.responses[0].body.toString(), 'ok');
});

// R23 -------------------------------------------------------------------------
test('R23: HTTP/1.0 keep-alive is honoured; responses are never chunked', async () => {
  const ex = await send(`GET / HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\nGET /admin.txt HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\n`);
  assert.deepEqual(ex.responses.map((r) => r.body.toString()), ['ok', 'ADMIN']);
  assert.ok(!ex.raw.toString('latin1').toLowerCase().includes('transfer-encoding'));
  assert.equal(ex.responses[0].headers.connection, 'keep-alive');
});

// R24 -------------------------------------------------------------------------
test('R24: Expect: 100-continue → 100 when the body is read; HTTP/1.0 gets none', async () => {
  const e1 = await exchange(w.port, [post('Content-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n'), 'abc'], { gapMs: 100 });
  assert.deepEqual(e1.responses.map((r) => r.status), [100, 200]);
  const e2 = await exchange(w.port, [`POST /echo HTTP/1.0\r\n${H}Content-Length: 3\r\nExpect: 100-continue\r\n\r\n`, 'abc'], { gapMs: 100 });
  assert.deepEqual(e2.responses.map((r) => r.status), [200]);
});
test('R24: Expect: foo → 417', async () => {
  const ex = await send(`GET / HTTP/1.1\r\n${H}Expect: foo\r\nConnection: close\r\n\r\n`);
  assert.equal(ex.responses[0].status, 417);
});

// R25 -------------------------------------------------------------------------
test('R25: GET with a body: the body is discarded and never parsed as a request', async () => {
  const ex = await send(`GET / HTTP/1.1\r\n${H}Content-Length: ${ADMIN.length}\r\n\r\n${ADMIN}GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
  assert.deepEqual(ex.responses.map((r) => r.body.toString()), ['ok', 'ok']);
});

// R26 -------------------------------------------------------------------------
test('R26: an early answer (405 to POST on a static file) discards the body; it never becomes /admin', async () => {
  const ex = await send(`POST /index.html HTTP/1.1\r\n${H}Content-Length: ${ADMIN.length}\r\n\r\n${ADMIN}GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
  assert.deepEqual(ex.responses.map((r) => r.status), [405, 200]);
  assert.ok(!ex.raw.includes('ADMIN'));
  assert.equal(ex.responses[1].body.toString(), 'ok');
});
test('R26: 413 for a too large Content-Length closes the connection; the body is never a request', async () => {
  const w2 = await startWeir(`http { client_max_body_size 10; server { listen 127.0.0.1:%PORT%; root html; location / {} } }`,
    { 'html/index.html': 'ok', 'html/admin.txt': 'ADMIN' });
  try {
    const ex = await exchange(w2.port, `POST / HTTP/1.1\r\n${H}Content-Length: ${ADMIN.length}\r\n\r\n${ADMIN}`);
    assert.deepEqual(ex.responses.map((r) => r.status), [413]);
    assert.ok(ex.closed);
    assert.ok(!ex.raw.includes('ADMIN'));
  } finally { await w2.stop(); }
});

// R27 -------------------------------------------------------------------------
test('R27: pause desync: Content-Length 20 then silence → 408 + close', async () => {
  const ex = await exchange(w.port, post('Content-Length: 20\r\n'), { idleMs: 1500 });
  assert.equal(ex.responses[0]?.status, 408);
  assert.ok(ex.closed);
});

// R28 -------------------------------------------------------------------------
test('R28: Upgrade without a 101: the request is answered, nothing is tunnelled, the pipelined bytes are parsed as HTTP', async () => {
  const ex = await send(`GET / HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /admin.txt HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
  assert.deepEqual(ex.responses.map((r) => r.status), [200, 200]);
  assert.equal(ex.responses[0].body.toString(), 'ok');
  assert.equal(ex.responses[1].body.toString(), 'ADMIN');
});

// R30 -------------------------------------------------------------------------
// R30 allows 400 or 431; weir answers 400, as nginx 1.22 does to all three.
test('R30: 1001 headers → 400 + close', async () => {
  let h = '';
  for (let i = 0; i < 1001; i++) h += `X-${i}: v\r\n`;
  await rejected(`GET / HTTP/1.1\r\n${H}${h}\r\n`, 400);
});
test('R30: one 9 KiB header line → 400 + close', async () => {
  await rejected(`GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(9 * 1024)}\r\n\r\n`, 400);
});
test('R30: 33 KiB of headers → 400 + close', async () => {
  let h = '';
  for (let i = 0; i < 33; i++) h += `X-${i}: ${'b'.repeat(1000)}\r\n`;
  await rejected(`GET / HTTP/1.1\r\n${H}${h}\r\n`, 400);
});
