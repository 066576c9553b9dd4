/**
 * The one place that decides what a failed try leads to (nginx's
 * ngx_http_upstream_next with ngx_http_upstream_test_next, plus Pingora's
 * "reused connection" rule). Pure: the core gathers the facts of the try and
 * carries the decision out, so the rules can be table-tested on their own.
 *
 * A failure either
 *   - retries the same peer on a fresh connection, charging nothing and
 *     spending no try: a reused keep-alive connection that failed before any
 *     response byte was most likely closed by the peer while idle (nginx
 *     charges the peer and moves on; Pingora retries, and so does weir);
 *   - or charges the peer (NGX_PEER_FAILED, or NGX_PEER_NEXT for 403, 404 and
 *     "no live upstreams", which say nothing of the peer's health), and then
 *     goes to the next peer when proxy_next_upstream, its tries and its
 *     timeout allow it and the request can be sent again, else ends the
 *     request with the failure's status.
 */
import { PeerState } from '../balancer/types.js';
import { FT, failureStatus, isNonIdempotent, STATUS_FAILURE } from './failure.js';

/** What the core knows of a try when it fails. */
export interface TryFacts {
  /** The failure (an FT bit). */
  readonly ft: number;
  readonly method: string;
  /** The request (head, and body so far) was written to this peer. */
  readonly requestSent: boolean;
  /** The body went to the upstream as it arrived and cannot be sent again. */
  readonly bodyStreamed: boolean;
  /** The try used a connection from the keep-alive cache. */
  readonly reused: boolean;
  /** Response bytes this try got. */
  readonly bytesReceived: number;
  /** ms since the request's first try began. */
  readonly elapsed: number;
  /** `*_next_upstream` as FT bits. */
  readonly nextUpstream: number;
  /** `*_next_upstream_timeout` in ms, 0 for none. */
  readonly nextUpstreamTimeout: number;
}

export type RetryDecision =
  | { readonly action: 'same-peer' }
  | { readonly action: 'next'; readonly charge: PeerState }
  | { readonly action: 'finalize'; readonly charge: PeerState; readonly status: number };

/** Whether proxy_next_upstream and its timeout allow another try for this failure (tries aside). */
export function retryAllowed(f: Omit<TryFacts, 'reused' | 'bytesReceived' | 'bodyStreamed'>): boolean {
  let mask = f.ft;
  if (f.requestSent && isNonIdempotent(f.method)) mask |= FT.non_idempotent;
  if ((f.nextUpstream & mask) !== mask) return false;
  return f.nextUpstreamTimeout === 0 || f.elapsed < f.nextUpstreamTimeout;
}

/** How a failed try charges its peer. */
export function chargeFor(ft: number): PeerState {
  return ft === FT.http_403 || ft === FT.http_404 || ft === FT.nolive ? PeerState.Next : PeerState.Failed;
}

/** Before the peer is charged: the stale keep-alive case, which retries the same peer for free. */
export function retriesSamePeer(f: TryFacts): boolean {
  return f.reused && f.ft === FT.error && f.bytesReceived === 0 && retryAllowed(f) && !(f.requestSent && f.bodyStreamed);
}

/**
 * The decision for a failed try. `charge` charges the peer as decided and returns the
 * tries the balancer's free() leaves (it spends one, and a lone peer leaves none).
 */
export function decideRetry(f: TryFacts, charge: (state: PeerState) => number): RetryDecision {
  if (retriesSamePeer(f)) return { action: 'same-peer' };
  const state = chargeFor(f.ft);
  const left = charge(state);
  if (left === 0 || f.ft === FT.nolive || !retryAllowed(f) || (f.requestSent && f.bodyStreamed)) {
    return { action: 'finalize', charge: state, status: failureStatus(f.ft) };
  }
  return { action: 'next', charge: state };
}

/**
 * ngx_http_upstream_test_next: a response status listed in proxy_next_upstream
 * goes to the next peer while more than this one try is left; the last peer's
 * answer is the client's, whatever it is. Returns the failure to retry with, or 0.
 * `facts` is asked only for a listed status: every response passes here.
 */
export function statusRetry(status: number, triesLeft: number, facts: () => Omit<TryFacts, 'ft' | 'reused' | 'bytesReceived' | 'bodyStreamed'>): number {
  const ft = STATUS_FAILURE.get(status);
  if (ft === undefined || triesLeft <= 1) return 0;
  return retryAllowed({ ...facts(), ft }) ? ft : 0;
}
