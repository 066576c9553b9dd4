/**
 * One client connection speaking HTTP/1 (ngx_http_wait_request_handler,
 * ngx_http_read_request_header, ngx_http_read_client_request_body's framing,
 * ngx_http_set_keepalive).
 *
 * Requests are taken one at a time, as nginx does: bytes a client pipelines
 * behind a request wait (and the socket stops being read) until that
 * request's response is finished and its body read or discarded. The head is
 * parsed by RequestHeadParser, the body framed by Content-Length or the
 * strict chunked decoder; what a head means (validation, routing) is the
 * handler's business.
 */
import type { Socket } from 'node:net';
import { ChunkedDecoder } from '../../codec/chunked.js';
import { HEAD_AGAIN, HEAD_ERROR, RequestHeadParser, type RequestHeadLimits } from './request-head.js';
import { IncomingRequest, type BodySource } from './incoming.js';
import { ServerReply, type ReplyOwner } from './reply.js';
import { statAccepted, statClosed, statMove, STAT_READING, STAT_WAITING, STAT_WRITING, type ConnStat } from '../connection-stats.js';

export interface H1Handler {
  /** A head was parsed: validate it, call setBodyFraming when valid, and answer. */
  onRequest(conn: H1Connection, req: IncomingRequest, res: ServerReply): void;
  /** The bytes are not a request head (the parser says why); the connection closes after the answer. */
  onHeadError(conn: H1Connection, parser: RequestHeadParser): void;
  /** No complete head within client_header_timeout; `started`: some of it had come. */
  onHeadTimeout(conn: H1Connection, started: boolean): void;
  /** The request body's framing is broken (chunked syntax, sizes). */
  onBodyError(conn: H1Connection, res: ServerReply, reason: string): void;
}

export interface H1Options extends RequestHeadLimits {
  /** client_header_timeout, ms. */
  headerTimeout: number;
  /** lingering_timeout and lingering_time, ms: how long a closing connection's late bytes are read and dropped. */
  lingeringTimeout: number;
  lingeringTime: number;
}

const enum State {
  /** Waiting for (the rest of) a head; no request in progress. */
  Head,
  /** A request is in progress and its body is still arriving. */
  Body,
  /** A request is in progress; its body is complete (or it had none). */
  Responding,
  /** Closed, or handed over (upgrade tunnel). */
  Gone,
}

const EMPTY = Buffer.alloc(0);

export class H1Connection implements BodySource, ReplyOwner {
  private readonly parser: RequestHeadParser;
  private state = State.Head;
  private req: IncomingRequest | null = null;
  private res: ServerReply | null = null;
  /** Bytes received but not yet processed (pipelined behind the current request). */
  private held: Buffer | null = null;
  /** The next head began in bytes that came before the last exchange ended ($pipe: nginx's r->pipeline). */
  private nextPipelined = false;
  /** While a head's handler runs: the slice it came in and where its body starts (readBuffered). */
  private current: Buffer | null = null;
  private currentPos = 0;
  private remaining = 0;
  private decoder: ChunkedDecoder | null = null;
  private readonly views: Buffer[] = [];
  /** Socket reading stopped: the body reader is full, or a request is in progress. */
  private socketPaused = false;
  private bodyPaused = false;
  /** close() was called: the deadline of the lingering close (ms timestamp). */
  private lingerUntil = 0;
  /**
   * lingering_close of the request's location: `off` closes at once. `on` lingers as
   * `always` does (on every close, bounded by lingering_time): nginx lingers only when
   * more client bytes may come, and lingering when none come costs nothing but the wait.
   */
  lingeringClose: 'on' | 'off' | 'always' = 'on';
  /** The response is done and the rest of the body is being dropped, until this time (ms timestamp; 0: not dropping). */
  private discardUntil = 0;
  /** keepalive_timeout of the location that served the last request (ms). */
  private keepaliveTimeout = 0;
  private readonly onDataBound = (chunk: Buffer): void => this.onData(chunk);
  /** Where stub_status counts this connection (connection-stats.ts). */
  private stat: ConnStat;
  /** Still counted as active. */
  private counted = true;

  constructor(readonly socket: Socket, private readonly handler: H1Handler, private readonly options: H1Options) {
    this.stat = statAccepted();
    this.parser = new RequestHeadParser(options);
    socket.on('data', this.onDataBound);
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.onClose());
    socket.on('error', () => { /* 'close' follows */ });
    socket.on('timeout', () => this.onTimeout());
    socket.on('drain', () => this.res?.emit('drain'));
    socket.setTimeout(options.headerTimeout);
  }

  /** A request is being served (graceful stop leaves these to finish). */
  get busy(): boolean {
    return this.state === State.Body || this.state === State.Responding || this.parser.started;
  }

  /** keepalive_timeout for the idle time after the current exchange (the serving location's). */
  setKeepaliveTimeout(ms: number): void {
    this.keepaliveTimeout = ms;
  }

  /** The request body is framed by Content-Length (-1: none) or chunked; called by onRequest. */
  setBodyFraming(contentLength: number, chunked: boolean): void {
    const req = this.req;
    if (req === null || this.state !== State.Body) return;
    if (chunked) this.decoder = new ChunkedDecoder({ mode: 'downstream' });
    else if (contentLength > 0) this.remaining = contentLength;
    // No body: complete before any handler looks.
    else this.bodyDone(req);
  }

  /**
   * A request and its reply for a head that failed or timed out (after
   * onHeadError / onHeadTimeout), so that the answer is sent and logged as
   * a request: `$request` is the request line, or as much of it as came.
   * The connection closes once the reply is finished.
   */
  rejectedExchange(): { req: IncomingRequest; res: ServerReply } {
    const p = this.parser;
    const lineParsed = p.method !== '';
    const line = lineParsed ? p.sentLine : p.sentLine !== '' ? p.sentLine : p.lineSoFar();
    const req = new IncomingRequest(p.method, p.url, lineParsed ? p.versionMajor : 1, lineParsed ? p.versionMinor : 0,
      p.rawHeaders, 0, this.socket, line);
    const res = new ServerReply(req, this.socket, this, false);
    this.req = req;
    this.res = res;
    this.state = State.Gone;
    return { req, res };
  }

  /**
   * The connection becomes a tunnel (101): this object lets go of the socket
   * and returns the bytes the client sent after the request.
   */
  detach(): Buffer {
    this.state = State.Gone;
    this.socket.off('data', this.onDataBound);
    this.socket.setTimeout(0);
    const rest = this.held ?? EMPTY;
    this.held = null;
    if (this.socketPaused) { this.socketPaused = false; this.socket.resume(); }
    return rest;
  }

  private onData(chunk: Buffer): void {
    if (this.discardUntil > 0 && Date.now() > this.discardUntil) { this.socket.destroy(); return; }
    if (this.state !== State.Gone) { this.process(chunk, 0); return; }
    // Lingering close: late bytes are dropped, for lingering_time at most.
    if (this.lingerUntil > 0 && Date.now() > this.lingerUntil) this.socket.destroy();
  }

  private process(chunk: Buffer, pos: number): void {
    const len = chunk.length;
    while (pos < len) {
      switch (this.state) {
        case State.Head: {
          const started = this.parser.started;
          // A head after another request's bytes in the same read was pipelined.
          if (!started && pos > 0) this.nextPipelined = true;
          const rc = this.parser.execute(chunk, pos);
          // The first byte of a head on a kept-alive connection starts client_header_timeout.
          if (!started && this.parser.started) this.socket.setTimeout(this.options.headerTimeout);
          // nginx allocates the request at its first bytes: reading, one request more.
          if (!started && this.stat === STAT_WAITING) this.stat = statMove(this.stat, STAT_READING);
          if (rc === HEAD_AGAIN) return;
          if (rc === HEAD_ERROR) {
            this.state = State.Gone;
            this.socket.setTimeout(0);
            this.handler.onHeadError(this, this.parser);
            return;
          }
          this.current = chunk;
          this.currentPos = rc;
          this.startRequest();
          pos = this.currentPos;
          this.current = null;
          break;
        }
        case State.Body:
          pos = this.feedBody(chunk, pos);
          if (this.state === State.Body && this.bodyPaused && pos < len) { this.hold(chunk, pos); return; }
          break;
        case State.Responding:
          this.hold(chunk, pos);
          return;
        case State.Gone:
          return;
      }
    }
  }

  /** Keeps unprocessed bytes and stops reading the socket until they can be processed. */
  private hold(chunk: Buffer, pos: number): void {
    const rest = pos === 0 ? chunk : chunk.subarray(pos);
    this.held = this.held === null ? rest : Buffer.concat([this.held, rest]);
    this.pauseSocket();
  }

  private startRequest(): void {
    const p = this.parser;
    this.socket.setTimeout(0);
    this.stat = statMove(this.stat, STAT_WRITING);
    const req = new IncomingRequest(p.method, p.url, p.versionMajor, p.versionMinor, p.rawHeaders, p.headLength, this.socket, p.sentLine);
    req.pipelined = this.nextPipelined;
    this.nextPipelined = false;
    const res = new ServerReply(req, this.socket, this, keepAliveRequested(req));
    this.req = req;
    this.res = res;
    this.state = State.Body;
    this.remaining = 0;
    this.decoder = null;
    this.bodyPaused = false;
    req.attach(this);
    this.handler.onRequest(this, req, res);
    if (this.state === State.Body && this.req === req && this.remaining === 0 && this.decoder === null) this.bodyDone(req);
  }

  private feedBody(chunk: Buffer, pos: number): number {
    const req = this.req!;
    if (this.decoder === null) {
      const n = Math.min(this.remaining, chunk.length - pos);
      this.remaining -= n;
      this.deliver(req, pos === 0 && n === chunk.length ? chunk : chunk.subarray(pos, pos + n));
      if (this.remaining === 0 && this.req === req) this.bodyDone(req);
      return pos + n;
    }
    const views = this.views;
    const rc = this.decoder.execute(chunk, pos, views);
    for (let i = 0; i < views.length; i++) this.deliver(req, views[i]);
    views.length = 0;
    if (this.req !== req) return chunk.length;
    if (rc === 'again') return chunk.length;
    if (rc === 'done') { const end = this.decoder.pos; this.bodyDone(req); return end; }
    this.bodyFailed(this.decoder.reason);
    return chunk.length;
  }

  private deliver(req: IncomingRequest, piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.discardUntil > 0 && req.listenerCount('data') === 0) return;
    if (!req.push(piece)) { this.bodyPaused = true; this.pauseSocket(); }
  }

  private bodyDone(req: IncomingRequest): void {
    this.decoder = null;
    this.state = State.Responding;
    req.pushEnd();
    if (this.res!.writableFinished) this.exchangeDone();
  }

  private bodyFailed(reason: string): void {
    this.state = State.Gone;
    // The answer (400, or the cut) ends the connection; readers learn of it from its 'close'.
    this.handler.onBodyError(this, this.res!, reason);
  }

  // BodySource

  readBuffered(): void {
    const chunk = this.current;
    if (chunk === null || this.state !== State.Body) return;
    this.currentPos = this.feedBody(chunk, this.currentPos);
  }

  resumeBody(): void {
    if (!this.bodyPaused) return;
    this.bodyPaused = false;
    this.resumeSocket();
  }

  pauseBody(): void {
    if (this.state !== State.Body) return;
    this.bodyPaused = true;
    this.pauseSocket();
  }

  // ReplyOwner

  replyFinished(res: ServerReply): void {
    if (res !== this.res) return;
    if (res.last || this.state === State.Gone) { this.close(); return; }
    if (this.state === State.Body) {
      // The response went out before the body was read: drop the rest of it,
      // bounded as nginx bounds a discarded body (lingering_timeout between
      // reads, lingering_time in all); then the connection is kept.
      this.discardUntil = Date.now() + this.options.lingeringTime;
      this.socket.setTimeout(this.options.lingeringTimeout);
      this.req!.resume();
      return;
    }
    this.exchangeDone();
  }

  /** Response finished and body complete: the next request may start. */
  private exchangeDone(): void {
    const req = this.req!;
    this.req = null;
    this.res = null;
    this.state = State.Head;
    this.discardUntil = 0;
    this.parser.reset();
    req.close();
    if (this.socket.destroyed) return;
    if (this.counted) this.stat = statMove(this.stat, STAT_WAITING);
    // Idle until the next request: keepalive_timeout (client_header_timeout once its first byte comes).
    this.socket.setTimeout(this.keepaliveTimeout);
    const held = this.held;
    this.held = null;
    this.nextPipelined = held !== null && held.length > 0;
    if (held !== null) this.process(held, 0);
    if (this.state === State.Head || (this.state === State.Body && !this.bodyPaused)) this.resumeSocket();
  }

  /**
   * Ends the connection after what was written (nginx's close after a
   * response), lingering: bytes the client still sends (a body nobody read)
   * are read and dropped until it closes too, so that its unread bytes do not
   * turn our FIN into a reset that could destroy the response in flight.
   */
  close(): void {
    // Out of the counters when the close starts: nginx lingers only when more bytes may come, weir always.
    this.uncount();
    if (this.socket.destroyed || this.lingerUntil > 0) return;
    this.state = State.Gone;
    if (this.lingeringClose === 'off') {
      this.socket.destroySoon();
      return;
    }
    this.lingerUntil = Date.now() + this.options.lingeringTime;
    this.socket.setTimeout(this.options.lingeringTimeout);
    this.resumeSocket();
    this.socket.end();
  }

  private pauseSocket(): void {
    if (this.socketPaused) return;
    this.socketPaused = true;
    this.socket.pause();
  }

  private resumeSocket(): void {
    if (!this.socketPaused) return;
    this.socketPaused = false;
    this.socket.resume();
  }

  private onEnd(): void {
    // The client half-closed: a request in progress is abandoned, as node and
    // nginx (a read of 0 bytes is a closed connection) treat it.
    if (this.state === State.Gone) return;
    if (this.req !== null) {
      this.res!.aborted();
      this.req.close();
    }
    this.close();
  }

  private uncount(): void {
    if (!this.counted) return;
    this.counted = false;
    this.stat = statClosed(this.stat);
  }

  private onClose(): void {
    this.uncount();
    const req = this.req;
    const res = this.res;
    this.state = State.Gone;
    if (res !== null && !res.writableFinished) res.aborted();
    if (req !== null) req.close();
    this.req = null;
    this.res = null;
  }

  private onTimeout(): void {
    if (this.lingerUntil > 0 || this.discardUntil > 0) { this.socket.destroy(); return; }
    if (this.state !== State.Head) return;
    this.state = State.Gone;
    this.socket.setTimeout(0);
    this.handler.onHeadTimeout(this, this.parser.started);
  }
}

/** llhttp's http_should_keep_alive: 1.1 unless `close`, 1.0 only with `keep-alive`. */
function keepAliveRequested(req: IncomingRequest): boolean {
  const raw = req.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === 'connection') value = value === undefined ? raw[i + 1] : `${value}, ${raw[i + 1]}`;
  }
  if (req.httpVersionMajor !== 1) return false;
  if (req.httpVersionMinor >= 1) return value === undefined || !/(?:^|,)\s*close\s*(?:,|$)/i.test(value);
  return value !== undefined && /(?:^|,)\s*keep-alive\s*(?:,|$)/i.test(value);
}
