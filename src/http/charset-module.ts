/**
 * charset, source_charset, override_charset, charset_types, charset_map
 * (ngx_http_charset_filter_module).
 *
 * The client's response of one of charset_types (with no charset of its
 * own, or with one and override_charset on) gets `; charset=NAME` in its
 * Content-Type; when its source charset (the response's own, else
 * source_charset) differs and a charset_map joins the two, the body is
 * recoded too (charset-tables.ts). An upstream's X-Accel-Charset names the
 * charset to recode to, whatever the location says. A subrequest's body is
 * recoded to the client's response's charset. Redirects (301, 302) get no
 * charset, as nginx's (old browsers took it for the next page's).
 *
 * Charsets are named by charset, source_charset and charset_map; a name
 * is compared case-insensitively. A location recoding between two named
 * charsets that no charset_map joins is an [emerg] at startup; with a
 * variable, the pair is known only per response, and a missing map is an
 * [error] then (the response goes out as it is).
 *
 * One-byte to one-byte recoding keeps the length (a Content-Length and a
 * range stay); to or from utf-8 it is not known ahead.
 */
import type { ConfContext } from '../config/conf-context.js';
import { ConfigError } from '../config/errors.js';
import { Ctx, HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { setFlag } from '../config/slots.js';
import { CharsetMap, type Recoder } from './charset-tables.js';
import type { BodyWriter } from './client-reply.js';
import { httpCoreModule } from './core-module.js';
import { setTypes, typeMatches, type TypeSet } from './filter-types.js';
import { headerIndex, removeHeader } from './header-list.js';
import type { HttpRequest } from './request.js';
import type { ComplexValue } from './variables.js';

interface Charset {
  readonly name: string;
  readonly utf8: boolean;
  /** By the other charset's index: how to recode from this one to it. */
  readonly to: Map<number, { readonly map: CharsetMap; readonly forward: boolean }>;
}

export interface CharsetMainConf {
  readonly charsets: Charset[];
  readonly maps: CharsetMap[];
  /** Pairs locations recode between (source, destination), checked for a map at startup. */
  readonly recodes: Array<readonly [number, number]>;
  /** Lower-cased name to index, made once everything is read. */
  byName: Map<string, number>;
}

/** A charset setting: off, a charset's index, or a variable naming one. */
type CharsetSetting = 'off' | number | ComplexValue;

export interface CharsetLocConf {
  charset?: CharsetSetting;
  source?: CharsetSetting;
  override?: boolean;
  types?: TypeSet;
}

const DEFAULT_TYPES: readonly string[] = ['text/html', 'text/xml', 'text/plain', 'text/vnd.wap.wml', 'application/javascript', 'application/rss+xml'];

/** No charset of that name is known (nginx's NGX_HTTP_NO_CHARSET). */
const NO_CHARSET = -1;

/** ngx_http_add_charset: the index of a charset, added when new. */
function addCharset(mcf: CharsetMainConf, name: string): number {
  const lname = name.toLowerCase();
  const i = mcf.charsets.findIndex((c) => c.name.toLowerCase() === lname);
  if (i !== -1) return i;
  mcf.charsets.push({ name, utf8: lname === 'utf-8', to: new Map() });
  return mcf.charsets.length - 1;
}

function setCharset(cf: ConfContext, d: ConfNode, key: 'charset' | 'source'): void {
  const conf = cf.loc(charsetModule);
  if (conf[key] !== undefined) return cf.duplicate();
  const value = d.args[0]!;
  if (key === 'charset' && value === 'off') { conf.charset = 'off'; return; }
  if (value.startsWith('$')) {
    conf[key] = cf.main(httpCoreModule).variables.compile(value, cf.position);
    return;
  }
  conf[key] = addCharset(cf.main(charsetModule), value);
}

/** A hexadecimal byte or code unit of a charset_map line (ngx_hextoi); -1 when it is none. */
function hex(text: string): number {
  return /^[0-9A-Fa-f]+$/.test(text) ? parseInt(text, 16) : -1;
}

function setCharsetMap(cf: ConfContext, d: ConfNode): void {
  const mcf = cf.main(charsetModule);
  const [srcName, dstName] = d.args as [string, string];
  const src = addCharset(mcf, srcName);
  const dst = addCharset(mcf, dstName);
  if (src === dst) return cf.error(`"charset_map" between the same charsets "${srcName}" and "${dstName}"`);
  if (srcName.toLowerCase() === 'utf-8') return cf.error(`"charset_map" with "utf-8" charset should be given in the second column`);
  if (mcf.maps.some((m) => (m.src === src && m.dst === dst) || (m.src === dst && m.dst === src))) {
    return cf.error(`duplicate "charset_map" between "${srcName}" and "${dstName}"`);
  }
  const toUtf8 = mcf.charsets[dst]!.utf8;
  const map = new CharsetMap(src, dst, toUtf8);
  mcf.maps.push(map);
  for (const line of d.block!) {
    if (line.block !== null || line.args.length !== 1) return cf.error('invalid parameters number', line);
    const from = hex(line.name);
    if (from === -1 || from > 255) return cf.error(`invalid value "${line.name}"`, line);
    const to = line.args[0]!;
    if (!toUtf8) {
      const byte = hex(to);
      if (byte === -1 || byte > 255) return cf.error(`invalid value "${to}"`, line);
      map.setByte(from, byte);
      continue;
    }
    // A UTF-8 sequence in hex, of a code point below 0x10000.
    if (to.length / 2 > 3 || to.length === 0 || to.length % 2 !== 0 || hex(to) === -1) return cf.error(`invalid value "${to}"`, line);
    const bytes = Buffer.from(to, 'hex');
    const cp = bytes.toString('utf8').codePointAt(0) ?? 0xfffd;
    const exact = Buffer.from(String.fromCodePoint(cp), 'utf8').equals(bytes);
    if (!exact || cp > 0xffff) return cf.error(`invalid value "${to}"`, line);
    map.setUtf8(from, bytes, cp);
  }
}

const ANY_LOC_IF = HTTP_MAIN_SRV_LOC | Ctx.LocationIf;

const directives: DirectiveSpec[] = [
  { name: 'charset', contexts: ANY_LOC_IF, args: [1, 1], set: (cf, d) => setCharset(cf, d, 'charset') },
  { name: 'source_charset', contexts: ANY_LOC_IF, args: [1, 1], set: (cf, d) => setCharset(cf, d, 'source') },
  { name: 'override_charset', contexts: ANY_LOC_IF, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.loc(charsetModule), 'override') },
  { name: 'charset_types', contexts: HTTP_MAIN_SRV_LOC, args: [1, Infinity], set: (cf, d) => setTypes(cf, d, cf.loc(charsetModule), 'types', 'text/html') },
  { name: 'charset_map', contexts: Ctx.Http, args: [2, 2], block: true, set: setCharsetMap },
];

/**
 * A response's Content-Type as nginx holds it: the value, the length of its
 * type part (before a `; charset=` parameter), and that charset (quotes
 * dropped; '' when none), as ngx_http_upstream_copy_content_type splits it.
 */
interface ContentType {
  readonly at: number;
  value: string;
  readonly typeLength: number;
  charset: string;
}

function parseContentType(headers: readonly string[]): ContentType | null {
  const at = headerIndex(headers, 'content-type');
  if (at === -1 || headers[at + 1]!.length === 0) return null;
  const value = headers[at + 1]!;
  let semi = value.indexOf(';');
  while (semi !== -1) {
    let p = semi + 1;
    while (value[p] === ' ') p++;
    if (value.slice(p, p + 8).toLowerCase() === 'charset=') {
      let start = p + 8;
      let end = value.length;
      if (value[start] === '"') start++;
      if (end > start && value[end - 1] === '"') end--;
      return { at, value, typeLength: semi, charset: value.slice(start, end) };
    }
    semi = value.indexOf(';', p);
  }
  return { at, value, typeLength: value.length, charset: '' };
}

/** What the client's response was given, for its subrequests (nginx keeps it in the main request's ctx). */
interface MainCharset {
  readonly index: number;
  readonly name: string;
}

class CharsetFilter implements BodyWriter {
  constructor(private readonly recoder: Recoder, private readonly next: BodyWriter) {}

  write(chunk: Buffer): boolean {
    const out = this.recoder.recode(chunk);
    return out.length === 0 ? true : this.next.write(out);
  }

  end(): void {
    this.next.end();
  }
}

function makeHeaderFilter(index: number, mcf: CharsetMainConf) {
  const lookup = (name: string): number => mcf.byName.get(name.toLowerCase()) ?? NO_CHARSET;
  /** A setting's charset for this response: [index or NO_CHARSET, name]; null: off. */
  const resolve = (r: HttpRequest, s: CharsetSetting): [number, string] | null => {
    if (s === 'off') return null;
    if (typeof s === 'number') return [s, mcf.charsets[s]!.name];
    const name = s.evaluate(r);
    return [lookup(name), name];
  };

  /** ngx_http_destination_charset: null when the response is not ours to change. */
  const destination = (r: HttpRequest, conf: CharsetLocConf, ct: ContentType, headers: readonly string[]): [number, string] | null => {
    const override = r.overrideCharset;
    if (override !== null && override.length > 0) {
      const i = lookup(override);
      if (i !== NO_CHARSET) return [i, override];
      r.log('error', `unknown charset "${override}" to override`);
      return null;
    }
    if (conf.charset === 'off') return null;
    if (ct.charset.length > 0) {
      if (!conf.override) return null;
    } else if (!typeMatches(conf.types!, headers)) {
      return null;
    }
    return resolve(r, conf.charset!);
  };

  /** ngx_http_main_request_charset: a subrequest recodes to what the client's response got. */
  const mainCharset = (r: HttpRequest): [number, string] | null => {
    const m = r.main.ctx[index] as MainCharset | undefined;
    if (m === undefined || m.name.length === 0) return null;
    return [m.index, m.name];
  };

  return (r: HttpRequest, status: number, headers: string[]): void => {
    const conf = r.loc.loc[index] as CharsetLocConf;
    const ct = parseContentType(headers);
    const main = r === r.main;
    let dst: [number, string] | null = null;
    if (ct !== null) dst = main ? destination(r, conf, ct, headers) : mainCharset(r);
    if (ct === null || dst === null) {
      if (main) r.ctx[index] = { index: ct === null ? NO_CHARSET : lookup(ct.charset), name: ct?.charset ?? '' } satisfies MainCharset;
      return;
    }
    const [charset, dstName] = dst;
    // ngx_http_source_charset: the response's own, else source_charset (which may be off).
    let source: [number, string] | null;
    if (ct.charset.length > 0) source = [lookup(ct.charset), ct.charset];
    else source = conf.source === undefined ? null : resolve(r, conf.source);
    let truncate = false;
    let recoder: Recoder | null = null;
    let setTo: string | null = dstName;
    if (source !== null) {
      const [src, srcName] = source;
      if (charset === NO_CHARSET || src === NO_CHARSET) {
        if (src !== charset || srcName.slice(0, dstName.length).toLowerCase() !== dstName.toLowerCase()) {
          noMap(r, srcName, dstName);
          setTo = null;
        }
      } else if (src === charset) {
        truncate = true;
      } else {
        const enc = headerIndex(headers, 'content-encoding');
        const link = mcf.charsets[src]!.to.get(charset);
        if (enc !== -1 && headers[enc + 1]!.length > 0) {
          // An encoded body cannot be recoded: it goes as it is, and so does its header.
          setTo = null;
        } else if (link === undefined) {
          noMap(r, srcName, dstName);
          setTo = null;
        } else {
          truncate = true;
          recoder = link.map.recoder(link.forward);
        }
      }
    }
    if (setTo !== null && main) {
      if (status === 301 || status === 302) setTo = '';
      let value = truncate ? ct.value.slice(0, ct.typeLength) : ct.value;
      if (setTo.length > 0 && value.length === ct.typeLength) value += `; charset=${setTo}`;
      headers[ct.at + 1] = value;
      ct.charset = setTo;
    }
    if (main) r.ctx[index] = { index: charset, name: setTo ?? ct.charset } satisfies MainCharset;
    if (recoder === null) return;
    const rec = recoder;
    const keepsLength = !mcf.charsets[charset]!.utf8 && !mcf.charsets[source![0]]!.utf8;
    if (main && !keepsLength) removeHeader(headers, 'content-length');
    r.res.bodyFilters.add((next) => new CharsetFilter(rec, next), keepsLength);
  };
}

function noMap(r: HttpRequest, src: string, dst: string): void {
  r.log('error', `no "charset_map" between the charsets "${src}" and "${dst}"`);
}

export const charsetModule: HttpModule<CharsetMainConf, unknown, CharsetLocConf> = {
  kind: 'http',
  name: 'http_charset_filter',
  directives,
  createMain: () => ({ charsets: [], maps: [], recodes: [], byName: new Map() }),
  createLoc: () => ({}),
  mergeLoc(p, c, cf) {
    if (c.types === undefined) c.types = p.types ?? new Set(DEFAULT_TYPES);
    c.override ??= p.override ?? false;
    c.charset ??= p.charset ?? 'off';
    c.source ??= p.source ?? 'off';
    const { charset, source } = c;
    if (typeof charset !== 'number' || typeof source !== 'number' || charset === source) return;
    const recodes = cf.main(charsetModule).recodes;
    if (!recodes.some(([s, d]) => s === source && d === charset)) recodes.push([source, charset]);
  },
  postConfiguration(cf) {
    const mcf = cf.main(charsetModule);
    mcf.charsets.forEach((c, i) => mcf.byName.set(c.name.toLowerCase(), i));
    for (const m of mcf.maps) {
      mcf.charsets[m.src]!.to.set(m.dst, { map: m, forward: true });
      mcf.charsets[m.dst]!.to.set(m.src, { map: m, forward: false });
    }
    for (const [s, d] of mcf.recodes) {
      if (!mcf.charsets[s]!.to.has(d)) {
        throw new ConfigError(`no "charset_map" between the charsets "${mcf.charsets[s]!.name}" and "${mcf.charsets[d]!.name}"`);
      }
    }
    cf.main(httpCoreModule).headerFilters.push(makeHeaderFilter(cf.registry.indexOf(charsetModule), mcf));
  },
};
