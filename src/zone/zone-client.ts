/**
 * A worker's way to its shared zones (zone-host.ts). In a cluster worker the
 * zones live in the master and each decision is one message there and one
 * back over the IPC channel; under `master_process off` (or in-process
 * tests) they live in this process and the answer comes at once, inside the
 * call.
 *
 * Callers give a callback and must cope with both: called before the call
 * returns (then the phase handler goes on at once) or later (then it returned
 * PHASE_AGAIN and the callback resumes the phases). A callback with null means
 * the master could not be asked (the channel is closed: the worker is about
 * to exit with its master).
 *
 * The messages are plain objects (cluster's JSON channel); a decision's
 * request is the list of limits with their evaluated keys, so the master needs
 * no config of its own.
 */
import cluster from 'node:cluster';
import {
  ZoneHost, type LimitConnDecision, type LimitConnLimit, type LimitReqDecision, type LimitReqLimit,
} from './zone-host.js';

/** Worker → master. */
export type ZoneRequest =
  | { readonly weir: 'zone'; readonly op: 'req'; readonly id: number; readonly limits: readonly LimitReqLimit[] }
  | { readonly weir: 'zone'; readonly op: 'conn'; readonly id: number; readonly limits: readonly LimitConnLimit[] }
  | { readonly weir: 'zone'; readonly op: 'rel'; readonly id: number };

/** Master → worker: the answer to request `id`. */
export interface ZoneReply {
  readonly weir: 'zone-reply';
  readonly id: number;
  readonly result: LimitReqDecision | LimitConnDecision;
}

export function isZoneRequest(m: unknown): m is ZoneRequest {
  const o = m as { weir?: unknown; op?: unknown; id?: unknown } | null;
  if (o?.weir !== 'zone' || typeof o.id !== 'number') return false;
  if (o.op === 'rel') return true;
  return (o.op === 'req' || o.op === 'conn') && Array.isArray((o as { limits?: unknown }).limits);
}

function isZoneReply(m: unknown): m is ZoneReply {
  const o = m as { weir?: unknown; id?: unknown } | null;
  return o?.weir === 'zone-reply' && typeof o.id === 'number';
}

/**
 * The master's side: answers a worker's request on `host` (null for a
 * release, which has no answer). Bad input (a worker is trusted, but a
 * malformed message must not throw in the master) is answered as a refusal.
 */
export function answerZoneRequest(host: ZoneHost, holder: number, m: ZoneRequest): ZoneReply | null {
  try {
    switch (m.op) {
      case 'req': return { weir: 'zone-reply', id: m.id, result: host.limitReq(m.limits) };
      case 'conn': return { weir: 'zone-reply', id: m.id, result: host.limitConnAcquire(holder, m.id, m.limits) };
      case 'rel': host.limitConnRelease(holder, m.id); return null;
    }
  } catch {
    return { weir: 'zone-reply', id: m.id, result: { rc: -1, limit: 0 } };
  }
}

export type ZoneCallback<T> = (result: T | null) => void;

export interface ZoneClient {
  limitReq(limits: readonly LimitReqLimit[], done: ZoneCallback<LimitReqDecision>): void;
  /** Returns the handle to release with (always release it, even before the answer came). */
  limitConnAcquire(limits: readonly LimitConnLimit[], done: ZoneCallback<LimitConnDecision>): number;
  limitConnRelease(handle: number): void;
}

/** The zones in this process (master_process off, tests): answers inside the call. */
export class LocalZoneClient implements ZoneClient {
  private handles = 0;
  constructor(readonly host: ZoneHost) {}

  limitReq(limits: readonly LimitReqLimit[], done: ZoneCallback<LimitReqDecision>): void {
    done(this.host.limitReq(limits));
  }

  limitConnAcquire(limits: readonly LimitConnLimit[], done: ZoneCallback<LimitConnDecision>): number {
    const handle = ++this.handles;
    done(this.host.limitConnAcquire(0, handle, limits));
    return handle;
  }

  limitConnRelease(handle: number): void {
    this.host.limitConnRelease(0, handle);
  }
}

/** The zones in the master: one message per decision. */
export class IpcZoneClient implements ZoneClient {
  private ids = 0;
  private readonly pending = new Map<number, ZoneCallback<never>>();
  private closed = false;

  constructor(private readonly proc: NodeJS.Process = process) {
    proc.on('message', (m: unknown) => {
      if (!isZoneReply(m)) return;
      const done = this.pending.get(m.id);
      if (done === undefined) return;
      this.pending.delete(m.id);
      done(m.result as never);
    });
    proc.on('disconnect', () => {
      this.closed = true;
      const waiting = [...this.pending.values()];
      this.pending.clear();
      for (const done of waiting) done(null);
    });
  }

  private ask(m: ZoneRequest, done: ZoneCallback<never>): void {
    if (this.closed || !this.proc.connected) { done(null); return; }
    this.pending.set(m.id, done);
    this.proc.send!(m);
  }

  limitReq(limits: readonly LimitReqLimit[], done: ZoneCallback<LimitReqDecision>): void {
    this.ask({ weir: 'zone', op: 'req', id: ++this.ids, limits }, done as ZoneCallback<never>);
  }

  limitConnAcquire(limits: readonly LimitConnLimit[], done: ZoneCallback<LimitConnDecision>): number {
    const id = ++this.ids;
    this.ask({ weir: 'zone', op: 'conn', id, limits }, done as ZoneCallback<never>);
    return id;
  }

  limitConnRelease(handle: number): void {
    // The channel keeps order: the master has answered the acquire before it reads this.
    if (!this.closed && this.proc.connected) this.proc.send!({ weir: 'zone', op: 'rel', id: handle } satisfies ZoneRequest);
  }
}

let client: ZoneClient | null = null;
/** The process's own host under master_process off: it outlives reloads, as the process does. */
let localHost: ZoneHost | null = null;

/** This process's zone client: the master's zones in a cluster worker, else this process's. */
export function zoneClient(): ZoneClient {
  if (client === null) {
    if (cluster.isWorker && typeof process.send === 'function') client = new IpcZoneClient();
    else client = new LocalZoneClient(localHost ??= new ZoneHost());
  }
  return client;
}

/** Tests: use this client (null: choose again). */
export function setZoneClient(c: ZoneClient | null): void {
  client = c;
}
