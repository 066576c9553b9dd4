/**
 * The port: what the upstream core needs from the client side it serves,
 * and nothing more. The core never sees an HTTP request; an adapter
 * (src/http/upstream-client.ts) implements this over one, and an HTTP/2
 * stream or a test's fake can implement it as well.
 *
 * Request side: the method and URI (for the retry rules and log lines), the
 * body (read beforehand, or streamed while it is sent), variables for the
 * balancer and for values of the location's conf, the abort signal.
 * Response side: the head, the body writer with its backpressure, the
 * error answer, the internal redirect of X-Accel-Redirect, and the raw
 * socket once the protocol is switched (101).
 */
import type { Socket } from 'node:net';
import type { BalancerRequest, CompiledValue } from '../balancer/types.js';
import type { LocalAddress } from './local-address.js';
import type { UpstreamTryState } from './state.js';

export type UpstreamLogLevel = 'alert' | 'crit' | 'error' | 'warn' | 'info';

/** A request body already read: in memory, or in a temp file (then `buffers` is empty). */
export interface ClientBody {
  readonly buffers: readonly Buffer[];
  readonly file: string | null;
}

/** Where a streamed body goes (proxy_request_buffering off): see streamBody. */
export interface ClientBodySink {
  /** false: full; reading pauses until the stream's resume(). */
  write(chunk: Buffer): boolean;
  end(): void;
  /** Reading failed with this status (400, 408, 413); the core finalizes with it. */
  error(status: number): void;
}

export interface ClientBodyStream {
  resume(): void;
  abort(): void;
}

/** The client's response body, as the core writes it. */
export interface ClientBodyWriter {
  readonly writableLength: number;
  readonly writableEnded: boolean;
  readonly destroyed: boolean;
  /** false: the client is behind; wait for 'drain'. */
  write(chunk: Buffer): boolean;
  end(): void;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  /** Ends the response and the connection at once. */
  destroy(): unknown;
  /** Sends the head now (before a cut, so the status still shows). */
  flushHeaders(): void;
  /** Cuts the response where it is: what was written goes, then the connection closes. */
  cut(): void;
}

/** The balancer reads the client as its BalancerRequest (address, keys, the sticky cookie). */
export interface UpstreamClient extends BalancerRequest {
  readonly method: string;
  readonly remoteAddress: string;
  /** The client went away (the core answers 499 instead of trying on). */
  readonly aborted: boolean;
  /** Called when the client goes away while the core owns the request; null to stop. */
  onAbort: (() => void) | null;

  /** The body read before the core started, or null (none, or it is streamed). */
  readonly body: ClientBody | null;
  /** Streams the body as it arrives, once; afterwards `bodyStreamed` is true. */
  streamBody(sink: ClientBodySink): ClientBodyStream;
  /** Part of the body was streamed to an upstream: it cannot be sent again. */
  readonly bodyStreamed: boolean;
  /** `100 Continue`, if the client waits for it. */
  sendContinue(): void;

  /** A balancer's compiled value (hash key, sticky cookie) for this request. */
  evaluate(value: CompiledValue): string;
  /** A header the balancer sets (sticky cookie): a retry's choice replaces the earlier one. */
  addResponseHeader(name: string, value: string): void;
  /** The local address for `*_bind`, evaluated for this request. */
  localAddress(): LocalAddress | null;
  /** `*_limit_rate`, evaluated for this request (bytes/s, 0: none). */
  readRate(): number;
  /** The error log as such, without the request's context (a balancer's own lines). */
  readonly errorLog: { log(level: UpstreamLogLevel, message: string): void };
  /** A line in the client's error log; `upstream` names the peer as nginx's `upstream: "..."`. */
  log(level: UpstreamLogLevel, message: string, upstream?: string): void;
  /** The request's $upstream_* records: one list per use of an upstream. */
  addTryStates(states: UpstreamTryState[]): void;

  /** Fields to go with whatever response the client gets (a balancer's sticky cookie). */
  readonly headersOut: string[];
  /** send_timeout: how long the client may hold the upstream back. */
  readonly sendTimeout: number;
  /** An error_page would answer `status` (proxy_intercept_errors). */
  hasErrorPage(status: number): boolean;
  /** X-Accel-Limit-Rate: the client's rate for the rest of the request. */
  setLimitRate(rate: number): void;
  /** X-Accel-Charset: the charset the response is recoded to (the charset filter's override). */
  setCharset(charset: string): void;
  /**
   * Sends the response head (header filters run). `statusLine` follows
   * "HTTP/1.1 " when the upstream's is passed on; `absoluteLocation` false
   * leaves a relative Location as it is; `ranges`: the client's Range may
   * be answered with one range cut from the body as it streams (nginx's
   * allow_ranges + single_range). 0: sent; else the status to finalize
   * with: 499 the client is gone, or a filter's answer instead (416).
   */
  sendHeader(status: number, statusLine: string | null, headers: string[], contentLength: number, absoluteLocation: boolean, ranges: boolean): number;
  readonly reply: ClientBodyWriter;
  /** The client's connection will not be kept after this response. */
  closeAfter(): void;
  /** Answers with `status` (error_page, the special response), when no head went out. */
  finalize(status: number): void;
  /**
   * X-Accel-Redirect: the request goes on at `target` (a URI or `@name`),
   * with `kept` of the upstream's fields ([name, value, ...]) and its
   * Content-Type (or null). The core has let go of the request.
   */
  redirect(target: string, kept: readonly string[], contentType: string | null): void;
  /**
   * After a 101 head was sent: the client's socket, and what it sent after
   * its request head (the new protocol's first bytes). The client's close is
   * no longer an abort.
   */
  upgrade(): { socket: Socket; early: Buffer };
  /**
   * The tunnel is over: the request is finalized (logged) now, as nginx's is
   * at "upgraded done", not once the client's socket has finished closing
   * (a next connection's request would be logged first).
   */
  tunnelDone(): void;
}
