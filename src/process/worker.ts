/**
 * A worker process (ngx_worker_process_cycle): loads its generation's config
 * itself, starts the HTTP runtime on it, reports `ready` once every listener
 * accepts connections, then serves until the master says quit, terminate or
 * reopen.
 *
 * Listening sockets: under node:cluster a worker's listen() asks the master for
 * the socket, so the master owns it (as nginx's master opens the listening
 * sockets and workers inherit them). With SCHED_NONE (see master.ts) the worker
 * then accepts on it directly.
 *
 * Signals: a worker ignores the signals a terminal or a process-group kill
 * sends (INT, QUIT, HUP, USR1, USR2, WINCH): the master receives them too and
 * tells each worker over IPC what to do, so a Ctrl-C stops the workers once,
 * through the master, and the master outlives none of them unknowingly. TERM
 * sent to a worker alone stops it fast, as in nginx; its master then respawns
 * it. A worker whose master dies exits at once (cluster closes its channel).
 */
import type { Module } from '../config/module.js';
import { createHttpRuntime, type HttpRuntime } from '../http/runtime.js';
import { ticketPeriodsFrom } from '../http/tls/ssl-module.js';
import { closeErrorLogs, ErrorLog, reopenErrorLogs } from '../observability/error-log.js';
import { loadCycle, type Cycle } from './cycle.js';
import { EXIT_FATAL, isMasterMessage, WORKER_ENV, type MasterMessage, type WorkerMessage, type WorkerSpec } from './ipc.js';
import { LOG_FLUSH_TIMEOUT, stopRuntime, withTimeout } from './shutdown.js';
import { ignoreStdioErrors } from '../observability/stdio.js';

const IGNORED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) { resolve(); return; }
    process.send(message, undefined, {}, () => resolve());
  });
}

export function readWorkerSpec(env: NodeJS.ProcessEnv = process.env): WorkerSpec {
  const raw = env[WORKER_ENV];
  if (!raw) throw new Error(`${WORKER_ENV} is not set: a worker is started by the master`);
  return JSON.parse(raw) as WorkerSpec;
}

/** A worker's life; `modules` is the program's module list (the entry point's). */
export async function runWorker(modules: readonly Module[]): Promise<void> {
  process.title = 'weir: worker process';
  ignoreStdioErrors();
  for (const sig of IGNORED_SIGNALS) process.on(sig, () => {});
  // Listen for commands before anything else and queue them until the handler exists.
  const early: MasterMessage[] = [];
  let onCommand = (m: MasterMessage): void => { early.push(m); };
  process.on('message', (m: unknown) => { if (isMasterMessage(m)) onCommand(m); });
  process.on('SIGTERM', () => { onCommand({ weir: 'terminate' }); });
  void send({ weir: 'hello' });

  let cycle: Cycle;
  let spec: WorkerSpec;
  try {
    spec = readWorkerSpec();
    cycle = await loadCycle(spec, modules);
  } catch (err) {
    // The master tested this config moments ago; this is rare (a file changed in between).
    await send({ weir: 'failed', message: (err as Error).message });
    process.exit(EXIT_FATAL);
  }

  // The config's own notices were logged by the master when it read the config.
  const log = new ErrorLog(cycle.errorLog);
  let runtime: HttpRuntime;
  let state: 'starting' | 'serving' | 'stopping' = 'starting';
  let pending: MasterMessage | null = null;

  const exit = async (code: number): Promise<never> => {
    log.log('notice', 'exit');
    await withTimeout(closeErrorLogs(), LOG_FLUSH_TIMEOUT);
    process.exit(code);
  };

  const stop = async (graceful: boolean): Promise<void> => {
    if (state === 'stopping') {
      // A terminate after a quit cuts the graceful stop short.
      if (!graceful) await runtime.stop(false).catch(() => undefined);
      return;
    }
    state = 'stopping';
    if (graceful) {
      process.title = 'weir: worker process is shutting down';
      log.log('notice', 'gracefully shutting down');
    }
    await stopRuntime(runtime, graceful, cycle.core.workerShutdownTimeout ?? 0, log);
    log.log('notice', 'exiting');
    await exit(0);
  };

  const handle = (m: MasterMessage): void => {
    if (m.weir === 'serving') { ticketPeriodsFrom(m.since); return; }
    if (state === 'starting') {
      // Remember the strongest request; act on it once listening.
      if (m.weir !== 'reopen' && pending?.weir !== 'terminate') pending = m;
      return;
    }
    switch (m.weir) {
      case 'quit': void stop(true); break;
      case 'terminate': void stop(false); break;
      case 'reopen':
        reopenErrorLogs();
        runtime.reopenLogs();
        break;
    }
  };

  onCommand = handle;
  for (const m of early.splice(0)) handle(m);
  process.on('uncaughtException', (err) => {
    log.log('alert', `uncaught exception: ${err.stack ?? String(err)}`);
    process.stderr.write(`weir: [alert] uncaught exception in worker ${process.pid}: ${err.stack ?? String(err)}\n`);
    void withTimeout(closeErrorLogs(), LOG_FLUSH_TIMEOUT).then(() => process.exit(1));
  });

  runtime = createHttpRuntime(cycle.loaded, log);
  try {
    await runtime.start();
  } catch (err) {
    await stopRuntime(runtime, false, 0, log);
    await send({ weir: 'failed', message: (err as Error).message });
    await withTimeout(closeErrorLogs(), LOG_FLUSH_TIMEOUT);
    process.exit(EXIT_FATAL);
  }
  state = 'serving';
  await send({ weir: 'ready' });
  const p = pending as MasterMessage | null;
  if (p) handle(p);
}
