/**
 * The cache of one proxied request: nginx's ngx_http_upstream_cache,
 * ngx_http_file_cache_open and the cache branches of
 * ngx_http_upstream_send_response, _test_next and _next, behind the upstream
 * core's port (src/upstream/cache-port.ts).
 *
 * lookup: the zone (a name, or a value naming it), the method
 * (proxy_cache_methods; a HEAD becomes GET upstream with convert_head), the
 * key and its MD5, proxy_cache_bypass (BYPASS: no lookup, still stored),
 * min_uses, then the entry file: fresh is a HIT, expired is kept for
 * use_stale and revalidation (EXPIRED), and while another request updates it,
 * UPDATING (use_stale updating) or a wait (proxy_cache_lock).
 *
 * header: a 304 to a revalidation refreshes the entry (REVALIDATED); a status
 * use_stale names serves the expired entry (STALE); otherwise the response is
 * stored when proxy_no_cache, buffering and its validity (validity.ts) allow,
 * and this request is the entry's one updater.
 *
 * proxy_cache_background_update: the first request to find an entry expired,
 * where use_stale updating (or stale-while-revalidate) allows it, answers
 * STALE at once and starts a background subrequest of its own URI
 * (ngx_http_upstream_cache_background_update). It takes the update and hands
 * it on: the subrequest, which never answers stale, goes upstream as EXPIRED
 * and stores what comes back. Until the subrequest takes it, the update is
 * still the client's request's, released when that ends.
 *
 * Deliberate differences: lock waiters wake as soon as the update ends
 * (nginx polls every 500 ms). The lock and UPDATING are this process's: a
 * request in another worker does not wait for this one's update (it goes
 * upstream and, as the writer's `.lck` is taken, stores nothing).
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import type { UpstreamCache } from '../../upstream/cache-port.js';
import { STATUS_FAILURE, FT } from '../../upstream/failure.js';
import type { Upstream } from '../../upstream/upstream.js';
import type { HttpRequest } from '../request.js';
import { anyTrue, METHOD_GET, METHOD_HEAD, METHOD_POST, type CacheLocConf } from './cache-conf.js';
import type { CachePathConf } from './cache-path.js';
import { cacheZone, type CacheNode, type CacheZone } from './cache-zone.js';
import { encodeHead, md5Hex, readEntry, writeValidUntil, type Entry, type EntryMeta } from './entry-file.js';
import { EntryWriter } from './entry-writer.js';
import { sendEntry } from './cache-send.js';
import { startSubrequest } from '../subrequest.js';
import { configuredValid, responseValidity } from './validity.js';

export type CacheStatus = 'MISS' | 'BYPASS' | 'EXPIRED' | 'STALE' | 'UPDATING' | 'REVALIDATED' | 'HIT';

/** $upstream_cache_status, and what a revalidation asks ($upstream_cache_last_modified, _etag). */
const statuses = new WeakMap<HttpRequest, CacheStatus>();
const revalidating = new WeakMap<HttpRequest, { lastModified: string | null; etag: string | null }>();
/** A background update's subrequest (nginx's r->background) and the update's turn its parent took for it. */
const handedUpdates = new WeakMap<HttpRequest, number>();

export function cacheStatusOf(r: HttpRequest): string | undefined {
  return statuses.get(r);
}
export function revalidationOf(r: HttpRequest): { lastModified: string | null; etag: string | null } | undefined {
  return revalidating.get(r);
}

/** Response fields never stored: the transfer framing the client's own response has. */
const NOT_STORED = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

export interface CacheSetup {
  readonly conf: CacheLocConf;
  /** proxy_temp_path ('' none): where temp files go with use_temp_path=on. */
  readonly tempPath: string;
  /** The upstream gets GET for this HEAD (proxy_cache_convert_head; only protocols that have it). */
  convertHead?(): void;
}

interface Held {
  readonly fh: FileHandle;
  readonly entry: Entry;
}

export class HttpCache implements UpstreamCache {
  storing = false;
  private u: Upstream | null = null;
  private proceed: (() => void) | null = null;
  private zone: CacheZone | null = null;
  private key = '';
  private md5 = '';
  private mainMd5 = '';
  private node: CacheNode | null = null;
  /** This request is the entry's updater (nginx's c->updating / the lock). */
  private updater = false;
  /** nginx's u->cacheable (the port's): lookup and header() clear it. */
  cacheable = true;
  /** An expired entry: for use_stale and revalidation. */
  private stale: Held | null = null;
  private writer: EntryWriter | null = null;
  private answer: (() => void) | null = null;
  private finished = false;
  private waitTimer: NodeJS.Timeout | null = null;
  private waiter: (() => void) | null = null;
  private waitStart = 0;
  private counted = false;
  /** This updater's turn (node.lockSerial), and whether it took over from one past lock_age. */
  private serial = 0;
  private tookOver = false;
  /** A HEAD sent upstream as GET. */
  private converted = false;

  constructor(private readonly r: HttpRequest, private readonly setup: CacheSetup) {}

  private get conf(): CacheLocConf {
    return this.setup.conf;
  }

  private set status(s: CacheStatus) {
    statuses.set(this.r, s);
  }

  lookup(u: Upstream, proceed: () => void): void {
    this.u = u;
    this.proceed = proceed;
    const r = this.r;
    const zoneConf = this.zoneConf();
    if (zoneConf === undefined) { this.cacheable = false; u.finalize(500); return; }
    if (zoneConf === null || !(methodBit(r.method) & this.conf.methods!)) { this.cacheable = false; proceed(); return; }
    if (r.method === 'HEAD' && this.conf.convertHead) { this.setup.convertHead?.(); this.converted = true; }
    this.zone = cacheZone(zoneConf, (level, message) => r.errorLog.log(level, message));
    this.key = this.conf.key!.evaluate(r);
    this.md5 = this.mainMd5 = md5Hex(this.key);
    if (anyTrue(this.conf.bypass, (v) => v.evaluate(r))) {
      this.status = 'BYPASS';
      this.proceed();
      return;
    }
    void this.open(true);
  }

  /** The zone's path; null: no cache (`off`, an empty value); undefined: a value naming no zone. */
  private zoneConf(): CachePathConf | null | undefined {
    const z = this.conf.zone;
    if (z === null || z === undefined) return null;
    const name = typeof z === 'string' ? z : z.evaluate(this.r);
    if (name === '') return null;
    const p = this.conf.paths!.get(name);
    if (p === undefined) { this.r.log('error', `cache "${name}" not found`); return undefined; }
    return p;
  }

  /** ngx_http_file_cache_open: the entry for this.md5 (main: the key's own, else a Vary variant's). */
  private async open(main: boolean): Promise<void> {
    const zone = this.zone!;
    const now = Date.now();
    const node = zone.touch(this.md5, now);
    this.node = node;
    if (main && !this.counted) { node.uses++; this.counted = true; }
    if (node.committing) {
      // The entry is being renamed into place (a few ms): take it then, not a miss now.
      const again = (): void => { this.waiter = null; if (!this.finished) void this.open(main); };
      this.waiter = again;
      node.waiters.add(again);
      return;
    }
    const path = zone.path(this.md5);
    let held: Held | null = null;
    let fh: FileHandle | null = null;
    try {
      fh = await open(path, 'r');
      const st = await fh.stat();
      const res = await readEntry(fh, st.size);
      if ('bad' in res) {
        this.r.log('crit', `cache file "${path}" ${res.bad}`);
        zone.forget(this.md5);
      } else if (res.entry.meta.key !== this.key) {
        this.r.log('crit', `cache file "${path}" has md5 collision`);
      } else {
        held = { fh, entry: res.entry };
        if (!node.exists) { node.exists = true; zone.size += st.size - node.size; node.size = st.size; }
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.r.log('crit', `open() "${path}" failed (${code ?? String(err)})`);
      else zone.forget(this.md5);
    }
    if (held === null && fh !== null) await fh.close().catch(() => {});
    if (this.finished) { if (held) await held.fh.close().catch(() => {}); return; }
    if (held !== null && main && held.entry.meta.vary !== null) {
      const variant = variantOf(this.r, held.entry.meta.vary);
      if (variant !== held.entry.meta.variant) {
        // Another variant of the key: it lives under its own name (nginx's secondary key).
        await held.fh.close().catch(() => {});
        this.md5 = md5Hex(this.mainMd5 + variant);
        void this.open(false);
        return;
      }
    }
    if (held === null) {
      // proxy_cache_min_uses: not stored until asked for often enough (nginx's NGX_HTTP_CACHE_SCARCE).
      if (node.uses < this.conf.minUses!) this.cacheable = false;
      this.miss();
      return;
    }
    if (held.entry.validUntil > now) {
      this.status = 'HIT';
      this.answerWith(held);
      this.u!.cacheAnswers();
      return;
    }
    this.expired(held);
  }

  private miss(): void {
    const node = this.node!;
    if (this.cacheable && node.updating && !handedUpdates.has(this.r) && this.lockWait(null)) return;
    this.status = 'MISS';
    this.checkRange();
    this.takeUpdate();
    this.proceed!();
  }

  /**
   * proxy_cache_max_range_offset (ngx_http_upstream_cache_check_range): a
   * range starting at or past it (or counted from the end) is not worth
   * fetching whole; the request goes upstream with its Range and nothing
   * is stored.
   */
  private checkRange(): void {
    const max = this.conf.maxRangeOffset!;
    const h = this.r.req.headers.range;
    if (!this.cacheable || typeof h !== 'string' || max === Number.MAX_SAFE_INTEGER) return;
    if (max === 0) { this.cacheable = false; return; }
    if (h.length < 7 || h.slice(0, 6).toLowerCase() !== 'bytes=') return;
    let p = 6;
    while (h.charCodeAt(p) === 0x20) p++;
    let offset = 0;
    if (h.charCodeAt(p) !== 0x2d /* - */) {
      for (let c = h.charCodeAt(p); c >= 0x30 && c <= 0x39; c = h.charCodeAt(++p)) offset = offset * 10 + (c - 0x30);
      if (offset < max) return;
    }
    this.cacheable = false;
  }

  private expired(held: Held): void {
    const node = this.node!;
    const background = handedUpdates.has(this.r);
    const staleWhileUpdating = ((this.conf.useStale! & FT.updating) !== 0 || staleWindow(held.entry, 'updating', Date.now())) && !background;
    if (node.updating) {
      if (staleWhileUpdating) {
        this.status = 'UPDATING';
        this.answerWith(held);
        this.u!.cacheAnswers();
        return;
      }
      // A background update never waits: its parent holds the lock for it.
      if (!background && this.lockWait(held)) return;
    } else if (staleWhileUpdating && this.conf.backgroundUpdate) {
      this.takeUpdate();
      const sr = startSubrequest(this.r, this.r.uri, this.r.args, { background: true });
      if (sr === null) { this.u!.finalize(500); return; }
      sr.method = this.r.method;
      handedUpdates.set(sr, this.updater ? this.serial : -1);
      this.status = 'STALE';
      this.answerWith(held);
      this.u!.cacheAnswers();
      return;
    }
    this.status = 'EXPIRED';
    this.stale = held;
    this.checkRange();
    this.takeUpdate();
    const m = held.entry.meta;
    if (this.conf.revalidate && (m.etag !== null || m.lastModified !== null)) {
      revalidating.set(this.r, { lastModified: m.lastModified, etag: m.etag });
    }
    this.proceed!();
  }

  private takeUpdate(): void {
    const node = this.node!;
    if (!this.cacheable) return;
    if (node.updating && handedUpdates.get(this.r) === node.lockSerial) {
      // The update the parent took for this background subrequest.
      node.lockTime = Date.now();
      this.serial = ++node.lockSerial;
      this.updater = true;
      return;
    }
    if (node.updating) {
      // proxy_cache_lock_age passed (or no lock): this request goes too, and does not store.
      if (!(this.conf.lock && Date.now() - node.lockTime >= this.conf.lockAge!)) { this.cacheable = false; return; }
    }
    this.tookOver = node.updating;
    node.updating = true;
    node.lockTime = Date.now();
    this.serial = ++node.lockSerial;
    this.updater = true;
  }

  /**
   * proxy_cache_lock: wait for the request updating this entry; true when
   * waiting. Woken when it ends (then the lookup runs again), or at
   * lock_timeout (then this request goes upstream and stores nothing).
   */
  private lockWait(held: Held | null): boolean {
    const node = this.node!;
    if (!this.conf.lock) return false;
    const now = Date.now();
    if (now - node.lockTime >= this.conf.lockAge!) return false;
    if (this.waitStart === 0) this.waitStart = now;
    const left = this.conf.lockTimeout! - (now - this.waitStart);
    if (left <= 0) { this.cacheable = false; return false; }
    if (held !== null) void held.fh.close().catch(() => {});
    const wake = (): void => {
      this.clearWait();
      if (this.finished) return;
      this.md5 = this.mainMd5;
      void this.open(true);
    };
    this.waiter = wake;
    node.waiters.add(wake);
    this.waitTimer = setTimeout(() => {
      node.waiters.delete(wake);
      this.clearWait();
      if (this.finished) return;
      // The updater passed lock_age: look again (this request may take over); else lock_timeout.
      if (Date.now() - this.waitStart < this.conf.lockTimeout!) { this.md5 = this.mainMd5; void this.open(true); return; }
      this.cacheable = false;
      this.status = 'MISS';
      this.proceed!();
    }, Math.min(left, this.conf.lockAge! - (now - node.lockTime)));
    return true;
  }

  private clearWait(): void {
    if (this.waitTimer !== null) { clearTimeout(this.waitTimer); this.waitTimer = null; }
    if (this.waiter !== null) { this.node?.waiters.delete(this.waiter); this.waiter = null; }
  }

  /** The client gets this entry once the core has let go (finish runs `answer`). */
  private answerWith(held: Held, after: Promise<void> | null = null): void {
    if (this.stale !== null && this.stale !== held) void this.stale.fh.close().catch(() => {});
    this.stale = null;
    const r = this.r;
    const force = this.u!.conf.forceRanges!;
    const send = (): void => sendEntry(r, held.fh, held.entry, force);
    this.answer = after === null ? send : () => {
      after.then(send).catch((err: unknown) => { r.log('alert', `cache answer failed: ${(err as Error).stack ?? String(err)}`); r.res.destroy(); });
    };
  }

  header(u: Upstream): boolean {
    const status = u.status;
    const stale = this.stale;
    const now = Date.now();
    if (stale !== null && status === 304 && revalidating.has(this.r)) {
      // ngx_http_upstream_test_next's revalidation: the entry is good for another period, which the
      // 304's fields give, else the stored response's own (nginx re-reads them from the entry), else
      // proxy_cache_valid.
      const ignore = u.conf.ignoreHeaders!;
      const stored = stale.entry.meta;
      const until = responseValidity(200, u.headersOut, u.control.accelExpires, ignore, [], now).validUntil
        || responseValidity(stored.status, stored.headers, null, ignore, [], now).validUntil
        || (configuredValid(this.conf.valid!, stored.status) && now + configuredValid(this.conf.valid!, stored.status));
      let written: Promise<void> | null = null;
      if (until > 0 && this.updater) {
        stale.entry.validUntil = until;
        // Written before the answer goes, so the next request finds the entry fresh.
        written = reopenWrite(this.zone!.path(this.md5), until);
      }
      this.status = 'REVALIDATED';
      this.answerWith(stale, written);
      return true;
    }
    if (stale !== null) {
      // Only use_stale's http_* words serve stale for a status; stale-if-error is for failures (failed()).
      const ft = STATUS_FAILURE.get(status);
      if (ft !== undefined && (this.conf.useStale! & ft)) {
        this.status = 'STALE';
        this.answerWith(stale);
        return true;
      }
    }
    if (!this.cacheable || this.zone === null) return false;
    const v = responseValidity(status, u.headersOut, u.control.accelExpires, u.conf.ignoreHeaders!, this.conf.valid!, now);
    // Its own fields forbid storing it (no range is cut from it either, as nginx's u->cacheable).
    if (v.forbidden) { this.cacheable = false; return false; }
    if (anyTrue(this.conf.noCache, (p) => p.evaluate(this.r))) return false;
    if (!u.control.bufferingFor(u.conf)) return false;
    if (!this.updater) {
      // BYPASS still stores (nginx: "create cache if previously bypassed"), if nobody else updates it.
      this.node = this.zone.touch(this.md5, now);
      this.takeUpdate();
      if (!this.updater) return false;
    }
    if (v.validUntil === 0) return false;
    const headers: string[] = [];
    let etag: string | null = null;
    let lastModified: string | null = null;
    for (let i = 0; i < u.headersOut.length; i += 2) {
      const l = u.headersOut[i].toLowerCase();
      if (NOT_STORED.has(l)) continue;
      if (l === 'etag') etag = u.headersOut[i + 1];
      else if (l === 'last-modified') lastModified = u.headersOut[i + 1];
      headers.push(u.headersOut[i], u.headersOut[i + 1]);
    }
    if (status !== 200 && status !== 206) { etag = null; lastModified = null; }
    let variant: string | null = null;
    if (v.vary !== null) {
      variant = variantOf(this.r, v.vary);
      // The key's own name holds the first variant stored; another one gets its own.
      if (this.md5 === this.mainMd5 && stale !== null && stale.entry.meta.variant !== null && stale.entry.meta.variant !== variant) {
        this.md5 = md5Hex(this.mainMd5 + variant);
      }
    }
    const meta: EntryMeta = {
      key: this.key, date: now, lastModified, etag, vary: v.vary, variant, status, statusLine: u.statusLine, headers,
      updatingSec: v.updatingSec, errorSec: v.errorSec,
    };
    const z = this.zone;
    const tempDir = z.conf.useTempPath && this.setup.tempPath !== '' ? this.setup.tempPath : null;
    const node = this.node!;
    const serial = this.serial;
    this.writer = new EntryWriter(z, this.md5, z.path(this.md5), tempDir, encodeHead(meta, v.validUntil),
      // A HEAD passed as HEAD (convert_head off) stores its head only, as nginx's.
      this.r.method === 'HEAD' && !this.converted ? -1 : u.contentLength,
      (level, message) => this.r.log(level === 'notice' ? 'info' : level, message),
      this.tookOver, () => node.lockSerial === serial);
    this.storing = true;
    return false;
  }

  body(chunk: Buffer): void {
    this.writer?.write(chunk);
  }

  failed(ft: number): boolean {
    const stale = this.stale;
    if (stale === null) return false;
    if (!(this.conf.useStale! & ft) && !staleWindow(stale.entry, 'error', Date.now())) return false;
    this.status = 'STALE';
    this.answerWith(stale);
    return true;
  }

  finish(rc: number): void {
    if (this.finished) return;
    this.finished = true;
    this.clearWait();
    revalidating.delete(this.r);
    const writer = this.writer;
    this.writer = null;
    const release = (): void => {
      const node = this.node;
      if (!this.updater || node === null) return;
      this.updater = false;
      // An updater that was taken over from leaves the node to its successor.
      if (node.lockSerial !== this.serial) return;
      node.updating = false;
      node.committing = false;
      this.zone!.wake(node);
    };
    if (writer !== null) {
      if (rc === 0) { if (this.node !== null) this.node.committing = true; writer.commit(release); }
      else writer.abort(release);
    } else release();
    if (this.stale !== null) { void this.stale.fh.close().catch(() => {}); this.stale = null; }
    const answer = this.answer;
    this.answer = null;
    answer?.();
  }
}

function methodBit(method: string): number {
  return method === 'GET' ? METHOD_GET : method === 'HEAD' ? METHOD_HEAD : method === 'POST' ? METHOD_POST : 0;
}

/** The request's values of the fields a response varies on, as one digest (nginx's c->variant). */
function variantOf(r: HttpRequest, vary: string): string {
  const h = createHash('md5');
  for (const part of vary.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '') continue;
    const v = r.req.headers[name];
    h.update(`${name}:${Array.isArray(v) ? v.join(', ') : v ?? ''}\n`, 'latin1');
  }
  return h.digest('hex');
}

/** Cache-Control stale-while-revalidate / stale-if-error, kept in the entry's head. */
function staleWindow(e: Entry, kind: 'updating' | 'error', now: number): boolean {
  const sec = kind === 'updating' ? e.meta.updatingSec : e.meta.errorSec;
  return typeof sec === 'number' && sec >= 0 && now < e.validUntil + sec * 1000;
}

/** A revalidated entry's new validity, in place. */
async function reopenWrite(path: string, until: number): Promise<void> {
  try {
    const fh = await open(path, 'r+');
    try { await writeValidUntil(fh, until); } finally { await fh.close(); }
  } catch {
    // Removed meanwhile: the next request stores it again.
  }
}
