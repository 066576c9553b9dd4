/**
 * Listening sockets, connections and the start of each request
 * (ngx_http_init_connection, ngx_http_process_request_line/headers,
 * ngx_http_find_virtual_server).
 *
 * One node:http server per listening socket. As nginx, a wildcard listen
 * (`*:80`, `[::]:80`) on a port serves the specific addresses of that port too,
 * choosing their server set by the connection's local address; a specific
 * address gets its own socket only when no wildcard covers its port.
 *
 * node:http parses (llhttp, strict; never insecureHTTPParser); what it accepts
 * but nginx rejects is caught by validateRequestHead on rawHeaders.
 */
import { createServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { ConfigError } from '../config/errors.js';
import type { HttpConfLevel } from '../config/module.js';
import type { ErrorLog } from '../observability/error-log.js';
import { httpCoreModule, type CoreMainConf, type CoreLocConf, type CoreSrvConf, type LocationEntry, type ServerEntry } from './core-module.js';
import type { ListenConf } from './listen.js';
import { LocationTree, type LocationSpec } from './location-tree.js';
import { bindCoreIndex, logRequest, Phase, runPhases, sendSpecial, setLocation } from './phases.js';
import { specialPage, statusText } from './special-response.js';
import { HttpRequest, type ConnectionState, type ServerRuntime } from './request.js';
import { validateRequestHead } from './request-validation.js';
import { ServerNames } from './server-names.js';
import { parseRequestUri } from './uri.js';
import type { ModuleRegistry } from '../config/conf-context.js';

const kConn = Symbol('weir.connection');
type SocketWithState = Socket & { [kConn]?: ConnectionState };

let connectionSerial = 0;

/** The page for errors found by node:http itself (no request, hence no server_tokens: the short token). */
function badRequestPage(status: number): Buffer {
  return specialPage(status, 'off')!;
}

class ServerRuntimeImpl implements ServerRuntime {
  readonly name: string;
  private readonly tree: LocationTree<HttpConfLevel>;
  /** Named captures of regex locations become variables: their slots, per regex source. */
  private readonly captureSlots = new Map<string, Array<[string, number]>>();

  constructor(readonly entry: ServerEntry, readonly level: HttpConfLevel, readonly core: CoreSrvConf, readonly main: CoreMainConf) {
    const first = core.serverNames.find((n) => !n.name.startsWith('~'));
    this.name = first ? first.name : '';
    this.tree = new LocationTree(entry.locations.map((e) => this.spec(e)));
  }

  private spec(e: LocationEntry): LocationSpec<HttpConfLevel> {
    if (e.modifier === '~' || e.modifier === '~*') {
      const names = [...e.name.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1]);
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

/** The servers reachable through one local address. */
interface AddressServers {
  readonly names: ServerNames<ServerRuntimeImpl>;
  readonly defaultServer: ServerRuntimeImpl;
}

interface Listener {
  readonly conf: ListenConf;
  readonly server: Server;
  /** Local address (as Node reports it) → its server set; '' = the wildcard's own set. */
  readonly byAddress: Map<string, AddressServers>;
}

export class HttpServers {
  private readonly listeners: Listener[] = [];
  private readonly byServer = new Map<Server, Listener>();
  private readonly connections = new Set<SocketWithState>();
  private stopping = false;
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
        if (l.defaultServer) {
          if (g.defaults.length) throw new ConfigError(`a duplicate default server for ${l.key}`, { file: rt.entry.file, line: rt.entry.line });
          g.defaults.push(rt);
          if (l.backlog !== 511 || l.reuseport) g.conf = l;
        }
      }
    }
    const wildcardPorts = new Map<string, Listener>();
    const groups = [...byKey.values()];
    // Wildcards first, so specific addresses can join them.
    groups.sort((a, b) => Number(a.conf.host !== null || a.conf.path !== null) - Number(b.conf.host !== null || b.conf.path !== null));
    for (const g of groups) {
      const set = this.addressServers(g.conf.key, g.servers, g.defaults[0]);
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
      const listener: Listener = { conf: g.conf, server: this.createNodeServer(g.conf, set), byAddress: new Map([['', set]]) };
      this.listeners.push(listener);
      this.byServer.set(listener.server, listener);
      if (path === null && (host === null || host === '::')) wildcardPorts.set(wildcardKey, listener);
    }
  }

  private addressServers(key: string, servers: ServerRuntimeImpl[], def: ServerRuntimeImpl | undefined): AddressServers {
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
    return { names, defaultServer: def ?? servers[0] };
  }

  private createNodeServer(conf: ListenConf, set: AddressServers): Server {
    const srv = set.defaultServer.core;
    const headerLimit = srv.largeClientHeaderBuffers!.num * srv.largeClientHeaderBuffers!.size;
    const server = createServer({
      insecureHTTPParser: false,
      requireHostHeader: false,
      maxHeaderSize: headerLimit,
      // client_header_timeout is checked by Node's connection sweeper; sweep often enough.
      connectionsCheckingInterval: Math.max(250, Math.min(5000, Math.floor(srv.clientHeaderTimeout! / 4))),
      headersTimeout: srv.clientHeaderTimeout!,
      requestTimeout: 0,
    });
    // keepalive_timeout is ours (per location, exact): node's would add a second of slack.
    server.keepAliveTimeout = 0;
    // Expect: 100-continue is answered when the body is first read, not at once (as nginx).
    server.on('checkContinue', (req, res) => this.onRequest(req, res));
    server.on('request', (req, res) => this.onRequest(req, res));
    server.on('connection', (socket: SocketWithState) => this.onConnection(socket));
    server.on('upgrade', (req: IncomingMessage, socket: SocketWithState, head: Buffer) => this.onUpgrade(req, socket, head));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: SocketWithState) => this.onClientError(err, socket, conf));
    return server;
  }

  private onConnection(socket: SocketWithState): void {
    // A connection handed back after a refused upgrade keeps its state.
    if (socket[kConn]) { socket.setNoDelay(true); return; }
    const state: ConnectionState = {
      id: ++connectionSerial,
      requests: 0,
      startTime: Date.now(),
      socket,
      // A unix-domain connection has no addresses: nginx shows `unix:` for both.
      remoteAddress: socket.remoteAddress ?? 'unix:',
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? 'unix:',
      localPort: socket.localPort ?? 0,
      closing: this.stopping,
      bytesBaseline: 0,
      inflight: 0,
      sendTimeout: 60_000,
      sendProgress: 0,
      sendStalledSince: 0,
    };
    socket[kConn] = state;
    this.connections.add(socket);
    socket.once('close', () => this.connections.delete(socket));
    socket.setNoDelay(true);
  }

  /** node:http rejected the bytes (llhttp error, header overflow, header timeout). */
  private onClientError(err: NodeJS.ErrnoException, socket: SocketWithState, conf: ListenConf): void {
    if (!socket.writable) { socket.destroy(); return; }
    // Bad bytes after a request whose response is still being produced: answer
    // that request first, then the 400 (as nginx does for a pipelined bad request).
    // When the bad bytes are the request's own body, its handler answers; just close.
    const inFlight = (socket as unknown as { _httpMessage?: ServerResponse | null })._httpMessage;
    if (inFlight && !inFlight.writableFinished) {
      if (inFlight.req?.complete !== true) {
        // The bad bytes are this request's own body (chunk framing, trailers):
        // answer 400 if nothing was sent yet, and close.
        if (!inFlight.headersSent) {
          const page = badRequestPage(400);
          inFlight.writeHead(400, 'Bad Request', ['Server', 'weir', 'Content-Type', 'text/html', 'Content-Length', String(page.length), 'Connection', 'close']);
          inFlight.end(page);
          inFlight.once('finish', () => socket.destroySoon());
        } else socket.destroy();
        return;
      }
      inFlight.once('finish', () => setImmediate(() => { if (socket.writable) this.onClientError(err, socket, conf); }));
      inFlight.once('close', () => { if (!inFlight.writableFinished) socket.destroy(); });
      return;
    }
    if ((socket as unknown as { _httpMessage?: unknown })._httpMessage) { socket.destroy(); return; }
    const code = err.code ?? '';
    let status = 400;
    let page = 400;
    if (code === 'HPE_HEADER_OVERFLOW') page = 494;
    else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') { status = 408; page = 408; }
    else if (code === 'ECONNRESET' || code === 'EPIPE') { socket.destroy(); return; }
    const state = socket[kConn];
    if (this.errorLog.enabled('info')) {
      const text = status === 408 ? 'client timed out' : page === 494 ? 'client sent too large request' : 'client sent invalid request';
      this.errorLog.log('info', `${text} while reading client request headers, client: ${state?.remoteAddress ?? ''}, server: ${conf.key}`);
    }
    const body = badRequestPage(page === 494 ? 494 : status);
    socket.end(`HTTP/1.1 ${status} ${statusText(status)}\r\nServer: weir\r\nContent-Type: text/html\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.toString('latin1')}`);
  }

  /**
   * A request with `Connection: upgrade` (WebSocket...). node:http hands over the
   * socket; we give it a ServerResponse so the request runs through the phases
   * like any other. Only a proxied 101 turns it into a tunnel (Upstream). Any
   * other answer hands the connection back to the HTTP server once the response
   * is written: the bytes pipelined after the refused upgrade are parsed as the
   * next request, never tunnelled (R28).
   */
  private onUpgrade(req: IncomingMessage, socket: SocketWithState, head: Buffer): void {
    if (!socket[kConn]) this.onConnection(socket);
    const res = new ServerResponse(req);
    res.assignSocket(socket);
    res.shouldKeepAlive = req.httpVersionMinor >= 1 && !/\bclose\b/i.test(req.headers.connection ?? '');
    const onError = (): void => { socket.destroy(); };
    socket.on('error', onError);
    res.once('finish', () => {
      res.detachSocket(socket);
      socket.off('error', onError);
      // The log phase listens to 'close', which node emits only for its own responses.
      res.emit('close');
      const keep = (res as unknown as { _last?: boolean })._last === false;
      if (!keep || socket.destroyed) { socket.end(); return; }
      if (head.length > 0) socket.unshift(head);
      (socket as unknown as { server: Server }).server.emit('connection', socket);
    });
    this.onRequest(req, res, head);
  }

  private serversFor(socket: SocketWithState, listener: Listener): AddressServers {
    if (listener.byAddress.size === 1) return listener.byAddress.get('')!;
    let addr = socket.localAddress ?? '';
    if (addr.startsWith('::ffff:')) addr = addr.slice(7);
    return listener.byAddress.get(addr) ?? listener.byAddress.get('')!;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse, upgradeHead: Buffer | null = null): void {
    const socket = req.socket as SocketWithState;
    const conn = socket[kConn]!;
    conn.requests++;
    if (conn.inflight++ === 0) socket.setTimeout(0);
    const listener = this.listenerOf(req);
    const set = this.serversFor(socket, listener);
    const def = set.defaultServer;
    const head = validateRequestHead(req.method ?? '', req.httpVersionMajor, req.httpVersionMinor, req.url ?? '', req.rawHeaders, {
      underscoresInHeaders: def.core.underscoresInHeaders!,
      ignoreInvalidHeaders: def.core.ignoreInvalidHeaders!,
      largeHeaderBufferSize: def.core.largeClientHeaderBuffers!.size,
    });
    if (head.status !== 0) {
      const r = new HttpRequest(req, res, conn, def, this.errorLog, req.url ?? '', '/', '', false, '');
      this.track(r);
      setLocation(r, def.level);
      r.log('info', `${head.reason} while ${head.action}`);
      r.keepalive = false;
      sendSpecial(r, head.tooLarge ? 494 : head.status, null);
      return;
    }
    if (head.dropHeaders) {
      for (const i of head.dropHeaders) delete req.headers[req.rawHeaders[i].toLowerCase()];
    }
    if (head.absoluteForm && head.authority !== null) req.headers.host = head.authority;
    const match = set.names.find(head.host);
    const server = match.payload;
    const uri = parseRequestUri(head.target, server.core.mergeSlashes!);
    if (uri.status !== 0) {
      const r = new HttpRequest(req, res, conn, server, this.errorLog, head.target, '/', '', false, head.host);
      this.track(r);
      setLocation(r, server.level);
      r.log('info', `${uri.reason} while reading client request line`);
      r.keepalive = false;
      sendSpecial(r, 400, null);
      return;
    }
    const r = new HttpRequest(req, res, conn, server, this.errorLog, head.target, uri.uri, uri.args, uri.hasArgs, head.host);
    r.quotedUri = uri.quoted;
    r.droppedHeaders = head.dropHeaders;
    r.upgradeHead = upgradeHead;
    r.contentLength = head.contentLength;
    r.chunked = head.chunked;
    if (match.captures) r.captures = match.captures;
    this.track(r);
    try {
      runPhases(r, Phase.ServerRewrite);
    } catch (err) {
      r.log('alert', `request processing failed: ${(err as Error).stack ?? err}`);
      if (!res.headersSent) { r.keepalive = false; sendSpecial(r, 500, null); } else res.destroy();
    }
  }

  private listenerOf(req: IncomingMessage): Listener {
    const server = (req.socket as unknown as { server?: Server }).server;
    return (server && this.byServer.get(server)) || this.listeners[0];
  }

  private track(r: HttpRequest): void {
    // 'close' follows 'finish' for a completed response, and comes alone when the client went away.
    r.res.once('close', () => {
      const conn = r.conn;
      // Idle between requests: the location's keepalive_timeout (node destroys the socket on timeout).
      if (--conn.inflight === 0 && r.res.writableFinished && !conn.socket.destroyed) {
        conn.socket.setTimeout(r.locConf.keepaliveTimeout!);
      }
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
    await Promise.all(this.listeners.map((l) => new Promise<void>((resolve, reject) => {
      const { host, port, path, backlog, ipv6only } = l.conf;
      const onError = (err: NodeJS.ErrnoException): void => {
        const addr = l.conf.key;
        reject(new Error(`bind() to ${addr} failed (${err.errno ? -err.errno : 0}: ${err.code === 'EADDRINUSE' ? 'Address already in use' : err.message})`));
      };
      l.server.once('error', onError);
      const done = (): void => { l.server.off('error', onError); resolve(); };
      if (path !== null) l.server.listen({ path, backlog }, done);
      else l.server.listen({ host: host ?? '0.0.0.0', port, backlog, ipv6Only: host !== null && host.includes(':') ? ipv6only : undefined }, done);
    })));
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
    if (this.sweeper) { clearInterval(this.sweeper); this.sweeper = null; }
    const closed = Promise.all(this.listeners.map((l) => new Promise<void>((resolve) => {
      if (!l.server.listening) { resolve(); return; }
      l.server.close(() => resolve());
    })));
    for (const s of this.connections) {
      const state = s[kConn];
      if (state) state.closing = true;
    }
    if (graceful) for (const l of this.listeners) l.server.closeIdleConnections();
    else for (const s of this.connections) s.destroy();
    await closed;
  }
}
