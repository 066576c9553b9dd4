// proxy_bind / fastcgi_bind: the local address (and port) of upstream connections,
// inherited, `off`, with variables; a bad evaluated value is logged and ignored.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { parseLocalAddress } from '../../src/upstream/local-address.js';
import { exchange, freePort, get, startWeir, type Weir } from '../helpers/raw-http.js';

let w: Weir;
let backend: Server;
let bport = 0;

before(async () => {
  // Answers with the address and port the connection came from.
  backend = createServer((s) => {
    s.once('data', () => s.end(`HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-From: ${s.remoteAddress}:${s.remotePort}\r\nConnection: close\r\n\r\n`));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  bport = (backend.address() as { port: number }).port;
  w = await startWeir(`http { access_log off; server { listen 127.0.0.1:%PORT%;
    proxy_bind 127.0.0.2;
    location /own { proxy_bind 127.0.0.3; proxy_pass http://127.0.0.1:${bport}; }
    location /inherit { proxy_pass http://127.0.0.1:${bport}; }
    location /off { proxy_bind off; proxy_pass http://127.0.0.1:${bport}; }
    location /var { proxy_bind $arg_b; proxy_pass http://127.0.0.1:${bport}; }
  } }`);
});

after(async () => {
  await w.stop();
  await new Promise((r) => backend.close(r));
});

async function from(path: string): Promise<string> {
  const ex = await exchange(w.port, get(path));
  return ex.responses[0]?.headers['x-from'] ?? '';
}

test('proxy_bind: a location\'s own, the inherited one, off', async () => {
  assert.match(await from('/own'), /^127\.0\.0\.3:/);
  assert.match(await from('/inherit'), /^127\.0\.0\.2:/);
  assert.match(await from('/off'), /^127\.0\.0\.1:/);
});

test('proxy_bind with variables: address and port per request; empty is none; a bad one is logged', async () => {
  const port = await freePort();
  assert.equal(await from(`/var?b=127.0.0.4:${port}`), `127.0.0.4:${port}`);
  assert.match(await from('/var'), /^127\.0\.0\.1:/);
  assert.match(await from('/var?b=nonsense'), /^127\.0\.0\.1:/);
  await w.waitForLog(/invalid local address "nonsense"/);
});

test('parseLocalAddress: the forms ngx_parse_addr_port takes', () => {
  assert.deepEqual(parseLocalAddress('10.0.0.1'), { address: '10.0.0.1', port: 0 });
  assert.deepEqual(parseLocalAddress('10.0.0.1:8080'), { address: '10.0.0.1', port: 8080 });
  assert.deepEqual(parseLocalAddress('::1'), { address: '::1', port: 0 });
  assert.deepEqual(parseLocalAddress('[::1]:99'), { address: '::1', port: 99 });
  for (const bad of ['host.example', '10.0.0.1:0', '10.0.0.1:70000', '[::1', '[::1]x', '']) assert.equal(parseLocalAddress(bad), null, bad);
});

test('proxy_bind transparent is refused at start-up, saying why', async () => {
  await assert.rejects(startWeir('http { server { listen 127.0.0.1:%PORT%; proxy_bind 127.0.0.2 transparent; } }'),
    /transparent proxying is not supported on this platform/);
});
