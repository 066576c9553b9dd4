/**
 * Set-Cookie rewriting for proxied responses (ngx_http_proxy_rewrite_cookie,
 * proxy_cookie_domain, proxy_cookie_path, proxy_cookie_flags).
 *
 *   proxy_cookie_domain off | DOMAIN REPLACEMENT   (DOMAIN may be `~regex`, case-insensitive)
 *   proxy_cookie_path   off | PATH REPLACEMENT     (`~` case-sensitive, `~*` insensitive)
 *   proxy_cookie_flags  off | COOKIE [FLAG ...]    (COOKIE may be `~regex`; flags: secure,
 *                        httponly, samesite=strict|lax|none, nosecure, nohttponly, nosamesite)
 *
 * Rules are compiled at config time; a cookie's domain/path attribute is
 * rewritten by the first rule that matches (the replacement may use
 * variables and regex captures `$1`..`$9`), as nginx does.
 */
import type { HttpRequest } from '../../http/request.js';
import type { ComplexValue } from '../../http/variables.js';

export interface CookieRewriteRule {
  /** Plain text to compare (case-insensitive for domains), or a regex. */
  readonly match: string | RegExp;
  readonly replacement: ComplexValue;
}

export interface CookieFlagsRule {
  readonly cookie: string | RegExp;
  readonly flags: readonly string[];
}

export interface CookieRewriter {
  readonly domain: readonly CookieRewriteRule[];
  readonly path: readonly CookieRewriteRule[];
  readonly flags: readonly CookieFlagsRule[];
}

/** `example.com`, `.example.com` match the same domain, as nginx strips a leading dot. */
function stripDot(s: string): string {
  return s.startsWith('.') ? s.slice(1) : s;
}

function rewriteValue(r: HttpRequest, value: string, rules: readonly CookieRewriteRule[], domain: boolean): string {
  for (const rule of rules) {
    if (typeof rule.match === 'string') {
      const a = domain ? stripDot(value).toLowerCase() : value;
      const b = domain ? stripDot(rule.match).toLowerCase() : rule.match;
      if (domain ? a === b : a.startsWith(b)) {
        return rule.replacement.evaluate(r) + (domain ? '' : value.slice(b.length));
      }
      continue;
    }
    const m = rule.match.exec(value);
    if (!m) continue;
    const saved = r.captures;
    r.captures = m;
    const out = rule.replacement.evaluate(r) + value.slice(m.index + m[0].length);
    r.captures = saved;
    return value.slice(0, m.index) + out;
  }
  return value;
}

function applyFlags(attrs: string[], flags: readonly string[]): void {
  const has = (name: string): number => attrs.findIndex((a) => a.trim().toLowerCase().split('=')[0] === name);
  for (const f of flags) {
    const lower = f.toLowerCase();
    if (lower === 'secure' || lower === 'httponly') {
      if (has(lower) === -1) attrs.push(lower === 'secure' ? ' Secure' : ' HttpOnly');
    } else if (lower === 'nosecure' || lower === 'nohttponly' || lower === 'nosamesite') {
      const i = has(lower.slice(2));
      if (i !== -1) attrs.splice(i, 1);
    } else if (lower.startsWith('samesite=')) {
      const value = f.slice(9);
      const v = value.charAt(0).toUpperCase() + value.slice(1).toLowerCase();
      const i = has('samesite');
      if (i === -1) attrs.push(` SameSite=${v}`);
    }
  }
}

/** Rewrites one Set-Cookie value; returns it unchanged when no rule applies. */
export function rewriteSetCookie(r: HttpRequest, value: string, rw: CookieRewriter): string {
  const parts = value.split(';');
  let changed = false;
  for (let i = 1; i < parts.length; i++) {
    const eq = parts[i].indexOf('=');
    if (eq === -1) continue;
    const name = parts[i].slice(0, eq).trim().toLowerCase();
    const rules = name === 'domain' ? rw.domain : name === 'path' ? rw.path : null;
    if (!rules || rules.length === 0) continue;
    const v = parts[i].slice(eq + 1).trim();
    const nv = rewriteValue(r, v, rules, name === 'domain');
    if (nv !== v) {
      parts[i] = `${parts[i].slice(0, eq + 1)}${nv}`;
      changed = true;
    }
  }
  if (rw.flags.length > 0) {
    const eq = parts[0].indexOf('=');
    const cookie = (eq === -1 ? parts[0] : parts[0].slice(0, eq)).trim();
    for (const rule of rw.flags) {
      const hit = typeof rule.cookie === 'string' ? rule.cookie === cookie : rule.cookie.test(cookie);
      if (!hit) continue;
      const attrs = parts.slice(1);
      applyFlags(attrs, rule.flags);
      parts.length = 1;
      parts.push(...attrs);
      changed = true;
      break;
    }
  }
  return changed ? parts.join(';') : value;
}

const FLAG = /^(secure|httponly|nosecure|nohttponly|nosamesite|samesite=(strict|lax|none))$/i;

/** Checks proxy_cookie_flags' flags; returns the bad one, or null. */
export function invalidCookieFlag(flags: readonly string[]): string | null {
  for (const f of flags) if (!FLAG.test(f)) return f;
  return null;
}
