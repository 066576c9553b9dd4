/**
 * sub_filter (ngx_http_sub_filter_module): replaces strings in a response's
 * body. Directives: sub_filter (match and replacement, both may hold
 * variables), sub_filter_once, sub_filter_types, sub_filter_last_modified.
 *
 * Matching is case-insensitive for ASCII and streams: a match split between
 * two writes is found, and only the bytes that could still begin a match
 * are held back (sub-matcher.ts). A level with no sub_filter of its own
 * takes all of its parent's; one sub_filter in a level replaces the
 * parent's list.
 *
 * Patterns without variables are compiled once, at config time. A pattern
 * with variables is evaluated per response, and one that is empty then is
 * left out (none left: no filtering). A replacement is evaluated at its
 * pattern's first match and kept for the rest of the response.
 *
 * Config text is read as UTF-8 and the body is bytes: both sides are
 * compared as the UTF-8 bytes of the config, as nginx compares bytes.
 */
import type { ConfContext } from '../config/conf-context.js';
import { HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { inherit, setFlag } from '../config/slots.js';
import type { BodyWriter } from './client-reply.js';
import { httpCoreModule } from './core-module.js';
import { setTypes, typeMatches, weakEtag, type TypeSet } from './filter-types.js';
import { headerIndex, removeHeader } from './header-list.js';
import type { HttpRequest } from './request.js';
import { buildSubTables, lowerBytes, SubMatcher, type SubTables } from './sub-matcher.js';
import type { ComplexValue } from './variables.js';

interface SubPair {
  readonly match: ComplexValue;
  readonly value: ComplexValue;
}

export interface SubLocConf {
  pairs?: SubPair[];
  once?: boolean;
  lastModified?: boolean;
  types?: TypeSet;
  /** When no pattern has variables: the tables, made once (merge). */
  tables?: SubTables | null;
}

/** nginx keeps a pattern's index in a byte. */
const MAX_PATTERNS = 255;

/** Config text as the bytes it stands for, one char per byte (what variables give). */
function confBytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

function setSubFilter(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(subFilterModule);
  const [match, value] = d.args as [string, string];
  if (match.length === 0) return cf.error('empty search pattern');
  const pairs = (conf.pairs ??= []);
  if (pairs.length === MAX_PATTERNS) return cf.error(`number of search patterns exceeds ${MAX_PATTERNS}`);
  const vars = cf.main(httpCoreModule).variables;
  pairs.push({ match: vars.compile(confBytes(match), cf.position), value: vars.compile(confBytes(value), cf.position) });
}

const directives: DirectiveSpec[] = [
  { name: 'sub_filter', contexts: HTTP_MAIN_SRV_LOC, args: [2, 2], set: setSubFilter },
  { name: 'sub_filter_once', contexts: HTTP_MAIN_SRV_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.loc(subFilterModule), 'once') },
  { name: 'sub_filter_last_modified', contexts: HTTP_MAIN_SRV_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.loc(subFilterModule), 'lastModified') },
  { name: 'sub_filter_types', contexts: HTTP_MAIN_SRV_LOC, args: [1, Infinity], set: (cf, d) => setTypes(cf, d, cf.loc(subFilterModule), 'types', 'text/html') },
];

/** The tables of patterns with no variables (their lower-cased bytes). */
function staticTables(pairs: readonly SubPair[]): SubTables | null {
  if (pairs.some((p) => p.match.constant === null)) return null;
  return buildSubTables(pairs.map((p) => lowerBytes(Buffer.from(p.match.constant!, 'latin1'))));
}

/** One response's filter: the matcher over the rest of the chain. */
class SubBodyFilter implements BodyWriter {
  private readonly matcher: SubMatcher;
  private readonly replacements: Array<Buffer | undefined>;
  private more = true;

  constructor(private readonly r: HttpRequest, tables: SubTables, private readonly values: readonly ComplexValue[], once: boolean, private readonly next: BodyWriter) {
    this.replacements = new Array<Buffer | undefined>(values.length);
    this.matcher = new SubMatcher(tables, once, (i) => this.replacement(i), (chunk) => {
      if (!this.next.write(chunk)) this.more = false;
    });
  }

  private replacement(i: number): Buffer {
    return (this.replacements[i] ??= Buffer.from(this.values[i]!.evaluate(this.r), 'latin1'));
  }

  write(chunk: Buffer): boolean {
    this.more = true;
    this.matcher.write(chunk);
    return this.more;
  }

  end(): void {
    this.matcher.end();
    this.next.end();
  }
}

function headerFilter(index: number) {
  return (r: HttpRequest, _status: number, headers: string[]): void => {
    const conf = r.loc.loc[index] as SubLocConf;
    const pairs = conf.pairs;
    if (pairs === undefined) return;
    const length = headerIndex(headers, 'content-length');
    if (length !== -1 && headers[length + 1] === '0') return;
    if (!typeMatches(conf.types!, headers)) return;
    let tables = conf.tables ?? null;
    let values: ComplexValue[];
    if (tables !== null) {
      values = pairs.map((p) => p.value);
    } else {
      // Patterns with variables: this response's own, without the empty ones.
      const patterns: Buffer[] = [];
      values = [];
      for (const p of pairs) {
        const m = p.match.evaluate(r);
        if (m.length === 0) continue;
        patterns.push(lowerBytes(Buffer.from(m, 'latin1')));
        values.push(p.value);
      }
      if (patterns.length === 0) return;
      tables = buildSubTables(patterns);
    }
    if (r === r.main) {
      removeHeader(headers, 'content-length');
      if (!conf.lastModified) {
        removeHeader(headers, 'last-modified');
        removeHeader(headers, 'etag');
      } else {
        weakEtag(headers);
      }
    }
    const t = tables;
    const once = conf.once!;
    r.res.bodyFilters.add((next) => new SubBodyFilter(r, t, values, once, next));
  };
}

export const subFilterModule: HttpModule<unknown, unknown, SubLocConf> = {
  kind: 'http',
  name: 'http_sub_filter',
  directives,
  createLoc: () => ({}),
  mergeLoc(p, c) {
    inherit(c, p, 'once', true);
    inherit(c, p, 'lastModified', false);
    if (c.types === undefined) c.types = p.types ?? new Set(['text/html']);
    if (c.pairs === undefined) {
      c.pairs = p.pairs;
      c.tables = p.tables;
    }
    if (c.pairs !== undefined && c.tables === undefined) c.tables = staticTables(c.pairs);
  },
  postConfiguration(cf) {
    cf.main(httpCoreModule).headerFilters.push(headerFilter(cf.registry.indexOf(subFilterModule)));
  },
};
