/**
 * The SSI module's directives and header filter (ngx_http_ssi_filter_module):
 * ssi, ssi_types, ssi_silent_errors, ssi_value_length, ssi_last_modified,
 * ssi_min_file_chunk. A response of one of ssi_types (text/html always) that
 * may have a body gets an SsiFilter; for the client's request the length,
 * Accept-Ranges and (unless ssi_last_modified) Last-Modified and ETag go,
 * as its body will change (ssi_last_modified keeps them, the ETag made weak).
 *
 * ssi_min_file_chunk is accepted and has no effect: weir reads files into
 * memory in any case (nginx uses it to choose sendfile for long runs).
 */
import type { ConfContext } from '../../config/conf-context.js';
import { HTTP_ANY_LOC, HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../../config/module.js';
import type { ConfNode } from '../../config/parser.js';
import { inherit, setFlag, setSize } from '../../config/slots.js';
import { httpCoreModule } from '../core-module.js';
import { headerIndex, removeHeader } from '../header-list.js';
import type { HttpRequest } from '../request.js';
import { DEFAULT_TIMEFMT, SsiFilter, type SsiSettings, type SsiShared } from './ssi-filter.js';
import { strftime } from './strftime.js';

export interface SsiLocConf {
  enable?: boolean;
  silentErrors?: boolean;
  lastModified?: boolean;
  valueLength?: number;
  minFileChunk?: number;
  /** Lower-cased MIME types; '*' for any. */
  types?: Set<string>;
}

function setTypes(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(ssiModule);
  if (conf.types !== undefined) return cf.duplicate();
  conf.types = new Set(d.args.map((t) => t.toLowerCase()));
}

const directives: DirectiveSpec[] = [
  { name: 'ssi', contexts: HTTP_ANY_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.loc(ssiModule), 'enable') },
  { name: 'ssi_silent_errors', contexts: HTTP_MAIN_SRV_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.loc(ssiModule), 'silentErrors') },
  { name: 'ssi_last_modified', contexts: HTTP_MAIN_SRV_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.loc(ssiModule), 'lastModified') },
  { name: 'ssi_value_length', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setSize(cf, d, cf.loc(ssiModule), 'valueLength') },
  { name: 'ssi_min_file_chunk', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setSize(cf, d, cf.loc(ssiModule), 'minFileChunk') },
  { name: 'ssi_types', contexts: HTTP_MAIN_SRV_LOC, args: [1, Infinity], set: setTypes },
];

/** ngx_http_test_content_type: the type without its parameters, against the set. */
function typeMatches(types: ReadonlySet<string>, headers: readonly string[]): boolean {
  if (types.has('*')) return true;
  const i = headerIndex(headers, 'content-type');
  if (i === -1) return false;
  const value = headers[i + 1]!;
  const semi = value.indexOf(';');
  return types.has((semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase());
}

function headerFilter(index: number, variable: SsiSettings['variable']) {
  return (r: HttpRequest, status: number, headers: string[]): void => {
    const conf = r.loc.loc[index] as SsiLocConf;
    if (!conf.enable || status === 204 || status === 304 || !typeMatches(conf.types!, headers)) return;
    const length = headerIndex(headers, 'content-length');
    if (length !== -1 && headers[length + 1] === '0') return;
    const main = r.main;
    const shared = (main.ctx[index] ??= { vars: new Map(), blocks: new Map(), captures: null }) as SsiShared;
    if (r === main) {
      removeHeader(headers, 'content-length');
      removeHeader(headers, 'accept-ranges');
      if (!conf.lastModified) {
        removeHeader(headers, 'last-modified');
        removeHeader(headers, 'etag');
      } else {
        const etag = headerIndex(headers, 'etag');
        if (etag !== -1 && !headers[etag + 1]!.startsWith('W/')) headers[etag + 1] = `W/${headers[etag + 1]}`;
      }
    }
    const settings: SsiSettings = { silentErrors: conf.silentErrors!, valueLength: conf.valueLength!, variable };
    r.res.bodyFilters.add((next) => {
      const filter = new SsiFilter(r, shared, settings, next);
      filters.set(r, filter);
      return filter;
    });
  };
}

/** Each request's SSI filter, for $date_local and $date_gmt (they print with its timefmt). */
const filters = new WeakMap<HttpRequest, SsiFilter>();

/**
 * ngx_http_ssi_date_gmt_local_variable: the time with the request's timefmt, or the
 * default one where SSI does not run (a header, a log); seconds for `%s`.
 */
function dateVariable(utc: boolean) {
  return (r: HttpRequest): string => {
    const fmt = filters.get(r)?.timefmt ?? DEFAULT_TIMEFMT;
    const now = new Date();
    if (fmt === '%s') return String(Math.floor(now.getTime() / 1000));
    return strftime(fmt, now, utc);
  };
}

export const ssiModule: HttpModule<unknown, unknown, SsiLocConf> = {
  kind: 'http',
  name: 'http_ssi',
  directives,
  createLoc: () => ({}),
  mergeLoc(p, c) {
    inherit(c, p, 'enable', false);
    inherit(c, p, 'silentErrors', false);
    inherit(c, p, 'lastModified', false);
    inherit(c, p, 'valueLength', 256);
    inherit(c, p, 'minFileChunk', 1024);
    if (c.types === undefined) c.types = p.types ?? new Set(['text/html']);
    else c.types.add('text/html');
  },
  initMain(_conf, cf) {
    const vars = cf.main(httpCoreModule).variables;
    vars.define('date_local', dateVariable(false));
    vars.define('date_gmt', dateVariable(true));
  },
  postConfiguration(cf) {
    const core = cf.main(httpCoreModule);
    const vars = core.variables;
    const variable = (r: HttpRequest, name: string): string | undefined => {
      const v = vars.lookup(name);
      return v === null ? undefined : v.get(r, v.data);
    };
    core.headerFilters.push(headerFilter(cf.registry.indexOf(ssiModule), variable));
  },
};
