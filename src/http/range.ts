/**
 * Byte ranges of a response (ngx_http_range_filter_module's header half:
 * ngx_http_range_header_filter + ngx_http_range_parse) and the conditional
 * checks of ngx_http_not_modified_filter_module (If-Modified-Since,
 * If-None-Match, If-Unmodified-Since, If-Match).
 *
 * Pure functions over header values and the entity's size / mtime / ETag, so
 * they are unit-testable and usable by any handler that knows its length.
 *
 * Grammar and quirks kept from nginx:
 *   - `bytes=` is matched case-insensitively; anything else ignores the Range.
 *   - only spaces (no tabs) are skipped around numbers and separators;
 *   - a range starting at or past the end is skipped; if none is left: 416;
 *   - `bytes=0-` style ranges on an empty entity decline (200 with the body);
 *   - ranges whose sizes add up to more than the entity decline (200): this
 *     is nginx's defence against overlapping-range amplification;
 *   - If-Range holding an ETag must match exactly (strong), a date must equal
 *     Last-Modified exactly; otherwise the full entity is sent.
 *   - past `max_ranges` ranges the Range header is ignored (200).
 */

export interface ByteRange {
  /** First byte. */
  readonly start: number;
  /** One past the last byte. */
  readonly end: number;
}

export type RangeResult =
  | { readonly kind: 'ranges'; readonly ranges: readonly ByteRange[] }
  /** 416 with `Content-Range: bytes *\/size`. */
  | { readonly kind: 'unsatisfiable' }
  /** Ignore the Range header: send the whole entity with Accept-Ranges. */
  | { readonly kind: 'ignore' };

const IGNORE: RangeResult = { kind: 'ignore' };
const UNSATISFIABLE: RangeResult = { kind: 'unsatisfiable' };

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Parses a Range header value against an entity of `size` bytes, allowing `maxRanges` ranges. */
export function parseRange(value: string, size: number, maxRanges = Infinity): RangeResult {
  let left = maxRanges;
  if (value.length < 7 || value.slice(0, 6).toLowerCase() !== 'bytes=') return IGNORE;
  const ranges: ByteRange[] = [];
  let total = 0;
  let p = 6;
  const n = value.length;
  // Bigger than any file we serve, small enough to stay exact in a double.
  const MAX = Number.MAX_SAFE_INTEGER;
  const at = (i: number): number => (i < n ? value.charCodeAt(i) : 0);
  for (;;) {
    let start = 0;
    let end = 0;
    let suffix = false;
    let open = false;
    while (at(p) === 0x20) p++;
    if (at(p) !== 0x2d /* - */) {
      if (!isDigit(at(p))) return UNSATISFIABLE;
      while (isDigit(at(p))) {
        start = start * 10 + (at(p++) - 0x30);
        if (start > MAX) return UNSATISFIABLE;
      }
      while (at(p) === 0x20) p++;
      if (at(p++) !== 0x2d) return UNSATISFIABLE;
      while (at(p) === 0x20) p++;
      if (at(p) === 0x2c /* , */ || p >= n) { end = size; open = true; }
    } else {
      suffix = true;
      p++;
    }
    if (!open) {
      if (!isDigit(at(p))) return UNSATISFIABLE;
      while (isDigit(at(p))) {
        end = end * 10 + (at(p++) - 0x30);
        if (end > MAX) return UNSATISFIABLE;
      }
      while (at(p) === 0x20) p++;
      if (at(p) !== 0x2c && p < n) return UNSATISFIABLE;
      if (suffix) {
        start = end < size ? size - end : 0;
        end = size - 1;
      }
      end = end >= size ? size : end + 1;
    }
    if (start < end) {
      ranges.push({ start, end });
      total += end - start;
      if (left-- === 0) return IGNORE;
    } else if (start === 0) {
      return IGNORE;
    }
    if (p >= n || at(p++) !== 0x2c) break;
  }
  if (ranges.length === 0) return UNSATISFIABLE;
  if (total > size) return IGNORE;
  return { kind: 'ranges', ranges };
}

/** nginx's ngx_http_parse_http_time: seconds since the epoch, or -1 when not a valid HTTP date. */
export function parseHttpTime(value: string): number {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? -1 : Math.floor(ms / 1000);
}

/** `Thu, 01 Jan 1970 00:00:00 GMT` (ngx_http_time). */
export function httpTime(seconds: number): string {
  return new Date(seconds * 1000).toUTCString();
}

/** nginx's ETag for a file: `"<mtime hex>-<size hex>"` (ngx_http_set_etag). */
export function fileEtag(mtimeSeconds: number, size: number): string {
  return `"${mtimeSeconds.toString(16)}-${size.toString(16)}"`;
}

/**
 * ngx_http_test_if_match: does a list of entity tags (If-Match / If-None-Match)
 * name `etag`? `*` matches anything; weak comparison strips `W/` from both sides.
 */
export function etagListMatches(list: string, etag: string | null, weak: boolean): boolean {
  const v = list.trim();
  if (v === '*') return true;
  if (etag === null) return false;
  let own = etag;
  if (weak && own.startsWith('W/')) own = own.slice(2);
  for (const raw of v.split(',')) {
    let tag = raw.trim();
    if (weak && tag.startsWith('W/')) tag = tag.slice(2);
    if (tag === own) return true;
  }
  return false;
}

export interface ConditionalHeaders {
  readonly ifModifiedSince?: string;
  readonly ifNoneMatch?: string;
  readonly ifUnmodifiedSince?: string;
  readonly ifMatch?: string;
}

/**
 * ngx_http_not_modified_header_filter for a 200 response with a known
 * Last-Modified: 412, 304, or 200 (send the entity). `mode` is if_modified_since.
 */
export function conditionalStatus(
  h: ConditionalHeaders, lastModified: number, etag: string | null, mode: 'off' | 'exact' | 'before',
): 200 | 304 | 412 {
  if (h.ifUnmodifiedSince !== undefined) {
    const t = parseHttpTime(h.ifUnmodifiedSince);
    if (t === -1 || t < lastModified) return 412;
  }
  if (h.ifMatch !== undefined && !etagListMatches(h.ifMatch, etag, false)) return 412;
  if (h.ifModifiedSince === undefined && h.ifNoneMatch === undefined) return 200;
  if (h.ifModifiedSince !== undefined && mode !== 'off') {
    const t = parseHttpTime(h.ifModifiedSince);
    const notModified = t === lastModified || (mode === 'before' && t !== -1 && t >= lastModified);
    if (!notModified) return 200;
  } else if (h.ifModifiedSince !== undefined) {
    return 200;
  }
  if (h.ifNoneMatch !== undefined && !etagListMatches(h.ifNoneMatch, etag, true)) return 200;
  return 304;
}

/** If-Range (ngx_http_range_header_filter): may the Range be honoured? */
export function ifRangeAllows(ifRange: string, lastModified: number, etag: string | null): boolean {
  if (ifRange.length >= 2 && ifRange.endsWith('"')) return etag !== null && ifRange === etag;
  // no Last-Modified (add_header removed it, or its date is bad): no range
  return lastModified !== -1 && parseHttpTime(ifRange) === lastModified;
}
