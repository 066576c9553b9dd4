/**
 * One HTTP/2 client connection (ngx_http_v2_init, ngx_http_v2_state_headers'
 * stream start, ngx_http_v2_finalize_connection's GOAWAY), on node:http2's
 * session layer (nghttp2: framing, HPACK, flow control; docs/design.md says
 * why).
 *
 * Each stream becomes an IncomingRequest (head from request-head.ts, body
 * fed from the stream's DATA) and an H2Reply, with a ConnectionState of its
 * own whose socket is the stream's stand-in (stream-socket.ts), and is
 * handed to the same request path as an HTTP/1 request (server.ts).
 *
 * Connection limits, as nginx applies them to HTTP/2:
 *   - keepalive_timeout: with no stream open, the session is closed
 *     (GOAWAY) after it; keepalive_requests and keepalive_time: the stream
 *     that reaches them is served, then GOAWAY lets the open ones finish;
 *   - http2_max_concurrent_streams is SETTINGS_MAX_CONCURRENT_STREAMS, which
 *     nghttp2 enforces (a stream beyond it is refused);
 *   - http2_body_preread_size is SETTINGS_INITIAL_WINDOW_SIZE: what a client
 *     may send of a body before anyone reads it; the connection window is
 *     opened to its maximum, as nginx does;
 *   - large_client_header_buffers bounds the decoded header list
 *     (SETTINGS_MAX_HEADER_LIST_SIZE, refused by nghttp2 past it), and
 *     max_headers the fields, both checked on what HPACK decoded.
 * Attacks: nghttp2 bounds CONTINUATION floods and HPACK growth itself; rapid
 * reset is counted here too (streams the client reset before their response
 * ended): past `resetBurst` in a second the session gets GOAWAY
 * ENHANCE_YOUR_CALM and is closed.
 */
import { constants, createServer, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { IncomingRequest } from '../h1/incoming.js';
import type { ClientConnection, ConnectionState } from '../request.js';
import { H2Reply, type H2ReplyOwner } from './reply.js';
import { h2RequestHead, type H2Head } from './request-head.js';
import { streamSocket } from './stream-socket.js';
import { H2_MAX_WINDOW } from './h2-module.js';
import { h2Transport } from './preface.js';

/** What one server's HTTP/2 connections are configured with (built once per server block). */
export interface H2Limits {
  readonly maxConcurrentStreams: number;
  readonly bodyPrereadSize: number;
  /** large_client_header_buffers: size × number bounds the header list. */
  readonly headerListSize: number;
  readonly maxHeaders: number;
  readonly keepaliveTimeout: number;
  readonly keepaliveRequests: number;
  readonly keepaliveTime: number;
  /** client_header_timeout: a connection that sends no stream at all. */
  readonly headerTimeout: number;
  /** Client resets tolerated in one second before the session is closed. */
  readonly resetBurst: number;
}

/** A stream's request, ready for the request path. */
export interface H2StreamStart {
  readonly conn: ConnectionState;
  readonly req: IncomingRequest;
  readonly res: H2Reply;
  readonly head: H2Head;
  /** DATA frames follow the HEADERS (no END_STREAM on them). */
  readonly bodyFollows: boolean;
}

const EMPTY = Buffer.alloc(0);
const servers = new WeakMap<H2Limits, Http2Server>();

/** A node:http2 server that never listens: sessions are made from our sockets. */
function serverFor(limits: H2Limits): Http2Server {
  let s = servers.get(limits);
  if (s !== undefined) return s;
  s = createServer({
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      initialWindowSize: Math.min(limits.bodyPrereadSize, H2_MAX_WINDOW),
      maxFrameSize: 2 ** 24 - 1,
      maxHeaderListSize: limits.headerListSize,
      enablePush: false,
    },
    // max_headers decides with nginx's answer; nghttp2's own bound sits above it
    maxHeaderListPairs: limits.maxHeaders + 16,
    maxSessionMemory: 16,
  });
  servers.set(limits, s);
  return s;
}

/**
 * Starts HTTP/2 on `socket` (cleartext after the preface was seen, or TLS
 * after ALPN chose h2), `data` being what was read of it (preface.ts).
 * `onStream` runs each stream's request.
 */
export function startH2Session(
  socket: Socket, data: Buffer, limits: H2Limits, id: number, onStream: (s: H2StreamStart) => void,
): H2Session {
  const server = serverFor(limits);
  const h2 = new H2Session(socket, limits, id, onStream);
  // node:http2 waits for 'secureConnect' while secureConnecting is set, and a server-side
  // TLSSocket made without a tls.Server never clears it: the handshake is done by now.
  const tls = socket as Socket & { secureConnecting?: boolean };
  if (tls.secureConnecting === true) tls.secureConnecting = false;
  server.once('session', (session: ServerHttp2Session) => h2.attach(session));
  server.emit('connection', h2Transport(socket, data));
  return h2;
}

/** The per-stream view of the connection a request asks of (ClientConnection). */
class StreamConn implements ClientConnection {
  lingeringClose: 'on' | 'off' | 'always' = 'on';
  constructor(private readonly stream: ServerHttp2Stream) {}
  setKeepaliveTimeout(): void { /* the session's idle time is its own */ }
  detach(): Buffer { return EMPTY; }
  get busy(): boolean { return !this.stream.closed; }
  close(): void { /* a stream ends with its response */ }
}

export class H2Session implements ClientConnection, H2ReplyOwner {
  lingeringClose: 'on' | 'off' | 'always' = 'on';
  private session: ServerHttp2Session | null = null;
  private active = 0;
  private served = 0;
  private idle: NodeJS.Timeout | null = null;
  private readonly startTime = Date.now();
  private resetWindowStart = 0;
  private resets = 0;
  private closing = false;
  /** Replies of open streams, so a finished one can end its unread body. */
  private readonly open = new Map<H2Reply, { req: IncomingRequest; stream: ServerHttp2Stream }>();

  constructor(
    readonly socket: Socket,
    private readonly limits: H2Limits,
    private readonly id: number,
    private readonly onStream: (s: H2StreamStart) => void,
  ) {}

  /** A session never holds a stop back: close() is itself graceful (GOAWAY, open streams finish). */
  get busy(): boolean {
    return false;
  }

  /** Streams served so far. */
  get requests(): number {
    return this.served;
  }

  setKeepaliveTimeout(): void { /* set from the server's conf at start */ }

  detach(): Buffer { return EMPTY; }

  /** Graceful end: GOAWAY with the last stream taken; open streams finish, then the socket closes. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.clearIdle();
    const s = this.session;
    if (s === null || s.destroyed) { this.socket.destroy(); return; }
    s.close(() => this.socket.destroy());
  }

  /** @internal */
  attach(session: ServerHttp2Session): void {
    this.session = session;
    session.on('error', () => { /* 'close' follows */ });
    session.on('stream', (stream: ServerHttp2Stream, _h: unknown, flags: number, raw: string[]) => this.stream(stream, flags, raw));
    session.once('close', () => { this.clearIdle(); if (!this.socket.destroyed) this.socket.destroy(); });
    session.once('connect', () => {
      // nginx opens the connection window to its maximum at once
      try { session.setLocalWindowSize(H2_MAX_WINDOW); } catch { /* closed meanwhile */ }
    });
    this.armIdle(this.limits.headerTimeout);
  }

  private armIdle(ms: number): void {
    this.clearIdle();
    if (ms <= 0) ms = 1;
    this.idle = setTimeout(() => { this.idle = null; this.close(); }, ms);
    this.idle.unref();
  }

  private clearIdle(): void {
    if (this.idle !== null) { clearTimeout(this.idle); this.idle = null; }
  }

  private stream(stream: ServerHttp2Stream, flags: number, raw: string[]): void {
    if (this.closing) { stream.close(constants.NGHTTP2_REFUSED_STREAM); return; }
    this.clearIdle();
    this.active++;
    this.served++;
    const limits = this.limits;
    const head = h2RequestHead(raw);
    const method = head.method !== '' ? head.method : 'GET';
    const path = head.path !== '' ? head.path : '/';
    const line = `${head.method} ${head.path} HTTP/2.0`;
    // a stream we reset emits its error: the reply learns of it through 'close'
    stream.on('error', () => {});
    let reply: H2Reply | null = null;
    const socket = streamSocket(this.socket, stream, () => reply);
    const req = new IncomingRequest(method, path, 2, 0, head.rawHeaders, head.length, socket, line);
    const res = new H2Reply(stream, socket, method, this);
    reply = res;
    const bodyFollows = (flags & constants.NGHTTP2_FLAG_END_STREAM) === 0;
    this.open.set(res, { req, stream });
    stream.once('close', () => this.streamClosed(stream, req, res));
    if (bodyFollows) {
      req.attach({
        resumeBody: () => { stream.resume(); },
        pauseBody: () => { stream.pause(); },
        readBuffered: () => {},
      });
      stream.on('data', (chunk: Buffer) => { if (!req.push(chunk)) stream.pause(); });
      stream.once('end', () => req.pushEnd());
      // held (unread) until a reader comes: the window stops at the preread size
      stream.pause();
    } else {
      req.pushEnd();
    }
    const conn: ConnectionState = {
      id: this.id,
      requests: this.served,
      startTime: this.startTime,
      socket,
      h1: new StreamConn(stream),
      remoteAddress: this.socket.remoteAddress ?? 'unix:',
      remotePort: this.socket.remotePort ?? 0,
      localAddress: this.socket.localAddress ?? 'unix:',
      localPort: this.socket.localPort ?? 0,
      closing: false,
      bytesBaseline: 0,
      sendTimeout: 60_000,
      sendProgress: 0,
      sendStalledSince: 0,
      noDelay: true,
    };
    // keepalive_requests / keepalive_time: this one is served, then GOAWAY (ngx_http_v2_state_headers)
    if (this.served >= limits.keepaliveRequests || Date.now() - this.startTime > limits.keepaliveTime) this.close();
    this.onStream({ conn, req, res, head, bodyFollows });
  }

  private streamClosed(stream: ServerHttp2Stream, req: IncomingRequest, res: H2Reply): void {
    this.open.delete(res);
    this.active--;
    // Reset by the client before its response was complete: counted for rapid reset.
    if (!res.writableFinished && stream.rstCode !== constants.NGHTTP2_NO_ERROR) this.countReset();
    req.close();
    if (this.active === 0 && !this.closing) this.armIdle(this.limits.keepaliveTimeout);
  }

  private countReset(): void {
    const now = Date.now();
    if (now - this.resetWindowStart >= 1000) { this.resetWindowStart = now; this.resets = 0; }
    if (++this.resets <= this.limits.resetBurst) return;
    const s = this.session;
    if (s === null || s.destroyed) return;
    this.closing = true;
    this.clearIdle();
    try { s.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM); } catch { /* already going */ }
    s.destroy();
    this.socket.destroy();
  }

  // H2ReplyOwner

  replyFinished(reply: H2Reply): void {
    const entry = this.open.get(reply);
    if (entry === undefined) return;
    // The response is complete and the body still coming: nobody reads it (RST_STREAM NO_ERROR, as nginx).
    if (!entry.req.complete && !entry.stream.closed) entry.stream.close(constants.NGHTTP2_NO_ERROR);
  }
}
