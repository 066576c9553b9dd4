/**
 * ngx_http_static_module (plus the end of ngx_http_core_content_phase and
 * ngx_http_map_uri_to_path): serves the file a URI maps to under `root` or
 * `alias`, with nginx's header filters that matter for files folded in
 * (not_modified: 304/412, range: 206/416, Accept-Ranges, ETag, Last-Modified).
 *
 * Registered in CoreMainConf.content, after the index handler, so it runs for
 * locations that have no content handler of their own.
 *
 * Behaviour kept from nginx:
 *   - methods other than GET/HEAD/POST: 405; POST to an existing file: 405
 *     (a missing one is still 404, the file is opened first);
 *   - a directory without a trailing slash: 301 to `uri/` (with the args);
 *   - open() errors: ENOENT/ENOTDIR/ENAMETOOLONG 404 (logged at error level
 *     when log_not_found is on), EACCES 403, others 500 (crit);
 *   - `"%xT-%xO"` ETags, Last-Modified from mtime, Accept-Ranges: bytes;
 *   - the request body is discarded once the file is open.
 * Deliberate differences:
 *   - a URI ending in '/' that reaches this handler answers 403 "directory
 *     index of ... is forbidden" here (nginx does it in the core content phase
 *     after every content handler declined: index and autoindex run before);
 *   - a 301 to a directory is sent as the built-in page directly, without
 *     error_page processing;
 *   - multi-range requests get a multipart/byteranges 206 streamed range by
 *     range from the file (nginx builds it only when the body is one buffer
 *     and otherwise sends the parts from its file buffers the same way);
 *   - no open_file_cache, sendfile or directio: the file is streamed with a
 *     read stream piped with backpressure; it is never read whole.
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { checkSymlinks } from './symlinks.js';
import type { ConfContext } from '../config/conf-context.js';
import type { HttpModule } from '../config/module.js';
import { errnoText } from '../errno.js';
import { discardRequestBody } from './body.js';
import { httpCoreModule, PHASE_DONE, type CoreLocConf, type LocationEntry, type PhaseHandler } from './core-module.js';
import { responseContentType } from './mime.js';
import { setHttpPrefix, underPrefix } from './prefix.js';
import { finalize, sendSpecial } from './phases.js';
import { sendHeader } from './header-filter.js';
import { conditionalStatus, fileEtag, httpTime } from './range.js';
import type { FilePart, RangeCut } from './range-filter.js';
import { escapeUri } from './uri.js';
import type { HttpRequest } from './request.js';
import type { ComplexValue } from './variables.js';

// ---------------------------------------------------------------------------
// URI → path (ngx_http_map_uri_to_path)

interface AliasInfo {
  /** Length of the name of the location that declared the alias (the part of the URI it replaces). */
  readonly prefixLength: number;
  /** Declared in a regex location: the alias is the whole path (captures fill it). */
  readonly regex: boolean;
}

/** Where each `alias` value was declared (filled at postconfiguration, keyed by the compiled value). */
const aliasInfo = new WeakMap<ComplexValue, AliasInfo>();
/** try_files matched a file under a regex alias: append $uri to the alias (nginx's r->add_uri_to_alias). */
const addUriToAlias = new WeakSet<HttpRequest>();

export interface MappedPath {
  /** The file system path. */
  readonly path: string;
  /** Length of the document root part of `path` ($document_root). */
  readonly rootLength: number;
  /** The location's alias is in use (try_files rewrites URIs differently then). */
  readonly alias: AliasInfo | null;
}

function fullPath(r: HttpRequest, p: string): string {
  return underPrefix(r.server.main, p);
}

/**
 * The file system path of `uri` in the request's current location: root + uri,
 * or for `alias` the alias + the part of the URI after the location's name
 * (regex locations: the alias alone). Variables in root/alias are evaluated
 * per request; relative values are under the -p prefix; root's default is `html`.
 * Exported for $document_root / $request_filename / $realpath_root.
 */
export function mapUriToPath(r: HttpRequest, uri: string = r.uri): MappedPath {
  const lc = r.locConf;
  if (lc.alias) {
    const info = aliasInfo.get(lc.alias) ?? { prefixLength: r.locEntry?.name.length ?? 0, regex: false };
    const base = fullPath(r, lc.alias.evaluate(r));
    if (info.regex) {
      const path = addUriToAlias.has(r) ? base + uri : base;
      return { path, rootLength: base.length, alias: info };
    }
    const cut = Math.min(info.prefixLength, uri.length);
    return { path: base + uri.slice(cut), rootLength: base.length, alias: info };
  }
  let root = lc.root ? lc.root.evaluate(r) : 'html';
  // nginx drops one trailing slash of `root` at config time (root /x/; + /a → /x/a).
  if (root.length > 1 && root.endsWith('/')) root = root.slice(0, -1);
  const base = fullPath(r, root);
  return { path: base + uri, rootLength: base.length, alias: null };
}

/** For try_files: the URI it found is served with the regex alias + that URI. */
export function markAddUriToAlias(r: HttpRequest): void {
  addUriToAlias.add(r);
}

// ---------------------------------------------------------------------------
// The handler

const enum Method { Other, Get, Head, Post }
function methodOf(r: HttpRequest): Method {
  const m = r.method;
  return m === 'GET' ? Method.Get : m === 'HEAD' ? Method.Head : m === 'POST' ? Method.Post : Method.Other;
}

/** Logs an open()/stat() failure as nginx: `open() "/p" failed (2: No such file or directory)`. */
export function fileErrorStatus(r: HttpRequest, call: string, path: string, err: unknown): number {
  const code = (err as NodeJS.ErrnoException).code;
  let status: number;
  let level: 'error' | 'crit' = 'error';
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') status = 404;
  else if (code === 'EACCES' || code === 'ELOOP') status = 403; // ELOOP: a link disable_symlinks refuses
  else { status = 500; level = 'crit'; }
  if (status !== 404 || r.locConf.logNotFound) r.log(level, `${call} "${path}" failed (${errnoText(err)})`);
  return status;
}

/** The static content handler (a PhaseHandler of CoreMainConf.content). */
export const staticHandler: PhaseHandler = (r) => {
  const method = methodOf(r);
  if (method === Method.Other) return 405;
  if (r.uri.endsWith('/')) {
    // ngx_http_core_content_phase: every handler declined a directory URI.
    r.log('error', `directory index of "${mapUriToPath(r).path}" is forbidden`);
    return 403;
  }
  serveFile(r, method).catch((err: unknown) => {
    r.log('alert', `static file handler failed: ${(err as Error).stack ?? String(err)}`);
    finalize(r, 500);
  });
  return PHASE_DONE;
};

async function serveFile(r: HttpRequest, method: Method): Promise<void> {
  const mapped = mapUriToPath(r);
  const path = mapped.path;
  let fh: FileHandle;
  const links = await checkSymlinks(r, r.locConf.disableSymlinks!, path);
  if (links !== null) {
    finalize(r, fileErrorStatus(r, 'openat()', path, links));
    return;
  }
  try {
    fh = await open(path, 'r');
  } catch (err) {
    finalize(r, fileErrorStatus(r, 'open()', path, err));
    return;
  }
  let owned = true;
  try {
    const st = await fh.stat();
    if (r.res.destroyed) return;
    if (st.isDirectory()) {
      discardRequestBody(r);
      // the URI escaped as nginx's ngx_escape_uri(NGX_ESCAPE_URI): `/dir sp` -> `/dir%20sp/`
      let location = escapeUri(r.uri) + '/';
      if (r.hasArgs && r.args !== '') location += '?' + r.args;
      sendSpecial(r, 301, location);
      return;
    }
    if (!st.isFile()) {
      r.log('crit', `"${path}" is not a regular file`);
      finalize(r, 404);
      return;
    }
    if (method === Method.Post) { finalize(r, 405); return; }
    discardRequestBody(r);
    owned = false;
    respondWithFile(r, fh, st.size, Math.floor(st.mtimeMs / 1000));
  } finally {
    if (owned) await fh.close().catch(() => {});
  }
}

/**
 * Answers with an open file: conditional requests, ranges, the body streamed
 * (the file is closed in every case). `encoding` is a Content-Encoding
 * (gzip_static's `gzip` for FILE.gz).
 */
export function respondWithFile(r: HttpRequest, fh: FileHandle, size: number, mtime: number, encoding: string | null = null): void {
  const lc = r.locConf;
  const h = r.req.headers;
  const etag = lc.etag ? fileEtag(mtime, size) : null;
  const lastModified = httpTime(mtime);
  const type = responseContentType(r);
  const close = (): void => { fh.close().catch(() => {}); };

  // not_modified filter (only for a main request answered 200, as nginx).
  if (r.errStatus === 0) {
    const cond = conditionalStatus({
      ifModifiedSince: h['if-modified-since'], ifNoneMatch: h['if-none-match'],
      ifUnmodifiedSince: h['if-unmodified-since'], ifMatch: h['if-match'],
    }, mtime, etag, lc.ifModifiedSince!);
    if (cond === 412) { close(); finalize(r, 412); return; }
    if (cond === 304) {
      close();
      const headers = ['Last-Modified', lastModified];
      if (etag) headers.push('ETag', etag);
      if (sendHeader(r, 304, headers, -1)) r.res.end();
      return;
    }
  }

  const headers = ['Content-Type', type, 'Last-Modified', lastModified];
  if (etag) headers.push('ETag', etag);
  if (encoding !== null) headers.push('Content-Encoding', encoding);
  sendFile(r, fh, 200, headers, { base: 0, size, ranges: 'file', what: 'file' });
}

/** Where a file's entity is and what may be cut of it (sendFile). */
export interface FileEntity {
  /** Where the entity starts in the file, and its length. */
  readonly base: number;
  readonly size: number;
  readonly ranges: RangeCut;
  /** What the file is, in a log line ("file", "cache file"). */
  readonly what: string;
}

/**
 * Sends the head, then the entity or the parts the range filter chose
 * (r.rangeParts), nothing for a HEAD; a filter's answer instead (416) is
 * finalized. The file is closed in every case.
 */
export function sendFile(r: HttpRequest, fh: FileHandle, status: number, headers: string[], e: FileEntity): void {
  const sent = sendHeader(r, status, headers, e.size, true, e.ranges);
  const ranged = r.rangeParts;
  r.rangeParts = null;
  if (!sent || r.method === 'HEAD' || (e.size === 0 && ranged === null)) {
    fh.close().catch(() => {});
    if (!sent && r.filterStatus !== 0) finalize(r, r.filterStatus);
    else if (!r.res.writableEnded && !r.res.destroyed) r.res.end();
    return;
  }
  const { base, what } = e;
  if (ranged === null) streamParts(r, fh, base, [{ prefix: null, start: 0, end: e.size }], null, what);
  else streamParts(r, fh, base, ranged.parts, ranged.trailer, what);
}

/**
 * Streams file ranges to the response one after another with backpressure
 * (the file stream pauses while the socket is full). A file that turns
 * out shorter than its stat size cuts the response (nginx: "file was truncated").
 */
function streamParts(
  r: HttpRequest, fh: FileHandle, base: number, parts: readonly FilePart[], trailer: Buffer | null, what: string,
): void {
  const res = r.res;
  let i = 0;
  let current: ReturnType<FileHandle['createReadStream']> | null = null;
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    res.off('close', onClose);
    fh.close().catch(() => {});
  };
  const onClose = (): void => { current?.destroy(); finish(); };
  res.once('close', onClose);
  const resume = (): void => { current?.resume(); };
  const next = (): void => {
    if (res.destroyed) { finish(); return; }
    if (i === parts.length) {
      if (trailer) res.end(trailer); else res.end();
      finish();
      return;
    }
    const part = parts[i++];
    if (part.prefix) res.write(part.prefix);
    const stream = fh.createReadStream({ start: base + part.start, end: base + part.end - 1, autoClose: false });
    current = stream;
    stream.on('error', (err) => {
      r.log('crit', `read() failed (${errnoText(err)})`);
      res.destroy();
      finish();
    });
    stream.on('end', () => {
      if (stream.bytesRead !== part.end - part.start) {
        r.log('alert', `${what} was truncated while sending the response`);
        res.destroy();
        finish();
        return;
      }
      next();
    });
    stream.on('data', (chunk) => {
      if (!res.write(chunk as Buffer)) { stream.pause(); res.once('drain', resume); }
    });
  };
  next();
}

// ---------------------------------------------------------------------------
// The module

/** Records where each alias was declared (its location name is what it replaces in the URI). */
function collectAliases(index: number, entries: readonly LocationEntry[]): void {
  for (const e of entries) {
    const lc = e.level.loc[index] as CoreLocConf;
    if (lc.alias && !aliasInfo.has(lc.alias)) {
      aliasInfo.set(lc.alias, { prefixLength: e.name.length, regex: e.modifier === '~' || e.modifier === '~*' });
    }
    collectAliases(index, e.children);
  }
}

export const httpStaticModule: HttpModule<null, null, null> = {
  kind: 'http',
  name: 'http_static',
  directives: [],
  postConfiguration(cf: ConfContext) {
    const main = cf.main(httpCoreModule);
    setHttpPrefix(main, cf.paths.prefix);
    const index = cf.registry.indexOf(httpCoreModule);
    for (const s of main.servers) collectAliases(index, s.locations);
    main.content.push(staticHandler);
  },
};
