/**
 * The browser families nginx recognises in User-Agent
 * (ngx_http_process_user_agent): read once per request, on first use, for
 * keepalive_disable (and, later, gzip_disable msie6 and the like).
 *
 * As nginx: `MSIE ` with at least three more bytes is MSIE; MSIE 4.x and 5.x
 * are "msie6", and so is 6.x unless `SV1` follows (XP SP2's fixed MSIE 6);
 * `Opera` anywhere undoes MSIE; without MSIE or Opera, the first of `Gecko/`,
 * `Chrome/`, `Safari/` together with `Mac OS X`, `Konqueror` wins. All
 * matches are case-sensitive substrings.
 *
 * Difference: nginx runs the check on each User-Agent line of a request and
 * adds the flags up; weir reads the first line (incoming.ts keeps the first).
 */
import type { HttpRequest } from './request.js';

export const BROWSER_MSIE = 0x01;
export const BROWSER_MSIE6 = 0x02;
export const BROWSER_OPERA = 0x04;
export const BROWSER_GECKO = 0x08;
export const BROWSER_CHROME = 0x10;
export const BROWSER_SAFARI = 0x20;
export const BROWSER_KONQUEROR = 0x40;
/** Set once the header was read (so that "no family" is cached too). */
const BROWSER_KNOWN = 0x80;

/** The BROWSER_* flags of one User-Agent value. */
export function detectBrowser(ua: string): number {
  let flags = 0;
  const msie = ua.indexOf('MSIE ');
  if (msie >= 0 && msie + 7 < ua.length) {
    flags |= BROWSER_MSIE;
    if (ua.charCodeAt(msie + 6) === 46 /* . */) {
      const major = ua.charCodeAt(msie + 5);
      if (major === 52 /* 4 */ || major === 53 /* 5 */) flags |= BROWSER_MSIE6;
      else if (major === 54 /* 6 */ && ua.indexOf('SV1', msie + 8) < 0) flags |= BROWSER_MSIE6;
    }
  }
  if (ua.indexOf('Opera') >= 0) flags = BROWSER_OPERA;
  if ((flags & (BROWSER_MSIE | BROWSER_OPERA)) === 0) {
    if (ua.indexOf('Gecko/') >= 0) flags |= BROWSER_GECKO;
    else if (ua.indexOf('Chrome/') >= 0) flags |= BROWSER_CHROME;
    else if (ua.indexOf('Safari/') >= 0 && ua.indexOf('Mac OS X') >= 0) flags |= BROWSER_SAFARI;
    else if (ua.indexOf('Konqueror') >= 0) flags |= BROWSER_KONQUEROR;
  }
  return flags;
}

/** The request's BROWSER_* flags (0 without User-Agent), computed on first call. */
export function browserOf(r: HttpRequest): number {
  if (r.browser & BROWSER_KNOWN) return r.browser;
  const ua = r.req.headers['user-agent'];
  r.browser = BROWSER_KNOWN | (ua === undefined ? 0 : detectBrowser(ua));
  return r.browser;
}
