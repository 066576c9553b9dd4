/**
 * The upstream core: one Upstream per request drives pick → connect → send →
 * read header → stream body → finalize, and on failure goes to the next peer
 * under the `*_next_upstream` rules (ngx_http_upstream_init, _connect,
 * _send_request, _process_header, _next, _finalize_request, _cleanup).
 *
 * Two exits only: `next(ft)` and `finalize(rc)`; finalize is idempotent and
 * releases everything: the peer (free with its state), the connection (to the
 * keep-alive cache only when clean, else destroyed), the timer.
 *
 * The protocol (HTTP proxy, memcached, FastCGI, a user's own) plugs in with
 * nginx's callbacks and never touches the socket; the core never parses
 * protocol bytes and never chooses a peer.
 *
 * Deliberate differences from nginx:
 *   - a try that failed with `error` on a reused keep-alive connection before
 *     any response byte is retried without charging the peer (nginx charges it
 *     and leaves a TODO; Pingora does the same as we do);
 *   - response buffering keeps at most proxy_buffers unread by the client in
 *     memory, then goes on through a temp file (response-spool.ts) up to
 *     proxy_max_temp_file_size, then holds the upstream by backpressure; the
 *     spool file is unlinked as soon as it is open, so none outlives weir.
 */
import { localAddressFor, type LocalAddress } from './local-address.js';
import { sizeFor } from '../http/size-value.js';
import { createReadStream } from 'node:fs';
import { PoolKeys, type UpstreamPeerConnection } from '../keepalive/session.js';
import { GetResult, PeerState, type BalancerRequest, type CompiledValue } from '../balancer/types.js';
import type { ComplexValue } from '../http/variables.js';
import { finalize as finalizeHttp, internalRedirectTo, namedLocation, sendHeader } from '../http/phases.js';
import { parseUnsafeUri } from '../http/uri.js';
import { sendContinue, streamRequestBody, type BodyStream } from '../http/body.js';
import type { HttpRequest, RequestBody } from '../http/request.js';
import type { ConnectionOwner } from './connection.js';
import { UpstreamConnection } from './connection.js';
import { FT, failureStatus } from './failure.js';
import { decideRetry, statusRetry, type TryFacts } from './retry.js';
import { IGNORE_HEADERS, type UpstreamLocConf } from './upstream-conf.js';
import { ResponseSpool } from './response-spool.js';
import type { UpstreamGroup } from './upstream-module.js';
import { UpstreamTryState, pushUpstreamStates } from './state.js';

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



/** finalize() code: the request continues elsewhere (X-Accel-Redirect); answer nothing. */
const HANDED_OVER = -1;

/** What an X-Accel-Redirect keeps of the upstream's headers besides Content-Type (nginx's `redirect` flag). */
const ACCEL_REDIRECT_KEPT: ReadonlySet<string> = new Set([
  'set-cookie', 'content-disposition', 'cache-control', 'expires', 'accept-ranges',
]);

const enum Stage {
  Idle = 0,
  Connecting = 1,
  Sending = 2,
  ReadingHeader = 3,
  ReadingBody = 4,
  Tunnel = 5,
  Done = 6,
}

const STAGE_TEXT = [
  '', 'while connecting to upstream', 'while sending request to upstream',
  'while reading response header from upstream', 'while reading upstream', 'while proxying upgraded connection', '',
];

/** nginx's ngx_peer_connection_t for this request; its log() carries the try's stage. */
class TryPeerConnection implements UpstreamPeerConnection {
  address: UpstreamPeerConnection['address'] = null;
  peer: UpstreamPeerConnection['peer'] = null;
  cached = false;
  headerTime = -1;
  responseTime = -1;
  connection: UpstreamConnection | null = null;
  keepalive = false;

  constructor(private readonly u: Upstream, public tries: number) {}

  log(level: 'warn' | 'error' | 'info', message: string): void {
    this.u.logWithStage(level, message);
  }
}

export class Upstream implements ConnectionOwner, BalancerRequest {
  // What the protocol fills in processHeader.
  status = 0;
  /**
   * The status line from the code on as the upstream sent it (nginx's
   * headers_in.status_line), passed to the client; null: nginx's own text.
   */
  statusLine: string | null = null;
  /** Response headers for the client, flat [name, value, ...]. */
  headersOut: string[] = [];
  /**
   * proxy_redirect rewrote the Location: only then is a relative one made
   * absolute, as only then is it nginx's r->headers_out.location.
   */
  locationRewritten = false;
  /** -1 unknown. */
  contentLength = -1;
  /** Bytes of the last chunk fed to processHeader that belonged to the head. */
  headerConsumed = 0;
  invalidReason = '';
  /**
   * The connection may be reused: set by the protocol when the body ended
   * cleanly, or in processHeader when the head says there is no body (nginx's
   * u->keepalive: what keeps the connection of a header-only response).
   */
  keepalive = false;

  readonly pc: UpstreamPeerConnection;
  private readonly session;
  private conn: UpstreamConnection | null = null;
  private stage = Stage.Idle;
  private timer: NodeJS.Timeout | null = null;
  private timerStage = Stage.Idle;
  private requestBufs: Buffer[] | null = null;
  private requestSent = false;
  /** Every byte of the request (head and body) was handed to the socket: a condition of reuse. */
  private requestComplete = false;
  private headerSentToClient = false;
  private finalized = false;
  private state: UpstreamTryState | null = null;
  private readonly states: UpstreamTryState[] = [];
  private readonly startMs = Date.now();
  private tryStart = 0;
  private paused = false;
  private body: RequestBody | null = null;
  /** Unbuffered body (proxy_request_buffering off): streamed after the head, once. */
  private streamBody = false;
  private bodyStream: BodyStream | null = null;
  private chunkBody = false;

  constructor(
    readonly r: HttpRequest,
    readonly conf: UpstreamLocConf,
    readonly group: UpstreamGroup,
    readonly protocol: UpstreamProtocol,
    /**
     * The location's pool scope for `keepalive ... local` (one PoolKeys per location and
     * protocol); by default connections are shared by every user of the upstream.
     */
    poolKeys: PoolKeys = new PoolKeys(),
  ) {
    this.session = group.createSession(this, poolKeys, r.errorLog);
    const tries = conf.nextUpstreamTries! > 0 ? Math.min(conf.nextUpstreamTries!, this.session.tries) : this.session.tries;
    this.pc = new TryPeerConnection(this, tries);
    pushUpstreamStates(r, this.states);
  }

  // BalancerRequest: what a balancer may read from the request.

  get remoteAddress(): string {
    return this.r.remoteAddress;
  }

  evaluate(value: CompiledValue): string {
    return (value as ComplexValue).evaluate(this.r);
  }

  /** A header the balancer sets (sticky cookie): a retry's choice replaces the earlier one. */
  addResponseHeader(name: string, value: string): void {
    const out = this.r.headersOut;
    if (this.balancerHeader >= 0 && out[this.balancerHeader] === name) { out[this.balancerHeader + 1] = value; return; }
    this.balancerHeader = out.length;
    out.push(name, value);
  }

  private balancerHeader = -1;

  /** A line about the peer (balancer warnings), with the stage and upstream as nginx writes them. */
  logWithStage(level: 'warn' | 'error' | 'info', message: string): void {
    const stage = STAGE_TEXT[this.stage];
    this.r.log(level, stage ? `${message} ${stage}` : message, this.upstreamUrl());
  }

  /**
   * Starts the first try. A buffered body was already read into r.body; with
   * `streamBody` the body is read while it is sent (proxy_request_buffering off),
   * chunk-framed when `chunked` (length unknown, HTTP/1.1 upstream).
   */
  start(streamBody = false, chunked = false): void {
    this.body = this.conf.passRequestBody ? this.r.body : null;
    this.streamBody = streamBody;
    this.chunkBody = chunked;
    // nginx reads (or judges) the body before ngx_http_upstream_init: the 100 goes out first
    sendContinue(this.r);
    this.r.onAbort = () => this.clientAbort();
    this.connect();
  }

  /**
   * The state of a new try; a failed try before it gets its response time
   * here, as in ngx_http_upstream_connect ($upstream_response_time across next).
   */
  private newTry(): UpstreamTryState {
    const prev = this.state;
    if (prev !== null && prev.responseTime === -1) prev.responseTime = Date.now() - this.tryStart;
    this.tryStart = Date.now();
    const state = new UpstreamTryState();
    this.state = state;
    this.states.push(state);
    return state;
  }

  /** nginx's ngx_http_upstream_connect: a new try. */
  private connect(): void {
    if (this.finalized) return;
    const state = this.newTry();
    this.pc.cached = false;
    this.pc.connection = null;
    this.pc.keepalive = false;
    const rc = this.session.get(this.pc);
    if (rc === GetResult.Busy) {
      state.addr = this.group.name;
      this.r.log('error', `no live upstreams while connecting to upstream`, this.upstreamUrl());
      this.next(FT.nolive);
      return;
    }
    state.addr = this.pc.address!.name;
    const cached = this.pc.connection as UpstreamConnection | null;
    if (rc === GetResult.Cached && cached) {
      this.conn = cached;
      cached.owner = this;
      this.pc.cached = true;
      state.connectTime = 0;
      this.sendRequest();
      return;
    }
    this.openConnection();
  }

  /** A new connection to the chosen peer (not from the cache). */
  private openConnection(): void {
    this.stage = Stage.Connecting;
    this.group.cache?.noteConnect();
    if (this.local === undefined) this.local = localAddressFor(this.r, this.conf.bind);
    const conn = UpstreamConnection.connect(this.pc.address!, this.local, () => this.onConnected());
    conn.owner = this;
    this.conn = conn;
    this.pc.connection = conn;
    this.armTimer(Stage.Connecting, this.conf.connectTimeout!);
  }

  private onConnected(): void {
    if (this.finalized || this.stage !== Stage.Connecting) return;
    this.state!.connectTime = Date.now() - this.tryStart;
    if (this.conf.socketKeepalive) this.conn!.socket.setKeepAlive(true);
    this.sendRequest();
  }

  /** The upstream URL for log lines: `http://127.0.0.1:8081/uri`, `memcached://127.0.0.1:11211`. */
  upstreamUrl(): string {
    const name = this.pc.address ? this.pc.address.name : this.group.name;
    return `${this.protocol.name}://${name}${this.protocol.name === 'http' ? this.r.uri : ''}`;
  }

  private sendRequest(): void {
    const conn = this.conn!;
    if (!this.requestBufs) this.requestBufs = this.protocol.createRequest(this);
    else this.protocol.reinitRequest(this);
    this.stage = Stage.Sending;
    this.requestComplete = false;
    conn.requests++;
    const socket = conn.socket;
    socket.cork();
    let ok = true;
    for (const b of this.requestBufs) { ok = socket.write(b); this.state!.bytesSent += b.length; }
    const body = this.body;
    if (body && body.file === null) {
      for (const b of body.buffers) ok = this.writeBody(socket, b);
    }
    const memoryOnly = !this.streamBody && !(body && body.file !== null);
    if (memoryOnly) { ok = this.endBody(socket); this.requestComplete = true; }
    // Started while corked: the body bytes already here leave with the head.
    if (this.streamBody) this.sendStreamedBody();
    socket.uncork();
    this.requestSent = true;
    if (body && body.file !== null) { this.sendFileBody(body.file); return; }
    if (this.streamBody) return;
    if (!ok) { this.armTimer(Stage.Sending, this.conf.sendTimeout!); return; }
    this.requestWritten();
  }

  /** One piece of request body, framed as the protocol (or HTTP chunking) needs. */
  private writeBody(socket: UpstreamConnection['socket'], chunk: Buffer): boolean {
    this.state!.bytesSent += chunk.length;
    const frame = this.protocol.frameBody;
    corkForTick(socket);
    if (!frame && !this.chunkBody) return socket.write(chunk);
    let ok = true;
    if (frame) {
      for (const piece of frame.call(this.protocol, chunk)) ok = socket.write(piece);
    } else {
      socket.write(`${chunk.length.toString(16)}\r\n`);
      socket.write(chunk);
      ok = socket.write('\r\n');
    }
    return ok;
  }

  /** The end of the body: the protocol's terminator, or the last chunk. */
  private endBody(socket: UpstreamConnection['socket']): boolean {
    const tail = this.protocol.bodyEnd ? this.protocol.bodyEnd() : null;
    corkForTick(socket);
    if (tail) return socket.write(tail);
    if (this.chunkBody) return socket.write('0\r\n\r\n');
    return true;
  }

  /** Unbuffered: body bytes go to the upstream as the client sends them; never replayable. */
  private sendStreamedBody(): void {
    const conn = this.conn!;
    this.armTimer(Stage.Sending, this.conf.sendTimeout!);
    this.r.bodyStreamed = true;
    this.bodyStream = streamRequestBody(this.r, {
      write: (chunk) => {
        if (this.conn !== conn || this.finalized) return true;
        return this.writeBody(conn.socket, chunk);
      },
      end: () => {
        this.bodyStream = null;
        if (this.conn !== conn || this.finalized) return;
        this.endBody(conn.socket);
        this.requestComplete = true;
        this.requestWritten();
      },
      error: (status) => {
        this.bodyStream = null;
        this.keepalive = false;
        this.finalize(status);
      },
    });
  }

  private sendFileBody(file: string): void {
    this.armTimer(Stage.Sending, this.conf.sendTimeout!);
    const conn = this.conn!;
    const stream = createReadStream(file);
    stream.on('data', (chunk) => {
      if (this.conn !== conn || this.finalized) { stream.destroy(); return; }
      if (!this.writeBody(conn.socket, chunk as Buffer)) stream.pause();
      this.timer?.refresh();
    });
    const resume = (): void => { stream.resume(); };
    conn.socket.on('drain', resume);
    stream.on('error', (err) => {
      conn.socket.off('drain', resume);
      this.r.log('crit', `could not read request body file "${file}": ${err.message}`);
      this.finalize(500);
    });
    stream.on('end', () => {
      conn.socket.off('drain', resume);
      if (this.conn !== conn || this.finalized) return;
      this.endBody(conn.socket);
      this.requestComplete = true;
      this.requestWritten();
    });
  }

  private requestWritten(): void {
    if (this.stage !== Stage.Sending) return;
    this.stage = Stage.ReadingHeader;
    this.armTimer(Stage.ReadingHeader, this.conf.readTimeout!);
  }

  // ConnectionOwner: socket events for the connection in use.

  onDrain(conn: UpstreamConnection): void {
    if (conn !== this.conn) return;
    if (this.bodyStream) { this.timer?.refresh(); this.bodyStream.resume(); return; }
    if (this.stage === Stage.Sending && this.body?.file == null) this.requestWritten();
  }

  onData(conn: UpstreamConnection, chunk: Buffer): void {
    if (conn !== this.conn || this.finalized) return;
    this.state!.bytesReceived += chunk.length;
    if (this.stage === Stage.Sending) {
      // An early response (before the whole request went out) is still a response.
      this.stage = Stage.ReadingHeader;
    }
    if (this.stage === Stage.ReadingHeader) {
      this.timer?.refresh();
      const rc = this.protocol.processHeader(this, chunk);
      if (rc === 'again') return;
      if (rc === 'invalid' || rc === 'refused') {
        this.r.log('error', `${this.invalidReason} while reading response header from upstream`, this.upstreamUrl());
        if (rc === 'invalid') { this.next(FT.invalid_header); return; }
        this.refuse();
        return;
      }
      this.processHeaderDone(chunk.subarray(this.headerConsumed));
      return;
    }
    if (this.stage === Stage.ReadingBody) {
      this.timer?.refresh();
      this.state!.responseLength += chunk.length;
      this.protocol.inputFilter(this, chunk);
      return;
    }
    if (this.stage === Stage.Tunnel) this.tunnelToClient(chunk);
  }

  onEnd(conn: UpstreamConnection): void {
    if (conn !== this.conn || this.finalized) return;
    if (this.stage === Stage.Tunnel) { this.tunnelHalfClose(true); return; }
    this.upstreamClosed(null);
  }

  onError(conn: UpstreamConnection, err: NodeJS.ErrnoException): void {
    if (conn !== this.conn || this.finalized) return;
    this.upstreamClosed(err);
  }

  onClose(conn: UpstreamConnection): void {
    if (conn !== this.conn || this.finalized) return;
    this.upstreamClosed(null);
  }

  private upstreamClosed(err: NodeJS.ErrnoException | null): void {
    const stage = this.stage;
    if (stage === Stage.Tunnel) { this.finalize(0); return; }
    if (stage === Stage.ReadingBody) {
      if (!err && this.protocol.inputEof(this) === 'complete') { this.finalize(0); return; }
      // A reset is a failed read in nginx's words (readv() through its buffering event pipe,
      // recv() without); a FIN before the end is a premature close.
      const call = this.buffering() ? 'readv()' : 'recv()';
      if (err) this.r.log('error', `${call} failed (${err.errno !== undefined ? -err.errno : 104}: ${errnoText(err)}) while reading upstream`, this.upstreamUrl());
      else this.r.log('error', `upstream prematurely closed connection while reading upstream`, this.upstreamUrl());
      this.finalize(502);
      return;
    }
    if (stage === Stage.Connecting && err && LOCAL_FAILURES.has(err.code ?? '')) {
      // Our own limits (file descriptors, ports), not the peer's fault: nginx's
      // socket() failure is a 500 that charges no peer and tries no other.
      this.r.log('alert', `socket() failed (${-(err.errno ?? 24)}: ${errnoText(err)}) while connecting to upstream`, this.upstreamUrl());
      if (this.pc.peer) this.freePeer(PeerState.Next);
      this.finalize(500);
      return;
    }
    if (stage === Stage.Connecting && this.pc.address?.family === 0) {
      // A unix socket's connect() fails at once, as ngx_event_connect_peer logs it: the
      // peer's name, and crit unless the socket is merely refusing (or full).
      const code = err?.errno !== undefined ? -err.errno : 111;
      const level = UNIX_CONNECT_ERRORS.has(err?.code ?? 'ECONNREFUSED') ? 'error' : 'crit';
      this.r.log(level, `connect() to ${this.pc.address.name} failed (${code}: ${errnoText(err)}) while connecting to upstream`, this.upstreamUrl());
    } else if (stage === Stage.Connecting) {
      const code = err?.errno !== undefined ? -err.errno : 111;
      this.r.log('error', `connect() failed (${code}: ${errnoText(err)}) while connecting to upstream`, this.upstreamUrl());
    } else if (err) {
      const code = err.errno !== undefined ? -err.errno : 104;
      this.r.log('error', `${stage === Stage.Sending ? 'writev()' : 'recv()'} failed (${code}: ${errnoText(err)}) ${STAGE_TEXT[stage]}`, this.upstreamUrl());
    } else {
      this.r.log('error', `upstream prematurely closed connection ${STAGE_TEXT[stage]}`, this.upstreamUrl());
    }
    this.next(FT.error);
  }

  private processHeaderDone(rest: Buffer): void {
    const r = this.r;
    const state = this.state!;
    state.status = this.status;
    state.headerTime = Date.now() - this.tryStart;
    this.pc.headerTime = state.headerTime;
    // Retry on listed statuses while other peers remain (ngx_http_upstream_test_next).
    const ft = statusRetry(this.status, this.pc.tries, () => this.tryFacts(0));
    if (ft !== 0) {
      this.next(ft);
      return;
    }
    if (this.conf.interceptErrors && this.status >= 300 && hasErrorPage(r, this.status)) {
      // The error page answers a 401 with the upstream's challenges (ngx_http_upstream_intercept_errors).
      if (this.status === 401) copyHeaders(this.headersOut, 'www-authenticate', r.headersOut);
      this.keepalive = false;
      this.finalize(this.status);
      return;
    }
    // The response will be this peer's: the balancer hears of it (nginx's NGX_HTTP_UPSTREAM_NOTIFY_HEADER).
    this.session.notify?.(this.pc);
    // Before X-Accel-Redirect: the rate stays with the request wherever it goes, as nginx's limit_rate_set.
    this.acceptLimitRate();
    // X-Accel-Charset: the charset filter recodes to it (ngx_http_upstream_process_charset).
    if (this.xAccelCharset !== null && !(this.conf.ignoreHeaders! & IGNORE_HEADERS['X-Accel-Charset'])) this.r.overrideCharset = this.xAccelCharset;
    if (this.xAccelRedirect !== null && !(this.conf.ignoreHeaders! & IGNORE_HEADERS['X-Accel-Redirect'])) {
      this.accelRedirect(this.xAccelRedirect);
      return;
    }
    if (this.status === 101) { this.startTunnel(rest); return; }
    this.stage = Stage.ReadingBody;
    // The read timeout goes on for the body, and a timeout now says "while reading upstream".
    this.armTimer(Stage.ReadingBody, this.conf.readTimeout!);
    this.bufferBudget = this.buffering() ? this.conf.buffers!.num * this.conf.buffers!.size : 0;
    this.rateLimit = sizeFor(r, this.conf.limitRate);
    this.rateStart = Date.now();
    this.protocol.inputFilterInit(this);
    this.headerSentToClient = true;
    r.statusLine = this.statusLine;
    if (!sendHeader(r, this.status, this.headersOut, this.contentLength, this.locationRewritten)) {
      this.finalize(499);
      return;
    }
    if (this.finalized) return;
    if (r.method === 'HEAD' || this.status === 204 || this.status === 304) {
      // A header-only response is finalized once its header is sent, and no
      // body is read (ngx_http_upstream_send_response): the connection is kept
      // only when the protocol knew from the head that there was none.
      if (rest.length !== 0) this.keepalive = false;
      this.finalize(0);
      return;
    }
    // Even empty: a body that is already complete (Content-Length: 0) ends here.
    state.responseLength += rest.length;
    this.protocol.inputFilter(this, rest);
  }

  /** A head the client must not see: a 502 with no body, and neither connection is kept. */
  private refuse(): void {
    this.keepalive = false;
    this.r.keepalive = false;
    this.state!.status = 502;
    this.headerSentToClient = true;
    if (!sendHeader(this.r, 502, [], 0)) { this.finalize(499); return; }
    this.finalize(0);
  }

  /**
   * The upstream switched protocols (101) for a client that asked to upgrade:
   * from now on bytes flow both ways untouched until either side closes
   * (ngx_http_upstream_upgrade / _process_upgraded). Idle is bounded by
   * the read timeout; a side's FIN is passed on once its bytes are delivered.
   */
  private startTunnel(rest: Buffer): void {
    const r = this.r;
    const client = r.conn.socket;
    this.stage = Stage.Tunnel;
    this.headerSentToClient = true;
    this.keepalive = false;
    r.status = 101;
    // From here the client's close ends the tunnel normally: no 499.
    r.onAbort = null;
    r.tunnelled = true;
    // The head as any other (Server, Date, `Connection: upgrade`), sent now: the tunnel writes raw bytes after it.
    r.statusLine = this.statusLine;
    sendHeader(r, 101, this.headersOut, -1);
    r.res.flushHeaders();
    if (rest.length > 0) this.tunnelToClient(rest);
    const up = this.conn!.socket;
    // Bytes the client sent after its request head belong to the new protocol.
    const early = r.conn.h1.detach();
    if (early.length > 0) up.write(early);
    client.on('data', (chunk: Buffer) => {
      this.timer?.refresh();
      if (!up.write(chunk)) client.pause();
    });
    client.on('end', () => this.tunnelHalfClose(false));
    client.on('close', () => this.finalize(0));
    up.on('drain', () => client.resume());
    client.on('drain', () => up.resume());
    this.armTimer(Stage.Tunnel, this.conf.readTimeout!);
  }

  private tunnelToClient(chunk: Buffer): void {
    this.timer?.refresh();
    const client = this.r.conn.socket;
    if (!client.write(chunk)) this.conn?.socket.pause();
  }

  private tunnelEnded = 0;
  /** One side sent FIN: pass it on; when both did, the tunnel is over. */
  private tunnelHalfClose(fromUpstream: boolean): void {
    if (this.finalized) return;
    if (fromUpstream) this.r.conn.socket.end();
    else this.conn?.socket.end();
    if (++this.tunnelEnded === 2) this.finalize(0);
  }

  /**
   * X-Accel-Redirect (ngx_http_upstream_process_headers): the upstream names
   * where the response really comes from and is released, its body unread. Its
   * Content-Type, Set-Cookie, Content-Disposition, Cache-Control, Expires and
   * Accept-Ranges stay with the response; a URI that could climb out of the
   * root is 404; a named location keeps the method, a URI makes it GET.
   */
  private accelRedirect(target: string): void {
    const r = this.r;
    this.keepalive = false;
    this.finalize(HANDED_OVER);
    r.body = null;
    const h = this.headersOut;
    for (let i = 0; i < h.length; i += 2) {
      const lname = h[i].toLowerCase();
      if (lname === 'content-type') r.contentType = h[i + 1];
      else if (ACCEL_REDIRECT_KEPT.has(lname)) r.headersOut.push(h[i], h[i + 1]);
    }
    if (target.startsWith('@')) { namedLocation(r, target); return; }
    const safe = parseUnsafeUri(target);
    if (safe === null) {
      r.log('error', `unsafe URI "${target}" was detected`);
      finalizeHttp(r, 404);
      return;
    }
    if (r.method !== 'HEAD') r.method = 'GET';
    internalRedirectTo(r, safe.uri, safe.args);
  }

  /**
   * X-Accel-Limit-Rate (bytes/s), unless ignored: the client's rate for this
   * request ($limit_rate), as ngx_http_upstream_process_limit_rate; a value
   * that is not a number changes nothing.
   */
  private acceptLimitRate(): void {
    const h = this.xAccelLimitRate;
    if (h === null || (this.conf.ignoreHeaders! & IGNORE_HEADERS['X-Accel-Limit-Rate']) || !/^[0-9]{1,15}$/.test(h)) return;
    this.r.limitRate = Number(h);
    this.r.limitRateSet = true;
  }

  /** proxy_buffering, unless the upstream said `X-Accel-Buffering: no|yes` (and it is not ignored). */
  private buffering(): boolean {
    if (!(this.conf.ignoreHeaders! & IGNORE_HEADERS['X-Accel-Buffering'])) {
      const h = this.xAccelBuffering;
      if (h === 'no') return false;
      if (h === 'yes') return true;
    }
    return this.conf.buffering!;
  }

  /** Set by the protocol from the response head (X-Accel-* control headers). */
  xAccelBuffering: string | null = null;
  xAccelRedirect: string | null = null;
  xAccelLimitRate: string | null = null;
  xAccelCharset: string | null = null;

  /** The facts of this try for the retry rules (retry.ts). */
  private tryFacts(ft: number): TryFacts {
    return {
      ft,
      method: this.r.method,
      requestSent: this.requestSent,
      bodyStreamed: this.r.bodyStreamed && this.body === null,
      reused: this.pc.cached && this.pc.peer !== null,
      bytesReceived: this.state?.bytesReceived ?? 0,
      elapsed: Date.now() - this.startMs,
      nextUpstream: this.conf.nextUpstream!,
      nextUpstreamTimeout: this.conf.nextUpstreamTimeout!,
    };
  }

  // Called by the protocol's input filter.

  /** One piece of response body for the client (a view; written without copying). */
  sendToClient(view: Buffer): void {
    if (view.length === 0 || this.finalized || this.r.method === 'HEAD') return;
    if (this.rateLimit > 0) { this.rateQueue.push(view); this.pumpRate(); return; }
    this.writeClient(view);
  }

  private writeClient(view: Buffer): void {
    const res = this.r.res;
    if (this.spool) {
      if (!this.spool.append(view) && !this.spoolFull) { this.spoolFull = true; this.conn?.socket.pause(); }
      return;
    }
    // proxy_buffering: keep reading the upstream while what the client has not
    // taken yet fits proxy_buffers; past that, hold the upstream, and if the
    // client is still behind once node has handed its writes to the kernel
    // (node corks a response within one tick, so a single large read always
    // looks congested at first), go on through a temp file up to
    // proxy_max_temp_file_size. With buffering off, backpressure only.
    if (!res.write(view) && !this.paused && res.writableLength > this.bufferBudget) {
      this.paused = true;
      this.conn?.socket.pause();
      res.once('drain', () => this.clientDrained());
      // While the client holds us back, its send_timeout runs, not the upstream's read timeout.
      this.armTimer(Stage.ReadingBody, this.r.locConf.sendTimeout!);
      const c = this.conf;
      if (this.bufferBudget > 0 && c.maxTempFileSize! > 0 && c.tempPath && !this.spoolCheck) {
        this.spoolCheck = true;
        setImmediate(() => {
          this.spoolCheck = false;
          if (this.paused && !this.finalized && this.spool === null && res.writableLength > this.bufferBudget) this.startSpool();
        });
      }
    }
  }

  private spoolCheck = false;

  /** The client stays behind: from now on the response goes through a temp file and the upstream reads on. */
  private startSpool(): void {
    const c = this.conf;
    this.spool = new ResponseSpool(this.r.res, c.tempPath!, c.maxTempFileSize!,
      (message) => this.r.log('crit', `${message} while reading upstream`, this.upstreamUrl()),
      () => { if (this.spoolFull) { this.spoolFull = false; if (!this.rateTimer) this.conn?.socket.resume(); } });
    this.paused = false;
    this.armTimer(Stage.ReadingBody, c.readTimeout!);
    if (!this.rateTimer) this.conn?.socket.resume();
  }

  /** Bytes the client may lag behind before the upstream is paused (set when the header is accepted). */
  private bufferBudget = 0;
  /** The temp file the response goes through once the client fell behind (proxy_buffering). */
  private spool: ResponseSpool | null = null;
  private spoolFull = false;

  /** *_bind for this request, evaluated at the first connect (undefined until then). */
  private local: LocalAddress | null | undefined = undefined;
  /** proxy_limit_rate: how fast the upstream is read, in bytes per second (0: none). */
  private rateLimit = 0;
  private rateStart = 0;
  private rateBytes = 0;
  private rateTimer: NodeJS.Timeout | null = null;
  /** Body bytes received but not yet due under the rate (the upstream is held meanwhile). */
  private readonly rateQueue: Buffer[] = [];
  /** The body is complete: end the response once the queue is out. */
  private endAfterRate = false;

  /** Passes on as many queued bytes as the rate allows by now; holds the upstream while any wait. */
  private pumpRate(): void {
    if (this.rateTimer) return;
    // The client went away while bytes waited for their turn.
    if (this.r.res.destroyed) { this.rateQueue.length = 0; return; }
    let budget = Math.floor((this.rateLimit * (Date.now() - this.rateStart)) / 1000) - this.rateBytes;
    const queue = this.rateQueue;
    while (queue.length > 0 && budget > 0) {
      let v = queue[0];
      if (v.length > budget) { queue[0] = v.subarray(budget); v = v.subarray(0, budget); } else queue.shift();
      this.rateBytes += v.length;
      budget -= v.length;
      this.writeClient(v);
    }
    if (queue.length > 0) {
      this.conn?.socket.pause();
      // Wake when the next 1 KiB (or the rest) is due.
      const next = Math.min(1024, queue[0].length);
      const wait = Math.max(5, Math.ceil(((next - budget) * 1000) / this.rateLimit));
      this.rateTimer = setTimeout(() => { this.rateTimer = null; this.pumpRate(); }, wait);
      return;
    }
    if (this.endAfterRate) {
      this.endAfterRate = false;
      if (this.spool) this.spool.end(); else this.r.res.end();
      return;
    }
    if (!this.paused && !this.finalized) this.conn?.socket.resume();
  }

  private clientDrained(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.finalized) this.armTimer(Stage.ReadingBody, this.conf.readTimeout!);
    if (!this.rateTimer) this.conn?.socket.resume();
  }

  /** The body ended and was well framed; `reusable` when the connection is clean. */
  bodyComplete(reusable: boolean): void {
    this.keepalive = reusable;
    this.finalize(0);
  }

  /** Bad framing in the body: the client sees the truncation. */
  bodyInvalid(reason: string): void {
    this.r.log('error', `${reason} while reading upstream`, this.upstreamUrl());
    this.finalize(502);
  }

  private armTimer(stage: Stage, ms: number): void {
    this.timerStage = stage;
    // The same duration again (most stages use the read timeout): restart the timer in place.
    if (this.timer !== null && this.timerMs === ms) { this.timer.refresh(); return; }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerMs = ms;
    this.timer = setTimeout(this.onTimeoutBound, ms);
  }

  private timerMs = 0;
  private readonly onTimeoutBound = (): void => this.onTimeout();

  private onTimeout(): void {
    this.timer = null;
    if (this.finalized) return;
    if (this.paused) {
      this.r.log('info', 'client timed out (110: Connection timed out) while sending to client', this.upstreamUrl());
      this.keepalive = false;
      this.finalize(408);
      return;
    }
    const stage = this.timerStage;
    this.r.log('error', `upstream timed out (110: Connection timed out) ${STAGE_TEXT[stage]}`, this.upstreamUrl());
    if (this.headerSentToClient) { this.finalize(504); return; }
    this.next(FT.timeout);
  }

  /** nginx's ngx_http_upstream_next: this try failed with `ft`; retry.ts decides what follows. */
  next(ft: number): void {
    if (this.finalized) return;
    const status = failureStatus(ft);
    if (this.state && !this.state.status) this.state.status = status;
    if (this.r.clientAborted) { this.finalize(499); return; }
    const decision = decideRetry(this.tryFacts(ft), (charge) => {
      if (this.pc.peer) this.freePeer(charge);
      return this.pc.tries;
    });
    this.dropConnection();
    if (decision.action === 'same-peer') {
      this.pc.cached = false;
      this.requestSent = false;
      this.newTry().addr = this.pc.address!.name;
      this.openConnection();
      return;
    }
    if (decision.action === 'finalize') {
      this.finalize(decision.status);
      return;
    }
    this.requestSent = false;
    this.stage = Stage.Idle;
    this.connect();
  }

  private freePeer(state: PeerState): void {
    const pc = this.pc;
    pc.responseTime = this.state ? Date.now() - this.tryStart : -1;
    if (state !== PeerState.Ok) pc.keepalive = false;
    this.session.free(pc, state);
    pc.peer = null;
  }

  /** Destroys the connection unless the keep-alive cache took it. */
  private dropConnection(): void {
    const conn = this.conn;
    this.conn = null;
    this.pc.connection = null;
    if (conn && conn.owner === this) conn.destroy();
  }

  private clientAbort(): void {
    if (this.finalized) return;
    if (this.conf.ignoreClientAbort && this.stage !== Stage.ReadingBody) return;
    this.r.log('info', `client prematurely closed connection ${STAGE_TEXT[this.stage] || 'while sending to client'}`, this.upstreamUrl());
    this.protocol.abortRequest(this);
    this.keepalive = false;
    this.finalize(499);
  }

  /** nginx's ngx_http_upstream_finalize_request: the only way out. Idempotent. */
  finalize(rc: number): void {
    if (this.finalized) return;
    this.finalized = true;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    const state = this.state;
    if (state) {
      state.responseTime = Date.now() - this.tryStart;
      if (!state.status && rc >= 100) state.status = rc;
    }
    const stageAtEnd = this.stage;
    this.stage = Stage.Done;
    this.r.onAbort = null;
    if (this.bodyStream) { this.bodyStream.abort(); this.bodyStream = null; }
    if (this.pc.peer) {
      // An upstream may answer before the whole request body arrived (an early
      // 413, a `return`): the rest would be read as the next request, so such a
      // connection is never reused.
      this.pc.keepalive = rc === 0 && this.keepalive && this.requestComplete && this.conn !== null && this.conn.usable;
      this.freePeer(PeerState.Ok);
    }
    this.dropConnection();
    this.protocol.finalizeRequest(this, rc);
    const rateTail = rc === 0 && this.rateQueue.length > 0;
    if (this.rateTimer && !rateTail) { clearTimeout(this.rateTimer); this.rateTimer = null; }
    if (rc === HANDED_OVER) return;
    const r = this.r;
    const res = r.res;
    if (stageAtEnd === Stage.Tunnel) {
      const client = this.r.conn.socket;
      if (rc === 0 && !client.destroyed) client.end(); else client.destroy();
      setImmediate(() => client.destroy());
      return;
    }
    if (this.headerSentToClient) {
      if (rateTail) { this.endAfterRate = true; return; }
      if (rc === 0) {
        if (this.spool) this.spool.end();
        else if (!res.writableEnded) res.end();
        return;
      }
      this.spool?.destroy();
      // Cut the response where it is: what was written reaches the client, then
      // the connection closes without completing the framing (nginx flushes first).
      const socket = res.socket;
      if (!res.writableEnded && socket && !socket.destroyed) {
        res.flushHeaders();
        r.keepalive = false;
        socket.uncork();
        socket.destroySoon();
      } else if (!res.writableEnded) res.destroy();
      return;
    }
    if (rc === 0) rc = 502;
    finalizeHttp(this.r, rc);
  }
}

/** Errors of this process, not of the peer (RELIABILITY F11: never mark the upstream failed). */
const LOCAL_FAILURES = new Set(['EMFILE', 'ENFILE', 'EADDRNOTAVAIL', 'ENOBUFS', 'ENOMEM']);

function errnoText(err: NodeJS.ErrnoException | null): string {
  switch (err?.code) {
    case 'EMFILE': return 'Too many open files';
    case 'ENFILE': return 'Too many open files in system';
    case 'EADDRNOTAVAIL': return 'Cannot assign requested address';
    case 'ECONNREFUSED': return 'Connection refused';
    case 'ECONNRESET': return 'Connection reset by peer';
    case 'EPIPE': return 'Broken pipe';
    case 'ETIMEDOUT': return 'Connection timed out';
    case 'EHOSTUNREACH': return 'No route to host';
    case 'ENETUNREACH': return 'Network is unreachable';
    case 'ENOENT': return 'No such file or directory';
    case 'EACCES': return 'Permission denied';
    default: return err?.message ?? 'Connection refused';
  }
}

/**
 * What is written to `socket` until the end of this tick leaves in one write: a frame's
 * pieces, and the last of the body with its terminator, as nginx sends one chain (a peer
 * may read a record's header without its content, or the data without the last chunk).
 */
function corkForTick(socket: UpstreamConnection['socket']): void {
  if (socket.writableCorked > 0) return;
  socket.cork();
  process.nextTick(() => socket.uncork());
}

/** The connect() errors nginx logs at error level rather than crit (ngx_event_connect_peer). */
const UNIX_CONNECT_ERRORS: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EAGAIN', 'ECONNRESET', 'ENETDOWN', 'ENETUNREACH', 'EHOSTDOWN', 'EHOSTUNREACH']);

function hasErrorPage(r: HttpRequest, status: number): boolean {
  const pages = r.locConf.errorPages;
  return !!pages && pages.some((p) => p.codes.includes(status));
}

/** Appends the fields of `from` named `lname` to `to` (flat [name, value, ...] lists). */
function copyHeaders(from: readonly string[], lname: string, to: string[]): void {
  for (let i = 0; i < from.length; i += 2) {
    if (from[i].length === lname.length && from[i].toLowerCase() === lname) to.push(from[i], from[i + 1]);
  }
}
