/**
 * Response buffering to a temp file (the temp-file half of ngx_event_pipe,
 * with proxy_buffering on): once the client lags behind by more than
 * proxy_buffers, the upstream's bytes go to a file under proxy_temp_path and
 * are sent from there as the client drains, so a slow client does not hold
 * the upstream connection. Past proxy_max_temp_file_size the caller holds the
 * upstream by backpressure instead. The file is removed when the response
 * ends, however it ends.
 *
 * Order is kept by one rule: once spooling started, every later byte goes
 * through the file.
 */
import { close, mkdirSync, open, read, unlink, write } from 'node:fs';
import type { ClientBodyWriter } from './client.js';
import { join } from 'node:path';

let spoolSerial = 0;

/** Bytes waiting in memory for the file (a slow disk): past this the upstream is held too. */
const QUEUE_CAP = 256 * 1024;

export class ResponseSpool {
  private fd = -1;
  private opening = false;
  private path: string | null = null;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private writing = false;
  /** Bytes accepted, written to the file, and read back and sent. */
  private appended = 0;
  private written = 0;
  private sent = 0;
  private reading = false;
  private waitingDrain = false;
  private ended = false;
  private done = false;

  constructor(
    private readonly res: ClientBodyWriter,
    private readonly dir: string,
    /** proxy_max_temp_file_size: the most the file may hold unread. */
    private readonly maxSize: number,
    private readonly log: (message: string) => void,
    /** The spool has room again after being full: resume the upstream. */
    private readonly onRoom: () => void,
  ) {
    // The client may go away while the spool waits for 'drain', which then never comes.
    res.once('close', () => this.destroy());
  }

  /** Bytes in the spool not yet sent to the client. */
  get backlog(): number {
    return this.appended - this.sent;
  }

  /** Takes bytes for the client; false when the spool is full (hold the upstream). */
  append(view: Buffer): boolean {
    if (this.done) return true;
    this.queue.push(view);
    this.queued += view.length;
    this.appended += view.length;
    this.flushWrites();
    return !this.full();
  }

  private full(): boolean {
    return this.backlog >= this.maxSize || this.queued >= QUEUE_CAP;
  }

  /** The upstream's body is complete: end the response once everything is sent. */
  end(): void {
    this.ended = true;
    this.pump();
  }

  /** The response is over (client gone, error): drop the file. */
  destroy(): void {
    if (this.done) return;
    this.done = true;
    this.queue.length = 0;
    this.cleanup();
  }

  private flushWrites(): void {
    if (this.writing || this.done) return;
    if (this.fd === -1) {
      if (!this.opening) this.openFile();
      return;
    }
    const buf = this.queue.shift();
    if (!buf) return;
    this.writing = true;
    write(this.fd, buf, 0, buf.length, this.written, (err) => {
      this.writing = false;
      if (err) { this.fail(`write() to "${this.path}" failed (${err.message})`); return; }
      const wasFull = this.full();
      this.queued -= buf.length;
      this.written += buf.length;
      if (wasFull && !this.full()) this.onRoom();
      this.pump();
      this.flushWrites();
    });
  }

  private openFile(): void {
    this.opening = true;
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (err) {
      this.fail(`mkdir() "${this.dir}" failed (${(err as Error).message})`);
      return;
    }
    const path = join(this.dir, String(process.pid * 1000 + (++spoolSerial % 1000)).padStart(10, '0'));
    this.path = path;
    open(path, 'w+', 0o600, (err, fd) => {
      this.opening = false;
      if (err) { this.fail(`open() "${path}" failed (${err.message})`); return; }
      if (this.done) { close(fd, () => unlink(path, () => {})); return; }
      this.fd = fd;
      // The name is only needed to open it: unlink now so nothing is left behind even on a crash.
      unlink(path, () => {});
      this.flushWrites();
    });
  }

  /** Sends what the file holds while the client takes it. */
  private pump(): void {
    if (this.reading || this.done || this.waitingDrain) return;
    const res = this.res;
    if (res.destroyed) { this.destroy(); return; }
    const available = this.written - this.sent;
    if (available <= 0) {
      if (this.ended && this.sent === this.appended) {
        this.done = true;
        res.end();
        this.cleanup();
      }
      return;
    }
    const n = Math.min(available, 65536);
    const buf = Buffer.allocUnsafe(n);
    this.reading = true;
    read(this.fd, buf, 0, n, this.sent, (err, bytes) => {
      this.reading = false;
      if (this.done) return;
      if (err || bytes === 0) { this.fail(`read() from "${this.path}" failed (${err ? err.message : 'end of file'})`); return; }
      const wasFull = this.full();
      this.sent += bytes;
      const ok = res.write(bytes === n ? buf : buf.subarray(0, bytes));
      if (wasFull && !this.full()) this.onRoom();
      if (ok) { this.pump(); return; }
      this.waitingDrain = true;
      res.once('drain', () => { this.waitingDrain = false; this.pump(); });
    });
  }

  private fail(message: string): void {
    this.log(message);
    this.done = true;
    this.res.destroy();
    this.cleanup();
  }

  private cleanup(): void {
    if (this.fd !== -1) {
      const fd = this.fd;
      this.fd = -1;
      close(fd, () => {});
    }
  }
}
