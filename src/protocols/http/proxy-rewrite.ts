/**
 * The rewrite rules proxy_redirect, proxy_cookie_domain and proxy_cookie_path
 * share (nginx's ngx_http_proxy_rewrite_t and its three handlers). Each rule
 * looks at a value from `prefix` on (the `url=` of a Refresh field, else 0):
 *
 *   prefix  FROM, a complex value, must begin the rest, case-sensitively; it is
 *           replaced and what follows stays (ngx_http_proxy_rewrite_complex_handler)
 *   regex   `~` / `~*`: matched against the rest; a match replaces all of the
 *           rest, and its captures stay the request's $1.. and named variables,
 *           as ngx_http_regex_exec leaves them (ngx_http_proxy_rewrite_regex_handler)
 *   domain  proxy_cookie_domain's plain form: a leading dot of the value stays out
 *           of the comparison and is kept; the rest must equal FROM in any case
 *           (ngx_http_proxy_rewrite_domain_handler)
 *
 * Rules are compiled at config time; per value, the first rule that matches
 * applies (ngx_http_proxy_rewrite_redirect, _rewrite_cookie_value).
 */
import type { ConfContext } from '../../config/conf-context.js';
import type { HttpRequest } from '../../http/request.js';
import type { ComplexValue, VariableRegistry } from '../../http/variables.js';
import { compileConfRegex, execConfRegex, type ConfRegex } from '../../http/conf-regex.js';
import { toByteString } from '../../http/uri.js';

export type RewriteRule =
  | { readonly kind: 'prefix' | 'domain'; readonly pattern: ComplexValue; readonly replacement: ComplexValue }
  | { readonly kind: 'regex'; readonly pattern: ConfRegex; readonly replacement: ComplexValue };

/**
 * A FROM/TO pair of proxy_redirect or proxy_cookie_path (`~` case-sensitive,
 * `~*` caseless), or of proxy_cookie_domain (`~` caseless; a leading dot of a
 * plain FROM and of its TO is dropped, as the handler keeps the value's own).
 */
export function compileRewriteRule(cf: ConfContext, vars: VariableRegistry, from: string, to: string, domain: boolean): RewriteRule {
  const kind: 'prefix' | 'domain' = domain ? 'domain' : 'prefix';
  if (from.startsWith('~')) {
    // proxy_cookie_domain takes only `~`: a `*` after it is part of the regex, as in nginx.
    const caseless = domain || from[1] === '*';
    const source = from.slice(!domain && from[1] === '*' ? 2 : 1);
    return { kind: 'regex', pattern: compileConfRegex(cf, vars, source, caseless), replacement: compileValue(cf, vars, to) };
  }
  if (domain && from.startsWith('.')) from = from.slice(1);
  if (domain && to.startsWith('.')) to = to.slice(1);
  return { kind, pattern: compileValue(cf, vars, from), replacement: compileValue(cf, vars, to) };
}

/** A complex value over the bytes of a config string (header values are byte strings). */
export function compileValue(cf: ConfContext, vars: VariableRegistry, text: string): ComplexValue {
  return vars.compile(toByteString(text), cf.position);
}

/** The first rule that matches `value` from `prefix` on, applied; null when none does (NGX_DECLINED). */
export function rewriteValue(r: HttpRequest, value: string, prefix: number, rules: readonly RewriteRule[]): string | null {
  for (let i = 0; i < rules.length; i++) {
    const out = applyRule(r, value, prefix, rules[i]);
    if (out !== null) return out;
  }
  return null;
}

function applyRule(r: HttpRequest, value: string, prefix: number, rule: RewriteRule): string | null {
  if (rule.kind === 'regex') {
    if (!execConfRegex(r, rule.pattern, prefix === 0 ? value : value.slice(prefix))) return null;
    return value.slice(0, prefix) + rule.replacement.evaluate(r);
  }
  const pattern = rule.pattern.evaluate(r);
  if (rule.kind === 'prefix') {
    if (!value.startsWith(pattern, prefix)) return null;
    return value.slice(0, prefix) + rule.replacement.evaluate(r) + value.slice(prefix + pattern.length);
  }
  if (value.charCodeAt(prefix) === 0x2e) prefix++;
  if (pattern.length !== value.length - prefix || !asciiCaseEqual(pattern, value, prefix)) return null;
  return value.slice(0, prefix) + rule.replacement.evaluate(r);
}

/** `a` equals `b` from `at` on in any ASCII case (ngx_strncasecmp: bytes above 0x7f compare as they are). */
export function asciiCaseEqual(a: string, b: string, at = 0): boolean {
  for (let i = 0; i < a.length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(at + i);
    if (x >= 0x41 && x <= 0x5a) x += 0x20;
    if (y >= 0x41 && y <= 0x5a) y += 0x20;
    if (x !== y) return false;
  }
  return true;
}
