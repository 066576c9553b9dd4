/**
 * Shared state that workers read on their hot path, where a round trip to the
 * master per decision (zone-host.ts, ~70 µs) would cost too much: the peer
 * connection counts of an upstream `zone` (least_conn, `random two`,
 * max_conns compare them), stub_status's connection counters, and the
 * sessions of `sticky learn`. docs/design.md ("Shared zones", "Replicated
 * zones") says why and what it costs.
 *
 * The model: every worker keeps a replica and decides on it synchronously;
 * it sends what it changed to the master, which keeps the one authoritative
 * copy and pushes the change to the other workers. A worker's own changes are
 * in its replica at once, so with one worker the decisions are exact; with
 * several, a worker sees the others' changes one IPC hop late.
 *
 * Two shapes:
 * - counter vectors (peer conns, stub_status): integers that workers add
 *   deltas to. Kept per generation, as nginx gives each cycle a fresh
 *   upstream zone (noreuse) and fresh stub_status counters
 *   (ngx_event_module_init allocates them per cycle). What a worker added is
 *   taken back when it dies, except the leading `keep` slots (accept and
 *   request counts stay counted, as in nginx).
 * - sticky session tables: session key → server id (the peer's sid) and the
 *   time it was last learned, kept by zone id across reloads (the sticky
 *   zone is reused), in the order of that time so expiring is from the front.
 */
import { slabSize, zoneCapacity } from './zone-host.js';

/** Worker → master. */
export type SharedRequest =
  | { readonly weir: 'shared'; readonly op: 'sub'; readonly key: string; readonly n: number; readonly keep: number }
  | { readonly weir: 'shared'; readonly op: 'add'; readonly key: string; readonly d: readonly number[] }
  | { readonly weir: 'shared'; readonly op: 'ssub'; readonly zone: string }
  | {
    readonly weir: 'shared'; readonly op: 'learn'; readonly zone: string; readonly key: string; readonly sid: string;
    readonly create: boolean; readonly timeout: number;
  };

/** Master → worker. */
export type SharedPush =
  /** Deltas to a counter vector: pairs of (slot, delta). */
  | { readonly weir: 'shared-add'; readonly key: string; readonly d: readonly number[] }
  /** Sessions set (triples key, sid, last) and deleted (keys), in that order. */
  | { readonly weir: 'shared-sticky'; readonly zone: string; readonly set: readonly (string | number)[]; readonly del: readonly string[] };

export function isSharedRequest(m: unknown): m is SharedRequest {
  const o = m as { weir?: unknown; op?: unknown } | null;
  if (o?.weir !== 'shared') return false;
  const r = m as Record<string, unknown>;
  switch (o.op) {
    case 'sub': return typeof r.key === 'string' && Number.isInteger(r.n) && Number.isInteger(r.keep);
    case 'add': return typeof r.key === 'string' && Array.isArray(r.d);
    case 'ssub': return typeof r.zone === 'string';
    case 'learn':
      return typeof r.zone === 'string' && typeof r.key === 'string' && typeof r.sid === 'string'
        && typeof r.create === 'boolean' && typeof r.timeout === 'number';
    default: return false;
  }
}

export function isSharedPush(m: unknown): m is SharedPush {
  const w = (m as { weir?: unknown } | null)?.weir;
  return w === 'shared-add' || w === 'shared-sticky';
}

/** The most slots a counter vector may have (a malformed `sub` must not make the master allocate without bound). */
const MAX_SLOTS = 1 << 16;

interface CounterVector {
  readonly total: number[];
  readonly keep: number;
  /** What each holder added, to take back when it goes. */
  readonly byHolder: Map<number, number[]>;
}

/** ngx_http_upstream_sticky_sess_node_t: two rbtree nodes, the md5, last, the sid. */
const STICKY_NODE = slabSize(40 + 40 + 16 + 8 + 1 + 32);

export interface Session {
  sid: string;
  last: number;
}

export interface LearnResult {
  /** The session now stored under the key, or null when nothing was stored. */
  readonly stored: Session | null;
  /** Keys deleted to make room (nginx expires the least recently used). */
  readonly evicted: readonly string[];
  /** The zone was full even after evicting: nginx's "could not allocate node" at alert. */
  readonly nomem: boolean;
}

/**
 * One `sticky learn` zone: ngx_http_upstream_sticky_sess_t's trees, as a Map
 * in the order sessions were last learned (the expiry tree's order).
 */
export class StickySessions {
  readonly sessions = new Map<string, Session>();
  constructor(readonly capacity: number) {}

  /** Deletes what expired (last + timeout <= now, nginx's timer condition) from the old end; returns the keys. */
  expire(now: number, timeout: number, out: string[] | null): void {
    for (const [key, s] of this.sessions) {
      if (s.last + timeout > now) return;
      this.sessions.delete(key);
      out?.push(key);
    }
  }

  /** The sid a key is bound to (nginx's lookup under the lock: no refresh), or null. */
  lookup(key: string, now: number, timeout: number): string | null {
    const s = this.sessions.get(key);
    if (s === undefined) return null;
    if (s.last + timeout <= now) { this.expire(now, timeout, null); return null; }
    return s.sid;
  }

  /**
   * ngx_http_upstream_sticky_learn_peer: a known key is moved to `sid` and
   * refreshed; an unknown one is created only when the key came from the
   * `create` variables.
   */
  learn(key: string, sid: string, create: boolean, now: number, timeout: number): LearnResult {
    const evicted: string[] = [];
    this.expire(now, timeout, evicted);
    const s = this.sessions.get(key);
    if (s !== undefined) {
      this.sessions.delete(key);
      s.sid = sid;
      s.last = now;
      this.sessions.set(key, s);
      return { stored: s, evicted, nomem: false };
    }
    if (!create) return { stored: null, evicted, nomem: false };
    if ((this.sessions.size + 1) * STICKY_NODE > this.capacity) {
      // The least recently learned goes first (nginx's forced expire of one node).
      const oldest = this.sessions.keys().next();
      if (!oldest.done) { this.sessions.delete(oldest.value); evicted.push(oldest.value); }
      if ((this.sessions.size + 1) * STICKY_NODE > this.capacity) return { stored: null, evicted, nomem: true };
    }
    const n = { sid, last: now };
    this.sessions.set(key, n);
    return { stored: n, evicted, nomem: false };
  }

  /** A replica applies what the master decided. */
  apply(set: readonly (string | number)[], del: readonly string[]): void {
    for (let i = 0; i + 2 < set.length; i += 3) {
      const key = String(set[i]);
      this.sessions.delete(key);
      this.sessions.set(key, { sid: String(set[i + 1]), last: Number(set[i + 2]) });
    }
    for (const key of del) this.sessions.delete(key);
  }

  /** Every session, as `apply` takes them. */
  snapshot(): (string | number)[] {
    const out: (string | number)[] = [];
    for (const [key, s] of this.sessions) out.push(key, s.sid, s.last);
    return out;
  }
}

/** A sticky zone's id carries its size: `name:size` (another size after a reload is another zone, as in nginx). */
export function stickyZoneId(name: string, size: number): string {
  return `${size}:${name}`;
}

function stickyCapacity(id: string): number {
  const size = Number(id.slice(0, id.indexOf(':')));
  return Number.isFinite(size) && size > 0 ? zoneCapacity(size) : 0;
}

/**
 * The master's copy. `send` delivers a push to one worker (a worker that is
 * gone is skipped by the caller). Holders are cluster worker ids.
 */
export class SharedStateHost {
  /** generation → key → vector. */
  private readonly vectors = new Map<number, Map<string, CounterVector>>();
  /** Who subscribed to what: holder → its generation and keys. */
  private readonly holders = new Map<number, { generation: number; keys: Set<string>; zones: Set<string> }>();
  private readonly sticky = new Map<string, { table: StickySessions; subscribers: Set<number> }>();
  now: () => number = Date.now;

  constructor(private readonly send: (holder: number, m: SharedPush) => void) {}

  private holder(holder: number, generation: number): { generation: number; keys: Set<string>; zones: Set<string> } {
    let h = this.holders.get(holder);
    if (h === undefined) { h = { generation, keys: new Set(), zones: new Set() }; this.holders.set(holder, h); }
    return h;
  }

  /** A message from a worker of `generation`. Malformed content is ignored, never thrown. */
  handle(holder: number, generation: number, m: SharedRequest): void {
    try {
      switch (m.op) {
        case 'sub': return this.subscribe(holder, generation, m.key, m.n, m.keep);
        case 'add': return this.add(holder, generation, m.key, m.d);
        case 'ssub': return this.stickySubscribe(holder, generation, m.zone);
        case 'learn': return this.learn(m.zone, m.key, m.sid, m.create, m.timeout);
      }
    } catch {
      // A worker is trusted; a broken message must still not stop the master.
    }
  }

  private subscribe(holder: number, generation: number, key: string, n: number, keep: number): void {
    if (n < 0 || n > MAX_SLOTS) return;
    let byKey = this.vectors.get(generation);
    if (byKey === undefined) { byKey = new Map(); this.vectors.set(generation, byKey); }
    let v = byKey.get(key);
    if (v === undefined) {
      v = { total: new Array<number>(n).fill(0), keep: Math.max(0, Math.min(keep, n)), byHolder: new Map() };
      byKey.set(key, v);
    }
    this.holder(holder, generation).keys.add(key);
    if (!v.byHolder.has(holder)) v.byHolder.set(holder, new Array<number>(v.total.length).fill(0));
    // What the others added so far: a worker that starts (or is respawned) late sees it.
    const d: number[] = [];
    for (let i = 0; i < v.total.length; i++) if (v.total[i] !== 0) d.push(i, v.total[i]);
    if (d.length > 0) this.send(holder, { weir: 'shared-add', key, d });
  }

  private add(holder: number, generation: number, key: string, d: readonly number[]): void {
    const v = this.vectors.get(generation)?.get(key);
    const mine = v?.byHolder.get(holder);
    if (v === undefined || mine === undefined) return;
    const clean: number[] = [];
    for (let i = 0; i + 1 < d.length; i += 2) {
      const slot = d[i];
      const delta = d[i + 1];
      if (!Number.isInteger(slot) || slot < 0 || slot >= v.total.length || !Number.isFinite(delta) || delta === 0) continue;
      v.total[slot] += delta;
      mine[slot] += delta;
      clean.push(slot, delta);
    }
    if (clean.length === 0) return;
    const push: SharedPush = { weir: 'shared-add', key, d: clean };
    for (const other of v.byHolder.keys()) if (other !== holder) this.send(other, push);
  }

  private stickySubscribe(holder: number, generation: number, zone: string): void {
    let z = this.sticky.get(zone);
    if (z === undefined) {
      const capacity = stickyCapacity(zone);
      if (capacity === 0) return;
      z = { table: new StickySessions(capacity), subscribers: new Set() };
      this.sticky.set(zone, z);
    }
    z.subscribers.add(holder);
    this.holder(holder, generation).zones.add(zone);
    const set = z.table.snapshot();
    // Always answered: the worker waits for its snapshot before it listens.
    this.send(holder, { weir: 'shared-sticky', zone, set, del: [] });
  }

  private learn(zone: string, key: string, sid: string, create: boolean, timeout: number): void {
    const z = this.sticky.get(zone);
    if (z === undefined || !(timeout > 0)) return;
    const r = z.table.learn(key, sid, create, this.now(), timeout);
    if (r.stored === null && r.evicted.length === 0) return;
    const set = r.stored !== null ? [key, r.stored.sid, r.stored.last] : [];
    const push: SharedPush = { weir: 'shared-sticky', zone, set, del: r.evicted };
    // The learner too: its own replica took the worker's clock; the master's order wins.
    for (const h of z.subscribers) this.send(h, push);
  }

  /** A worker is gone: what it added to counter vectors is taken back (but the kept slots). */
  holderGone(holder: number): void {
    const h = this.holders.get(holder);
    if (h === undefined) return;
    this.holders.delete(holder);
    for (const zone of h.zones) this.sticky.get(zone)?.subscribers.delete(holder);
    const byKey = this.vectors.get(h.generation);
    if (byKey === undefined) return;
    for (const key of h.keys) {
      const v = byKey.get(key);
      const mine = v?.byHolder.get(holder);
      if (v === undefined || mine === undefined) continue;
      v.byHolder.delete(holder);
      const d: number[] = [];
      for (let i = v.keep; i < mine.length; i++) {
        if (mine[i] === 0) continue;
        v.total[i] -= mine[i];
        d.push(i, -mine[i]);
      }
      if (d.length > 0) for (const other of v.byHolder.keys()) this.send(other, { weir: 'shared-add', key, d });
    }
  }

  /**
   * A generation ended (its last worker exited and none will be respawned):
   * its vectors go. Not at its last holder's exit: a respawned worker joins
   * the same counts (the kept slots stay counted, as nginx's do).
   */
  dropGeneration(generation: number): void {
    this.vectors.delete(generation);
  }

  /** Tests and status: a vector's total. */
  total(generation: number, key: string): readonly number[] | null {
    return this.vectors.get(generation)?.get(key)?.total ?? null;
  }
}
