/**
 * Where the response body goes once its head was accepted: to the client,
 * with proxy_buffering's budget, the temp file past it, and
 * proxy_limit_rate's pacing of the upstream.
 *
 * proxy_buffering: the upstream is read on while what the client has not
 * taken yet fits proxy_buffers; past that it is held, and if the client is
 * still behind once node handed its writes to the kernel (node corks a
 * response within one tick, so a single large read always looks congested
 * at first), the body goes on through a temp file (response-spool.ts) up to
 * proxy_max_temp_file_size. With buffering off, backpressure only.
 */
import type { UpstreamConnection } from './connection.js';
import { ResponseSpool } from './response-spool.js';
import type { Upstream } from './upstream.js';

export class ResponseSink {
  /** Bytes the client may lag behind before the upstream is held. */
  private budget = 0;
  /** The client holds the upstream back (its send_timeout runs meanwhile). */
  holding = false;
  private spoolCheck = false;
  private spool: ResponseSpool | null = null;
  private spoolFull = false;
  /** proxy_limit_rate in bytes/s (0: none), from when the head was accepted. */
  private rate = 0;
  private rateStart = 0;
  private rateBytes = 0;
  private rateTimer: NodeJS.Timeout | null = null;
  /** Body bytes received but not yet due under the rate (the upstream is held meanwhile). */
  private readonly rateQueue: Buffer[] = [];
  /** The body is complete: end the response once the queue is out. */
  private endAfterRate = false;

  constructor(private readonly u: Upstream) {}

  /** The head was accepted: `buffering` after X-Accel-Buffering, `rate` evaluated for the request. */
  begin(buffering: boolean, rate: number): void {
    const c = this.u.conf;
    this.budget = buffering ? c.buffers!.num * c.buffers!.size : 0;
    this.rate = rate;
    this.rateStart = Date.now();
  }

  /** One piece of body (a view, written without copying). */
  write(view: Buffer): void {
    if (this.rate > 0) { this.rateQueue.push(view); this.pumpRate(); return; }
    this.writeClient(view);
  }

  /** The body is complete: the client's response ends once what is held went out. */
  end(): void {
    if (this.rateQueue.length > 0) { this.endAfterRate = true; return; }
    this.stopRate();
    if (this.spool !== null) this.spool.end();
    else if (!this.u.client.reply.writableEnded) this.u.client.reply.end();
  }

  /** The response is cut: nothing held goes. */
  destroy(): void {
    this.stopRate();
    this.rateQueue.length = 0;
    this.spool?.destroy();
  }

  private stopRate(): void {
    if (this.rateTimer !== null) { clearTimeout(this.rateTimer); this.rateTimer = null; }
  }

  private upstream(): UpstreamConnection['socket'] | undefined {
    return this.u.connection?.socket;
  }

  private writeClient(view: Buffer): void {
    const u = this.u;
    const reply = u.client.reply;
    if (this.spool !== null) {
      if (!this.spool.append(view) && !this.spoolFull) { this.spoolFull = true; this.upstream()?.pause(); }
      return;
    }
    if (reply.write(view) || this.holding || reply.writableLength <= this.budget) return;
    this.holding = true;
    this.upstream()?.pause();
    reply.once('drain', () => this.clientDrained());
    u.clientHolds(true);
    const c = u.conf;
    if (this.budget > 0 && c.maxTempFileSize! > 0 && c.tempPath && !this.spoolCheck) {
      this.spoolCheck = true;
      setImmediate(() => {
        this.spoolCheck = false;
        if (this.holding && u.connection !== null && this.spool === null && reply.writableLength > this.budget) this.startSpool();
      });
    }
  }

  /** The client stays behind: from now on the response goes through a temp file and the upstream reads on. */
  private startSpool(): void {
    const u = this.u;
    const c = u.conf;
    this.spool = new ResponseSpool(u.client.reply, c.tempPath!, c.maxTempFileSize!,
      (message) => u.log('crit', `${message} while reading upstream`),
      () => { if (this.spoolFull) { this.spoolFull = false; if (this.rateTimer === null) this.upstream()?.resume(); } });
    this.holding = false;
    u.clientHolds(false);
    if (this.rateTimer === null) this.upstream()?.resume();
  }

  private clientDrained(): void {
    if (!this.holding) return;
    this.holding = false;
    if (this.u.connection !== null) this.u.clientHolds(false);
    if (this.rateTimer === null) this.upstream()?.resume();
  }

  /** Passes on as many queued bytes as the rate allows by now; holds the upstream while any wait. */
  private pumpRate(): void {
    if (this.rateTimer !== null) return;
    const reply = this.u.client.reply;
    // The client went away while bytes waited for their turn.
    if (reply.destroyed) { this.rateQueue.length = 0; return; }
    let budget = Math.floor((this.rate * (Date.now() - this.rateStart)) / 1000) - this.rateBytes;
    const queue = this.rateQueue;
    while (queue.length > 0 && budget > 0) {
      let v = queue[0];
      if (v.length > budget) { queue[0] = v.subarray(budget); v = v.subarray(0, budget); } else queue.shift();
      this.rateBytes += v.length;
      budget -= v.length;
      this.writeClient(v);
    }
    if (queue.length > 0) {
      this.upstream()?.pause();
      // Wake when the next 1 KiB (or the rest) is due.
      const next = Math.min(1024, queue[0].length);
      const wait = Math.max(5, Math.ceil(((next - budget) * 1000) / this.rate));
      this.rateTimer = setTimeout(() => { this.rateTimer = null; this.pumpRate(); }, wait);
      return;
    }
    if (this.endAfterRate) {
      this.endAfterRate = false;
      if (this.spool !== null) this.spool.end(); else reply.end();
      return;
    }
    if (!this.holding && this.u.connection !== null) this.upstream()?.resume();
  }
}
