/**
 * How long a response may be cached, from its head: nginx's header handlers
 * for X-Accel-Expires, Cache-Control, Expires, Set-Cookie and Vary
 * (ngx_http_upstream_process_*), then proxy_cache_valid for what they left
 * open (ngx_http_upstream_send_response, ngx_http_file_cache_valid).
 *
 * Precedence as nginx's: X-Accel-Expires wins over Cache-Control, which wins
 * over Expires; proxy_cache_valid counts only when none of them set a time.
 * `no-cache`, `no-store`, `private`, `max-age=0`, a past Expires, a
 * Set-Cookie, `Vary: *` or `X-Accel-Expires: 0` make it uncacheable, each
 * unless proxy_ignore_headers names its field. The fields are handled in the
 * order the upstream sent them, as nginx's handlers run, so an X-Accel-Expires
 * after a Cache-Control: no-cache still makes the response cacheable.
 */
import { IGNORE_HEADERS } from '../../upstream/upstream-conf.js';
import { parseHttpTime } from '../range.js';
import type { CacheValid } from './cache-conf.js';

export interface Validity {
  /** Epoch ms; 0: not cacheable. */
  readonly validUntil: number;
  /**
   * The response's own fields forbid storing it (nginx clears u->cacheable
   * as it reads them); false with validUntil 0: nothing said for how long.
   */
  readonly forbidden: boolean;
  /** Cache-Control stale-while-revalidate / stale-if-error (s; -1 none). */
  readonly updatingSec: number;
  readonly errorSec: number;
  /** The response's Vary (joined), or null. */
  readonly vary: string | null;
}

const NOT_CACHEABLE: Validity = { validUntil: 0, forbidden: true, updatingSec: -1, errorSec: -1, vary: null };
const NO_VALIDITY: Validity = { validUntil: 0, forbidden: false, updatingSec: -1, errorSec: -1, vary: null };
const MAX = Number.MAX_SAFE_INTEGER;

/** ngx_http_upstream_process_delta_seconds: digits up to `,`, `;` or a space; -1: not a number. */
function deltaSeconds(s: string, from: number): number {
  let n = 0;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2c || c === 0x3b || c === 0x20) break;
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
    if (n > MAX / 1000) return MAX / 1000;
  }
  return n;
}

/** The configured validity of `status` (ms), 0 if none (ngx_http_file_cache_valid). */
export function configuredValid(valid: readonly CacheValid[], status: number): number {
  for (const v of valid) {
    if (v.status === 0 || v.status === status) return v.ms;
  }
  return 0;
}

/**
 * The response's validity. `headers` are the upstream's fields (flat), `accel`
 * its X-Accel-Expires, `ignore` the proxy_ignore_headers mask.
 */
export function responseValidity(
  status: number, headers: readonly string[], accel: string | null, ignore: number, valid: readonly CacheValid[], now: number,
): Validity {
  let cacheable = true;
  let validSec = 0;
  let noCache = false;
  let expired = false;
  let updatingSec = -1;
  let errorSec = -1;
  const varies: string[] = [];
  // X-Accel-Expires first: nginx's handler for it may run before or after
  // Cache-Control's, but its time wins either way, and `0` forbids caching.
  const accelUsed = accel !== null && !(ignore & IGNORE_HEADERS['X-Accel-Expires']);
  if (accelUsed) {
    const at = accel.startsWith('@');
    const text = at ? accel.slice(1) : accel;
    const n = /^[0-9]+$/.test(text) ? Number(text) : -1;
    if (!at && n === 0) cacheable = false;
    else if (n > 0 || (at && n === 0)) validSec = at ? n : Math.floor(now / 1000) + n;
  }
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    const lname = name.length >= 3 && name.length <= 13 ? name.toLowerCase() : '';
    const value = headers[i + 1];
    if (lname === 'set-cookie') {
      if (!(ignore & IGNORE_HEADERS['Set-Cookie'])) cacheable = false;
    } else if (lname === 'cache-control') {
      if (ignore & IGNORE_HEADERS['Cache-Control']) continue;
      const v = value.toLowerCase();
      if (!(validSec !== 0 && accelUsed)) {
        if (v.includes('no-cache') || v.includes('no-store') || v.includes('private')) { noCache = true; continue; }
        let p = v.indexOf('s-maxage=');
        let off = 9;
        if (p < 0) { p = v.indexOf('max-age='); off = 8; }
        if (p >= 0) {
          const n = deltaSeconds(v, p + off);
          if (n < 0) { cacheable = false; continue; }
          if (n === 0) { noCache = true; continue; }
          validSec = Math.floor(now / 1000) + n;
          expired = false;
        }
      }
      const swr = v.indexOf('stale-while-revalidate=');
      if (swr >= 0) {
        const n = deltaSeconds(v, swr + 23);
        if (n < 0) { cacheable = false; continue; }
        updatingSec = n;
        errorSec = n;
      }
      const sie = v.indexOf('stale-if-error=');
      if (sie >= 0) {
        const n = deltaSeconds(v, sie + 15);
        if (n < 0) { cacheable = false; continue; }
        errorSec = n;
      }
    } else if (lname === 'expires') {
      if ((ignore & IGNORE_HEADERS.Expires) || validSec !== 0) continue;
      const t = parseHttpTime(value);
      if (t < 0 || t * 1000 < now - 999) { expired = true; continue; }
      validSec = t;
    } else if (lname === 'vary') {
      if (ignore & IGNORE_HEADERS.Vary) continue;
      if (value === '*') cacheable = false;
      varies.push(value);
    }
  }
  // X-Accel-Expires clears what Cache-Control and Expires said against caching.
  if (accelUsed && validSec !== 0) { noCache = false; expired = false; }
  const vary = varies.length === 0 ? null : varies.join(', ');
  if (!cacheable || noCache || expired || (vary !== null && vary.length > 128)) return NOT_CACHEABLE;
  let validUntil = validSec * 1000;
  if (validSec === 0) {
    const ms = configuredValid(valid, status);
    if (ms === 0) return NO_VALIDITY;
    validUntil = now + ms;
  }
  return { validUntil, forbidden: false, updatingSec, errorSec, vary };
}
