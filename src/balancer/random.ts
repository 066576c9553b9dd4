/**
 * random [two [least_conn | least_time=header | least_time=last_byte]]: mirrors nginx's
 * ngx_http_upstream_random_module.c (least_time methods as nginx.org/r/random documents them).
 *
 * Peers own ranges of [0, total weight) in table order; a pick draws x = floor(random() * total)
 * (nginx: ngx_random() % total_weight) and binary-searches the range holding it. `random` keeps
 * drawing until it hits a usable, untried peer; `two` draws two distinct usable peers and keeps
 * the one with fewer connections relative to weight (or the lesser least_time estimate), the
 * first drawn on a tie. Every draw counts: after 20, or with fewer than 2 peers, it falls back
 * to round robin. No backup servers (nginx's flags for random exclude `backup`).
 *
 * Deliberate difference: the random source is context.random() so tests can seed it.
 */

import type {
  BalancerContext,
  BalancerModule,
  BalancerRequest,
  CompiledValue,
  PeerConnection,
  PeerFactory,
  PeerSession,
  UpstreamGroupConf,
} from './types.js';
import { GetResult, PeerState } from './types.js';
import {
  RoundRobinSession,
  RoundRobinUpstream,
  peerUsable,
  type RoundRobinPeer,
} from './round-robin.js';
import { leastTimeEta, recordTimes, type LeastTimeMode } from './least-time.js';

export type RandomMethod = 'least_conn' | 'least_time=header' | 'least_time=last_byte';

export interface RandomOptions {
  readonly two: boolean;
  /** How `two` compares its pair; least_conn unless configured. */
  readonly method: RandomMethod;
}

export function parseRandomArgs(
  args: readonly string[],
  _compile?: (text: string) => CompiledValue,
): RandomOptions {
  if (args.length > 2) throw new Error('invalid number of arguments in "random" directive');
  if (args.length === 0) return { two: false, method: 'least_conn' };
  if (args[0] !== 'two') throw new Error(`invalid parameter "${args[0]}"`);
  if (args.length === 1) return { two: true, method: 'least_conn' };
  const method = args[1];
  if (method !== 'least_conn' && method !== 'least_time=header' && method !== 'least_time=last_byte') {
    throw new Error(`invalid parameter "${method}"`);
  }
  return { two: true, method };
}

class RandomUpstream extends RoundRobinUpstream {
  /** ranges[i]: the first weight unit of peer i (ngx_http_upstream_random_range_t). */
  readonly ranges: Uint32Array;
  readonly timeMode: LeastTimeMode | null;

  constructor(group: UpstreamGroupConf, context: BalancerContext, readonly options: RandomOptions) {
    super(group, context);
    const peers = this.primary.peers;
    this.ranges = new Uint32Array(peers.length);
    let total = 0;
    for (let i = 0; i < peers.length; i++) {
      this.ranges[i] = total;
      total += peers[i]!.weight;
    }
    this.timeMode = !options.two
      ? null
      : options.method === 'least_time=header'
        ? 'header'
        : options.method === 'least_time=last_byte'
          ? 'last_byte'
          : null;
  }

  override createSession(_request: BalancerRequest): PeerSession {
    return new RandomSession(this);
  }
}

export class RandomSession extends RoundRobinSession {
  private drawTries = 0;
  private readonly random: RandomUpstream;

  constructor(upstream: RandomUpstream) {
    super(upstream);
    this.random = upstream;
  }

  /** ngx_http_upstream_peek_random_peer. */
  private peek(): number {
    const table = this.table;
    const ranges = this.random.ranges;
    const x = Math.floor(this.upstream.context.random() * table.totalWeight);
    let i = 0;
    let j = table.number;
    while (j - i > 1) {
      const k = (i + j) >>> 1;
      if (x < ranges[k]!) j = k;
      else i = k;
    }
    return i;
  }

  override get(pc: PeerConnection): GetResult {
    const table = this.table;
    if (this.drawTries > 20 || table.number < 2) return this.getRoundRobin(pc);
    pc.cached = false;
    const now = this.upstream.context.now();
    const peers = table.peers;
    const tried = this.tried;

    if (!this.random.options.two) {
      for (;;) {
        const i = this.peek();
        const peer = peers[i]!;
        if (!tried.has(i) && peerUsable(peer, now)) {
          this.choose(peer, now);
          return this.connect(pc, peer);
        }
        if (++this.drawTries > 20) return this.getRoundRobin(pc);
      }
    }

    const timeMode = this.random.timeMode;
    let prev: RoundRobinPeer | null = null;
    for (;;) {
      const i = this.peek();
      const peer = peers[i]!;
      if (peer !== prev && !tried.has(i) && peerUsable(peer, now)) {
        if (prev !== null) {
          const worse = timeMode === null
            ? peer.conns * prev.weight > prev.conns * peer.weight
            : leastTimeEta(timeMode, peer, now) * prev.weight > leastTimeEta(timeMode, prev, now) * peer.weight;
          const chosen = worse ? prev : peer;
          this.choose(chosen, now);
          return this.connect(pc, chosen);
        }
        prev = peer;
      }
      if (++this.drawTries > 20) return this.getRoundRobin(pc);
    }
  }

  override free(pc: PeerConnection, state: PeerState): void {
    if (this.random.timeMode !== null && this.current !== null) recordTimes(this.current, pc, state);
    super.free(pc, state);
  }
}

export const randomBalancer: BalancerModule<RandomOptions> = {
  name: 'random',
  supports: { weight: true, maxFails: true, failTimeout: true, maxConns: true, down: true, backup: false },
  parseArgs: parseRandomArgs,
  initUpstream(group: UpstreamGroupConf, options: RandomOptions, context: BalancerContext): PeerFactory {
    return new RandomUpstream(group, context, options);
  },
};
