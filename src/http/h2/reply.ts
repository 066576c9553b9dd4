/**
 * The response side of one HTTP/2 stream (ngx_http_v2_header_filter,
 * ngx_http_v2_send_chain): the ClientReply a request writes through when it
 * came on a stream, as ServerReply (h1/reply.ts) is for HTTP/1.
 *
 * The head becomes a HEADERS frame: names lower case, the fields that only
 * mean something to an HTTP/1 connection (Connection, Keep-Alive,
 * Transfer-Encoding, Upgrade, Proxy-Connection) dropped, as nginx's filter
 * drops them. It is sent with the first body bytes or the end, so that an
 * empty body is one HEADERS frame with END_STREAM. Trailer fields go as a
 * last HEADERS frame. Backpressure is the stream's (flow control included):
 * a write returns false while the stream holds a high-water mark's worth.
 *
 * As ServerReply, it is a ConnectionReply (the encoder chain, `unfiltered()`)
 * so gzip and the subrequest output work the same on both.
 */
import type { Socket } from 'node:net';
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { BodyFilterChain } from '../body-filters.js';
import type { BodyWriter, ConnectionReply } from '../client-reply.js';
import { RatePacer } from '../h1/rate-pacer.js';
import { ReplyLifecycle } from '../reply-lifecycle.js';
import { httpDate } from '../../time-format.js';

/** Fields nginx's HTTP/2 header filter never sends (connection-specific, RFC 9113 8.2.2). */
const DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** What the stream's owner learns (session.ts). */
export interface H2ReplyOwner {
  /** The response is complete (END_STREAM handed to the session). */
  replyFinished(reply: H2Reply): void;
}

export class H2Reply extends ReplyLifecycle implements ConnectionReply {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  /** Streams do not keep or close the connection: whatever the framing, the session goes on. */
  readonly shouldKeepAlive = true;
  useChunkedEncodingByDefault = false;
  headerLength = 0;
  readonly chunked = false;
  trailers: (() => readonly string[]) | null = null;
  readonly bodyFilters = new BodyFilterChain();
  readonly encoders = new BodyFilterChain();
  encoderHeld: (() => number) | null = null;
  /** Bytes of body handed to the stream ($body_bytes_sent; the stream socket's bytesWritten adds the head). */
  bodyBytes = 0;
  private readonly wire: BodyWriter = { write: (chunk) => this.writeOut(chunk), end: () => this.endOut() };
  private head: OutgoingHttpHeaders | null = null;
  private hasBody: boolean;
  private ending = false;
  private endHeld = false;

  constructor(
    readonly stream: ServerHttp2Stream,
    /** The stream's stand-in socket (stream-socket.ts). */
    readonly socket: Socket,
    method: string,
    private readonly owner: H2ReplyOwner,
  ) {
    super();
    this.hasBody = method !== 'HEAD';
    stream.on('drain', () => this.emit('drain'));
    stream.once('close', () => this.aborted());
  }

  get writable(): boolean {
    return !this.writableEnded && !this.destroyed;
  }

  get writableLength(): number {
    const n = this.stream.writableLength;
    return this.encoderHeld === null ? n : n + this.encoderHeld();
  }

  writeHead(status: number, _statusLine: string, headers: readonly string[]): this {
    if (this.headersSent) throw new Error('the response head was already sent');
    this.statusCode = status;
    this.headersSent = true;
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) this.hasBody = false;
    const out: OutgoingHttpHeaders = { ':status': status };
    let size = 9; // ":status" + the value, as a rough HPACK-free measure
    let dated = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i].toLowerCase();
      if (DROPPED.has(name)) continue;
      const value = headers[i + 1];
      size += name.length + value.length + 2;
      if (name === 'date') dated = true;
      const prev = out[name];
      if (prev === undefined) out[name] = value;
      else if (Array.isArray(prev)) prev.push(value);
      else out[name] = [String(prev), value];
      // Date follows Server, as nginx puts it.
      if (!dated && name === 'server') { out.date = httpDate(); dated = true; }
    }
    if (!dated) out.date = httpDate();
    this.head = out;
    this.headerLength = size;
    return this;
  }

  limitRate(rate: number, after: number, startMs: number): void {
    this.pacer = new RatePacer(rate, after, startMs, () => this.releaseHeld());
  }

  flushHeaders(): void {
    if (this.head === null || this.destroyed) return;
    this.sendHead(false);
  }

  write(chunk: Buffer | string): boolean {
    if (this.writableEnded || this.destroyed) return false;
    const filter = this.bodyFilters.head ?? this.encoders.head;
    if (filter !== null) return filter.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return this.writeOut(chunk);
  }

  unfiltered(): BodyWriter {
    return this.encoders.build(this.wire);
  }

  end(chunk?: Buffer | string): this {
    if (this.writableEnded || this.destroyed) return this;
    if (chunk !== undefined && chunk.length > 0) this.write(chunk);
    this.writableEnded = true;
    const filter = this.bodyFilters.head ?? this.encoders.head;
    if (filter !== null) filter.end();
    else this.endOut();
    return this;
  }

  private sendHead(endStream: boolean): void {
    const head = this.head;
    if (head === null) return;
    this.head = null;
    const stream = this.stream;
    if (stream.destroyed || stream.headersSent) return;
    try {
      stream.respond(head, { endStream, waitForTrailers: !endStream && this.trailers !== null, sendDate: false } as { endStream: boolean; waitForTrailers: boolean });
    } catch {
      // a field node refuses to send (an invalid name from an upstream): the stream is cut
      this.destroy();
    }
  }

  private writeOut(chunk: Buffer | string): boolean {
    if (this.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode, '', []);
    this.sendHead(false);
    if (!this.hasBody || this.destroyed) return true;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (bytes.length === 0) return this.stream.writableLength < this.stream.writableHighWaterMark;
    if (this.pacer === null) return this.send(bytes);
    const now = this.pacer.admit(bytes);
    const more = now === null || this.send(now);
    return more && !this.pacer.holding;
  }

  private send(bytes: Buffer): boolean {
    this.bodyBytes += bytes.length;
    return this.stream.write(bytes);
  }

  private releaseHeld(): void {
    if (this.destroyed || this.pacer === null) return;
    const parts = this.pacer.take();
    for (let i = 0; i < parts.length; i++) this.send(parts[i]);
    if (this.pacer.holding) return;
    if (this.endHeld) this.finishEnd();
    else if (!this.stream.writableNeedDrain) this.emit('drain');
  }

  private endOut(): void {
    if (this.destroyed || this.ending) return;
    this.ending = true;
    if (!this.headersSent) this.writeHead(this.statusCode, '', []);
    this.writableEnded = true;
    if (this.pacer !== null && this.pacer.holding) { this.endHeld = true; return; }
    this.finishEnd();
  }

  private finishEnd(): void {
    const stream = this.stream;
    if (this.head !== null && (!this.hasBody || this.bodyBytes === 0) && this.trailers === null) {
      // Nothing but the head: one HEADERS frame with END_STREAM (nginx's header_only).
      this.sendHead(true);
      this.finished();
      return;
    }
    this.sendHead(false);
    if (stream.destroyed) return;
    const trailers = this.trailers;
    if (trailers !== null) {
      stream.once('wantTrailers', () => {
        const fields = trailers();
        const out: OutgoingHttpHeaders = {};
        for (let i = 0; i < fields.length; i += 2) out[fields[i].toLowerCase()] = fields[i + 1];
        try { stream.sendTrailers(out); } catch { stream.close(constants.NGHTTP2_INTERNAL_ERROR); }
      });
    }
    stream.end(() => this.finished());
  }

  writeContinue(): void {
    if (this.headersSent || this.destroyed || this.stream.destroyed) return;
    try { this.stream.additionalHeaders({ ':status': 100 }); } catch { /* the stream went away */ }
  }

  writeEarlyHints(hints: { link: string[] }): void {
    if (this.headersSent || this.destroyed || this.stream.destroyed) return;
    try { this.stream.additionalHeaders({ ':status': 103, link: hints.link }); } catch { /* the stream went away */ }
  }

  /** An unfinished response on HTTP/2: the head still goes, then the stream is reset; the connection goes on. */
  cut(): void {
    if (this.writableEnded || this.destroyed) return;
    this.flushHeaders();
    this.destroy();
  }

  /** Cuts the response: RST_STREAM (INTERNAL_ERROR), the connection goes on. */
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.pacer?.stop();
    if (!this.stream.destroyed) this.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    if (!this.writableFinished) this.emitClose();
    return this;
  }

  protected exchangeOver(): void {
    this.owner.replyFinished(this);
  }
}
