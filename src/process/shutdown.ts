/**
 * Stopping one HTTP runtime, shared by workers and the single process
 * (ngx_worker_process_cycle's exiting half): graceful stop bounded by
 * `worker_shutdown_timeout` (ngx_set_shutdown_timer), then a fast stop of
 * whatever is left, as nginx's shutdown timer closes the remaining connections.
 */
import type { HttpRuntime } from '../http/runtime.js';
import type { ErrorLog } from '../observability/error-log.js';

export async function stopRuntime(runtime: HttpRuntime, graceful: boolean, shutdownTimeout: number, log: ErrorLog): Promise<void> {
  try {
    if (!graceful) {
      await runtime.stop(false);
      return;
    }
    if (shutdownTimeout <= 0) {
      await runtime.stop(true);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(resolve, shutdownTimeout, true); });
    const done = await Promise.race([runtime.stop(true).then(() => false), timedOut]);
    clearTimeout(timer);
    if (done) {
      log.log('debug', 'shutdown timeout');
      await runtime.stop(false);
    }
  } catch (err) {
    log.log('alert', `stopping the http runtime failed: ${(err as Error).stack ?? String(err)}`);
  }
}

/** How long to wait for sinks to flush before exiting anyway. */
export const LOG_FLUSH_TIMEOUT = 2000;

export function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); })]).finally(() => clearTimeout(timer));
}
