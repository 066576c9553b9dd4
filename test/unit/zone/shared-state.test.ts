// The replicated zones (src/zone/shared-state.ts, shared-client.ts): counter vectors per
// generation, sticky session tables with nginx's learn/lookup/expire, and the worker's batching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import {
  isSharedPush, isSharedRequest, SharedStateHost, StickySessions, stickyZoneId, type SharedPush, type SharedRequest,
} from '../../../src/zone/shared-state.js';
import { zoneCapacity } from '../../../src/zone/zone-host.js';

function host(): { h: SharedStateHost; sent: Array<[number, SharedPush]>; at: (ms: number) => void } {
  const sent: Array<[number, SharedPush]> = [];
  const h = new SharedStateHost((holder, m) => sent.push([holder, m]));
  let now = 1_000_000;
  h.now = () => now;
  return { h, sent, at: (ms) => { now = 1_000_000 + ms; } };
}

const sub = (key: string, n: number, keep = 0): SharedRequest => ({ weir: 'shared', op: 'sub', key, n, keep });
const add = (key: string, d: number[]): SharedRequest => ({ weir: 'shared', op: 'add', key, d });

test('sticky sessions: lookup does not refresh; learn refreshes and rebinds; only `create` makes one', () => {
  const s = new StickySessions(zoneCapacity(1 << 20));
  assert.equal(s.learn('k', 'sidA', false, 0, 1000).stored, null, 'a lookup value alone makes no session');
  assert.equal(s.lookup('k', 0, 1000), null);
  assert.equal(s.learn('k', 'sidA', true, 0, 1000).stored?.sid, 'sidA');
  assert.equal(s.lookup('k', 999, 1000), 'sidA');
  assert.equal(s.lookup('k', 1000, 1000), null, 'expired at last + timeout, though looked up meanwhile');
  s.learn('k', 'sidA', true, 2000, 1000);
  s.learn('k', 'sidB', false, 2500, 1000);
  assert.equal(s.lookup('k', 3400, 1000), 'sidB', 'rebound to the peer that answered, and refreshed');
});

test('sticky sessions: expire from the old end; a full zone evicts the least recently learned, then fails', () => {
  const s = new StickySessions(zoneCapacity(8 * 4096));
  const n = zoneCapacity(8 * 4096) / 256;
  for (let i = 0; i < n; i++) assert.ok(s.learn(`k${i}`, 's', true, i, 1e9).stored !== null);
  const r = s.learn('new', 's', true, n, 1e9);
  assert.deepEqual(r.evicted, ['k0']);
  assert.equal(r.nomem, false);
  assert.equal(s.lookup('k0', n, 1e9), null);
  const tiny = new StickySessions(100);
  assert.deepEqual(tiny.learn('x', 's', true, 0, 1000), { stored: null, evicted: [], nomem: true });
  const e = new StickySessions(1 << 20);
  e.learn('a', 's', true, 0, 100);
  e.learn('b', 's', true, 50, 100);
  const evicted: string[] = [];
  e.expire(120, 100, evicted);
  assert.deepEqual(evicted, ['a']);
  assert.deepEqual(e.snapshot(), ['b', 's', 50]);
  const copy = new StickySessions(1 << 20);
  copy.apply(e.snapshot(), []);
  copy.apply(['c', 't', 60], ['b']);
  assert.deepEqual(copy.snapshot(), ['c', 't', 60]);
});

test('counter vectors: deltas go to the other workers of the generation, a late worker gets the totals', () => {
  const { h, sent } = host();
  h.handle(1, 1, sub('peers:u', 3));
  h.handle(2, 1, sub('peers:u', 3));
  h.handle(9, 2, sub('peers:u', 3));
  h.handle(1, 1, add('peers:u', [0, 1, 2, 2]));
  assert.deepEqual(sent, [[2, { weir: 'shared-add', key: 'peers:u', d: [0, 1, 2, 2] }]], 'not to itself, not to another generation');
  sent.length = 0;
  h.handle(3, 1, sub('peers:u', 3));
  assert.deepEqual(sent, [[3, { weir: 'shared-add', key: 'peers:u', d: [0, 1, 2, 2] }]]);
  assert.deepEqual(h.total(1, 'peers:u'), [1, 0, 2]);
  assert.deepEqual(h.total(2, 'peers:u'), [0, 0, 0]);
});

test('counter vectors: a worker that dies is taken back, but for the kept (event) slots', () => {
  const { h, sent } = host();
  h.handle(1, 1, sub('stats', 3, 1));
  h.handle(2, 1, sub('stats', 3, 1));
  h.handle(1, 1, add('stats', [0, 5, 1, 2]));
  sent.length = 0;
  h.holderGone(1);
  assert.deepEqual(sent, [[2, { weir: 'shared-add', key: 'stats', d: [1, -2] }]]);
  assert.deepEqual(h.total(1, 'stats'), [5, 0, 0]);
  h.handle(4, 1, sub('stats', 3, 1));
  assert.deepEqual(h.total(1, 'stats'), [5, 0, 0], 'a respawned worker joins the same counts');
  h.dropGeneration(1);
  assert.equal(h.total(1, 'stats'), null);
  h.holderGone(77);
});

test('bad input: malformed messages are refused or ignored, never thrown', () => {
  assert.equal(isSharedRequest(null), false);
  assert.equal(isSharedRequest({ weir: 'shared', op: 'sub', key: 'k', n: 1.5, keep: 0 }), false);
  assert.equal(isSharedRequest({ weir: 'shared', op: 'add', key: 'k', d: 'x' }), false);
  assert.equal(isSharedRequest({ weir: 'shared', op: 'learn', zone: 'z', key: 'k', sid: 's', create: 1, timeout: 1 }), false);
  assert.equal(isSharedRequest({ weir: 'shared', op: 'nope' }), false);
  assert.equal(isSharedPush({ weir: 'shared-add' }), true);
  const { h, sent } = host();
  h.handle(1, 1, sub('big', 1 << 20));
  assert.equal(h.total(1, 'big'), null, 'no vector of unbounded size');
  h.handle(1, 1, sub('k', 2));
  h.handle(2, 1, sub('k', 2));
  h.handle(1, 1, add('k', [5, 1, -1, 1, 0.5, 1, 0, Number.NaN, 1, 0, 0]));
  h.handle(1, 1, add('unknown', [0, 1]));
  h.handle(3, 1, add('k', [0, 1]));
  assert.deepEqual(h.total(1, 'k'), [0, 0]);
  assert.deepEqual(sent, []);
  h.handle(1, 1, { weir: 'shared', op: 'ssub', zone: 'no size' });
  h.handle(1, 1, { weir: 'shared', op: 'learn', zone: 'unknown', key: 'k', sid: 's', create: true, timeout: 10 });
  assert.deepEqual(sent, []);
});

test('sticky zones: a snapshot on subscribe (always), learns broadcast to every subscriber, kept after they go', () => {
  const { h, sent, at } = host();
  const z = stickyZoneId('z1', 1 << 20);
  h.handle(1, 1, { weir: 'shared', op: 'ssub', zone: z });
  assert.deepEqual(sent, [[1, { weir: 'shared-sticky', zone: z, set: [], del: [] }]]);
  h.handle(2, 1, { weir: 'shared', op: 'ssub', zone: z });
  sent.length = 0;
  h.handle(1, 1, { weir: 'shared', op: 'learn', zone: z, key: 'v', sid: 'p2', create: true, timeout: 2000 });
  assert.deepEqual(sent.map(([w]) => w), [1, 2]);
  assert.deepEqual(sent[0][1], { weir: 'shared-sticky', zone: z, set: ['v', 'p2', 1_000_000], del: [] });
  h.holderGone(1);
  h.holderGone(2);
  sent.length = 0;
  // A reload: the new generation's worker gets what the old one learned.
  at(500);
  h.handle(5, 2, { weir: 'shared', op: 'ssub', zone: z });
  assert.deepEqual(sent, [[5, { weir: 'shared-sticky', zone: z, set: ['v', 'p2', 1_000_000], del: [] }]]);
  sent.length = 0;
  at(2500);
  h.handle(5, 2, { weir: 'shared', op: 'learn', zone: z, key: 'v', sid: 'p1', create: false, timeout: 2000 });
  assert.deepEqual(sent, [[5, { weir: 'shared-sticky', zone: z, set: [], del: ['v'] }]], 'expired: a lookup value does not revive it');
});

test('worker side: changes are netted per turn, remote deltas applied, sticky snapshots awaited', async () => {
  const { sharedCounters, stickyStore, sharedStateReady, resetSharedClient } = await import('../../../src/zone/shared-client.js');
  // Outside a cluster worker: nothing is sent, sticky tables are the process's own and outlive a "reload".
  resetSharedClient();
  sharedCounters('x', 2, 0, () => assert.fail('no remote')).add(0, 1);
  const a = stickyStore('zz', 1 << 20);
  a.learn('k', 'sid', true, 60_000);
  assert.equal(stickyStore('zz', 1 << 20).lookup('k', 60_000), 'sid');
  assert.equal(stickyStore('zz', 2 << 20).lookup('k', 60_000), null, 'another size is another zone');
  await sharedStateReady();
  resetSharedClient();
});

test('worker side over IPC: one message per vector and turn, nothing for a change undone in the turn', async () => {
  const cluster = (await import('node:cluster')).default;
  const { sharedCounters, stickyStore, sharedStateReady, resetSharedClient } = await import('../../../src/zone/shared-client.js');
  const proc = new EventEmitter() as EventEmitter & { connected: boolean; send: (m: unknown) => boolean };
  const out: unknown[] = [];
  proc.connected = true;
  proc.send = (m) => { out.push(m); return true; };
  const realSend = process.send;
  const realIsWorker = Object.getOwnPropertyDescriptor(cluster, 'isWorker');
  Object.defineProperty(cluster, 'isWorker', { value: true, configurable: true });
  process.send = proc.send as typeof process.send;
  const realOn = process.on.bind(process);
  // The client listens on `process`: route its listeners to the fake channel.
  (process as unknown as { on: unknown }).on = (ev: string, fn: (...a: unknown[]) => void) => {
    if (ev === 'message' || ev === 'disconnect') { proc.on(ev, fn); return process; }
    return realOn(ev as 'exit', fn as () => void);
  };
  Object.defineProperty(process, 'connected', { value: true, configurable: true });
  try {
    resetSharedClient();
    const seen: number[] = [];
    const c = sharedCounters('peers:z', 2, 0, (slot, delta) => seen.push(slot, delta));
    assert.deepEqual(out, [{ weir: 'shared', op: 'sub', key: 'peers:z', n: 2, keep: 0 }]);
    out.length = 0;
    c.add(0, 1); c.add(0, -1); c.add(1, 1); c.add(1, 1); c.add(7, 1);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(out, [{ weir: 'shared', op: 'add', key: 'peers:z', d: [1, 2] }]);
    out.length = 0;
    c.add(0, 1); c.add(0, -1);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(out, [], 'a connection taken and given back in one turn sends nothing');
    proc.emit('message', { weir: 'shared-add', key: 'peers:z', d: [0, 3] });
    proc.emit('message', { weir: 'shared-add', key: 'other', d: [0, 3] });
    assert.deepEqual(seen, [0, 3]);
    const s = stickyStore('z', 1 << 20);
    assert.deepEqual(out, [{ weir: 'shared', op: 'ssub', zone: stickyZoneId('z', 1 << 20) }]);
    let ready = false;
    const p = sharedStateReady().then(() => { ready = true; });
    await new Promise((r) => setImmediate(r));
    assert.equal(ready, false, 'waits for the snapshot');
    proc.emit('message', { weir: 'shared-sticky', zone: stickyZoneId('z', 1 << 20), set: ['k', 'sid1', Date.now()], del: [] });
    await p;
    assert.equal(s.lookup('k', 60_000), 'sid1');
    out.length = 0;
    s.learn('n', 'sid2', true, 60_000);
    assert.equal(s.lookup('n', 60_000), 'sid2', 'this worker sees its own learn at once');
    assert.deepEqual(out, [{ weir: 'shared', op: 'learn', zone: stickyZoneId('z', 1 << 20), key: 'n', sid: 'sid2', create: true, timeout: 60_000 }]);
    proc.emit('disconnect');
    out.length = 0;
    c.add(0, 1);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(out, [], 'the channel is closed: nothing sent, nothing thrown');
  } finally {
    resetSharedClient();
    process.send = realSend;
    (process as unknown as { on: unknown }).on = realOn;
    if (realIsWorker) Object.defineProperty(cluster, 'isWorker', realIsWorker);
    delete (process as unknown as { connected?: boolean }).connected;
  }
});
