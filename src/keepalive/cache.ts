/**
 * The idle-connection cache of one upstream group in one worker: the data half
 * of nginx's src/http/modules/ngx_http_upstream_keepalive_module.c (its
 * `cache`/`free` queues, the close handler, the keepalive_timeout timer and
 * the checks in ngx_http_upstream_free_keepalive_peer). The balancer half is
 * ./session.ts.
 *
 * Structure. nginx keeps one LRU queue of idle items per upstream and finds a
 * connection for a peer by walking it from the head comparing sockaddrs, O(n)
 * in `keepalive N`. Here every idle entry is on two intrusive doubly linked
 * lists: the group-wide LRU (head = most recently stored) and the list of its
 * pool key (./session.ts poolKey: the address today). take() pops the head of
 * the key's list and put() evicts the tail of the group list, both O(1), and
 * the choice is the one nginx makes: the most recently stored connection for
 * that address, and when full the least recently stored one of ANY address.
 * Entries are recycled through a free list, as nginx's preallocated items are,
 * so a warm cache allocates nothing per request. An entry is also the idle
 * connection's ConnectionOwner: storing or handing out a connection is one
 * assignment, never a listener added or removed.
 *
 * Differences from nginx, on purpose:
 * - keepalive_timeout: nginx arms a timer per idle connection. The group list
 *   is ordered by the time each entry went idle, so its tail is always the
 *   next to expire; one unref'd timer per cache aims at the tail's deadline
 *   (never sooner than `granularity` from now, which bounds the wake-up rate
 *   to one per granularity: min(1 s, timeout / 8)) and closes every expired
 *   entry from the tail. It is armed when a connection is stored into an empty
 *   cache and not re-armed once the cache is empty, so an idle worker holds no
 *   timer. A connection may outlive its timeout by up to `granularity`.
 * - A peer that sends anything while idle gets its connection destroyed (the
 *   bytes are unread and the framing is lost), as nginx's close handler does
 *   after its MSG_PEEK; a FIN or an error closes it too. nginx only learns of
 *   these at the next read event; Node tells us at once, so it is the same.
 * - put() refuses a connection with unread bytes buffered (nginx: the
 *   `c->read->ready` check that runs the close handler at once).
 * - keepalive_timeout 0 refuses every connection (nginx stores it and its
 *   0 ms timer closes it on the next loop turn: the same, without the churn).
 * - The churn warning (issue 6) is weir's own: nginx has no such message. See
 *   the churn rule above DEFAULT_CHURN_RATE.
 * - Shutdown: closeAll() destroys the idle connections and makes put() refuse
 *   from then on, where nginx relies on ngx_exiting in free and on closing
 *   idle connections (c->idle) at exit.
 */
import type { ConnectionOwner, UpstreamConnection } from '../upstream/connection.js';
import { channels } from '../observability/diagnostics.js';

export type KeepaliveLogLevel = 'warn' | 'info';

export interface KeepaliveCacheOptions {
  /** `keepalive N`: idle connections kept (not a cap on open ones). ≥ 1. */
  readonly max: number;
  /** `keepalive_requests`: a connection that carried this many requests is not stored. Default 1000. */
  readonly requests?: number;
  /** `keepalive_time` in ms: a connection older than this is not stored. Default 1 h. */
  readonly time?: number;
  /** `keepalive_timeout` in ms: an idle connection is closed after this. Default 60 s. */
  readonly timeout?: number;
  /** The upstream's name, for messages. */
  readonly upstreamName: string;
  /** The worker's error log. */
  log(level: KeepaliveLogLevel, message: string): void;
  /** ms clock (Date.now-compatible: compared with UpstreamConnection.createdAt); tests pass a fake one. */
  readonly now?: () => number;
  /** The churn rule (above DEFAULT_CHURN_RATE): closes-while-opening per second that count as churn. Default 10. */
  readonly churnRate?: number;
  /** ... for this many consecutive seconds before the warning. Default 5. */
  readonly churnSeconds?: number;
}

/** Counters, for the status/metrics work: all monotonic since the cache was made. */
export interface KeepaliveStats {
  /** take() returned a connection. */
  reused: number;
  /** put() stored a connection. */
  stored: number;
  /** Idle connections closed to make room for a newer one (the cache was full). */
  evictedFull: number;
  /** Idle connections closed by keepalive_timeout. */
  closedIdle: number;
  /** Idle connections the peer closed, reset or sent bytes on. */
  closedByPeer: number;
  /** put() refused (limits reached, unusable, shutting down); the caller destroyed it. */
  refused: number;
  /**
   * Of evictedFull, those that happened while new connections were being opened
   * (per second: min(evictions, connects)), summed over completed seconds.
   */
  churned: number;
}

/**
 * When the cache is "too small for the load". A connection evicted because the
 * cache was full while, in the same second, the core opened new connections to
 * the same group is wasted work: the cache threw away what it then had to
 * rebuild. Per one-second bucket, churn = min(evictions, connects); a bucket is
 * churning when churn per second of bucket ≥ churnRate. `churnSeconds`
 * consecutive churning buckets log one [warn] per cache (per upstream per
 * worker; a reload builds new caches, so it may warn again after one).
 * Buckets roll on the next eviction or connect, not on a timer: a bucket that
 * spans a quiet gap is diluted by it and breaks the streak. Short bursts
 * (a spike above `keepalive` for a second or two) never warn.
 */
const DEFAULT_CHURN_RATE = 10;
const DEFAULT_CHURN_SECONDS = 5;
const BUCKET_MS = 1000;

/** One idle connection: a node of two intrusive lists, and the connection's owner while idle. */
class IdleEntry implements ConnectionOwner {
  conn: UpstreamConnection | null = null;
  key = '';
  /** When it was stored (ms), which orders the group list. */
  idleSince = 0;
  /** Group LRU list: prev is more recent, next is older. */
  prev: IdleEntry | null = null;
  next: IdleEntry | null = null;
  /** Same links in its key's list. */
  kprev: IdleEntry | null = null;
  knext: IdleEntry | null = null;
  list: KeyList | null = null;

  constructor(readonly lists: IdleLists) {}

  // While idle the peer has nothing to say: any byte, FIN or error ends the connection
  // (ngx_http_upstream_keepalive_close_handler).
  onData(): void { this.lists.closedByPeer(this); }
  onEnd(): void { this.lists.closedByPeer(this); }
  onError(): void { this.lists.closedByPeer(this); }
  onClose(): void { this.lists.closedByPeer(this); }
  onDrain(): void { /* nginx's keepalive_dummy_handler: nothing is being written */ }
}

/** The idle entries of one key, most recent first. */
interface KeyList {
  head: IdleEntry | null;
}

/** The lists and the entry pool, shared by the cache and its entries (which must reach them from socket events). */
class IdleLists {
  /** Most recently stored. */
  head: IdleEntry | null = null;
  /** Least recently stored: the next to evict and the next to expire. */
  tail: IdleEntry | null = null;
  size = 0;
  readonly byKey = new Map<string, KeyList>();
  /** Recycled entries (singly linked through `next`). */
  private spare: IdleEntry | null = null;

  constructor(readonly stats: KeepaliveStats) {}

  link(conn: UpstreamConnection, key: string, now: number): void {
    let e = this.spare;
    if (e !== null) this.spare = e.next;
    else e = new IdleEntry(this);
    e.conn = conn;
    e.key = key;
    e.idleSince = now;
    e.prev = null;
    e.next = this.head;
    if (this.head !== null) this.head.prev = e;
    else this.tail = e;
    this.head = e;
    // Key lists are kept when empty: there is one per peer (and scope), a bounded set,
    // and dropping them would allocate again on the next put.
    let list = this.byKey.get(key);
    if (list === undefined) {
      list = { head: null };
      this.byKey.set(key, list);
    }
    e.list = list;
    e.kprev = null;
    e.knext = list.head;
    if (list.head !== null) list.head.kprev = e;
    list.head = e;
    this.size++;
    conn.owner = e;
  }

  /** Takes the entry off both lists and recycles it; returns its connection, owner cleared. */
  unlink(e: IdleEntry): UpstreamConnection {
    const conn = e.conn!;
    if (e.prev !== null) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next !== null) e.next.prev = e.prev;
    else this.tail = e.prev;
    const list = e.list!;
    if (e.kprev !== null) e.kprev.knext = e.knext;
    else list.head = e.knext;
    if (e.knext !== null) e.knext.kprev = e.kprev;
    this.size--;
    conn.owner = null;
    e.conn = null;
    e.list = null;
    e.prev = e.kprev = e.knext = null;
    e.next = this.spare;
    this.spare = e;
    return conn;
  }

  closedByPeer(e: IdleEntry): void {
    // A stale event for a recycled entry cannot happen: unlink clears conn.owner, and
    // destroy() does too, so the socket's later events go nowhere. The guard is cheap.
    if (e.conn === null) return;
    this.unlink(e).destroy();
    this.stats.closedByPeer++;
  }
}

export class KeepaliveCache {
  readonly max: number;
  readonly requests: number;
  readonly time: number;
  readonly timeout: number;
  readonly upstreamName: string;
  /** Live counters (read them, do not write them). */
  readonly stats: Readonly<KeepaliveStats>;

  private readonly counters: KeepaliveStats;
  private readonly lists: IdleLists;
  private readonly log: (level: KeepaliveLogLevel, message: string) => void;
  private readonly now: () => number;
  private readonly granularity: number;
  private timer: NodeJS.Timeout | null = null;
  private shuttingDown = false;
  /** Bound once, so arming the sweep allocates only the Timeout itself. */
  private readonly onSweep = (): void => {
    this.timer = null;
    this.sweep();
  };

  private readonly churnRate: number;
  private readonly churnSeconds: number;
  private bucketStart = -1;
  private bucketEvicted = 0;
  private bucketConnects = 0;
  private streak = 0;
  private streakChurn = 0;
  private streakStart = 0;
  private warned = false;

  constructor(options: KeepaliveCacheOptions) {
    if (!(options.max >= 1)) throw new RangeError('keepalive cache needs max >= 1 (keepalive 0 means no cache)');
    this.max = options.max;
    this.requests = options.requests ?? 1000;
    this.time = options.time ?? 3_600_000;
    this.timeout = options.timeout ?? 60_000;
    this.upstreamName = options.upstreamName;
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.churnRate = options.churnRate ?? DEFAULT_CHURN_RATE;
    this.churnSeconds = options.churnSeconds ?? DEFAULT_CHURN_SECONDS;
    this.granularity = Math.max(1, Math.min(1000, Math.floor(this.timeout / 8)));
    this.counters = { reused: 0, stored: 0, evictedFull: 0, closedIdle: 0, closedByPeer: 0, refused: 0, churned: 0 };
    this.stats = this.counters;
    this.lists = new IdleLists(this.counters);
  }

  /** Idle connections held now. */
  get size(): number {
    return this.lists.size;
  }

  /** Whether the keepalive_timeout sweep timer exists (for tests and status). */
  get sweepArmed(): boolean {
    return this.timer !== null;
  }

  /** Whether the "too small for the load" warning was logged. */
  get churnWarned(): boolean {
    return this.warned;
  }

  /**
   * The most recently stored idle connection for this pool key, or null. Its owner is
   * cleared: the caller sets itself as owner before anything can arrive (events are
   * delivered on a later tick). Connections found dead are destroyed and skipped.
   */
  take(key: string): UpstreamConnection | null {
    const list = this.lists.byKey.get(key);
    if (list === undefined) return null;
    let e = list.head;
    while (e !== null) {
      const conn = this.lists.unlink(e);
      if (conn.usable && conn.socket.readableLength === 0) {
        this.counters.reused++;
        if (channels.keepaliveReuse.hasSubscribers) channels.keepaliveReuse.publish({ peer: conn.address.name });
        return conn;
      }
      // The event that would have removed it is still queued (or data sits unread):
      // it is as gone as if the peer had closed it.
      conn.destroy();
      this.counters.closedByPeer++;
      e = list.head;
    }
    return null;
  }

  /**
   * Stores a connection that just completed a request cleanly (the caller checked the
   * response; this checks the connection's limits). false: refused, the caller destroys it.
   * When full, closes the least recently stored idle connection of any key to make room.
   */
  put(conn: UpstreamConnection, key: string = conn.address.name): boolean {
    const now = this.now();
    if (
      this.shuttingDown
      || !conn.usable
      || conn.requests >= this.requests
      // nginx: `ngx_current_msec - c->start_time > kp->conf->time` (strictly older).
      || now - conn.createdAt > this.time
      || this.timeout === 0
      || conn.socket.readableLength > 0
    ) {
      this.counters.refused++;
      return false;
    }
    if (this.lists.size >= this.max) {
      const evicted = this.lists.unlink(this.lists.tail!);
      evicted.destroy();
      if (channels.keepaliveEvict.hasSubscribers) channels.keepaliveEvict.publish({ peer: evicted.address.name });
      this.counters.evictedFull++;
      this.noteEviction(now);
    }
    // A core that paused the socket for backpressure would hide a FIN or stray bytes from us.
    if (conn.socket.isPaused()) conn.socket.resume();
    this.lists.link(conn, key, now);
    this.counters.stored++;
    if (this.timer === null) this.arm(this.timeout);
    return true;
  }

  /**
   * The core opened a new connection to a peer of this group (after a cache miss).
   * Feeds the churn rule; O(1), no timer.
   */
  noteConnect(): void {
    const now = this.now();
    this.roll(now);
    this.bucketConnects++;
  }

  /** Shutdown: destroys every idle connection, stops the sweep, and refuses put() from now on. */
  closeAll(): void {
    this.shuttingDown = true;
    this.closeIdle();
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** Destroys every idle connection but keeps the cache in service (e.g. the peer set changed). */
  closeIdle(): void {
    while (this.lists.tail !== null) this.lists.unlink(this.lists.tail).destroy();
  }

  /** Closes the connections idle for keepalive_timeout or longer, oldest first; re-arms for the next. */
  private sweep(): void {
    const now = this.now();
    const lists = this.lists;
    let e = lists.tail;
    while (e !== null && now - e.idleSince >= this.timeout) {
      lists.unlink(e).destroy();
      this.counters.closedIdle++;
      e = lists.tail;
    }
    if (e !== null && !this.shuttingDown) {
      this.arm(Math.max(e.idleSince + this.timeout - now, this.granularity));
    }
  }

  private arm(delay: number): void {
    this.timer = setTimeout(this.onSweep, delay);
    // Idle upstream connections must not keep a worker alive that has nothing else to do.
    this.timer.unref();
  }

  private noteEviction(now: number): void {
    this.roll(now);
    this.bucketEvicted++;
  }

  /** Closes the current churn bucket if a second has passed (the churn rule above DEFAULT_CHURN_RATE). */
  private roll(now: number): void {
    if (this.bucketStart < 0) {
      this.bucketStart = now;
      return;
    }
    const elapsed = now - this.bucketStart;
    if (elapsed < BUCKET_MS) return;
    const churn = Math.min(this.bucketEvicted, this.bucketConnects);
    this.counters.churned += churn;
    if (churn * BUCKET_MS >= this.churnRate * elapsed && churn > 0) {
      if (this.streak === 0) this.streakStart = this.bucketStart;
      this.streak++;
      this.streakChurn += churn;
      if (this.streak >= this.churnSeconds && !this.warned) {
        this.warned = true;
        const seconds = Math.round((now - this.streakStart) / 1000);
        this.log(
          'warn',
          `upstream "${this.upstreamName}" keepalive cache of ${this.max} connections is too small for the load: `
            + `${this.streakChurn} idle connections were closed in the last ${seconds}s while new ones were opened; `
            + `consider a larger "keepalive"`,
        );
      }
    } else {
      this.streak = 0;
      this.streakChurn = 0;
    }
    this.bucketStart = now;
    this.bucketEvicted = 0;
    this.bucketConnects = 0;
  }
}
