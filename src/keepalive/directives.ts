/**
 * The directives of src/http/modules/ngx_http_upstream_keepalive_module.c, in
 * the `upstream` context: `keepalive N [local]` (ngx_http_upstream_keepalive),
 * `keepalive_requests N` (ngx_conf_set_num_slot), `keepalive_time T` and
 * `keepalive_timeout T` (ngx_conf_set_msec_slot), and the defaults applied by
 * ngx_http_upstream_keepalive_init. Pure: arguments in, values out, Error with
 * nginx's message text (no file:line) on bad input.
 *
 * nginx 1.29.7 turned upstream keep-alive on by default, and 1.31 keeps that:
 * - an `upstream` block without `keepalive` behaves as `keepalive 32 local`:
 *   32 idle connections per worker, reused only by requests from the location
 *   (u->conf) that opened them;
 * - an explicit `keepalive N` without `local` shares the connections between
 *   all locations using the upstream (as before 1.29.7);
 * - `keepalive 0` disables the cache for that upstream (kcf->max_cached == 0:
 *   the balancer is not wrapped). It is accepted, not an error;
 * - implicit upstreams (`proxy_pass http://127.0.0.1:8080`, no `upstream`
 *   block) get no cache: nginx skips upstreams without srv_conf. weir does the
 *   same; resolveKeepalive() returns null for them.
 * `keepalive_requests 0` is accepted as nginx does (no connection is ever stored).
 */
import { parseNumber, parseTime } from '../config/units.js';

/** The four directives as written in one upstream block; undefined = not set. */
export interface KeepaliveDirectives {
  max?: number;
  local?: boolean;
  requests?: number;
  /** ms */
  time?: number;
  /** ms */
  timeout?: number;
}

/** What a cache is built from (KeepaliveCacheOptions plus `local`, which selects the PoolScope tag). */
export interface KeepaliveSettings {
  readonly max: number;
  readonly local: boolean;
  readonly requests: number;
  readonly time: number;
  readonly timeout: number;
}

/** ngx_http_upstream_keepalive_init's defaults. */
export const KEEPALIVE_DEFAULTS: KeepaliveSettings = Object.freeze({
  max: 32,
  local: true,
  requests: 1000,
  time: 3_600_000,
  timeout: 60_000,
});

/** The directive names this module owns in the upstream context. */
export const KEEPALIVE_DIRECTIVES = ['keepalive', 'keepalive_requests', 'keepalive_time', 'keepalive_timeout'] as const;
export type KeepaliveDirectiveName = (typeof KEEPALIVE_DIRECTIVES)[number];

function argCount(name: string, args: readonly string[], min: number, max: number): void {
  if (args.length < min || args.length > max) throw new Error(`invalid number of arguments in "${name}" directive`);
}

/** `keepalive N [local]` (NGX_CONF_TAKE12). */
export function parseKeepalive(args: readonly string[]): { max: number; local: boolean } {
  argCount('keepalive', args, 1, 2);
  const n = parseNumber(args[0]);
  if (n === null) throw new Error(`invalid value "${args[0]}" in "keepalive" directive`);
  let local = false;
  if (args.length === 2) {
    if (args[1] !== 'local') throw new Error(`invalid parameter "${args[1]}"`);
    local = true;
  }
  return { max: n, local };
}

/** `keepalive_requests N`. */
export function parseKeepaliveRequests(args: readonly string[]): number {
  argCount('keepalive_requests', args, 1, 1);
  const n = parseNumber(args[0]);
  if (n === null) throw new Error('"keepalive_requests" directive invalid number');
  return n;
}

/** `keepalive_time T` in ms. */
export function parseKeepaliveTime(args: readonly string[]): number {
  return parseMsec('keepalive_time', args);
}

/**
 * `keepalive_timeout T` in ms, upstream context only (the http/server/location
 * directive of the same name takes an optional header timeout and is the core module's).
 */
export function parseKeepaliveTimeout(args: readonly string[]): number {
  return parseMsec('keepalive_timeout', args);
}

function parseMsec(name: string, args: readonly string[]): number {
  argCount(name, args, 1, 1);
  const v = parseTime(args[0]);
  if (v === null) throw new Error(`"${name}" directive invalid value`);
  return v;
}

/**
 * Applies one directive to the block's settings; throws nginx's message on bad input or a
 * repeated directive (`"keepalive" directive is duplicate`).
 */
export function applyKeepaliveDirective(
  conf: KeepaliveDirectives, name: KeepaliveDirectiveName, args: readonly string[],
): void {
  const duplicate = (): never => { throw new Error(`"${name}" directive is duplicate`); };
  switch (name) {
    case 'keepalive': {
      if (conf.max !== undefined) duplicate();
      const v = parseKeepalive(args);
      conf.max = v.max;
      conf.local = v.local;
      return;
    }
    case 'keepalive_requests':
      if (conf.requests !== undefined) duplicate();
      conf.requests = parseKeepaliveRequests(args);
      return;
    case 'keepalive_time':
      if (conf.time !== undefined) duplicate();
      conf.time = parseKeepaliveTime(args);
      return;
    case 'keepalive_timeout':
      if (conf.timeout !== undefined) duplicate();
      conf.timeout = parseKeepaliveTimeout(args);
      return;
  }
}

/**
 * The settings a group's cache is built with, or null when the group gets no cache
 * (`keepalive 0`, or an implicit upstream).
 */
export function resolveKeepalive(conf: KeepaliveDirectives, group: { readonly implicit: boolean }): KeepaliveSettings | null {
  if (group.implicit) return null;
  if (conf.max === 0) return null;
  const unset = conf.max === undefined;
  return {
    max: unset ? KEEPALIVE_DEFAULTS.max : conf.max!,
    // Unset means the 1.29.7 default `keepalive 32 local`; an explicit N shares unless `local`.
    local: unset ? true : conf.local === true,
    requests: conf.requests ?? KEEPALIVE_DEFAULTS.requests,
    time: conf.time ?? KEEPALIVE_DEFAULTS.time,
    timeout: conf.timeout ?? KEEPALIVE_DEFAULTS.timeout,
  };
}
