/**
 * least_conn: mirrors nginx's ngx_http_upstream_least_conn_module.c (1.27+).
 *
 * Picks the usable, untried peer with the fewest active connections relative to weight
 * (conns_a * weight_b < conns_b * weight_a, integer cross-multiplication); ties are broken by
 * smooth weighted round robin among the tied peers, scanning from the first of them. When the
 * primary peers have nothing usable it moves to the backup table; when that has nothing either,
 * Busy. As in current nginx there is no "quick recovery" reset of fails on Busy.
 */

import type {
  BalancerContext,
  BalancerModule,
  BalancerRequest,
  PeerConnection,
  PeerFactory,
  PeerSession,
  UpstreamGroupConf,
} from './types.js';
import { GetResult } from './types.js';
import {
  ALL_PARAMETERS,
  RoundRobinSession,
  RoundRobinUpstream,
  parseNoArgs,
  peerUsable,
  type RoundRobinOptions,
  type RoundRobinPeer,
} from './round-robin.js';

export class LeastConnSession extends RoundRobinSession {
  override get(pc: PeerConnection): GetResult {
    const table = this.table;
    if (table.single) return this.getRoundRobin(pc);

    pc.cached = false;
    const now = this.upstream.context.now();
    const peers = table.peers;
    const tried = this.tried;
    let best: RoundRobinPeer | null = null;
    let many = false;
    let p = 0;

    for (let i = 0; i < peers.length; i++) {
      if (tried.has(i)) continue;
      const peer = peers[i]!;
      if (!peerUsable(peer, now)) continue;
      if (best === null || peer.conns * best.weight < best.conns * peer.weight) {
        best = peer;
        many = false;
        p = i;
      } else if (peer.conns * best.weight === best.conns * peer.weight) {
        many = true;
      }
    }

    if (best === null) {
      if (this.switchToBackup()) return this.get(pc);
      return this.busy(pc);
    }

    let total = 0;
    if (many) {
      const first = best;
      for (let i = p; i < peers.length; i++) {
        if (tried.has(i)) continue;
        const peer = peers[i]!;
        if (peer.conns * first.weight !== first.conns * peer.weight) continue;
        if (!peerUsable(peer, now)) continue;
        peer.currentWeight += peer.effectiveWeight;
        total += peer.effectiveWeight;
        if (peer.effectiveWeight < peer.weight) peer.effectiveWeight++;
        if (peer.currentWeight > best.currentWeight) best = peer;
      }
    }
    best.currentWeight -= total;

    this.choose(best, now);
    return this.connect(pc, best);
  }
}

class LeastConnUpstream extends RoundRobinUpstream {
  override createSession(_request: BalancerRequest): PeerSession {
    return new LeastConnSession(this);
  }
}

export type LeastConnOptions = RoundRobinOptions;

export function parseLeastConnArgs(args: readonly string[]): LeastConnOptions {
  return parseNoArgs('least_conn', args);
}

export const leastConnBalancer: BalancerModule<LeastConnOptions> = {
  name: 'least_conn',
  supports: ALL_PARAMETERS,
  parseArgs: parseLeastConnArgs,
  initUpstream(group: UpstreamGroupConf, _options: LeastConnOptions, context: BalancerContext): PeerFactory {
    return new LeastConnUpstream(group, context);
  },
};
