/**
 * The fields an upstream head may carry once (nginx's headers_in slots that
 * ngx_http_upstream_process_header_line and its kin fill): a repeat is
 * ignored with a warning, neither sent to the client nor seen by
 * $upstream_http_*. Content-Length and Transfer-Encoding are not here: a
 * repeat of those makes the head invalid.
 */
import type { HttpRequest } from '../http/request.js';

const UNIQUE_BITS: ReadonlyMap<string, number> = new Map([
  'content-type', 'date', 'last-modified', 'etag', 'server', 'location', 'refresh', 'expires', 'x-accel-redirect',
].map((name, i) => [name, 1 << i]));

/** Whether the field may appear once. */
export function isUniqueUpstreamField(lname: string): boolean {
  return UNIQUE_BITS.has(lname);
}

/**
 * Tracks the unique fields seen while a head is copied: `seen` is the mask
 * so far; returns the new mask, or -1 for a repeat (logged, to be skipped).
 */
export function markUniqueField(r: HttpRequest, seen: number, lname: string, field: string, previous: () => string): number {
  const bit = UNIQUE_BITS.get(lname);
  if (bit === undefined) return seen;
  if ((seen & bit) === 0) return seen | bit;
  r.log('warn', `upstream sent duplicate header line: "${field}", previous value: "${previous()}", ignored`);
  return -1;
}
