// proxy_pass to an IPv6 literal: $proxy_host (and so the Host header) keeps the brackets, as nginx's
// u->host does, so the upstream (weir itself here) can read it.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { exchange, startWeir } from '../helpers/raw-http.js';

async function listenV6(): Promise<{ server: Server; port: number; heads: string[] } | null> {
  const heads: string[] = [];
  const server = createServer((s) => {
    s.once('data', (d) => {
      heads.push(d.toString('latin1'));
      s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    });
    s.on('error', () => {});
  });
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => resolve(true));
  });
  return ok ? { server, port: (server.address() as { port: number }).port, heads } : null;
}

test('proxy_pass http://[::1]:PORT sends Host: [::1]:PORT', async (t) => {
  const up = await listenV6();
  if (up === null) { t.skip('no IPv6 loopback on this machine'); return; }
  const w = await startWeir(`http { access_log off; server { listen 127.0.0.1:%PORT%;
    location / { proxy_pass http://[::1]:${up.port}; add_header X-Proxy-Host $proxy_host; }
  } }`);
  try {
    const ex = await exchange(w.port, 'GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    assert.equal(ex.responses[0]?.status, 200);
    assert.equal(ex.responses[0]?.headers['x-proxy-host'], `[::1]:${up.port}`);
    assert.match(up.heads[0]!, new RegExp(`\\r\\nHost: \\[::1\\]:${up.port}\\r\\n`));
  } finally {
    await w.stop();
    up.server.close();
  }
});
