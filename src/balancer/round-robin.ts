/**
 * Round robin: the base balancer. Mirrors nginx's ngx_http_upstream_round_robin.c (1.27+):
 * ngx_http_upstream_init_round_robin (peer tables), init_round_robin_peer (per-request tried
 * bitmap and tries), get_round_robin_peer / ngx_http_upstream_get_peer (smooth weighted round
 * robin) and free_round_robin_peer (failure accounting). The other balancers extend
 * RoundRobinSession and replace only the choice, as nginx's modules reuse the rr peer data.
 *
 * Deliberate differences from nginx:
 * - Times are milliseconds from context.now(), not ngx_time() seconds, so `fail_timeout=10s`
 *   ends 10 000 ms after the last failure rather than at the next whole-second boundary.
 * - No shared-memory zone, locks or peer refcounts: a worker owns its tables. With an upstream
 *   `zone`, the connection counts are shared (connsObserver): each worker counts its own at once
 *   and hears the others' one IPC hop later (docs/design.md, "Replicated zones").
 * - No `resolve` peers: addresses are fixed at start-up (UpstreamServerConf.addresses).
 * - free() clears the session's current peer, so a second free() for one get() is a no-op
 *   instead of corrupting conns.
 *
 * nginx behaviour kept on purpose, since it surprises people:
 * - When every peer (and backup) is unavailable, get() returns Busy and changes nothing. nginx
 *   before 1.11.5 reset `fails` of all peers here ("quick recovery"); current nginx does not, so
 *   a peer comes back only after fail_timeout passes (or via the single-peer rule).
 * - A group with one peer and no backup (`single`) never checks max_fails, and its free() clears
 *   fails and sets tries to 0: that peer is never marked unavailable and is never retried.
 * - tries = primary peers not `down` + backup peers not `down`, set once per request.
 * - A success (or NEXT) resets fails only if the peer was picked after its fail_timeout window
 *   (accessed < checked), so failures accumulate across successes inside the window.
 */

import type {
  BalancerContext,
  BalancerModule,
  BalancerRequest,
  Peer,
  PeerAddress,
  PeerConnection,
  PeerFactory,
  PeerSession,
  UpstreamGroupConf,
  UpstreamServerConf,
} from './types.js';
import { GetResult, PeerState } from './types.js';
import { channels } from '../observability/diagnostics.js';

/** One peer: ngx_http_upstream_rr_peer_t, plus the timing fields least_time keeps (as nginx does). */
export class RoundRobinPeer implements Peer {
  readonly weight: number;
  effectiveWeight: number;
  currentWeight = 0;
  conns = 0;
  readonly maxConns: number;
  fails = 0;
  accessed = 0;
  checked = 0;
  readonly maxFails: number;
  readonly failTimeout: number;
  down: boolean;
  /** Moving averages (ms) of the time to the response header and to its last byte (least_time). */
  headerTime = 0;
  responseTime = 0;
  /** least_time `inflight` accounting. */
  inflightReqs = 0;
  inflightLast = 0;
  inflightReqsChanged = 0;
  inflightTime = 0;
  /** Position in the upstream (primary peers, then backup): its slot in a shared `zone`. */
  slot = 0;

  constructor(
    readonly address: PeerAddress,
    readonly server: UpstreamServerConf,
    /** Position in its table: the bit in the tried bitmap. */
    readonly index: number,
  ) {
    this.weight = server.weight;
    this.effectiveWeight = server.weight;
    this.maxConns = server.maxConns;
    this.maxFails = server.maxFails;
    this.failTimeout = server.failTimeout;
    this.down = server.down;
  }
}

/** ngx_http_upstream_rr_peers_t: the primary table, or the backup table it links to. */
export class PeerTable {
  readonly number: number;
  readonly totalWeight: number;
  readonly weighted: boolean;
  /** Peers not marked down: what they add to a request's tries. */
  readonly tries: number;
  /** One primary peer and no backup table: the special case get/free take. */
  single: boolean;
  next: PeerTable | null = null;

  constructor(readonly name: string, readonly peers: readonly RoundRobinPeer[]) {
    let w = 0;
    let t = 0;
    for (const p of peers) {
      w += p.weight;
      if (!p.down) t++;
    }
    this.number = peers.length;
    this.totalWeight = w;
    this.weighted = w !== peers.length;
    this.tries = t;
    this.single = peers.length === 1;
  }
}

function buildTable(group: UpstreamGroupConf, backup: boolean): PeerTable {
  const peers: RoundRobinPeer[] = [];
  for (const server of group.servers) {
    if (server.backup !== backup) continue;
    for (const address of server.addresses) {
      peers.push(new RoundRobinPeer(address, server, peers.length));
    }
  }
  return new PeerTable(group.name, peers);
}

/** The per-request tried bitmap (rrp->tried): one number up to 32 peers, an array beyond. */
export class TriedSet {
  private word = 0;
  private readonly words: Uint32Array | null;

  constructor(size: number) {
    this.words = size > 32 ? new Uint32Array((size + 31) >>> 5) : null;
  }

  has(i: number): boolean {
    const words = this.words;
    if (words === null) return (this.word & (1 << i)) !== 0;
    return (words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  add(i: number): void {
    const words = this.words;
    if (words === null) this.word |= 1 << i;
    else words[i >>> 5] = words[i >>> 5]! | (1 << (i & 31));
  }

  clear(): void {
    this.word = 0;
    if (this.words !== null) this.words.fill(0);
  }
}

/** Inside its fail_timeout window after reaching max_fails: nginx's skip condition. */
export function peerFailed(peer: RoundRobinPeer, now: number): boolean {
  return peer.maxFails !== 0 && peer.fails >= peer.maxFails && now - peer.checked <= peer.failTimeout;
}

/** At its max_conns limit. */
export function peerFull(peer: RoundRobinPeer): boolean {
  return peer.maxConns !== 0 && peer.conns >= peer.maxConns;
}

/** May take a request now (not down, not failed, not full); the tried check is the caller's. */
/** The index of the peer a weighted position in [0, totalWeight) falls on (the hash balancers' walk). */
export function peerAtWeight(peers: readonly RoundRobinPeer[], w: number): number {
  let p = 0;
  while (w >= peers[p]!.weight) {
    w -= peers[p]!.weight;
    p++;
  }
  return p;
}

export function peerUsable(peer: RoundRobinPeer, now: number): boolean {
  // A draining server takes only requests bound to it (sticky: getPinned).
  return !peer.down && !peer.server.drain && !peerFailed(peer, now) && !peerFull(peer);
}

/** Hears every change of a peer's connection count made by this worker (an upstream `zone` shares them). */
export interface ConnsObserver {
  add(slot: number, delta: number): void;
}

/** The upstream's peer tables, made once at config time: nginx's us->peer.data. */
export class RoundRobinUpstream implements PeerFactory {
  /** Set when the upstream has a `zone`: the counts go to the other workers. */
  connsObserver: ConnsObserver | null = null;
  readonly primary: PeerTable;
  readonly backup: PeerTable | null;
  readonly peers: readonly RoundRobinPeer[];
  readonly backupPeers: readonly RoundRobinPeer[];

  constructor(readonly group: UpstreamGroupConf, readonly context: BalancerContext) {
    const primary = buildTable(group, false);
    if (primary.number === 0) {
      throw new Error(`no servers in upstream "${group.name}"`);
    }
    const backup = buildTable(group, true);
    if (backup.number > 0) {
      primary.next = backup;
      primary.single = false;
      backup.single = false;
      this.backup = backup;
    } else {
      this.backup = null;
    }
    this.primary = primary;
    this.peers = primary.peers;
    this.backupPeers = backup.peers;
    let slot = 0;
    for (const p of primary.peers) p.slot = slot++;
    for (const p of backup.peers) p.slot = slot++;
  }

  createSession(_request: BalancerRequest): PeerSession {
    return new RoundRobinSession(this);
  }
}

/** Builds the round-robin tables for a group (ngx_http_upstream_init_round_robin). */
export function initRoundRobin(group: UpstreamGroupConf, context: BalancerContext): RoundRobinUpstream {
  return new RoundRobinUpstream(group, context);
}

/**
 * One request's state: ngx_http_upstream_rr_peer_data_t. Subclasses override get() for their
 * choice and use the protected helpers so that accounting stays identical to round robin.
 */
export class RoundRobinSession implements PeerSession {
  readonly tries: number;
  /** The table in use; moves to the backup table when the primary has nothing left. */
  table: PeerTable;
  readonly tried: TriedSet;
  /** The peer of the try in progress (rrp->current). */
  current: RoundRobinPeer | null = null;
  /** During a get: the peers a sticky session binds the request to (nginx's pc->hint), for the backup table. */
  hint: readonly RoundRobinPeer[] | null = null;

  constructor(readonly upstream: RoundRobinUpstream) {
    const primary = upstream.primary;
    const next = primary.next;
    this.table = primary;
    this.tries = primary.tries + (next !== null ? next.tries : 0);
    this.tried = new TriedSet(next !== null && next.number > primary.number ? next.number : primary.number);
  }

  get(pc: PeerConnection): GetResult {
    return this.getRoundRobin(pc);
  }

  /** ngx_http_upstream_get_round_robin_peer: also the fallback of hash, ip_hash and random. */
  getRoundRobin(pc: PeerConnection): GetResult {
    pc.cached = false;
    const table = this.table;
    let peer: RoundRobinPeer | null;
    if (table.single) {
      peer = table.peers[0]!;
      if (peer.down || peerFull(peer)) peer = null;
      else this.current = peer;
    } else {
      peer = this.pickSmooth(this.upstream.context.now());
    }
    if (peer === null) {
      if (!this.switchToBackup()) return this.busy(pc);
      return (this.hint !== null ? this.getPinned(pc, this.hint) : null) ?? this.getRoundRobin(pc);
    }
    return this.connect(pc, peer);
  }

  /**
   * Uses the first of `peers` that is in the current table, untried and usable
   * (sticky sessions); null when none is, and nothing is changed.
   */
  getPinned(pc: PeerConnection, peers: readonly RoundRobinPeer[]): GetResult | null {
    const now = this.upstream.context.now();
    for (const peer of peers) {
      if (this.table.peers[peer.index] !== peer || this.tried.has(peer.index)) continue;
      if (peer.down || peerFailed(peer, now) || peerFull(peer)) continue;
      this.choose(peer, now);
      return this.connect(pc, peer);
    }
    return null;
  }

  /**
   * ngx_http_upstream_get_peer: smooth weighted round robin over the usable, untried peers of
   * the current table. Marks the winner tried and current; null when none is usable.
   */
  protected pickSmooth(now: number): RoundRobinPeer | null {
    const peers = this.table.peers;
    const tried = this.tried;
    let best: RoundRobinPeer | null = null;
    let total = 0;
    for (let i = 0; i < peers.length; i++) {
      if (tried.has(i)) continue;
      const peer = peers[i]!;
      if (!peerUsable(peer, now)) continue;
      peer.currentWeight += peer.effectiveWeight;
      total += peer.effectiveWeight;
      if (peer.effectiveWeight < peer.weight) peer.effectiveWeight++;
      if (best === null || peer.currentWeight > best.currentWeight) best = peer;
    }
    if (best === null) return null;
    best.currentWeight -= total;
    this.choose(best, now);
    return best;
  }

  /** Records the choice: current peer, tried bit, and the start of a new fail_timeout window. */
  protected choose(peer: RoundRobinPeer, now: number): void {
    this.current = peer;
    this.tried.add(peer.index);
    if (now - peer.checked > peer.failTimeout) peer.checked = now;
  }

  /** Hands the chosen peer to the core; the connection count rises until free(). */
  protected connect(pc: PeerConnection, peer: RoundRobinPeer): GetResult {
    pc.address = peer.address;
    pc.peer = peer;
    peer.conns++;
    const o = this.upstream.connsObserver;
    if (o !== null) o.add(peer.slot, 1);
    return GetResult.Ok;
  }

  /** The primary table has nothing left: move this request to the backup table, fresh tried set. */
  protected switchToBackup(): boolean {
    const next = this.table.next;
    if (next === null) return false;
    this.table = next;
    this.tried.clear();
    return true;
  }

  protected busy(pc: PeerConnection): GetResult {
    pc.address = null;
    pc.peer = null;
    return GetResult.Busy;
  }

  /** ngx_http_upstream_free_round_robin_peer. */
  free(pc: PeerConnection, state: PeerState): void {
    const peer = this.current;
    if (peer === null) return;
    this.current = null;

    if (this.table.single) {
      if (peer.fails) peer.fails = 0;
      this.released(peer);
      pc.tries = 0;
      return;
    }

    if (state === PeerState.Failed) {
      const now = this.upstream.context.now();
      peer.fails++;
      peer.accessed = now;
      peer.checked = now;
      if (peer.maxFails) {
        peer.effectiveWeight -= Math.floor(peer.weight / peer.maxFails);
        if (peer.fails >= peer.maxFails) {
          pc.log('warn', 'upstream server temporarily disabled');
          if (channels.peerDisabled.hasSubscribers) channels.peerDisabled.publish({ upstream: this.upstream.group.name, peer: peer.address.name });
        }
      }
      if (peer.effectiveWeight < 0) peer.effectiveWeight = 0;
    } else if (peer.accessed < peer.checked) {
      // picked again after its fail_timeout window and it answered: live again
      peer.fails = 0;
    }

    this.released(peer);
    if (pc.tries) pc.tries--;
  }

  /** The try on `peer` is over: one connection less. */
  protected released(peer: RoundRobinPeer): void {
    peer.conns--;
    const o = this.upstream.connsObserver;
    if (o !== null) o.add(peer.slot, -1);
  }
}

/** Options of the default balancer: it has no directive, hence no arguments. */
export type RoundRobinOptions = Readonly<Record<string, never>>;

export const ALL_PARAMETERS = {
  weight: true,
  maxFails: true,
  failTimeout: true,
  maxConns: true,
  down: true,
  backup: true,
} as const;

/** Rejects any argument, as nginx's NGX_CONF_NOARGS check does for `ip_hash` and `least_conn`. */
export function parseNoArgs(directive: string, args: readonly string[]): RoundRobinOptions {
  if (args.length > 0) throw new Error(`invalid number of arguments in "${directive}" directive`);
  return {};
}

export const roundRobinBalancer: BalancerModule<RoundRobinOptions> = {
  name: 'round_robin',
  supports: ALL_PARAMETERS,
  parseArgs(args: readonly string[]): RoundRobinOptions {
    return parseNoArgs('round_robin', args);
  },
  initUpstream(group: UpstreamGroupConf, _options: RoundRobinOptions, context: BalancerContext): PeerFactory {
    return initRoundRobin(group, context);
  },
};
