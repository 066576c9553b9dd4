/**
 * The response side of one HTTP/1 exchange, written straight to the socket.
 *
 * The surface is the part of node:http's ServerResponse weir uses (writeHead
 * with a flat header list, write/end, 'drain', 'finish', 'close', and enough
 * of a Writable for Readable#pipe), without OutgoingMessage's header maps,
 * per-write validation or stream machinery: the head is one string, sent
 * with the first body bytes in one corked write.
 *
 * Framing is decided when the head is written: a Content-Length is used as
 * given; without one a body is chunked for an HTTP/1.1 client (unless
 * chunked encoding is off) and otherwise delimited by closing the connection.
 */
import type { Socket } from 'node:net';
import type { IncomingRequest } from './incoming.js';
import { BodyFilterChain } from '../body-filters.js';
import type { BodyWriter, ConnectionReply } from '../client-reply.js';
import { headerIndex } from '../header-list.js';
import { ReplyLifecycle } from '../reply-lifecycle.js';
import { RatePacer } from './rate-pacer.js';
import { httpDate } from '../../time-format.js';

/** What the connection does when a reply is over (see H1Connection). */
export interface ReplyOwner {
  replyFinished(reply: ServerReply): void;
}

const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';
const CRLF_BYTES = Buffer.from(CRLF, 'latin1');

export class ServerReply extends ReplyLifecycle implements ConnectionReply {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  /** The client's framing allows keeping the connection (HTTP/1.1, or 1.0 with keep-alive). */
  shouldKeepAlive: boolean;
  /** An unknown length is chunked (HTTP/1.1); false: the connection's end delimits the body. */
  useChunkedEncodingByDefault: boolean;
  /** Bytes of the head ($body_bytes_sent is what the socket took beyond it). */
  headerLength = 0;
  /** The connection closes after this reply (Connection: close sent, or close-delimited body). */
  last = false;
  /** Called as a chunked body ends, for its trailer fields (flat, as headers). */
  trailers: (() => readonly string[]) | null = null;
  /** The handler's body goes through these, then the subrequests' ordering, then the encoders. */
  readonly bodyFilters = new BodyFilterChain();
  /** Filters of the client's whole body (gzip): after subrequest output is in place. */
  readonly encoders = new BodyFilterChain();
  private readonly wire: BodyWriter = { write: (chunk) => this.writeOut(chunk), end: () => this.endOut() };

  private head: string | null = null;
  private chunkedBody = false;
  /** end() came while the pacer held bytes: the reply ends once they went. */
  private endHeld = false;
  private hasBody: boolean;
  private corked = false;
  /** The body's end went out (or waits for the pacer). */
  private ending = false;

  constructor(readonly req: IncomingRequest, readonly socket: Socket, private readonly owner: ReplyOwner, keepAlive: boolean) {
    super();
    this.shouldKeepAlive = keepAlive;
    this.useChunkedEncodingByDefault = req.httpVersionMajor === 1 && req.httpVersionMinor >= 1;
    this.hasBody = req.method !== 'HEAD';
  }

  /** The body goes in chunks ($sent_http_transfer_encoding). */
  get chunked(): boolean {
    return this.chunkedBody;
  }

  /** Writable's flag (Readable#pipe reads it). */
  get writable(): boolean {
    return !this.writableEnded && !this.destroyed;
  }

  /** Input an encoder holds and has not passed on yet (gzip's zlib): counted as the reply's own. */
  encoderHeld: (() => number) | null = null;

  get writableLength(): number {
    const held = this.encoderHeld;
    return held === null ? this.socket.writableLength : this.socket.writableLength + held();
  }

  /**
   * Prepares the head (sent with the first body bytes, or by end/flushHeaders).
   * `statusLine` follows "HTTP/1.1 " (special-response.ts's statusLine, or an upstream's).
   * `headers` is flat: [name, value, ...]; Server first if present, Date follows it.
   */
  writeHead(status: number, statusLine: string, headers: readonly string[]): this {
    if (this.headersSent) throw new Error('the response head was already sent');
    this.statusCode = status;
    this.headersSent = true;
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) this.hasBody = false;
    if (this.req.httpVersionMajor === 0) {
      // HTTP/0.9: the body alone, delimited by the close (nginx's header filter sends nothing)
      this.head = '';
      this.last = true;
      return this;
    }
    let head = `HTTP/1.1 ${statusLine}\r\n`;
    let dated = headerIndex(headers, 'date') !== -1;
    let length = false;
    let te = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      const value = headers[i + 1];
      if (!dated && i > 0) { head += `Date: ${httpDate()}\r\n`; dated = true; }
      head += name + ': ' + value + CRLF;
      switch (name.length) {
        case 10:
          if (name.toLowerCase() === 'connection' && value.toLowerCase() === 'close') this.last = true;
          break;
        case 14:
          if (name.toLowerCase() === 'content-length') length = true;
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') { te = true; this.chunkedBody = this.hasBody && /\bchunked\b/i.test(value); }
          break;
      }
    }
    if (!dated) head += `Date: ${httpDate()}\r\n`;
    if (!length && !te && this.hasBody) {
      if (this.useChunkedEncodingByDefault) { head += 'Transfer-Encoding: chunked\r\n'; this.chunkedBody = true; } else this.last = true;
    }
    this.head = head + CRLF;
    this.headerLength = this.head.length;
    return this;
  }

  /** Paces the body to `rate` bytes/s after its first `after` bytes (limit_rate, see RatePacer). */
  limitRate(rate: number, after: number, startMs: number): void {
    this.pacer = new RatePacer(rate, after, startMs, () => this.releaseHeld());
  }

  /** Sends the head now (a response cut short still shows its status). */
  flushHeaders(): void {
    if (this.head === null || this.destroyed) return;
    this.cork();
    this.sendHead();
  }

  write(chunk: Buffer | string): boolean {
    if (this.writableEnded || this.destroyed) return false;
    const filter = this.bodyFilters.head ?? this.encoders.head;
    if (filter !== null) return filter.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return this.writeOut(chunk);
  }

  /** The writer below the request's own filters: the encoders, then the wire. */
  unfiltered(): BodyWriter {
    return this.encoders.build(this.wire);
  }

  private writeOut(chunk: Buffer | string): boolean {
    if (this.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode, `${this.statusCode} `, []);
    const socket = this.socket;
    this.cork();
    this.sendHead();
    if (!this.hasBody) return true;
    const size = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (size === 0) return socket.writableLength < socket.writableHighWaterMark;
    if (this.pacer === null) return this.writeFramed(chunk, size);
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const more = this.sendPaced(this.chunkedBody ? Buffer.concat([Buffer.from(size.toString(16) + CRLF, 'latin1'), bytes, CRLF_BYTES]) : bytes);
    return more && !this.pacer.holding;
  }

  /** The head, once: through the pacer when there is one (nginx counts it in limit_rate). */
  private sendHead(): void {
    const head = this.head;
    if (head === null) return;
    this.head = null;
    if (this.pacer === null) this.socket.write(head, 'latin1');
    else this.sendPaced(Buffer.from(head, 'latin1'));
  }

  private writeFramed(chunk: Buffer | string, size: number): boolean {
    const socket = this.socket;
    if (!this.chunkedBody) return socket.write(chunk);
    socket.write(size.toString(16) + CRLF, 'latin1');
    socket.write(chunk);
    return socket.write(CRLF, 'latin1');
  }

  /** Bytes as they go on the wire (framed), through the pacer: what it allows now goes. */
  private sendPaced(bytes: Buffer): boolean {
    const now = this.pacer!.admit(bytes);
    return now === null || this.socket.write(now);
  }

  /** The pacer lets held bytes go: send them, then end or ask for more. */
  private releaseHeld(): void {
    if (this.destroyed || this.pacer === null) return;
    this.cork();
    const parts = this.pacer.take();
    for (let i = 0; i < parts.length; i++) this.socket.write(parts[i]);
    if (this.pacer.holding) return;
    if (this.endHeld) this.finishEnd();
    // Else the sender waits for 'drain'; the socket's own backpressure, if any, ends with its 'drain'.
    else if (!this.socket.writableNeedDrain) this.emit('drain');
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

  private endOut(): void {
    if (this.destroyed || this.ending) return;
    this.ending = true;
    if (!this.headersSent) this.writeHead(this.statusCode, `${this.statusCode} `, []);
    this.writableEnded = true;
    this.cork();
    this.sendHead();
    if (this.pacer !== null && this.pacer.holding) { this.endHeld = true; return; }
    this.finishEnd();
  }

  private finishEnd(): void {
    // The callback runs once the kernel took every byte: nginx's "request finalized".
    const tail = !this.chunkedBody ? '' : this.trailers === null ? LAST_CHUNK : lastChunk(this.trailers());
    this.socket.write(tail, 'latin1', (err) => { if (!err) this.finished(); });
  }

  /** 100 Continue, before any response (Expect: 100-continue). */
  writeContinue(): void {
    if (!this.headersSent && !this.destroyed && this.req.httpVersionMajor === 1) this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
  }

  /** 103 Early Hints with the upstream's Link fields. */
  writeEarlyHints(hints: { link: string[] }): void {
    if (this.headersSent || this.destroyed) return;
    let head = 'HTTP/1.1 103 Early Hints\r\n';
    for (const l of hints.link) head += `Link: ${l}\r\n`;
    this.socket.write(head + CRLF, 'latin1');
  }

  cut(): void {
    if (this.writableEnded || this.destroyed) return;
    if (this.socket.destroyed) { this.destroy(); return; }
    this.flushHeaders();
    this.last = true;
    this.uncorkNow();
    this.socket.destroySoon();
  }

  /** Cuts the response: the connection is closed at once. */
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.pacer?.stop();
    this.socket.destroy();
    return this;
  }

  protected exchangeOver(): void {
    this.owner.replyFinished(this);
  }

  /** Writes of one tick leave in one syscall (writev). */
  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(uncork, this);
  }

  /** @internal */
  uncorkNow(): void {
    this.corked = false;
    this.socket.uncork();
  }
}

/** The last chunk, with trailer fields. */
function lastChunk(fields: readonly string[]): string {
  let out = '0\r\n';
  for (let i = 0; i < fields.length; i += 2) out += fields[i] + ': ' + fields[i + 1] + CRLF;
  return out + CRLF;
}

function uncork(reply: ServerReply): void {
  reply.uncorkNow();
}
