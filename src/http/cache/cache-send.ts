/**
 * Answering from a cache entry (ngx_http_upstream_cache_send +
 * ngx_http_cache_send): the stored head through the header filters, then the
 * body streamed from the file with backpressure. A cached 200 answers
 * ranges when it was stored with Accept-Ranges or *_force_ranges is on
 * (nginx's r->allow_ranges for a cached response), and conditional requests
 * (the not_modified filter sees the stored Last-Modified and ETag).
 *
 * The file is closed in every case: the end, a client that leaves, a read
 * error, or an entry that turns out shorter than its head said (removed or
 * truncated under us: the response is cut, as nginx's "file was truncated").
 */
import type { FileHandle } from 'node:fs/promises';
import { finalize } from '../phases.js';
import { sendHeader } from '../header-filter.js';
import { headerIndex, removeHeader } from '../header-list.js';
import { conditionalStatus, parseHttpTime } from '../range.js';
import type { HttpRequest } from '../request.js';
import type { Entry } from './entry-file.js';
import { sendFile } from '../static-module.js';

/** Sends `entry` (open as `fh`) to the client: a 304/412, or the head and the body or its ranges (HEAD: the head only). */
export function sendEntry(r: HttpRequest, fh: FileHandle, entry: Entry, forceRanges: boolean): void {
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
  // A stored Accept-Ranges (or *_force_ranges) lets the range filter answer ranges (nginx's
  // copy_allow_ranges for r->cached); the filter states its own.
  const ranges = forceRanges || headerIndex(headers, 'accept-ranges') >= 0 ? 'file' : 'off';
  removeHeader(headers, 'accept-ranges');
  sendFile(r, fh, m.status, headers, { base: entry.bodyStart, size, ranges, what: 'cache file' });
}
