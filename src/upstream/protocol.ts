/**
 * A protocol module's side of the upstream core (nginx's u->create_request
 * ... u->finalize_request): HTTP proxy, memcached, FastCGI, or a user's own.
 * It builds the request bytes and parses the response; the core owns the
 * socket, the timers and every decision about peers and retries.
 */
import type { Upstream } from './upstream.js';

/**
 * What processHeader and the input filter report. 'refused': a head the client
 * must not get (RELIABILITY U7, a 101 nobody asked for; u.invalidReason): the
 * client gets a 502 without a body and its connection closes, no next upstream.
 */
export type HeaderResult = 'again' | 'ok' | 'invalid' | 'refused';

/**
 * A protocol module: nginx's u->create_request ... u->finalize_request. One
 * instance per request; it owns its parser state.
 */
export interface UpstreamProtocol {
  /** The scheme in log lines' `upstream: "..."` (`http`, `memcached`, `fastcgi`). */
  readonly name: string;
  /**
   * The URI the request names upstream, as log lines show it after the peer
   * (nginx's u->uri): the HTTP proxy's request target, with its query.
   * Memcached and FastCGI have none.
   */
  readonly uri?: string;
  /** Builds the request head bytes (the core sends the body after them). Called once per request. */
  createRequest(u: Upstream): Buffer[];
  /** Before each retry: reset parser state (the request bytes are reused). */
  reinitRequest(u: Upstream): void;
  /**
   * Fed response bytes until it returns 'ok' (head complete: it set u.status,
   * u.headersOut, u.contentLength and u.headerConsumed) or 'invalid' (u.invalidReason).
   */
  processHeader(u: Upstream, data: Buffer): HeaderResult;
  /** Once the head is accepted: prepare the body filter. */
  inputFilterInit(u: Upstream): void;
  /**
   * Body bytes: call u.sendToClient(view) for each piece of body, u.bodyComplete()
   * at the end of a well-framed body, u.bodyInvalid(reason) on bad framing.
   */
  inputFilter(u: Upstream, data: Buffer): void;
  /** The upstream closed the connection after the head: complete (close-delimited) or truncated. */
  inputEof(u: Upstream): 'complete' | 'truncated';
  /**
   * Optional body framing: the protocol's records for one piece of request body
   * (FastCGI STDIN). Absent: the bytes go as they are (chunk-framed when the
   * HTTP length is unknown).
   */
  frameBody?(chunk: Buffer): Buffer[];
  /** Optional: what ends the body (the empty STDIN record); called once per try, body or not. */
  bodyEnd?(): Buffer | null;
  /** The client went away, or the request is being cut. */
  abortRequest(u: Upstream): void;
  /** Last call of every request, whatever the outcome. */
  finalizeRequest(u: Upstream, rc: number): void;
}
