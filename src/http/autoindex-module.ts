/**
 * ngx_http_autoindex_module: a listing of a directory for a URI ending in '/'
 * that no index file answered.
 *
 *   autoindex on | off                          http, server, location (off)
 *   autoindex_format html | xml | json | jsonp  (html)
 *   autoindex_exact_size on | off               (on; html only)
 *   autoindex_localtime on | off                (off; html only)
 *
 * Kept from nginx, byte for byte: entries whose name starts with '.' are left
 * out; each is stat()ed (a symlink counts as what it points to, a dangling
 * one as itself); directories come first, then byte order of the names; the
 * html page's names are cut at 50 characters (`..&gt;`), counted in UTF-8
 * characters when the response's charset is utf-8; `?callback=` of jsonp is
 * checked (letters, digits, `_`, `.`, 128 bytes at most: else 400). Only GET
 * and HEAD; the request body is discarded.
 *
 * Differences: the listing is streamed in pieces of about 16 KiB with the
 * client's backpressure (nginx builds one buffer of the whole page), so a big
 * directory costs its entries' names and stats, not the page, in memory. A
 * stat() error other than ENOENT/ELOOP/EACCES after the header is sent cuts
 * the response (nginx's NGX_ERROR does the same).
 */
import { lstat, opendir, stat } from 'node:fs/promises';
import type { Dir, Stats } from 'node:fs';
import type { ConfContext } from '../config/conf-context.js';
import { HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import { inherit, setEnum, setFlag } from '../config/slots.js';
import { errnoText } from '../errno.js';
import { discardRequestBody } from './body.js';
import { httpCoreModule, PHASE_DONE, PHASE_NEXT, type PhaseHandler } from './core-module.js';
import { finalize } from './phases.js';
import { sendHeader } from './header-filter.js';
import { httpTime } from './range.js';
import type { HttpRequest } from './request.js';
import { mapUriToPath } from './static-module.js';
import { EscapeType, escapeUri } from './uri.js';
import { queryArg } from './variables-core.js';
import { MONTHS, pad2 } from '../time-format.js';

type Format = 'html' | 'json' | 'jsonp' | 'xml';

export interface AutoindexLocConf {
  enable?: boolean;
  format?: Format;
  localtime?: boolean;
  exactSize?: boolean;
}

const directives: DirectiveSpec[] = [
  { name: 'autoindex', contexts: HTTP_MAIN_SRV_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.loc(autoindexModule), 'enable') },
  {
    name: 'autoindex_format', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set: (cf, d) => setEnum(cf, d, cf.loc(autoindexModule), 'format', ['html', 'json', 'jsonp', 'xml'] as const),
  },
  { name: 'autoindex_localtime', contexts: HTTP_MAIN_SRV_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.loc(autoindexModule), 'localtime') },
  { name: 'autoindex_exact_size', contexts: HTTP_MAIN_SRV_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.loc(autoindexModule), 'exactSize') },
];

/** One directory entry; `name` is its bytes as a latin1 string (weir's byte strings). */
export interface Entry {
  readonly name: string;
  readonly bytes: Buffer;
  readonly dir: boolean;
  readonly file: boolean;
  /** Seconds. */
  readonly mtime: number;
  readonly size: number;
}

/** ngx_http_autoindex_cmp_entries: directories first, then strcmp of the names. */
export function compareEntries(a: Entry, b: Entry): number {
  if (a.dir !== b.dir) return a.dir ? -1 : 1;
  return Buffer.compare(a.bytes, b.bytes);
}

/** The jsonp callback (ngx_http_autoindex_jsonp_callback): '' when none, null when refused. */
function jsonpCallback(r: HttpRequest): string | null {
  const cb = queryArg(r.args, 'callback');
  if (cb === undefined || cb === '') return '';
  if (cb.length > 128) { r.log('info', `client sent too long callback name: "${cb}"`); return null; }
  if (!/^[A-Za-z0-9_.]*$/.test(cb)) { r.log('info', `client sent invalid callback name: "${cb}"`); return null; }
  return cb;
}

const CONTENT_TYPES: Record<Format, string> = {
  html: 'text/html', json: 'application/json', jsonp: 'application/javascript', xml: 'text/xml; charset=utf-8',
};

let moduleIndex = -1;

const autoindexHandler: PhaseHandler = (r) => {
  if (!r.uri.endsWith('/')) return PHASE_NEXT;
  const m = r.method;
  if (m !== 'GET' && m !== 'HEAD') return PHASE_NEXT;
  const conf = r.loc.loc[moduleIndex] as AutoindexLocConf;
  if (!conf.enable) return PHASE_NEXT;
  discardRequestBody(r);
  let path = mapUriToPath(r).path;
  if (path.length > 1) path = path.slice(0, -1);
  let format = conf.format!;
  let callback = '';
  if (format === 'jsonp') {
    const cb = jsonpCallback(r);
    if (cb === null) return 400;
    if (cb === '') format = 'json';
    callback = cb;
  }
  list(r, conf, path, format, callback).catch((err: unknown) => {
    r.log('alert', `autoindex handler failed: ${(err as Error).stack ?? String(err)}`);
    if (r.res.headersSent) r.res.destroy(); else finalize(r, 500);
  });
  return PHASE_DONE;
};

async function list(r: HttpRequest, conf: AutoindexLocConf, path: string, format: Format, callback: string): Promise<void> {
  const fsPath = Buffer.from(path, 'latin1');
  let dir: Dir;
  try {
    dir = await opendir(fsPath as unknown as string, { encoding: 'buffer' as BufferEncoding });
  } catch (err) {
    if (r.res.destroyed) return;
    const code = (err as NodeJS.ErrnoException).code;
    const status = code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG' ? 404 : code === 'EACCES' ? 403 : 500;
    r.log(status === 500 ? 'crit' : 'error', `opendir() "${path}" failed (${errnoText(err)})`);
    finalize(r, status);
    return;
  }
  if (!sendHeader(r, 200, ['Content-Type', CONTENT_TYPES[format]], -1) || r.method === 'HEAD') {
    await dir.close().catch(() => {});
    if (!r.res.writableEnded && !r.res.destroyed) r.res.end();
    return;
  }
  const entries = await readEntries(r, dir, path);
  if (entries === null) { r.res.destroy(); return; }
  entries.sort(compareEntries);
  const out = new Output(r);
  switch (format) {
    case 'json': case 'jsonp': await writeJson(out, entries, format === 'jsonp' ? callback : null); break;
    case 'xml': await writeXml(out, entries); break;
    default: await writeHtml(out, r, conf, entries); break;
  }
  await out.end();
}

/** The entries with their stats; null after an error that ends the response (logged). */
async function readEntries(r: HttpRequest, dir: Dir, path: string): Promise<Entry[] | null> {
  const entries: Entry[] = [];
  const prefix = Buffer.from(path + '/', 'latin1');
  try {
    for await (const de of dir) {
      if (r.res.destroyed) return null;
      const bytes = de.name as unknown as Buffer;
      if (bytes[0] === 0x2e) continue;
      const full = Buffer.concat([prefix, bytes]);
      let st: Stats;
      try {
        st = await stat(full);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const name = full.toString('latin1');
        if (code !== 'ENOENT' && code !== 'ELOOP') {
          r.log('crit', `stat() "${name}" failed (${errnoText(err)})`);
          if (code === 'EACCES') continue;
          return null;
        }
        try {
          st = await lstat(full);
        } catch (lerr) {
          r.log('crit', `lstat() "${name}" failed (${errnoText(lerr)})`);
          return null;
        }
      }
      entries.push({
        name: bytes.toString('latin1'), bytes, dir: st.isDirectory(), file: st.isFile(), mtime: Math.floor(st.mtimeMs / 1000), size: st.size,
      });
    }
  } catch (err) {
    r.log('crit', `readdir() "${path}" failed (${errnoText(err)})`);
    return null;
  }
  return entries;
}

/** The body in pieces of about 16 KiB, waiting for 'drain' when the client is behind. */
class Output {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly r: HttpRequest) {}

  push(s: string): Promise<void> | null {
    this.parts.push(s);
    this.size += s.length;
    return this.size >= 16384 ? this.flush() : null;
  }

  private flush(): Promise<void> | null {
    const res = this.r.res;
    const chunk = Buffer.from(this.parts.join(''), 'latin1');
    this.parts = [];
    this.size = 0;
    if (res.destroyed) return null;
    if (res.write(chunk)) return null;
    return new Promise((resolve) => {
      const done = (): void => { res.off('drain', done); res.off('close', done); resolve(); };
      res.on('drain', done);
      res.on('close', done);
    });
  }

  async end(): Promise<void> {
    const res = this.r.res;
    if (res.destroyed) return;
    const last = Buffer.from(this.parts.join(''), 'latin1');
    this.parts = [];
    res.end(last);
  }
}

// ---------------------------------------------------------------------------
// The formats

/** ngx_escape_html: < > & and " */
export function escapeHtml(s: string): string {
  if (!/[<>&"]/.test(s)) return s;
  return s.replace(/[<>&"]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : '&quot;'));
}

/** ngx_escape_json: backslash before " and \, controls as \n \r \t \b \f or \u00XX. */
export function escapeJson(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\x00-\x1f"\\]/.test(s)) return s;
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f"\\]/g, (c) => {
    switch (c) {
      case '"': return '\\"';
      case '\\': return '\\\\';
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\t': return '\\t';
      case '\b': return '\\b';
      case '\f': return '\\f';
      default: return '\\u00' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
    }
  });
}

/**
 * ngx_utf8_decode's length of the sequence at `i` of a byte string, or 0
 * when it is not valid UTF-8 (nginx's checks: no overlong forms, no bytes
 * past the end, code points to 0x10ffff).
 */
function utf8SeqLength(s: string, i: number): number {
  const c = s.charCodeAt(i);
  let len: number;
  let u: number;
  let valid: number;
  if (c >= 0xf8) return 0;
  if (c >= 0xf0) { u = c & 0x07; valid = 0xffff; len = 3; } else if (c >= 0xe0) { u = c & 0x0f; valid = 0x7ff; len = 2; } else if (c >= 0xc2) { u = c & 0x1f; valid = 0x7f; len = 1; } else return 0;
  if (s.length - i - 1 < len) return 0;
  for (let k = 1; k <= len; k++) {
    const b = s.charCodeAt(i + k);
    if (b < 0x80) return 0;
    u = (u << 6) | (b & 0x3f);
  }
  return u > valid && u <= 0x10ffff ? len + 1 : 0;
}

/** ngx_utf8_length: characters of a byte string; its byte length when it is not valid UTF-8. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; n++) {
    if (s.charCodeAt(i) < 0x80) { i++; continue; }
    const l = utf8SeqLength(s, i);
    if (l === 0) return s.length;
    i += l;
  }
  return n;
}

/** ngx_utf8_cpystrn's copy: the first `chars` characters, stopping at invalid UTF-8. */
function utf8Prefix(s: string, chars: number): string {
  let i = 0;
  for (let n = 0; n < chars && i < s.length; n++) {
    if (s.charCodeAt(i) < 0x80) { i++; continue; }
    const l = utf8SeqLength(s, i);
    if (l === 0) break;
    i += l;
  }
  return s.slice(0, i);
}

const NAME_LEN = 50;

/** The html page's name cell: link, the name cut at 50 characters, padding (ngx_http_autoindex_html). */
export function htmlName(e: Entry, utf8: boolean): string {
  const name = e.name;
  let out = '<a href="' + escapeUri(name, EscapeType.UriComponent) + (e.dir ? '/' : '') + '">';
  let len = utf8 ? utf8Length(name) : name.length;
  if (name.length !== len) {
    out += escapeHtml(utf8Prefix(name, len > NAME_LEN ? NAME_LEN - 3 : NAME_LEN));
  } else {
    out += escapeHtml(name.slice(0, len > NAME_LEN ? NAME_LEN - 3 : len));
  }
  if (len > NAME_LEN) return out + '..&gt;</a>';
  if (e.dir && NAME_LEN - len > 0) { out += '/'; len++; }
  out += '</a>';
  if (NAME_LEN - len > 0) out += ' '.repeat(NAME_LEN - len);
  return out;
}

/** The size column: exact (`%19O`) or scaled as nginx rounds it (K over 9999 bytes, M, G). */
export function htmlSize(e: Entry, exact: boolean): string {
  if (exact) return e.dir ? '                  -' : String(e.size).padStart(19);
  if (e.dir) return '      -';
  const length = e.size;
  const G = 1024 * 1024 * 1024;
  const M = 1024 * 1024;
  let size: number;
  let scale = '';
  if (length > G - 1) { size = Math.floor(length / G); if (length % G > G / 2 - 1) size++; scale = 'G'; } else if (length > M - 1) { size = Math.floor(length / M); if (length % M > M / 2 - 1) size++; scale = 'M'; } else if (length > 9999) { size = Math.floor(length / 1024); if (length % 1024 > 511) size++; scale = 'K'; } else size = length;
  return scale ? String(size).padStart(6) + scale : ' ' + String(size).padStart(6);
}

function htmlDate(mtime: number, offsetMinutes: number): string {
  const d = new Date((mtime + offsetMinutes * 60) * 1000);
  return `${pad2(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())} `;
}

async function writeHtml(out: Output, r: HttpRequest, conf: AutoindexLocConf, entries: readonly Entry[]): Promise<void> {
  const ct = contentTypeSent(r);
  const utf8 = /;\s*charset\s*=\s*"?utf-8"?\s*$/i.test(ct);
  const uri = escapeHtml(r.uri);
  await out.push(`<html>\r\n<head><title>Index of ${uri}</title></head>\r\n<body>\r\n<h1>Index of ${uri}</h1>`
    + '<hr><pre><a href="../">../</a>\r\n');
  // nginx's tp->gmtoff: the offset now, for every entry
  const offset = conf.localtime ? -new Date().getTimezoneOffset() : 0;
  for (const e of entries) {
    const wait = out.push(htmlName(e, utf8) + ' ' + htmlDate(e.mtime, offset) + htmlSize(e, conf.exactSize!) + '\r\n');
    if (wait) await wait;
  }
  await out.push('</pre><hr></body>\r\n</html>\r\n');
}

function contentTypeSent(r: HttpRequest): string {
  const h = r.responseHeaders;
  if (h === null || h === undefined) return '';
  for (let i = 0; i < h.length; i += 2) if (h[i].toLowerCase() === 'content-type') return h[i + 1];
  return '';
}

async function writeJson(out: Output, entries: readonly Entry[], callback: string | null): Promise<void> {
  await out.push(callback !== null ? `/* callback */\r\n${callback}([` : '[');
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const type = e.dir ? 'directory' : e.file ? 'file' : 'other';
    const tail = e.file ? `", "size":${e.size}` : '"';
    const wait = out.push(`${i > 0 ? ',' : ''}\r\n{ "name":"${escapeJson(e.name)}", "type":"${type}", "mtime":"${httpTime(e.mtime)}${tail} }`);
    if (wait) await wait;
  }
  await out.push(callback !== null ? '\r\n]);' : '\r\n]');
}

async function writeXml(out: Output, entries: readonly Entry[]): Promise<void> {
  await out.push('<?xml version="1.0"?>\r\n<list>\r\n');
  for (const e of entries) {
    const type = e.dir ? 'directory' : e.file ? 'file' : 'other';
    const d = new Date(e.mtime * 1000);
    const time = `${String(d.getUTCFullYear()).padStart(4, '0')}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`
      + `T${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}Z`;
    const size = e.file ? `" size="${e.size}` : '';
    const wait = out.push(`<${type} mtime="${time}${size}">${escapeHtml(e.name)}</${type}>\r\n`);
    if (wait) await wait;
  }
  await out.push('</list>\r\n');
}

export const autoindexModule: HttpModule<null, null, AutoindexLocConf> = {
  kind: 'http',
  name: 'http_autoindex',
  directives,
  createLoc: () => ({}),
  mergeLoc(p, c) {
    inherit(c, p, 'enable', false);
    inherit(c, p, 'format', 'html');
    inherit(c, p, 'localtime', false);
    inherit(c, p, 'exactSize', true);
  },
  postConfiguration(cf: ConfContext) {
    moduleIndex = cf.registry.indexOf(autoindexModule);
    cf.main(httpCoreModule).content.push(autoindexHandler);
  },
};
