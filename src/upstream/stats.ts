/**
 * A snapshot of the upstream groups of one running config, for an
 * embedder (RunningWeir.stats()) and, later, the status API and metrics:
 * each peer's state and counters, and each keep-alive cache's counters.
 * Plain data: reading it changes nothing, and it is built only on request.
 */
import type { Peer } from '../balancer/types.js';
import type { KeepaliveStats } from '../keepalive/cache.js';
import type { UpstreamGroup } from './upstream-module.js';

/**
 * `up`; `down` (marked so in the config); `unavailable` (max_fails reached
 * within fail_timeout: out of rotation until it passes, as nginx judges it).
 */
export type PeerStatus = 'up' | 'down' | 'unavailable';

export interface PeerStats {
  /** The address as $upstream_addr prints it. */
  readonly address: string;
  /** The `server` line's name. */
  readonly server: string;
  readonly backup: boolean;
  readonly status: PeerStatus;
  readonly weight: number;
  /** Requests using the peer now. */
  readonly activeConnections: number;
  readonly maxConns: number;
  /** Failures counted within the current fail_timeout window. */
  readonly fails: number;
  readonly maxFails: number;
}

export interface UpstreamStats {
  readonly name: string;
  /** The balancing method's directive (`least_conn`, `hash`, ... '' for round robin). */
  readonly balancer: string;
  readonly zone: string;
  readonly peers: readonly PeerStats[];
  /** The keep-alive cache, when the group has one. */
  readonly keepalive: (Readonly<KeepaliveStats> & { readonly idle: number; readonly max: number }) | null;
}

function peerStatus(p: Peer, now: number): PeerStatus {
  if (p.down) return 'down';
  if (p.maxFails > 0 && p.fails >= p.maxFails && now - p.checked <= p.failTimeout) return 'unavailable';
  return 'up';
}

function peerStats(p: Peer, backup: boolean, now: number): PeerStats {
  return {
    address: p.address.name,
    server: p.server.name,
    backup,
    status: peerStatus(p, now),
    weight: p.weight,
    activeConnections: p.conns,
    maxConns: p.maxConns,
    fails: p.fails,
    maxFails: p.maxFails,
  };
}

/** The groups' state now; a group not initialised yet (no request and no -t) shows no peers. */
export function upstreamStats(groups: Iterable<UpstreamGroup>, now = Date.now()): UpstreamStats[] {
  const out: UpstreamStats[] = [];
  for (const g of groups) {
    const peers: PeerStats[] = [];
    if (g.initialised) {
      for (const p of g.peers.peers) peers.push(peerStats(p, false, now));
      for (const p of g.peers.backupPeers) peers.push(peerStats(p, true, now));
    }
    const cache = g.cache;
    out.push({
      name: g.name,
      balancer: g.balancerDirective,
      zone: g.zone,
      peers,
      keepalive: cache === null ? null : { ...cache.stats, idle: cache.size, max: cache.max },
    });
  }
  return out;
}
