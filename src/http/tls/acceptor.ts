/**
 * The start of a connection on a `listen ... ssl` socket
 * (ngx_http_ssl_handshake, ngx_http_ssl_servername).
 *
 * The first bytes are read before node:tls sees them. Not a TLS record: the
 * connection goes on as plain HTTP, marked, and its request gets nginx's 400
 * "The plain HTTP request was sent to HTTPS port" (497). A ClientHello: its
 * server name picks the server block (the address's server names, as the
 * Host header would), whose context and client-certificate setting the
 * handshake then uses; a server with `ssl_reject_handshake on` gets the
 * unrecognized_name alert, as nginx sends it. The bytes are handed to
 * node:tls unchanged.
 *
 * The wait for the first bytes and the handshake are bounded by the
 * default server's client_header_timeout (nginx's post_accept_timeout).
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { ErrorLog } from '../../observability/error-log.js';
import { HelloState, readClientHello, type ClientHello } from './client-hello.js';
import type { ServerTls } from './ssl-module.js';
import { Verify } from './ssl-module.js';
import { setVerifyDepth } from './verify.js';

/** What a TLS connection learnt before and during its handshake ($ssl_server_name, $ssl_ciphers...). */
export interface TlsConnInfo {
  readonly hello: ClientHello | null;
  /** The server name as validated (lower case, no trailing dot), or null: the name the handshake chose a server by. */
  readonly serverName: string | null;
  /** The server block the handshake chose (its ServerTls), for the Host check. */
  readonly chosen: unknown;
  /** The context's groups (ssl_ecdh_curve) and whether its order wins: $ssl_curve. */
  readonly groups: readonly number[] | null;
  readonly serverOrder: boolean;
}

const tlsInfo = new WeakMap<Socket, TlsConnInfo>();

/** The TLS facts of a connection's socket, or undefined for plain connections. */
export function tlsInfoOf(socket: Socket): TlsConnInfo | undefined {
  return tlsInfo.get(socket);
}

/** An HTTP/2 stream's stand-in socket shows the TLS facts of its connection's. */
export function shareTlsInfo(from: Socket, to: Socket): void {
  const info = tlsInfo.get(from);
  if (info !== undefined) tlsInfo.set(to, info);
}

/** The listener's view: which server a name picks. */
export interface TlsChooser<S> {
  /** The server for a validated name (null: none sent or it matched nothing: the default server). */
  choose(name: string | null): S;
  tlsOf(server: S): ServerTls | null;
  /** ssl_reject_handshake of a server (with or without certificates of its own). */
  rejects(server: S): boolean;
  readonly timeoutMs: number;
  /** The server speaks HTTP/2 (`http2 on`, or `listen ... http2`): ALPN offers h2 first. */
  h2?(server: S): boolean;
}

export interface AcceptResult {
  readonly socket: Socket;
  /** A plain HTTP request came to the ssl port: answer 497. */
  readonly plainHttp: boolean;
}

const H1_ALPN = ['http/1.1'];
const H2_ALPN = ['h2', 'http/1.1'];

/** ALERT record: fatal (2), unrecognized_name (112), TLS 1.2 record version as OpenSSL writes it for an early alert. */
const UNRECOGNIZED_NAME_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70]);

/**
 * ngx_http_validate_host for a server name: lower case, one trailing dot
 * dropped; null for a name nginx would not look up (then the default server).
 */
export function validateServerName(name: string): string | null {
  let dotPos = -1;
  let end = name.length;
  for (let i = 0; i < name.length; i++) {
    const ch = name.charCodeAt(i);
    if (ch === 0x2e) { // '.'
      if (dotPos === i - 1) return null;
      dotPos = i;
    } else if (ch === 0x2f || ch === 0x5c || ch === 0 || ch < 0x20 || ch === 0x7f) {
      return null;
    }
  }
  if (dotPos === end - 1) end--;
  if (end === 0) return null;
  return name.slice(0, end).toLowerCase();
}

/**
 * Takes a fresh connection of an ssl listener; calls `done` with the socket to
 * speak HTTP on (the TLSSocket once its handshake finished, or the raw one for
 * plain HTTP), or never when the connection failed (closed, logged at info as nginx does).
 */
export function acceptTls<S>(raw: Socket, chooser: TlsChooser<S>, log: ErrorLog, connId: () => number, done: (r: AcceptResult) => void): void {
  let data: Buffer = Buffer.alloc(0);
  const out: { hello: ClientHello | null } = { hello: null };
  raw.setTimeout(chooser.timeoutMs);
  const onTimeout = (): void => { raw.destroy(); };
  const onError = (): void => { /* 'close' follows */ };
  raw.on('timeout', onTimeout);
  raw.on('error', onError);
  const onData = (chunk: Buffer): void => {
    data = data.length === 0 ? chunk : Buffer.concat([data, chunk]);
    const state = readClientHello(data, out);
    if (state === HelloState.Again) return;
    raw.off('data', onData);
    raw.off('timeout', onTimeout);
    raw.off('error', onError);
    raw.pause();
    raw.unshift(data);
    raw.setTimeout(0);
    if (state === HelloState.NotTls) {
      done({ socket: raw, plainHttp: true });
      return;
    }
    startHandshake(raw, out.hello, chooser, log, connId, done);
  };
  raw.on('data', onData);
}

function startHandshake<S>(
  raw: Socket, hello: ClientHello | null, chooser: TlsChooser<S>, log: ErrorLog, connId: () => number, done: (r: AcceptResult) => void,
): void {
  const sent = hello?.serverName ?? null;
  const name = sent !== null && sent !== '' ? validateServerName(sent) : null;
  const server = chooser.choose(name);
  // A server with no certificates of its own keeps the context the connection
  // started with, the default server's (nginx skips SSL_set_SSL_CTX); its own
  // ssl_reject_handshake still decides.
  const own = chooser.tlsOf(server);
  const tls = own ?? chooser.tlsOf(chooser.choose(null));
  const rejects = own !== null ? own.rejects : chooser.rejects(server);
  const fail = (reason: string): void => {
    if (log.enabled('info')) log.log('info', `*${connId()} ${reason} while SSL handshaking, client: ${raw.remoteAddress ?? 'unix:'}, server: ${listenAddr(raw)}`);
  };
  if (tls === null || rejects) {
    // ngx_http_ssl_servername: SSL_AD_UNRECOGNIZED_NAME, then the handshake fails
    fail('SSL_do_handshake() failed (SSL: error:0A0000E0:SSL routines::handshake rejected)');
    raw.end(UNRECOGNIZED_NAME_ALERT);
    raw.resume();
    setTimeout(() => raw.destroy(), 1000).unref();
    return;
  }
  let context;
  try {
    context = tls.contextFor(name ?? '', hello?.tls13 === true);
  } catch (e) {
    log.log('error', `*${connId()} ${(e as Error).message} while SSL handshaking, client: ${raw.remoteAddress ?? 'unix:'}`);
    raw.destroy();
    return;
  }
  const verify = tls.conf.verify!;
  const socket = new TLSSocket(raw, {
    isServer: true,
    secureContext: context,
    requestCert: verify !== Verify.Off,
    rejectUnauthorized: false,
    ALPNProtocols: chooser.h2?.(server) === true ? H2_ALPN : H1_ALPN,
    ...(tls.sessionEvents ? { server: tls.sessionEvents as unknown as import('node:tls').Server } : {}),
  });
  tlsInfo.set(socket, { hello, serverName: name, chosen: server, groups: tls.groups, serverOrder: tls.conf.preferServerCiphers === true });
  if (verify !== Verify.Off) setVerifyDepth(socket, tls.conf.verifyDepth!);
  socket.setTimeout(chooser.timeoutMs);
  const onTimeout = (): void => {
    fail('client timed out (110: Connection timed out)');
    socket.destroy();
  };
  const onError = (err: Error): void => {
    fail(`SSL_do_handshake() failed (SSL: ${err.message})`);
  };
  socket.on('timeout', onTimeout);
  socket.on('error', onError);
  socket.once('secure', () => {
    socket.off('timeout', onTimeout);
    socket.off('error', onError);
    socket.setTimeout(0);
    done({ socket, plainHttp: false });
  });
}

function listenAddr(s: Socket): string {
  return s.localAddress !== undefined ? `${s.localAddress}:${s.localPort}` : 'unix:';
}
