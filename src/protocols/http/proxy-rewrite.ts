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
import { compileNginxRegex } from '../../http/location-tree.js';
import { namedGroups } from '../../http/variables-core.js';
import { toByteString } from '../../http/uri.js';

/** A compiled regex with the variable slots of its named groups. */
export interface ConfRegex {
  readonly regex: RegExp;
  readonly slots: ReadonlyArray<readonly [string, number]>;
}

export type RewriteRule =
  | { readonly kind: 'prefix' | 'domain'; readonly pattern: ComplexValue; readonly replacement: ComplexValue }
  | { readonly kind: 'regex'; readonly pattern: ConfRegex; readonly replacement: ComplexValue };

/** Compiles `source` as ngx_http_regex_compile does: named groups become settable variables. */
export function compileConfRegex(cf: ConfContext, vars: VariableRegistry, source: string, caseless: boolean): ConfRegex {
  let regex: RegExp;
  try {
    regex = compileNginxRegex(source, caseless);
  } catch (e) {
    return cf.error((e as Error).message);
  }
  return { regex, slots: namedGroups(source).map((g) => [g, vars.declareSettable(g)] as const) };
}

/**
 * ngx_http_regex_exec: a match of a regex with groups becomes the request's
 * captures (a regex without groups leaves the earlier ones in place).
 */
export function execConfRegex(r: HttpRequest, re: ConfRegex, s: string): boolean {
  const m = re.regex.exec(s);
  if (m === null) return false;
  if (m.length > 1) r.captures = m;
  if (re.slots.length > 0 && m.groups) {
    for (const [name, slot] of re.slots) r.variables[slot] = m.groups[name] ?? '';
  }
  return true;
}

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
