/**
 * The balancer half of src/http/modules/ngx_http_upstream_keepalive_module.c:
 * ngx_http_upstream_init_keepalive_peer saves the configured balancer's
 * get/free and installs ngx_http_upstream_get_keepalive_peer /
 * ngx_http_upstream_free_keepalive_peer. Here that is a PeerSession wrapping
 * the balancer's session; the idle connections live in ./cache.ts.
 *
 * Contract with the upstream core (per try):
 *
 *   get(pc)   Resets pc.cached, pc.keepalive and pc.connection, asks the inner
 *             balancer, and on Ok looks for an idle connection to the chosen
 *             address. Cached: pc.connection is set, pc.cached is true; the
 *             core sets itself as conn.owner before yielding to the event loop
 *             (the cache cleared the owner, and events queued meanwhile would
 *             be dropped) and skips connect. Ok: the core connects and stores
 *             the new connection in pc.connection, then calls cache.noteConnect().
 *             Busy: nothing changed ("no live upstreams").
 *   free(pc, state)
 *             Exactly once per successful get(). Stores pc.connection in the
 *             cache when state is not Failed, pc.keepalive is true and the
 *             cache accepts it; otherwise destroys it. Either way pc.connection
 *             is null afterwards: the core must not touch it again. Then ALWAYS
 *             calls the inner free(pc, state), which charges the peer and
 *             decrements pc.tries.
 *
 *   pc.keepalive is the core's statement that the connection is clean: the
 *   response was read completely and well framed, the request (body included)
 *   was fully sent, and the upstream did not ask to close (nginx's
 *   u->keepalive && u->request_body_sent). conn.requests must already count
 *   this request (nginx's c->requests++ at connect time).
 *
 * Retrying a stale cached connection. A request written to an idle connection
 * can race with the upstream closing it (its own keepalive timeout). nginx's
 * ngx_http_upstream_next, for a try with pc->cached and an `error` failure,
 * calls free(NGX_PEER_FAILED) and then `u->peer.tries++` ("TODO: inform
 * balancer instead"). weir goes one step further, as Pingora does: when a try
 * on a cached connection fails with `error` before any response byte arrived
 * (and retrying is allowed: proxy_next_upstream, non_idempotent, a body that
 * can be sent again), the core does not call free() at all: it drops the
 * connection and connects to the same peer again on a fresh one, charging
 * nothing and spending no try (src/upstream/retry.ts, "same-peer"). A fresh
 * connection that fails then is charged as any. This session sees nothing
 * special: the try in progress simply goes on with another connection.

 * Which states store: like nginx, any state but Failed (nginx: `state &
 * NGX_PEER_FAILED` → invalid), gated on pc.keepalive as nginx gates on
 * u->keepalive. A Next try is in practice never clean (http_403/404 retries
 * happen before the body is read, a stale cached connection failed), so Ok is
 * the state that caches; a core that did read a 404 completely before retrying
 * elsewhere may set pc.keepalive and keep the connection, as nginx would.
 *
 * Differences from nginx, on purpose:
 * - free() destroys a connection it does not store (nginx leaves closing it to
 *   ngx_http_upstream_next/finalize); a core that runs a group without this
 *   wrapper (keepalive 0, implicit upstreams) destroys it itself.
 * - nginx compares sockaddrs (plus the location tag with `local`); weir
 *   compares pool keys (below).
 * - The SSL set_session/save_session and notify hooks nginx forwards are not
 *   part of PeerSession yet; when they are, they forward to the inner session.
 *
 * Pool keys. An idle connection may serve a request only if everything that
 * was fixed when it was opened matches: the peer address, and (nginx 1.29.7+
 * `keepalive N local`, the default) the location that opened it: nginx tags
 * each item with u->conf and skips items of other tags. TLS upstreams add the
 * handshake's inputs: SNI name, verification settings and trusted CAs, client
 * certificate. A PoolScope carries everything except the address as one
 * canonical string per part, built once at config time per (upstream,
 * location): `tag` for `local`, `tls` for TLS. Adding TLS later means filling
 * `tls` with a canonical serialisation of those settings (e.g.
 * `sni=example.com;verify=on;ca=<hash>;cert=<hash>`) where the scope is built;
 * neither the cache (opaque string keys) nor this session changes. PoolKeys
 * memoises the key per address object, so the hot path is one WeakMap lookup,
 * and nothing at all for a shared plain-TCP scope (the key is address.name).
 */
import type { PeerAddress, PeerConnection, PeerSession } from '../balancer/types.js';
import { GetResult, PeerState } from '../balancer/types.js';
import type { UpstreamConnection } from '../peer/connection.js';
import type { KeepaliveCache } from './cache.js';

/** The ngx_peer_connection_t the upstream core uses: the balancer's view plus the connection. */
export interface UpstreamPeerConnection extends PeerConnection {
  /** The connection of this try: set by get() on a cache hit, by the core after connect; null after free(). */
  connection: UpstreamConnection | null;
  /** the response was complete and clean, the request fully sent, and the upstream did not ask to close */
  keepalive: boolean;
}

/** What, besides the address, a cached connection was opened for. Built at config time. */
export interface PoolScope {
  /**
   * nginx's `local` tag: an id of the location's upstream settings (u->conf) when
   * `keepalive ... local` is in effect (the default since 1.29.7), '' when connections
   * are shared by every location using the upstream.
   */
  readonly tag: string;
  /** A canonical form of the TLS settings the connection was opened with; '' for plain TCP. */
  readonly tls: string;
}

/** The scope of shared plain-TCP connections: the key is the address alone. */
export const SHARED_SCOPE: PoolScope = Object.freeze({ tag: '', tls: '' });

/**
 * The cache key for connections to `address` opened under `scope`. NUL separates the
 * parts: it cannot occur in an address name (IP literal, port, or unix socket path).
 */
export function poolKey(address: PeerAddress, scope: PoolScope = SHARED_SCOPE): string {
  if (scope.tag === '' && scope.tls === '') return address.name;
  return `${address.name}\0${scope.tag}\0${scope.tls}`;
}

/** poolKey() memoised per address object, for one scope (one per upstream and location). */
export class PoolKeys {
  private readonly shared: boolean;
  private readonly memo = new WeakMap<PeerAddress, string>();

  constructor(readonly scope: PoolScope = SHARED_SCOPE) {
    this.shared = scope.tag === '' && scope.tls === '';
  }

  of(address: PeerAddress): string {
    if (this.shared) return address.name;
    let key = this.memo.get(address);
    if (key === undefined) {
      key = poolKey(address, this.scope);
      this.memo.set(address, key);
    }
    return key;
  }
}

const SHARED_KEYS = new PoolKeys();

export class KeepalivePeerSession implements PeerSession {
  constructor(
    private readonly inner: PeerSession,
    private readonly cache: KeepaliveCache,
    private readonly keys: PoolKeys = SHARED_KEYS,
  ) {}

  get tries(): number {
    return this.inner.tries;
  }

  get(pc: UpstreamPeerConnection): GetResult {
    // State of the previous try does not carry over (nginx: keepalive get sets cached only on
    // a hit; u->keepalive is cleared by ngx_http_upstream_reinit).
    pc.cached = false;
    pc.keepalive = false;
    pc.connection = null;
    const rc = this.inner.get(pc);
    if (rc !== GetResult.Ok) return rc;
    const conn = this.cache.take(this.keys.of(pc.address!));
    if (conn === null) return GetResult.Ok;
    pc.connection = conn;
    pc.cached = true;
    return GetResult.Cached;
  }

  notify(pc: UpstreamPeerConnection): void {
    this.inner.notify?.(pc);
  }

  free(pc: UpstreamPeerConnection, state: PeerState): void {
    const conn = pc.connection;
    if (conn !== null) {
      pc.connection = null;
      if (state === PeerState.Failed || !pc.keepalive || !this.cache.put(conn, this.keys.of(conn.address))) {
        conn.destroy();
      }
    }
    this.inner.free(pc, state);
  }
}
