/**
 * limit_rate for one reply, as nginx's write filter paces: by second S of
 * the request, `after` + rate * (S + 1) bytes may have gone (head
 * included), counted in whole seconds as nginx's ngx_time() - start_sec + 1;
 * what a write brings beyond that is held. After a burst of n bytes it
 * sleeps the time n bytes take at the rate; when nothing may go, until the
 * missing bytes are allowed.
 */
export class RatePacer {
  private readonly held: Buffer[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sent = 0;
  private readonly startSec: number;

  constructor(
    private readonly rate: number,
    private readonly after: number,
    startMs: number,
    /** Called when held bytes may go (take them with take()). */
    private readonly wake: () => void,
    private readonly clock: () => number = Date.now,
  ) {
    this.startSec = Math.floor(startMs / 1000);
  }

  get holding(): boolean {
    return this.held.length > 0;
  }

  /** Takes `chunk`: returns what may go now (a view, or null), holding the rest. */
  admit(chunk: Buffer): Buffer | null {
    if (this.held.length > 0) { this.held.push(chunk); return null; }
    const n = this.allowance();
    if (n >= chunk.length) { this.sent += chunk.length; return chunk; }
    this.held.push(n > 0 ? chunk.subarray(n) : chunk);
    if (n <= 0) { this.sleep(0, n); return null; }
    this.sent += n;
    this.sleep(n, 0);
    return chunk.subarray(0, n);
  }

  /** The held bytes that may go now, in order; sleeps again while some stay held. */
  take(): Buffer[] {
    const out: Buffer[] = [];
    const allowed = this.allowance();
    let n = allowed;
    while (n > 0 && this.held.length > 0) {
      const b = this.held[0];
      if (b.length <= n) { out.push(b); this.held.shift(); n -= b.length; continue; }
      out.push(b.subarray(0, n));
      this.held[0] = b.subarray(n);
      n = 0;
    }
    const burst = Math.max(0, allowed) - n;
    this.sent += burst;
    if (this.held.length > 0) this.sleep(burst, allowed);
    return out;
  }

  stop(): void {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    this.held.length = 0;
  }

  private allowance(): number {
    const seconds = Math.floor(this.clock() / 1000) - this.startSec + 1;
    return this.after + this.rate * seconds - this.sent;
  }

  /** nginx's delays: a burst's cost at the rate, else until the missing bytes are allowed. */
  private sleep(burst: number, allowance: number): void {
    if (this.timer !== null) return;
    const delay = burst > 0 ? Math.floor(burst * 1000 / this.rate) : Math.floor(-allowance * 1000 / this.rate) + 1;
    this.timer = setTimeout(() => { this.timer = null; this.wake(); }, Math.max(1, delay));
  }
}
