/**
 * What a request's handlers write its response through (r.res): the
 * connection's ServerReply (h1/reply.ts) for a main request, a
 * SubrequestReply (subrequest.ts) for a subrequest, whose head goes nowhere
 * and whose body takes its place in the parent's output.
 *
 * Events: 'drain' (a write returned false and may go on), 'finish' (the
 * response is complete), 'close' (after 'finish', or alone when the client
 * went away first).
 */
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

import type { BodyFilterChain } from './body-filters.js';

/**
 * Where body bytes go: a body filter (body-filters.ts), or the rest of the
 * chain a filter passes its output to.
 */
export interface BodyWriter {
  /** false: enough is held; wait for the reply's 'drain'. */
  write(chunk: Buffer): boolean;
  end(): void;
}

export interface ClientReply extends EventEmitter {
  statusCode: number;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  readonly writableFinished: boolean;
  readonly destroyed: boolean;
  /** The client's framing allows keeping the connection. */
  readonly shouldKeepAlive: boolean;
  useChunkedEncodingByDefault: boolean;
  /** Bytes of the head as sent. */
  readonly headerLength: number;
  /** The body goes in chunks. */
  readonly chunked: boolean;
  readonly writableLength: number;
  /** Called as a chunked body ends, for its trailer fields. */
  trailers: (() => readonly string[]) | null;
  /** The client connection's socket. */
  readonly socket: Socket;
  /** The filters header filters add for the body (body-filters.ts). */
  readonly bodyFilters: BodyFilterChain;
  /** `statusLine` follows "HTTP/1.1 "; `headers` flat: [name, value, ...]. */
  writeHead(status: number, statusLine: string, headers: readonly string[]): this;
  write(chunk: Buffer | string): boolean;
  end(chunk?: Buffer | string): this;
  /** Cuts the response (and the connection). */
  destroy(): this;
  /**
   * The response ends unfinished (an upstream cut mid-body): what was written
   * still goes, then the connection closes without completing the framing,
   * as nginx does. A header-only subrequest has no body to cut: it just ends.
   */
  cut(): void;
  flushHeaders(): void;
  /**
   * A background subrequest starts (release: it is over): the exchange, and
   * the request's log line, wait for it (reply-lifecycle.ts).
   */
  hold(): void;
  release(): void;
  limitRate(rate: number, after: number, startMs: number): void;
  writeContinue(): void;
  writeEarlyHints(hints: { link: string[] }): void;
}

/**
 * The reply of a client's request itself, not of a subrequest: HTTP/1's
 * ServerReply, HTTP/2's H2Reply. Both keep the encoders (gzip), which take
 * the whole body after the subrequests' output is in place.
 */
export interface ConnectionReply extends ClientReply {
  /** Filters of the client's whole body: after the postponed output. */
  readonly encoders: BodyFilterChain;
  /** Input an encoder holds and has not passed on yet: counted in writableLength. */
  encoderHeld: (() => number) | null;
  /** The writer below the body filters (what the postponed output writes to). */
  unfiltered(): BodyWriter;
}
