import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leastTimeBalancer, leastTimeEta, parseLeastTimeArgs, responseTimeAverage } from '../../../src/balancer/least-time.js';
import { GetResult, PeerState, type PeerFactory } from '../../../src/balancer/types.js';
import type { RoundRobinPeer } from '../../../src/balancer/round-robin.js';
import { Clock, TestPc, group, request } from './fixtures.js';

function tryOnce(f: PeerFactory, times: Record<string, [number, number]>): string {
  const s = f.createSession(request());
  const pc = new TestPc();
  pc.tries = s.tries;
  assert.equal(s.get(pc), GetResult.Ok);
  const name = pc.address!.name;
  [pc.headerTime, pc.responseTime] = times[name] ?? [10, 20];
  s.free(pc, PeerState.Ok);
  return name;
}

test('moving average: first sample as is, then 0.95 old + 0.05 new, rounded', () => {
  assert.equal(responseTimeAverage(0, 200), 200);
  assert.equal(responseTimeAverage(200, 100), 195);
  assert.equal(responseTimeAverage(100, 111), 101);
});

test('least_time header: ties round robin, then the faster peer takes the traffic', () => {
  const f = leastTimeBalancer.initUpstream(group('a:80', 'b:80'), parseLeastTimeArgs(['header']), new Clock());
  const times = { 'a:80': [300, 900] as [number, number], 'b:80': [30, 900] as [number, number] };
  assert.equal(tryOnce(f, times), 'a:80');
  assert.equal(tryOnce(f, times), 'b:80');
  for (let i = 0; i < 10; i++) assert.equal(tryOnce(f, times), 'b:80');
});

test('least_time last_byte uses the response time', () => {
  const f = leastTimeBalancer.initUpstream(group('a:80', 'b:80'), parseLeastTimeArgs(['last_byte']), new Clock());
  const times = { 'a:80': [10, 50] as [number, number], 'b:80': [5, 800] as [number, number] };
  tryOnce(f, times);
  tryOnce(f, times);
  for (let i = 0; i < 10; i++) assert.equal(tryOnce(f, times), 'a:80');
});

test('least_time: failed tries are not averaged', () => {
  const f = leastTimeBalancer.initUpstream(group('a:80', 'b:80'), parseLeastTimeArgs(['header', 'inflight']), new Clock());
  const s = f.createSession(request());
  const pc = new TestPc();
  pc.tries = s.tries;
  s.get(pc);
  pc.headerTime = 5;
  pc.responseTime = 5;
  s.free(pc, PeerState.Failed);
  const a = f.peers[0] as RoundRobinPeer;
  assert.equal(a.headerTime, 0);
  assert.equal(a.inflightReqs, 0);
});

test('least_time arguments', () => {
  assert.deepEqual(parseLeastTimeArgs(['header']), { mode: 'header', inflight: false });
  assert.deepEqual(parseLeastTimeArgs(['last_byte', 'inflight']), { mode: 'last_byte', inflight: true });
  assert.throws(() => parseLeastTimeArgs(['first_byte']), { message: 'invalid value "first_byte"' });
  assert.throws(() => parseLeastTimeArgs(['header', 'x']), { message: 'invalid parameter "x"' });
});

test('the decay halves once per (fail_timeout + 1) whole seconds crossed, as nginx\'s ngx_time()', () => {
  const peer = { responseTime: 3200, headerTime: 0, checked: 10_900, failTimeout: 0, inflightReqs: 0, inflightTime: 0, conns: 0 } as RoundRobinPeer;
  // 0.2 s later but a second boundary crossed: halved once (nginx counts 11 - 10).
  assert.equal(leastTimeEta('last_byte', peer, 11_100), 1620); // 1600 in its band
  // 7.2 s later, 8 boundaries crossed: 3200 >> 8 = 12, in the 20 ms band.
  assert.equal(leastTimeEta('last_byte', peer, 18_100), 20);
  const slow = { ...peer, failTimeout: 10_000 } as RoundRobinPeer;
  assert.equal(leastTimeEta('last_byte', slow, 20_100), 3220, 'inside fail_timeout: no decay');
  assert.equal(leastTimeEta('last_byte', slow, 21_100), 1620, '11 s crossed: once');
});
