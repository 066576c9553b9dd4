/**
 * The `*_cache*` location directives, declared once and instantiated per
 * protocol prefix (`proxy_`, `fastcgi_`), as nginx's modules each carry the
 * cache part of ngx_http_upstream_conf_t:
 *
 *   *_cache off | ZONE | $var      *_cache_key STRING
 *   *_cache_valid [CODE ...|any] TIME           *_cache_min_uses N
 *   *_cache_methods GET HEAD POST               *_cache_bypass / *_no_cache STRING ...
 *   *_cache_use_stale error timeout invalid_header updating http_5xx ... | off
 *   *_cache_background_update, *_cache_lock (+ _timeout, _age),
 *   *_cache_revalidate, *_cache_convert_head, *_cache_max_range_offset
 *
 *   *_cache_path PATH keys_zone=NAME:SIZE ...   (http; cache-path.ts)
 *
 * Merging follows ngx_http_proxy_merge_loc_conf and its FastCGI twin:
 * `use_stale error` brings `nolive`, GET and HEAD are always cacheable
 * methods, the key defaults to the protocol's (proxy:
 * $scheme$proxy_host$request_uri; FastCGI has none, so a cache without
 * `fastcgi_cache_key` is an error). FastCGI has no `_cache_convert_head`:
 * its HEAD goes upstream as HEAD.
 */
import type { ConfContext } from '../../config/conf-context.js';
import { Ctx, HTTP_MAIN_SRV_LOC, type DirectiveSpec } from '../../config/module.js';
import type { ConfNode } from '../../config/parser.js';
import { inherit, setBitmask, setFlag, setMsec, setNumber, setOffset } from '../../config/slots.js';
import { parseTime } from '../../config/units.js';
import { FT } from '../../upstream/failure.js';
import { httpCoreModule } from '../core-module.js';
import { sharedZone } from '../../zone/shm-zone.js';
import type { ComplexValue } from '../variables.js';
import { cachePaths, parseCachePath, type CachePathConf } from './cache-path.js';

/** proxy_cache_valid: a status (0: any) and its validity in ms. */
export interface CacheValid {
  readonly status: number;
  readonly ms: number;
}

export const METHOD_GET = 1 << 1;
export const METHOD_HEAD = 1 << 2;
export const METHOD_POST = 1 << 3;
const METHOD_WORDS: Readonly<Record<string, number>> = { GET: METHOD_GET, HEAD: METHOD_HEAD, POST: METHOD_POST };

const USE_STALE_WORDS: Readonly<Record<string, number>> = {
  error: FT.error, timeout: FT.timeout, invalid_header: FT.invalid_header, updating: FT.updating,
  http_500: FT.http_500, http_502: FT.http_502, http_503: FT.http_503, http_504: FT.http_504,
  http_403: FT.http_403, http_404: FT.http_404, http_429: FT.http_429, off: FT.off,
};

export interface CacheLocConf {
  /** undefined: unset; null: off; a zone name; or a value naming the zone per request. */
  zone?: string | ComplexValue | null;
  key?: ComplexValue | null;
  valid?: CacheValid[];
  minUses?: number;
  methods?: number;
  bypass?: ComplexValue[] | null;
  noCache?: ComplexValue[] | null;
  useStale?: number;
  backgroundUpdate?: boolean;
  lock?: boolean;
  lockTimeout?: number;
  lockAge?: number;
  revalidate?: boolean;
  convertHead?: boolean;
  maxRangeOffset?: number;
  /** Every `*_cache_path` of the config by zone name, set by the merge. */
  paths?: ReadonlyMap<string, CachePathConf>;
}

/** What differs between the protocols that cache (proxy, FastCGI). */
export interface CacheProtocol {
  /** The directives' prefix: `proxy_`, `fastcgi_`. */
  readonly prefix: string;
  /** `*_cache_convert_head` exists (proxy; default on). */
  readonly convertHead: boolean;
}

function compile(cf: ConfContext, text: string): ComplexValue {
  return cf.main(httpCoreModule).variables.compile(text, cf.position);
}

/** ngx_http_file_cache_valid_set_slot: codes then a time; no codes: 200 301 302. */
function setValid(cf: ConfContext, n: ConfNode, c: CacheLocConf): void {
  const args = n.args;
  const last = args[args.length - 1];
  // ngx_parse_time(.., 1): whole seconds (parseTime gives ms).
  const ms = parseTime(last, false);
  if (ms === null) return cf.error(`invalid time value "${last}"`);
  const list = (c.valid ??= []);
  if (args.length === 1) {
    for (const status of [200, 301, 302]) list.push({ status, ms });
    return;
  }
  for (let i = 0; i < args.length - 1; i++) {
    const a = args[i];
    if (a === 'any') { list.push({ status: 0, ms }); continue; }
    const status = /^[0-9]+$/.test(a) ? Number(a) : -1;
    if (status < 100 || status > 599) return cf.error(`invalid status "${a}"`);
    list.push({ status, ms });
  }
}

/** The directives for one protocol; `get` is its CacheLocConf at the current level. */
export function cacheDirectives(protocol: CacheProtocol, get: (cf: ConfContext) => CacheLocConf): DirectiveSpec[] {
  const prefix = protocol.prefix;
  const d = (name: string, args: readonly [number, number] | 'flag', set: (cf: ConfContext, n: ConfNode) => void): DirectiveSpec =>
    ({ name: prefix + name, contexts: HTTP_MAIN_SRV_LOC, args, set });
  const predicates = (key: 'bypass' | 'noCache') => (cf: ConfContext, n: ConfNode): void => {
    const c = get(cf);
    const list = (c[key] ??= []);
    for (const a of n.args) list.push(compile(cf, a));
  };
  const list: DirectiveSpec[] = [
    { name: `${prefix}cache_path`, contexts: Ctx.Http, args: [2, Infinity], set(cf, n) { parseCachePath(cf, n); } },
    d('cache', [1, 1], (cf, n) => {
      const c = get(cf);
      if (c.zone !== undefined) return cf.duplicate();
      const a = n.args[0];
      c.zone = a === 'off' ? null : a.includes('$') ? compile(cf, a) : a;
      // ngx_shared_memory_add(.., 0): a name already used for another kind of zone is an error here.
      if (typeof c.zone === 'string') sharedZone(cf, c.zone, 0, 'cache');
    }),
    d('cache_key', [1, 1], (cf, n) => {
      const c = get(cf);
      if (c.key !== undefined) return cf.duplicate();
      c.key = compile(cf, n.args[0]);
    }),
    d('cache_valid', [1, Infinity], (cf, n) => setValid(cf, n, get(cf))),
    d('cache_min_uses', [1, 1], (cf, n) => setNumber(cf, n, get(cf), 'minUses')),
    d('cache_methods', [1, Infinity], (cf, n) => setBitmask(cf, n, get(cf), 'methods', METHOD_WORDS)),
    d('cache_bypass', [1, Infinity], predicates('bypass')),
    d('no_cache', [1, Infinity], predicates('noCache')),
    d('cache_use_stale', [1, Infinity], (cf, n) => {
      setBitmask(cf, n, get(cf), 'useStale', USE_STALE_WORDS);
      const c = get(cf);
      if (c.useStale! & FT.off) {
        if (n.args.length > 1) return cf.error(`invalid value "off" in "${n.name}" directive`);
        c.useStale = FT.off;
      }
    }),
    d('cache_background_update', 'flag', (cf, n) => setFlag(cf, n, get(cf), 'backgroundUpdate')),
    d('cache_lock', 'flag', (cf, n) => setFlag(cf, n, get(cf), 'lock')),
    d('cache_lock_timeout', [1, 1], (cf, n) => setMsec(cf, n, get(cf), 'lockTimeout')),
    d('cache_lock_age', [1, 1], (cf, n) => setMsec(cf, n, get(cf), 'lockAge')),
    d('cache_revalidate', 'flag', (cf, n) => setFlag(cf, n, get(cf), 'revalidate')),
    d('cache_max_range_offset', [1, 1], (cf, n) => setOffset(cf, n, get(cf), 'maxRangeOffset')),
  ];
  if (protocol.convertHead) list.push(d('cache_convert_head', 'flag', (cf, n) => setFlag(cf, n, get(cf), 'convertHead')));
  return list;
}

/**
 * ngx_http_proxy_merge_loc_conf's cache part. `defaultKey` null: the protocol
 * has none (FastCGI). Merging runs once the http block is read, so every
 * `*_cache_path` is known.
 */
export function mergeCacheConf(
  cf: ConfContext, protocol: CacheProtocol, p: CacheLocConf, c: CacheLocConf, defaultKey: ComplexValue | null,
): void {
  if (c.zone === undefined) c.zone = p.zone ?? null;
  c.paths = cachePaths(cf);
  if (typeof c.zone === 'string' && !c.paths.has(c.zone)) return cf.error(`"${protocol.prefix}cache" zone "${c.zone}" is unknown`);
  if (c.key === undefined) c.key = p.key ?? defaultKey;
  if (c.zone !== null && c.key === null) return cf.error(`no "${protocol.prefix}cache_key" for "${protocol.prefix}cache"`);
  inherit(c, p, 'valid', []);
  inherit(c, p, 'minUses', 1);
  inherit(c, p, 'methods', METHOD_GET | METHOD_HEAD);
  c.methods! |= METHOD_GET | METHOD_HEAD;
  if (c.bypass === undefined) c.bypass = p.bypass ?? null;
  if (c.noCache === undefined) c.noCache = p.noCache ?? null;
  inherit(c, p, 'useStale', FT.off);
  if (c.useStale === FT.off) c.useStale = 0;
  if (c.useStale! & FT.error) c.useStale! |= FT.nolive;
  inherit(c, p, 'backgroundUpdate', false);
  inherit(c, p, 'lock', false);
  inherit(c, p, 'lockTimeout', 5000);
  inherit(c, p, 'lockAge', 5000);
  inherit(c, p, 'revalidate', false);
  inherit(c, p, 'convertHead', protocol.convertHead);
  inherit(c, p, 'maxRangeOffset', Number.MAX_SAFE_INTEGER);
}

/** Any value neither empty nor "0" (ngx_http_test_predicates). */
export function anyTrue(values: readonly ComplexValue[] | null | undefined, evaluate: (v: ComplexValue) => string): boolean {
  if (!values) return false;
  for (const v of values) {
    const s = evaluate(v);
    if (s !== '' && s !== '0') return true;
  }
  return false;
}
