/**
 * ngx_http_headers_filter_module: `add_header`, `add_trailer`, `expires`,
 * and their inheritance (`add_header_inherit`, `add_trailer_inherit`, nginx
 * 1.29.3+), as a header filter.
 *
 * `add_header name value [always]` adds the field to responses with status
 * 200, 201, 204, 206, 301, 302, 303, 304, 307 or 308, or to any status with
 * `always`. An empty value (after variables) adds nothing, except that an
 * ETag or Last-Modified given this way replaces the response's own, and an
 * empty one removes it. `add_trailer` is the same for trailer fields: the
 * response is then sent chunked and the values are computed as it ends.
 * `expires` (for the same statuses) sets Expires and Cache-Control.
 * Inheritance: `on` (default): a level with its own list replaces the
 * parent's; `merge`: this level's list then the parent's; `off`: only this
 * level's.
 */
import type { ConfContext } from '../config/conf-context.js';
import { HTTP_ANY_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { httpCoreModule } from './core-module.js';
import { applyExpires, ExpiresKind, parseExpires, type ExpiresSetting } from './expires.js';
import { removeHeader, setHeader } from './header-list.js';
import type { HttpRequest } from './request.js';
import { toByteString } from './uri.js';
import type { ComplexValue } from './variables.js';

type Inherit = 'on' | 'off' | 'merge';

export interface AddHeader {
  readonly name: string;
  readonly value: ComplexValue;
  readonly always: boolean;
  /** ETag, Last-Modified: one field, replacing the response's (nginx's ngx_http_set_response_header). */
  readonly replaces: boolean;
}

/** One list (add_header or add_trailer) at one level. */
interface FieldList {
  readonly own: AddHeader[];
  inherit?: Inherit;
  /** The effective list after merging. */
  merged?: readonly AddHeader[];
}

export interface HeadersLocConf {
  readonly headers: FieldList;
  readonly trailers: FieldList;
  /** Unset until an `expires` (then `off` when merged without one). */
  expires?: ExpiresSetting;
  /** `expires` with variables: parsed per request (kind Access or Modified). */
  expiresValue?: ComplexValue;
}

/** ngx_http_headers_filter's status check. */
const ADD_STATUSES: ReadonlySet<number> = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);

const REPLACING: ReadonlySet<string> = new Set(['etag', 'last-modified']);

function compileValue(cf: ConfContext, text: string): ComplexValue | null {
  try {
    return cf.main(httpCoreModule).variables.compile(toByteString(text), cf.position);
  } catch (e) {
    cf.error((e as Error).message.replace(/ in \S+:\d+$/, ''));
    return null;
  }
}

function parseAdd(trailer: boolean) {
  return (cf: ConfContext, d: ConfNode): void => {
    const conf = cf.loc(headersModule);
    if (d.args.length === 3 && d.args[2] !== 'always') return cf.error(`invalid parameter "${d.args[2]}"`);
    const value = compileValue(cf, d.args[1]);
    if (value === null) return;
    const replaces = !trailer && REPLACING.has(d.args[0].toLowerCase());
    (trailer ? conf.trailers : conf.headers).own.push({ name: d.args[0], value, always: d.args.length === 3, replaces });
  };
}

function parseInherit(trailer: boolean) {
  return (cf: ConfContext, d: ConfNode): void => {
    const list = trailer ? cf.loc(headersModule).trailers : cf.loc(headersModule).headers;
    const v = d.args[0];
    if (v !== 'on' && v !== 'off' && v !== 'merge') return cf.error(`invalid value "${v}" in "${d.name}" directive, it must be "on", "off" or "merge"`);
    if (list.inherit !== undefined) return cf.duplicate();
    list.inherit = v;
  };
}

/** ngx_http_headers_expires. */
function parseExpiresDirective(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(headersModule);
  if (conf.expires !== undefined) return cf.duplicate();
  let modified = false;
  if (d.args.length === 2) {
    if (d.args[0] !== 'modified') return cf.error('invalid value');
    modified = true;
  }
  const text = d.args[d.args.length - 1];
  const value = compileValue(cf, text);
  if (value === null) return;
  if (value.constant === null) {
    conf.expires = { kind: modified ? ExpiresKind.Modified : ExpiresKind.Access, time: 0 };
    conf.expiresValue = value;
    return;
  }
  const parsed = parseExpires(text, modified);
  if (typeof parsed === 'string') return cf.error(parsed);
  conf.expires = parsed;
}

const directives: DirectiveSpec[] = [
  { name: 'add_header', contexts: HTTP_ANY_LOC, args: [2, 3], set: parseAdd(false) },
  { name: 'add_trailer', contexts: HTTP_ANY_LOC, args: [2, 3], set: parseAdd(true) },
  { name: 'add_header_inherit', contexts: HTTP_ANY_LOC, args: [1, 1], set: parseInherit(false) },
  { name: 'add_trailer_inherit', contexts: HTTP_ANY_LOC, args: [1, 1], set: parseInherit(true) },
  { name: 'expires', contexts: HTTP_ANY_LOC, args: [1, 2], set: parseExpiresDirective },
];

function effective(l: FieldList): readonly AddHeader[] {
  return l.merged ?? l.own;
}

function mergeList(p: FieldList, c: FieldList): void {
  const mode = c.inherit ?? p.inherit ?? 'on';
  c.inherit = mode;
  const parent = effective(p);
  if (mode === 'off' || parent.length === 0) c.merged = c.own;
  else if (c.own.length === 0) c.merged = parent;
  else c.merged = mode === 'merge' ? [...c.own, ...parent] : c.own;
}

function addHeaders(r: HttpRequest, list: readonly AddHeader[], safe: boolean, headers: string[]): void {
  for (let i = 0; i < list.length; i++) {
    const h = list[i];
    if (!safe && !h.always) continue;
    const v = h.value.evaluate(r);
    if (h.replaces) {
      if (v.length > 0) setHeader(headers, h.name, v);
      else removeHeader(headers, h.name.toLowerCase());
    } else if (v.length > 0) {
      headers.push(h.name, v);
    }
  }
}

/** The expires in effect for this request, or null (off, or a variable value that is off or bad). */
function expiresFor(r: HttpRequest, conf: HeadersLocConf): ExpiresSetting | null {
  const e = conf.expires;
  if (e === undefined || e.kind === ExpiresKind.Off) return null;
  if (conf.expiresValue === undefined) return e;
  const parsed = parseExpires(conf.expiresValue.evaluate(r), e.kind === ExpiresKind.Modified);
  return typeof parsed === 'string' || parsed.kind === ExpiresKind.Off ? null : parsed;
}

function headerFilter(index: number) {
  /** The trailers filter: the fields, with $sent_trailer_* seeing the ones before. */
  const trailerFields = (r: HttpRequest): string[] => {
    const conf = r.loc.loc[index] as HeadersLocConf;
    const fields: string[] = [];
    r.responseTrailers = fields;
    addHeaders(r, effective(conf.trailers), ADD_STATUSES.has(r.status), fields);
    return fields;
  };
  return (r: HttpRequest, status: number, headers: string[]): void => {
    // A subrequest's fields go nowhere (ngx_http_headers_filter passes them by).
    if (r !== r.main) return;
    const conf = r.loc.loc[index] as HeadersLocConf;
    const safe = ADD_STATUSES.has(status);
    if (safe) {
      const e = expiresFor(r, conf);
      if (e !== null) applyExpires(headers, e, conf.expires!.time, Date.now());
    }
    addHeaders(r, effective(conf.headers), safe, headers);
    const trailers = effective(conf.trailers);
    for (let i = 0; i < trailers.length; i++) {
      if (safe || trailers[i].always) { r.trailers = trailerFields; break; }
    }
  };
}

export const headersModule: HttpModule<unknown, unknown, HeadersLocConf> = {
  kind: 'http',
  name: 'http_headers',
  directives,
  createLoc: () => ({ headers: { own: [] }, trailers: { own: [] } }),
  mergeLoc(p, c) {
    mergeList(p.headers, c.headers);
    mergeList(p.trailers, c.trailers);
    if (c.expires === undefined) {
      c.expires = p.expires ?? { kind: ExpiresKind.Off, time: 0 };
      c.expiresValue = p.expiresValue;
    }
  },
  postConfiguration(cf) {
    cf.main(httpCoreModule).headerFilters.push(headerFilter(cf.registry.indexOf(headersModule)));
  },
};
