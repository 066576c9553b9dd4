/**
 * ngx_http_gzip_filter_module: the client's response gzipped on the fly with
 * node:zlib, as an encoder of the reply (after subrequest output is in
 * place: nginx's gzip filter sits below postpone), for the client's request
 * only.
 *
 *   gzip on|off; gzip_types TYPE...|*; gzip_comp_level 1..9;
 *   gzip_min_length SIZE; gzip_window 512..32k; gzip_hash 512..128k;
 *   gzip_buffers NUM SIZE; postpone_gzipping SIZE; gzip_no_buffer on|off;
 *   $gzip_ratio
 * (gzip_vary, gzip_proxied, gzip_http_version, gzip_disable: gzip-ok.ts).
 *
 * A response is gzipped when gzip is on, its status is 200, 403 or 404, it
 * has no Content-Encoding, its known length is at least gzip_min_length, its
 * type is one of gzip_types (text/html always), and the client may have it
 * (ngx_http_gzip_ok). It then gets `Content-Encoding: gzip`, loses its length
 * and Accept-Ranges, and its ETag turns weak.
 *
 * gzip_window and gzip_hash are zlib's windowBits and memLevel, as nginx
 * passes them to deflateInit2. Accepted without effect, as they are about
 * nginx's own buffer management: gzip_buffers (nginx's output buffers for
 * zlib; zlib's output here goes on in node's chunks, bounded by
 * backpressure), postpone_gzipping and gzip_no_buffer. Everything else is in
 * zlib-filter.ts (streaming, backpressure, flushes, aborts).
 */
import { createGzip } from 'node:zlib';
import type { ConfContext } from '../../config/conf-context.js';
import { HTTP_ANY_LOC, HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../../config/module.js';
import type { ConfNode } from '../../config/parser.js';
import { inherit, setFlag, setNumber, setSize } from '../../config/slots.js';
import { parseSize } from '../../config/units.js';
import { httpCoreModule } from '../core-module.js';
import type { ConnectionReply } from '../client-reply.js';
import { headerIndex, removeHeader } from '../header-list.js';
import type { HttpRequest } from '../request.js';
import { addGzipVary, GZIP_VARY, gzipOk, weakenEtag } from './gzip-ok.js';
import { typeMatches } from './types.js';
import { ZlibFilter } from './zlib-filter.js';

export interface GzipLocConf {
  enable?: boolean;
  /** Lower-cased MIME types (text/html among them); null for `*`. */
  types?: Set<string> | null;
  level?: number;
  /** zlib windowBits (9..15) and memLevel (1..9), from gzip_window and gzip_hash. */
  windowBits?: number;
  memLevel?: number;
  minLength?: number;
  buffers?: { num: number; size: number };
  postpone?: number;
  noBuffer?: boolean;
}

/** gzip_types: adds to the list (ngx_http_types_slot); `*` means any type. */
export function setTypes(cf: ConfContext, d: ConfNode, conf: { types?: Set<string> | null }): void {
  if (conf.types === null) return;
  const types = (conf.types ??= new Set(['text/html']));
  for (const arg of d.args) {
    if (arg === '*') { conf.types = null; return; }
    const t = arg.toLowerCase();
    if (types.has(t)) { cf.warn(`duplicate MIME type "${arg}"`); continue; }
    types.add(t);
  }
}

/** ngx_conf_set_bufs_slot: NUM SIZE, both above zero. */
export function setBufs(cf: ConfContext, d: ConfNode, conf: { buffers?: { num: number; size: number } }): void {
  if (conf.buffers !== undefined) return cf.duplicate();
  const num = /^[0-9]+$/.test(d.args[0]) ? Number(d.args[0]) : 0;
  if (num === 0) return cf.invalid('invalid value');
  const size = parseSize(d.args[1]);
  if (size === null || size === 0) return cf.invalid('invalid value');
  conf.buffers = { num, size };
}

/**
 * A power of two size between `low` and `high` (gzip_window, gzip_hash) to its
 * zlib parameter: log2(size) - `shift`; else nginx's message.
 */
function setPow2(cf: ConfContext, d: ConfNode, key: 'windowBits' | 'memLevel', high: number, shift: number, message: string): void {
  const conf = cf.loc(gzipModule);
  if (conf[key] !== undefined) return cf.duplicate();
  const size = parseSize(d.args[0]);
  if (size === null) return cf.invalid('invalid value');
  for (let s = high, bits = Math.log2(high); s > 256; s >>= 1, bits--) {
    if (s === size) { conf[key] = bits - shift; return; }
  }
  return cf.invalid(message);
}

function setLevel(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(gzipModule);
  setNumber(cf, d, conf, 'level');
  // ngx_conf_check_num_bounds
  if (conf.level! < 1 || conf.level! > 9) return cf.error('value must be between 1 and 9');
}

const directives: DirectiveSpec[] = [
  { name: 'gzip', contexts: HTTP_ANY_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.loc(gzipModule), 'enable') },
  { name: 'gzip_buffers', contexts: HTTP_MAIN_SRV_LOC, args: [2, 2], set: (cf, d) => setBufs(cf, d, cf.loc(gzipModule)) },
  { name: 'gzip_types', contexts: HTTP_MAIN_SRV_LOC, args: [1, Infinity], set: (cf, d) => setTypes(cf, d, cf.loc(gzipModule)) },
  { name: 'gzip_comp_level', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: setLevel },
  { name: 'gzip_window', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setPow2(cf, d, 'windowBits', 32 * 1024, 0, 'must be 512, 1k, 2k, 4k, 8k, 16k, or 32k') },
  { name: 'gzip_hash', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setPow2(cf, d, 'memLevel', 128 * 1024, 8, 'must be 512, 1k, 2k, 4k, 8k, 16k, 32k, 64k, or 128k') },
  { name: 'postpone_gzipping', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setSize(cf, d, cf.loc(gzipModule), 'postpone') },
  { name: 'gzip_no_buffer', contexts: HTTP_MAIN_SRV_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.loc(gzipModule), 'noBuffer') },
  { name: 'gzip_min_length', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setSize(cf, d, cf.loc(gzipModule), 'minLength') },
];

function headerFilter(index: number) {
  return (r: HttpRequest, status: number, headers: string[], contentLength: number): void => {
    const conf = r.loc.loc[index] as GzipLocConf;
    // A filter before this one (SSI, sub_filter) changes the body: its length is not known any more.
    const length = r.res.bodyFilters.size > 0 ? -1 : contentLength;
    if (conf.enable && (status === 200 || status === 403 || status === 404) && !encoded(headers)
      && (length === -1 || length >= conf.minLength!) && typeMatches(conf.types!, headers)) {
      r.gzipFlags |= GZIP_VARY;
      if (gzipOk(r, headers)) startGzip(r, conf, headers, index);
    }
    addGzipVary(r, headers);
  };
}

/** The response already has a (non-empty) Content-Encoding. */
function encoded(headers: readonly string[]): boolean {
  const i = headerIndex(headers, 'content-encoding');
  return i !== -1 && headers[i + 1] !== '';
}

function startGzip(r: HttpRequest, conf: GzipLocConf, headers: string[], index: number): void {
  removeHeader(headers, 'content-encoding');
  headers.push('Content-Encoding', 'gzip');
  removeHeader(headers, 'content-length');
  removeHeader(headers, 'accept-ranges');
  weakenEtag(headers);
  const options = { level: conf.level!, windowBits: conf.windowBits!, memLevel: conf.memLevel! };
  const reply = r.res as ConnectionReply;
  reply.encoders.add((next) => {
    const filter = new ZlibFilter(r, next, () => createGzip(options), 'deflate');
    r.ctx[index] = filter;
    reply.encoderHeld = () => filter.held();
    return filter;
  });
}

/** $gzip_ratio: input over output bytes, two decimals rounded as nginx; not found before output. */
function ratioVariable(index: number) {
  return (r: HttpRequest): string | undefined => {
    const f = r.ctx[index];
    if (!(f instanceof ZlibFilter) || f.zout === 0) return undefined;
    return formatRatio(f.zin, f.zout);
  };
}

/** nginx's "%ui.%02ui" of zin/zout, the third decimal rounding the second (2.125 → 2.13). */
export function formatRatio(zin: number, zout: number): string {
  let whole = Math.floor(zin / zout);
  let frac = Math.floor((zin * 100) / zout) % 100;
  if (Math.floor((zin * 1000) / zout) % 10 > 4) {
    frac++;
    if (frac > 99) { whole++; frac = 0; }
  }
  return `${whole}.${frac < 10 ? '0' : ''}${frac}`;
}

export const gzipModule: HttpModule<unknown, unknown, GzipLocConf> = {
  kind: 'http',
  name: 'http_gzip_filter',
  directives,
  createLoc: () => ({}),
  mergeLoc(p, c) {
    inherit(c, p, 'enable', false);
    inherit(c, p, 'level', 1);
    inherit(c, p, 'windowBits', 15);
    inherit(c, p, 'memLevel', 8);
    inherit(c, p, 'minLength', 20);
    inherit(c, p, 'postpone', 0);
    inherit(c, p, 'noBuffer', false);
    // 32 4k|8k: (128 KiB) / page size of pages.
    inherit(c, p, 'buffers', { num: 32, size: 4096 });
    if (c.types === undefined) c.types = p.types === undefined ? new Set(['text/html']) : p.types;
  },
  initMain(_conf, cf) {
    cf.main(httpCoreModule).variables.define('gzip_ratio', ratioVariable(cf.registry.indexOf(gzipModule)));
  },
  postConfiguration(cf) {
    cf.main(httpCoreModule).headerFilters.push(headerFilter(cf.registry.indexOf(gzipModule)));
  },
};
