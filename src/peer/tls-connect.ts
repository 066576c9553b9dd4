/**
 * A TLS connection to an upstream peer: the TCP connect and the handshake
 * as one step, nginx's ngx_event_connect_peer followed by
 * ngx_http_upstream_ssl_init_connection / ngx_ssl_handshake.
 *
 * The UpstreamConnection carries the TLSSocket, so every reader of the
 * connection (the core, the keep-alive cache) sees plaintext after the
 * handshake and nothing before it: node:tls hands every byte the peer sends
 * to OpenSSL's record layer, so bytes that are not TLS records (plaintext
 * injected before or around the ServerHello, RELIABILITY U13, nginx
 * CVE-2026-1642) fail the handshake and are never delivered as a response.
 *
 * Verification is never node's: the handshake is made with
 * rejectUnauthorized off and no host check (nginx's verify callback accepts
 * everything too); the caller reads the result afterwards, as
 * ngx_http_upstream_ssl_handshake does.
 */
import { connect as tlsConnect, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import type { PeerAddress } from '../balancer/types.js';
import { UpstreamConnection, type LocalAddress } from './connection.js';

/** What one handshake needs, decided per try by the protocol's TLS settings. */
export interface TlsParams {
  readonly context: SecureContext;
  /** SNI (proxy_ssl_server_name); null: none sent. */
  readonly servername: string | null;
  /** A session to resume (proxy_ssl_session_reuse); null: a full handshake. */
  readonly session: Buffer | null;
  /** Called with each session the peer issues (TLSv1.3 tickets come after the handshake). */
  readonly saveSession: ((session: Buffer) => void) | null;
}

const noHostCheck = (): undefined => undefined;

/**
 * Connects and handshakes; `onTcp` once the TCP connection is up (the
 * handshake starts), `onSecure` once it completed. Failures reach the
 * connection's owner as onError/onClose, as for a plain connection.
 */
export function connectTls(
  address: PeerAddress, local: LocalAddress | null, params: TlsParams,
  onTcp: () => void, onSecure: (conn: UpstreamConnection) => void,
): UpstreamConnection {
  // tls.connect hands the net.connect options (localAddress, localPort) to the socket's connect.
  const options: ConnectionOptions & { localAddress?: string; localPort?: number } = {
    secureContext: params.context,
    rejectUnauthorized: false,
    checkServerIdentity: noHostCheck,
  };
  if (params.servername !== null) options.servername = params.servername;
  if (params.session !== null) options.session = params.session;
  if (address.path !== undefined) options.path = address.path;
  else {
    options.host = address.host!;
    options.port = address.port!;
    if (local !== null) {
      options.localAddress = local.address;
      if (local.port) options.localPort = local.port;
    }
  }
  const socket: TLSSocket = tlsConnect(options);
  const conn = new UpstreamConnection(socket, address);
  // A request head is one write: Nagle would only delay it (and an abbreviated handshake).
  socket.setNoDelay(true);
  socket.once('connect', onTcp);
  socket.once('secureConnect', () => onSecure(conn));
  if (params.saveSession !== null) socket.on('session', params.saveSession);
  return conn;
}
