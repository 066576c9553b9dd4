// How the upstream response body is delimited, and a reader that cuts it out
// of the socket's slices.
//
// Mirrors ngx_http_proxy_input_filter_init (the framing decision, "as per
// RFC 2616 4.4") and the proxy module's copy/chunked filters, buffered and
// non-buffered (ngx_http_proxy_copy_filter, ngx_http_proxy_chunked_filter,
// ngx_http_proxy_non_buffered_*): data past the announced end is dropped
// with nginx's warning and the connection is not kept alive.
//
// Deliberate differences from nginx:
// - A 101 head gets its own framing, 'upgrade': everything after the head is
//   tunnel data until EOF (nginx switches to ngx_http_upstream_upgrade
//   instead of running an input filter at all).
// - eof() says whether the body was complete. nginx finds out in
//   ngx_http_upstream_process_request ("upstream prematurely closed
//   connection"); here the caller asks when the socket ends, so a truncated
//   body is never finished with a fake last chunk (RELIABILITY U5).

import type { ResponseHead } from './response-parser.js';
import { ChunkedDecoder, type ChunkedOptions } from '../../codec/chunked.js';

/**
 * - 'none': no body (HEAD, 204, 304, Content-Length: 0); any byte is extra.
 * - 'length': exactly `contentLength` bytes.
 * - 'chunked': chunked coding up to the last chunk and trailers.
 * - 'close': everything until the upstream closes (never reusable).
 * - 'upgrade': a 101: the bytes are tunnel data, until EOF.
 */
export type BodyFraming = 'none' | 'length' | 'chunked' | 'close' | 'upgrade';

export type BodyStatus = 'again' | 'done' | 'invalid';

/** nginx's warnings for bytes beyond the end of the body. */
export const ExtraReason = {
  length: 'upstream sent more data than specified in "Content-Length" header',
  chunked: 'upstream sent data after final chunk',
} as const;

/** ngx_http_proxy_input_filter_init's decision for a final head. */
export function decideFraming(head: ResponseHead, headRequest: boolean): BodyFraming {
  const code = head.statusCode;
  if (code === 101) return 'upgrade';
  if (code === 204 || code === 304 || headRequest || code < 200) return 'none';
  if (head.chunked) return 'chunked';
  if (head.contentLength === 0) return 'none';
  if (head.contentLength > 0) return 'length';
  return 'close';
}

/**
 * Reads one response body. Drive it with feed(slice) for every slice after
 * the head (start with `slice.subarray(parser.consumed)` from the head
 * parser), then eof() when the upstream closes:
 * - feed → 'again': more is expected. 'done': the body is complete; `extra`
 *   bytes at the end of this slice (from `extraOffset`) are not part of it:
 *   discard them and do not reuse the connection (`sawExtra`, `extraReason`).
 *   'invalid': broken framing (`reason`), 502 / close, never reuse.
 * - After every feed, `views` holds the body data of that slice: subarrays
 *   of it, valid until the next feed (the array itself is reused).
 * - eof() → 'done' (complete, or close-delimited/tunnel ended) or
 *   'truncated' (Content-Length or chunked body cut short: close the client
 *   connection without completing its framing, count a failure).
 * `reusable` is true once the body is complete with no extra bytes; the
 * caller still has to honour head.connectionClose.
 */
export class BodyReader {
  readonly views: Buffer[] = [];
  /** Bytes after the end of the body in the last fed slice. */
  extra = 0;
  /** Where those extra bytes begin in the last fed slice. */
  extraOffset = 0;
  /** Some byte ever came after the end of the body. */
  sawExtra = false;
  extraReason = '';
  reason = '';
  /** Body bytes delivered so far (decoded, for chunked). */
  received = 0;

  private finished: boolean;
  private failed = false;
  private remaining: number;
  private readonly chunkedDecoder: ChunkedDecoder | null;

  constructor(readonly framing: BodyFraming, contentLength = -1, chunked?: ChunkedOptions) {
    this.remaining = framing === 'length' ? contentLength : 0;
    if (framing === 'length' && !(contentLength > 0)) {
      throw new RangeError('BodyReader: length framing needs a positive contentLength');
    }
    this.finished = framing === 'none';
    this.chunkedDecoder = framing === 'chunked' ? new ChunkedDecoder(chunked) : null;
  }

  /** The reader for a final head (see decideFraming). */
  static forHead(head: ResponseHead, headRequest: boolean, chunked?: ChunkedOptions): BodyReader {
    return new BodyReader(decideFraming(head, headRequest), head.contentLength, chunked);
  }

  get done(): boolean {
    return this.finished;
  }

  /** Body complete with nothing after it. */
  get reusable(): boolean {
    return this.finished && !this.sawExtra && !this.failed
      && this.framing !== 'close' && this.framing !== 'upgrade';
  }

  /** The chunked decoder (trailers, chunk counts), or null. */
  get chunked(): ChunkedDecoder | null {
    return this.chunkedDecoder;
  }

  /** A kept trailer by lowercase name, for `$upstream_trailer_NAME`. */
  trailer(lname: string): string | undefined {
    return this.chunkedDecoder === null ? undefined : this.chunkedDecoder.trailer(lname);
  }

  feed(chunk: Buffer): BodyStatus {
    const views = this.views;
    views.length = 0;
    this.extra = 0;
    this.extraOffset = chunk.length;
    if (this.failed) return 'invalid';
    const n = chunk.length;
    if (this.finished) return this.extraFrom(chunk, 0);
    if (n === 0) return 'again';

    switch (this.framing) {
      case 'length': {
        const want = this.remaining;
        if (n < want) {
          views.push(chunk);
          this.remaining = want - n;
          this.received += n;
          return 'again';
        }
        views.push(n === want ? chunk : chunk.subarray(0, want));
        this.remaining = 0;
        this.received += want;
        this.finished = true;
        return this.extraFrom(chunk, want);
      }
      case 'chunked': {
        const d = this.chunkedDecoder!;
        const before = d.bodyBytes;
        const rc = d.execute(chunk, 0, views);
        this.received += d.bodyBytes - before;
        if (rc === 'again') return 'again';
        if (rc === 'invalid') {
          this.failed = true;
          this.reason = d.reason;
          return 'invalid';
        }
        this.finished = true;
        return this.extraFrom(chunk, d.pos);
      }
      default: // 'close', 'upgrade'
        views.push(chunk);
        this.received += n;
        return 'again';
    }
  }

  /** The upstream closed its side (or the socket ended). */
  eof(): 'done' | 'truncated' | 'invalid' {
    if (this.failed) return 'invalid';
    if (this.finished) return 'done';
    if (this.framing === 'close' || this.framing === 'upgrade') {
      this.finished = true;
      return 'done';
    }
    return 'truncated';
  }

  private extraFrom(chunk: Buffer, at: number): 'done' {
    const extra = chunk.length - at;
    if (extra > 0) {
      this.extra = extra;
      this.extraOffset = at;
      if (!this.sawExtra) {
        this.sawExtra = true;
        this.extraReason = this.framing === 'chunked' ? ExtraReason.chunked : ExtraReason.length;
      }
    }
    return 'done';
  }
}
