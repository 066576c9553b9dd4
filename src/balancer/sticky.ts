/**
 * Session persistence (nginx's `sticky`, ngx_http_upstream_sticky_module of
 * nginx Plus, open-sourced in 1.29.6): a choice bound to the request tried
 * before the configured balancer, which stays the fallback when the bound peer
 * is unusable (down, failed, full, already tried).
 *
 *   sticky cookie NAME [expires=TIME|max] [domain=D] [httponly] [samesite=strict|lax|none] [secure] [path=P]
 *       the cookie holds the peer's id: its `route=` value, else the MD5 of its address;
 *       it is set on the response whenever the request did not already carry it
 *   sticky route $var ...
 *       the first non-empty value names the peer by its `route=`
 *   sticky learn create=$var lookup=$var zone=NAME:SIZE [timeout=TIME] [header] [sync]
 *       `create` is evaluated when a response arrives and remembered for its peer;
 *       `lookup` finds the peer for the next requests (idle entries expire after `timeout`)
 *
 * Differences: the learned table is per worker process (nginx shares it through the
 * zone); `sync` is accepted. `header` learns as the response head arrives (the
 * session's notify), else when the try ends.
 */
import { createHash } from 'node:crypto';
import { parseTime } from '../config/units.js';
import { RoundRobinSession, peerUsable, type RoundRobinPeer } from './round-robin.js';
import {
  GetResult, PeerState, type BalancerRequest, type CompiledValue, type Peer, type PeerConnection, type PeerSession,
} from './types.js';

export type StickyOptions =
  | { readonly kind: 'cookie'; readonly name: string; readonly cookieValue: CompiledValue; readonly attributes: string }
  | { readonly kind: 'route'; readonly routes: readonly CompiledValue[] }
  | {
    readonly kind: 'learn'; readonly create: CompiledValue; readonly lookup: CompiledValue; readonly timeout: number;
    /** Learn as the response head arrives (`header`), not when the try ends. */
    readonly header: boolean;
  };

/** Parses the `sticky` directive's arguments; `compile` turns `$var` text into a CompiledValue. */
export function parseStickyArgs(args: readonly string[], compile: (text: string) => CompiledValue): StickyOptions {
  const kind = args[0];
  if (kind === 'cookie') {
    const name = args[1];
    if (!name || name.includes('=')) throw new Error('invalid number of arguments in "sticky" directive');
    let attributes = '';
    for (const a of args.slice(2)) {
      const lower = a.toLowerCase();
      if (lower.startsWith('expires=')) {
        const v = a.slice(8);
        if (v === 'max') attributes += '; Expires=Thu, 31 Dec 2037 23:55:55 GMT; Max-Age=315360000';
        else {
          const ms = parseTime(v, false);
          if (ms === null) throw new Error(`invalid value "${a}"`);
          attributes += `; Max-Age=${Math.floor(ms / 1000)}`;
        }
      } else if (lower.startsWith('domain=')) attributes += `; Domain=${a.slice(7)}`;
      else if (lower.startsWith('path=')) attributes += `; Path=${a.slice(5)}`;
      else if (lower === 'httponly') attributes += '; HttpOnly';
      else if (lower === 'secure') attributes += '; Secure';
      else if (/^samesite=(strict|lax|none)$/.test(lower)) attributes += `; SameSite=${lower[9].toUpperCase()}${lower.slice(10)}`;
      else throw new Error(`invalid parameter "${a}"`);
    }
    if (!/; Path=/.test(attributes)) attributes += '; Path=/';
    return { kind, name, cookieValue: compile(`$cookie_${name}`), attributes };
  }
  if (kind === 'route') {
    if (args.length < 2) throw new Error('invalid number of arguments in "sticky" directive');
    return { kind, routes: args.slice(1).map(compile) };
  }
  if (kind === 'learn') {
    let create: CompiledValue | null = null;
    let lookup: CompiledValue | null = null;
    let zone = false;
    let timeout = 600_000;
    let header = false;
    for (const a of args.slice(1)) {
      if (a.startsWith('create=')) create = compile(a.slice(7));
      else if (a.startsWith('lookup=')) lookup = compile(a.slice(7));
      else if (a.startsWith('zone=')) zone = /^zone=[^:]+:\d+[kKmM]?$/.test(a);
      else if (a.startsWith('timeout=')) {
        const t = parseTime(a.slice(8));
        if (t === null) throw new Error(`invalid value "${a}"`);
        timeout = t;
      } else if (a === 'header') header = true;
      else if (a !== 'sync') throw new Error(`invalid parameter "${a}"`);
    }
    if (!create || !lookup) throw new Error('"create" and "lookup" are required in "sticky learn"');
    if (!zone) throw new Error('"zone" is required in "sticky learn"');
    return { kind, create, lookup, timeout, header };
  }
  throw new Error(`invalid parameter "${kind ?? ''}"`);
}

/** The id a cookie carries for a peer: its route, else the MD5 of its address (nginx's choice). */
export function stickyId(peer: Peer): string {
  return peer.server.route || createHash('md5').update(peer.address.name).digest('hex');
}

/** Per upstream group: the ids of its peers and, for `learn`, what was learned. */
export class StickyTable {
  /** Peers by id: one per table at most matters (a backup may share a primary's route). */
  private readonly byId = new Map<string, RoundRobinPeer[]>();
  private readonly learned = new Map<string, { peer: RoundRobinPeer; at: number }>();

  constructor(readonly options: StickyOptions, peers: readonly RoundRobinPeer[], private readonly now: () => number) {
    for (const p of peers) {
      const id = options.kind === 'cookie' ? stickyId(p) : p.server.route;
      if (!id) continue;
      const list = this.byId.get(id);
      if (list) list.push(p); else this.byId.set(id, [p]);
    }
  }

  /** The peers the request is bound to (nginx's hint, a server id), or null. */
  find(request: BalancerRequest): readonly RoundRobinPeer[] | null {
    const o = this.options;
    if (o.kind === 'cookie') return this.byId.get(request.evaluate(o.cookieValue)) ?? null;
    if (o.kind === 'route') {
      for (const v of o.routes) {
        const route = request.evaluate(v);
        if (route !== '') return this.byId.get(route) ?? null;
      }
      return null;
    }
    const key = request.evaluate(o.lookup);
    if (key === '') return null;
    const hit = this.learned.get(key);
    if (!hit) return null;
    if (this.now() - hit.at > o.timeout) { this.learned.delete(key); return null; }
    hit.at = this.now();
    return [hit.peer];
  }

  learn(key: string, peer: RoundRobinPeer): void {
    if (key !== '') this.learned.set(key, { peer, at: this.now() });
  }
}

/** Wraps a round-robin-based session: the bound peer first, the balancer's choice otherwise. */
export class StickySession implements PeerSession {
  constructor(
    private readonly inner: RoundRobinSession,
    private readonly table: StickyTable,
    private readonly request: BalancerRequest,
  ) {}

  get tries(): number {
    return this.inner.tries;
  }

  get(pc: PeerConnection): GetResult {
    // Every try is bound, as nginx passes its hint to each get: the bound peer when it is in
    // the current table and usable, and again in the backup table once the primary is spent.
    const bound = this.table.find(this.request);
    let rc = bound !== null ? this.inner.getPinned(pc, bound) : null;
    if (rc === null) {
      this.inner.hint = bound;
      rc = this.inner.get(pc);
      this.inner.hint = null;
    }
    const o = this.table.options;
    if (rc !== GetResult.Busy && o.kind === 'cookie' && pc.peer) {
      const id = stickyId(pc.peer);
      if (this.request.evaluate(o.cookieValue) !== id) {
        this.request.addResponseHeader?.('Set-Cookie', `${o.name}=${id}${o.attributes}`);
      }
    }
    return rc;
  }

  free(pc: PeerConnection, state: PeerState): void {
    const o = this.table.options;
    const peer = pc.peer as RoundRobinPeer | null;
    if (o.kind === 'learn' && !o.header && peer && state === PeerState.Ok) this.table.learn(this.request.evaluate(o.create), peer);
    this.inner.free(pc, state);
  }

  notify(pc: PeerConnection): void {
    const o = this.table.options;
    const peer = pc.peer as RoundRobinPeer | null;
    if (o.kind === 'learn' && o.header && peer) this.table.learn(this.request.evaluate(o.create), peer);
    (this.inner as PeerSession).notify?.(pc);
  }
}

export { peerUsable };
