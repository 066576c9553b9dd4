/**
 * The range filter (ngx_http_range_filter_module): a 200 of known length
 * whose sender allows ranges answers the client's Range with a 206 (one
 * range, or multipart/byteranges), a 416 when none is satisfiable, or the
 * whole entity with `Accept-Ranges: bytes`.
 *
 * It runs after every other header filter, as nginx's: it sees the fields
 * the client will get (If-Range compares with the ETag and Last-Modified an
 * add_header left) and steps aside when a body filter changed the length
 * (gzip, SSI, sub_filter...).
 *
 * Who cuts the ranges is the sender's choice (nginx's r->allow_ranges and
 * r->single_range):
 *   - 'file': the sender reads the parts from its file (static files, cache
 *     entries), any number of them; it finds them in r.rangeParts;
 *   - 'stream': one range, cut from the body as it passes (an upstream's
 *     response with proxy_force_ranges, or one being cached);
 *   - 'off': no ranges, no Accept-Ranges.
 */
import type { BodyWriter } from './client-reply.js';
import { headerIndex, removeHeader } from './header-list.js';
import { ifRangeAllows, parseHttpTime, parseRange } from './range.js';
import type { HttpRequest } from './request.js';

export type RangeCut = 'off' | 'stream' | 'file';

/** One range of an entity to send (offsets in the entity), with its multipart head before it (or null). */
export interface FilePart {
  readonly prefix: Buffer | null;
  readonly start: number;
  readonly end: number;
}

/** What a 'file' sender sends of a ranged 206: its parts, then the closing boundary (or null). */
export interface RangeParts {
  readonly parts: readonly FilePart[];
  readonly trailer: Buffer | null;
}

/** rangeFilter's answers besides a 206's length. */
export const RANGE_DECLINED = -1;
export const RANGE_NOT_SATISFIABLE = -2;

let boundarySerial = 0;

/**
 * The header half, for a main request's 200 of `size` bytes whose body no
 * filter resizes. Edits `headers`; returns the 206's length,
 * RANGE_DECLINED (the response goes as it is), or RANGE_NOT_SATISFIABLE
 * (the sender answers 416: its Content-Range is in r.headersOut).
 */
export function rangeFilter(r: HttpRequest, cut: RangeCut, headers: string[], size: number): number {
  const maxRanges = r.locConf.maxRanges!;
  if (maxRanges === 0 || r.req.httpVersionMajor < 1) return RANGE_DECLINED;
  const value = r.req.headers.range;
  if (typeof value !== 'string' || !ifRangeHolds(r, headers)) return acceptRanges(headers);
  const parsed = parseRange(value, size, cut === 'stream' ? 1 : maxRanges);
  if (parsed.kind === 'ignore') return acceptRanges(headers);
  if (parsed.kind === 'unsatisfiable') {
    r.headersOut.push('Content-Range', `bytes */${size}`);
    return RANGE_NOT_SATISFIABLE;
  }
  const ranges = parsed.ranges;
  // A Content-Range already there (an upstream's, an add_header's) is not this response's.
  removeHeader(headers, 'content-range');
  if (ranges.length === 1) {
    const { start, end } = ranges[0];
    headers.push('Content-Range', `bytes ${start}-${end - 1}/${size}`);
    if (cut === 'stream') r.res.bodyFilters.add((next) => new RangeSlice(next, start, end), true);
    else r.rangeParts = { parts: [{ prefix: null, start, end }], trailer: null };
    return end - start;
  }
  // multipart/byteranges, framed as nginx's (CRLF "--boundary" CRLF fields CRLF CRLF data ... CRLF "--boundary--" CRLF).
  const boundary = String(++boundarySerial).padStart(10, '0');
  const typeAt = headerIndex(headers, 'content-type');
  const partHead = typeAt >= 0
    ? `\r\n--${boundary}\r\nContent-Type: ${headers[typeAt + 1]}\r\nContent-Range: bytes `
    : `\r\n--${boundary}\r\nContent-Range: bytes `;
  const parts = ranges.map((rg) => ({
    prefix: Buffer.from(`${partHead}${rg.start}-${rg.end - 1}/${size}\r\n\r\n`, 'latin1'), start: rg.start, end: rg.end,
  }));
  const trailer = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
  let length = trailer.length;
  for (const p of parts) length += p.prefix.length + (p.end - p.start);
  const type = `multipart/byteranges; boundary=${boundary}`;
  if (typeAt >= 0) headers[typeAt + 1] = type; else headers.push('Content-Type', type);
  r.rangeParts = { parts, trailer };
  return length;
}

function acceptRanges(headers: string[]): number {
  headers.push('Accept-Ranges', 'bytes');
  return RANGE_DECLINED;
}

/** If-Range against the validators the client will see (none: the whole entity). */
function ifRangeHolds(r: HttpRequest, headers: readonly string[]): boolean {
  const ifRange = r.req.headers['if-range'];
  if (typeof ifRange !== 'string') return true;
  const etagAt = headerIndex(headers, 'etag');
  const lmAt = headerIndex(headers, 'last-modified');
  return ifRangeAllows(ifRange, lmAt >= 0 ? parseHttpTime(headers[lmAt + 1]) : -1, etagAt >= 0 ? headers[etagAt + 1] : null);
}

/**
 * The body half for a 'stream' sender (ngx_http_range_singlepart_body):
 * passes the bytes of [first, last) on, as views of the chunks they came in,
 * and lets the rest go by.
 */
class RangeSlice implements BodyWriter {
  private at = 0;

  constructor(private readonly next: BodyWriter, private readonly first: number, private readonly last: number) {}

  write(chunk: Buffer): boolean {
    const from = this.at;
    this.at += chunk.length;
    if (this.at <= this.first || from >= this.last) return true;
    const s = this.first > from ? this.first - from : 0;
    const e = this.last < this.at ? this.last - from : chunk.length;
    return this.next.write(s === 0 && e === chunk.length ? chunk : chunk.subarray(s, e));
  }

  end(): void {
    this.next.end();
  }
}
