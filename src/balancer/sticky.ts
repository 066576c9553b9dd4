/**
 * Session persistence (nginx's `sticky`, ngx_http_upstream_sticky_module of
 * nginx Plus, open-sourced in 1.29.6): a choice bound to the request tried
 * before the configured balancer, which stays the fallback when the bound peer
 * is unusable (down, failed, full, already tried).
 *
 *   sticky cookie NAME [expires=TIME|max] [domain=D] [httponly] [samesite=strict|lax|none|$var] [secure] [path=P]
 *       the cookie holds the peer's id: its `route=` value, else the MD5 of its address;
 *       it is set on every response that went to a peer, as nginx does
 *   sticky route $var ...
 *       the first non-empty value names the peer by its `route=`
 *   sticky learn create=$var lookup=$var zone=NAME:SIZE [timeout=TIME] [header] [sync]
 *       `create` is evaluated when a response arrives and remembered for its peer;
 *       `lookup` finds the peer for the next requests (idle entries expire after `timeout`)
 *
 * The learned sessions live in a SessionStore the upstream layer gives: shared by the
 * workers and kept across reloads, as nginx's zone (src/zone/shared-client.ts).
 * Differences: `sync` is accepted. `header` learns as the response head arrives (the
 * session's notify), else when the try ends.
 */
import { createHash } from 'node:crypto';
import { parseSize, parseTime } from '../config/units.js';
import { cookieTime } from '../time-format.js';
import { RoundRobinSession, peerUsable, type RoundRobinPeer } from './round-robin.js';
import {
  GetResult, PeerState, type BalancerRequest, type CompiledValue, type Peer, type PeerConnection, type PeerSession,
} from './types.js';

/** `sticky cookie`: the cookie's name and attributes as configured. */
export interface StickyCookie {
  readonly kind: 'cookie';
  readonly name: string;
  /** `$cookie_NAME`: the id the request carries. */
  readonly cookieValue: CompiledValue;
  readonly domain: CompiledValue | null;
  /** `; path=P`, or empty: nginx adds no path of its own. */
  readonly path: string;
  /** Seconds, or the fixed text of `expires=max`, or null: a session cookie. */
  readonly expires: number | string | null;
  readonly httpOnly: boolean;
  readonly secure: boolean;
  readonly sameSite: CompiledValue | null;
}

export type StickyOptions =
  | StickyCookie
  | { readonly kind: 'route'; readonly routes: readonly CompiledValue[] }
  | {
    readonly kind: 'learn'; readonly create: CompiledValue; readonly lookup: CompiledValue; readonly timeout: number;
    /** Learn as the response head arrives (`header`), not when the try ends. */
    readonly header: boolean;
    readonly zone: { readonly name: string; readonly size: number };
  };

/**
 * Where `learn` keeps its sessions: session key → the peer's id (its sid).
 * The upstream layer gives one shared by every worker and kept across
 * reloads (nginx's zone); absent, a table of this process.
 */
export interface SessionStore {
  lookup(key: string, timeout: number): string | null;
  /** ngx_http_upstream_sticky_learn_peer: refresh (and rebind) a known key; make a new one only when `create`. */
  learn(key: string, sid: string, create: boolean, timeout: number): void;
}

/** Parses the `sticky` directive's arguments; `compile` turns `$var` text into a CompiledValue. */
export function parseStickyArgs(args: readonly string[], compile: (text: string) => CompiledValue): StickyOptions {
  const kind = args[0];
  if (kind === 'cookie') return parseCookieArgs(args, compile);
  if (kind === 'route') {
    if (args.length < 2) throw new Error('invalid number of arguments in "sticky" directive');
    for (const a of args.slice(1)) if (a[0] !== '$') throw new Error(`invalid variable name "${a}"`);
    return { kind, routes: args.slice(1).map(compile) };
  }
  if (kind === 'learn') {
    let create: CompiledValue | null = null;
    let lookup: CompiledValue | null = null;
    let zone: { name: string; size: number } | null = null;
    let timeout: number | null = null;
    let header = false;
    // ngx_http_upstream_sticky_learn's checks and messages.
    for (const a of args.slice(1)) {
      if (a.startsWith('zone=')) {
        if (zone !== null) throw new Error('duplicate zone');
        const colon = a.indexOf(':');
        if (colon < 0) throw new Error('zone size is not specified');
        const name = a.slice(5, colon);
        if (name === '') throw new Error('zone name is not specified');
        const size = parseSize(a.slice(colon + 1));
        if (size === null) throw new Error('invalid zone size');
        if (size < 8 * 4096) throw new Error('zone is too small');
        zone = { name, size };
      } else if (a.startsWith('timeout=')) {
        if (timeout !== null) throw new Error('duplicate timeout');
        const t = parseTime(a.slice(8));
        if (t === null || t === 0) throw new Error('invalid timeout');
        timeout = t;
      } else if (a.startsWith('create=')) {
        if (a[7] !== '$') throw new Error('missing variable in the "create" parameter');
        create = compile(a.slice(7));
      } else if (a.startsWith('lookup=')) {
        if (a[7] !== '$') throw new Error('missing variable in the "lookup" parameter');
        lookup = compile(a.slice(7));
      } else if (a === 'header') header = true;
      else if (a !== 'sync') throw new Error(`unknown parameter "${a}"`);
    }
    if (!lookup) throw new Error('"lookup" parameter is not specified');
    if (!create) throw new Error('"create" parameter is not specified');
    if (!zone) throw new Error('"zone" parameter is not specified');
    return { kind, create, lookup, timeout: timeout ?? 600_000, header, zone };
  }
  throw new Error(`unknown parameter "${kind ?? ''}"`);
}

/** nginx's `expires=max`: the cookie's expiry and max-age, fixed (NGX_HTTP_STICKY_COOKIE_MAX_EXPIRES). */
const MAX_EXPIRES = '; expires=Thu, 31-Dec-37 23:55:55 GMT; max-age=315360000';
const SAMESITE = /^(strict|lax|none)$/i;

/** ngx_http_upstream_sticky_cookie: each parameter once, in any order; the messages are nginx's. */
function parseCookieArgs(args: readonly string[], compile: (text: string) => CompiledValue): StickyCookie {
  const name = args[1] ?? '';
  if (name === '') throw new Error('"sticky" directive empty cookie name');
  let domain: CompiledValue | null = null;
  let path = '';
  let expires: number | 'max' | null = null;
  let httpOnly = false;
  let secure = false;
  let sameSite: CompiledValue | null = null;
  const duplicate = (p: string): Error => new Error(`"sticky" directive parameter "${p}" is duplicate`);
  for (const a of args.slice(2)) {
    if (a.startsWith('domain=')) {
      if (domain !== null) throw duplicate('domain');
      if (a.length === 7) throw new Error('"sticky" directive no value for "domain"');
      domain = compile(a.slice(7));
    } else if (a.startsWith('path=')) {
      if (path !== '') throw duplicate('path');
      if (a.length === 5) throw new Error('"sticky" directive no value for "path"');
      path = '; path=' + a.slice(5);
    } else if (a.startsWith('expires=')) {
      if (expires !== null) throw duplicate('expires');
      if (a === 'expires=max') expires = 'max';
      else {
        const ms = parseTime(a.slice(8), false);
        if (ms === null) throw new Error('"sticky" directive invalid "expires" parameter value');
        expires = Math.floor(ms / 1000);
      }
    } else if (a === 'httponly') {
      if (httpOnly) throw duplicate('httponly');
      httpOnly = true;
    } else if (a === 'secure') {
      if (secure) throw duplicate('secure');
      secure = true;
    } else if (a.startsWith('samesite=')) {
      if (sameSite !== null) throw duplicate('samesite');
      const v = a.slice(9);
      if (!v.includes('$') && !SAMESITE.test(v)) throw new Error('"sticky" directive invalid "samesite" parameter value');
      sameSite = compile(v);
    } else throw new Error(`unknown parameter "${a}"`);
  }
  return {
    kind: 'cookie', name, cookieValue: compile(`$cookie_${name}`), domain, path, httpOnly, secure, sameSite,
    expires: expires === 'max' ? MAX_EXPIRES : expires,
  };
}

/**
 * ngx_http_upstream_sticky_cookie_insert: NAME=ID, then expires, domain,
 * httponly, secure, samesite and path, in nginx's order and spelling. A
 * samesite from a variable that is no known value becomes `strict`.
 */
function stickyCookie(o: StickyCookie, id: string, request: BalancerRequest): string {
  let cookie = `${o.name}=${id}`;
  if (typeof o.expires === 'string') cookie += o.expires;
  else if (o.expires !== null) cookie += `; expires=${cookieTime(Math.floor(Date.now() / 1000) + o.expires)}; max-age=${o.expires}`;
  if (o.domain !== null) {
    const domain = request.evaluate(o.domain);
    if (domain !== '') cookie += '; domain=' + domain;
  }
  if (o.httpOnly) cookie += '; httponly';
  if (o.secure) cookie += '; secure';
  if (o.sameSite !== null) {
    let sameSite = request.evaluate(o.sameSite);
    if (sameSite !== '' && !SAMESITE.test(sameSite)) sameSite = 'strict';
    if (sameSite !== '') cookie += '; samesite=' + sameSite;
  }
  return cookie + o.path;
}

/** The id a cookie carries for a peer: its route, else the MD5 of its address (nginx's choice). */
export function stickyId(peer: Peer): string {
  return peer.server.route || createHash('md5').update(peer.address.name).digest('hex');
}

/** A store of this process alone (no zone host given): nginx's semantics, not shared. */
class ProcessSessions implements SessionStore {
  private readonly learned = new Map<string, { sid: string; at: number }>();
  constructor(private readonly now: () => number) {}
  lookup(key: string, timeout: number): string | null {
    const hit = this.learned.get(key);
    if (hit === undefined) return null;
    if (hit.at + timeout <= this.now()) { this.learned.delete(key); return null; }
    return hit.sid;
  }
  learn(key: string, sid: string, create: boolean, timeout: number): void {
    const hit = this.learned.get(key);
    if (hit !== undefined && hit.at + timeout > this.now()) { hit.sid = sid; hit.at = this.now(); return; }
    if (create) this.learned.set(key, { sid, at: this.now() });
    else if (hit !== undefined) this.learned.delete(key);
  }
}

/** Per upstream group: the ids of its peers and, for `learn`, where sessions are kept. */
export class StickyTable {
  /** Peers by id: one per table at most matters (a backup may share a primary's route). */
  private readonly byId = new Map<string, RoundRobinPeer[]>();
  private readonly store: SessionStore | null;

  constructor(readonly options: StickyOptions, peers: readonly RoundRobinPeer[], now: () => number, store?: SessionStore) {
    for (const p of peers) {
      // learn binds by the peer's sid, as nginx's (its route, else the MD5 of its address): stable across reloads.
      const id = options.kind === 'route' ? p.server.route : stickyId(p);
      if (!id) continue;
      const list = this.byId.get(id);
      if (list) list.push(p); else this.byId.set(id, [p]);
    }
    this.store = options.kind === 'learn' ? store ?? new ProcessSessions(now) : null;
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
    const sid = this.store!.lookup(key, o.timeout);
    return sid === null ? null : this.byId.get(sid) ?? null;
  }

  /**
   * ngx_http_upstream_sticky_learn_peer: the session is the `create` value
   * (a new one may be made), else the request's `lookup` value (only an
   * existing one is refreshed).
   */
  learn(request: BalancerRequest, peer: RoundRobinPeer): void {
    const o = this.options;
    if (o.kind !== 'learn') return;
    const created = request.evaluate(o.create);
    const key = created !== '' ? created : request.evaluate(o.lookup);
    if (key !== '') this.store!.learn(key, stickyId(peer), created !== '', o.timeout);
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
    // nginx sets the cookie on every pick, the one header rewritten by each try.
    const o = this.table.options;
    if (rc !== GetResult.Busy && o.kind === 'cookie' && pc.peer) {
      this.request.addResponseHeader?.('Set-Cookie', stickyCookie(o, stickyId(pc.peer), this.request));
    }
    return rc;
  }

  free(pc: PeerConnection, state: PeerState): void {
    const o = this.table.options;
    const peer = pc.peer as RoundRobinPeer | null;
    if (o.kind === 'learn' && !o.header && peer && state === PeerState.Ok) this.table.learn(this.request, peer);
    this.inner.free(pc, state);
  }

  notify(pc: PeerConnection): void {
    const o = this.table.options;
    const peer = pc.peer as RoundRobinPeer | null;
    if (o.kind === 'learn' && o.header && peer) this.table.learn(this.request, peer);
    (this.inner as PeerSession).notify?.(pc);
  }
}

export { peerUsable };
