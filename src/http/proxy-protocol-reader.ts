/**
 * The first step of a `listen ... proxy_protocol` connection
 * (ngx_http_wait_request_handler and ngx_http_ssl_handshake with
 * hc->proxy_protocol): the PROXY protocol header is read from the accepted
 * socket before HTTP/1, the HTTP/2 preface or TLS sees a byte; the bytes
 * after it are handed back with `unshift`, so the connection then goes on
 * exactly as an ordinary one (nothing stays between it and its socket).
 *
 * As nginx: a broken header is logged at error ("broken header: ... while
 * reading PROXY protocol") and the connection closed; client_header_timeout
 * bounds the wait ("client timed out" at info); a client that closes first
 * is "client closed connection" at info.
 *
 * Differences: the wait for the header has its own client_header_timeout
 * and the request head (or TLS handshake) then gets a fresh one, where
 * nginx's one timer runs from accept; and stub_status counts the
 * connection from its first HTTP byte on, not while the header is read.
 */
import type { Socket } from 'node:net';
import type { ErrorLog } from '../observability/error-log.js';
import { readProxyHeader, type ProxyProtocol } from './proxy-protocol.js';

export interface ProxyReadOptions {
  readonly timeoutMs: number;
  /** The most bytes a v2 header may take (nginx's read buffer). */
  readonly v2Limit: number;
  readonly log: ErrorLog;
  readonly connId: number;
  /** The listening address as nginx prints it (`server:` of the log line). */
  readonly server: string;
}

const ACTION = 'while reading PROXY protocol';

/**
 * Calls `done(header)` once the header is read (null: it carried no
 * addresses), with the socket paused and the bytes after it unshifted: the
 * caller attaches its reader and resumes. On failure the socket is
 * destroyed and `done` is never called.
 */
export function readProxyProtocol(socket: Socket, o: ProxyReadOptions, done: (header: ProxyProtocol | null) => void): void {
  let data: Buffer | null = null;
  const client = socket.remoteAddress ?? 'unix:';
  const fail = (level: 'error' | 'info', message: string | null): void => {
    cleanup();
    if (message !== null && o.log.enabled(level)) o.log.log(level, `*${o.connId} ${message} ${ACTION}, client: ${client}, server: ${o.server}`);
    socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    data = data === null ? chunk : Buffer.concat([data, chunk]);
    const r = readProxyHeader(data, o.v2Limit);
    if (r.kind === 'again') return;
    if (r.kind === 'error') { fail('error', r.message); return; }
    cleanup();
    socket.pause();
    if (r.length < data.length) socket.unshift(data.subarray(r.length));
    done(r.header);
  };
  const onTimeout = (): void => fail('info', 'client timed out (110: Connection timed out)');
  const onEnd = (): void => fail('info', 'client closed connection');
  const onError = (): void => { /* 'close' follows */ };
  const onClose = (): void => cleanup();
  const cleanup = (): void => {
    socket.off('data', onData);
    socket.off('timeout', onTimeout);
    socket.off('end', onEnd);
    socket.off('error', onError);
    socket.off('close', onClose);
    socket.setTimeout(0);
  };
  socket.setTimeout(o.timeoutMs);
  socket.on('data', onData);
  socket.on('timeout', onTimeout);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);
}
