/**
 * The HTTP core as nginx 1.31 behaves, on a running weir (what nginx-tests'
 * HTTP-core files check, plus the parts they touch only lightly): request
 * lines and heads as nginx parses them, HTTP/0.9, CONNECT, `$request` as
 * sent, rejected heads in the access log, auto_redirect, error_page and its
 * Location, err_status over a `return 204`, 100 Continue without a body, and
 * nginx's two status texts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exchange, startWithLogs, waitFor, waitLines, type Weir } from '../helpers/in-process.js';

let w: Weir;
let backend: Server;
const log = (name: string): string => join(w.prefix, 'logs', name);

before(async () => {
  backend = createServer((req, res) => { res.setHeader('X-Seen-Uri', req.url ?? ''); res.end('backend'); });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const bport = (backend.address() as AddressInfo).port;
  w = await startWithLogs(`
events {}
http {
  log_format req '$status "$request" $server_protocol';
  access_log logs/access.log req;
  error_log logs/error.log info;
  client_header_timeout 300ms;
  large_client_header_buffers 4 1k;
  server {
    listen 127.0.0.1:%PORT%;
    server_name localhost;
    location / { return 200 "root"; }
    location /dir/ { proxy_pass http://127.0.0.1:${bport}; }
    location /redirected { error_page 302 http://example.com/; return 302 "first"; }
    location /e405 { error_page 405 /r204; return 405; }
    location /r204 { return 204; }
    location /proxied { proxy_pass http://127.0.0.1:${bport}; }
    location /s302 { return 302 /elsewhere; }
    location /s417 { return 417; }
  }
}`);
});
after(async () => { await w?.stop(); backend?.close(); });

async function one(bytes: string, idleMs = 300): Promise<{ raw: string; status: number; closed: boolean }> {
  const ex = await exchange(w.port, bytes, { idleMs });
  return { raw: ex.raw.toString('latin1'), status: ex.responses[0]?.status ?? 0, closed: ex.closed };
}

test('bare LF line ends, runs of spaces and spaces after the version are served', async () => {
  assert.match((await one('GET / HTTP/1.0\nHost: localhost\n\n')).raw, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nroot$/);
  assert.equal((await one('GET   /   HTTP/1.0  \r\nHost: localhost\r\n\r\n')).status, 200);
  assert.equal((await one('\r\n\n\rGET / HTTP/1.0\r\n\r\n')).status, 200, 'empty lines and CRs before the request line');
  const lines = await waitLines(log('access.log'), 3);
  assert.equal(lines[1], '200 "GET   /   HTTP/1.0  " HTTP/1.0', '$request is the line as sent');
});

test('versions: 1.2 is served as 1.2, 2.0 and 10.0 are 505, lower case or 0.x is 400', async () => {
  assert.equal((await one('GET / HTTP/1.2\r\nHost: localhost\r\n\r\n')).status, 200);
  assert.equal((await one('GET / HTTP/2.0\r\nHost: localhost\r\n\r\n')).status, 505);
  assert.equal((await one('GET / HTTP/10.0\r\n\r\n')).status, 505);
  assert.equal((await one('GET / http/1.1\r\n\r\n')).status, 400);
  assert.equal((await one('GET / HTTP/0.9\r\n\r\n')).status, 400);
  assert.equal((await one('GET /\t HTTP/1.1\r\n\r\n')).status, 400, 'a tab');
  assert.equal((await one('GET / HTTP/1.1\rHost: localhost\r\n\r\n')).status, 400, 'a CR not before LF');
});

test('HTTP/0.9: the body alone, then close; a 0.9 request other than GET is 400', async () => {
  const r = await one('GET /\r\n');
  assert.equal(r.raw, 'root');
  assert.ok(r.closed);
  assert.equal((await one('POST /\n')).status, 400);
  assert.match(await waitFor(() => readLog('error.log'), /client sent invalid method in HTTP\/0\.9 request/), /HTTP\/0\.9 request/);
});

test('CONNECT host:port is 405; CONNECT without a port or to a path is 400', async () => {
  assert.equal((await one('CONNECT localhost:8080 HTTP/1.1\r\nHost: localhost\r\n\r\n')).status, 405);
  assert.equal((await one('CONNECT / HTTP/1.1\r\nHost: localhost\r\n\r\n')).status, 400);
  assert.equal((await one('CONNECT localhost HTTP/1.1\r\nHost: localhost\r\n\r\n')).status, 400);
});

test('a header name with odd bytes is ignored and logged; a line without a colon is a header', async () => {
  assert.equal((await one('GET / HTTP/1.0\r\nX@Odd: 1\r\nNoColon\r\nHost: localhost\r\n\r\n')).status, 200);
  const re = /\[info\] .*client sent invalid header line: "X@Odd: 1"/;
  assert.match(await waitFor(() => readLog('error.log'), re), re);
  assert.equal((await one('GET / HTTP/1.0\r\nBad Name: 1\r\n\r\n')).status, 400, 'a space in a name');
});

test('heads rejected while read are access-logged, $request as far as it came', async () => {
  const before = (await waitLines(log('access.log'), 0)).length;
  assert.equal((await one('GET /\x01 HTTP/1.1\r\n\r\n')).status, 400);
  assert.equal((await one(`GET /${'a'.repeat(1100)} HTTP/1.1\r\n\r\n`)).status, 414);
  assert.equal((await one('GET /slow HTT', 700)).status, 408);
  assert.equal((await one('GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n')).status, 400);
  const lines = (await waitLines(log('access.log'), before + 4)).slice(before);
  assert.equal(lines.length, 4, lines.join('\n'));
  assert.equal(lines[0], '400 "GET /\\x01 HTTP/1.1" HTTP/1.0', 'escaped as nginx escapes the log');
  assert.match(lines[1]!, /^414 "GET \/a{1000,}/);
  assert.equal(lines[2], '408 "GET /slow HTT" HTTP/1.0');
  assert.equal(lines[3], '400 "GET / HTTP/1.1" HTTP/1.1');
});

test('auto_redirect: /dir of a proxied `location /dir/` is a 301 to /dir/ with the args', async () => {
  const r = await one('GET /dir?a=1 HTTP/1.0\r\nHost: localhost\r\n\r\n');
  assert.equal(r.status, 301);
  assert.match(r.raw, new RegExp(`\r\nLocation: http://localhost:${w.port}/dir/\\?a=1\r\n`));
  assert.match((await one('GET /dir/x HTTP/1.0\r\nHost: localhost\r\n\r\n')).raw, /X-Seen-Uri: \/dir\/x/);
});

test('an error_page redirect replaces the Location the response had', async () => {
  const r = await one('GET /redirected HTTP/1.0\r\nHost: localhost\r\n\r\n');
  assert.equal(r.status, 302);
  assert.deepEqual(r.raw.match(/\r\nLocation: [^\r]*/g), ['\r\nLocation: http://example.com/']);
});

test("error_page 405 to a `return 204`: nginx's 405 with Content-Length: 0", async () => {
  const r = await one('GET /e405 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  assert.match(r.raw, /^HTTP\/1\.1 405 Not Allowed\r\n/);
  assert.match(r.raw, /\r\nContent-Length: 0\r\n/);
});

test('Expect: 100-continue gets its 100 when the body is read, even with no body', async () => {
  const r = await one('POST /proxied HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  assert.match(r.raw, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  const r10 = await one('POST /proxied HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n');
  assert.doesNotMatch(r10.raw, / 100 /, 'never to HTTP/1.0');
});

test("status line and page use nginx's two texts; a code without either has a bare line and no body", async () => {
  const r = await one('GET /s302 HTTP/1.0\r\nHost: localhost\r\n\r\n');
  assert.match(r.raw, /^HTTP\/1\.1 302 Moved Temporarily\r\n/);
  assert.match(r.raw, /<title>302 Found<\/title>/);
  const e = await one('GET /s417 HTTP/1.0\r\nHost: localhost\r\n\r\n');
  assert.match(e.raw, /^HTTP\/1\.1 417 \r\n/);
  assert.match(e.raw, /\r\nContent-Length: 0\r\n/);
  assert.match(e.raw, /\r\n\r\n$/, 'no body');
});

function readLog(name: string): string {
  try {
    return readFileSync(log(name), 'latin1');
  } catch {
    return '';
  }
}
