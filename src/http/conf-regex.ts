/**
 * A regex of a directive (ngx_http_regex_compile / ngx_http_regex_exec): its
 * named groups become settable variables, and a match sets the request's
 * captures and those variables.
 */
import type { ConfContext } from '../config/conf-context.js';
import type { ConfNode } from '../config/parser.js';
import { compileNginxRegex, pcreGroupNames } from './pcre.js';
import type { HttpRequest } from './request.js';
import type { VariableRegistry } from './variables.js';

/** A compiled regex with the variable slots of its named groups. */
export interface ConfRegex {
  readonly regex: RegExp;
  readonly slots: ReadonlyArray<readonly [string, number]>;
}

/**
 * Compiles `source` as ngx_http_regex_compile does: named groups become settable variables.
 * An error is reported at `node` (a map entry), else at the directive being read.
 */
export function compileConfRegex(cf: ConfContext, vars: VariableRegistry, source: string, caseless: boolean, node?: ConfNode): ConfRegex {
  let regex: RegExp;
  try {
    regex = compileNginxRegex(source, caseless);
  } catch (e) {
    return node === undefined ? cf.error((e as Error).message) : cf.error((e as Error).message, node);
  }
  return { regex, slots: pcreGroupNames(source).map((g) => [g, vars.declareSettable(g)] as const) };
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
