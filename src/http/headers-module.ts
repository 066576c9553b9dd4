/**
 * ngx_http_headers_filter_module's `add_header` and `add_header_inherit`
 * (nginx 1.29.3+), as a header filter.
 *
 * `add_header name value [always]` adds the header to responses with status
 * 200, 201, 204, 206, 301, 302, 303, 304, 307 or 308, or to any status with
 * `always`. An empty value (after variables) adds nothing. Inheritance:
 * `add_header_inherit on` (default): a level with its own add_header replaces
 * the parent's list; `merge`: the parent's list then this level's; `off`: only
 * this level's.
 *
 * Deliberate differences: `expires` is not implemented; the special handlers
 * nginx has for Cache-Control, Link, Last-Modified and ETag (which replace or
 * join the existing header) are not reproduced: the header is simply added.
 */
import type { ConfContext } from '../config/conf-context.js';
import { HTTP_ANY_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { httpCoreModule } from './core-module.js';
import type { HttpRequest } from './request.js';
import { toByteString } from './uri.js';
import type { ComplexValue } from './variables.js';

export interface AddHeader {
  readonly name: string;
  readonly value: ComplexValue;
  readonly always: boolean;
}

export interface HeadersLocConf {
  /** This level's add_header directives. */
  readonly own: AddHeader[];
  inherit?: 'on' | 'off' | 'merge';
  /** The effective list after merging (own for the http level). */
  headers?: readonly AddHeader[];
}

/** ngx_http_headers_filter's status check. */
const ADD_STATUSES: ReadonlySet<number> = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);

function parseAddHeader(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(headersModule);
  if (d.args.length === 3 && d.args[2] !== 'always') return cf.error(`invalid parameter "${d.args[2]}"`);
  let value: ComplexValue;
  try {
    value = cf.main(httpCoreModule).variables.compile(toByteString(d.args[1]), cf.position);
  } catch (e) {
    return cf.error((e as Error).message.replace(/ in \S+:\d+$/, ''));
  }
  conf.own.push({ name: d.args[0], value, always: d.args.length === 3 });
}

const directives: DirectiveSpec[] = [
  { name: 'add_header', contexts: HTTP_ANY_LOC, args: [2, 3], set: parseAddHeader },
  {
    name: 'add_header_inherit', contexts: HTTP_ANY_LOC, args: [1, 1],
    set(cf, d) {
      const conf = cf.loc(headersModule);
      const v = d.args[0];
      if (v !== 'on' && v !== 'off' && v !== 'merge') return cf.error(`invalid value "${v}" in "${d.name}" directive, it must be "on", "off" or "merge"`);
      if (conf.inherit !== undefined) return cf.duplicate();
      conf.inherit = v;
    },
  },
];

function effective(c: HeadersLocConf): readonly AddHeader[] {
  return c.headers ?? c.own;
}

function headerFilter(index: number) {
  return (r: HttpRequest, status: number, headers: string[]): void => {
    const list = effective(r.loc.loc[index] as HeadersLocConf);
    if (list.length === 0) return;
    const ok = ADD_STATUSES.has(status);
    for (let i = 0; i < list.length; i++) {
      const h = list[i];
      if (!ok && !h.always) continue;
      const v = h.value.evaluate(r);
      if (v.length > 0) headers.push(h.name, v);
    }
  };
}

export const headersModule: HttpModule<unknown, unknown, HeadersLocConf> = {
  kind: 'http',
  name: 'http_headers',
  directives,
  createLoc: () => ({ own: [] }),
  mergeLoc(p, c) {
    const mode = c.inherit ?? p.inherit ?? 'on';
    c.inherit = mode;
    const parent = effective(p);
    if (mode === 'off') c.headers = c.own;
    else if (mode === 'merge') c.headers = parent.length ? [...parent, ...c.own] : c.own;
    else c.headers = c.own.length ? c.own : parent;
  },
  postConfiguration(cf) {
    cf.main(httpCoreModule).headerFilters.push(headerFilter(cf.registry.indexOf(headersModule)));
  },
};
