/*
 * The request's authority as nginx checks it: the Host value
 * (ngx_http_validate_host), the absolute-form target and CONNECT's
 * host:port (ngx_http_parse_request_line). request-validation.ts applies them.
 */

export interface ValidatedHost {
  /** Lower-cased, trailing dot and port removed. */
  host: string;
  /** 0 when absent or empty. */
  port: number;
}

/*
 * ngx_http_validate_host: returns null for what nginx declines (400). Accepts a bracketed
 * IP literal, or a reg-name of RFC 3986 chars plus bytes >= 0x80 (raw IDN, as nginx allows),
 * rejecting `..`, `/`, `\`, spaces and controls; then an optional `:port` of digits.
 */
export function validateHost(value: string): ValidatedHost | null {
  const len = value.length;
  if (len === 0) return null;
  let i = 0;
  let hostEnd = -1;
  let upper = false;
  if (value.charCodeAt(0) === 0x5b /* [ */) {
    for (i = 1; i < len; i++) {
      const c = value.charCodeAt(i);
      if (c === 0x5d /* ] */) break;
      if (!ipLiteralChar(c)) return null;
      // ngx_http_validate_host refuses `..` wherever it is, brackets included
      if (c === 0x2e && value.charCodeAt(i - 1) === 0x2e) return null;
      if (c >= 0x41 && c <= 0x5a) upper = true;
    }
    if (i === len || i === 1) return null;
    i++;
    hostEnd = i;
  } else {
    let prevDot = false;
    for (; i < len; i++) {
      const c = value.charCodeAt(i);
      if (c === 0x3a /* : */) break;
      if (c === 0x2e) {
        if (prevDot) return null;
        prevDot = true;
        continue;
      }
      prevDot = false;
      if (!regNameChar(c)) return null;
      if (c >= 0x41 && c <= 0x5a) upper = true;
    }
    hostEnd = i;
    // One trailing dot is dropped: "example.com." is "example.com".
    if (hostEnd > 0 && value.charCodeAt(hostEnd - 1) === 0x2e) hostEnd--;
    if (hostEnd === 0) return null;
  }
  let port = 0;
  if (i < len) {
    if (value.charCodeAt(i) !== 0x3a) return null;
    for (i++; i < len; i++) {
      const c = value.charCodeAt(i);
      if (c < 0x30 || c > 0x39) return null;
      port = port * 10 + (c - 0x30);
      if (port > 65535) return null;
    }
  }
  let host = hostEnd === len ? value : value.slice(0, hostEnd);
  if (upper) host = host.toLowerCase();
  return { host, port };
}

function regNameChar(c: number): boolean {
  if (c >= 0x80) return c <= 0xff;
  if (c >= 0x61 && c <= 0x7a) return true;
  if (c >= 0x41 && c <= 0x5a) return true;
  if (c >= 0x30 && c <= 0x39) return true;
  switch (c) {
    case 0x2d: // -
    case 0x5f: // _
    case 0x7e: // ~
    case 0x21: // !
    case 0x24: // $
    case 0x26: // &
    case 0x27: // '
    case 0x28: // (
    case 0x29: // )
    case 0x2a: // *
    case 0x2b: // +
    case 0x2c: // ,
    case 0x3b: // ;
    case 0x3d: // =
    case 0x25: // %
      return true;
    default:
      return false;
  }
}

// The IP-literal alphabet of ngx_http_parse_request_line's sw_host_ip_literal.
function ipLiteralChar(c: number): boolean {
  if (c >= 0x30 && c <= 0x3a) return true; // digits and ':'
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x7a) return true;
  switch (c) {
    case 0x2d: case 0x2e: case 0x5f: case 0x7e:
    case 0x21: case 0x24: case 0x26: case 0x27: case 0x28: case 0x29:
    case 0x2a: case 0x2b: case 0x2c: case 0x3b: case 0x3d:
      return true;
    default:
      return false;
  }
}

export interface AbsoluteTarget {
  authority: string;
  target: string;
}

/*
 * The absolute-form grammar of ngx_http_parse_request_line: scheme, `://`, a host of
 * [A-Za-z0-9.-] or an IP literal, an optional port of digits, then `/`, `?` or the end.
 * Userinfo (`@`) and anything else is "client sent invalid request".
 */
export function parseAbsoluteForm(url: string): AbsoluteTarget | null {
  const len = url.length;
  let i = 0;
  const first = url.charCodeAt(0) | 0x20;
  if (!(first >= 0x61 && first <= 0x7a)) return null;
  for (i = 1; i < len; i++) {
    const c = url.charCodeAt(i);
    const l = c | 0x20;
    if ((l >= 0x61 && l <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e) continue;
    break;
  }
  if (url.charCodeAt(i) !== 0x3a || url.charCodeAt(i + 1) !== 0x2f || url.charCodeAt(i + 2) !== 0x2f) return null;
  i += 3;
  const start = i;
  if (url.charCodeAt(i) === 0x5b) {
    for (i++; i < len; i++) {
      const c = url.charCodeAt(i);
      if (c === 0x5d) break;
      if (!ipLiteralChar(c)) return null;
    }
    if (i === len) return null;
    i++;
  } else {
    for (; i < len; i++) {
      const c = url.charCodeAt(i);
      const l = c | 0x20;
      if ((l >= 0x61 && l <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d) continue;
      break;
    }
  }
  if (i < len && url.charCodeAt(i) === 0x3a) {
    for (i++; i < len; i++) {
      const c = url.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
    }
  }
  const authority = url.slice(start, i);
  if (i === len) return { authority, target: '/' };
  const c = url.charCodeAt(i);
  if (c === 0x2f) return { authority, target: url.slice(i) };
  if (c === 0x3f) return { authority, target: '/' + url.slice(i) };
  return null;
}

// CONNECT's target as ngx_http_parse_request_line takes it: a host ([A-Za-z0-9.-] or an IP
// literal) and a port of digits.
export function authorityForm(url: string): boolean {
  let i = 0;
  const len = url.length;
  if (url.charCodeAt(0) === 0x5b) {
    for (i = 1; i < len && url.charCodeAt(i) !== 0x5d; i++) if (!ipLiteralChar(url.charCodeAt(i))) return false;
    if (i === len) return false;
    i++;
  } else {
    for (; i < len; i++) {
      const c = url.charCodeAt(i);
      const l = c | 0x20;
      if (!((l >= 0x61 && l <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d)) break;
    }
    if (i === 0) return false;
  }
  if (url.charCodeAt(i) !== 0x3a || i + 1 === len) return false;
  for (i++; i < len; i++) {
    const c = url.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
