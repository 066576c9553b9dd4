import { TCHAR } from '../codec/field-lines.js';
import { authorityForm, parseAbsoluteForm, validateHost } from './request-target.js';

/*
 * Request-head validation once RequestHeadParser (h1/request-head.ts) has parsed the head's
 * syntax. Mirrors nginx 1.31's ngx_http_process_request_line (request line, absolute-form
 * authority), ngx_http_process_request_headers + the ngx_http_headers_in table (invalid
 * names, unique headers, Host), ngx_http_validate_host, and ngx_http_process_request_header
 * (Host required for 1.1, Content-Length, Transfer-Encoding, CONNECT/TRACE). Every failure
 * carries the text nginx logs at info level, e.g.
 *   [info] ... client sent duplicate header line: "Content-Length: 5", previous value: ...
 *       while reading client request headers, client: ..., server: ..., request: "..."
 *
 * Who rejects what (RELIABILITY rows):
 *
 * | rows                      | the parser (syntax)                     | here (meaning)                          |
 * |---------------------------|-----------------------------------------|-----------------------------------------|
 * | R1 R2 R3 R4               | -                                       | CL + TE, repeated CL, CL digits only    |
 * |                           |                                         | (`010` is 10): 400                      |
 * | R5 R6 R7 R8               | -                                       | TE not exactly `chunked`: 501 when a    |
 * |                           |                                         | well-formed list, else 400; repeated TE |
 * |                           |                                         | and TE on HTTP/1.0: 400                 |
 * | R9 R11 R12 R13 R14        | space before the colon, obs-fold, a CR  | Host characters re-checked; names with  |
 * |                           | not before LF, CTL bytes, empty names:  | non-token bytes ignored (logged)        |
 * |                           | 400 (a bare LF ends a line, as nginx)   |                                         |
 * | R10                       | token names pass (`Transfer_Encoding`)  | `_` names dropped (ignore_invalid_      |
 * |                           |                                         | headers) or 400 if they read as framing |
 * | R19 R20                   | -                                       | absolute-form authority is the host,    |
 * |                           |                                         | userinfo 400; duplicate/invalid Host 400|
 * | R21                       | runs of SP, `HTTP/1.` DIGITs (2+: 505), | CONNECT host:port 405, other CONNECT    |
 * |                           | no version = 0.9 (GET only), methods    | targets 400; `*` and other targets that |
 * |                           | [A-Z_-], target `/` or a scheme: else   | are not absolute-form 400               |
 * |                           | 400                                     |                                         |
 * | R24                       | -                                       | an Expect other than 100-continue: 417  |
 * | R30                       | request line > buffer size: 414; a line | more than max_headers lines: 400        |
 * |                           | or the head beyond the buffers: 400     |                                         |
 *
 * Deliberate differences from nginx:
 *   - Host: ngx_http_validate_host's character rules plus the port rules of the 1.29 rework
 *     (port is digits only and <= 65535, so `example.com.:1.2` is 400); `\` is rejected on
 *     every platform, not only on Win32.
 *   - ignore_invalid_headers off: nginx forwards a name with `_` or other non [A-Za-z0-9-]
 *     chars as is; we do too, except when folding case and `_` -> `-` turns it into
 *     Content-Length, Transfer-Encoding or Host: then 400, since some upstreams fold that way.
 *   - Content-Length above 2^53-1 is 400 (nginx accepts up to 2^63-1 and then usually 413s).
 *   - Too long header lines: nginx's internal 494 is sent as 400 with the page "Request Header
 *     Or Cookie Too Large"; we return 400 with that reason and tooLarge set.
 *   - Expect: nginx ignores expectations it does not know; R24 asks 417 (RFC 9110 10.1.1).
 */

export interface RequestHeadOptions {
  /** underscores_in_headers (default off). */
  underscoresInHeaders: boolean;
  /** ignore_invalid_headers (default on). */
  ignoreInvalidHeaders: boolean;
  /** max_headers (nginx 1.31 default 1000). */
  maxHeaders?: number;
  /** large_client_header_buffers size: longest request line or header line (default 8192). */
  largeHeaderBufferSize?: number;
}

export interface ValidRequestHead {
  status: 0;
  /** $host: validated, lower-cased, port and trailing dot removed; '' when there is none. */
  host: string;
  /** Port from the authority in use (request line or Host), 0 when absent. */
  port: number;
  /**
   * The authority to treat as the Host header ($http_host and what a proxy forwards): the
   * request-line authority for absolute-form (R19), else the Host value; null when none.
   */
  authority: string | null;
  /** The request line was absolute-form; the server must replace the Host header by authority. */
  absoluteForm: boolean;
  /** The origin-form target: req.url, or the path+query of an absolute-form target. */
  target: string;
  /** Content-Length as a number, -1 when absent. */
  contentLength: number;
  /** Transfer-Encoding: chunked (the only TE we accept). */
  chunked: boolean;
  /**
   * Indexes into rawHeaders (of the name; the value is at +1) of header lines dropped by
   * ignore_invalid_headers, each worth a `client sent invalid header line` info log
   * (see invalidHeaderLogText); null when none (the common case allocates nothing).
   */
  dropHeaders: number[] | null;
}

export interface InvalidRequestHead {
  status: 400 | 405 | 414 | 417 | 501 | 505;
  /** nginx's info-level error log text (without the "while ..." context). */
  reason: string;
  /** nginx's log action: "reading client request line" or "reading client request headers". */
  action: string;
  /** nginx's 494: send 400 with the "Request Header Or Cookie Too Large" page. */
  tooLarge?: boolean;
}

export type RequestHeadResult = ValidRequestHead | InvalidRequestHead;

const LINE = 'reading client request line';
const HEADERS = 'reading client request headers';

function fail(status: InvalidRequestHead['status'], reason: string, action: string): InvalidRequestHead {
  return { status, reason, action };
}

// Headers nginx processes with ngx_http_process_unique_header_line: a second line is 400.
const UNIQUE_HEADERS: readonly string[] = [
  'content-length',
  'content-range',
  'if-modified-since',
  'if-unmodified-since',
  'if-match',
  'if-none-match',
  'if-range',
  'transfer-encoding',
  'expect',
  'authorization',
];
const H_HOST = -1;
const H_CL = 0;
const H_TE = 7;

// Lower-case ASCII compare of a header name against a lower-case literal, no allocation.
function nameIs(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

// As nameIs, but `_` in name matches `-` in lower: how some upstreams fold names.
function nameFoldsTo(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c === 0x5f) c = 0x2d;
    if ((c | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

// Which special header a (valid) name is; -2 for none. Dispatch on length first.
function classify(name: string): number {
  switch (name.length) {
    case 4:
      return nameIs(name, 'host') ? H_HOST : -2;
    case 6:
      return nameIs(name, 'expect') ? 8 : -2;
    case 8:
      return nameIs(name, 'if-match') ? 4 : nameIs(name, 'if-range') ? 6 : -2;
    case 13:
      if (nameIs(name, 'content-range')) return 1;
      if (nameIs(name, 'if-none-match')) return 5;
      if (nameIs(name, 'authorization')) return 9;
      return -2;
    case 14:
      return nameIs(name, 'content-length') ? H_CL : -2;
    case 17:
      if (nameIs(name, 'if-modified-since')) return 2;
      if (nameIs(name, 'transfer-encoding')) return H_TE;
      return -2;
    case 19:
      return nameIs(name, 'if-unmodified-since') ? 3 : -2;
    default:
      return -2;
  }
}

// nginx's header-name alphabet: [A-Za-z0-9-], plus `_` with underscores_in_headers.
function validName(name: string, underscores: boolean): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2d) continue;
    if (c >= 0x30 && c <= 0x39) continue;
    const l = c | 0x20;
    if (l >= 0x61 && l <= 0x7a) continue;
    if (c === 0x5f && underscores) continue;
    return false;
  }
  return name.length > 0;
}

// RFC 9110 token characters only: what a name may hold to be forwarded at all.
function tokenName(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0x7e || TCHAR[c] !== 1) return false;
  }
  return true;
}

function trimOws(v: string): string {
  let s = 0;
  let e = v.length;
  while (s < e && (v.charCodeAt(s) === 0x20 || v.charCodeAt(s) === 0x09)) s++;
  while (e > s && (v.charCodeAt(e - 1) === 0x20 || v.charCodeAt(e - 1) === 0x09)) e--;
  return s === 0 && e === v.length ? v : v.slice(s, e);
}

/** The info-log text nginx writes for a header line it ignores. */
export function invalidHeaderLogText(name: string, value: string): string {
  return `client sent invalid header line: "${name}: ${value}"`;
}

const KNOWN_CODINGS = new Set(['chunked', 'identity', 'gzip', 'x-gzip', 'deflate', 'compress', 'x-compress', 'br', 'zstd']);

/** `gzip, chunked`: every element a known coding, no empty element, chunked at most once. */
function wellFormedCodings(te: string): boolean {
  let chunkedSeen = false;
  for (const part of te.split(',')) {
    const coding = part.trim().toLowerCase();
    if (!KNOWN_CODINGS.has(coding)) return false;
    if (coding === 'chunked') {
      if (chunkedSeen) return false;
      chunkedSeen = true;
    }
  }
  return true;
}

/*
 * Validate what RequestHeadParser parsed. Called once per request, right after the head is parsed
 * and before anything reads the body; a failure means: answer `status` (Connection: close),
 * log `reason` at info, close.
 */
export function validateRequestHead(
  method: string,
  httpVersionMajor: number,
  httpVersionMinor: number,
  url: string,
  rawHeaders: readonly string[],
  options: RequestHeadOptions,
): RequestHeadResult {
  const bufferSize = options.largeHeaderBufferSize ?? 8192;
  const maxHeaders = options.maxHeaders ?? 1000;

  // --- request line (ngx_http_parse_request_line / ngx_http_process_request_line)
  if (method.length === 0) return fail(400, 'client sent invalid method', LINE);
  for (let i = 0; i < method.length; i++) {
    const c = method.charCodeAt(i);
    if ((c < 0x41 || c > 0x5a) && c !== 0x5f && c !== 0x2d) return fail(400, 'client sent invalid method', LINE);
  }
  // The parser gives 1.x (any minor: 1.2 is served) or 0.9 (GET only); 2.0 and above were 505.
  if (httpVersionMajor > 1) return fail(505, 'client sent invalid version', LINE);
  // "GET " + url + " HTTP/1.1" must fit one large header buffer.
  if (method.length + url.length + 10 > bufferSize) return fail(414, 'client sent too long URI', LINE);
  if (method === 'CONNECT') {
    // nginx parses an authority, host:port, and then refuses CONNECT (no allow_connect here)
    if (!authorityForm(url)) return fail(400, 'client sent invalid request', LINE);
    return fail(405, 'client sent CONNECT method', LINE);
  }

  let target = url;
  let absoluteForm = false;
  let authority: string | null = null;
  let host = '';
  let port = 0;
  if (url.charCodeAt(0) !== 0x2f) {
    const abs = parseAbsoluteForm(url);
    if (abs === null) return fail(400, 'client sent invalid request', LINE);
    const vh = validateHost(abs.authority);
    if (vh === null) return fail(400, 'client sent invalid host in request line', LINE);
    absoluteForm = true;
    authority = abs.authority;
    target = abs.target;
    host = vh.host;
    port = vh.port;
  }
  const http11 = httpVersionMajor === 1 && httpVersionMinor >= 1;

  // --- header lines (ngx_http_process_request_headers + the headers_in handlers)
  const n = rawHeaders.length;
  if (n > maxHeaders * 2) return fail(400, 'client sent too many header lines', HEADERS);
  let hostIdx = -1;
  let dropHeaders: number[] | null = null;
  // Index of the first line of each unique header seen; -1 = not seen. Small and fixed.
  let u0 = -1, u1 = -1, u2 = -1, u3 = -1, u4 = -1, u5 = -1, u6 = -1, u7 = -1, u8 = -1, u9 = -1;

  for (let i = 0; i < n; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    if (name.length + value.length + 2 > bufferSize) {
      const line = `${name}: ${value}`;
      return {
        status: 400,
        reason: `client sent too long header line: "${line.length > 1024 ? line.slice(0, 1024) : line}..."`,
        action: HEADERS,
        tooLarge: true,
      };
    }
    if (!validName(name, options.underscoresInHeaders)) {
      // a byte that is no token character can reach no upstream: ignored whatever the setting
      if (options.ignoreInvalidHeaders || !tokenName(name)) {
        (dropHeaders ??= []).push(i);
        continue;
      }
      if (nameFoldsTo(name, 'transfer-encoding') || nameFoldsTo(name, 'content-length') || nameFoldsTo(name, 'host')) {
        return fail(400, invalidHeaderLogText(name, value), HEADERS);
      }
      continue;
    }
    const kind = classify(name);
    if (kind === -2) continue;
    if (kind === H_HOST) {
      if (hostIdx >= 0) {
        return fail(
          400,
          `client sent duplicate host header: "${name}: ${value}", previous value: "${rawHeaders[hostIdx]}: ${rawHeaders[hostIdx + 1]}"`,
          HEADERS,
        );
      }
      hostIdx = i;
      const vh = validateHost(trimOws(value));
      if (vh === null) return fail(400, 'client sent invalid host header', HEADERS);
      // The request-line authority, when there is one, wins (r->headers_in.server is set).
      if (!absoluteForm) {
        host = vh.host;
        port = vh.port;
      }
      continue;
    }
    let prev: number;
    switch (kind) {
      case 0: prev = u0; u0 = u0 < 0 ? i : u0; break;
      case 1: prev = u1; u1 = u1 < 0 ? i : u1; break;
      case 2: prev = u2; u2 = u2 < 0 ? i : u2; break;
      case 3: prev = u3; u3 = u3 < 0 ? i : u3; break;
      case 4: prev = u4; u4 = u4 < 0 ? i : u4; break;
      case 5: prev = u5; u5 = u5 < 0 ? i : u5; break;
      case 6: prev = u6; u6 = u6 < 0 ? i : u6; break;
      case 7: prev = u7; u7 = u7 < 0 ? i : u7; break;
      case 8: prev = u8; u8 = u8 < 0 ? i : u8; break;
      default: prev = u9; u9 = u9 < 0 ? i : u9; break;
    }
    if (prev >= 0) {
      return fail(
        400,
        `client sent duplicate header line: "${name}: ${value}", previous value: "${rawHeaders[prev]}: ${rawHeaders[prev + 1]}"`,
        HEADERS,
      );
    }
  }

  // --- ngx_http_process_request_header, in nginx's order
  if (hostIdx < 0 && http11) {
    return fail(400, 'client sent HTTP/1.1 request without "Host" header', HEADERS);
  }
  if (!absoluteForm && hostIdx >= 0) authority = trimOws(rawHeaders[hostIdx + 1]!);

  let contentLength = -1;
  if (u0 >= 0) {
    contentLength = parseContentLength(trimOws(rawHeaders[u0 + 1]!));
    if (contentLength < 0) return fail(400, 'client sent invalid "Content-Length" header', HEADERS);
  }

  let chunked = false;
  if (u7 >= 0) {
    if (!http11) {
      return fail(400, 'client sent HTTP/1.0 request with "Transfer-Encoding" header', HEADERS);
    }
    const te = trimOws(rawHeaders[u7 + 1]!);
    if (!nameIs(te, 'chunked')) {
      // A well-formed list of real codings is nginx's 501; anything malformed
      // (`,chunked`, quotes, `chunk`, `chunked, chunked`) is 400 (RELIABILITY R6).
      const status = wellFormedCodings(te) ? 501 : 400;
      return fail(status, `client sent unknown "Transfer-Encoding": "${te}"`, HEADERS);
    }
    if (contentLength >= 0) {
      return fail(400, 'client sent "Content-Length" and "Transfer-Encoding" headers at the same time', HEADERS);
    }
    chunked = true;
  }

  if (method === 'TRACE') return fail(405, 'client sent TRACE method', HEADERS);

  // RFC 9110 §10.1.1: an expectation we cannot meet is 417 (nginx ignores it; RELIABILITY R24).
  if (u8 >= 0 && http11 && !nameIs(trimOws(rawHeaders[u8 + 1]!), '100-continue')) {
    return fail(417, `client sent unsupported expectation: "${rawHeaders[u8 + 1]}"`, HEADERS);
  }

  return { status: 0, host, port, authority, absoluteForm, target, contentLength, chunked, dropHeaders };
}

/*
 * ngx_atoof: decimal digits only (no sign, no space, no hex), leading zeros allowed, so
 * `010` is 10. Returns -1 when invalid or above 2^53-1.
 */
export function parseContentLength(v: string): number {
  const len = v.length;
  if (len === 0) return -1;
  let n = 0;
  for (let i = 0; i < len; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
    if (n > Number.MAX_SAFE_INTEGER) return -1;
  }
  return n;
}

/** UNIQUE_HEADERS, exported for documentation and tests. */
export const uniqueRequestHeaders: readonly string[] = UNIQUE_HEADERS;
