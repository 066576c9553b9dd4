/**
 * Sends one try's request: the protocol's head, then the body in one of
 * three ways: from memory (read beforehand), from the temp file it was
 * spooled to, or streamed as the client sends it (proxy_request_buffering
 * off, never replayable). Each piece of body is framed as the protocol
 * needs (FastCGI records) or chunked when the HTTP length is unknown.
 *
 * The sender knows nothing of retries: the core (upstream.ts) calls send()
 * once per try and hears back through sent(), sendWaits() and failed().
 */
import { createReadStream } from 'node:fs';
import type { ClientBody, ClientBodyStream } from './client.js';
import type { UpstreamConnection } from './connection.js';
import type { Upstream } from './upstream.js';

type Socket = UpstreamConnection['socket'];

export class RequestSender {
  /** The head bytes, made once per request (a retry reinitializes the protocol and sends them again). */
  private head: Buffer[] | null = null;
  /** This try's request went (in part) to a socket: a condition of the retry rules. */
  started = false;
  /** Every byte of the request (head and body) was handed to the socket: a condition of reuse. */
  complete = false;
  private stream: ClientBodyStream | null = null;

  constructor(
    private readonly u: Upstream,
    readonly body: ClientBody | null,
    /** Read while sent (proxy_request_buffering off). */
    private readonly streamed: boolean,
    /** Chunk-framed: a streamed body of unknown length to an HTTP/1.1 upstream. */
    private readonly chunked: boolean,
  ) {}

  /** Sends the request on `conn` (the try's connection; Stage.Sending already set). */
  send(conn: UpstreamConnection): void {
    const u = this.u;
    const protocol = u.protocol;
    if (this.head === null) this.head = protocol.createRequest(u);
    else protocol.reinitRequest(u);
    this.complete = false;
    conn.requests++;
    const socket = conn.socket;
    socket.cork();
    let ok = true;
    for (const b of this.head) { ok = socket.write(b); u.countSent(b.length); }
    const body = this.body;
    if (body !== null && body.file === null) {
      for (const b of body.buffers) ok = this.writeBody(socket, b);
    }
    const memoryOnly = !this.streamed && !(body !== null && body.file !== null);
    if (memoryOnly) { ok = this.endBody(socket); this.complete = true; }
    // Started while corked: the body bytes already here leave with the head.
    if (this.streamed) this.sendStreamed(conn);
    socket.uncork();
    this.started = true;
    if (body !== null && body.file !== null) { this.sendFile(conn, body.file); return; }
    if (this.streamed) return;
    if (!ok) { u.sendWaits(); return; }
    u.sent();
  }

  /** The socket took what was queued: a streamed body reads on; true when that was the sender's business. */
  drained(): boolean {
    if (this.stream !== null) { this.u.refreshTimer(); this.stream.resume(); return true; }
    return this.body !== null && this.body.file !== null;
  }

  /** The try ended: a streamed body stops being read (the connection will not be kept). */
  abort(): void {
    if (this.stream === null) return;
    this.stream.abort();
    this.stream = null;
  }

  /** One piece of request body, framed as the protocol (or HTTP chunking) needs. */
  private writeBody(socket: Socket, chunk: Buffer): boolean {
    this.u.countSent(chunk.length);
    const frame = this.u.protocol.frameBody;
    corkForTick(socket);
    if (!frame && !this.chunked) return socket.write(chunk);
    let ok = true;
    if (frame) {
      for (const piece of frame.call(this.u.protocol, chunk)) ok = socket.write(piece);
    } else {
      socket.write(`${chunk.length.toString(16)}\r\n`);
      socket.write(chunk);
      ok = socket.write('\r\n');
    }
    return ok;
  }

  /** The end of the body: the protocol's terminator, or the last chunk. */
  private endBody(socket: Socket): boolean {
    const protocol = this.u.protocol;
    const tail = protocol.bodyEnd ? protocol.bodyEnd() : null;
    corkForTick(socket);
    if (tail) return socket.write(tail);
    if (this.chunked) return socket.write('0\r\n\r\n');
    return true;
  }

  /** Unbuffered: body bytes go to the upstream as the client sends them. */
  private sendStreamed(conn: UpstreamConnection): void {
    const u = this.u;
    u.sendWaits();
    this.stream = u.client.streamBody({
      write: (chunk) => {
        if (u.connection !== conn) return true;
        return this.writeBody(conn.socket, chunk);
      },
      end: () => {
        this.stream = null;
        if (u.connection !== conn) return;
        this.endBody(conn.socket);
        this.complete = true;
        u.sent();
      },
      error: (status) => {
        this.stream = null;
        u.failed(status);
      },
    });
  }

  private sendFile(conn: UpstreamConnection, file: string): void {
    const u = this.u;
    u.sendWaits();
    const stream = createReadStream(file);
    stream.on('data', (chunk) => {
      if (u.connection !== conn) { stream.destroy(); return; }
      if (!this.writeBody(conn.socket, chunk as Buffer)) stream.pause();
      u.refreshTimer();
    });
    const resume = (): void => { stream.resume(); };
    conn.socket.on('drain', resume);
    stream.on('error', (err) => {
      conn.socket.off('drain', resume);
      u.client.log('crit', `could not read request body file "${file}": ${err.message}`);
      u.finalize(500);
    });
    stream.on('end', () => {
      conn.socket.off('drain', resume);
      if (u.connection !== conn) return;
      this.endBody(conn.socket);
      this.complete = true;
      u.sent();
    });
  }
}

/**
 * What is written to `socket` until the end of this tick leaves in one write: a frame's
 * pieces, and the last of the body with its terminator, as nginx sends one chain (a peer
 * may read a record's header without its content, or the data without the last chunk).
 */
function corkForTick(socket: Socket): void {
  if (socket.writableCorked > 0) return;
  socket.cork();
  process.nextTick(() => socket.uncork());
}
