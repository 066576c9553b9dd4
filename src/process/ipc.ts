/**
 * The messages between the master and its workers (nginx's channel commands,
 * ngx_channel_t: NGX_CMD_QUIT, NGX_CMD_TERMINATE, NGX_CMD_REOPEN), carried over
 * node:cluster's IPC channel instead of signals so that a worker can ignore the
 * signals its terminal sends to the whole process group.
 *
 * A worker learns what to load from its environment (WORKER_ENV), set by the
 * master at fork: the same -c/-p/-g/-e the master used and its generation.
 */
import type { CycleOptions } from './cycle.js';

export const WORKER_ENV = 'WEIR_WORKER';

export interface WorkerSpec extends CycleOptions {
  /** Incremented by every successful reload; a worker serves one generation's config all its life. */
  readonly generation: number;
}

/** Master → worker. */
export type MasterMessage =
  | { readonly weir: 'quit' }        // graceful stop (SIGQUIT to the master, or an older generation after reload)
  | { readonly weir: 'terminate' }   // fast stop
  | { readonly weir: 'reopen' }      // reopen log files
  | { readonly weir: 'serving'; readonly since: number }; // the first generation all listens, since this instant (ms)

/**
 * Worker → master. `hello` comes first, as soon as the worker listens for
 * commands: IPC messages that reach a process before it has a 'message'
 * listener are dropped, so the master holds its commands until then.
 */
export type WorkerMessage =
  | { readonly weir: 'hello' }
  | { readonly weir: 'ready' }                             // every listener accepts connections
  | { readonly weir: 'failed'; readonly message: string }; // the config or a listener failed; the worker exits 2

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  const w = (m as { weir?: unknown } | null)?.weir;
  return w === 'hello' || w === 'ready' || (w === 'failed' && typeof (m as { message?: unknown }).message === 'string');
}

export function isMasterMessage(m: unknown): m is MasterMessage {
  const w = (m as { weir?: unknown } | null)?.weir;
  return w === 'quit' || w === 'terminate' || w === 'reopen' || (w === 'serving' && typeof (m as { since?: unknown }).since === 'number');
}

/** nginx's NGX_FATAL: a worker that exits with it is not respawned. */
export const EXIT_FATAL = 2;
