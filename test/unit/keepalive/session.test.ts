import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GetResult, PeerState, type PeerAddress, type PeerSession } from '../../../src/balancer/types.js';
import { KeepaliveCache } from '../../../src/keepalive/cache.js';
import {
  KeepalivePeerSession, PoolKeys, poolKey, SHARED_SCOPE, type UpstreamPeerConnection,
} from '../../../src/keepalive/session.js';
import { closed, coreOwner, startPeer, type TestPeer } from './fixtures.js';

/** The configured balancer: one peer, counts its calls, and decrements tries as nginx's free does. */
class FakeInner implements PeerSession {
  tries = 3;
  gets = 0;
  frees: PeerState[] = [];
  result: GetResult = GetResult.Ok;
  constructor(private readonly address: PeerAddress) {}
  get(pc: UpstreamPeerConnection): GetResult {
    this.gets++;
    if (this.result !== GetResult.Ok) return this.result;
    pc.address = this.address;
    return GetResult.Ok;
  }
  free(pc: UpstreamPeerConnection, state: PeerState): void {
    this.frees.push(state);
    if (pc.tries > 0) pc.tries--;
  }
}

function newPc(tries: number): UpstreamPeerConnection {
  return {
    address: null, peer: null, tries, cached: false, headerTime: -1, responseTime: -1,
    log: () => {}, connection: null, keepalive: false,
  };
}

function setup(peer: TestPeer, keys?: PoolKeys): { cache: KeepaliveCache; inner: FakeInner; session: KeepalivePeerSession } {
  const cache = new KeepaliveCache({ max: 4, upstreamName: 'backend', log: () => {} });
  const inner = new FakeInner(peer.address);
  return { cache, inner, session: new KeepalivePeerSession(inner, cache, keys) };
}

/** What the core does after get() returned Ok: connect, count it, send one request. */
async function connectLikeCore(peer: TestPeer, cache: KeepaliveCache, pc: UpstreamPeerConnection) {
  const pair = await peer.connect();
  cache.noteConnect();
  pc.connection = pair.conn;
  pair.conn.requests++;
  return pair;
}

test('miss, clean free stores; next get is a hit with cached set; inner get/free always called', async () => {
  const peer = await startPeer();
  const { cache, inner, session } = setup(peer);
  assert.equal(session.tries, 3);

  const pc = newPc(session.tries);
  assert.equal(session.get(pc), GetResult.Ok);
  assert.equal(pc.cached, false);
  assert.equal(pc.connection, null);
  const pair = await connectLikeCore(peer, cache, pc);
  pc.keepalive = true;
  session.free(pc, PeerState.Ok);
  assert.equal(pc.connection, null, 'the core must not touch it after free');
  assert.equal(cache.size, 1);
  assert.deepEqual(inner.frees, [PeerState.Ok]);

  const pc2 = newPc(session.tries);
  assert.equal(session.get(pc2), GetResult.Cached);
  assert.equal(pc2.cached, true);
  assert.equal(pc2.connection, pair.conn);
  assert.equal(pc2.address, peer.address);
  assert.equal(inner.gets, 2, 'the balancer chooses first, every time');
  assert.equal(cache.stats.reused, 1);
  pc2.connection!.owner = coreOwner;
  pair.conn.requests++;
  pc2.keepalive = true;
  session.free(pc2, PeerState.Ok);
  assert.equal(cache.size, 1);
  assert.deepEqual(inner.frees, [PeerState.Ok, PeerState.Ok]);
  cache.closeAll();
  await closed(pair);
  await peer.close();
});

test('a response that was not clean, or a failed try, destroys the connection; inner free still runs', async () => {
  const peer = await startPeer();
  const { cache, inner, session } = setup(peer);

  const pc = newPc(session.tries);
  session.get(pc);
  const a = await connectLikeCore(peer, cache, pc);
  pc.keepalive = false; // e.g. Connection: close, or a truncated body
  session.free(pc, PeerState.Ok);
  assert.equal(a.conn.socket.destroyed, true);
  assert.equal(cache.size, 0);

  const pc2 = newPc(session.tries);
  session.get(pc2);
  const b = await connectLikeCore(peer, cache, pc2);
  pc2.keepalive = true;
  session.free(pc2, PeerState.Failed);
  assert.equal(b.conn.socket.destroyed, true);
  assert.equal(cache.size, 0);

  // Connect failed: no connection at all.
  const pc3 = newPc(session.tries);
  session.get(pc3);
  session.free(pc3, PeerState.Failed);

  assert.deepEqual(inner.frees, [PeerState.Ok, PeerState.Failed, PeerState.Failed]);
  cache.closeAll();
  await peer.close();
});

test('a connection the cache refuses (keepalive_requests) is destroyed, inner free runs', async () => {
  const peer = await startPeer();
  const cache = new KeepaliveCache({ max: 4, requests: 1, upstreamName: 'backend', log: () => {} });
  const inner = new FakeInner(peer.address);
  const session = new KeepalivePeerSession(inner, cache);
  const pc = newPc(session.tries);
  session.get(pc);
  const a = await connectLikeCore(peer, cache, pc);
  pc.keepalive = true;
  session.free(pc, PeerState.Ok);
  assert.equal(a.conn.socket.destroyed, true);
  assert.equal(cache.stats.refused, 1);
  assert.deepEqual(inner.frees, [PeerState.Ok]);
  cache.closeAll();
  await peer.close();
});

test('Busy from the balancer is returned as is and the cache is not consulted', async () => {
  const peer = await startPeer();
  const { cache, inner, session } = setup(peer);
  const [a] = await peer.connectMany(1);
  a.conn.requests = 1;
  cache.put(a.conn);
  inner.result = GetResult.Busy;
  const pc = newPc(session.tries);
  assert.equal(session.get(pc), GetResult.Busy);
  assert.equal(pc.cached, false);
  assert.equal(pc.connection, null);
  assert.equal(cache.size, 1);
  cache.closeAll();
  await peer.close();
});

test('a stale cached connection freed with Next: destroyed, not stored, the peer not charged; the retry connects afresh', async () => {
  const peer = await startPeer();
  const { cache, inner, session } = setup(peer);
  const [a] = await peer.connectMany(1);
  a.conn.requests = 1;
  cache.put(a.conn);

  const pc = newPc(1);
  assert.equal(session.get(pc), GetResult.Cached);
  pc.connection!.owner = coreOwner;
  // The write hit a connection the upstream had just closed; no response byte arrived
  // (pc.keepalive stays false: the core never calls such a connection clean).
  session.free(pc, PeerState.Next);
  assert.equal(a.conn.socket.destroyed, true);
  assert.equal(pc.connection, null);
  assert.equal(cache.size, 0, 'the stale connection was not stored again');
  assert.deepEqual(inner.frees, [PeerState.Next], 'the peer is not charged a failure');
  // The session does not give the try back: the inner free spent it, as nginx's does. Giving
  // it back is the core's part (u->peer.tries++), checked in upstream-keepalive's
  // "tries are not consumed by stale cached connections".
  assert.equal(pc.tries, 0, 'the inner free spent the try');
  assert.equal(pc.cached, true, 'still readable by the core after free, as nginx reads u->peer.cached');
  pc.tries++;

  // The retry: a miss now, so a fresh connect.
  assert.equal(session.get(pc), GetResult.Ok);
  assert.equal(pc.cached, false);
  const b = await connectLikeCore(peer, cache, pc);
  pc.keepalive = true;
  session.free(pc, PeerState.Ok);
  assert.equal(cache.size, 1);
  assert.equal(inner.gets, 2);
  cache.closeAll();
  await closed(b);
  await peer.close();
});

test('pool keys: a `local` tag (or TLS settings) keeps connections apart; shared scope is the address', async () => {
  const peer = await startPeer();
  assert.equal(poolKey(peer.address), peer.address.name);
  assert.equal(poolKey(peer.address, SHARED_SCOPE), peer.address.name);
  assert.equal(poolKey(peer.address, { tag: 'loc1', tls: '' }), `${peer.address.name}\0loc1\0`);
  const keys1 = new PoolKeys({ tag: 'loc1', tls: '' });
  // Memoised per address object, the same key as poolKey's; another object of the same
  // address gets the same key (connections are pooled by value, not by object).
  assert.equal(keys1.of(peer.address), `${peer.address.name}\0loc1\0`);
  assert.equal(keys1.of(peer.address), `${peer.address.name}\0loc1\0`, 'from the memo');
  assert.equal(keys1.of({ ...peer.address }), `${peer.address.name}\0loc1\0`);
  assert.equal(new PoolKeys({ tag: 'loc1', tls: 'sni=a' }).of(peer.address), `${peer.address.name}\0loc1\0sni=a`);

  const cache = new KeepaliveCache({ max: 4, upstreamName: 'backend', log: () => {} });
  const inner = new FakeInner(peer.address);
  const s1 = new KeepalivePeerSession(inner, cache, keys1);
  const s2 = new KeepalivePeerSession(inner, cache, new PoolKeys({ tag: 'loc2', tls: '' }));
  const s3 = new KeepalivePeerSession(inner, cache, new PoolKeys({ tag: 'loc1', tls: 'sni=example.com' }));

  const pc = newPc(3);
  s1.get(pc);
  const a = await connectLikeCore(peer, cache, pc);
  pc.keepalive = true;
  s1.free(pc, PeerState.Ok);
  assert.equal(cache.size, 1);

  assert.equal(s2.get(newPc(3)), GetResult.Ok, 'another location does not reuse it');
  assert.equal(s3.get(newPc(3)), GetResult.Ok, 'other TLS settings do not reuse it');
  const pc1 = newPc(3);
  assert.equal(s1.get(pc1), GetResult.Cached);
  assert.equal(pc1.connection, a.conn);
  a.conn.destroy();
  cache.closeAll();
  await closed(a);
  await peer.close();
});
