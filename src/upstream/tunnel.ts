/**
 * The upstream switched protocols (101) for a client that asked to upgrade:
 * from now on bytes flow both ways untouched until either side closes
 * (ngx_http_upstream_upgrade / _process_upgraded). Idle is bounded by the
 * read timeout (the core's); a side's FIN is passed on once its bytes are
 * delivered, and the tunnel is over when both sides sent theirs.
 */
import type { Socket } from 'node:net';
import type { Upstream } from './upstream.js';

export class Tunnel {
  private ended = 0;

  /** `rest`: what the upstream sent after its 101 head. */
  constructor(private readonly u: Upstream, private readonly client: Socket, private readonly up: Socket, rest: Buffer, early: Buffer) {
    if (rest.length > 0) this.toClient(rest);
    // Bytes the client sent after its request head belong to the new protocol.
    if (early.length > 0) up.write(early);
    client.on('data', (chunk: Buffer) => {
      u.refreshTimer();
      if (!up.write(chunk)) client.pause();
    });
    client.on('end', () => this.halfClose(false));
    client.on('close', () => u.finalize(0));
    up.on('drain', () => client.resume());
    client.on('drain', () => up.resume());
  }

  /** Bytes from the upstream. */
  toClient(chunk: Buffer): void {
    this.u.refreshTimer();
    if (!this.client.write(chunk)) this.up.pause();
  }

  /** One side sent FIN: pass it on; when both did, the tunnel is over. */
  halfClose(fromUpstream: boolean): void {
    if (this.u.connection === null) return;
    if (fromUpstream) this.client.end();
    else this.up.end();
    if (++this.ended === 2) this.u.finalize(0);
  }

  /** The tunnel ended (`clean`: both sides finished): the client's connection goes too. */
  close(clean: boolean): void {
    const client = this.client;
    if (clean && !client.destroyed) client.end(); else client.destroy();
    setImmediate(() => client.destroy());
  }
}
