/**
 * Set-Cookie rewriting for proxied responses (ngx_http_proxy_rewrite_cookie,
 * proxy_cookie_domain, proxy_cookie_path, proxy_cookie_flags).
 *
 *   proxy_cookie_domain off | DOMAIN REPLACEMENT   (proxy-rewrite.ts)
 *   proxy_cookie_path   off | PATH REPLACEMENT     (proxy-rewrite.ts)
 *   proxy_cookie_flags  off | COOKIE [FLAG ...]    (COOKIE a complex value compared in
 *                        any case, or `~regex`, caseless; FLAGs complex values)
 *
 * The field is split as ngx_http_proxy_parse_cookie splits it (at `;`, spaces
 * around names and values dropped). Domain and Path values are rewritten by
 * their rules; the first flags rule whose cookie matches edits the flags. A
 * field nothing changed goes on byte for byte; a changed one is joined again
 * with "; " (nginx rebuilds it the same way).
 */
import type { HttpRequest } from '../../http/request.js';
import type { ComplexValue } from '../../http/variables.js';
import { execConfRegex, type ConfRegex } from '../../http/conf-regex.js';
import { asciiCaseEqual, rewriteValue, type RewriteRule } from './proxy-rewrite.js';

export interface CookieFlagsRule {
  readonly cookie: ComplexValue | ConfRegex;
  /** Evaluated per response; an empty or unknown flag is ignored, as nginx does. */
  readonly flags: readonly ComplexValue[];
}

export interface CookieRewriter {
  readonly domain: readonly RewriteRule[] | null;
  readonly path: readonly RewriteRule[] | null;
  readonly flags: readonly CookieFlagsRule[] | null;
}

/** One attribute: key null when a flag removed it, value null when it had no `=`. */
interface Attr {
  key: string | null;
  value: string | null;
}

const SECURE_ON = 0x02;
const SECURE_OFF = 0x04;
const HTTPONLY_ON = 0x10;
const HTTPONLY_OFF = 0x20;
const SAMESITE_STRICT = 0x80;
const SAMESITE_LAX = 0x100;
const SAMESITE_NONE = 0x200;
const SAMESITE_OFF = 0x400;

/** ngx_http_proxy_cookie_flags_masks. */
const FLAG_MASKS: ReadonlyArray<readonly [string, number]> = [
  ['secure', SECURE_ON], ['nosecure', SECURE_OFF],
  ['httponly', HTTPONLY_ON], ['nohttponly', HTTPONLY_OFF],
  ['samesite=strict', SAMESITE_STRICT], ['samesite=lax', SAMESITE_LAX],
  ['samesite=none', SAMESITE_NONE], ['nosamesite', SAMESITE_OFF],
];

/** ngx_http_proxy_parse_cookie. */
function parseCookie(value: string): Attr[] {
  const attrs: Attr[] = [];
  let start = 0;
  for (;;) {
    let last = value.indexOf(';', start);
    if (last === -1) last = value.length;
    while (start < last && value.charCodeAt(start) === 0x20) start++;
    let p = start;
    while (p < last && value.charCodeAt(p) !== 0x3d) p++;
    let nameEnd = p;
    while (nameEnd > start && value.charCodeAt(nameEnd - 1) === 0x20) nameEnd--;
    let val: string | null = null;
    if (p < last) {
      p++;
      while (p < last && value.charCodeAt(p) === 0x20) p++;
      let end = last;
      while (end > p && value.charCodeAt(end - 1) === 0x20) end--;
      val = value.slice(p, end);
    }
    attrs.push({ key: value.slice(start, nameEnd), value: val });
    if (last === value.length) break;
    start = last + 1;
  }
  return attrs;
}

/** Rewrites one Set-Cookie value; null when no rule applies (the field stays as it came). */
export function rewriteSetCookie(r: HttpRequest, value: string, rw: CookieRewriter): string | null {
  const attrs = parseCookie(value);
  if (attrs[0].value === null) return null;
  let changed = false;
  for (let i = 1; i < attrs.length; i++) {
    const a = attrs[i];
    if (a.value === null) continue;
    const key = a.key!;
    const rules = key.length === 6 && asciiCaseEqual('domain', key) ? rw.domain
      : key.length === 4 && asciiCaseEqual('path', key) ? rw.path : null;
    if (rules === null) continue;
    const out = rewriteValue(r, a.value, 0, rules);
    if (out !== null) { a.value = out; changed = true; }
  }
  if (rw.flags !== null && rewriteFlags(r, attrs, rw.flags)) changed = true;
  if (!changed) return null;
  let out = '';
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i];
    if (a.key === null) continue;
    if (i > 0) out += '; ';
    out += a.key;
    if (a.value !== null) out += '=' + a.value;
  }
  return out;
}

/** ngx_http_proxy_rewrite_cookie_flags: the first rule whose cookie matches, its flags evaluated. */
function rewriteFlags(r: HttpRequest, attrs: Attr[], rules: readonly CookieFlagsRule[]): boolean {
  const name = attrs[0].key!;
  let rule: CookieFlagsRule | null = null;
  for (let i = 0; i < rules.length && rule === null; i++) {
    const c = rules[i].cookie;
    if ('regex' in c) {
      if (execConfRegex(r, c, name)) rule = rules[i];
      continue;
    }
    const pattern = c.evaluate(r);
    if (pattern.length === name.length && asciiCaseEqual(pattern, name)) rule = rules[i];
  }
  if (rule === null) return false;
  let flags = 0;
  for (const fv of rule.flags) {
    const v = fv.evaluate(r);
    if (v === '') continue;
    const mask = FLAG_MASKS.find(([n]) => n.length === v.length && asciiCaseEqual(n, v));
    if (mask) flags |= mask[1];
    else r.log('debug', `invalid proxy_cookie_flags flag "${v}"`);
  }
  if (flags === 0) return false;
  editFlags(attrs, flags);
  return true;
}

/** ngx_http_proxy_edit_cookie_flags: set flags replace or keep the cookie's own, `no...` ones remove them. */
function editFlags(attrs: Attr[], flags: number): void {
  for (let i = 1; i < attrs.length; i++) {
    const a = attrs[i];
    const key = a.key!;
    if (key.length === 6 && asciiCaseEqual('secure', key)) {
      if (flags & SECURE_ON) flags &= ~SECURE_ON;
      else if (flags & SECURE_OFF) a.key = null;
    } else if (key.length === 8 && asciiCaseEqual('httponly', key)) {
      if (flags & HTTPONLY_ON) flags &= ~HTTPONLY_ON;
      else if (flags & HTTPONLY_OFF) a.key = null;
    } else if (key.length === 8 && asciiCaseEqual('samesite', key)) {
      const set = flags & SAMESITE_STRICT ? 'Strict' : flags & SAMESITE_LAX ? 'Lax' : flags & SAMESITE_NONE ? 'None' : null;
      if (set !== null) {
        flags &= ~(set === 'Strict' ? SAMESITE_STRICT : set === 'Lax' ? SAMESITE_LAX : SAMESITE_NONE);
        if (a.value === null || a.value.length !== set.length || !asciiCaseEqual(set, a.value)) {
          a.key = 'SameSite';
          a.value = set;
        }
      } else if (flags & SAMESITE_OFF) {
        a.key = null;
      }
    }
  }
  if (flags & SECURE_ON) attrs.push({ key: 'Secure', value: null });
  if (flags & HTTPONLY_ON) attrs.push({ key: 'HttpOnly', value: null });
  if (flags & (SAMESITE_STRICT | SAMESITE_LAX | SAMESITE_NONE)) {
    attrs.push({ key: 'SameSite', value: flags & SAMESITE_STRICT ? 'Strict' : flags & SAMESITE_LAX ? 'Lax' : 'None' });
  }
}
