/**
 * The upstream's control headers (nginx's ngx_http_upstream_headers_in
 * entries with a handler of their own): X-Accel-Redirect, X-Accel-Buffering,
 * X-Accel-Limit-Rate and X-Accel-Charset, each honoured unless proxy_ignore_headers names
 * it. A protocol hands every field of the head to take(); what the client
 * sees of them is the protocol's hide/pass rules, as in nginx.
 */
import { IGNORE_HEADERS, type UpstreamLocConf } from './upstream-conf.js';

/** What an X-Accel-Redirect keeps of the upstream's fields besides Content-Type (nginx's `redirect` flag). */
const ACCEL_REDIRECT_KEPT: ReadonlySet<string> = new Set([
  'set-cookie', 'content-disposition', 'cache-control', 'expires', 'accept-ranges',
]);

export class ControlHeaders {
  private buffering: string | null = null;
  private redirect: string | null = null;
  private limitRate: string | null = null;
  private charsetName: string | null = null;
  /** X-Accel-Expires, the first one (nginx ignores a duplicate); the cache reads it. */
  accelExpires: string | null = null;

  /** A field of the response head (`lname` lower-cased). */
  take(lname: string, value: string): void {
    if (lname.length < 14 || !lname.startsWith('x-accel-')) return;
    if (lname === 'x-accel-redirect') this.redirect = value;
    else if (lname === 'x-accel-buffering') this.buffering = value.toLowerCase();
    else if (lname === 'x-accel-limit-rate') this.limitRate = value;
    else if (lname === 'x-accel-charset') this.charsetName = value;
    else if (lname === 'x-accel-expires') this.accelExpires ??= value;
  }

  /** A new try's head replaces the last one's. */
  reset(): void {
    this.buffering = this.redirect = this.limitRate = this.charsetName = this.accelExpires = null;
  }

  /** Where the response really comes from, unless ignored; null: here. */
  redirectTarget(conf: UpstreamLocConf): string | null {
    return this.redirect !== null && !(conf.ignoreHeaders! & IGNORE_HEADERS['X-Accel-Redirect']) ? this.redirect : null;
  }

  /** The charset the client's body is recoded to (ngx_http_upstream_process_charset), unless ignored; null: none. */
  charset(conf: UpstreamLocConf): string | null {
    return this.charsetName !== null && !(conf.ignoreHeaders! & IGNORE_HEADERS['X-Accel-Charset']) ? this.charsetName : null;
  }

  /** proxy_buffering, unless the upstream said `X-Accel-Buffering: no|yes` (and it is not ignored). */
  bufferingFor(conf: UpstreamLocConf): boolean {
    if (!(conf.ignoreHeaders! & IGNORE_HEADERS['X-Accel-Buffering'])) {
      if (this.buffering === 'no') return false;
      if (this.buffering === 'yes') return true;
    }
    return conf.buffering!;
  }

  /**
   * X-Accel-Limit-Rate (bytes/s), unless ignored: the client's rate for the
   * rest of the request (ngx_http_upstream_process_limit_rate); -1 when
   * there is none or it is not a number.
   */
  clientRate(conf: UpstreamLocConf): number {
    const h = this.limitRate;
    if (h === null || (conf.ignoreHeaders! & IGNORE_HEADERS['X-Accel-Limit-Rate']) || !/^[0-9]{1,15}$/.test(h)) return -1;
    return Number(h);
  }
}

/** The fields an X-Accel-Redirect keeps ([name, value, ...]) and the Content-Type, from the upstream's head. */
export function redirectKept(headers: readonly string[]): { kept: string[]; contentType: string | null } {
  const kept: string[] = [];
  let contentType: string | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    const lname = headers[i].toLowerCase();
    if (lname === 'content-type') contentType = headers[i + 1];
    else if (ACCEL_REDIRECT_KEPT.has(lname)) kept.push(headers[i], headers[i + 1]);
  }
  return { kept, contentType };
}

/**
 * May the client get a range cut from this response (nginx's
 * ngx_http_upstream_copy_allow_ranges and process_headers' force_ranges)?
 * With *_force_ranges, or an Accept-Ranges on a response being cached (the
 * cache stores the whole response, the client gets its range). The
 * upstream's Accept-Ranges then goes: the range filter states its own.
 */
export function allowsRanges(headers: string[], conf: UpstreamLocConf, cacheable: boolean): boolean {
  const isAcceptRanges = (i: number): boolean => headers[i].length === 13 && headers[i].toLowerCase() === 'accept-ranges';
  let found = false;
  for (let i = 0; i < headers.length && !found; i += 2) found = isAcceptRanges(i);
  if (!conf.forceRanges && !(cacheable && found)) return false;
  if (found) {
    let w = 0;
    for (let i = 0; i < headers.length; i += 2) {
      if (isAcceptRanges(i)) continue;
      headers[w++] = headers[i];
      headers[w++] = headers[i + 1];
    }
    headers.length = w;
  }
  return true;
}
