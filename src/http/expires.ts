/**
 * `expires` (ngx_http_headers_filter_module): the Expires and Cache-Control
 * a response gets. The setting is parsed once at config time, or per request
 * when it holds variables; the fields are then computed from the clock and,
 * for `modified`, from the response's Last-Modified.
 */
import { headerIndex, setHeader } from './header-list.js';
import { httpTime, parseHttpTime } from './range.js';
import { parseTime } from '../config/units.js';

export const enum ExpiresKind { Off, Epoch, Max, Access, Modified, Daily }

export interface ExpiresSetting {
  kind: ExpiresKind;
  /** Seconds: from now (access), from Last-Modified (modified), or the time of day (daily). */
  time: number;
}

/**
 * ngx_http_parse_expires: `epoch`, `max`, `off` (not after `modified`),
 * `@time` (daily), `[+|-]time`. `modified` is whether the directive said so.
 * Returns nginx's message on a bad value.
 */
export function parseExpires(text: string, modified: boolean): ExpiresSetting | string {
  let kind = modified ? ExpiresKind.Modified : ExpiresKind.Access;
  if (!modified) {
    if (text === 'epoch') return { kind: ExpiresKind.Epoch, time: 0 };
    if (text === 'max') return { kind: ExpiresKind.Max, time: 0 };
    if (text === 'off') return { kind: ExpiresKind.Off, time: 0 };
  }
  let minus = false;
  if (text.startsWith('@')) {
    if (modified) return 'daily time cannot be used with "modified" parameter';
    kind = ExpiresKind.Daily;
    text = text.slice(1);
  } else if (text.startsWith('+')) {
    text = text.slice(1);
  } else if (text.startsWith('-')) {
    text = text.slice(1);
    minus = true;
  }
  const ms = parseTime(text, false);
  if (ms === null) return 'invalid value';
  const time = Math.floor(ms / 1000);
  if (kind === ExpiresKind.Daily && time > 24 * 60 * 60) return 'daily time value must be less than 24 hours';
  return { kind, time: minus ? -time : time };
}

/**
 * ngx_http_set_expires: sets Expires and one Cache-Control (replacing the
 * response's own) for `e`. `configured` is the time the directive itself
 * gave (0 when it holds variables): a negative one always means no-cache.
 */
export function applyExpires(headers: string[], e: ExpiresSetting, configured: number, nowMs: number): void {
  if (e.kind === ExpiresKind.Epoch) {
    setHeader(headers, 'Expires', 'Thu, 01 Jan 1970 00:00:01 GMT');
    setHeader(headers, 'Cache-Control', 'no-cache');
    return;
  }
  if (e.kind === ExpiresKind.Max) {
    setHeader(headers, 'Expires', 'Thu, 31 Dec 2037 23:55:55 GMT');
    setHeader(headers, 'Cache-Control', 'max-age=315360000');
    return;
  }
  const now = Math.floor(nowMs / 1000);
  if (e.time === 0 && e.kind !== ExpiresKind.Daily) {
    setHeader(headers, 'Expires', httpTime(now));
    setHeader(headers, 'Cache-Control', 'max-age=0');
    return;
  }
  let at: number;
  let maxAge: number;
  const lm = e.kind === ExpiresKind.Modified ? lastModified(headers) : -1;
  if (e.kind === ExpiresKind.Daily) {
    at = nextTimeOfDay(e.time, nowMs);
    maxAge = at - now;
  } else if (lm === -1) {
    maxAge = e.time;
    at = now + e.time;
  } else {
    at = lm + e.time;
    maxAge = at - now;
  }
  setHeader(headers, 'Expires', httpTime(at));
  setHeader(headers, 'Cache-Control', configured < 0 || maxAge < 0 ? 'no-cache' : `max-age=${maxAge}`);
}

/** r->headers_out.last_modified_time: the Last-Modified the response has, in seconds, else -1. */
function lastModified(headers: readonly string[]): number {
  const i = headerIndex(headers, 'last-modified');
  return i === -1 ? -1 : parseHttpTime(headers[i + 1]);
}

/** ngx_next_time: the next moment (local time) the clock shows `seconds` past midnight, in seconds. */
function nextTimeOfDay(seconds: number, nowMs: number): number {
  const d = new Date(nowMs);
  d.setHours(Math.floor(seconds / 3600), Math.floor((seconds % 3600) / 60), seconds % 60, 0);
  if (d.getTime() <= nowMs) d.setDate(d.getDate() + 1);
  return Math.floor(d.getTime() / 1000);
}
