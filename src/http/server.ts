/**
 * Listening sockets, connections and the start of each request
 * (ngx_http_init_connection, ngx_http_process_request_line/headers,
 * ngx_http_find_virtual_server).
 *
 * One net server per listening socket. As nginx, a wildcard listen
 * (`*:80`, `[::]:80`) on a port serves the specific addresses of that port too,
 * choosing their server set by the connection's local address; a specific
 * address gets its own socket only when no wildcard covers its port.
 *
 * Each connection speaks HTTP/1 through H1Connection (our own parser, strict
 * as nginx and RFC 9112: see h1/request-head.ts); validateRequestHead then
 * applies nginx's rules to the parsed head. An address with HTTP/2 (`http2
 * on` in its default server, or `listen ... http2`) takes a connection that
 * opens with the HTTP/2 preface, or a TLS one whose ALPN chose h2, as an
 * H2Session (h2/session.ts), whose streams come to the same request path.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { ConfigError } from '../config/errors.js';
import type { HttpConfLevel } from '../config/module.js';
import type { ErrorLog } from '../observability/error-log.js';
import { httpCoreModule, type CoreMainConf, type CoreLocConf, type CoreSrvConf, type LocationEntry, type ServerEntry } from './core-module.js';
import { listenText, type ListenConf } from './listen.js';
import { errnoText } from '../errno.js';
import { LocationTree, type LocationSpec } from './location-tree.js';
import { pcreGroupNames } from './pcre.js';
import { bindCoreIndex, finalize, logRequest, Phase, runPhases, sendSpecial, setLocation } from './phases.js';
import { specialPage, statusLine } from './special-response.js';
import { HttpRequest, type ConnectionState, type ServerRuntime } from './request.js';
import { invalidHeaderLogText, validateRequestHead } from './request-validation.js';
import { ServerNames } from './server-names.js';
import { EscapeType, escapeUri, parseRequestUri } from './uri.js';
import type { ModuleRegistry } from '../config/conf-context.js';
import { channels } from '../observability/diagnostics.js';
import { WeirError, WeirErrorCode } from '../errors.js';
import { H1Connection, type H1Handler, type H1Options } from './h1/connection.js';
import type { IncomingRequest } from './h1/incoming.js';
import type { ServerReply } from './h1/reply.js';
import type { RequestHeadParser } from './h1/request-head.js';
import { acceptTls, shareTlsInfo, tlsInfoOf, type TlsChooser } from './tls/acceptor.js';
import { checkTlsRequest } from './tls/request-check.js';
import { sslSrvConf, type ServerTls } from './tls/ssl-module.js';
import type { ClientReply } from './client-reply.js';
import type { ClientConnection } from './request.js';
import { h2SrvConf } from './h2/h2-module.js';
import { sniffPreface } from './h2/preface.js';
import { startH2Session, type H2Limits, type H2StreamStart } from './h2/session.js';
import { MAX_HEADER as MAX_PROXY_HEADER, type ProxyProtocol } from './proxy-protocol.js';
import { readProxyProtocol } from './proxy-protocol-reader.js';

const kConn = Symbol('weir.connection');
type SocketWithState = Socket & { [kConn]?: ConnectionState };

/** Connections of an ssl port that sent plain HTTP (nginx's c->ssl unset, r->plain_http): answered 497. */
const plainHttp = new WeakSet<Socket>();

let connectionSerial = 0;

/** The 400 page for a body whose framing broke mid-response (no location conf at hand: the short token). */
function badRequestPage(status: number): Buffer {
  return specialPage(status, 'off')!;
}

class ServerRuntimeImpl implements ServerRuntime {
  readonly name: string;
  private readonly tree: LocationTree<HttpConfLevel>;
  /** Named captures of regex locations become variables: their slots, per regex source. */
  private readonly captureSlots = new Map<string, Array<[string, number]>>();

  constructor(readonly entry: ServerEntry, readonly level: HttpConfLevel, readonly core: CoreSrvConf, readonly main: CoreMainConf) {
    // $server_name: the first name, a wildcard's leading dot dropped (ngx_http_core_merge_srv_conf).
    const first = core.serverNames[0]?.name ?? '';
    this.name = first.startsWith('.') ? first.slice(1) : first;
    this.tree = new LocationTree(entry.locations.map((e) => this.spec(e)));
  }

  private spec(e: LocationEntry): LocationSpec<HttpConfLevel> {
    if (e.modifier === '~' || e.modifier === '~*') {
      const names = pcreGroupNames(e.name);
      if (names.length) this.captureSlots.set(e.name, names.map((n) => [n, this.main.variables.declareSettable(n)]));
    }
    const core = e.level.loc[coreIndexOf] as CoreLocConf;
    return {
      modifier: e.modifier,
      name: e.name,
      payload: e.level,
      children: e.children.map((c) => this.spec(c)),
      autoRedirect: e.name.endsWith('/') && core.handler?.name !== undefined && core.handler.name !== 'static',
      file: e.file,
      line: e.line,
    };
  }

  findLocation(r: HttpRequest, uri: string): HttpConfLevel {
    const m = this.tree.find(uri);
    r.autoRedirect = m !== null && m.redirect ? escapeUri(m.name, EscapeType.Uri) : null;
    if (!m) return this.level;
    if (m.captures) {
      r.captures = m.captures;
      const slots = m.captures.groups ? this.captureSlots.get(m.name) : undefined;
      if (slots) for (const [name, index] of slots) r.variables[index] = m.captures.groups![name];
    }
    return m.payload;
  }

  findNamed(name: string): HttpConfLevel | null {
    return this.tree.findNamed(name) ?? null;
  }
}

let coreIndexOf = 0;

const limitsByServer = new WeakMap<ServerRuntimeImpl, H2Limits>();

/** A server's HTTP/2 connection settings, built on first use. */
function h2Limits(server: ServerRuntimeImpl): H2Limits {
  let l = limitsByServer.get(server);
  if (l !== undefined) return l;
  const h2 = h2SrvConf(server.level);
  const loc = server.level.loc[coreIndexOf] as CoreLocConf;
  const buffers = server.core.largeClientHeaderBuffers!;
  l = {
    maxConcurrentStreams: h2?.maxConcurrentStreams ?? 128,
    bodyPrereadSize: h2?.bodyPrereadSize ?? 65536,
    headerListSize: buffers.size * buffers.num,
    maxHeaders: server.core.maxHeaders!,
    keepaliveTimeout: loc.keepaliveTimeout!,
    keepaliveRequests: loc.keepaliveRequests!,
    keepaliveTime: loc.keepaliveTime!,
    headerTimeout: server.core.clientHeaderTimeout!,
    resetBurst: 1000,
  };
  limitsByServer.set(server, l);
  return l;
}

/** The servers reachable through one local address. */
interface AddressServers {
  readonly names: ServerNames<ServerRuntimeImpl>;
  readonly defaultServer: ServerRuntimeImpl;
  /** `listen ... proxy_protocol` for this address (nginx's addr_conf->proxy_protocol). */
  readonly proxyProtocol: boolean;
}

interface Listener {
  readonly conf: ListenConf;
  server: Server;
  /** Local address (as Node reports it) → its server set; '' = the wildcard's own set. */
  readonly byAddress: Map<string, AddressServers>;
}

/** listen(2) on the listener's address; resolves the error, or null once it accepts. */
function bindListener(l: Listener): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const { host, port, path, backlog, ipv6only } = l.conf;
    const onError = (err: NodeJS.ErrnoException): void => resolve(err);
    l.server.once('error', onError);
    const done = (): void => { l.server.off('error', onError); resolve(null); };
    if (path !== null) l.server.listen({ path, backlog }, done);
    else l.server.listen({ host: host ?? '0.0.0.0', port, backlog, ipv6Only: host !== null && host.includes(':') ? ipv6only : undefined }, done);
  });
}

function bindErrorText(l: Listener, err: NodeJS.ErrnoException): string {
  const path = l.conf.path;
  // libuv reports a unix socket's missing directory as EACCES (for Windows' sake); bind(2) said ENOENT.
  if (path !== null && err.code === 'EACCES' && !existsSync(dirname(path))) err = Object.assign(new Error(err.message), { code: 'ENOENT' });
  return `bind() to ${listenText(l.conf.key)} failed (${errnoText(err)})`;
}

export class HttpServers {
  private readonly listeners: Listener[] = [];
  private readonly connections = new Set<SocketWithState>();
  /** Connections of ssl listeners still before their first HTTP byte (reading the ClientHello, handshaking). */
  private readonly handshaking = new Set<Socket>();
  private stopping = false;
  /** A fast stop: a connection that comes out of its handshake after it is closed, not served. */
  private stoppedFast = false;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(registry: ModuleRegistry, httpLevel: HttpConfLevel, private readonly errorLog: ErrorLog) {
    coreIndexOf = registry.indexOf(httpCoreModule);
    bindCoreIndex(coreIndexOf);
    const main = httpLevel.main[coreIndexOf] as CoreMainConf;
    const runtimes = main.servers.map((s) => new ServerRuntimeImpl(s, s.level, s.level.srv[coreIndexOf] as CoreSrvConf, main));
    this.build(runtimes);
  }

  private build(runtimes: ServerRuntimeImpl[]): void {
    // Group (listen conf, server) by address key.
    const byKey = new Map<string, { conf: ListenConf; servers: ServerRuntimeImpl[]; defaults: ServerRuntimeImpl[] }>();
    for (const rt of runtimes) {
      for (const l of rt.core.listens) {
        let g = byKey.get(l.key);
        if (!g) { g = { conf: l, servers: [], defaults: [] }; byKey.set(l.key, g); }
        g.servers.push(rt);
        // `ssl` on any listen of an address makes the address ssl (ngx_http_add_addresses).
        if (l.ssl && !g.conf.ssl) g.conf = { ...g.conf, ssl: true };
        if (l.http2 === true && g.conf.http2 !== true) g.conf = { ...g.conf, http2: true };
        if (l.proxyProtocol === true && g.conf.proxyProtocol !== true) g.conf = { ...g.conf, proxyProtocol: true };
        if (l.defaultServer) {
          if (g.defaults.length) throw new ConfigError(`a duplicate default server for ${l.key}`, { file: rt.entry.file, line: rt.entry.line });
          g.defaults.push(rt);
          if (l.backlog !== 511 || l.reuseport) {
            g.conf = { ...l, ssl: l.ssl || g.conf.ssl, http2: l.http2 === true || g.conf.http2 === true, proxyProtocol: l.proxyProtocol === true || g.conf.proxyProtocol === true };
          }
        }
      }
    }
    const wildcardPorts = new Map<string, Listener>();
    const groups = [...byKey.values()];
    // Wildcards first, so specific addresses can join them.
    groups.sort((a, b) => Number(a.conf.host !== null || a.conf.path !== null) - Number(b.conf.host !== null || b.conf.path !== null));
    for (const g of groups) {
      const set = this.addressServers(g.conf.key, g.servers, g.defaults[0], g.conf.proxyProtocol === true);
      const { host, port, path } = g.conf;
      const family = host === null ? 4 : host.includes(':') ? 6 : 4;
      const wildcardKey = `${family === 6 || host === '::' ? 6 : 4}:${port}`;
      if (path === null && host !== null && host !== '::') {
        const wild = wildcardPorts.get(`4:${port}`);
        if (wild && family === 4) { wild.byAddress.set(host, set); continue; }
      }
      if (path === null && host !== null && family === 6 && host !== '::') {
        const wild = wildcardPorts.get(`6:${port}`);
        if (wild) { wild.byAddress.set(host, set); continue; }
      }
      const listener: Listener = { conf: g.conf, server: null!, byAddress: new Map([['', set]]) };
      listener.server = this.createNetServer(listener, set);
      this.listeners.push(listener);
      if (path === null && (host === null || host === '::')) wildcardPorts.set(wildcardKey, listener);
    }
  }

  private addressServers(key: string, servers: ServerRuntimeImpl[], def: ServerRuntimeImpl | undefined, proxyProtocol: boolean): AddressServers {
    const specs = servers.map((s) => ({
      payload: s,
      names: s.core.serverNames.map((n) => n.name),
      defaultServer: s === def,
      file: s.entry.file,
      line: s.entry.line,
    }));
    let names: ServerNames<ServerRuntimeImpl>;
    try {
      names = new ServerNames(specs, key);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
    for (const w of names.warnings) this.errorLog.log('warn', w);
    return { names, defaultServer: def ?? servers[0], proxyProtocol };
  }

  private createNetServer(listener: Listener, set: AddressServers): Server {
    const srv = set.defaultServer.core;
    const buffers = srv.largeClientHeaderBuffers!;
    const loc = set.defaultServer.level.loc[coreIndexOf] as CoreLocConf;
    const options = {
      bufferSize: buffers.size,
      bufferCount: buffers.num,
      headerTimeout: srv.clientHeaderTimeout!,
      lingeringTimeout: loc.lingeringTimeout!,
      lingeringTime: loc.lingeringTime!,
    };
    const handler = new ListenerHandler(this, listener);
    // Half-open: a client's FIN is the end of its requests, not of our answers (and a tunnel passes it on).
    if (!listener.conf.ssl) {
      return createServer({ noDelay: true, allowHalfOpen: true }, (socket: SocketWithState) => {
        const id = ++connectionSerial;
        const addr = this.serversFor(socket, listener);
        if (!addr.proxyProtocol) { this.startPlain(socket, listener, addr, handler, options, id, null); return; }
        this.readProxy(socket, listener, addr.defaultServer.core.clientHeaderBufferSize!, options.headerTimeout, id, (pp) => {
          this.startPlain(socket, listener, addr, handler, options, id, pp);
        });
      });
    }
    return createServer({ noDelay: true, allowHalfOpen: true }, (raw: Socket) => {
      const id = ++connectionSerial;
      const addr = this.serversFor(raw as SocketWithState, listener);
      if (!addr.proxyProtocol) { this.startTls(raw, listener, addr, handler, options, id, null); return; }
      this.readProxy(raw, listener, MAX_PROXY_HEADER, options.headerTimeout, id, (pp) => this.startTls(raw, listener, addr, handler, options, id, pp));
    });
  }

  /**
   * A `proxy_protocol` address: its header first (ngx_http_wait_request_handler's
   * hc->proxy_protocol), then `next` with the socket paused, the bytes after
   * the header unshifted.
   */
  private readProxy(socket: Socket, listener: Listener, v2Limit: number, timeoutMs: number, id: number, next: (pp: ProxyProtocol | null) => void): void {
    this.handshaking.add(socket);
    const forget = (): void => { this.handshaking.delete(socket); };
    socket.once('close', forget);
    readProxyProtocol(socket, { timeoutMs, v2Limit, log: this.errorLog, connId: id, server: listenText(listener.conf.key) }, (pp) => {
      socket.off('close', forget);
      forget();
      if (this.stoppedFast) { socket.destroy(); return; }
      next(pp);
    });
  }

  /** A cleartext connection: HTTP/1, or HTTP/2 when its first bytes are the preface. */
  private startPlain(socket: SocketWithState, listener: Listener, addr: AddressServers, handler: ListenerHandler, options: H1Options, id: number, pp: ProxyProtocol | null): void {
    const def = addr.defaultServer;
    // after a PROXY header the socket is paused (its next bytes unshifted): resumed once a reader is on it
    const paused = addr.proxyProtocol;
    if (!this.h2On(listener, def)) {
      this.onConnection(socket, new H1Connection(socket, handler, options), id, pp);
      if (paused) socket.resume();
      return;
    }
    this.handshaking.add(socket);
    socket.once('close', () => this.handshaking.delete(socket));
    sniffPreface(socket, options.headerTimeout, (h2, data) => {
      this.handshaking.delete(socket);
      if (this.stoppedFast) { socket.destroy(); return; }
      if (h2) { this.startH2(socket, data, listener, def, id, pp); return; }
      socket.unshift(data);
      this.onConnection(socket, new H1Connection(socket, handler, options), id, pp);
      socket.resume();
    });
    if (paused) socket.resume();
  }

  /** A connection of an ssl address: the acceptor's ClientHello and handshake, then HTTP/1 or HTTP/2. */
  private startTls(raw: Socket, listener: Listener, addr: AddressServers, handler: ListenerHandler, options: H1Options, id: number, pp: ProxyProtocol | null): void {
    // Until it speaks HTTP a connection is only the acceptor's: a stop must still find it.
    this.handshaking.add(raw);
    raw.once('close', () => this.handshaking.delete(raw));
    const chooser: TlsChooser<ServerRuntimeImpl> = {
      choose: (name) => (name === null ? addr.defaultServer : addr.names.find(name).payload),
      tlsOf: (s) => (sslSrvConf(s.level)?.tls ?? null) as ServerTls | null,
      rejects: (s) => sslSrvConf(s.level)?.rejectHandshake === true,
      timeoutMs: options.headerTimeout,
      h2: (s) => this.h2On(listener, s),
    };
    acceptTls(raw, chooser, this.errorLog, () => id, ({ socket, plainHttp: plain }) => {
      this.handshaking.delete(raw);
      if (this.stoppedFast) { socket.destroy(); return; }
      if (!plain && (socket as { alpnProtocol?: string | false }).alpnProtocol === 'h2') {
        const chosen = this.tlsChosen(socket) ?? addr.defaultServer;
        // Still before the first stream: a stop must find it (as a handshake).
        this.handshaking.add(socket);
        socket.once('close', () => this.handshaking.delete(socket));
        sniffPreface(socket, options.headerTimeout, (_h2, data) => {
          this.handshaking.delete(socket);
          if (this.stoppedFast) { socket.destroy(); return; }
          this.startH2(socket, data, listener, chosen, id, pp);
        });
        return;
      }
      if (plain) plainHttp.add(socket);
      const conn = new H1Connection(socket, handler, options);
      this.onConnection(socket as SocketWithState, conn, id, pp);
      // The acceptor paused the socket to hand its first bytes over.
      if (plain) socket.resume();
    });
    if (addr.proxyProtocol) raw.resume();
  }

  /** HTTP/2 on a connection's server: `http2 on` there, or `listen ... http2` on the address. */
  private h2On(listener: Listener, server: ServerRuntimeImpl): boolean {
    return listener.conf.http2 === true || h2SrvConf(server.level)?.enable === true;
  }

  /** The server block a TLS handshake chose by SNI (its settings are the session's, as nginx's conf_ctx). */
  private tlsChosen(socket: Socket): ServerRuntimeImpl | null {
    const info = tlsInfoOf(socket);
    return info !== undefined && info.chosen instanceof ServerRuntimeImpl ? info.chosen : null;
  }

  private startH2(socket: Socket, data: Buffer, listener: Listener, server: ServerRuntimeImpl, id: number, pp: ProxyProtocol | null): void {
    const session = startH2Session(socket, data, h2Limits(server), id, (s) => this.h2Stream(s, socket, listener, pp));
    this.onConnection(socket as SocketWithState, session, id, pp);
    // Counted as having served, so that a graceful stop sends its GOAWAY at once even before a first stream.
    (socket as SocketWithState)[kConn]!.requests = 1;
    // Begun as the worker stops: GOAWAY at once (ngx_http_v2_init under ngx_exiting).
    if (this.stopping) session.close();
  }

  /** A stream's request: the same path as an HTTP/1 request's. */
  private h2Stream(s: H2StreamStart, real: Socket, listener: Listener, pp: ProxyProtocol | null): void {
    const facade = s.conn.socket as SocketWithState;
    if (pp !== null) s.conn.proxyProtocol = pp;
    shareTlsInfo(real, facade);
    facade[kConn] = s.conn;
    s.conn.closing = this.stopping;
    this.connections.add(facade);
    facade.once('close', () => this.connections.delete(facade));
    this.serve(s.conn, s.req, s.res, listener, null, s);
  }

  private onConnection(socket: SocketWithState, h1: ClientConnection, id: number, pp: ProxyProtocol | null): void {
    const state: ConnectionState = {
      id,
      requests: 0,
      startTime: Date.now(),
      socket,
      h1,
      // A unix-domain connection has no addresses: nginx shows `unix:` for both.
      remoteAddress: socket.remoteAddress ?? 'unix:',
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? 'unix:',
      localPort: socket.localPort ?? 0,
      closing: this.stopping,
      bytesBaseline: 0,
      sendTimeout: 60_000,
      sendProgress: 0,
      sendStalledSince: 0,
      // The listening socket's noDelay: true.
      noDelay: true,
      proxyProtocol: pp,
    };
    socket[kConn] = state;
    this.connections.add(socket);
    socket.once('close', () => this.connections.delete(socket));
  }

  /** The bytes are not a request head: nginx's answer (400, 414, 494 as 400, 505), then close. */
  headError(h1: H1Connection, parser: RequestHeadParser, listener: Listener): void {
    const { req, res } = h1.rejectedExchange();
    this.reject(h1.socket as SocketWithState, req, res, listener, parser.tooLarge ? 494 : parser.status, `${parser.reason} while ${parser.action}`);
  }

  /** client_header_timeout: 408 to a client that started a head, silence to one that sent nothing. */
  headTimeout(h1: H1Connection, started: boolean, listener: Listener): void {
    if (!started) { h1.socket.destroy(); return; }
    const { req, res } = h1.rejectedExchange();
    const action = req.method === '' ? 'reading client request line' : 'reading client request headers';
    this.reject(h1.socket as SocketWithState, req, res, listener, 408, `client timed out (110: Connection timed out) while ${action}`);
  }

  /**
   * A request refused before it reached a server's phases (a bad or timed-out
   * head, an invalid Host...): answered by the default server, as nginx
   * does, with the connection closed, and logged like any request (nginx
   * writes an access-log line for a 400 with `$request` as far as it was read).
   */
  private reject(socket: SocketWithState, req: IncomingRequest, res: ClientReply, listener: Listener, status: number, reason: string): void {
    const conn = socket[kConn]!;
    const def = this.serversFor(socket, listener).defaultServer;
    const r = new HttpRequest(req, res, conn, def, this.errorLog, req.url, '/', '', false, '');
    this.track(r);
    setLocation(r, def.level);
    r.log('info', reason);
    r.keepalive = false;
    // ngx_http_finalize_request: a broken head still goes through the default
    // server's error_page (`error_page 400 /x` answers an invalid Host too).
    finalize(r, status);
  }

  /** The request body's chunked framing is broken: 400 if nothing was answered yet, and close. */
  bodyError(socket: SocketWithState, res: ServerReply, reason: string): void {
    const state = socket[kConn];
    if (this.errorLog.enabled('info')) {
      this.errorLog.log('info', `*${state?.id ?? 0} ${reason} while reading client request body, client: ${state?.remoteAddress ?? ''}`);
    }
    if (res.headersSent) { socket.destroy(); return; }
    const page = badRequestPage(400);
    res.writeHead(400, statusLine(400), ['Server', 'weir', 'Content-Type', 'text/html', 'Content-Length', String(page.length), 'Connection', 'close']);
    res.end(page);
  }

  private serversFor(socket: SocketWithState, listener: Listener): AddressServers {
    if (listener.byAddress.size === 1) return listener.byAddress.get('')!;
    let addr = socket.localAddress ?? '';
    if (addr.startsWith('::ffff:')) addr = addr.slice(7);
    return listener.byAddress.get(addr) ?? listener.byAddress.get('')!;
  }

  request(h1: H1Connection, req: IncomingRequest, res: ServerReply, listener: Listener): void {
    const conn = (h1.socket as SocketWithState)[kConn]!;
    conn.requests++;
    this.serve(conn, req, res, listener, h1, null);
  }

  /** A request of an HTTP/1 connection (`h1`) or of an HTTP/2 stream (`h2`). */
  private serve(conn: ConnectionState, req: IncomingRequest, res: ClientReply, listener: Listener, h1: H1Connection | null, h2: H2StreamStart | null): void {
    const socket = conn.socket as SocketWithState;
    const set = this.serversFor(socket, listener);
    const def = set.defaultServer;
    if (h2 !== null && h2.head.status !== 0) {
      this.reject(socket, req, res, listener, h2.head.status, `${h2.head.reason} while processing HTTP/2 request headers`);
      return;
    }
    // max_headers counts the fields the client sent: for a stream not the Host made of :authority nor the joined Cookie.
    if (h2 !== null && h2.head.fields > def.core.maxHeaders!) {
      this.reject(socket, req, res, listener, 400, 'client sent too many header lines while processing HTTP/2 request headers');
      return;
    }
    // An HTTP/2 head is judged by HTTP/1.1's rules once its pseudo-headers are a request line.
    const head = validateRequestHead(req.method, h2 !== null ? 1 : req.httpVersionMajor, h2 !== null ? 1 : req.httpVersionMinor, req.url, req.rawHeaders, {
      underscoresInHeaders: def.core.underscoresInHeaders!,
      ignoreInvalidHeaders: def.core.ignoreInvalidHeaders!,
      largeHeaderBufferSize: def.core.largeClientHeaderBuffers!.size,
      maxHeaders: h2 !== null ? Infinity : def.core.maxHeaders!,
    });
    if (head.status !== 0) {
      this.reject(socket, req, res, listener, head.tooLarge ? 494 : head.status, `${head.reason} while ${head.action}`);
      return;
    }
    if (h2 !== null && !h2.bodyFollows && head.contentLength > 0) {
      this.reject(socket, req, res, listener, 400, 'client prematurely closed stream while processing HTTP/2 request headers');
      return;
    }
    h1?.setBodyFraming(head.contentLength, head.chunked);
    if (head.dropHeaders) {
      for (const i of head.dropHeaders) delete req.headers[req.rawHeaders[i].toLowerCase()];
    }
    if (head.absoluteForm && head.authority !== null) req.headers.host = head.authority;
    const match = set.names.find(head.host);
    const server = match.payload;
    const uri = parseRequestUri(head.target, server.core.mergeSlashes!);
    if (uri.status !== 0) {
      // $uri stays empty, as nginx's r->uri when the URI did not parse
      const r = new HttpRequest(req, res, conn, server, this.errorLog, head.target, '', '', false, head.host);
      this.track(r);
      setLocation(r, server.level);
      r.log('info', `${uri.reason} while reading client request line`);
      r.keepalive = false;
      finalize(r, 400);
      return;
    }
    const r = new HttpRequest(req, res, conn, server, this.errorLog, head.target, uri.uri, uri.args, uri.hasArgs, head.host);
    r.quotedUri = uri.quoted;
    r.requestPort = head.port;
    r.droppedHeaders = head.dropHeaders;
    if (head.dropHeaders !== null) {
      // logged under the server's error_log, as nginx logs while reading the headers
      setLocation(r, server.level);
      const raw = req.rawHeaders;
      for (const i of head.dropHeaders) r.log('info', `${invalidHeaderLogText(raw[i]!, raw[i + 1]!)} while reading client request headers`);
    }
    r.upgrade = isUpgrade(req);
    r.contentLength = head.contentLength;
    // An HTTP/2 body without Content-Length has a length known at its end, as a chunked one's.
    r.chunked = h2 !== null ? h2.bodyFollows && head.contentLength < 0 : head.chunked;
    if (match.captures) r.captures = match.captures;
    this.track(r);
    if (h2 !== null && !this.h2On(listener, server)) {
      // ngx_http_set_virtual_server: a stream's Host may name a server of the address that has http2 off
      setLocation(r, server.level);
      r.log('info', 'client attempted to request a server name for which HTTP/2 is disabled');
      finalize(r, 421);
      return;
    }
    if (listener.conf.ssl) {
      const refusal = checkTlsRequest(socket, plainHttp.has(socket), server.level, head.host);
      if (refusal !== null) {
        if (refusal.chosen !== null) r.server = refusal.chosen as ServerRuntimeImpl;
        setLocation(r, r.server.level);
        r.log('info', refusal.reason);
        if (refusal.status !== 421) r.keepalive = false;
        finalize(r, refusal.status);
        return;
      }
    }
    if (channels.requestStart.hasSubscribers) channels.requestStart.publish({ method: r.method, uri: r.uri, remoteAddress: r.remoteAddress });
    try {
      runPhases(r, Phase.PostRead);
    } catch (err) {
      r.log('alert', `request processing failed: ${(err as Error).stack ?? err}`);
      if (!res.headersSent) { r.keepalive = false; sendSpecial(r, 500, null); } else res.destroy();
    }
  }

  private track(r: HttpRequest): void {
    // 'close' follows 'finish' for a completed response, and comes alone when the client went away.
    r.res.once('close', () => {
      const conn = r.conn;
      // Idle between requests: the location's keepalive_timeout.
      if (r.res.writableFinished) conn.h1.setKeepaliveTimeout(r.locConf.keepaliveTimeout!);
      if (!r.res.writableFinished && !r.tunnelled) {
        r.clientAborted = true;
        if (!r.res.headersSent) r.status = 499;
        r.onAbort?.();
      }
      logRequest(r);
    });
  }

  /**
   * send_timeout, checked by one coarse timer for all connections (as nginx's
   * timer granularity allows): a connection with response bytes waiting that
   * the client has not taken for send_timeout is closed. Only time spent
   * waiting on the client counts, never time spent waiting for an upstream.
   */
  private sweepSends(): void {
    const now = Date.now();
    for (const socket of this.connections) {
      const conn = socket[kConn];
      if (!conn) continue;
      const written = socket.bytesWritten;
      if (socket.writableLength === 0 || written !== conn.sendProgress) {
        conn.sendProgress = written;
        conn.sendStalledSince = now;
        continue;
      }
      if (now - conn.sendStalledSince >= conn.sendTimeout) {
        this.errorLog.log('info', `*${conn.id} client timed out (110: Connection timed out) while sending response to client, client: ${conn.remoteAddress}`);
        socket.destroy();
      }
    }
  }

  /** Starts every listener; resolves once all accept connections. */
  async listen(): Promise<void> {
    this.sweeper = setInterval(() => this.sweepSends(), 1000);
    this.sweeper.unref();
    await Promise.all(this.listeners.map(async (l) => {
      const err = await bindListener(l);
      if (err) throw new WeirError(WeirErrorCode.Bind, bindErrorText(l, err), { source: 'internal', cause: err });
    }));
  }

  /**
   * `-t`: binds each listener and closes it again, as ngx_open_listening_sockets
   * does under test_config. An address in use is no error (the running
   * instance holds it); any other failure is thrown in nginx's words.
   */
  async testBind(): Promise<void> {
    for (const l of this.listeners) {
      const err = await bindListener(l);
      if (err && err.code !== 'EADDRINUSE') throw new ConfigError(bindErrorText(l, err));
      if (!err) await new Promise<void>((resolve) => l.server.close(() => resolve()));
    }
  }

  /** Addresses actually bound (tests use port 0 through the config only rarely). */
  addresses(): string[] {
    return this.listeners.map((l) => {
      const a = l.server.address();
      return typeof a === 'string' ? a : a ? `${a.address}:${a.port}` : '';
    });
  }

  async stop(graceful: boolean): Promise<void> {
    this.stopping = true;
    this.stoppedFast ||= !graceful;
    if (this.sweeper) { clearInterval(this.sweeper); this.sweeper = null; }
    const closed = Promise.all(this.listeners.map((l) => new Promise<void>((resolve) => {
      if (!l.server.listening) { resolve(); return; }
      l.server.close(() => resolve());
    })));
    // A connection still before its first HTTP byte (PROXY header, TLS handshake,
    // preface) is no idle one: a graceful stop serves its first request, as
    // ngx_close_idle_connections leaves it be (the kernel may have handed it to
    // this worker just before its listener closed); a fast stop closes it.
    if (!graceful) {
      for (const s of this.handshaking) s.destroy();
      this.handshaking.clear();
    }
    for (const s of this.connections) {
      const state = s[kConn];
      if (state) state.closing = true;
      if (!graceful) s.destroy();
      // Kept-alive connections waiting for a next request close now; a fresh one
      // gets its first request served (with Connection: close), as nginx does.
      else if (state && state.requests > 0 && !state.h1.busy) state.h1.close();
    }
    await closed;
  }
}

/** Each listener's view of its connections' events. */
class ListenerHandler implements H1Handler {
  constructor(private readonly servers: HttpServers, private readonly listener: Listener) {}

  onRequest(conn: H1Connection, req: IncomingRequest, res: ServerReply): void {
    this.servers.request(conn, req, res, this.listener);
  }

  onHeadError(conn: H1Connection, parser: RequestHeadParser): void {
    this.servers.headError(conn, parser, this.listener);
  }

  onHeadTimeout(conn: H1Connection, started: boolean): void {
    this.servers.headTimeout(conn, started, this.listener);
  }

  onBodyError(conn: H1Connection, res: ServerReply, reason: string): void {
    this.servers.bodyError(conn.socket, res, reason);
  }
}

/** `Connection: upgrade` with an `Upgrade` field (WebSocket...): a 101 may turn the connection into a tunnel. */
function isUpgrade(req: IncomingRequest): boolean {
  const raw = req.rawHeaders;
  let upgrade = false;
  let connectionUpgrade = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 7 && name.toLowerCase() === 'upgrade') upgrade = true;
    else if (name.length === 10 && name.toLowerCase() === 'connection' && /(?:^|,)\s*upgrade\s*(?:,|$)/i.test(raw[i + 1])) connectionUpgrade = true;
  }
  return upgrade && connectionUpgrade;
}
