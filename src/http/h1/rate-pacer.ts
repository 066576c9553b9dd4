/**
 * limit_rate for one reply: which bytes may go now, and the rest held until
 * they may (nginx's write filter sends `limit` bytes and sets a timer).
 * By startMs + t, `after` + rate * (t + 1 s) bytes may have gone: the first
 * second's worth goes at once, as nginx's `ngx_time() - start_sec + 1`, but
 * the allowance grows every millisecond rather than at each second's turn.
 */
export class RatePacer {
  private readonly held: Buffer[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sent = 0;

  constructor(
    private readonly rate: number,
    private readonly after: number,
    private readonly startMs: number,
    /** Called when held bytes may go (take them with take()). */
    private readonly wake: () => void,
  ) {}

  get holding(): boolean {
    return this.held.length > 0;
  }

  /** Takes `chunk`: returns what may go now (a view, or null), holding the rest. */
  admit(chunk: Buffer): Buffer | null {
    if (this.held.length > 0) { this.held.push(chunk); return null; }
    const n = this.allowance();
    if (n >= chunk.length) { this.sent += chunk.length; return chunk; }
    this.held.push(n > 0 ? chunk.subarray(n) : chunk);
    this.sleep();
    if (n <= 0) return null;
    this.sent += n;
    return chunk.subarray(0, n);
  }

  /** The held bytes that may go now, in order; sleeps again while some stay held. */
  take(): Buffer[] {
    const out: Buffer[] = [];
    let n = this.allowance();
    while (n > 0 && this.held.length > 0) {
      const b = this.held[0];
      if (b.length <= n) { out.push(b); this.held.shift(); n -= b.length; this.sent += b.length; continue; }
      out.push(b.subarray(0, n));
      this.held[0] = b.subarray(n);
      this.sent += n;
      n = 0;
    }
    if (this.held.length > 0) this.sleep();
    return out;
  }

  stop(): void {
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    this.held.length = 0;
  }

  private allowance(): number {
    return Math.floor(this.after + this.rate * (Date.now() - this.startMs + 1000) / 1000) - this.sent;
  }

  private sleep(): void {
    if (this.timer !== null) return;
    // Until a twentieth of a second's worth (or all that is held) may go: a
    // few timers a second, not one per millisecond's few bytes.
    let held = 0;
    for (let i = 0; i < this.held.length; i++) held += this.held[i].length;
    const want = Math.min(held, Math.max(1024, Math.floor(this.rate / 20)));
    const delay = Math.floor(Math.max(0, want - this.allowance()) * 1000 / this.rate) + 1;
    this.timer = setTimeout(() => { this.timer = null; this.wake(); }, delay);
  }
}
