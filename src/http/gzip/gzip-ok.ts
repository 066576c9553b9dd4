/**
 * What gzip, gzip_static and gunzip share: the directives nginx keeps in its
 * core module under NGX_HTTP_GZIP (gzip_vary, gzip_http_version,
 * gzip_proxied, gzip_disable) and ngx_http_gzip_ok, the test "may this
 * client's response be sent gzipped", made once per request (r->gzip_tested,
 * r->gzip_ok) and kept across a jump to a named location, not across an
 * internal redirect (ngx_http_handler clears the bits).
 *
 * `Vary: Accept-Encoding` goes out when one of the three modules judged the
 * response (r->gzip_vary) and gzip_vary is on where the response is sent
 * (nginx's header filter adds it): addGzipVary, called by the gzip filter's
 * header filter, the last of the three.
 *
 * Difference: gzip_disable's regexes go through compileConfRegex like every
 * directive regex (their errors are reported alike) but are run without
 * setting captures, as ngx_regex_exec_array runs them.
 */
import type { ConfContext } from '../../config/conf-context.js';
import { HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../../config/module.js';
import type { ConfNode } from '../../config/parser.js';
import { inherit, setBitmask, setEnum, setFlag } from '../../config/slots.js';
import { browserOf, BROWSER_MSIE6 } from '../browser.js';
import { compileConfRegex } from '../conf-regex.js';
import { httpCoreModule } from '../core-module.js';
import { headerIndex } from '../header-list.js';
import { parseHttpTime } from '../range.js';
import type { HttpRequest } from '../request.js';

// gzip_proxied's flags (NGX_HTTP_GZIP_PROXIED_*).
export const PROXIED_OFF = 0x0002;
export const PROXIED_EXPIRED = 0x0004;
export const PROXIED_NO_CACHE = 0x0008;
export const PROXIED_NO_STORE = 0x0010;
export const PROXIED_PRIVATE = 0x0020;
export const PROXIED_NO_LM = 0x0040;
export const PROXIED_NO_ETAG = 0x0080;
export const PROXIED_AUTH = 0x0100;
export const PROXIED_ANY = 0x0200;

const PROXIED_WORDS: Readonly<Record<string, number>> = {
  off: PROXIED_OFF, expired: PROXIED_EXPIRED, 'no-cache': PROXIED_NO_CACHE, 'no-store': PROXIED_NO_STORE,
  private: PROXIED_PRIVATE, no_last_modified: PROXIED_NO_LM, no_etag: PROXIED_NO_ETAG, auth: PROXIED_AUTH, any: PROXIED_ANY,
};

/** r.gzipFlags bits (nginx's r->gzip_tested, gzip_ok, gzip_vary). */
export const GZIP_TESTED = 1;
export const GZIP_OK = 2;
export const GZIP_VARY = 4;

export interface GzipCommonLocConf {
  vary?: boolean;
  /** 1000 (HTTP/1.0) or 1001 (1.1): nginx's r->http_version numbering. */
  httpVersion?: number;
  proxied?: number;
  /** gzip_disable's regexes (null: none). */
  disable?: RegExp[] | null;
  /** gzip_disable msie6. */
  disableMsie6?: boolean;
}

function setDisable(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(gzipCommonModule);
  const vars = cf.main(httpCoreModule).variables;
  conf.disable ??= [];
  for (const arg of d.args) {
    if (arg === 'msie6') { conf.disableMsie6 = true; continue; }
    // "degradation" belongs to ngx_http_degradation_module, which weir has not: a regex as nginx without it.
    conf.disable.push(compileConfRegex(cf, vars, arg, true).regex);
  }
}

const directives: DirectiveSpec[] = [
  { name: 'gzip_vary', contexts: HTTP_MAIN_SRV_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.loc(gzipCommonModule), 'vary') },
  {
    name: 'gzip_http_version', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set: (cf, d) => {
      const holder: { v?: '1.0' | '1.1' } = {};
      const conf = cf.loc(gzipCommonModule);
      if (conf.httpVersion !== undefined) return cf.duplicate();
      setEnum(cf, d, holder, 'v', ['1.0', '1.1'] as const);
      conf.httpVersion = holder.v === '1.0' ? 1000 : 1001;
    },
  },
  { name: 'gzip_proxied', contexts: HTTP_MAIN_SRV_LOC, args: [1, Infinity], set: (cf, d) => setBitmask(cf, d, cf.loc(gzipCommonModule), 'proxied', PROXIED_WORDS) },
  { name: 'gzip_disable', contexts: HTTP_MAIN_SRV_LOC, args: [1, Infinity], set: setDisable },
];

/** The first line of a request field (nginx's r->headers_in.x points at the first). */
function firstField(r: HttpRequest, lname: string): string | undefined {
  const raw = r.req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === lname.length && raw[i].toLowerCase() === lname) return raw[i + 1];
  }
  return undefined;
}

/**
 * ngx_http_gzip_accept_encoding: `gzip` as a whole coding (after the start,
 * a comma or a space), then only spaces up to a comma or the end, or a
 * `;q=` quantity that is not zero.
 */
export function acceptsGzip(ae: string): boolean {
  if (ae.length < 4) return false;
  if (ae.startsWith('gzip,')) return true;
  const lower = ae.toLowerCase();
  let at = -1;
  for (let from = 0; ;) {
    const p = lower.indexOf('gzip', from);
    if (p === -1) return false;
    const before = p === 0 ? 0 : lower.charCodeAt(p - 1);
    if (p === 0 || before === 44 /* , */ || before === 32 /* space */) { at = p + 4; break; }
    from = p + 4;
  }
  let i = at;
  for (; i < ae.length; i++) {
    const c = ae.charCodeAt(i);
    if (c === 44) return true;
    if (c === 59 /* ; */) break;
    if (c !== 32) return false;
  }
  if (i >= ae.length) return true;
  // After ';': spaces, then q or Q.
  for (i++; i < ae.length; i++) {
    const c = ae.charCodeAt(i);
    if (c === 113 || c === 81) break;
    if (c !== 32) return false;
  }
  if (i >= ae.length) return true;
  i++;
  if (i + 2 > ae.length || ae.charCodeAt(i) !== 61 /* = */) return false;
  return quantity(ae, i + 1) !== 0;
}

/**
 * ngx_http_gzip_quantity, quirks kept: "0", "1", or either with a '.' and
 * digits that are added up (not weighed); more than three digits, or a sum
 * over 100 ("1.5"), is invalid (0). Only zero or not matters to the caller.
 */
function quantity(s: string, p: number): number {
  const c0 = s.charCodeAt(p++);
  if (c0 !== 48 && c0 !== 49) return 0; // '0' or '1'
  let q = (c0 - 48) * 100;
  if (p >= s.length) return q;
  const c1 = s.charCodeAt(p++);
  if (c1 === 44 || c1 === 32) return q;
  if (c1 !== 46) return 0; // '.'
  let n = 0;
  while (p < s.length) {
    const c = s.charCodeAt(p++);
    if (c === 44 || c === 32) break;
    if (c < 48 || c > 57) return 0;
    q += c - 48;
    n++;
  }
  return q > 100 || n > 3 ? 0 : q;
}

/** ngx_http_parse_multi_header_lines: `token` as an element of a comma list (followed by spaces, then ',' or the end). */
function hasListToken(value: string, token: string): boolean {
  const v = value.toLowerCase();
  let start = 0;
  const end = v.length;
  while (start < end) {
    if (v.startsWith(token, start)) {
      let p = start + token.length;
      while (p < end && v.charCodeAt(p) === 32) p++;
      if (p === end || v.charCodeAt(p) === 44) return true;
    }
    // skip to after the next ',' and its spaces
    while (start < end && v.charCodeAt(start++) !== 44) { /* on */ }
    while (start < end && v.charCodeAt(start) === 32) start++;
  }
  return false;
}

function anyListToken(headers: readonly string[], token: string): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].length === 13 && headers[i].toLowerCase() === 'cache-control' && hasListToken(headers[i + 1], token)) return true;
  }
  return false;
}

/**
 * gzip_proxied for a request that came through a proxy (it has Via): may
 * its response be gzipped, by the response's Expires, Cache-Control,
 * Last-Modified and ETag and the request's Authorization.
 */
function proxiedOk(r: HttpRequest, p: number, headers: readonly string[]): boolean {
  if (p & PROXIED_OFF) return false;
  if (p & PROXIED_ANY) return true;
  if ((p & PROXIED_AUTH) && r.req.headers.authorization !== undefined) return true;
  const e = headerIndex(headers, 'expires');
  if (e !== -1) {
    if (!(p & PROXIED_EXPIRED)) return false;
    const expires = parseHttpTime(headers[e + 1]);
    if (expires === -1) return false;
    const d = headerIndex(headers, 'date');
    let date: number;
    if (d !== -1) {
      date = parseHttpTime(headers[d + 1]);
      if (date === -1) return false;
    } else {
      date = Math.floor(Date.now() / 1000);
    }
    return expires < date;
  }
  if (headerIndex(headers, 'cache-control') !== -1) {
    if ((p & PROXIED_NO_CACHE) && anyListToken(headers, 'no-cache')) return true;
    if ((p & PROXIED_NO_STORE) && anyListToken(headers, 'no-store')) return true;
    if ((p & PROXIED_PRIVATE) && anyListToken(headers, 'private')) return true;
    return false;
  }
  if ((p & PROXIED_NO_LM) && headerIndex(headers, 'last-modified') !== -1) return false;
  if ((p & PROXIED_NO_ETAG) && headerIndex(headers, 'etag') !== -1) return false;
  return true;
}

let commonIndex = -1;

/** The request's gzip conf (gzip_vary and the rest) in its current location. */
export function gzipCommonConf(r: HttpRequest): GzipCommonLocConf {
  return r.loc.loc[commonIndex] as GzipCommonLocConf;
}

/**
 * ngx_http_gzip_ok: may the response to `r` go gzipped? Judged once per
 * request (the bits stay until an internal redirect); `headers` are the
 * response's fields so far (gzip_proxied reads them; gzip_static has none yet).
 */
export function gzipOk(r: HttpRequest, headers: readonly string[]): boolean {
  if (r.gzipFlags & GZIP_TESTED) return (r.gzipFlags & GZIP_OK) !== 0;
  r.gzipFlags |= GZIP_TESTED;
  if (r !== r.main) return false;
  const ae = firstField(r, 'accept-encoding');
  if (ae === undefined || !acceptsGzip(ae)) return false;
  const conf = gzipCommonConf(r);
  if (conf.disableMsie6 && (browserOf(r) & BROWSER_MSIE6)) return false;
  const version = r.req.httpVersionMajor * 1000 + r.req.httpVersionMinor;
  if (version < conf.httpVersion!) return false;
  if (r.req.headers.via !== undefined && !proxiedOk(r, conf.proxied!, headers)) return false;
  const ua = firstField(r, 'user-agent');
  if (conf.disable !== null && ua !== undefined) {
    for (const re of conf.disable!) {
      re.lastIndex = 0;
      if (re.test(ua)) return false;
    }
  }
  r.gzipFlags |= GZIP_OK;
  return true;
}

/** nginx's header filter: Vary for a response a gzip module judged, where gzip_vary is on. */
export function addGzipVary(r: HttpRequest, headers: string[]): void {
  if ((r.gzipFlags & GZIP_VARY) && gzipCommonConf(r).vary) headers.push('Vary', 'Accept-Encoding');
}

/** ngx_http_weak_etag: a strong ETag made weak; one that is not a quoted string goes. */
export function weakenEtag(headers: string[]): void {
  const i = headerIndex(headers, 'etag');
  if (i === -1) return;
  const v = headers[i + 1];
  if (v.length > 2 && v.startsWith('W/')) return;
  if (!v.startsWith('"')) { headers.splice(i, 2); return; }
  headers[i + 1] = 'W/' + v;
}

export const gzipCommonModule: HttpModule<unknown, unknown, GzipCommonLocConf> = {
  kind: 'http',
  name: 'http_gzip_common',
  directives,
  createLoc: () => ({}),
  mergeLoc(p, c) {
    inherit(c, p, 'vary', false);
    inherit(c, p, 'httpVersion', 1001);
    inherit(c, p, 'proxied', PROXIED_OFF);
    if (c.disable === undefined) c.disable = p.disable ?? null;
    // gzip_disable msie6 inherits alone (nginx's 3 = unset).
    inherit(c, p, 'disableMsie6', false);
  },
  postConfiguration(cf) {
    commonIndex = cf.registry.indexOf(gzipCommonModule);
  },
};
