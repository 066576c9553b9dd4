/**
 * Balancer contracts: nginx's three stages of a load-balancing module.
 *
 *   initUpstream  (config time, once per upstream block per worker) → PeerFactory
 *   createSession (per request: nginx's init_peer; holds the tried set and tries)
 *   get / free    (per try)
 *
 * Mirrors ngx_http_upstream_rr_peer_t / ngx_peer_connection_t. A balancer never
 * touches a socket: it only chooses a peer address and keeps the accounting that
 * free() reports. The keep-alive cache wraps a PeerSession (src/keepalive/).
 */

/** One resolved address of an upstream `server`. */
export interface PeerAddress {
  /** As nginx prints it in $upstream_addr: `127.0.0.1:8081`, `[::1]:80`, `unix:/run/app.sock`. */
  readonly name: string;
  /** TCP host (IP literal) and port; absent for unix sockets. */
  readonly host?: string;
  readonly port?: number;
  /** Unix socket path; absent for TCP. */
  readonly path?: string;
  /** 4 or 6 for TCP, 0 for unix sockets. */
  readonly family: 0 | 4 | 6;
}

/** One `server` line of an `upstream` block, after its host name was resolved. */
export interface UpstreamServerConf {
  /** The server as written (`backend1:8080`): the name hashed by `hash ... consistent`. */
  readonly name: string;
  /** Every address the name resolved to at start-up: each becomes one peer. */
  readonly addresses: readonly PeerAddress[];
  readonly weight: number;
  readonly maxFails: number;
  /** Milliseconds. */
  readonly failTimeout: number;
  /** 0 = unlimited. */
  readonly maxConns: number;
  readonly backup: boolean;
  readonly down: boolean;
  /** `drain` parameter (sticky: only requests already bound to it). */
  readonly drain: boolean;
  /** `route=` parameter for sticky; empty when absent. */
  readonly route: string;
  /** `slow_start=` in ms (0 or absent: off). Parsed and recorded; no balancer applies it yet. */
  readonly slowStart?: number;
  /** Where it was configured, for messages. */
  readonly file?: string;
  readonly line?: number;
}

/** An upstream block (or the implicit one a `proxy_pass http://host:port` makes). */
export interface UpstreamGroupConf {
  readonly name: string;
  readonly servers: readonly UpstreamServerConf[];
  /** True for the group nginx makes from `proxy_pass http://127.0.0.1:8080`: not an `upstream` block. */
  readonly implicit: boolean;
}

/** What a balancer may read from the request it chooses for. */
export interface BalancerRequest {
  /** The client address ($remote_addr), used by ip_hash. */
  readonly remoteAddress: string;
  /** Evaluates a compiled config value (e.g. the `hash` key) for this request. */
  evaluate(value: CompiledValue): string;
  /** Adds a header to the response to the client (sticky cookie). */
  addResponseHeader?(name: string, value: string): void;
}

/** A value compiled from config text (variables resolved per request by the HTTP layer). */
export interface CompiledValue {
  /** The text as written in the config, for messages and dumps. */
  readonly source: string;
}

/** What the upstream core passes to get() and free(): nginx's ngx_peer_connection_t. */
export interface PeerConnection {
  /** Set by get(): the address to connect to. */
  address: PeerAddress | null;
  /** Set by get(): the peer chosen (balancer-owned object; opaque to the core). */
  peer: Peer | null;
  /**
   * Tries left for this request (nginx's pc->tries). The core sets it from session.tries before
   * the first get(); free() decrements it (as nginx's free does, and a single-peer group sets it
   * to 0), so the core only reads it to decide whether another try is allowed.
   */
  tries: number;
  /** True when the keep-alive cache handed out an idle connection for this try. */
  cached: boolean;
  /** Timing of the try, set by the core before free() (least_time): ms, or -1 when not reached. */
  headerTime: number;
  responseTime: number;
  /** Logs against the request (warn for "upstream server temporarily disabled"). */
  log(level: 'warn' | 'error' | 'info', message: string): void;
}

/**
 * How a try ended, as the core reports it to free(). Plain objects, not `const enum`s: a
 * balancer written in JavaScript, or compiled file by file (isolatedModules), reads them at run time.
 */
export const PeerState = {
  /** The peer answered (any response the core accepted). */
  Ok: 0,
  /** nginx's NGX_PEER_FAILED: counts against max_fails. */
  Failed: 1,
  /** nginx's NGX_PEER_NEXT: the try ended (e.g. http_404 retry) but the peer is not charged. */
  Next: 2,
} as const;
export type PeerState = (typeof PeerState)[keyof typeof PeerState];

/** Result of get(). */
export const GetResult = {
  /** pc.address/pc.peer were set: connect to it. */
  Ok: 0,
  /** No peer can be had (all down, failed or at max_conns): nginx's NGX_BUSY → "no live upstreams". */
  Busy: 1,
  /** The keep-alive cache supplied a connection (pc.cached = true): skip connect. */
  Cached: 2,
} as const;
export type GetResult = (typeof GetResult)[keyof typeof GetResult];

/** The runtime state of one peer (one address of one server), as ngx_http_upstream_rr_peer_t. */
export interface Peer {
  readonly address: PeerAddress;
  /** The `server` it came from. */
  readonly server: UpstreamServerConf;
  readonly weight: number;
  effectiveWeight: number;
  currentWeight: number;
  /** Active connections (requests) using this peer now. */
  conns: number;
  readonly maxConns: number;
  fails: number;
  /** ms timestamps as nginx's accessed/checked. */
  accessed: number;
  checked: number;
  readonly maxFails: number;
  readonly failTimeout: number;
  down: boolean;
}

/** Per request: nginx's init_peer result plus its get/free. */
export interface PeerSession {
  /** Tries this request may make in all (number of peers, backup included when used). */
  readonly tries: number;
  /** Choose a peer for the next try. Called once per try, again after each free() on retry. */
  get(pc: PeerConnection): GetResult;
  /** Report how the try on pc.peer ended. Called exactly once per successful get(). */
  free(pc: PeerConnection, state: PeerState): void;
  /**
   * The try's response head arrived and is the one the client gets (not a
   * status that goes to the next upstream, nor an intercepted error): nginx's
   * peer.notify with NGX_HTTP_UPSTREAM_NOTIFY_HEADER. Optional; a wrapping
   * session passes it on.
   */
  notify?(pc: PeerConnection): void;
}

/** Made at config time by a balancer for one upstream group. */
export interface PeerFactory {
  /** The peers, for status reporting and tests. */
  readonly peers: readonly Peer[];
  readonly backupPeers: readonly Peer[];
  createSession(request: BalancerRequest): PeerSession;
}

/** Services a balancer gets at init time. */
export interface BalancerContext {
  /** Milliseconds clock; tests pass a fixed one. */
  now(): number;
  /** Random in [0, 1); tests pass a seeded one. */
  random(): number;
}

/** A registered balancer (`ip_hash`, `hash`, `least_conn`, `random`, or a user's own). */
export interface BalancerModule<Options = unknown> {
  /** The directive name that selects it inside `upstream { }`. */
  readonly name: string;
  /**
   * The `server` parameters it accepts (nginx's NGX_HTTP_UPSTREAM_* flags); the config layer
   * rejects others with `balancing method does not support parameter "backup"`. Absent: all.
   */
  readonly supports?: BalancerSupports;
  /**
   * Validates the directive's arguments (without the directive name) at config time and returns
   * the options initUpstream takes; throws Error with nginx's message (no file:line). Absent: the
   * directive takes no arguments.
   */
  parseArgs?(args: readonly string[], compile: (text: string) => CompiledValue): Options;
  initUpstream(group: UpstreamGroupConf, options: Options, context: BalancerContext): PeerFactory;
}

/** Which `server` parameters a balancer honours (nginx's uscf->flags). */
export interface BalancerSupports {
  readonly weight: boolean;
  readonly maxFails: boolean;
  readonly failTimeout: boolean;
  readonly maxConns: boolean;
  readonly down: boolean;
  readonly backup: boolean;
}
