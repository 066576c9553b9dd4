/**
 * least_time header | last_byte [inflight]: mirrors nginx's
 * ngx_http_upstream_least_time_module.c (formerly nginx Plus only; documented at
 * nginx.org/r/least_time).
 *
 * Each peer keeps a moving average (avg = round(0.95 avg + 0.05 sample), the first sample taken
 * as is) of the time to the response header and to its last byte, fed only by successful tries
 * that reached the header. The estimate for a peer is
 *   rt = the average for the mode, halved once per (fail_timeout + 1 s) since the peer was last
 *        checked (in whole seconds, as nginx's ngx_time()) (so slow peers get a chance again), raised to the in-flight average with
 *        `inflight`, capped at 5000 ms, else rounded up to the next 20 ms band;
 *   eta = rt * (1 + conns)
 * and the peer with the least eta relative to weight wins; ties go to smooth weighted round
 * robin, as least_conn. Backup servers are supported.
 *
 * Deliberate difference: nginx updates the header average (and ends the in-flight accounting in
 * `header inflight` mode) from a notification when the header arrives; our contract has no such
 * hook, so both happen at free() from pc.headerTime / pc.responseTime.
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
  ALL_PARAMETERS,
  RoundRobinSession,
  RoundRobinUpstream,
  peerUsable,
  type RoundRobinPeer,
} from './round-robin.js';

export type LeastTimeMode = 'header' | 'last_byte';

export interface LeastTimeOptions {
  readonly mode: LeastTimeMode;
  readonly inflight: boolean;
}

export function parseLeastTimeArgs(
  args: readonly string[],
  _compile?: (text: string) => CompiledValue,
): LeastTimeOptions {
  if (args.length < 1 || args.length > 2) {
    throw new Error('invalid number of arguments in "least_time" directive');
  }
  let inflight = false;
  if (args.length === 2) {
    if (args[1] !== 'inflight') throw new Error(`invalid parameter "${args[1]}"`);
    inflight = true;
  }
  const mode = args[0];
  if (mode !== 'header' && mode !== 'last_byte') throw new Error(`invalid value "${mode}"`);
  return { mode, inflight };
}

/** ngx_http_upstream_response_time_avg. */
export function responseTimeAverage(avg: number, sample: number): number {
  return avg !== 0 ? Math.floor(0.5 + sample * 0.05 + avg * 0.95) : sample;
}

/** ngx_http_upstream_least_time_eta: the estimated time for the peer to finish its work. */
export function leastTimeEta(mode: LeastTimeMode, peer: RoundRobinPeer, now: number): number {
  let rt = mode === 'header' ? peer.headerTime : peer.responseTime;
  // In whole seconds, as nginx's ngx_time(): the second boundaries crossed since the check count.
  const since = Math.floor(now / 1000) - Math.floor(peer.checked / 1000);
  const failTimeout = Math.floor(peer.failTimeout / 1000);
  if (since > failTimeout) {
    const halvings = Math.floor(since / (failTimeout + 1));
    rt = halvings >= 31 ? 0 : Math.floor(rt / 2 ** halvings);
  }
  if (peer.inflightReqs > 0 && peer.inflightTime > rt) rt = peer.inflightTime;
  if (rt > 5000) rt = 5000;
  else rt += 20 - (rt % 20);
  return rt * (1 + peer.conns);
}

/** Updates a peer's in-flight average before it is compared (done inside nginx's get loop). */
export function refreshInflight(peer: RoundRobinPeer, now: number): void {
  if (peer.inflightReqs > 0) {
    const ift = Math.floor(peer.inflightLast / peer.inflightReqs) + (now - peer.inflightReqsChanged);
    peer.inflightTime = responseTimeAverage(peer.inflightTime, ift);
  }
}

/** Records a try's timings on its peer at free(): only successes that got a header count. */
export function recordTimes(peer: RoundRobinPeer, pc: PeerConnection, state: PeerState): void {
  if (state !== PeerState.Ok || pc.headerTime < 0) return;
  if (pc.responseTime >= 0) peer.responseTime = responseTimeAverage(peer.responseTime, pc.responseTime);
  peer.headerTime = responseTimeAverage(peer.headerTime, pc.headerTime);
}

export class LeastTimeSession extends RoundRobinSession {
  private inflight = false;

  constructor(upstream: RoundRobinUpstream, private readonly options: LeastTimeOptions) {
    super(upstream);
  }

  override get(pc: PeerConnection): GetResult {
    const table = this.table;
    if (table.single) return this.getRoundRobin(pc);

    pc.cached = false;
    const now = this.upstream.context.now();
    const mode = this.options.mode;
    const peers = table.peers;
    const tried = this.tried;
    let best: RoundRobinPeer | null = null;
    let bestEta = 0;
    let many = false;
    let p = 0;

    for (let i = 0; i < peers.length; i++) {
      if (tried.has(i)) continue;
      const peer = peers[i]!;
      if (!peerUsable(peer, now)) continue;
      refreshInflight(peer, now);
      const eta = leastTimeEta(mode, peer, now);
      if (best === null || eta * best.weight < bestEta * peer.weight) {
        best = peer;
        bestEta = eta;
        many = false;
        p = i;
      } else if (eta * best.weight === bestEta * peer.weight) {
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
        if (!peerUsable(peer, now)) continue;
        if (leastTimeEta(mode, peer, now) * first.weight !== bestEta * peer.weight) continue;
        peer.currentWeight += peer.effectiveWeight;
        total += peer.effectiveWeight;
        if (peer.effectiveWeight < peer.weight) peer.effectiveWeight++;
        if (peer.currentWeight > best.currentWeight) best = peer;
      }
    }
    best.currentWeight -= total;

    if (this.options.inflight) {
      if (best.inflightReqs > 0) best.inflightLast += (now - best.inflightReqsChanged) * best.inflightReqs;
      best.inflightReqsChanged = now;
      best.inflightReqs++;
      this.inflight = true;
    }

    this.choose(best, now);
    return this.connect(pc, best);
  }

  override free(pc: PeerConnection, state: PeerState): void {
    const peer = this.current;
    if (peer !== null) {
      if (this.inflight) {
        const now = this.upstream.context.now();
        if (peer.inflightReqs === 1) {
          peer.inflightLast = 0;
        } else {
          const last = pc.responseTime >= 0 ? pc.responseTime : 0;
          peer.inflightLast += (now - peer.inflightReqsChanged) * peer.inflightReqs - last;
          peer.inflightReqsChanged = now;
        }
        peer.inflightReqs--;
        this.inflight = false;
      }
      recordTimes(peer, pc, state);
    }
    super.free(pc, state);
  }
}

class LeastTimeUpstream extends RoundRobinUpstream {
  constructor(group: UpstreamGroupConf, context: BalancerContext, readonly options: LeastTimeOptions) {
    super(group, context);
  }

  override createSession(_request: BalancerRequest): PeerSession {
    return new LeastTimeSession(this, this.options);
  }
}

export const leastTimeBalancer: BalancerModule<LeastTimeOptions> = {
  name: 'least_time',
  supports: ALL_PARAMETERS,
  parseArgs: parseLeastTimeArgs,
  initUpstream(group: UpstreamGroupConf, options: LeastTimeOptions, context: BalancerContext): PeerFactory {
    return new LeastTimeUpstream(group, context, options);
  },
};
