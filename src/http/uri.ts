/*
 * Request URI normalisation: nginx's ngx_http_parse_complex_uri (src/http/ngx_http_parse.c)
 * as driven by ngx_http_process_request_uri, plus the escape tables of ngx_escape_uri
 * (src/core/ngx_string.c) used when a URI is rebuilt for proxy_pass.
 *
 * What nginx does, and so what we do:
 *   - the target is split at the first `?` of the *raw* target: `%3F` decodes to a literal `?`
 *     that stays in $uri; `#` ends the path (and the args), raw or decoded `%23` stays literal;
 *   - %XX is decoded; a bad escape (`%zz`, `%4`, a trailing `%`) and `%00` give 400;
 *     a decoded `/` or `.` counts as a separator, so `/%2e%2e/` climbs like `/../`;
 *   - `//` is merged (merge_slashes on), `/./` and a trailing `/.` vanish, `/../` and a
 *     trailing `/..` remove the previous segment; climbing above the root gives 400;
 *   - the fast path (no `%`, `#`, `//`, `/.`) returns the target, or its part before `?`,
 *     without copying, like nginx's `complex_uri == 0 && quoted_uri == 0` case.
 *
 * Deliberate differences:
 *   - $uri is a byte string carried in a JS string, one char per byte (latin1): a decoded
 *     `%C3%A9` is two chars. Location names and regexes from the config are converted the
 *     same way at build time (toByteString), so matching stays byte-for-byte like nginx.
 *   - Node's strict parser has already rejected control bytes, spaces and non-ASCII bytes in
 *     the raw target, so this module does not repeat nginx's ngx_http_parse_request_line
 *     checks for them; a char above 0xff (impossible from the request parser) is answered with 400.
 *   - NGX_WIN32 backslash handling is not reproduced (we mirror nginx on Unix).
 */

export interface ParsedUri {
  status: 0;
  /** $uri: decoded and normalised path, a byte string. */
  uri: string;
  /** $args: the raw query after `?`, without the fragment; '' when absent. */
  args: string;
  /** $is_args is `?` exactly when the target had a `?`. */
  hasArgs: boolean;
  /** The target had %-escapes (nginx r->quoted_uri): proxy_pass with a URI part re-escapes. */
  quoted: boolean;
}

export interface InvalidUri {
  status: 400;
  /** nginx's info-level error log text. */
  reason: string;
}

const INVALID: InvalidUri = { status: 400, reason: 'client sent invalid request' };

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const QUESTION = 0x3f;
const HASH = 0x23;

/*
 * Parse and normalise an origin-form request target (it must start with `/`).
 * mergeSlashes mirrors the merge_slashes directive (default on).
 */
export function parseRequestUri(target: string, mergeSlashes = true): ParsedUri | InvalidUri {
  const len = target.length;
  if (len === 0 || target.charCodeAt(0) !== SLASH) return INVALID;

  // One pass to find what nginx's request-line parser would flag as complex or quoted.
  let complex = false;
  let quoted = false;
  let q = -1;
  let prev = SLASH;
  for (let i = 1; i < len; i++) {
    const c = target.charCodeAt(i);
    if (q < 0) {
      if (c === PERCENT) { quoted = true; break; }
      if (c === HASH) { complex = true; break; }
      if (prev === SLASH && (c === SLASH || c === DOT)) { complex = true; break; }
      if (c === QUESTION) q = i;
      if (c > 0xff) return INVALID;
      prev = c;
    } else if (c === HASH) {
      complex = true;
      break;
    }
  }
  if (!complex && !quoted) {
    if (q < 0) return { status: 0, uri: target, args: '', hasArgs: false, quoted: false };
    return { status: 0, uri: target.slice(0, q), args: target.slice(q + 1), hasArgs: true, quoted: false };
  }
  return parseComplexUri(target, mergeSlashes);
}

// Scratch output buffer, reused: the slow path allocates only the result strings.
let scratch = new Uint8Array(1024);

const ST_USUAL = 0;
const ST_SLASH = 1;
const ST_DOT = 2;
const ST_DOT_DOT = 3;
const ST_QUOTED = 4;
const ST_QUOTED_SECOND = 5;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/*
 * The slow path: ngx_http_parse_complex_uri's state machine, byte for byte. Exported for
 * tests (fast path == slow path); callers use parseRequestUri.
 */
export function parseComplexUri(target: string, mergeSlashes = true): ParsedUri | InvalidUri {
  const len = target.length;
  if (len === 0 || target.charCodeAt(0) !== SLASH) return INVALID;
  if (scratch.length < len) scratch = new Uint8Array(len * 2);
  const out = scratch;
  let u = 0;
  let state = ST_USUAL;
  let quotedState = ST_USUAL;
  let decoded = 0;
  let quoted = false;
  let argsStart = -1;
  let argsEnd = len;
  let i = 0;

  scan: while (i < len) {
    let ch = target.charCodeAt(i++);
    if (ch > 0xff) return INVALID;

    if (state === ST_QUOTED) {
      quoted = true;
      const h = hexValue(ch);
      if (h < 0) return INVALID;
      decoded = h;
      state = ST_QUOTED_SECOND;
      continue;
    }
    if (state === ST_QUOTED_SECOND) {
      const h = hexValue(ch);
      if (h < 0) return INVALID;
      ch = (decoded << 4) + h;
      if (ch === 0) return INVALID;
      // A decoded `%`, `#` or `?` is data, never syntax.
      if (ch === PERCENT || ch === HASH || ch === QUESTION) {
        out[u++] = ch;
        state = ST_USUAL;
        continue;
      }
      state = quotedState;
      // fall through: the decoded byte is dispatched in the state that saw the `%`
    }

    switch (ch) {
      case SLASH:
        if (state === ST_DOT) {
          u--;
          state = ST_SLASH;
        } else if (state === ST_DOT_DOT) {
          u = climb(out, u);
          if (u < 0) return INVALID;
          state = ST_SLASH;
        } else if (state === ST_SLASH) {
          if (!mergeSlashes) out[u++] = ch;
        } else {
          out[u++] = ch;
          state = ST_SLASH;
        }
        break;
      case DOT:
        if (state === ST_SLASH) {
          out[u++] = ch;
          state = ST_DOT;
        } else if (state === ST_DOT) {
          out[u++] = ch;
          state = ST_DOT_DOT;
        } else {
          out[u++] = ch;
          state = ST_USUAL;
        }
        break;
      case PERCENT:
        quotedState = state;
        state = ST_QUOTED;
        break;
      case QUESTION:
      case HASH:
        if (state === ST_DOT) {
          u--;
        } else if (state === ST_DOT_DOT) {
          u = climb(out, u);
          if (u < 0) return INVALID;
        }
        if (ch === QUESTION) {
          argsStart = i;
          const h = target.indexOf('#', i);
          if (h >= 0) argsEnd = h;
        }
        state = ST_USUAL;
        break scan;
      default:
        out[u++] = ch;
        state = ST_USUAL;
        break;
    }
  }

  if (state === ST_QUOTED || state === ST_QUOTED_SECOND) return INVALID;
  if (state === ST_DOT) {
    u--;
  } else if (state === ST_DOT_DOT) {
    u = climb(out, u);
    if (u < 0) return INVALID;
  }

  const uri = latin1(out, u);
  if (argsStart < 0) return { status: 0, uri, args: '', hasArgs: false, quoted };
  return { status: 0, uri, args: target.slice(argsStart, argsEnd), hasArgs: true, quoted };
}

// `/..` was just written at out[u-3..u-1]: drop it and the segment before, keep that slash.
function climb(out: Uint8Array, u: number): number {
  u -= 4;
  for (;;) {
    if (u < 0) return -1;
    if (out[u] === SLASH) return u + 1;
    u--;
  }
}

function latin1(buf: Uint8Array, n: number): string {
  // Chunked to keep fromCharCode's argument count bounded for long URIs.
  if (n <= 4096) return String.fromCharCode.apply(null, buf.subarray(0, n) as unknown as number[]);
  let s = '';
  for (let i = 0; i < n; i += 4096) {
    s += String.fromCharCode.apply(null, buf.subarray(i, Math.min(n, i + 4096)) as unknown as number[]);
  }
  return s;
}

/*
 * A config string (UTF-8 in the file, UTF-16 in JS) as the byte string nginx compares
 * against $uri. ASCII strings are returned unchanged.
 */
export function toByteString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) return Buffer.from(s, 'utf8').toString('latin1');
  }
  return s;
}

/*
 * ngx_escape_uri's tables: one bit per byte, set = escape as %XX (upper-case hex).
 * The names follow NGX_ESCAPE_*; MAIL_AUTH shares the memcached table as in nginx.
 */
export const enum EscapeType {
  Uri = 0,
  Args = 1,
  UriComponent = 2,
  Html = 3,
  Refresh = 4,
  Memcached = 5,
  MailAuth = 6,
}

const ALL = 0xffffffff;
// ngx_escape_uri's tables (src/core/ngx_string.c, as nginx 1.21.1 made them: RFC 3986 does not
// allow " < > \ ^ ` { | } in a URI, so they are escaped too). Bit c of word c >> 5: escape byte c.
const ESCAPE_TABLES: readonly (readonly number[])[] = [
  // URI: space " # % < > ? \ ^ ` { | } , controls, DEL and every byte >= 0x80
  [ALL, 0xd000002d, 0x50000000, 0xb8000001, ALL, ALL, ALL, ALL],
  // ARGS: as URI plus & + ;
  [ALL, 0xd800086d, 0x50000000, 0xb8000001, ALL, ALL, ALL, ALL],
  // URI_COMPONENT: everything except ALPHA DIGIT - . _ ~
  [ALL, 0xfc009fff, 0x78000001, 0xb8000001, ALL, ALL, ALL, ALL],
  // HTML: space " # % ' < > and the URI set's others
  [ALL, 0x500000ad, 0x50000000, 0xb8000001, ALL, ALL, ALL, ALL],
  // REFRESH: space " ' < > \ ^ ` { | and the high bytes
  [ALL, 0x50000085, 0x50000000, 0xd8000001, ALL, ALL, ALL, ALL],
  // MEMCACHED: controls, space and % only
  [ALL, 0x00000021, 0, 0, 0, 0, 0, 0],
  // MAIL_AUTH (xtext): controls, space, + =, DEL and the high bytes
  [ALL, 0x20000801, 0, 0x80000000, ALL, ALL, ALL, ALL],
];

const HEX = '0123456789ABCDEF';

function mustEscape(table: readonly number[], c: number): boolean {
  return (table[c >>> 5]! & (1 << (c & 0x1f))) !== 0;
}

/** How many bytes of the byte string s the table escapes (nginx's dst == NULL mode). */
export function countEscapes(s: string, type: EscapeType = EscapeType.Uri): number {
  const t = ESCAPE_TABLES[type]!;
  let n = 0;
  for (let i = 0; i < s.length; i++) if (mustEscape(t, s.charCodeAt(i) & 0xff)) n++;
  return n;
}

/** Escape the byte string s (one char per byte); returns s itself when nothing needs escaping. */
export function escapeUri(s: string, type: EscapeType = EscapeType.Uri): string {
  const t = ESCAPE_TABLES[type]!;
  let i = 0;
  for (; i < s.length; i++) if (mustEscape(t, s.charCodeAt(i) & 0xff)) break;
  if (i === s.length) return s;
  let out = s.slice(0, i);
  let start = i;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    if (!mustEscape(t, c)) continue;
    if (start < i) out += s.slice(start, i);
    out += '%' + HEX[c >>> 4] + HEX[c & 0xf];
    start = i + 1;
  }
  if (start < s.length) out += s.slice(start);
  return out;
}

/**
 * ngx_http_parse_unsafe_uri: a URI from an upstream (X-Accel-Redirect) split
 * at its `?` and unescaped; null when it could climb out of the location's
 * root (a `..` segment, escaped or not) or holds a NUL.
 */
export function parseUnsafeUri(text: string): { uri: string; args: string | null } | null {
  if (text === '' || text[0] === '?') return null;
  const q = text.indexOf('?');
  let uri = q === -1 ? text : text.slice(0, q);
  if (climbsOut(uri)) return null;
  if (uri.includes('%')) {
    uri = unescapeAll(uri);
    if (climbsOut(uri)) return null;
  }
  return { uri, args: q === -1 ? null : text.slice(q + 1) };
}

function climbsOut(path: string): boolean {
  return path.includes('\0') || path === '..' || path.startsWith('../') || /\/\.\.(?:\/|$)/.test(path);
}

/**
 * ngx_unescape_uri with no flags: every %XX decoded; of a bad escape nginx
 * keeps only the byte that broke it (`%zz` is `zz`, `%az` is `z`).
 */
function unescapeAll(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '%') { out += s[i]; continue; }
    const hi = hexValue(s.charCodeAt(i + 1));
    if (hi < 0) { i++; if (i < s.length) out += s[i]; continue; }
    const lo = hexValue(s.charCodeAt(i + 2));
    i += 2;
    if (lo < 0) { if (i < s.length) out += s[i]; continue; }
    out += String.fromCharCode(hi * 16 + lo);
  }
  return out;
}
