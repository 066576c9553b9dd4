/**
 * The config side of shared zones (ngx_shared_memory_add and the checks
 * ngx_init_cycle makes): one table of zone names per config, each with the
 * module that owns it and its size. The state itself lives in the zone host
 * (src/zone/zone-host.ts).
 *
 *   limit_req_zone $key zone=one:1m ...   declares `one` with a size
 *   limit_req zone=one ...                refers to it (size 0: declared elsewhere)
 *
 * A name used by two modules is "already declared for a different use"; a
 * name referred to but never given a size is a "zero size shared memory zone"
 * once the config is read (ngx_init_cycle's check, without a position).
 */
import type { ConfCycle, ConfContext } from '../config/conf-context.js';
import { parseSize } from '../config/units.js';
import { zoneId, type ZoneKind } from './zone-host.js';

export interface ShmZone {
  readonly name: string;
  readonly kind: ZoneKind;
  /** Bytes; 0 until a declaration gives it. */
  size: number;
  /** What the declaring module keeps with it (the key): nginx's shm_zone->data. */
  data: unknown;
  /** The zone host's id, fixed once the size is known (see finishShmZones). */
  id: string;
}

const tables = new WeakMap<ConfCycle, Map<string, ShmZone>>();

function table(cf: ConfContext): Map<string, ShmZone> {
  let t = tables.get(cf.cycle);
  if (t === undefined) { t = new Map(); tables.set(cf.cycle, t); }
  return t;
}

/** ngx_shared_memory_add: the zone `name` of `kind`, created or found. */
export function sharedZone(cf: ConfContext, name: string, size: number, kind: ZoneKind): ShmZone {
  const t = table(cf);
  const z = t.get(name);
  if (z === undefined) {
    const zone: ShmZone = { name, kind, size, data: null, id: '' };
    t.set(name, zone);
    return zone;
  }
  if (z.kind !== kind) cf.error(`the shared memory zone "${name}" is already declared for a different use`);
  if (size && z.size && size !== z.size) {
    cf.error(`the size ${size} of shared memory zone "${name}" conflicts with already declared size ${z.size}`);
  }
  if (size && !z.size) z.size = size;
  return z;
}

/**
 * The `zone=name:size` argument of limit_req_zone and limit_conn_zone
 * (value is the whole argument, for the messages).
 */
export function parseZoneArg(cf: ConfContext, value: string): { name: string; size: number } {
  const spec = value.slice(5);
  const colon = spec.indexOf(':');
  if (colon < 0) return cf.error(`invalid zone size "${value}"`);
  const size = parseSize(spec.slice(colon + 1));
  if (size === null) return cf.error(`invalid zone size "${value}"`);
  // nginx: at least 8 pages.
  if (size < 8 * 4096) return cf.error(`zone "${value}" is too small`);
  return { name: spec.slice(0, colon), size };
}

/** ngx_init_cycle's check, once the config is read: every zone has a size. Fixes the ids. */
export function finishShmZones(cf: ConfContext): void {
  const t = tables.get(cf.cycle);
  if (t === undefined) return;
  for (const z of t.values()) {
    if (z.size === 0) cf.error(`zero size shared memory zone "${z.name}"`, null);
    z.id = zoneId(z.kind, z.name, z.size);
  }
}

/** The levels `limit_req_log_level` and `limit_conn_log_level` take. */
export type LimitLogLevel = 'info' | 'notice' | 'warn' | 'error';
export const LIMIT_LOG_LEVELS: readonly LimitLogLevel[] = ['info', 'notice', 'warn', 'error'];

/** The location settings limit_req and limit_conn share: their limits, refusal status, log level, dry run. */
export interface LimitLocConf<L> {
  limits?: L[];
  status?: number;
  logLevel?: LimitLogLevel;
  dryRun?: boolean;
}

/** Both modules inherit each setting whole, with nginx's defaults (503, `error`, off). */
export function mergeLimitLoc<L>(p: LimitLocConf<L>, c: LimitLocConf<L>): void {
  c.limits ??= p.limits ?? [];
  c.status ??= p.status ?? 503;
  c.logLevel ??= p.logLevel ?? 'error';
  c.dryRun ??= p.dryRun ?? false;
}
