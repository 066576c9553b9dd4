/**
 * A keys zone: the index of one cache directory (nginx's
 * ngx_http_file_cache_sh_t: the rbtree of ngx_http_file_cache_node_t, the LRU
 * queue, the size), its loader and its manager.
 *
 * The index is this process's (docs/design.md, "The proxy cache" says why):
 * the files are the shared truth. A lookup always reads the entry file, so
 * every worker sees what any worker stored; the index holds what the hot
 * path must not ask the disk for (uses for min_uses, who is updating an
 * entry and who waits for it) and what the manager needs (sizes, last use).
 * Only one writer per entry, across workers too: the writer holds
 * `<entry>.lck`, created exclusively (O_EXCL) and touched while it writes, so
 * a crashed writer's lock goes stale and is taken over.
 *
 * The loader walks the directory once after start (loader_files entries per
 * turn, then loader_sleep; a turn also ends after loader_threshold ms), never
 * before the first request: until it is done the zone is "cold" and a lookup
 * does not trust the index's "not there". The manager removes entries unused
 * for `inactive`, and the least recently used while the zone's files exceed
 * max_size or the disk has less than min_free free (manager_files per turn,
 * then manager_sleep), as ngx_http_file_cache_manager.
 */
import { readdir, stat, statfs, unlink } from 'node:fs/promises';
import { entryPath } from './entry-file.js';
import type { CachePathConf } from './cache-path.js';

export interface CacheNode {
  uses: number;
  /** An entry file was stored or found for it. */
  exists: boolean;
  /** Bytes on disk (0 unknown). */
  size: number;
  /** Last use (ms), for inactive. */
  lastAccess: number;
  /** A request of this process is fetching it to store (nginx's fcn->updating). */
  updating: boolean;
  /** Its body ended and the file is being put in place: a lookup waits for it (nginx renames before it answers). */
  committing: boolean;
  /** Which updater is the current one: a request past lock_age takes over and bumps it. */
  lockSerial: number;
  /** When that fetch started (lock_age). */
  lockTime: number;
  /** Requests waiting for it (proxy_cache_lock). */
  readonly waiters: Set<() => void>;
}

export type ZoneLog = (level: 'crit' | 'alert' | 'error' | 'warn' | 'info' | 'notice', message: string) => void;

const HEX32 = /^[0-9a-f]{32}$/;
/** A temp file this old with no writer is left over from a crash. */
const STALE_TEMP_MS = 60_000;
/** The manager looks again at least this often (nginx: 10 s). */
const MANAGER_MAX_WAIT = 10_000;

export class CacheZone {
  /** By MD5; Map order is the LRU queue, least recently used first. */
  readonly nodes = new Map<string, CacheNode>();
  size = 0;
  cold = true;
  private started = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(readonly conf: CachePathConf, private readonly log: ZoneLog) {}

  path(md5: string): string {
    return entryPath(this.conf.dir, this.conf.levels, md5);
  }

  /** The loader and the manager start with the first use, so they never delay one. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const t = setTimeout(() => { void this.load(); }, 0);
    t.unref();
    this.schedule(this.conf.managerSleep);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** The node for `md5`, made now if new, moved to the queue's recent end. */
  touch(md5: string, now: number): CacheNode {
    let n = this.nodes.get(md5);
    if (n === undefined) {
      n = { uses: 0, exists: false, size: 0, lastAccess: now, updating: false, committing: false, lockSerial: 0, lockTime: 0, waiters: new Set() };
    } else this.nodes.delete(md5);
    n.lastAccess = now;
    this.nodes.set(md5, n);
    return n;
  }

  /** An entry file is now in place with `size` bytes. */
  stored(md5: string, size: number): void {
    const n = this.touch(md5, Date.now());
    this.size += size - n.size;
    n.size = size;
    n.exists = true;
    if (this.size > this.conf.maxSize) this.schedule(0);
  }

  /** The entry file is gone (found missing, corrupt, or removed by the manager). */
  forget(md5: string): void {
    const n = this.nodes.get(md5);
    if (n === undefined) return;
    this.size -= n.size;
    n.size = 0;
    n.exists = false;
  }

  /** Wakes the requests waiting for `md5` (its update ended one way or another). */
  wake(n: CacheNode): void {
    const waiters = [...n.waiters];
    n.waiters.clear();
    for (const w of waiters) w();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = null; void this.manage(); }, ms);
    this.timer.unref();
  }

  // The loader (ngx_http_file_cache_loader).

  private async load(): Promise<void> {
    const levels = this.conf.levels.length;
    let count = 0;
    let turn = Date.now();
    const pause = async (): Promise<void> => {
      if (++count < this.conf.loaderFiles && Date.now() - turn < this.conf.loaderThreshold) return;
      await new Promise<void>((res) => { const t = setTimeout(res, this.conf.loaderSleep); t.unref(); });
      count = 0;
      turn = Date.now();
    };
    const walk = async (dir: string, depth: number): Promise<void> => {
      let names: import('node:fs').Dirent[];
      try {
        names = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of names) {
        if (this.stopped) return;
        const p = `${dir}/${e.name}`;
        if (e.isDirectory()) { if (depth < levels) await walk(p, depth + 1); continue; }
        if (!e.isFile()) continue;
        await pause();
        await this.loadFile(p, e.name, depth === levels);
      }
    };
    try {
      await walk(this.conf.dir, 0);
    } finally {
      this.cold = false;
      this.log('notice', `http file cache: ${this.conf.dir} ${(this.size / 1048576).toFixed(3)}M, bsize: 4096`);
    }
  }

  private async loadFile(p: string, name: string, atLevel: boolean): Promise<void> {
    let st: import('node:fs').Stats;
    try {
      st = await stat(p);
    } catch {
      return;
    }
    if (HEX32.test(name) && atLevel && this.path(name) === p) {
      if (this.nodes.has(name)) return;
      const n = this.touch(name, Date.now());
      n.exists = true;
      n.uses = 1;
      n.size = st.size;
      this.size += st.size;
      return;
    }
    // Temp files and locks a crashed writer left (a live writer touches its lock).
    if ((name.endsWith('.tmp') || name.endsWith('.lck')) && Date.now() - st.mtimeMs > STALE_TEMP_MS) {
      await unlink(p).catch(() => {});
    }
  }

  // The manager (ngx_http_file_cache_manager): inactive, then max_size / min_free.

  private async manage(): Promise<void> {
    const c = this.conf;
    const now = Date.now();
    let files = 0;
    let next = Math.min(MANAGER_MAX_WAIT, c.inactive);
    for (const [md5, n] of this.nodes) {
      if (this.stopped) return;
      if (n.updating || n.waiters.size !== 0) continue;
      const idle = now - n.lastAccess;
      if (idle < c.inactive) { next = Math.min(next, c.inactive - idle); break; }
      await this.remove(md5, n);
      if (++files >= c.managerFiles) { next = c.managerSleep; break; }
    }
    while (!this.stopped && (this.size > c.maxSize || (c.minFree > 0 && await this.freeBytes() < c.minFree))) {
      const oldest = this.oldestIdle();
      if (oldest === null) break;
      await this.remove(oldest[0], oldest[1]);
      if (++files >= c.managerFiles) { next = c.managerSleep; break; }
    }
    this.schedule(Math.max(next, c.managerSleep));
  }

  private oldestIdle(): [string, CacheNode] | null {
    for (const e of this.nodes) {
      if (!e[1].updating && e[1].waiters.size === 0 && e[1].exists) return e;
    }
    return null;
  }

  private async freeBytes(): Promise<number> {
    try {
      const s = await statfs(this.conf.dir);
      return s.bavail * s.bsize;
    } catch {
      return Infinity;
    }
  }

  private async remove(md5: string, n: CacheNode): Promise<void> {
    this.nodes.delete(md5);
    this.size -= n.size;
    await unlink(this.path(md5)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') this.log('crit', `unlink() "${this.path(md5)}" failed (${err.code ?? err.message})`);
    });
  }
}

/** This process's zones: one per name, size and directory, kept while a reload keeps all three. */
const zones = new Map<string, CacheZone>();

export function cacheZone(conf: CachePathConf, log: ZoneLog): CacheZone {
  const id = `${conf.zoneName}:${conf.zoneSize}:${conf.dir}`;
  let z = zones.get(id);
  if (z === undefined || z.conf !== conf && !sameConf(z.conf, conf)) {
    z?.stop();
    z = new CacheZone(conf, log);
    zones.set(id, z);
  }
  z.start();
  return z;
}

function sameConf(a: CachePathConf, b: CachePathConf): boolean {
  return a.levels.join(':') === b.levels.join(':') && a.inactive === b.inactive && a.maxSize === b.maxSize && a.minFree === b.minFree;
}

/** Tests and shutdown: stops every zone's timers. */
export function stopCacheZones(): void {
  for (const z of zones.values()) z.stop();
  zones.clear();
}
