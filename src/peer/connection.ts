/**
 * A connection to an upstream peer (nginx's ngx_connection_t as seen by
 * ngx_peer_connection_t), with a swappable owner.
 *
 * The socket's listeners are installed once, at connect, and forward to
 * whoever owns the connection now: the Upstream serving a request, or the
 * keep-alive cache while it sits idle. Handing a connection over is then one
 * assignment, not listener churn per request (undici does the same with its
 * socket "parser" slot).
 */
import { Socket } from 'node:net';
import type { PeerAddress } from '../balancer/types.js';

/** A local address to bind before connecting (`*_bind`); port 0: any. */
export interface LocalAddress {
  readonly address: string;
  readonly port: number;
}

export interface ConnectionOwner {
  /** Bytes arrived. */
  onData(conn: UpstreamConnection, chunk: Buffer): void;
  /** The peer sent FIN (half-close). */
  onEnd(conn: UpstreamConnection): void;
  /** A socket error (ECONNRESET, EPIPE...); 'close' follows. */
  onError(conn: UpstreamConnection, err: NodeJS.ErrnoException): void;
  /** The socket is gone. */
  onClose(conn: UpstreamConnection): void;
  /** The write buffer drained (backpressure released). */
  onDrain(conn: UpstreamConnection): void;
}

export class UpstreamConnection {
  owner: ConnectionOwner | null = null;
  /** Requests sent on this connection (keepalive_requests). */
  requests = 0;
  /** ms timestamp of connect (keepalive_time). */
  readonly createdAt = Date.now();
  /** Set once 'close' fired. */
  closed = false;
  /** The peer sent FIN. */
  ended = false;

  constructor(readonly socket: Socket, readonly address: PeerAddress) {
    socket.on('data', (chunk: Buffer) => this.owner?.onData(this, chunk));
    socket.on('end', () => { this.ended = true; this.owner?.onEnd(this); });
    socket.on('error', (err: NodeJS.ErrnoException) => this.owner?.onError(this, err));
    socket.on('close', () => { this.closed = true; this.owner?.onClose(this); });
    socket.on('drain', () => this.owner?.onDrain(this));
  }

  /** Starts connecting to an address; the owner learns the outcome via onConnect/onError. */
  static connect(address: PeerAddress, local: LocalAddress | null, onConnect: (conn: UpstreamConnection) => void): UpstreamConnection {
    const socket = new Socket();
    const conn = new UpstreamConnection(socket, address);
    socket.once('connect', () => onConnect(conn));
    // A request head is one write: Nagle would only delay it behind the peer's ACK.
    socket.setNoDelay(true);
    if (address.path !== undefined) socket.connect({ path: address.path });
    else if (local === null) socket.connect({ host: address.host!, port: address.port! });
    else socket.connect({ host: address.host!, port: address.port!, localAddress: local.address, localPort: local.port || undefined });
    return conn;
  }

  /** True while the socket can carry another request. */
  get usable(): boolean {
    return !this.closed && !this.ended && !this.socket.destroyed && this.socket.writable;
  }

  destroy(): void {
    this.owner = null;
    if (!this.socket.destroyed) this.socket.destroy();
  }
}
