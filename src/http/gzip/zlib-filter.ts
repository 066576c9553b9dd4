/**
 * A body filter over a node:zlib stream: gzip's deflate (an encoder of the
 * client's whole body) and gunzip's inflate (a content filter). The bytes a
 * handler writes go into zlib; what zlib makes goes to the next writer as it
 * comes, never a whole response at once.
 *
 * Backpressure, both ways:
 *   - zlib's output waits while the next writer is behind (its write said
 *     false): the stream is paused until the client's 'drain', so zlib stops
 *     taking input too;
 *   - write() says false while zlib holds more input than its high-water mark
 *     or the output is held; the producer then waits for the reply's
 *     'drain', which this filter emits itself once zlib has caught up and the
 *     socket is not behind (the socket would never emit it otherwise).
 *   - `held()` tells the reply how much input zlib still holds, so that
 *     writers that judge by the reply's writableLength (subrequest output
 *     through the postpone tree) wait for zlib too.
 *
 * Flushes: nginx flushes zlib (Z_SYNC_FLUSH) when a buffer comes with the
 * flush flag, which the upstream sets on each read when proxy_buffering is
 * off. weir's writers do not mark flushes, so this filter flushes when its
 * input goes idle: no write for a whole turn of the event loop after bytes
 * came (two checks: the first runs in the turn of the write). A stream
 * that arrives in bursts then reaches the client as it goes
 * (what buffering off asks for); a body written in one go is not cut up.
 *
 * The client going away destroys the zlib stream (its memory is freed at
 * once, no callback is left pending), and a zlib error (a corrupt gzip body
 * for gunzip) is logged and cuts the response, as nginx's NGX_ERROR does.
 */
import { constants as zc, type Gunzip, type Gzip } from 'node:zlib';
import type { BodyWriter, ConnectionReply } from '../client-reply.js';
import type { HttpRequest } from '../request.js';

export type ZlibStream = Gzip | Gunzip;

/** zlib streams started and not yet released (for tests: an aborted response must free its own). */
let live = 0;
export function liveZlibStreams(): number {
  return live;
}

export class ZlibFilter implements BodyWriter {
  /** Bytes taken and made (gzip's $gzip_ratio: nginx's ctx->zin, ctx->zout). */
  zin = 0;
  zout = 0;
  private z: ZlibStream | null = null;
  private readonly client: ConnectionReply;
  /** The next writer said false: output waits for the client's 'drain'. */
  private blocked = false;
  /** write() said false: the producer waits for a 'drain'. */
  private owesDrain = false;
  private ended = false;
  private done = false;
  /** Input came since the last flush (or the start). */
  private unflushed = false;
  private idleCheck: NodeJS.Immediate | null = null;
  /** Bumped on every write: the idle check sees whether input came meanwhile. */
  private writes = 0;
  private writesAtCheck = 0;
  private checkedOnce = false;

  private readonly onData = (out: Buffer): void => {
    this.zout += out.length;
    if (!this.next.write(out) && !this.blocked) {
      this.blocked = true;
      this.z?.pause();
    }
  };
  private readonly onEnd = (): void => {
    if (this.done) return;
    this.release();
    this.next.end();
  };
  private readonly onError = (err: Error): void => {
    if (this.done) return;
    this.r.log('error', `${this.what}() failed: ${err.message}`);
    this.release();
    this.client.destroy();
  };
  private readonly onZlibDrain = (): void => this.maybeDrain();
  private readonly onClientDrain = (): void => {
    if (this.blocked) {
      this.blocked = false;
      this.z?.resume();
    }
    // This very 'drain' reaches the producer too (it listens after us): no second one is owed.
    this.owesDrain = false;
  };
  private readonly onClientClose = (): void => {
    // 'close' follows 'finish' too; then the stream has ended already.
    if (!this.done) this.release();
  };
  private readonly checkIdle = (): void => {
    this.idleCheck = null;
    if (this.done || this.ended) return;
    // The first check runs in the loop turn of the write itself (right after its poll
    // phase): idle means no write until the check of the next turn.
    if (this.writes !== this.writesAtCheck || !this.checkedOnce) {
      this.checkedOnce = true;
      this.writesAtCheck = this.writes;
      this.idleCheck = setImmediate(this.checkIdle);
      return;
    }
    this.checkedOnce = false;
    if (this.unflushed && this.z !== null) {
      this.unflushed = false;
      this.z.flush(zc.Z_SYNC_FLUSH);
    }
  };

  /**
   * `make` creates the zlib stream at the first body byte (a HEAD response or
   * an aborted one never allocates zlib's memory); `what` names it in logs
   * (`deflate`, `inflate`).
   */
  constructor(
    private readonly r: HttpRequest,
    private readonly next: BodyWriter,
    private readonly make: () => ZlibStream,
    private readonly what: string,
  ) {
    this.client = r.main.res as ConnectionReply;
    this.client.on('close', this.onClientClose);
  }

  /** Input zlib holds and has not compressed yet (the reply counts it as its own). */
  held(): number {
    const z = this.z;
    return z === null ? 0 : z.writableLength;
  }

  write(chunk: Buffer): boolean {
    if (this.done || this.ended) return false;
    if (chunk.length === 0) return !this.blocked;
    const z = this.z ?? this.start();
    this.zin += chunk.length;
    this.unflushed = true;
    this.writes++;
    if (this.idleCheck === null) {
      this.writesAtCheck = this.writes;
      this.checkedOnce = false;
      this.idleCheck = setImmediate(this.checkIdle);
    }
    const more = z.write(chunk) && !this.blocked;
    if (!more) this.owesDrain = true;
    return more;
  }

  end(): void {
    if (this.done || this.ended) return;
    this.ended = true;
    if (this.idleCheck !== null) { clearImmediate(this.idleCheck); this.idleCheck = null; }
    // A HEAD response has no body; the body of a GET with none is still a (short) zlib stream.
    if (this.r.method === 'HEAD') { this.release(); this.next.end(); return; }
    (this.z ?? this.start()).end();
  }

  private start(): ZlibStream {
    const z = this.make();
    this.z = z;
    live++;
    z.on('data', this.onData);
    z.on('end', this.onEnd);
    z.on('error', this.onError);
    z.on('drain', this.onZlibDrain);
    this.client.on('drain', this.onClientDrain);
    return z;
  }

  /** The producer waits for a 'drain' that only zlib's progress can bring: emit it once zlib and the socket take more. */
  private maybeDrain(): void {
    if (!this.owesDrain || this.blocked || this.done) return;
    const z = this.z;
    if (z !== null && z.writableNeedDrain) return;
    if (this.client.socket.writableNeedDrain) return; // the socket's own 'drain' will come
    this.owesDrain = false;
    this.client.emit('drain');
  }

  /** Drops the stream and every listener (the response ended, failed or was cut). */
  private release(): void {
    this.done = true;
    if (this.idleCheck !== null) { clearImmediate(this.idleCheck); this.idleCheck = null; }
    this.client.off('close', this.onClientClose);
    this.client.off('drain', this.onClientDrain);
    const z = this.z;
    if (z === null) return;
    live--;
    z.off('data', this.onData);
    z.off('drain', this.onZlibDrain);
    // An error after this (from a destroyed stream's pending work) must not go unhandled.
    z.off('error', this.onError);
    z.on('error', ignore);
    if (!z.writableFinished || !z.readableEnded) z.destroy();
  }
}

function ignore(): void {}
