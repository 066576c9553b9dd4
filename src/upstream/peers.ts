/**
 * The core's view of an upstream group's peers, and the try's peer
 * connection a balancer fills (nginx's ngx_peer_connection_t).
 */
import type { BalancerRequest, PeerSession } from '../balancer/types.js';
import type { PoolKeys, UpstreamPeerConnection } from '../keepalive/session.js';
import type { UpstreamClient } from './client.js';
import type { UpstreamConnection } from './connection.js';
import type { Upstream } from './upstream.js';

/** nginx's ngx_peer_connection_t for this request; its log() carries the try's stage. */
export class TryPeerConnection implements UpstreamPeerConnection {
  address: UpstreamPeerConnection['address'] = null;
  peer: UpstreamPeerConnection['peer'] = null;
  cached = false;
  headerTime = -1;
  responseTime = -1;
  connection: UpstreamConnection | null = null;
  keepalive = false;

  constructor(private readonly u: Upstream, public tries: number) {}

  log(level: 'warn' | 'error' | 'info', message: string): void {
    this.u.logWithStage(level, message);
  }
}

/** The peers of one upstream group, as the core sees them (UpstreamGroup, or a test's). */
export interface UpstreamPeers {
  /** The group's name: `$upstream_addr` when no peer was live. */
  readonly name: string;
  createSession(request: BalancerRequest, poolKeys: PoolKeys, log: SessionLog): PeerSession;
  /** Told of each new connection (the keep-alive cache's counters). */
  readonly cache?: { noteConnect(): void } | null;
}

export type SessionLog = UpstreamClient['errorLog'];
