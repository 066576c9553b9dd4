/**
 * Writing one cache entry (ngx_http_file_cache_update's job, and the temp
 * file of the event pipe): the head and the body go to a temp file while the
 * response streams to the client; only a body that ended well is renamed
 * into place, so a reader never opens a partial entry.
 *
 * One writer per entry across every worker: the writer first creates
 * `<entry>.lck` exclusively. If another process holds it, nothing is stored
 * (the other's copy will be). A writer touches its lock while it writes, so
 * a lock older than STALE_LOCK_MS belongs to a writer that died and is taken
 * over. Bytes that arrive before the files are open wait in memory.
 *
 * Failures (no space, a directory removed under us, permissions) are logged
 * at crit, as nginx's, and only cost the entry: the client's response goes on.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { copyFile, mkdir, open, stat, unlink, rename, utimes } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CacheZone, ZoneLog } from './cache-zone.js';

const STALE_LOCK_MS = 30_000;
const TOUCH_MS = 5_000;
let tempSerial = 0;

/** Writers whose files are still being written, renamed or cleaned up. */
const inFlight = new Set<Promise<void>>();

/**
 * Resolves once every writer of this process has put its entry in place or
 * removed its files (at most `ms`): a stop waits for them, so that no file
 * appears in the cache directory after the runtime stopped.
 */
export async function writersSettled(ms: number): Promise<void> {
  if (inFlight.size === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); timer.unref(); });
  await Promise.race([Promise.all(inFlight), bound]);
  clearTimeout(timer);
}

export class EntryWriter {
  private stream: WriteStream | null = null;
  private pending: Buffer[] | null = [];
  private failed = false;
  private size = 0;
  private ended: ((ok: boolean) => void) | null = null;
  private commitWanted = false;
  private readonly lock: string;
  private readonly temp: string;
  private touchTimer: NodeJS.Timeout | null = null;
  private locked = false;
  /** Its files' work: resolves after finish() and the unlinks it starts. */
  private settle!: () => void;
  private readonly cleanups: Promise<unknown>[] = [];

  constructor(
    private readonly zone: CacheZone,
    private readonly md5: string,
    private readonly path: string,
    tempDir: string | null,
    head: Buffer,
    /** The body's length from the head; -1 unknown. */
    private readonly expected: number,
    private readonly log: ZoneLog,
    /** This request took the entry over from a writer past proxy_cache_lock_age (in this process): its lock is ours. */
    private readonly takeover = false,
    /** Still the entry's writer (false once a later request took over: both copies are put in place, the last wins, as nginx). */
    private readonly current: () => boolean = () => true,
  ) {
    this.lock = `${path}.lck`;
    this.temp = `${tempDir ?? dirname(path)}/${md5}.${process.pid}.${++tempSerial}.tmp`;
    this.pending!.push(head);
    const life = new Promise<void>((resolve) => { this.settle = resolve; });
    inFlight.add(life);
    void life.then(() => inFlight.delete(life));
    void this.begin();
  }

  /** A file removal the writer's life includes (its failure is not one). */
  private remove(file: string): void {
    this.cleanups.push(unlink(file).catch(() => {}));
  }

  private async begin(): Promise<void> {
    try {
      await mkdir(dirname(this.path), { recursive: true });
      if (!(await this.takeLock())) { this.drop(); return; }
      this.locked = true;
      if (this.failed) { this.finish(false); return; }
      const stream = createWriteStream(this.temp, { flags: 'wx' });
      stream.on('error', (err: NodeJS.ErrnoException) => this.fail(`write "${this.temp}" failed (${err.code ?? err.message})`));
      this.stream = stream;
      for (const b of this.pending!) stream.write(b);
      this.pending = null;
      this.touchTimer = setInterval(() => { const t = new Date(); utimes(this.lock, t, t).catch(() => {}); }, TOUCH_MS);
      this.touchTimer.unref();
      if (this.commitWanted) this.commit(this.ended!);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.fail(`mkdir/open for "${this.path}" failed (${e.code ?? e.message})`);
    }
  }

  /** true: this process writes the entry. */
  private async takeLock(): Promise<boolean> {
    if (this.takeover) await unlink(this.lock).catch(() => {});
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(this.lock, 'wx');
        await fh.close();
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const st = await stat(this.lock).catch(() => null);
        if (st !== null && Date.now() - st.mtimeMs < STALE_LOCK_MS) return false;
        await unlink(this.lock).catch(() => {});
      }
    }
    return false;
  }

  write(chunk: Buffer): void {
    if (this.failed) return;
    this.size += chunk.length;
    if (this.pending !== null) { this.pending.push(Buffer.from(chunk)); return; }
    this.stream!.write(chunk);
  }

  /** The body ended well: the entry goes into place. `done(true)` once it is there. */
  commit(done: (ok: boolean) => void): void {
    this.ended = done;
    if (this.failed) { this.finish(false); return; }
    if (this.pending !== null) { this.commitWanted = true; return; }
    if (this.expected >= 0 && this.size !== this.expected) { this.abort(done); return; }
    this.stream!.end(() => { if (!this.failed) void this.place(); });
  }

  private async place(): Promise<void> {
    try {
      const st = await stat(this.temp);
      await mkdir(dirname(this.path), { recursive: true });
      try {
        await rename(this.temp, this.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
        // proxy_temp_path on another file system: copy beside the entry, then rename (still atomic for readers).
        const near = `${this.path}.${process.pid}.tmp`;
        await copyFile(this.temp, near);
        await rename(near, this.path);
        await unlink(this.temp).catch(() => {});
      }
      this.zone.stored(this.md5, st.size);
      this.finish(true);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.fail(`rename() "${this.temp}" to "${this.path}" failed (${e.code ?? e.message})`);
    }
  }

  /** The response did not end well (or is not to be kept): nothing is stored. */
  abort(done: (ok: boolean) => void): void {
    this.ended = done;
    this.failed = true;
    if (this.pending !== null) { this.commitWanted = true; this.pending = []; return; }
    this.stream?.destroy();
    this.remove(this.temp);
    this.finish(false);
  }

  private fail(line: string): void {
    if (!this.failed) this.log('crit', line);
    this.failed = true;
    this.stream?.destroy();
    if (this.stream !== null) this.remove(this.temp);
    if (this.ended !== null) this.finish(false);
  }

  /** Another process writes this entry: what came is dropped. */
  private drop(): void {
    this.failed = true;
    this.pending = null;
    if (this.ended !== null) this.finish(false);
  }

  private finish(ok: boolean): void {
    const done = this.ended;
    this.ended = null;
    if (this.touchTimer !== null) { clearInterval(this.touchTimer); this.touchTimer = null; }
    // A writer that was taken over from leaves the lock file to its successor.
    if (this.locked) { this.locked = false; if (this.current()) this.remove(this.lock); }
    done?.(ok);
    void Promise.all(this.cleanups).then(() => this.settle());
  }
}
