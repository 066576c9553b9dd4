import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinBalancers, defaultBalancer } from '../../../src/balancer/registry.js';
import { loadConfigText } from '../../../src/config/loader.js';
import { builtinModules } from '../../../src/modules.js';
import { balancerModule } from '../../../src/upstream/upstream-module.js';
import {
  RoundRobinSession,
  RoundRobinUpstream,
  parseNoArgs,
  peerUsable,
  type RoundRobinOptions,
} from '../../../src/balancer/round-robin.js';
import {
  GetResult,
  PeerState,
  type BalancerContext,
  type BalancerModule,
  type BalancerRequest,
  type PeerConnection,
  type PeerSession,
  type UpstreamGroupConf,
} from '../../../src/balancer/types.js';
import { Clock, TestPc, compile, group, request } from './fixtures.js';

/** An example user balancer: the first usable peer in config order, built on the RR base. */
class FirstAvailableSession extends RoundRobinSession {
  override get(pc: PeerConnection): GetResult {
    const now = this.upstream.context.now();
    const peers = this.table.peers;
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[i]!;
      if (this.tried.has(i) || !peerUsable(peer, now)) continue;
      this.choose(peer, now);
      return this.connect(pc, peer);
    }
    if (this.switchToBackup()) return this.get(pc);
    return this.busy(pc);
  }
}

class FirstAvailableUpstream extends RoundRobinUpstream {
  override createSession(_request: BalancerRequest): PeerSession {
    return new FirstAvailableSession(this);
  }
}

const firstAvailable: BalancerModule<RoundRobinOptions> = {
  name: 'first_available',
  parseArgs: (args) => parseNoArgs('first_available', args),
  initUpstream: (g: UpstreamGroupConf, _o: RoundRobinOptions, c: BalancerContext) => new FirstAvailableUpstream(g, c),
};

test('built-in balancers are known by directive name', () => {
  assert.deepEqual([...builtinBalancers.keys()], ['ip_hash', 'hash', 'least_conn', 'random', 'least_time']);
  for (const [name, m] of builtinBalancers) assert.equal(m.name, name);
  assert.equal(builtinBalancers.get('round_robin'), undefined);
  assert.equal(defaultBalancer.name, 'round_robin');
});

test('a balancer of the user\'s own belongs to the instance that loads it as a module', () => {
  const conf = 'events {} http { upstream u { first_available; server 127.0.0.1:1; } }';
  const mine = balancerModule(firstAvailable);
  const loaded = loadConfigText(conf, '/', [...builtinModules, mine]);
  assert.ok(loaded);
  // Another instance in the same process, without the module: the directive is unknown there.
  assert.throws(() => loadConfigText(conf, '/', builtinModules), /unknown directive "first_available"/);
  assert.throws(() => balancerModule({ ...firstAvailable, name: 'least_conn' }), /"least_conn" is a built-in balancer/);
});

test('a balancer of the user\'s own works with the RR accounting', () => {
  const module = firstAvailable;
  const options = module.parseArgs!([], compile);
  const clock = new Clock();
  const f = module.initUpstream(group('a:80', 'b:80', { name: 'z:80', backup: true }), options, clock);
  const pick = (fail: boolean): string => {
    const s = f.createSession(request());
    const pc = new TestPc();
    pc.tries = s.tries;
    if (s.get(pc) !== GetResult.Ok) return 'busy';
    s.free(pc, fail ? PeerState.Failed : PeerState.Ok);
    return pc.address!.name;
  };
  assert.equal(pick(false), 'a:80');
  assert.equal(pick(false), 'a:80');
  assert.equal(pick(true), 'a:80'); // a fails: max_fails=1
  assert.equal(pick(true), 'b:80');
  assert.equal(pick(false), 'z:80');
  clock.t += 10_001;
  assert.equal(pick(false), 'a:80');
});
