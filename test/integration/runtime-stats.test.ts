// RunningWeir.stats(): each upstream's peers and keep-alive cache as requests see them,
// through the public API (startWeir), over real sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWeir } from '../../src/index.js';
import { exchange, freePort, get } from '../helpers/raw-http.js';

test('stats(): peer state, active connections, fails and the keep-alive counters', async () => {
  const backend = createServer((_req, res) => res.end('ok'));
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const up = (backend.address() as { port: number }).port;
  const refused = await freePort();
  const port = await freePort();
  const weir = await startWeir({
    config: `events {} http {
      access_log off;
      upstream u {
        server 127.0.0.1:${refused} max_fails=1 fail_timeout=30s;
        server 127.0.0.1:${up};
        server 127.0.0.1:${up} backup;
        keepalive 4;
      }
      upstream idle { least_conn; server 127.0.0.1:${up} down; server 127.0.0.1:${up}; }
      server { listen 127.0.0.1:${port}; location / { proxy_pass http://u; } }
    }`,
    errorLog: [],
  });
  try {
    // Before any request the tables exist (made at start, as nginx's init_upstream).
    const before = weir.stats().upstreams.find((s) => s.name === 'idle')!;
    assert.equal(before.balancer, 'least_conn');
    assert.deepEqual(before.peers.map((p) => p.status), ['down', 'up']);
    for (let i = 0; i < 3; i++) {
      const ex = await exchange(port, get('/'), { idleMs: 200 });
      assert.equal(ex.responses[0]?.status, 200);
    }
    const u = weir.stats().upstreams.find((s) => s.name === 'u')!;
    assert.deepEqual(u.peers.map((p) => [p.address, p.status, p.backup, p.fails, p.activeConnections]), [
      [`127.0.0.1:${refused}`, 'unavailable', false, 1, 0],
      [`127.0.0.1:${up}`, 'up', false, 0, 0],
      [`127.0.0.1:${up}`, 'up', true, 0, 0],
    ]);
    assert.ok(u.keepalive !== null);
    assert.equal(u.keepalive.max, 4);
    assert.equal(u.keepalive.reused, 2, 'the second and third requests reused the first one\'s connection');
    assert.equal(u.keepalive.idle, 1);
  } finally {
    await weir.stop(false);
    backend.close();
  }
});

test('startWeir creates the temp directories the config uses (a proxied body buffered to proxy_temp)', async () => {
  const big = Buffer.alloc(256 * 1024, 'x');
  const backend = createServer((_req, res) => res.end(big));
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const up = (backend.address() as { port: number }).port;
  const port = await freePort();
  const prefix = mkdtempSync(join(tmpdir(), 'weir-api-'));
  const weir = await startWeir({
    prefix,
    config: `events {} http {
      access_log off;
      proxy_buffers 2 4k;
      server { listen 127.0.0.1:${port}; location / { proxy_pass http://127.0.0.1:${up}; } }
    }`,
    errorLog: [],
  });
  try {
    assert.ok(existsSync(join(prefix, 'proxy_temp')), 'proxy_temp made at start, as nginx makes its paths');
    const ex = await exchange(port, get('/'), { idleMs: 500 });
    assert.equal(ex.responses[0]?.status, 200);
    assert.equal(ex.responses[0]?.body.length, big.length);
  } finally {
    await weir.stop(false);
    backend.close();
    rmSync(prefix, { recursive: true, force: true });
  }
});
