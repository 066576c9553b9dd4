/**
 * nginx's connection counters (ngx_stat_accepted ... ngx_stat_waiting), read
 * by stub_status and the $connections_* variables.
 *
 * Each worker counts its own connections here, at once. When the config
 * reads the counters (stub_status, or a $connections_* variable), the worker
 * also shares them: its changes go to the master, which pushes them to the
 * other workers of its generation (src/zone/shared-state.ts), and what is
 * shown is this worker's counts plus the others' as last heard (at most
 * STATS_DELAY ms old, plus the IPC hop), so that the page sums every worker
 * as nginx's shared counters do. A config that never reads them sends nothing.
 *
 * When a connection changes state (ngx_http_request.c, ngx_reusable_connection):
 *   accepted, handled, active +1   accepted (ngx_event_accept)
 *   waiting                        idle: no byte of a request yet (a kept-alive connection too)
 *   reading, requests +1           the first byte of a request came (ngx_http_alloc_request)
 *   writing                        its head was read (ngx_http_process_request) until it is done
 *   active -1                      closed (for weir: when the close starts, lingering or not)
 */
import { sharedCounters, type SharedCounters } from '../zone/shared-client.js';

export const STAT_ACCEPTED = 0;
export const STAT_HANDLED = 1;
export const STAT_REQUESTS = 2;
export const STAT_ACTIVE = 3;
export const STAT_READING = 4;
export const STAT_WRITING = 5;
export const STAT_WAITING = 6;
const SLOTS = 7;
/** accepted, handled, requests count events: they stay counted when a worker exits. */
const EVENT_SLOTS = 3;

/** A connection's state for the counters: 0 none (closed), else the slot it counts in. */
export type ConnStat = 0 | typeof STAT_READING | typeof STAT_WRITING | typeof STAT_WAITING;

/** How stale another worker's counts may be on this worker's page (ms). */
const STATS_DELAY = 10;

/** This worker's counts. */
const local = new Float64Array(SLOTS);
/** The other workers' counts, as last pushed. */
const others = new Float64Array(SLOTS);
let shared: SharedCounters | null = null;

function bump(slot: number, delta: number): void {
  local[slot] += delta;
  if (shared !== null) shared.add(slot, delta);
}

/** A connection was accepted: it starts waiting for its first request. */
export function statAccepted(): ConnStat {
  bump(STAT_ACCEPTED, 1);
  bump(STAT_HANDLED, 1);
  bump(STAT_ACTIVE, 1);
  bump(STAT_WAITING, 1);
  return STAT_WAITING;
}

/** A connection moves from `from` to `to` (a request starts: also one more request). */
export function statMove(from: ConnStat, to: ConnStat): ConnStat {
  if (from === to) return to;
  if (from !== 0) bump(from, -1);
  if (to !== 0) bump(to, 1);
  if (to === STAT_READING) bump(STAT_REQUESTS, 1);
  return to;
}

/** The connection closes: out of its state and of the active ones. Call once (the caller keeps `from` 0 after). */
export function statClosed(from: ConnStat): 0 {
  if (from !== 0) bump(from, -1);
  bump(STAT_ACTIVE, -1);
  return 0;
}

/**
 * The counters are read by this config: share them from now on. Sends what
 * this worker counted so far, so the others add it too.
 */
export function shareConnectionStats(): void {
  if (shared !== null) return;
  // A connection changes state several times per request: sent at most every STATS_DELAY ms, netted.
  shared = sharedCounters('stats', SLOTS, EVENT_SLOTS, (slot, delta) => { others[slot] += delta; }, STATS_DELAY);
  for (let i = 0; i < SLOTS; i++) if (local[i] !== 0) shared.add(i, local[i]);
}

/** A counter summed over the workers. */
export function connectionStat(slot: number): number {
  return local[slot] + others[slot];
}

/** Tests: this process's counters. */
export function localConnectionStats(): readonly number[] {
  return [...local];
}
