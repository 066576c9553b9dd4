/**
 * The -p prefix of an http block, for paths resolved at request time (a `root`
 * with variables, the default `html` root, the default `client_body_temp`
 * directory), as nginx resolves them with ngx_get_full_name against the
 * cycle's prefix. Set at postconfiguration by the static module.
 */
import { isAbsolute, join } from 'node:path';
import type { CoreMainConf } from './core-module.js';

const prefixes = new WeakMap<CoreMainConf, string>();

export function setHttpPrefix(main: CoreMainConf, prefix: string): void {
  prefixes.set(main, prefix);
}

/** `p` if absolute, else under the prefix of `main`'s http block (the cwd when unknown). */
export function underPrefix(main: CoreMainConf, p: string): string {
  return isAbsolute(p) ? p : join(prefixes.get(main) ?? process.cwd(), p);
}
