/**
 * The request side of one HTTP/1 exchange: the parsed head and its body as
 * events, in the shape of node:http's IncomingMessage that weir uses
 * ('data', 'end', 'close', pause/resume, `complete`), without a Readable.
 *
 * Body bytes come from the connection (H1Connection), already de-chunked.
 * They are handed on only while someone reads: as a Readable, adding a
 * 'data' listener starts the flow unless pause() was called; until then the
 * connection holds them and stops reading the socket (backpressure).
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

/** What the connection offers the request for flow control. */
export interface BodySource {
  /** The reader wants bytes (again). */
  resumeBody(): void;
  /** The reader is full: stop reading the socket. */
  pauseBody(): void;
  /**
   * Frame now the body bytes that came with the head (they are otherwise
   * framed once the head's handler returns), so that a discard sees a bad
   * chunk before the response goes out, as nginx reads its header buffer.
   */
  readBuffered(): void;
}

/** Fields of which only the first line counts (node's rules). */
const FIRST_WINS = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host',
  'if-modified-since', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards',
  'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent',
]);

export type IncomingHeaders = Record<string, string | undefined> & { 'set-cookie'?: string[] | string };

export class IncomingRequest extends EventEmitter {
  readonly httpVersion: string;
  /** The body was read to its end (always true for a request without one). */
  complete = false;
  /** The head came in bytes read while the previous request was served ($pipe). */
  pipelined = false;
  /** Reading was paused by the consumer (pause()), as Readable's explicit pause. */
  private explicitlyPaused = false;
  private flowing = false;
  private held: Buffer[] | null = null;
  private ended = false;
  private endEmitted = false;
  private flushScheduled = false;
  private parsedHeaders: IncomingHeaders | null = null;
  private source: BodySource | null = null;
  private closed = false;
  /** The method of the request line (`method` may be changed by an internal redirect). */
  private readonly sentMethod: string;

  constructor(
    public method: string,
    readonly url: string,
    readonly httpVersionMajor: number,
    readonly httpVersionMinor: number,
    readonly rawHeaders: string[],
    /** Bytes of the head as received ($request_length without the body). */
    readonly headLength: number,
    readonly socket: Socket,
    /** The request line as sent when it is not `method url HTTP/version` (RequestHeadParser.sentLine). */
    private readonly sentRequestLine = '',
  ) {
    super();
    this.httpVersion = `${httpVersionMajor}.${httpVersionMinor}`;
    this.sentMethod = method;
  }

  /** $request: the request line as the client sent it (absolute-form, spaces and all). */
  get requestLine(): string {
    // a head rejected within its request line has only the bytes that came
    if (this.sentRequestLine !== '' || this.sentMethod === '') return this.sentRequestLine;
    return `${this.sentMethod} ${this.url} HTTP/${this.httpVersion}`;
  }

  /** Lower-case names; repeated fields joined as node:http joins them. Built on first use. */
  get headers(): IncomingHeaders {
    if (this.parsedHeaders !== null) return this.parsedHeaders;
    const out: IncomingHeaders = {};
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toLowerCase();
      const value = raw[i + 1];
      const prev = out[name];
      if (prev === undefined) { out[name] = name === 'set-cookie' ? [value] as unknown as string : value; continue; }
      if (name === 'set-cookie') (prev as unknown as string[]).push(value);
      else if (name === 'cookie') out[name] = prev + '; ' + value;
      else if (!FIRST_WINS.has(name)) out[name] = prev + ', ' + value;
    }
    this.parsedHeaders = out;
    return out;
  }

  // Readable-like flow control. The listener type is EventEmitter's own.

  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    super.on(event, listener);
    if (event === 'data' && !this.explicitlyPaused) this.startFlow();
    return this;
  }

  override addListener(event: string | symbol, listener: (...args: any[]) => void): this {
    return this.on(event, listener);
  }

  pause(): this {
    this.explicitlyPaused = true;
    this.flowing = false;
    this.source?.pauseBody();
    return this;
  }

  resume(): this {
    this.explicitlyPaused = false;
    this.startFlow();
    return this;
  }

  private startFlow(): void {
    if (this.flowing) return;
    this.flowing = true;
    this.source?.resumeBody();
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || (this.held === null && !(this.ended && !this.endEmitted))) return;
    this.flushScheduled = true;
    // Deferred like a Readable's: listeners added in the same tick see every event.
    process.nextTick(flush, this);
  }

  /** @internal Delivers held bytes and the end, while flowing. */
  flushHeld(): void {
    this.flushScheduled = false;
    this.takeHeld();
    if (this.flowing && this.held === null && this.ended && !this.endEmitted) {
      this.endEmitted = true;
      this.emit('end');
    }
  }

  /**
   * Hands on now, while flowing, the body bytes already received and held
   * (nginx's preread), so they leave with whatever the reader is writing in
   * this tick; the end still comes as usual, later.
   */
  takeHeld(): void {
    while (this.flowing && this.held !== null) {
      const chunk = this.held.shift()!;
      if (this.held.length === 0) this.held = null;
      this.emit('data', chunk);
    }
  }

  /** Takes at once the body bytes already received (BodySource.readBuffered). */
  readBuffered(): void {
    this.source?.readBuffered();
  }

  // Called by the connection.

  /** @internal The connection that feeds this request's body. */
  attach(source: BodySource | null): void {
    this.source = source;
  }

  /** @internal Body bytes; returns false when the reader is not taking them now. */
  push(chunk: Buffer): boolean {
    if (this.flowing && this.held === null && !this.flushScheduled) {
      this.emit('data', chunk);
      return this.flowing;
    }
    (this.held ??= []).push(chunk);
    this.scheduleFlush();
    return false;
  }

  /** @internal The body is complete. */
  pushEnd(): void {
    this.complete = true;
    this.ended = true;
    this.source = null;
    if (this.flowing) this.scheduleFlush();
  }

  /** @internal The exchange is over, or the connection closed first: 'close', once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.source = null;
    this.emit('close');
  }
}

function flush(req: IncomingRequest): void {
  req.flushHeld();
}
