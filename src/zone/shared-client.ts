/**
 * A worker's side of the replicated shared state (shared-state.ts): counter
 * vectors it adds to and sticky session tables it reads, each a local replica
 * that the master keeps in step with the other workers'.
 *
 * Reads never wait: a balancer's get() stays synchronous. Local changes are
 * batched per turn of the event loop (one message per vector and turn, the
 * deltas netted), so under load one message carries many requests' changes,
 * and a change undone within the turn sends nothing.
 *
 * Outside a cluster worker (master_process off, in-process tests) there is no
 * one to share with: counter vectors send nothing, and sticky tables are
 * this process's own, kept across reloads as the process is.
 */
import cluster from 'node:cluster';
import { isSharedPush, stickyZoneId, StickySessions, type SharedPush, type SharedRequest } from './shared-state.js';
import { zoneCapacity } from './zone-host.js';

/** What another worker changed: `slot` moved by `delta`. */
export type RemoteDelta = (slot: number, delta: number) => void;

export interface SharedCounters {
  /** This worker changed `slot` by `delta` (already applied to its own view). */
  add(slot: number, delta: number): void;
}

const NO_COUNTERS: SharedCounters = { add() { /* alone: nothing to tell */ } };

/** A sticky zone's sessions as a worker sees them. */
export interface StickyStore {
  /** The sid a session key is bound to, or null. */
  lookup(key: string, timeout: number): string | null;
  /** ngx_http_upstream_sticky_learn_peer (create: the key came from the `create` variables). */
  learn(key: string, sid: string, create: boolean, timeout: number): void;
}

/** How long a worker waits for its sticky snapshots before it listens anyway. */
const SNAPSHOT_WAIT = 2000;

class Batch implements SharedCounters {
  private readonly pending: Float64Array;
  private readonly dirty: number[] = [];
  private scheduled = false;
  private readonly flushBound = (): void => this.flush();

  constructor(private readonly key: string, n: number, private readonly client: IpcSharedClient, private readonly delay: number) {
    this.pending = new Float64Array(n);
  }

  add(slot: number, delta: number): void {
    if (slot < 0 || slot >= this.pending.length) return;
    if (this.pending[slot] === 0) this.dirty.push(slot);
    this.pending[slot] += delta;
    if (this.scheduled) return;
    this.scheduled = true;
    // After this turn of the event loop: under load one message carries the turn's requests.
    if (this.delay === 0) setImmediate(this.flushBound);
    else setTimeout(this.flushBound, this.delay).unref();
  }

  private flush(): void {
    this.scheduled = false;
    const d: number[] = [];
    for (const slot of this.dirty) {
      const delta = this.pending[slot];
      this.pending[slot] = 0;
      if (delta !== 0) d.push(slot, delta);
    }
    this.dirty.length = 0;
    if (d.length > 0) this.client.send({ weir: 'shared', op: 'add', key: this.key, d });
  }
}

class IpcSticky implements StickyStore {
  constructor(private readonly zone: string, readonly table: StickySessions, private readonly client: IpcSharedClient) {}

  lookup(key: string, timeout: number): string | null {
    return this.table.lookup(key, Date.now(), timeout);
  }

  learn(key: string, sid: string, create: boolean, timeout: number): void {
    // At once here, so this worker's next request sees it; the master's answer then sets the order.
    this.table.learn(key, sid, create, Date.now(), timeout);
    this.client.send({ weir: 'shared', op: 'learn', zone: this.zone, key, sid, create, timeout });
  }
}

class IpcSharedClient {
  private readonly remote = new Map<string, RemoteDelta[]>();
  private readonly stickies = new Map<string, IpcSticky>();
  private readonly waiting = new Map<string, () => void>();
  private closed = false;

  constructor(private readonly proc: NodeJS.Process) {
    proc.on('message', (m: unknown) => { if (isSharedPush(m)) this.onPush(m); });
    proc.on('disconnect', () => {
      this.closed = true;
      for (const done of this.waiting.values()) done();
      this.waiting.clear();
    });
  }

  send(m: SharedRequest): void {
    if (!this.closed && this.proc.connected) this.proc.send!(m);
  }

  private onPush(m: SharedPush): void {
    if (m.weir === 'shared-add') {
      const handlers = this.remote.get(m.key);
      if (handlers === undefined) return;
      const d = m.d;
      for (let i = 0; i + 1 < d.length; i += 2) for (const h of handlers) h(d[i], d[i + 1]);
      return;
    }
    this.stickies.get(m.zone)?.table.apply(m.set, m.del);
    const done = this.waiting.get(m.zone);
    if (done !== undefined) { this.waiting.delete(m.zone); done(); }
  }

  counters(key: string, n: number, keep: number, onRemote: RemoteDelta, delay: number): SharedCounters {
    let handlers = this.remote.get(key);
    if (handlers === undefined) {
      handlers = [];
      this.remote.set(key, handlers);
      this.send({ weir: 'shared', op: 'sub', key, n, keep });
    }
    handlers.push(onRemote);
    return new Batch(key, n, this, delay);
  }

  sticky(zone: string, size: number): StickyStore {
    let s = this.stickies.get(zone);
    if (s === undefined) {
      s = new IpcSticky(zone, new StickySessions(zoneCapacity(size)), this);
      this.stickies.set(zone, s);
      if (!this.closed && this.proc.connected) {
        const arrived = new Promise<void>((resolve) => this.waiting.set(zone, resolve));
        const timer = new Promise<void>((resolve) => setTimeout(resolve, SNAPSHOT_WAIT).unref());
        snapshots.push(Promise.race([arrived, timer]));
        this.send({ weir: 'shared', op: 'ssub', zone });
      }
    }
    return s;
  }
}

class LocalSticky implements StickyStore {
  constructor(private readonly table: StickySessions) {}
  lookup(key: string, timeout: number): string | null {
    return this.table.lookup(key, Date.now(), timeout);
  }
  learn(key: string, sid: string, create: boolean, timeout: number): void {
    this.table.learn(key, sid, create, Date.now(), timeout);
  }
}

let ipc: IpcSharedClient | null | undefined;
/** master_process off: this process's sticky tables, by zone id, across reloads. */
const localTables = new Map<string, StickySessions>();
const snapshots: Promise<void>[] = [];

function client(): IpcSharedClient | null {
  if (ipc === undefined) ipc = cluster.isWorker && typeof process.send === 'function' ? new IpcSharedClient(process) : null;
  return ipc;
}

/**
 * A counter vector of this worker's generation: `n` slots, the first `keep`
 * of them counting events (they stay counted when a worker exits).
 * `onRemote` hears every other worker's change, and first what they added
 * before this worker joined. Changes go out after the current turn of the
 * event loop, or `delay` ms later (netted meanwhile): a status page may lag,
 * a balancer should not.
 */
export function sharedCounters(key: string, n: number, keep: number, onRemote: RemoteDelta, delay = 0): SharedCounters {
  return client()?.counters(key, n, keep, onRemote, delay) ?? NO_COUNTERS;
}

/** The sessions of the sticky zone `name` of `size` bytes, kept across reloads (another size: another zone). */
export function stickyStore(name: string, size: number): StickyStore {
  const id = stickyZoneId(name, size);
  const c = client();
  if (c !== null) return c.sticky(id, size);
  let t = localTables.get(id);
  if (t === undefined) { t = new StickySessions(zoneCapacity(size)); localTables.set(id, t); }
  return new LocalSticky(t);
}

/** Resolves when the sticky snapshots asked for so far came (or waiting for them timed out): before listening. */
export async function sharedStateReady(): Promise<void> {
  await Promise.all(snapshots.splice(0));
}

/** Tests: forget the process's clients and tables. */
export function resetSharedClient(): void {
  ipc = undefined;
  localTables.clear();
}
