/**
 * Access logs whose path has variables (ngx_http_log_script_write), with
 * `open_log_file_cache` (ngx_open_file_cache as the log module uses it).
 *
 * Without a cache (`off`, the default) each line opens the file, writes and
 * closes it, as nginx does: a file renamed or removed is recreated at the
 * path on the next line. With `max=N [inactive=10s] [min_uses=1] [valid=60s]`
 * a path's descriptor is kept open once it was used min_uses times within
 * `inactive`; the least recently used one is closed when a new path would
 * make more than max, and a descriptor older than `valid` is opened afresh.
 * A line that cannot be written is dropped with nginx's
 * `[crit] open() "path" failed (errno)`.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { errnoText } from '../process/errno.js';

export interface OpenLogFileCacheConf {
  readonly max: number;
  readonly inactiveMs: number;
  readonly minUses: number;
  readonly validMs: number;
}

interface CachedFile {
  fd: number | null;
  uses: number;
  lastUse: number;
  /** When fd was opened (for `valid`). */
  opened: number;
}

/** Parses open_log_file_cache's arguments: the conf, null for `off`, or an error message. */
export function parseOpenLogFileCache(args: readonly string[], parseTimeMs: (s: string) => number | null): OpenLogFileCacheConf | null | string {
  let max = 0;
  let inactiveMs = 10_000;
  let validMs = 60_000;
  let minUses = 1;
  let off = false;
  for (const a of args) {
    const num = (s: string): number | null => (/^[0-9]+$/.test(s) ? Number(s) : null);
    let ok = true;
    if (a.startsWith('max=')) { const n = num(a.slice(4)); if (n === null) ok = false; else max = n; } else if (a.startsWith('inactive=')) { const t = parseTimeMs(a.slice(9)); if (t === null) ok = false; else inactiveMs = t; } else if (a.startsWith('min_uses=')) { const n = num(a.slice(9)); if (n === null) ok = false; else minUses = n; } else if (a.startsWith('valid=')) { const t = parseTimeMs(a.slice(6)); if (t === null) ok = false; else validMs = t; } else if (a === 'off') off = true;
    else ok = false;
    if (!ok) return `invalid "open_log_file_cache" parameter "${a}"`;
  }
  if (off) return null;
  if (max === 0) return '"open_log_file_cache" must have "max" parameter';
  return { max, inactiveMs, minUses, validMs };
}

export type LogWriteError = (message: string) => void;

function openLog(path: string): number {
  return openSync(Buffer.from(path, 'latin1'), 'a', 0o644);
}

/** Writes `data` (a byte string) to `path`, opening and closing it (no cache). */
export function writeUncached(path: string, data: Buffer, onError: LogWriteError): void {
  let fd: number;
  try {
    fd = openLog(path);
  } catch (err) {
    onError(`open() "${path}" failed (${errnoText(err)})`);
    return;
  }
  try { writeSync(fd, data); } catch (err) { onError(`write() to "${path}" failed (${errnoText(err)})`); }
  try { closeSync(fd); } catch { /* nothing to do */ }
}

/** One location's open_log_file_cache. */
export class LogFileCache {
  /** In LRU order: the first is the least recently used. */
  private readonly files = new Map<string, CachedFile>();

  constructor(private readonly conf: OpenLogFileCacheConf) {}

  write(path: string, data: Buffer, onError: LogWriteError, now = Date.now()): void {
    this.expire(now);
    let f = this.files.get(path);
    if (f !== undefined) {
      this.files.delete(path);
      this.files.set(path, f);
      f.uses++;
      f.lastUse = now;
      if (f.fd !== null && now - f.opened >= this.conf.validMs) this.closeFd(f);
    }
    let fd = f?.fd ?? null;
    if (fd === null) {
      try {
        fd = openLog(path);
      } catch (err) {
        // ngx_open_cached_file: a file that does not open makes no entry (and closes none)
        onError(`open() "${path}" failed (${errnoText(err)})`);
        return;
      }
      if (f === undefined) {
        // ngx_expire_old_cached_files: room for the new one by closing the oldest
        if (this.files.size >= this.conf.max) this.evictOldest();
        f = { fd: null, uses: 1, lastUse: now, opened: 0 };
        this.files.set(path, f);
      }
      if (f.uses >= this.conf.minUses) { f.fd = fd; f.opened = now; }
    }
    try { writeSync(fd, data); } catch (err) { onError(`write() to "${path}" failed (${errnoText(err)})`); }
    // not kept (fewer uses than min_uses): closed as nginx's cleanup closes it
    if (f?.fd !== fd) { try { closeSync(fd); } catch { /* nothing to do */ } }
  }

  /** Entries unused for `inactive` go (their descriptors closed). */
  private expire(now: number): void {
    for (const [path, f] of this.files) {
      if (now - f.lastUse < this.conf.inactiveMs) break;
      this.closeFd(f);
      this.files.delete(path);
    }
  }

  private evictOldest(): void {
    const first = this.files.entries().next();
    if (first.done === true) return;
    this.closeFd(first.value[1]);
    this.files.delete(first.value[0]);
  }

  private closeFd(f: CachedFile): void {
    if (f.fd !== null) { try { closeSync(f.fd); } catch { /* already gone */ } }
    f.fd = null;
  }

  /** Reopen (USR1) and stop: every descriptor is closed; the next line opens its file again. */
  closeAll(): void {
    for (const f of this.files.values()) this.closeFd(f);
    this.files.clear();
  }

  /** Open descriptors (for tests). */
  get openCount(): number {
    let n = 0;
    for (const f of this.files.values()) if (f.fd !== null) n++;
    return n;
  }
}
