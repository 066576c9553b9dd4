/**
 * The diagnostics_channel events the core test does not see (it has no
 * keep-alive cache and no balancer state): an idle connection reused and one
 * evicted to make room, and a peer that reached max_fails, through a real
 * in-process weir and real backends.
 */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import test from 'node:test';
import { GET, startProxy } from '../helpers/proxy-harness.js';

function recorder(names: readonly string[]): { events: Array<[string, unknown]>; stop(): void } {
  const events: Array<[string, unknown]> = [];
  const fns = names.map((name) => [name, (m: unknown) => events.push([name, m])] as const);
  for (const [name, fn] of fns) subscribe(name, fn);
  return { events, stop: () => { for (const [name, fn] of fns) unsubscribe(name, fn); } };
}

async function listen(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

test('weir:keepalive:reuse and weir:keepalive:evict name the peer', async (t) => {
  const a = createServer((_q, s) => s.end('a'));
  const b = createServer((_q, s) => s.end('b'));
  const pa = await listen(a);
  const pb = await listen(b);
  t.after(() => { a.closeAllConnections(); a.close(); b.closeAllConnections(); b.close(); });
  const loc = 'location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }';

  // One idle connection in all: each peer's connection pushes the other's out.
  const w = await startProxy(`
    upstream be { server 127.0.0.1:${pa}; server 127.0.0.1:${pb}; keepalive 1; }
    server { listen 127.0.0.1:%PORT%; ${loc} }`);
  const rec = recorder(['weir:keepalive:reuse', 'weir:keepalive:evict']);
  try {
    for (let i = 0; i < 4; i++) assert.equal((await GET(w.port, '/')).res!.status, 200);
    // Round robin alternates a, b, a, b: every cached connection is the other peer's, so each
    // request after the first evicts, and none can reuse.
    const evicted = rec.events.filter(([n]) => n === 'weir:keepalive:evict').map(([, m]) => (m as { peer: string }).peer);
    assert.deepEqual(evicted, [`127.0.0.1:${pa}`, `127.0.0.1:${pb}`, `127.0.0.1:${pa}`]);
    assert.equal(rec.events.filter(([n]) => n === 'weir:keepalive:reuse').length, 0);
  } finally {
    rec.stop();
    await w.stop();
  }

  const w2 = await startProxy(`
    upstream be { server 127.0.0.1:${pa}; keepalive 1; }
    server { listen 127.0.0.1:%PORT%; ${loc} }`);
  const rec2 = recorder(['weir:keepalive:reuse', 'weir:keepalive:evict']);
  try {
    for (let i = 0; i < 3; i++) assert.equal((await GET(w2.port, '/')).res!.body.toString(), 'a');
    assert.deepEqual(rec2.events, [
      ['weir:keepalive:reuse', { peer: `127.0.0.1:${pa}` }],
      ['weir:keepalive:reuse', { peer: `127.0.0.1:${pa}` }],
    ]);
  } finally {
    rec2.stop();
    await w2.stop();
  }
});

test('weir:peer:disabled is published once, when a peer reaches max_fails', async (t) => {
  // A peer that accepts and resets: an `error` for next_upstream and a failure of the peer.
  const dead = createNetServer((s) => s.resetAndDestroy());
  const pd = await listen(dead);
  const good = createServer((_q, s) => s.end('ok'));
  const pg = await listen(good);
  t.after(() => { dead.close(); good.closeAllConnections(); good.close(); });
  const w = await startProxy(`
    upstream be { server 127.0.0.1:${pd} max_fails=2 fail_timeout=30s; server 127.0.0.1:${pg} max_fails=0; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://be; } }`);
  const rec = recorder(['weir:peer:disabled']);
  try {
    for (let i = 0; i < 6; i++) assert.equal((await GET(w.port, '/')).res!.body.toString(), 'ok');
    assert.deepEqual(rec.events, [['weir:peer:disabled', { upstream: 'be', peer: `127.0.0.1:${pd}` }]]);
  } finally {
    rec.stop();
    await w.stop();
  }
});
