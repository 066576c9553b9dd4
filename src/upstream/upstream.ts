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
 * protocol bytes and never chooses a peer. The client it serves is a port
 * (client.ts): an HTTP/1 request through its adapter, an HTTP/2 stream, a
 * test's fake. Its collaborators each own one job: the request sender
 * (request-sender.ts), the response sink with buffering, spool and rate
 * (response-sink.ts), and the upgrade tunnel (tunnel.ts).
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
import type { Channel } from 'node:diagnostics_channel';
import type { TLSSocket } from 'node:tls';
import { GetResult, PeerState, type PeerSession } from '../balancer/types.js';
import type { WeirError } from '../errors.js';
import { PoolKeys, type UpstreamPeerConnection } from '../keepalive/session.js';
import { channels } from '../observability/diagnostics.js';
import type { UpstreamCache } from './cache-port.js';
import type { UpstreamClient, UpstreamLogLevel } from './client.js';
import { UpstreamConnection, type ConnectionOwner } from '../peer/connection.js';
import { connectTls } from '../peer/tls-connect.js';
import { handshakeFailureLine, sslReadFailureLine, type UpstreamTls } from './tls.js';
import { allowsRanges, ControlHeaders, redirectKept } from './control-headers.js';
import type { UpstreamProtocol } from './protocol.js';
import { FT, failureStatus, tryError } from './failure.js';
import { bodyCutLine, localFailure, tryFailureLine } from './peer-errors.js';
import type { LocalAddress } from './local-address.js';
import { TryPeerConnection, type UpstreamPeers } from './peers.js';
import { RequestSender } from './request-sender.js';
import { ResponseSink } from './response-sink.js';
import { decideRetry, statusRetry, type TryFacts } from './retry.js';
import { STAGE_TEXT, Stage } from './stage.js';
import { UpstreamTryState } from './state.js';
import { Tunnel } from './tunnel.js';
import type { UpstreamLocConf } from './upstream-conf.js';

export type { HeaderResult, UpstreamProtocol } from './protocol.js';
export type { SessionLog, UpstreamPeers } from './peers.js';

/** finalize() code: the request continues elsewhere (X-Accel-Redirect); answer nothing. */
const HANDED_OVER = -1;

export class Upstream implements ConnectionOwner {
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
  /** The head's X-Accel-* fields: the protocol hands each field to control.take(). */
  readonly control = new ControlHeaders();
  /** TLS to the peer (nginx's u->ssl), set by the protocol module before start(); null: plain TCP. */
  tls: UpstreamTls | null = null;
  /** The location's cache (cache-port.ts), set by the protocol's module before start(); null: none. */
  cache: UpstreamCache | null = null;

  readonly pc: UpstreamPeerConnection;
  private readonly session: PeerSession;
  private conn: UpstreamConnection | null = null;
  private stage: Stage = Stage.Idle;
  private timer: NodeJS.Timeout | null = null;
  private timerStage: Stage = Stage.Idle;
  private timerMs = 0;
  private readonly onTimeoutBound = (): void => this.onTimeout();
  private headerSentToClient = false;
  private finalized = false;
  private state: UpstreamTryState | null = null;
  private readonly states: UpstreamTryState[] = [];
  private readonly startMs = Date.now();
  private tryStart = 0;
  private sender: RequestSender | null = null;
  private readonly sink = new ResponseSink(this);
  private tunnel: Tunnel | null = null;
  /** The last try's failure, once an observer asked for errors (diagnostics.ts). */
  private failure: WeirError | null = null;
  /** *_bind for this request, evaluated at the first connect (undefined until then). */
  private local: LocalAddress | null | undefined = undefined;

  constructor(
    readonly client: UpstreamClient,
    readonly conf: UpstreamLocConf,
    readonly group: UpstreamPeers,
    readonly protocol: UpstreamProtocol,
    /**
     * The location's pool scope for `keepalive ... local` (one PoolKeys per location and
     * protocol); by default connections are shared by every user of the upstream.
     */
    poolKeys: PoolKeys = new PoolKeys(),
  ) {
    this.session = group.createSession(client, poolKeys, client.errorLog);
    const tries = conf.nextUpstreamTries! > 0 ? Math.min(conf.nextUpstreamTries!, this.session.tries) : this.session.tries;
    this.pc = new TryPeerConnection(this, tries);
    client.addTryStates(this.states);
  }

  /** The connection of the try in progress; null between tries and once finalized. */
  get connection(): UpstreamConnection | null {
    return this.conn;
  }

  /** A line about this upstream (the protocol's warnings), naming the peer as nginx does. */
  log(level: UpstreamLogLevel, message: string): void {
    this.client.log(level, message, this.upstreamUrl());
  }

  /** A line about the peer (balancer warnings), with the stage and upstream as nginx writes them. */
  logWithStage(level: 'warn' | 'error' | 'info', message: string): void {
    const stage = STAGE_TEXT[this.stage];
    this.log(level, stage ? `${message} ${stage}` : message);
  }

  /**
   * The upstream URL for log lines: `http://127.0.0.1:8081/uri?args` (the URI
   * as sent), `http://unix:/path:/uri`, `memcached://127.0.0.1:11211`.
   */
  upstreamUrl(): string {
    const name = this.pc.address ? this.pc.address.name : this.group.name;
    const uri = this.protocol.uri ?? '';
    const separator = uri !== '' && name.startsWith('unix:') ? ':' : '';
    return `${this.tls !== null ? 'https' : this.protocol.name}://${name}${separator}${uri}`;
  }

  /**
   * Starts the first try. A buffered body was already read (client.body); with
   * `streamBody` the body is read while it is sent (proxy_request_buffering off),
   * chunk-framed when `chunked` (length unknown, HTTP/1.1 upstream).
   */
  start(streamBody = false, chunked = false): void {
    this.sender = new RequestSender(this, this.client.body, streamBody, chunked);
    // nginx reads (or judges) the body before ngx_http_upstream_init: the 100 goes out first
    this.client.sendContinue();
    this.client.onAbort = () => this.clientAbort();
    if (this.cache !== null) { this.cache.lookup(this, () => this.connect()); return; }
    this.connect();
  }

  /** The cache answers the client (a hit, a stale or revalidated entry): the core lets go of everything. */
  cacheAnswers(): void {
    this.keepalive = false;
    this.finalize(HANDED_OVER);
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
    this.control.reset();
    this.pc.cached = false;
    this.pc.connection = null;
    this.pc.keepalive = false;
    const rc = this.session.get(this.pc);
    if (rc === GetResult.Busy) {
      state.addr = this.group.name;
      this.log('error', 'no live upstreams while connecting to upstream');
      this.next(FT.nolive, 'no live upstreams while connecting to upstream');
      return;
    }
    state.addr = this.pc.address!.name;
    const cached = this.pc.connection as UpstreamConnection | null;
    if (rc === GetResult.Cached && cached) {
      this.conn = cached;
      cached.owner = this;
      this.pc.cached = true;
      state.connectTime = 0;
      if (channels.upstreamConnected.hasSubscribers) this.publishTry(channels.upstreamConnected, true);
      this.sendRequest();
      return;
    }
    this.openConnection();
  }

  /** A new connection to the chosen peer (not from the cache). */
  private openConnection(): void {
    this.stage = Stage.Connecting;
    if (channels.upstreamConnect.hasSubscribers) this.publishTry(channels.upstreamConnect, false);
    // The handshake's settings come first: one that cannot be made is a 500, before any connect.
    const tls = this.tls !== null ? this.tls.params(this.pc.address!) : null;
    if (this.tls !== null && tls === null) { this.finalize(500); return; }
    this.group.cache?.noteConnect();
    if (this.local === undefined) this.local = this.client.localAddress();
    const conn = tls === null
      ? UpstreamConnection.connect(this.pc.address!, this.local, () => this.onConnected())
      : connectTls(this.pc.address!, this.local, tls, () => this.onTcpConnected(), () => this.onConnected());
    conn.owner = this;
    this.conn = conn;
    this.pc.connection = conn;
    this.armTimer(Stage.Connecting, this.conf.connectTimeout!);
  }

  /** TLS: TCP is up and the handshake runs, still under connect_timeout (nginx keeps the connect timer). */
  private onTcpConnected(): void {
    if (this.finalized || this.stage !== Stage.Connecting) return;
    this.stage = Stage.Handshaking;
    this.timerStage = Stage.Handshaking;
  }

  private onConnected(): void {
    if (this.finalized || (this.stage !== Stage.Connecting && this.stage !== Stage.Handshaking)) return;
    if (this.tls !== null) {
      // ngx_http_upstream_ssl_handshake: the certificate is judged before anything is sent.
      const bad = this.tls.verify(this.conn!.socket as TLSSocket, this.pc.address!);
      if (bad !== null) {
        this.log('error', `${bad} while SSL handshaking to upstream`);
        this.next(FT.error, bad);
        return;
      }
    }
    this.state!.connectTime = Date.now() - this.tryStart;
    if (channels.upstreamConnected.hasSubscribers) this.publishTry(channels.upstreamConnected, false);
    if (this.conf.socketKeepalive) this.conn!.socket.setKeepAlive(true);
    this.sendRequest();
  }

  private publishTry(ch: Channel, cached: boolean): void {
    ch.publish({ upstream: this.group.name, peer: this.pc.address!.name, attempt: this.states.length, cached });
  }

  private sendRequest(): void {
    this.stage = Stage.Sending;
    this.sender!.send(this.conn!);
  }

  // Called by the request sender.

  /** Request bytes sent (head and body). */
  countSent(n: number): void {
    this.state!.bytesSent += n;
  }

  /** The request is not all out yet: the send timeout runs. */
  sendWaits(): void {
    this.armTimer(Stage.Sending, this.conf.sendTimeout!);
  }

  /** The whole request went: the response head is awaited. */
  sent(): void {
    if (this.stage !== Stage.Sending) return;
    this.stage = Stage.ReadingHeader;
    this.armTimer(Stage.ReadingHeader, this.conf.readTimeout!);
  }

  /** Reading the client's body failed with `status` (400, 408, 413). */
  failed(status: number): void {
    this.keepalive = false;
    this.finalize(status);
  }

  refreshTimer(): void {
    this.timer?.refresh();
  }

  // ConnectionOwner: socket events for the connection in use.

  onDrain(conn: UpstreamConnection): void {
    if (conn !== this.conn) return;
    if (this.sender!.drained()) return;
    if (this.stage === Stage.Sending) this.sent();
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
        const line = `${this.invalidReason} while reading response header from upstream`;
        this.log('error', line);
        if (rc === 'invalid') { this.next(FT.invalid_header, line); return; }
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
    if (this.tunnel !== null) this.tunnel.toClient(chunk);
  }

  onEnd(conn: UpstreamConnection): void {
    if (conn !== this.conn || this.finalized) return;
    if (this.tunnel !== null) { this.tunnel.halfClose(true); return; }
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
    const sslLine = this.tls !== null && stage !== Stage.Handshaking ? sslReadFailureLine(err, STAGE_TEXT[stage]!) : null;
    if (stage === Stage.ReadingBody) {
      if (!err && this.protocol.inputEof(this) === 'complete') { this.finalize(0); return; }
      if (sslLine !== null) this.log(sslLine.level, sslLine.message);
      else this.log('error', bodyCutLine(err, this.control.bufferingFor(this.conf)));
      this.finalize(502);
      return;
    }
    if (stage === Stage.Handshaking) {
      const line = handshakeFailureLine(err);
      this.log(line.level, line.message);
      this.next(FT.error, line.message, err);
      return;
    }
    const local = stage === Stage.Connecting ? localFailure(err) : null;
    if (local !== null) {
      this.log(local.level, local.message);
      if (this.pc.peer) this.freePeer(PeerState.Next);
      this.finalize(500);
      return;
    }
    const address = this.pc.address;
    const line = sslLine ?? tryFailureLine(stage, err, address !== null && address.family === 0 ? address.name : null);
    this.log(line.level, line.message);
    this.next(FT.error, line.message, err);
  }

  private processHeaderDone(rest: Buffer): void {
    const client = this.client;
    const state = this.state!;
    state.status = this.status;
    state.headerTime = Date.now() - this.tryStart;
    this.pc.headerTime = state.headerTime;
    // Retry on listed statuses while other peers remain (ngx_http_upstream_test_next).
    const ft = statusRetry(this.status, this.pc.tries, () => this.tryFacts(0));
    if (ft !== 0) {
      this.next(ft, `upstream answered ${this.status}`);
      return;
    }
    if (this.conf.interceptErrors && this.status >= 300 && client.hasErrorPage(this.status)) {
      // The error page answers a 401 with the upstream's challenges (ngx_http_upstream_intercept_errors).
      if (this.status === 401) copyHeaders(this.headersOut, 'www-authenticate', client.headersOut);
      this.keepalive = false;
      this.finalize(this.status);
      return;
    }
    if (this.cache !== null && this.cache.header(this)) { this.cacheAnswers(); return; }
    // The response will be this peer's: the balancer hears of it (nginx's NGX_HTTP_UPSTREAM_NOTIFY_HEADER).
    this.session.notify?.(this.pc);
    // Before X-Accel-Redirect: the rate stays with the request wherever it goes, as nginx's limit_rate_set.
    const rate = this.control.clientRate(this.conf);
    if (rate >= 0) client.setLimitRate(rate);
    // X-Accel-Charset: the charset filter recodes to it (ngx_http_upstream_process_charset).
    const charset = this.control.charset(this.conf);
    if (charset !== null) client.setCharset(charset);
    const target = this.control.redirectTarget(this.conf);
    if (target !== null) {
      // The upstream is released, its body unread; the request goes on there with some of its fields.
      this.keepalive = false;
      this.finalize(HANDED_OVER);
      const { kept, contentType } = redirectKept(this.headersOut);
      client.redirect(target, kept, contentType);
      return;
    }
    if (this.status === 101) { this.startTunnel(rest); return; }
    this.stage = Stage.ReadingBody;
    // The read timeout goes on for the body, and a timeout now says "while reading upstream".
    this.armTimer(Stage.ReadingBody, this.conf.readTimeout!);
    this.sink.begin(this.control.bufferingFor(this.conf), client.readRate());
    this.protocol.inputFilterInit(this);
    this.headerSentToClient = true;
    const ranges = allowsRanges(this.headersOut, this.conf, this.cache?.cacheable ?? false);
    const sent = client.sendHeader(this.status, this.statusLine, this.headersOut, this.contentLength, this.locationRewritten, ranges);
    if (sent !== 0) {
      // A filter's answer (416) replaces this response: nothing of it went out.
      if (sent !== 499) this.headerSentToClient = false;
      this.finalize(sent);
      return;
    }
    if (this.finalized) return;
    if ((client.method === 'HEAD' && !(this.cache?.storing ?? false)) || this.status === 204 || this.status === 304) {
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
    this.client.closeAfter();
    this.state!.status = 502;
    this.headerSentToClient = true;
    if (this.client.sendHeader(502, null, [], 0, true, false) !== 0) { this.finalize(499); return; }
    this.finalize(0);
  }

  /** 101 for a client that asked to upgrade: the head goes now, then raw bytes both ways (tunnel.ts). */
  private startTunnel(rest: Buffer): void {
    this.stage = Stage.Tunnel;
    this.headerSentToClient = true;
    this.keepalive = false;
    // The head as any other (Server, Date, `Connection: upgrade`), sent now: the tunnel writes raw bytes after it.
    this.client.sendHeader(101, this.statusLine, this.headersOut, -1, true, false);
    this.client.reply.flushHeaders();
    const { socket, early } = this.client.upgrade();
    this.tunnel = new Tunnel(this, socket, this.conn!.socket, rest, early);
    this.armTimer(Stage.Tunnel, this.conf.readTimeout!);
  }

  /** The facts of this try for the retry rules (retry.ts). */
  private tryFacts(ft: number): TryFacts {
    const sender = this.sender!;
    return {
      ft,
      method: this.client.method,
      requestSent: sender.started,
      bodyStreamed: this.client.bodyStreamed && sender.body === null,
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
    if (view.length === 0 || this.finalized) return;
    if (this.cache !== null && this.cache.storing) this.cache.body(view);
    if (this.client.method === 'HEAD') return;
    this.sink.write(view);
  }

  /** The body ended and was well framed; `reusable` when the connection is clean. */
  bodyComplete(reusable: boolean): void {
    this.keepalive = reusable;
    this.finalize(0);
  }

  /** Bad framing in the body: the client sees the truncation. */
  bodyInvalid(reason: string): void {
    this.log('error', `${reason} while reading upstream`);
    this.finalize(502);
  }

  /** Called by the response sink: the client holds the upstream back (its send_timeout runs), or no longer. */
  clientHolds(holding: boolean): void {
    this.armTimer(Stage.ReadingBody, holding ? this.client.sendTimeout : this.conf.readTimeout!);
  }

  private armTimer(stage: Stage, ms: number): void {
    this.timerStage = stage;
    // The same duration again (most stages use the read timeout): restart the timer in place.
    if (this.timer !== null && this.timerMs === ms) { this.timer.refresh(); return; }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerMs = ms;
    this.timer = setTimeout(this.onTimeoutBound, ms);
  }

  private onTimeout(): void {
    this.timer = null;
    if (this.finalized) return;
    if (this.sink.holding) {
      this.log('info', 'client timed out (110: Connection timed out) while sending to client');
      this.keepalive = false;
      this.finalize(408);
      return;
    }
    const stage = this.timerStage;
    const line = `upstream timed out (110: Connection timed out) ${STAGE_TEXT[stage]}`;
    this.log('error', line);
    if (this.headerSentToClient) { this.finalize(504); return; }
    this.next(FT.timeout, line);
  }

  /**
   * nginx's ngx_http_upstream_next: this try failed with `ft` (`reason`: the
   * line logged for it); retry.ts decides what follows.
   */
  next(ft: number, reason = '', cause: NodeJS.ErrnoException | null = null): void {
    if (this.finalized) return;
    const status = failureStatus(ft);
    if (this.state && !this.state.status) this.state.status = status;
    if (this.client.aborted) { this.finalize(499); return; }
    const peer = this.pc.address !== null ? this.pc.address.name : '';
    const connecting = this.stage === Stage.Connecting || this.stage === Stage.Handshaking;
    const decision = decideRetry(this.tryFacts(ft), (charge) => {
      if (this.pc.peer) this.freePeer(charge);
      return this.pc.tries;
    });
    if (observed(connecting, decision.action)) {
      const error = tryError(ft, reason, peer, { connecting, cause });
      this.failure = error;
      const event = { upstream: this.group.name, peer, attempt: this.states.length, error };
      if (connecting && channels.upstreamConnectError.hasSubscribers) channels.upstreamConnectError.publish(event);
      if (decision.action !== 'finalize' && channels.upstreamRetry.hasSubscribers) channels.upstreamRetry.publish({ ...event, action: decision.action });
    }
    this.dropConnection();
    if (decision.action === 'same-peer') {
      this.pc.cached = false;
      this.sender!.started = false;
      this.newTry().addr = this.pc.address!.name;
      this.openConnection();
      return;
    }
    if (decision.action === 'finalize') {
      if (this.cache !== null && !this.headerSentToClient && this.cache.failed(ft)) { this.cacheAnswers(); return; }
      this.finalize(decision.status);
      return;
    }
    this.sender!.started = false;
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
    this.log('info', `client prematurely closed connection ${STAGE_TEXT[this.stage] || 'while sending to client'}`);
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
    this.stage = Stage.Done;
    this.client.onAbort = null;
    if (channels.upstreamFinalize.hasSubscribers) {
      const peer = this.pc.address !== null ? this.pc.address.name : '';
      channels.upstreamFinalize.publish({ upstream: this.group.name, peer, attempt: this.states.length, status: rc, error: this.failure ?? undefined });
    }
    this.sender?.abort();
    if (this.pc.peer) {
      // An upstream may answer before the whole request body arrived (an early
      // 413, a `return`): the rest would be read as the next request, so such a
      // connection is never reused.
      this.pc.keepalive = rc === 0 && this.keepalive && this.sender!.complete && this.conn !== null && this.conn.usable;
      this.freePeer(PeerState.Ok);
    }
    this.dropConnection();
    this.protocol.finalizeRequest(this, rc);
    this.cache?.finish(rc);
    if (rc === HANDED_OVER) return;
    if (this.tunnel !== null) { this.tunnel.close(rc === 0); this.client.tunnelDone(); return; }
    if (this.headerSentToClient) {
      if (rc === 0) { this.sink.end(); return; }
      this.sink.destroy();
      // Cut the response where it is: what was written reaches the client, then
      // the connection closes without completing the framing (nginx flushes first).
      this.client.reply.cut();
      return;
    }
    this.sink.destroy();
    this.client.finalize(rc === 0 ? 502 : rc);
  }
}

/** Someone listens for the failure: the error is built only then (an Error's stack is not free). */
function observed(connecting: boolean, action: string): boolean {
  return channels.upstreamFinalize.hasSubscribers || (action !== 'finalize' && channels.upstreamRetry.hasSubscribers)
    || (connecting && channels.upstreamConnectError.hasSubscribers);
}

/** Appends the fields of `from` named `lname` to `to` (flat [name, value, ...] lists). */
function copyHeaders(from: readonly string[], lname: string, to: string[]): void {
  for (let i = 0; i < from.length; i += 2) {
    if (from[i].length === lname.length && from[i].toLowerCase() === lname) to.push(from[i], from[i + 1]);
  }
}
