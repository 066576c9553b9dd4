/**
 * Answering from a cache entry (ngx_http_upstream_cache_send +
 * ngx_http_cache_send): the stored head through the header filters, then the
 * body streamed from the file with backpressure. A cached 200 answers
 * ranges (nginx sets r->allow_ranges for cached responses) and conditional
 * requests (the not_modified filter sees the stored Last-Modified and ETag).
 *
 * The file is closed in every case: the end, a client that leaves, a read
 * error, or an entry that turns out shorter than its head said (removed or
 * truncated under us: the response is cut, as nginx's "file was truncated").
 */
import type { FileHandle } from 'node:fs/promises';
import { finalize } from '../phases.js';
import { sendHeader } from '../header-filter.js';
import { conditionalStatus, ifRangeAllows, parseHttpTime, parseRange, type ByteRange } from '../range.js';
import type { HttpRequest } from '../request.js';
import type { Entry } from './entry-file.js';
import { streamParts } from '../static-module.js';


let boundarySerial = 0;

function field(headers: readonly string[], lname: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].length === lname.length && headers[i].toLowerCase() === lname) return headers[i + 1];
  }
  return undefined;
}

/** Sends `entry` (open as `fh`) to the client; `head`: the head only. */
export function sendEntry(r: HttpRequest, fh: FileHandle, entry: Entry, maxRangeOffset: number): void {
  const close = (): void => { fh.close().catch(() => {}); };
  const m = entry.meta;
  const size = entry.bodyLength;
  const headers = m.headers.slice();
  const h = r.req.headers;
  r.statusLine = m.statusLine;
  const lastModified = m.lastModified !== null ? parseHttpTime(m.lastModified) : -1;
  if (m.status === 200 && r.errStatus === 0 && r === r.main) {
    const cond = conditionalStatus({
      ifModifiedSince: h['if-modified-since'], ifNoneMatch: h['if-none-match'],
      ifUnmodifiedSince: h['if-unmodified-since'], ifMatch: h['if-match'],
    }, lastModified, m.etag, r.locConf.ifModifiedSince!);
    if (cond === 412) { close(); finalize(r, 412); return; }
    if (cond === 304) {
      close();
      const keep: string[] = [];
      for (let i = 0; i < headers.length; i += 2) {
        const l = headers[i].toLowerCase();
        if (l !== 'content-length' && l !== 'content-type' && l !== 'accept-ranges' && l !== 'content-encoding') keep.push(headers[i], headers[i + 1]);
      }
      r.statusLine = null;
      if (sendHeader(r, 304, keep, -1)) r.res.end();
      return;
    }
  }
  let ranges: readonly ByteRange[] | null = null;
  const maxRanges = r.locConf.maxRanges!;
  const rangeHeader = h.range;
  if (m.status === 200 && maxRanges > 0 && rangeHeader !== undefined && r.errStatus === 0 && r.req.httpVersionMajor >= 1
    && (typeof h['if-range'] !== 'string' || ifRangeAllows(h['if-range'], lastModified, m.etag))) {
    const parsed = parseRange(rangeHeader, size, maxRanges);
    if (parsed.kind === 'unsatisfiable') {
      close();
      r.headersOut.push('Content-Range', `bytes */${size}`);
      finalize(r, 416);
      return;
    }
    if (parsed.kind === 'ranges' && parsed.ranges[0].start <= maxRangeOffset) ranges = parsed.ranges;
  }
  const head = r.method === 'HEAD';
  const done = (): void => { close(); if (!r.res.writableEnded && !r.res.destroyed) r.res.end(); };
  const base = entry.bodyStart;
  if (ranges === null) {
    if (m.status === 200 && maxRanges > 0 && field(headers, 'accept-ranges') === undefined) headers.push('Accept-Ranges', 'bytes');
    if (!sendHeader(r, m.status, headers, size) || head || size === 0) { done(); return; }
    streamParts(r, fh, [{ prefix: null, start: base, end: base + size }], null, 'cache file');
    return;
  }
  r.statusLine = null;
  if (ranges.length === 1) {
    const { start, end } = ranges[0];
    headers.push('Content-Range', `bytes ${start}-${end - 1}/${size}`);
    if (!sendHeader(r, 206, headers, end - start) || head) { done(); return; }
    streamParts(r, fh, [{ prefix: null, start: base + start, end: base + end }], null, 'cache file');
    return;
  }
  const boundary = String(++boundarySerial).padStart(10, '0');
  let typeAt = -1;
  for (let i = 0; i < headers.length; i += 2) if (headers[i].toLowerCase() === 'content-type') typeAt = i + 1;
  const partHead = typeAt >= 0 ? `\r\n--${boundary}\r\nContent-Type: ${headers[typeAt]}\r\nContent-Range: bytes ` : `\r\n--${boundary}\r\nContent-Range: bytes `;
  const parts = ranges.map((rg) => ({
    prefix: Buffer.from(`${partHead}${rg.start}-${rg.end - 1}/${size}\r\n\r\n`, 'latin1'), start: base + rg.start, end: base + rg.end,
  }));
  const trailer = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
  let length = trailer.length;
  for (const p of parts) length += p.prefix.length + (p.end - p.start);
  const ct = `multipart/byteranges; boundary=${boundary}`;
  if (typeAt >= 0) headers[typeAt] = ct; else headers.push('Content-Type', ct);
  if (!sendHeader(r, 206, headers, length) || head) { done(); return; }
  streamParts(r, fh, parts, trailer, 'cache file');
}

