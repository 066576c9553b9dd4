/**
 * weir's shared zones: the one copy of the state nginx keeps in shared memory
 * (ngx_shm_zone_t + its slab pool), shared by every worker and kept across
 * reloads. It lives in the master process (or, under `master_process off`,
 * in the one process); workers ask it over the cluster IPC channel
 * (zone-client.ts). docs/design.md ("Shared zones") says why this and not a
 * mapped file, what a decision costs, and how it fails.
 *
 * Each operation is one synchronous call here, so it sees and changes the
 * zone atomically, as nginx's code does under the zone's mutex; the master
 * runs them one at a time, in the order they arrive.
 *
 * Zones are named as nginx names them (`zone=one:1m`) but kept by kind, name
 * and size: a reload that keeps all three keeps the state (ngx_init_cycle
 * reuses a zone of the same name, size and tag), any change starts afresh;
 * the old generation keeps its own zone until it exits.
 *
 * Capacity: nginx's slab allocator fits nodes of a size class into 4 KiB
 * pages. weir counts bytes the same way (a node takes its size rounded up to
 * a power of two, at least 8; the zone has its size less the pool's header
 * and a page descriptor per page), so a zone holds about as many keys as
 * nginx's and fills up at about the same point. It is a model, not a copy of
 * the slab allocator: the exact key count at which a zone is full may differ
 * by a few per cent.
 */

const PAGE = 4096;
/** ngx_slab_pool_t and its slots, roughly, on 64-bit. */
const POOL_HEADER = 200 + 9 * 24;
/** ngx_slab_page_t: one per page. */
const PAGE_DESCRIPTOR = 24;
/** offsetof(ngx_rbtree_node_t, color) on 64-bit. */
const RBTREE_NODE = 32;
/** offsetof(ngx_http_limit_req_node_t, data). */
const LIMIT_REQ_NODE = 48;
/** offsetof(ngx_http_limit_conn_node_t, data). */
const LIMIT_CONN_NODE = 4;

/** The bytes a slab allocation of `size` takes. */
export function slabSize(size: number): number {
  if (size > PAGE / 2) return Math.ceil(size / PAGE) * PAGE;
  let s = 8;
  while (s < size) s <<= 1;
  return s;
}

/** The bytes a zone of `size` has for nodes. */
export function zoneCapacity(size: number): number {
  const pages = Math.floor((size - POOL_HEADER) / (PAGE + PAGE_DESCRIPTOR));
  // One page goes to the zone's own header (rbtree, queue: ctx->sh).
  return Math.max(0, pages - 1) * PAGE;
}

interface ReqNode {
  /** Thousandths of a request (nginx's lr->excess). */
  excess: number;
  /** ms (nginx's lr->last). */
  last: number;
}

/** A limit_req_zone's state: nodes by key, oldest first (Map order is nginx's LRU queue, tail first). */
export class LimitReqZone {
  readonly nodes = new Map<string, ReqNode>();
  used = 0;
  constructor(readonly name: string, readonly capacity: number) {}

  private nodeBytes(key: string): number {
    return slabSize(RBTREE_NODE + LIMIT_REQ_NODE + key.length);
  }

  /**
   * ngx_http_limit_req_expire: n 1 deletes up to two idle entries from the
   * old end (idle: a minute unused and drained); n 0 first deletes the oldest
   * whatever it is.
   */
  expire(now: number, n: number, rate: number): void {
    while (n < 3) {
      const first = this.nodes.entries().next();
      if (first.done) return;
      const [key, lr] = first.value;
      if (n++ !== 0) {
        const ms = Math.abs(now - lr.last);
        if (ms < 60000) return;
        if (lr.excess - Math.floor(rate * ms / 1000) > 0) return;
      }
      this.nodes.delete(key);
      this.used -= this.nodeBytes(key);
    }
  }

  /** A new node, or null when the zone is full even after expiring. */
  allocate(key: string, now: number, rate: number): ReqNode | null {
    const bytes = this.nodeBytes(key);
    this.expire(now, 1, rate);
    if (this.used + bytes > this.capacity) {
      this.expire(now, 0, rate);
      if (this.used + bytes > this.capacity) return null;
    }
    const node = { excess: 0, last: now };
    this.nodes.set(key, node);
    this.used += bytes;
    return node;
  }
}

/** One limit_req of a location, as the worker sends it. */
export interface LimitReqLimit {
  readonly zone: string;
  /** The evaluated key; '' skips the limit (nginx: an empty key is not limited). */
  readonly key: string;
  /** Thousandths (burst * 1000). */
  readonly burst: number;
  /** Thousandths (delay * 1000); nodelay is a huge value. */
  readonly delay: number;
  /** Requests per second * 1000 (nginx's ctx->rate). */
  readonly rate: number;
}

export const LIMIT_REQ_DECLINED = 0;
export const LIMIT_REQ_BUSY = 1;
export const LIMIT_REQ_NOMEM = 2;
export const LIMIT_REQ_PASS = 3;

export interface LimitReqDecision {
  /** LIMIT_REQ_*. */
  readonly rc: number;
  /** Thousandths: the excess logged. */
  readonly excess: number;
  /** The index of the limit the log line names. */
  readonly limit: number;
  /** ms to delay the request (0: none). */
  readonly delay: number;
}

function elapsed(now: number, last: number): number {
  const ms = now - last;
  // A clock stepped back: nginx's guards.
  if (ms < -60000) return 1;
  return ms < 0 ? 0 : ms;
}

/** ngx_http_limit_req_handler + lookup + account, as one atomic step over every limit of a location. */
export function decideLimitReq(zones: (name: string) => LimitReqZone, limits: readonly LimitReqLimit[], now: number): LimitReqDecision {
  let rc = LIMIT_REQ_DECLINED;
  let excess = 0;
  let n = 0;
  // The nodes looked at but not yet accounted (nginx's ctx->node with lr->count held).
  const held: (ReqNode | null)[] = [];
  for (; n < limits.length; n++) {
    held.push(null);
    const limit = limits[n];
    if (limit.key === '') continue;
    const zone = zones(limit.zone);
    const account = n === limits.length - 1;
    let lr = zone.nodes.get(limit.key);
    if (lr !== undefined) {
      zone.nodes.delete(limit.key);
      zone.nodes.set(limit.key, lr);
      const ms = elapsed(now, lr.last);
      excess = Math.max(0, lr.excess - Math.floor(limit.rate * ms / 1000) + 1000);
      if (excess > limit.burst) { rc = LIMIT_REQ_BUSY; break; }
      if (account) {
        lr.excess = excess;
        if (ms) lr.last = now;
        rc = LIMIT_REQ_PASS;
        break;
      }
      held[n] = lr;
      rc = -1;
      continue;
    }
    excess = 0;
    lr = zone.allocate(limit.key, now, limit.rate) ?? undefined;
    if (lr === undefined) { rc = LIMIT_REQ_NOMEM; break; }
    if (account) { rc = LIMIT_REQ_PASS; break; }
    // nginx's lr->last = 0: charged below as if idle for ever, so a new key starts drained.
    lr.last = 0;
    held[n] = lr;
    rc = -1;
  }
  if (rc === LIMIT_REQ_DECLINED) return { rc, excess: 0, limit: 0, delay: 0 };
  if (rc === LIMIT_REQ_BUSY || rc === LIMIT_REQ_NOMEM) return { rc, excess, limit: n, delay: 0 };
  // rc -1 is nginx's NGX_AGAIN: the loop ran out on limits that were all held (the last key was empty).
  if (rc === -1) { excess = 0; n = limits.length - 1; }
  // ngx_http_limit_req_account: charge the held nodes, find the longest delay.
  let limit = n;
  let maxDelay = excess <= limits[n].delay ? 0 : Math.floor((excess - limits[n].delay) * 1000 / limits[n].rate);
  for (let i = n; i-- > 0;) {
    const lr = held[i];
    if (lr === null) continue;
    const l = limits[i];
    const ms = elapsed(now, lr.last);
    const e = Math.max(0, lr.excess - Math.floor(l.rate * ms / 1000) + 1000);
    if (ms) lr.last = now;
    lr.excess = e;
    if (e <= l.delay) continue;
    const delay = Math.floor((e - l.delay) * 1000 / l.rate);
    if (delay > maxDelay) { maxDelay = delay; excess = e; limit = i; }
  }
  return { rc: LIMIT_REQ_PASS, excess, limit, delay: maxDelay };
}

/** A limit_conn_zone's state: connections per key; a key at 0 is deleted. */
export class LimitConnZone {
  readonly counts = new Map<string, number>();
  used = 0;
  constructor(readonly name: string, readonly capacity: number) {}

  nodeBytes(key: string): number {
    return slabSize(RBTREE_NODE + LIMIT_CONN_NODE + key.length);
  }
}

export interface LimitConnLimit {
  readonly zone: string;
  readonly key: string;
  readonly conn: number;
}

export const LIMIT_CONN_PASSED = 0;
export const LIMIT_CONN_REJECTED = 1;
export const LIMIT_CONN_NOMEM = 2;

export interface LimitConnDecision {
  /** LIMIT_CONN_*. */
  readonly rc: number;
  /** The index of the limit that refused. */
  readonly limit: number;
}

/** A zone's kind: a name used for two kinds is a config error (checked when the config is read). */
export type ZoneKind = 'limit_req' | 'limit_conn' | 'upstream' | 'sticky' | 'cache';

/** The id a worker names a zone by: kind, name and size, so a reload that changes the size gets a new zone. */
export function zoneId(kind: ZoneKind, name: string, size: number): string {
  return `${kind}:${size}:${name}`;
}

function parseZoneId(id: string): { kind: string; size: number; name: string } {
  const a = id.indexOf(':');
  const b = id.indexOf(':', a + 1);
  return { kind: id.slice(0, a), size: Number(id.slice(a + 1, b)), name: id.slice(b + 1) };
}

/** What a holder (a worker's request) took in limit_conn zones. */
type Holding = Array<readonly [LimitConnZone, string]>;

/**
 * The zones of one master (or of a single process), and who holds what in
 * them: limit_conn counts are owned by (holder, handle) so a worker that dies
 * gives back what its requests held (nginx leaks those counts).
 */
export class ZoneHost {
  private readonly reqZones = new Map<string, LimitReqZone>();
  private readonly connZones = new Map<string, LimitConnZone>();
  private readonly holdings = new Map<number, Map<number, Holding>>();
  /** The clock decisions use: one clock for every worker. */
  now: () => number = Date.now;

  private readonly reqZone = (id: string): LimitReqZone => {
    let z = this.reqZones.get(id);
    if (z === undefined) {
      const { name, size } = parseZoneId(id);
      z = new LimitReqZone(name, zoneCapacity(size));
      this.reqZones.set(id, z);
    }
    return z;
  };

  private connZone(id: string): LimitConnZone {
    let z = this.connZones.get(id);
    if (z === undefined) {
      const { name, size } = parseZoneId(id);
      z = new LimitConnZone(name, zoneCapacity(size));
      this.connZones.set(id, z);
    }
    return z;
  }

  limitReq(limits: readonly LimitReqLimit[]): LimitReqDecision {
    return decideLimitReq(this.reqZone, limits, this.now());
  }

  /**
   * ngx_http_limit_conn_handler: counts one more connection for each key
   * (empty keys skipped) unless one is at its limit or its zone is full; a
   * refusal gives back what this call took (ngx_http_limit_conn_cleanup_all).
   * What was taken is held under (holder, handle) until release().
   */
  limitConnAcquire(holder: number, handle: number, limits: readonly LimitConnLimit[]): LimitConnDecision {
    const taken: Holding = [];
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i];
      if (l.key === '') continue;
      const zone = this.connZone(l.zone);
      const count = zone.counts.get(l.key);
      if (count === undefined) {
        const bytes = zone.nodeBytes(l.key);
        if (zone.used + bytes > zone.capacity) {
          this.giveBack(taken);
          return { rc: LIMIT_CONN_NOMEM, limit: i };
        }
        zone.used += bytes;
        zone.counts.set(l.key, 1);
      } else if (count >= l.conn) {
        this.giveBack(taken);
        return { rc: LIMIT_CONN_REJECTED, limit: i };
      } else {
        zone.counts.set(l.key, count + 1);
      }
      taken.push([zone, l.key]);
    }
    if (taken.length > 0) {
      let byHandle = this.holdings.get(holder);
      if (byHandle === undefined) { byHandle = new Map(); this.holdings.set(holder, byHandle); }
      byHandle.set(handle, taken);
    }
    return { rc: LIMIT_CONN_PASSED, limit: 0 };
  }

  /** ngx_http_limit_conn_cleanup: the request ended. An unknown handle (nothing taken) is fine. */
  limitConnRelease(holder: number, handle: number): void {
    const byHandle = this.holdings.get(holder);
    const taken = byHandle?.get(handle);
    if (taken === undefined) return;
    byHandle!.delete(handle);
    this.giveBack(taken);
  }

  /** A worker is gone: everything its requests held is given back. */
  holderGone(holder: number): void {
    const byHandle = this.holdings.get(holder);
    if (byHandle === undefined) return;
    this.holdings.delete(holder);
    for (const taken of byHandle.values()) this.giveBack(taken);
  }

  /** Connections counted for a key (tests and status). */
  connections(id: string, key: string): number {
    return this.connZones.get(id)?.counts.get(key) ?? 0;
  }

  private giveBack(taken: Holding): void {
    for (const [zone, key] of taken) {
      const count = zone.counts.get(key)!;
      if (count > 1) { zone.counts.set(key, count - 1); continue; }
      zone.counts.delete(key);
      zone.used -= zone.nodeBytes(key);
    }
  }
}
