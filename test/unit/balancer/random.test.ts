import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRandomArgs, randomBalancer } from '../../../src/balancer/random.js';
import { GetResult, PeerState, type PeerFactory } from '../../../src/balancer/types.js';
import type { RoundRobinPeer } from '../../../src/balancer/round-robin.js';
import { Clock, TestPc, group, request } from './fixtures.js';

function pick(f: PeerFactory, state = PeerState.Ok): string {
  const s = f.createSession(request());
  const pc = new TestPc();
  pc.tries = s.tries;
  assert.equal(s.get(pc), GetResult.Ok);
  s.free(pc, state);
  return pc.address!.name;
}

test('random: picks in proportion to weight (seeded, 40 000 draws)', () => {
  const f = randomBalancer.initUpstream(group({ name: 'a:80', weight: 3 }, 'b:80', 'c:80'), parseRandomArgs([]), new Clock(7));
  const n = 40_000;
  const count = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const name = pick(f);
    count.set(name, (count.get(name) ?? 0) + 1);
  }
  // expected 0.6, 0.2, 0.2; 5 standard deviations of a binomial at n=40 000 is about 0.012
  assert.ok(Math.abs(count.get('a:80')! / n - 0.6) < 0.012);
  assert.ok(Math.abs(count.get('b:80')! / n - 0.2) < 0.012);
  assert.ok(Math.abs(count.get('c:80')! / n - 0.2) < 0.012);
});

test('random: never picks a down peer', () => {
  const f = randomBalancer.initUpstream(group('a:80', { name: 'b:80', down: true }, 'c:80'), parseRandomArgs([]), new Clock(3));
  for (let i = 0; i < 500; i++) assert.notEqual(pick(f), 'b:80');
});

test('random two least_conn: of the two drawn, the one with fewer connections', () => {
  const f = randomBalancer.initUpstream(group('a:80', 'b:80'), parseRandomArgs(['two', 'least_conn']), new Clock(5));
  // hold one connection on whichever comes first; with two peers both are always drawn, so
  // the other (0 conns) must win every time
  const s = f.createSession(request());
  const pc = new TestPc();
  s.get(pc);
  const busy = pc.address!.name;
  for (let i = 0; i < 50; i++) assert.notEqual(pick(f), busy);
});

test('random two least_time=header prefers the faster peer', () => {
  const f = randomBalancer.initUpstream(group('a:80', 'b:80'), parseRandomArgs(['two', 'least_time=header']), new Clock(9));
  // as if both had answered recently (checked = now: no fail_timeout decay of the averages)
  for (const peer of f.peers as RoundRobinPeer[]) {
    peer.headerTime = peer.address.name === 'a:80' ? 400 : 40;
    peer.checked = 1_000_000;
  }
  for (let i = 0; i < 50; i++) assert.equal(pick(f), 'b:80');
});

test('random arguments', () => {
  assert.deepEqual(parseRandomArgs([]), { two: false, method: 'least_conn' });
  assert.deepEqual(parseRandomArgs(['two']), { two: true, method: 'least_conn' });
  assert.deepEqual(parseRandomArgs(['two', 'least_time=last_byte']), { two: true, method: 'least_time=last_byte' });
  assert.throws(() => parseRandomArgs(['three']), { message: 'invalid parameter "three"' });
  assert.throws(() => parseRandomArgs(['two', 'fast']), { message: 'invalid parameter "fast"' });
});
