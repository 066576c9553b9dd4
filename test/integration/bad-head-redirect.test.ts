// A request whose head is refused (invalid Host, bad request line) still goes
// through the default server's error_page, as ngx_http_finalize_request sends
// it there; and an absolute redirect uses the client's valid Host, else the
// local address, never the server's name (ngx_http_header_filter).
import assert from 'node:assert/strict';
import test from 'node:test';
import { exchange, startWeir } from '../helpers/raw-http.js';

const conf = `http {
  access_log off;
  server {
    listen 127.0.0.1:%PORT%;
    server_name named;
    error_page 400 /redirect400;
    location /redirect400 { return 301 /landed; }
    location /plain { return 301 /landed; }
    location /name { server_name_in_redirect on; return 301 /landed; }
    location /noport { port_in_redirect off; return 301 /landed; }
  }
}`;

test('an invalid Host is answered through error_page 400, the redirect naming the local address', async () => {
  const w = await startWeir(conf);
  try {
    for (const host of ['.', '..x', 'a b', 'x/y']) {
      const ex = await exchange(w.port, `GET /plain HTTP/1.0\r\nHost: ${host}\r\n\r\n`);
      const res = ex.responses[0];
      assert.equal(res?.status, 301, `Host: ${host}`);
      assert.equal(res.headers.location, `http://127.0.0.1:${w.port}/landed`);
      assert.ok(ex.closed, 'the connection is closed after a 400, even redirected');
    }
    assert.match(w.errorLog(), /\[info\] .*client sent invalid host header while reading client request headers/);
  } finally {
    await w.stop();
  }
});

test('a bad request line also goes through error_page 400', async () => {
  const w = await startWeir(conf);
  try {
    const ex = await exchange(w.port, 'GET /pl%zzain HTTP/1.0\r\n\r\n');
    assert.equal(ex.responses[0]?.status, 301);
    assert.equal(ex.responses[0].headers.location, `http://127.0.0.1:${w.port}/landed`);
  } finally {
    await w.stop();
  }
});

test('Location host: the client Host, else the local address; server_name_in_redirect; port_in_redirect off', async () => {
  const w = await startWeir(conf);
  try {
    const ask = async (path: string, hostLine: string): Promise<string | undefined> =>
      (await exchange(w.port, `GET ${path} HTTP/1.0\r\n${hostLine}\r\n`)).responses[0]?.headers.location;
    assert.equal(await ask('/plain', 'Host: client.example\r\n'), `http://client.example:${w.port}/landed`);
    // No Host at all (HTTP/1.0): the local address, not "named".
    assert.equal(await ask('/plain', ''), `http://127.0.0.1:${w.port}/landed`);
    assert.equal(await ask('/name', 'Host: client.example\r\n'), `http://named:${w.port}/landed`);
    assert.equal(await ask('/noport', 'Host: client.example\r\n'), 'http://client.example/landed');
  } finally {
    await w.stop();
  }
});
