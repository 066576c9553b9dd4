/**
 * The client request body (body.ts) through a test content handler:
 * in memory / temp file (always removed), chunked, client_max_body_size,
 * client_body_timeout (408 + close, R27), Expect: 100-continue (R24), streaming
 * with backpressure, $request_length.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { exchange, startWeir, type Weir } from '../helpers/raw-http.js';
import { echoBodyModule } from '../helpers/body-echo.js';

const conf = `
http {
  client_body_buffer_size 1k;
  server {
    listen 127.0.0.1:%PORT%;
    location /buf { echo_body buffered; }
    location /stream { echo_body stream; }
    location /small { client_max_body_size 100; echo_body buffered; }
    location /slow { client_body_timeout 300ms; echo_body buffered; }
    location /infile { client_body_in_file_only clean; echo_body buffered; }
    location /keep { client_body_in_file_only on; client_body_temp_path kept; echo_body buffered; }
    location /tmp { client_body_temp_path tmpbody; echo_body buffered; }
  }
}`;

let w: Weir;
before(async () => { w = await startWeir(conf, {}, [echoBodyModule]); });
after(async () => { await w?.stop(); });

function post(path: string, body: Buffer | string, extra = ''): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: ${b.length}\r\n${extra}Connection: close\r\n\r\n`), b]);
}
function chunked(path: string, parts: string[]): string {
  return `POST ${path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`
    + parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join('') + '0\r\n\r\n';
}

test('a small body stays in memory; $request_length counts head and body', async () => {
  const req = post('/buf', 'hello');
  const ex = await exchange(w.port, req);
  const res = ex.responses[0];
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), 'hello');
  assert.equal(res.headers['x-body-file'], '-');
  assert.equal(Number(res.headers['x-request-length']), req.length);
});

test('a body above client_body_buffer_size goes to a temp file under client_body_temp, removed afterwards', async () => {
  const body = Buffer.alloc(50_000, 'x');
  const res = (await exchange(w.port, post('/buf', body))).responses[0];
  assert.equal(res.status, 200);
  assert.equal(res.body.length, body.length);
  const file = res.headers['x-body-file'];
  assert.ok(file.startsWith(join(w.prefix, 'client_body_temp') + '/'), file);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(existsSync(file), false);
  assert.deepEqual(readdirSync(join(w.prefix, 'client_body_temp')), []);
});

test('client_body_temp_path and client_body_in_file_only', async () => {
  const r1 = (await exchange(w.port, post('/tmp', Buffer.alloc(5000, 'y')))).responses[0];
  assert.ok(r1.headers['x-body-file'].startsWith(join(w.prefix, 'tmpbody') + '/'));
  const r2 = (await exchange(w.port, post('/infile', 'tiny'))).responses[0];
  assert.notEqual(r2.headers['x-body-file'], '-');
  assert.equal(r2.body.toString(), 'tiny');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(existsSync(r2.headers['x-body-file']), false, '`clean` removes the file');
});

test('client_body_in_file_only on keeps the file after the request, as nginx', async () => {
  const res = (await exchange(w.port, post('/keep', 'kept body'))).responses[0];
  const file = res.headers['x-body-file'];
  assert.ok(file.startsWith(join(w.prefix, 'kept') + '/'), file);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(readFileSync(file, 'utf8'), 'kept body');
});

test('chunked bodies, small and spilled', async () => {
  const r1 = (await exchange(w.port, chunked('/buf', ['ab', 'cd', 'e']))).responses[0];
  assert.equal(r1.body.toString(), 'abcde');
  const big = Array.from({ length: 20 }, (_, i) => String(i).repeat(300));
  const r2 = (await exchange(w.port, chunked('/buf', big))).responses[0];
  assert.equal(r2.body.toString(), big.join(''));
  assert.notEqual(r2.headers['x-body-file'], '-');
});

test('client_max_body_size: Content-Length above → 413; chunked counted while read → 413 and close', async () => {
  const e1 = await exchange(w.port, post('/small', Buffer.alloc(200, 'z')));
  assert.equal(e1.responses[0].status, 413);
  assert.ok(e1.closed);
  const e2 = await exchange(w.port, chunked('/small', ['a'.repeat(60), 'b'.repeat(60)]));
  assert.equal(e2.responses[0].status, 413);
  assert.ok(e2.closed);
  assert.match(await w.waitForLog(/client intended to send too large chunked body: 60\+60 bytes/), /client intended to send too large chunked body: 60\+60 bytes/);
});

test('R27: client_body_timeout between reads → 408 and the connection closed', async () => {
  const ex = await exchange(w.port, 'POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n12345', { idleMs: 1500 });
  assert.equal(ex.responses[0]?.status, 408);
  assert.ok(ex.closed);
  assert.match(await w.waitForLog(/client timed out \(110: Connection timed out\) while reading client request body/), /client timed out \(110: Connection timed out\) while reading client request body/);
});

test('R24: Expect: 100-continue gets 100 when reading starts (HTTP/1.1), none for HTTP/1.0', async () => {
  const e1 = await exchange(w.port, [
    'POST /buf HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n', 'abc',
  ], { gapMs: 100 });
  assert.deepEqual(e1.responses.map((r) => r.status), [100, 200]);
  assert.equal(e1.responses[1].body.toString(), 'abc');
  const e2 = await exchange(w.port, [
    'POST /buf HTTP/1.0\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n', 'abc',
  ], { gapMs: 100 });
  assert.deepEqual(e2.responses.map((r) => r.status), [200]);
});

test('streamed body with backpressure arrives whole and in order', async () => {
  const body = Buffer.alloc(200_000);
  for (let i = 0; i < body.length; i++) body[i] = i & 0xff;
  const res = (await exchange(w.port, post('/stream', body))).responses[0];
  assert.equal(res.status, 200);
  assert.ok(res.body.equals(body));
});

test('keep-alive after a read body: the next request on the connection is served', async () => {
  const ex = await exchange(w.port, [
    'POST /buf HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc',
    'POST /buf HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n',
    'POST /buf HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nConnection: close\r\n\r\nf',
  ]);
  assert.deepEqual(ex.responses.map((r) => r.body.toString()), ['abc', 'de', 'f']);
});

test('the client going away mid-body leaves no temp file', async () => {
  await exchange(w.port, Buffer.concat([Buffer.from('POST /buf HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n'), Buffer.alloc(40_000, 'q')]), { idleMs: 200 });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(readdirSync(join(w.prefix, 'client_body_temp')), []);
});
