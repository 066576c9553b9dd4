import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { KeepaliveCache, type KeepaliveCacheOptions, type KeepaliveLogLevel } from '../../../src/keepalive/cache.js';
import { UpstreamConnection } from '../../../src/peer/connection.js';
import type { PeerAddress } from '../../../src/balancer/types.js';
import { closed, coreOwner, resourceCounts, startPeer, until, type Pair } from './fixtures.js';

// Taken before any socket or timer of this file exists.
const baseline = resourceCounts();

interface Logged { level: KeepaliveLogLevel; message: string }

function makeCache(opts: Partial<KeepaliveCacheOptions> = {}): { cache: KeepaliveCache; logged: Logged[] } {
  const logged: Logged[] = [];
  const cache = new KeepaliveCache({
    max: 4,
    upstreamName: 'backend',
    log: (level, message) => logged.push({ level, message }),
    ...opts,
  });
  return { cache, logged };
}

/** A request was sent on it, as the core counts before free(). */
function used(p: Pair): UpstreamConnection {
  p.conn.requests++;
  return p.conn;
}

test('take returns the most recently stored connection of the key, then the older ones', async () => {
  const peer = await startPeer();
  const { cache } = makeCache();
  const [a, b, c] = await peer.connectMany(3);
  for (const p of [a, b, c]) assert.equal(cache.put(used(p)), true);
  assert.equal(cache.size, 3);
  assert.equal(a.conn.owner === coreOwner, false, 'the cache owns idle connections');
  assert.equal(cache.take(peer.address.name), c.conn);
  assert.equal(c.conn.owner, null, 'handed out without an owner: the core sets itself');
  assert.equal(cache.take(peer.address.name), b.conn);
  assert.equal(cache.take(peer.address.name), a.conn);
  assert.equal(cache.take(peer.address.name), null);
  assert.equal(cache.take('127.0.0.1:1'), null);
  assert.deepEqual({ ...cache.stats }, { reused: 3, stored: 3, evictedFull: 0, closedIdle: 0, closedByPeer: 0, refused: 0, churned: 0 });
  for (const p of [a, b, c]) p.conn.destroy();
  cache.closeAll();
  await peer.close();
});

test('keys are separate pools', async () => {
  const peer = await startPeer();
  const { cache } = makeCache();
  const [a, b] = await peer.connectMany(2);
  cache.put(used(a), 'k1');
  cache.put(used(b), 'k2');
  assert.equal(cache.take('k2'), b.conn);
  assert.equal(cache.take('k2'), null);
  assert.equal(cache.take('k1'), a.conn);
  a.conn.destroy();
  b.conn.destroy();
  cache.closeAll();
  await peer.close();
});

test('when full, the least recently stored connection of any key is closed and counted', async () => {
  const peer = await startPeer();
  const { cache } = makeCache({ max: 2 });
  const [a, b, c, d] = await peer.connectMany(4);
  cache.put(used(a), 'k1');
  cache.put(used(b), 'k2');
  cache.put(used(c), 'k2'); // evicts a (k1), the oldest, though c is for k2
  assert.equal(cache.size, 2);
  assert.equal(a.conn.socket.destroyed, true);
  assert.equal(cache.stats.evictedFull, 1);
  assert.equal(cache.take('k1'), null);
  // A take in between does not change which is oldest among the rest.
  assert.equal(cache.take('k2'), c.conn);
  cache.put(used(c), 'k2');
  cache.put(used(d), 'k1'); // evicts b
  assert.equal(b.conn.socket.destroyed, true);
  assert.equal(cache.stats.evictedFull, 2);
  assert.equal(cache.take('k2'), c.conn);
  assert.equal(cache.take('k1'), d.conn);
  c.conn.destroy();
  d.conn.destroy();
  cache.closeAll();
  await peer.close();
});

test('an idle connection the peer closes (FIN) is removed at once', async () => {
  const peer = await startPeer();
  const { cache } = makeCache();
  const [a, b] = await peer.connectMany(2);
  cache.put(used(a));
  cache.put(used(b));
  coreOwner.events.length = 0;
  a.remote.end();
  await until(() => cache.size === 1);
  assert.equal(cache.stats.closedByPeer, 1);
  assert.equal(a.conn.socket.destroyed, true);
  assert.equal(cache.take(peer.address.name), b.conn);
  assert.equal(cache.take(peer.address.name), null);
  assert.deepEqual(coreOwner.events, [], 'the core never hears of idle connections');
  b.conn.destroy();
  cache.closeAll();
  await peer.close();
});

test('an idle connection the peer resets is removed at once', async () => {
  const peer = await startPeer();
  const { cache } = makeCache();
  const [a] = await peer.connectMany(1);
  cache.put(used(a));
  a.remote.resetAndDestroy();
  await until(() => cache.size === 0);
  assert.equal(cache.stats.closedByPeer, 1);
  await closed(a);
  cache.closeAll();
  await peer.close();
});

test('an idle connection the peer sends bytes on is destroyed and removed', async () => {
  const peer = await startPeer();
  const { cache } = makeCache();
  const [a] = await peer.connectMany(1);
  cache.put(used(a));
  coreOwner.events.length = 0;
  a.remote.write('HTTP/1.1 408 Request Timeout\r\n\r\n');
  await until(() => cache.size === 0);
  assert.equal(cache.stats.closedByPeer, 1);
  assert.equal(a.conn.socket.destroyed, true);
  assert.deepEqual(coreOwner.events, []);
  assert.equal(cache.take(peer.address.name), null);
  cache.closeAll();
  await peer.close();
});

test('keepalive_timeout: one sweep timer closes idle connections oldest first, then stops', async () => {
  const peer = await startPeer();
  const timeout = 60;
  const { cache } = makeCache({ timeout });
  const [a, b] = await peer.connectMany(2);
  assert.equal(cache.sweepArmed, false, 'no timer while empty');
  const t0 = Date.now();
  cache.put(used(a));
  assert.equal(cache.sweepArmed, true);
  await new Promise((r) => setTimeout(r, 30));
  const tB = Date.now();
  cache.put(used(b));
  await until(() => a.conn.socket.destroyed);
  assert.ok(Date.now() - t0 >= timeout, 'not closed before keepalive_timeout');
  // Oldest first: b goes in the same sweep only if it had expired too (a loaded machine).
  assert.ok(!b.conn.socket.destroyed || Date.now() - tB >= timeout);
  await until(() => cache.size === 0);
  assert.ok(Date.now() - tB >= timeout);
  assert.equal(cache.stats.closedIdle, 2);
  assert.equal(cache.sweepArmed, false, 'not re-armed once empty');
  cache.closeAll();
  await peer.close();
});

test('a connection taken before its timeout is not closed by the sweep', async () => {
  const peer = await startPeer();
  const { cache } = makeCache({ timeout: 30 });
  const [a] = await peer.connectMany(1);
  cache.put(used(a));
  assert.equal(cache.take(peer.address.name), a.conn);
  a.conn.owner = coreOwner;
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(a.conn.usable, true);
  assert.equal(cache.stats.closedIdle, 0);
  assert.equal(cache.sweepArmed, false, 'the sweep found nothing and stopped');
  a.conn.destroy();
  cache.closeAll();
  await peer.close();
});

test('keepalive_requests and keepalive_time limits, unusable and unread connections are refused', async () => {
  const peer = await startPeer();
  let now = Date.now();
  const { cache } = makeCache({ requests: 2, time: 10_000, now: () => now });
  const [a, b, c, d] = await peer.connectMany(4);

  a.conn.requests = 2;
  assert.equal(cache.put(a.conn), false, 'keepalive_requests reached');
  a.conn.requests = 1;
  assert.equal(cache.put(a.conn), true);

  b.conn.requests = 1;
  now = b.conn.createdAt + 10_001;
  assert.equal(cache.put(b.conn), false, 'older than keepalive_time');
  now = b.conn.createdAt + 10_000;
  assert.equal(cache.put(b.conn), true, 'exactly keepalive_time old is still kept (nginx compares with >)');

  c.conn.requests = 1;
  c.remote.end();
  await until(() => c.conn.ended);
  assert.equal(cache.put(c.conn), false, 'peer half-closed it');

  d.conn.requests = 1;
  d.conn.socket.pause();
  d.remote.write('stray');
  await until(() => d.conn.socket.readableLength > 0);
  assert.equal(cache.put(d.conn), false, 'unread bytes');

  assert.equal(cache.stats.refused, 4);
  assert.equal(cache.size, 2);
  c.conn.destroy();
  d.conn.destroy();
  cache.closeAll();
  await peer.close();
});

test('a paused socket is resumed when stored, so a FIN while idle is still seen', async () => {
  const peer = await startPeer();
  const { cache } = makeCache();
  const [a] = await peer.connectMany(1);
  a.conn.socket.pause();
  cache.put(used(a));
  a.remote.end();
  await until(() => cache.size === 0);
  assert.equal(cache.stats.closedByPeer, 1);
  cache.closeAll();
  await peer.close();
});

test('closeAll destroys idle connections, stops the sweep and refuses later puts', async () => {
  const peer = await startPeer();
  const { cache } = makeCache();
  const pairs = await peer.connectMany(3);
  for (const p of pairs) cache.put(used(p));
  assert.equal(cache.sweepArmed, true);
  cache.closeAll();
  assert.equal(cache.size, 0);
  assert.equal(cache.sweepArmed, false);
  for (const p of pairs) assert.equal(p.conn.socket.destroyed, true);
  const [late] = await peer.connectMany(1);
  assert.equal(cache.put(used(late)), false);
  assert.equal(cache.stats.refused, 1);
  late.conn.destroy();
  await Promise.all([...pairs, late].map(closed));
  await peer.close();
});

// The churn rule, on a fake clock with unconnected sockets: only counts matter here.
const nowhere: PeerAddress = { name: '127.0.0.1:9', host: '127.0.0.1', port: 9, family: 4 };
function idleConn(): UpstreamConnection {
  const c = new UpstreamConnection(new Socket(), nowhere);
  c.requests = 1;
  return c;
}

/** `perSecond` times a second for `seconds` seconds: open a connection (miss) and store it. */
function load(cache: KeepaliveCache, clock: { now: number }, seconds: number, perSecond: number): void {
  for (let s = 0; s < seconds; s++) {
    const start = clock.now;
    for (let i = 0; i < perSecond; i++) {
      clock.now = start + Math.floor((i * 1000) / perSecond);
      cache.noteConnect();
      cache.put(idleConn());
    }
    clock.now = start + 1000;
  }
}

test('sustained churn logs one warning naming the upstream', () => {
  const clock = { now: Date.now() };
  const { cache, logged } = makeCache({ max: 2, churnRate: 5, churnSeconds: 3, now: () => clock.now });
  load(cache, clock, 8, 10);
  assert.equal(logged.length, 1);
  assert.equal(logged[0].level, 'warn');
  assert.match(logged[0].message, /^upstream "backend" keepalive cache of 2 connections is too small for the load: \d+ idle connections were closed in the last 3s while new ones were opened; consider a larger "keepalive"$/);
  assert.equal(cache.churnWarned, true);
  assert.equal(cache.stats.evictedFull, 78);
  assert.ok(cache.stats.churned >= 60, `churned ${cache.stats.churned}`);
  cache.closeAll();
});

test('light load and short bursts do not warn', () => {
  const clock = { now: Date.now() };
  const { cache, logged } = makeCache({ max: 2, churnRate: 5, churnSeconds: 3, now: () => clock.now });
  // Evictions below the rate, for a long time.
  load(cache, clock, 10, 3);
  // A two-second burst, then quiet, then another.
  load(cache, clock, 2, 20);
  clock.now += 5000;
  load(cache, clock, 2, 20);
  clock.now += 5000;
  cache.noteConnect();
  assert.equal(logged.length, 0);
  assert.equal(cache.churnWarned, false);
  assert.ok(cache.stats.evictedFull > 0);
  cache.closeAll();
});

test('evictions without new connections (a cache simply cycling) do not warn', () => {
  const clock = { now: Date.now() };
  const { cache, logged } = makeCache({ max: 2, churnRate: 5, churnSeconds: 3, now: () => clock.now });
  for (let s = 0; s < 8; s++) {
    for (let i = 0; i < 10; i++) cache.put(idleConn());
    clock.now += 1000;
  }
  cache.noteConnect();
  assert.equal(logged.length, 0);
  assert.equal(cache.stats.churned, 0);
  cache.closeAll();
});

test('no sockets, servers or timers are left behind', async () => {
  const peer = await startPeer();
  const { cache } = makeCache({ timeout: 50 });
  const pairs = await peer.connectMany(3);
  for (const p of pairs) cache.put(used(p));
  const taken = cache.take(peer.address.name)!;
  taken.owner = coreOwner;
  cache.closeAll();
  taken.destroy();
  await Promise.all(pairs.map(closed));
  await peer.close();
  await until(() => JSON.stringify(resourceCounts()) === JSON.stringify(baseline));
  assert.deepEqual(resourceCounts(), baseline);
  assert.equal(cache.sweepArmed, false);
});
