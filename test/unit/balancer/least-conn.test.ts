import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leastConnBalancer, parseLeastConnArgs } from '../../../src/balancer/least-conn.js';
import { GetResult, PeerState, type PeerFactory, type PeerSession } from '../../../src/balancer/types.js';
import { Clock, TestPc, group, request } from './fixtures.js';

function open(f: PeerFactory): [PeerSession, TestPc] {
  const s = f.createSession(request());
  const pc = new TestPc();
  pc.tries = s.tries;
  assert.equal(s.get(pc), GetResult.Ok);
  return [s, pc];
}

test('least_conn: ties go round robin in table order', () => {
  const f = leastConnBalancer.initUpstream(group('a:80', 'b:80', 'c:80'), {}, new Clock());
  const seq: string[] = [];
  for (let i = 0; i < 6; i++) {
    const [s, pc] = open(f);
    seq.push(pc.address!.name[0]!);
    s.free(pc, PeerState.Ok);
  }
  assert.equal(seq.join(''), 'abcabc');
});

test('least_conn: the peer with fewest connections wins, relative to weight', () => {
  const f = leastConnBalancer.initUpstream(group({ name: 'a:80', weight: 2 }, 'b:80'), {}, new Clock());
  const held = [open(f), open(f), open(f)];
  // a(w2) ties with b at 0 conns: RR by weight gives a; then a 1/2 vs b 0 → b; then a 1/2 vs b 1/1 → a
  assert.deepEqual(held.map(([, pc]) => pc.address!.name), ['a:80', 'b:80', 'a:80']);
  const [s1, pc1] = held[1]!;
  s1.free(pc1, PeerState.Ok);
  assert.equal(open(f)[1].address!.name, 'b:80');
});

test('least_conn: backup when primaries are unusable, Busy at max_conns', () => {
  const f = leastConnBalancer.initUpstream(group({ name: 'a:80', maxConns: 1 }, { name: 'z:80', backup: true, maxConns: 1 }), {}, new Clock());
  assert.equal(open(f)[1].address!.name, 'a:80');
  assert.equal(open(f)[1].address!.name, 'z:80');
  const s = f.createSession(request());
  assert.equal(s.get(new TestPc()), GetResult.Busy);
});

test('least_conn takes no arguments', () => {
  assert.throws(() => parseLeastConnArgs(['x']), { message: 'invalid number of arguments in "least_conn" directive' });
});
