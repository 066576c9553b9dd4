/**
 * The `server` directive of an `upstream` block: mirrors ngx_http_upstream_server() in
 * ngx_http_upstream.c (parameters and their error messages), plus nginx Plus's `drain`,
 * `route=` and `slow_start=` which are accepted and recorded.
 *
 * Defaults as nginx: weight=1 max_fails=1 fail_timeout=10s max_conns=0. Times are parsed as
 * ngx_parse_time(…, 1) does for these seconds-valued parameters (config/units parseTime without
 * `ms`): `fail_timeout=500ms` is invalid in nginx, and so here. Any bad value
 * yields nginx's `invalid parameter "weight=0"` (the whole argument quoted). Which parameters the
 * chosen balancer allows (`backup` with hash, …) is checked by the caller via module.supports.
 */

import type { UpstreamServerConf } from './types.js';
import { parseTime } from '../config/units.js';

export type ServerParameters = Omit<UpstreamServerConf, 'addresses' | 'file' | 'line'> & {
  /** The address as written (`backend1:8080`, `unix:/run/app.sock`). */
  readonly address: string;
  /** `slow_start=` in ms, 0 when absent. */
  readonly slowStart: number;
};

const NGX_MAX_INT = 0x7fffffffffff; // keeps sums exact in a double, like nginx's overflow checks

/** ngx_atoi: non-empty decimal digits only; null otherwise. */
function atoi(text: string): number | null {
  if (text.length === 0) return null;
  let v = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return null;
    v = v * 10 + (c - 48);
    if (v > NGX_MAX_INT) return null;
  }
  return v;
}

export function parseServerParameters(args: readonly string[]): ServerParameters {
  if (args.length === 0) throw new Error('invalid number of arguments in "server" directive');
  const address = args[0]!;
  let weight = 1;
  let maxFails = 1;
  let failTimeout = 10_000;
  let maxConns = 0;
  let backup = false;
  let down = false;
  let drain = false;
  let route = '';
  let slowStart = 0;

  for (let i = 1; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq + 1) : arg;
    const value = eq >= 0 ? arg.slice(eq + 1) : '';
    let ok = true;
    switch (name) {
      case 'weight=': {
        const n = atoi(value);
        ok = n !== null && n !== 0;
        if (ok) weight = n!;
        break;
      }
      case 'max_fails=': {
        const n = atoi(value);
        ok = n !== null;
        if (ok) maxFails = n!;
        break;
      }
      case 'max_conns=': {
        const n = atoi(value);
        ok = n !== null;
        if (ok) maxConns = n!;
        break;
      }
      case 'fail_timeout=': {
        const t = parseTime(value, false);
        ok = t !== null;
        if (ok) failTimeout = t!;
        break;
      }
      case 'slow_start=': {
        const t = parseTime(value, false);
        ok = t !== null;
        if (ok) slowStart = t!;
        break;
      }
      case 'route=':
        ok = value.length > 0;
        route = value;
        break;
      case 'backup':
        backup = true;
        break;
      case 'down':
        down = true;
        break;
      case 'drain':
        drain = true;
        break;
      default:
        ok = false;
    }
    if (!ok) throw new Error(`invalid parameter "${arg}"`);
  }

  return { address, name: address, weight, maxFails, failTimeout, maxConns, backup, down, drain, route, slowStart };
}
