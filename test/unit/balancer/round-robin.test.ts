import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { initRoundRobin, RoundRobinPeer, roundRobinBalancer } from '../../../src/balancer/round-robin.js';
import { GetResult, PeerState, type PeerFactory, type PeerSession } from '../../../src/balancer/types.js';
import { Clock, TestPc, group, request } from './fixtures.js';

/** One request through the core's loop: get, then Ok (or Failed for names in `failing`) and retry. */
function run(f: PeerFactory, failing: ReadonlySet<string> = new Set()): { tried: string[]; result: string; logs: string[] } {
  const s = f.createSession(request());
  const pc = new TestPc();
  pc.tries = s.tries;
  const tried: string[] = [];
  for (;;) {
    if (s.get(pc) === GetResult.Busy) return { tried, result: 'busy', logs: pc.logs };
    const name = pc.address!.name;
    tried.push(name);
    if (failing.has(name)) {
      s.free(pc, PeerState.Failed);
      if (pc.tries > 0) continue;
      return { tried, result: 'failed', logs: pc.logs };
    }
    s.free(pc, PeerState.Ok);
    return { tried, result: name, logs: pc.logs };
  }
}

function firstPicks(f: PeerFactory, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(run(f).result[0]!);
  return out.join(' ');
}

test('smooth weighted round robin: weights 5,1,1 give a a b a c a a', () => {
  const f = initRoundRobin(group({ name: 'a:80', weight: 5 }, { name: 'b:80' }, { name: 'c:80' }), new Clock());
  assert.equal(firstPicks(f, 7), 'a a b a c a a');
  assert.equal(firstPicks(f, 7), 'a a b a c a a');
});

test('peer table: one peer per address, backup in its own table, tries = non-down peers of both', () => {
  const f = initRoundRobin(
    group({ name: 'x:80', addresses: ['10.0.0.1:80', '10.0.0.2:80'] }, { name: 'y:80', down: true }, { name: 'z:80', backup: true }),
    new Clock(),
  );
  assert.deepEqual(f.peers.map((p) => p.address.name), ['10.0.0.1:80', '10.0.0.2:80', 'y:80']);
  assert.deepEqual(f.backupPeers.map((p) => p.address.name), ['z:80']);
  assert.equal(f.createSession(request()).tries, 3);
  assert.equal(f.primary.single, false);
});

test('no primary servers is a config error', () => {
  assert.throws(() => initRoundRobin(group({ name: 'z:80', backup: true }), new Clock()), {
    message: 'no servers in upstream "backend"',
  });
});

test('down peers are never chosen', () => {
  const f = initRoundRobin(group('a:80', { name: 'b:80', down: true }, 'c:80'), new Clock());
  assert.equal(firstPicks(f, 6), 'a c a c a c');
});

test('backup switch-over: used only when every primary is unavailable, in the same request', () => {
  const clock = new Clock();
  const f = initRoundRobin(group('a:80', 'b:80', { name: 'z:80', backup: true }), clock);
  const r = run(f, new Set(['a:80', 'b:80']));
  assert.deepEqual(r.tried, ['a:80', 'b:80', 'z:80']);
  assert.equal(r.result, 'z:80');
  // both primaries are now failed (max_fails=1) for fail_timeout: straight to backup
  assert.deepEqual(run(f).tried, ['z:80']);
  clock.t += 10_001;
  assert.notEqual(run(f).result, 'z:80');
});

test('a request whose every peer fails ends with tries exhausted', () => {
  const f = initRoundRobin(group('a:80', 'b:80', 'c:80'), new Clock());
  const r = run(f, new Set(['a:80', 'b:80', 'c:80']));
  assert.equal(r.result, 'failed');
  assert.equal(r.tried.length, 3);
  assert.equal(r.logs.filter((l) => l === 'warn: upstream server temporarily disabled').length, 3);
});

test('all peers failed: Busy, and (as nginx >= 1.11.5) fails are not reset; recovery after fail_timeout', () => {
  const clock = new Clock();
  const f = initRoundRobin(group('a:80', 'b:80', { name: 'z:80', backup: true }), clock);
  run(f, new Set(['a:80', 'b:80', 'z:80']));
  const busy = run(f);
  assert.equal(busy.result, 'busy');
  assert.deepEqual([...f.peers, ...f.backupPeers].map((p) => p.fails), [1, 1, 1]);
  clock.t += 10_000; // window is inclusive: still out
  assert.equal(run(f).result, 'busy');
  clock.t += 1;
  const probe = run(f);
  assert.notEqual(probe.result, 'busy');
  assert.notEqual(probe.result, 'z:80');
  // the probe succeeded after its window: accessed < checked, so that peer is live again
  const probed = f.peers.find((p) => p.address.name === probe.result)!;
  const other = f.peers.find((p) => p.address.name !== probe.result)!;
  assert.equal(probed.fails, 0);
  assert.equal(other.fails, 1);
});

test('single peer: never made unavailable, free() clears fails and ends tries', () => {
  const f = initRoundRobin(group({ name: 'a:80', maxFails: 1 }), new Clock());
  assert.equal(f.primary.single, true);
  for (let i = 0; i < 5; i++) {
    const s = f.createSession(request());
    const pc = new TestPc();
    pc.tries = s.tries;
    assert.equal(s.get(pc), GetResult.Ok);
    s.free(pc, PeerState.Failed);
    assert.equal(pc.tries, 0);
    assert.equal(f.peers[0]!.fails, 0);
    assert.deepEqual(pc.logs, []);
  }
});

test('a single peer marked down, or at max_conns, is Busy', () => {
  assert.equal(run(initRoundRobin(group({ name: 'a:80', down: true }), new Clock())).result, 'busy');
  const f = initRoundRobin(group({ name: 'a:80', maxConns: 1 }), new Clock());
  const s = f.createSession(request());
  const pc = new TestPc();
  assert.equal(s.get(pc), GetResult.Ok);
  assert.equal(run(f).result, 'busy');
  s.free(pc, PeerState.Ok);
  assert.equal(run(f).result, 'a:80');
});

test('failure accounting: fails within the window, probe after fail_timeout, success resets', () => {
  const clock = new Clock();
  const f = initRoundRobin(group({ name: 'a:80', maxFails: 2, weight: 4 }, 'b:80'), clock);
  const a = f.peers[0]! as RoundRobinPeer;
  const first = run(f, new Set(['a:80'])); // a is picked first (weight 4) and fails
  assert.deepEqual(first.tried, ['a:80', 'b:80']);
  assert.equal(a.fails, 1);
  assert.equal(a.effectiveWeight, 2, 'weight - weight/max_fails');
  assert.deepEqual(first.logs, []);
  clock.t += 1000;
  // successes inside the window do not reset fails (accessed == checked); effective weight
  // climbs back by one per pick round
  let sawA = false;
  for (let i = 0; i < 4; i++) if (run(f).result === 'a:80') sawA = true;
  assert.ok(sawA);
  assert.equal(a.fails, 1);
  assert.equal(a.effectiveWeight, 4);
  clock.t += 1000;
  // the second failure reaches max_fails: warning, and a is out for fail_timeout
  let r = run(f, new Set(['a:80']));
  while (r.tried[0] !== 'a:80') r = run(f, new Set(['a:80']));
  assert.equal(a.fails, 2);
  assert.deepEqual(r.logs, ['warn: upstream server temporarily disabled']);
  for (let i = 0; i < 5; i++) assert.equal(run(f).result, 'b:80');
  clock.t += 10_000;
  for (let i = 0; i < 3; i++) assert.equal(run(f).result, 'b:80', 'window is inclusive');
  clock.t += 1;
  // the probe: a is usable again; once picked and successful, fails return to 0
  let picks = 0;
  while (run(f).result !== 'a:80') assert.ok(++picks < 5);
  assert.equal(a.fails, 0);
});

test('max_fails=0 disables accounting: the peer keeps its weight and its turn', () => {
  const f = initRoundRobin(group({ name: 'a:80', maxFails: 0 }, 'b:80'), new Clock());
  let onA = 0;
  for (let i = 0; i < 6; i++) if (run(f, new Set(['a:80'])).tried[0] === 'a:80') onA++;
  const a = f.peers[0]!;
  assert.equal(onA, 3);
  assert.equal(a.fails, 3, 'fails still counts, as in nginx');
  assert.equal(a.effectiveWeight, 1);
  assert.equal(firstPicks(f, 4), 'a b a b');
});

test('NEXT is not charged to the peer', () => {
  const f = initRoundRobin(group('a:80', 'b:80'), new Clock());
  const s = f.createSession(request());
  const pc = new TestPc();
  pc.tries = s.tries;
  s.get(pc);
  s.free(pc, PeerState.Next);
  assert.equal(f.peers[0]!.fails, 0);
  assert.equal(pc.tries, 1);
});

test('conns rises on get and falls on free; max_conns is never exceeded (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(20)), { maxLength: 200 }), (ops) => {
      const f = initRoundRobin(group({ name: 'a:80', maxConns: 2 }, { name: 'b:80', maxConns: 1, weight: 3 }, 'c:80'), new Clock());
      const open: [PeerSession, TestPc][] = [];
      for (const [isGet, k] of ops) {
        if (isGet) {
          const s = f.createSession(request());
          const pc = new TestPc();
          pc.tries = s.tries;
          if (s.get(pc) === GetResult.Ok) open.push([s, pc]);
        } else if (open.length > 0) {
          const [s, pc] = open.splice(k % open.length, 1)[0]!;
          s.free(pc, PeerState.Ok);
        }
        for (const p of f.peers) {
          if (p.maxConns) assert.ok(p.conns <= p.maxConns);
          assert.ok(p.conns >= 0);
        }
      }
      const counts = new Map<string, number>();
      for (const [, pc] of open) counts.set(pc.address!.name, (counts.get(pc.address!.name) ?? 0) + 1);
      for (const p of f.peers) assert.equal(p.conns, counts.get(p.address.name) ?? 0);
    }),
    { numRuns: 200 },
  );
});

test('more than 32 peers use the multi-word tried set', () => {
  const names = Array.from({ length: 70 }, (_, i) => `10.0.0.${i}:80`);
  const f = initRoundRobin(group(...names), new Clock());
  const r = run(f, new Set(names));
  assert.equal(r.tried.length, 70);
  assert.equal(new Set(r.tried).size, 70);
});

test("nginx's max_fails=3 fail_timeout=10s, one of two servers failing every third attempt", () => {
  // upstream { server a max_fails=3 fail_timeout=10s; server b max_fails=3 fail_timeout=10s; }
  // 30 requests, one per second; every third attempt that reaches a fails (error → next
  // upstream, retried on b in the same request). Derivation with nginx's rules:
  // - equal weights alternate a, b, a, b … (smooth RR; weight/max_fails = 1/3 = 0, so a failure
  //   does not lower a's effective weight);
  // - a success resets fails only if a was picked after its window (accessed < checked), which
  //   with a failure at most every ~6 s inside a 10 s window never happens: fails accumulate;
  // - a's 3rd, 6th and 9th attempts fail (requests 5, 11, 17: each retried on b); the third
  //   failure (fails = 3) logs the warning and takes a out for fail_timeout: requests 18 to 27
  //   go to b only;
  // - at request 28 (> 10 s after the failure at 17) a is probed: its 10th attempt succeeds and,
  //   as accessed < checked, fails return to 0; then a, b alternate again.
  // Served: a 7 (attempts 1,2,4,5,7,8,10), b 23; attempts: a 10, b 23.
  const clock = new Clock();
  const f = initRoundRobin(group({ name: 'a:80', maxFails: 3 }, { name: 'b:80', maxFails: 3 }), clock);
  const served = new Map<string, number>();
  const attempts = new Map<string, number>();
  let aAttempts = 0;
  const warnings: number[] = [];
  for (let r = 1; r <= 30; r++) {
    const s = f.createSession(request());
    const pc = new TestPc();
    pc.tries = s.tries;
    for (;;) {
      assert.equal(s.get(pc), GetResult.Ok);
      const name = pc.address!.name;
      attempts.set(name, (attempts.get(name) ?? 0) + 1);
      if (name === 'a:80' && ++aAttempts % 3 === 0) {
        s.free(pc, PeerState.Failed);
        assert.ok(pc.tries > 0);
        continue;
      }
      s.free(pc, PeerState.Ok);
      served.set(name, (served.get(name) ?? 0) + 1);
      break;
    }
    if (pc.logs.length) warnings.push(r);
    clock.t += 1000;
  }
  assert.deepEqual(Object.fromEntries(served), { 'a:80': 7, 'b:80': 23 });
  assert.deepEqual(Object.fromEntries(attempts), { 'a:80': 10, 'b:80': 23 });
  assert.deepEqual(warnings, [17]);
});

test('the module parses no arguments', () => {
  assert.deepEqual(roundRobinBalancer.parseArgs!([], (t) => ({ source: t })), {});
});
