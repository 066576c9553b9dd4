/**
 * The client request body (ngx_http_request_body.c): read it whole
 * (ngx_http_read_client_request_body), stream it (the same with
 * r->request_body_no_buffering, for `proxy_request_buffering off`), or
 * discard it (ngx_http_discard_request_body).
 *
 * The connection (h1/connection.ts) owns the framing: it de-chunks and stops
 * at Content-Length, so the bytes after a body are always parsed as the next
 * request, whatever a handler does (R26). What is left here is nginx's policy:
 *
 *   - client_max_body_size: a Content-Length above it is 413 at once
 *     ("client intended to send too large body: N bytes"); a chunked body is
 *     counted while read ("... too large chunked body: N+ bytes");
 *   - client_body_timeout between two reads → 408, connection closed (R27).
 *     The timer does not run while *we* hold the client back (backpressure
 *     from the sink or from the temp file);
 *   - client_body_buffer_size: a body up to that size stays in memory; a larger
 *     one goes whole to a temp file under client_body_temp_path (default
 *     `client_body_temp` under -p, created when missing) — `r.body.buffers` is
 *     then empty. client_body_in_file_only puts every body in a file. The file
 *     is removed when the response closes, whatever happened, except that
 *     `client_body_in_file_only on` keeps the file of a body read whole;
 *   - `Expect: 100-continue` on HTTP/1.1 is answered with `100 Continue` when
 *     reading (or discarding) starts, never before and never to HTTP/1.0;
 *   - a client that goes away mid-body: "client prematurely closed connection"
 *     (info), status 400, the connection is not kept.
 *
 * Differences from nginx:
 *   - $request_length counts the head as re-assembled from node's rawHeaders
 *     plus the *decoded* body bytes (nginx counts raw bytes, chunk framing included);
 *   - discarding reads and drops the body while the response is produced and,
 *     if the body is still arriving when the response is done, keeps reading
 *     for up to lingering_time (lingering_timeout between reads) before
 *     closing, which is nginx's lingering discard; nginx does not apply
 *     client_max_body_size to a discarded body either;
 *   - client_body_in_single_buffer is accepted and ignored (buffers are a list).
 */
import { BufferedReader, StreamReader, requestHeadLength, sendContinue } from './body-reader.js';
import type { HttpRequest, RequestBody } from './request.js';

// ---------------------------------------------------------------------------
// Public API

/**
 * Where streamRequestBody delivers the body (unbuffered mode).
 * Each method is called from the request's event handlers, never re-entrantly.
 */
export interface BodySink {
  /**
   * A chunk of the (de-chunked) body, in order. Return false when the sink is
   * full: reading pauses until `BodyStream.resume()` is called, and
   * client_body_timeout does not run meanwhile.
   */
  write(chunk: Buffer): boolean;
  /** The whole body arrived (called once; after it, neither method is called again). */
  end(): void;
  /**
   * Reading failed: 400 (client gone or bad framing), 408 (client_body_timeout),
   * 413 (client_max_body_size). The connection will not be kept; the caller
   * finalizes the request with this status (unless its response already started).
   */
  error(status: number): void;
}

/** The control side of a streamed body. */
export interface BodyStream {
  /** The sink has room again (after write returned false). */
  resume(): void;
  /**
   * Stop reading (e.g. the upstream failed and the caller answers now). The
   * rest of the body is not read, so the connection is closed after the response.
   */
  abort(): void;
}

/** Does the request carry a body (Content-Length > 0 or chunked)? */
export function hasRequestBody(r: HttpRequest): boolean {
  return r.contentLength > 0 || r.chunked;
}

/**
 * Reads the whole body (buffered mode), then calls `done(0)` with `r.body`
 * set, or `done(status)` on failure (400/408/413/500) — the caller finalizes.
 * `done` is always called asynchronously and exactly once, unless the client
 * connection is gone, in which case it is called with 400.
 * A second call after the body was read calls done(0) again with the same
 * r.body; after the body was discarded or streamed it calls done(0) with an
 * empty body, as nginx does when the body was already handled.
 *
 * Usage (a content handler):
 *   readRequestBody(r, (status) => {
 *     if (status !== 0) { finalize(r, status); return; }
 *     // r.body.buffers (in memory) or r.body.file (a temp file), r.body.length
 *   });
 *   return PHASE_DONE;
 */
export function readRequestBody(r: HttpRequest, done: (status: number) => void): void {
  if (r.body || r.bodyHandled || !hasRequestBody(r)) {
    if (!r.body) {
      r.body = EMPTY_BODY;
      if (!r.bodyHandled) { r.bodyHandled = true; r.requestLength = requestHeadLength(r); sendContinue(r); }
    }
    queueMicrotask(() => done(0));
    return;
  }
  const tooLarge = checkContentLength(r);
  if (tooLarge) { r.bodyHandled = true; queueMicrotask(() => done(tooLarge)); return; }
  new BufferedReader(r, done).start();
}

/**
 * Streams the body to `sink` (unbuffered mode, proxy_request_buffering off)
 * with backpressure, under the same limits and timeout. A request without a
 * body gets `sink.end()` at once (asynchronously).
 *
 * Usage (a proxy writing to an upstream socket):
 *   const body = streamRequestBody(r, {
 *     write: (chunk) => upstream.write(chunk),
 *     end: () => upstream.end(),           // or write the last chunk
 *     error: (status) => { upstream.destroy(); finalize(r, status); },
 *   });
 *   upstream.on('drain', () => body.resume());
 *   // on upstream failure before the body is done: body.abort();
 */
export function streamRequestBody(r: HttpRequest, sink: BodySink): BodyStream {
  if (r.bodyHandled || !hasRequestBody(r)) {
    if (!r.bodyHandled) { r.bodyHandled = true; r.requestLength = requestHeadLength(r); sendContinue(r); }
    queueMicrotask(() => sink.end());
    return NOOP_STREAM;
  }
  const tooLarge = checkContentLength(r);
  if (tooLarge) {
    r.bodyHandled = true;
    queueMicrotask(() => sink.error(tooLarge));
    return NOOP_STREAM;
  }
  const reader = new StreamReader(r, sink);
  reader.start();
  return reader;
}

/**
 * Reads and drops the body of a request whose handler does not need it
 * (static files, return, redirects, errors), so the connection stays in sync
 * and can be kept alive. Safe to call more than once and for requests
 * without a body. Bounded: once the response is finished, the rest must
 * arrive within lingering_time (and lingering_timeout between reads), else
 * the connection is closed.
 */
export function discardRequestBody(r: HttpRequest): void {
  if (r.bodyHandled) return;
  r.bodyHandled = true;
  const head = requestHeadLength(r);
  r.requestLength = head;
  sendContinue(r);
  if (!hasRequestBody(r)) return;
  const req = r.req;
  if (req.complete) return;
  let received = 0;
  req.on('data', (chunk: Buffer) => { received += chunk.length; });
  req.once('end', () => { r.requestLength = head + received; });
  req.resume();
  // nginx discards what its buffer holds before answering: a bad chunk there is a 400
  req.readBuffered();
  r.res.once('finish', () => {
    if (req.complete) return;
    // nginx's lingering discard after the response: bounded in total and between reads.
    const lc = r.locConf;
    const socket = r.conn.socket;
    const deadline = Date.now() + lc.lingeringTime!;
    const timer = setTimeout(function check() {
      if (req.complete) return;
      socket.destroy();
    }, lc.lingeringTimeout!);
    timer.unref();
    const onData = (): void => {
      if (Date.now() >= deadline) { clearTimeout(timer); socket.destroy(); return; }
      timer.refresh();
    };
    req.on('data', onData);
    req.once('close', () => clearTimeout(timer));
  });
}


// ---------------------------------------------------------------------------
// Internals

const EMPTY_BODY: RequestBody = Object.freeze({ buffers: Object.freeze([]) as unknown as Buffer[], file: null, length: 0 });
const NOOP_STREAM: BodyStream = { resume() {}, abort() {} };

function checkContentLength(r: HttpRequest): number {
  const max = r.locConf.clientMaxBodySize!;
  if (max > 0 && r.contentLength > max) {
    r.log('error', `client intended to send too large body: ${r.contentLength} bytes`);
    r.keepalive = false;
    r.expectTested = true;
    return 413;
  }
  return 0;
}
