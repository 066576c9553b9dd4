/**
 * The upstream core's view of TLS to a peer (nginx's u->ssl with
 * u->conf->ssl*): a protocol module that speaks TLS sets `Upstream.tls`;
 * the core then handshakes as part of connecting (src/peer/tls-connect.ts)
 * and asks it to judge the peer's certificate before sending anything.
 *
 * Also the handshake's failure lines, in nginx's words
 * (ngx_ssl_handshake, ngx_ssl_connection_error).
 */
import type { TLSSocket } from 'node:tls';
import type { PeerAddress } from '../balancer/types.js';
import { strerror } from '../errno.js';
import type { TlsParams } from '../peer/tls-connect.js';
import type { FailureLine } from './peer-errors.js';

export type { TlsParams } from '../peer/tls-connect.js';

export interface UpstreamTls {
  /**
   * The handshake's settings for a try to `address` (the name, the client
   * certificate, the session to resume); null: they could not be made
   * (a certificate with variables that does not load), already logged: 500.
   */
  params(address: PeerAddress): TlsParams | null;
  /**
   * The handshake completed: null when the peer may be used, else the error
   * line (proxy_ssl_verify: "upstream SSL certificate verify error: ...",
   * "upstream SSL certificate does not match ..."), a failure of the try.
   */
  verify(socket: TLSSocket, address: PeerAddress): string | null;
}

/**
 * The OpenSSL reasons nginx logs at `error` for an upstream (ngx_ssl_connection_error's
 * "handshake failures" list, by reason number); any other SSL error is `crit`.
 */
const PEER_REASONS: ReadonlySet<number> = new Set([
  101, 102, 103, 108, 110, 111, 112, 115, 118, 122, 129, 133, 137, 145, 146, 149, 150, 151, 152, 154, 155, 156,
  159, 160, 182, 183, 186, 187, 193, 198, 205, 213, 220, 226, 227, 234, 235, 244, 245, 246, 252, 253, 256, 258,
  266, 267, 270, 271, 281, 291, 292, 293, 298, 300, 306, 313, 335, 336, 337, 338, 345, 373, 376, 377, 396, 409, 443,
]);

/** node's text of an OpenSSL error: `<thread>:error:0A00010B:SSL routines:<func>:wrong version number:<file>:<line>:` */
const OPENSSL_ERROR = /error:([0-9A-Fa-f]{8}):([^:]*):[^:]*:([^:\n]*)/;

/** OpenSSL's error in nginx's words (`error:0A00010B:SSL routines::wrong version number`), or null when `err` is not one. */
function sslErrorText(err: NodeJS.ErrnoException | null): { text: string; reason: number } | null {
  const m = err !== null ? OPENSSL_ERROR.exec(err.message) : null;
  if (m === null) return null;
  return { text: `error:${m[1]!.toUpperCase()}:${m[2]}::${m[3]}`, reason: parseInt(m[1]!, 16) & 0x7fffff };
}

/** A TLS record error after the handshake (ngx_ssl_recv's "SSL_read() failed"); null: not an OpenSSL error. */
export function sslReadFailureLine(err: NodeJS.ErrnoException | null, stageText: string): FailureLine | null {
  const e = sslErrorText(err);
  if (e === null) return null;
  const level = PEER_REASONS.has(e.reason) || (e.reason >= 1000 && e.reason <= 1255) ? 'error' : 'crit';
  return { level, message: `SSL_read() failed (SSL: ${e.text}) ${stageText}` };
}

/** The line for a handshake that failed: `err` null when the peer closed without an error. */
export function handshakeFailureLine(err: NodeJS.ErrnoException | null): FailureLine {
  const e = sslErrorText(err);
  if (e !== null) {
    const level = PEER_REASONS.has(e.reason) || (e.reason >= 1000 && e.reason <= 1255) ? 'error' : 'crit';
    return { level, message: `SSL_do_handshake() failed (SSL: ${e.text}) while SSL handshaking to upstream` };
  }
  // A close (node: "socket disconnected before secure TLS connection was established") or a reset.
  const errno = err?.errno !== undefined ? ` (${-err.errno}: ${strerror(err)})` : '';
  return { level: 'error', message: `peer closed connection in SSL handshake${errno} while SSL handshaking to upstream` };
}
