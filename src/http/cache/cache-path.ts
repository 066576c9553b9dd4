/**
 * `proxy_cache_path` (and `fastcgi_cache_path`): ngx_http_file_cache_set_slot.
 *
 *   proxy_cache_path PATH [levels=1:2] [use_temp_path=on|off]
 *       keys_zone=NAME:SIZE [inactive=10m] [max_size=SIZE] [min_free=SIZE]
 *       [manager_files=N] [manager_sleep=T] [manager_threshold=T]
 *       [loader_files=N] [loader_sleep=T] [loader_threshold=T];
 *
 * Every parameter nginx's open source build knows is parsed and used (the
 * loader and manager read theirs in cache-zone.ts); any other is nginx's
 * "invalid parameter". The keys zone is a shared memory zone name like
 * limit_req's (shm-zone.ts), so one name cannot serve two uses; the
 * directory is a cycle path, created once the config is read.
 */
import type { ConfContext, ConfCycle } from '../../config/conf-context.js';
import type { ConfNode } from '../../config/parser.js';
import { parseNumber, parseOffset, parseSize, parseTime } from '../../config/units.js';
import { sharedZone } from '../../zone/shm-zone.js';
import { httpCoreModule } from '../core-module.js';
import { writersSettled } from './entry-writer.js';

export interface CachePathConf {
  /** Absolute, without a trailing `/`. */
  readonly dir: string;
  /** Characters of the MD5's tail per directory level (1 or 2 each, at most 3 levels). */
  readonly levels: readonly number[];
  readonly useTempPath: boolean;
  readonly zoneName: string;
  readonly zoneSize: number;
  /** ms */
  readonly inactive: number;
  /** Bytes; Infinity: no limit. */
  readonly maxSize: number;
  readonly minFree: number;
  readonly loaderFiles: number;
  readonly loaderSleep: number;
  readonly loaderThreshold: number;
  readonly managerFiles: number;
  readonly managerSleep: number;
  readonly managerThreshold: number;
  /** Where it was declared, for the loader's and manager's log lines. */
  readonly position: string;
}

const PAGE = 4096;
/** How long a stop waits for entries being written (a writer never ended must not hold it). */
const STOP_WAIT_MS = 2000;

const tables = new WeakMap<ConfCycle, Map<string, CachePathConf>>();

/** The config's cache paths by zone name (every protocol's `*_cache_path` shares the names, as nginx's zones). */
export function cachePaths(cf: ConfContext): Map<string, CachePathConf> {
  let t = tables.get(cf.cycle);
  if (t === undefined) { t = new Map(); tables.set(cf.cycle, t); }
  return t;
}

/** Parses one `*_cache_path` directive into the config's table (cachePaths). */
export function parseCachePath(cf: ConfContext, d: ConfNode): CachePathConf {
  const declared = cachePaths(cf);
  const v = d.args;
  let dir = v[0];
  if (dir.length > 1 && dir.endsWith('/')) dir = dir.slice(0, -1);
  dir = cf.fullPath(dir);
  let levels: number[] = [];
  let useTempPath = true;
  let zoneName = '';
  let zoneSize = 0;
  let inactive = 600_000;
  let maxSize = Infinity;
  let minFree = 0;
  let loaderFiles = 100, loaderSleep = 50, loaderThreshold = 200;
  let managerFiles = 100, managerSleep = 50, managerThreshold = 200;
  const count = (arg: string, what: string): number => {
    const n = parseNumber(arg.slice(what.length + 1));
    if (n === null) return cf.error(`invalid ${what} value "${arg}"`);
    return n;
  };
  const msec = (arg: string, what: string): number => {
    const n = parseTime(arg.slice(what.length + 1));
    if (n === null) return cf.error(`invalid ${what} value "${arg}"`);
    return n;
  };
  for (let i = 1; i < v.length; i++) {
    const a = v[i];
    if (a.startsWith('levels=')) { levels = parseLevels(cf, a); continue; }
    if (a.startsWith('use_temp_path=')) {
      const f = a.slice(14);
      if (f !== 'on' && f !== 'off') return cf.error(`invalid use_temp_path value "${a}", it must be "on" or "off"`);
      useTempPath = f === 'on';
      continue;
    }
    if (a.startsWith('keys_zone=')) {
      const spec = a.slice(10);
      const colon = spec.indexOf(':');
      if (colon < 0) return cf.error(`invalid keys zone size "${a}"`);
      const size = parseSize(spec.slice(colon + 1));
      if (size === null) return cf.error(`invalid keys zone size "${a}"`);
      if (size < 2 * PAGE) return cf.error(`keys zone "${a}" is too small`);
      zoneName = spec.slice(0, colon);
      zoneSize = size;
      continue;
    }
    if (a.startsWith('inactive=')) {
      // ngx_parse_time(.., 1): seconds, so `ms` is invalid.
      const t = parseTime(a.slice(9), false);
      if (t === null) return cf.error(`invalid inactive value "${a}"`);
      inactive = t;
      continue;
    }
    if (a.startsWith('max_size=')) {
      const n = parseOffset(a.slice(9));
      if (n === null) return cf.error(`invalid max_size value "${a}"`);
      maxSize = n;
      continue;
    }
    if (a.startsWith('min_free=')) {
      const n = parseOffset(a.slice(9));
      if (n === null) return cf.error(`invalid min_free value "${a}"`);
      minFree = n;
      continue;
    }
    if (a.startsWith('loader_files=')) { loaderFiles = count(a, 'loader_files'); continue; }
    if (a.startsWith('loader_sleep=')) { loaderSleep = msec(a, 'loader_sleep'); continue; }
    if (a.startsWith('loader_threshold=')) { loaderThreshold = msec(a, 'loader_threshold'); continue; }
    if (a.startsWith('manager_files=')) { managerFiles = count(a, 'manager_files'); continue; }
    if (a.startsWith('manager_sleep=')) { managerSleep = msec(a, 'manager_sleep'); continue; }
    if (a.startsWith('manager_threshold=')) { managerThreshold = msec(a, 'manager_threshold'); continue; }
    return cf.error(`invalid parameter "${a}"`);
  }
  if (zoneName === '' || zoneSize === 0) return cf.error(`"${d.name}" must have "keys_zone" parameter`);
  const zone = sharedZone(cf, zoneName, zoneSize, 'cache');
  if (zone.data !== null || declared.has(zoneName)) return cf.error(`duplicate zone "${zoneName}"`);
  for (const other of declared.values()) {
    if (other.dir === dir) return cf.error(`duplicate "${dir}"`);
  }
  const conf: CachePathConf = {
    dir, levels, useTempPath, zoneName, zoneSize, inactive, maxSize, minFree,
    loaderFiles, loaderSleep, loaderThreshold, managerFiles, managerSleep, managerThreshold,
    position: `${cf.position?.file ?? ''}:${cf.position?.line ?? 0}`,
  };
  zone.data = conf;
  // A stop waits for the entries still being written (once per config).
  if (declared.size === 0) cf.main(httpCoreModule).stopHooks.push(() => writersSettled(STOP_WAIT_MS));
  declared.set(zoneName, conf);
  cf.cycle.addTempPath(dir);
  return conf;
}

/** `levels=1:2`: up to three levels of 1 or 2 characters (ngx_http_file_cache_set_slot's loop). */
function parseLevels(cf: ConfContext, arg: string): number[] {
  const spec = arg.slice(7);
  const parts = spec.split(':');
  if (spec === '' || parts.length > 3 || parts.some((p) => p !== '1' && p !== '2')) {
    return cf.error(`invalid "levels" "${arg}"`);
  }
  return parts.map(Number);
}
