/**
 * `master_process off` (ngx_single_process_cycle): one process loads the
 * config, serves it and takes the master's signals itself. nginx documents this
 * mode for development; so does weir.
 *
 * Difference from nginx: a reload cannot keep the listening sockets open. The
 * HTTP runtime owns its sockets and Node 20 cannot bind a second socket to the
 * same address (no SO_REUSEPORT), so a reload here stops the old runtime from
 * accepting, then starts the new one: connections arriving in between are
 * refused. In-flight requests on the old runtime still finish. If the new
 * config cannot start, the old config is started again.
 */
import { createHttpRuntime, type HttpRuntime } from '../http/runtime.js';
import { closeErrorLogs, ErrorLog, reopenErrorLogs } from '../observability/error-log.js';
import { reloadCycle, type Cycle } from './cycle.js';
import { deletePidFile, writePidFile } from './pid-file.js';
import { LOG_FLUSH_TIMEOUT, stopRuntime, withTimeout } from './shutdown.js';
import { signalNotice } from './signals.js';
import type { StartResult } from './master.js';

/** How long a reload retries binding while the old runtime's sockets close. */
const REBIND_ATTEMPTS = 20;
const REBIND_DELAY = 25;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class SingleProcess {
  private runtime: HttpRuntime | null = null;
  private exiting = false;
  private reloading: Promise<void> | null = null;
  private reloadAgain = false;
  private pidPath: string | null = null;

  constructor(private cycle: Cycle, private log: ErrorLog) {}

  async start(): Promise<StartResult> {
    const runtime = createHttpRuntime(this.cycle.loaded, this.log);
    try {
      await runtime.start();
    } catch (err) {
      await stopRuntime(runtime, false, 0, this.log);
      this.log.log('emerg', (err as Error).message);
      return { ok: false, message: (err as Error).message };
    }
    this.runtime = runtime;
    try {
      const pid = this.cycle.core.pid;
      if (pid) writePidFile(pid);
      this.pidPath = pid || null;
    } catch (err) {
      await stopRuntime(runtime, false, 0, this.log);
      this.log.log('emerg', (err as Error).message);
      return { ok: false, message: (err as Error).message };
    }
    this.installSignals();
    return { ok: true };
  }

  private installSignals(): void {
    const on = (sig: NodeJS.Signals, action: () => void): void => {
      process.on(sig, () => {
        this.log.log('notice', signalNotice(sig));
        action();
      });
    };
    on('SIGQUIT', () => { void this.exit(true); });
    on('SIGTERM', () => { void this.exit(false); });
    on('SIGINT', () => { void this.exit(false); });
    on('SIGHUP', () => {
      this.reload().catch((err: unknown) => this.log.log('alert', `reload failed: ${(err as Error).stack ?? String(err)}`));
    });
    on('SIGUSR1', () => {
      this.log.log('notice', 'reopening logs');
      reopenErrorLogs();
      this.runtime?.reopenLogs();
    });
    on('SIGUSR2', () => this.log.log('notice', 'binary upgrade is not supported by weir, ignored'));
    on('SIGWINCH', () => this.log.log('notice', 'SIGWINCH is not supported by weir, ignored'));
  }

  private async exit(graceful: boolean): Promise<void> {
    if (this.exiting && graceful) return;
    const first = !this.exiting;
    this.exiting = true;
    const runtime = this.runtime;
    if (!first) {
      // TERM after QUIT: cut the graceful stop short; the first exit() finishes.
      if (runtime) await runtime.stop(false).catch(() => undefined);
      return;
    }
    if (this.reloading) await this.reloading;
    if (graceful) this.log.log('notice', 'gracefully shutting down');
    if (this.runtime) await stopRuntime(this.runtime, graceful, this.cycle.core.workerShutdownTimeout ?? 0, this.log);
    this.log.log('notice', 'exiting');
    if (this.pidPath) {
      const err = deletePidFile(this.pidPath);
      if (err) this.log.log('alert', err);
    }
    this.log.log('notice', 'exit');
    await withTimeout(closeErrorLogs(), LOG_FLUSH_TIMEOUT);
    process.exit(0);
  }

  private async reload(): Promise<void> {
    if (this.exiting) return;
    if (this.reloading) { this.reloadAgain = true; return; }
    const run = async (): Promise<void> => {
      do {
        this.reloadAgain = false;
        await this.reloadOnce();
      } while (this.reloadAgain && !this.exiting);
    };
    this.reloading = run().finally(() => { this.reloading = null; });
    await this.reloading;
  }

  private async reloadOnce(): Promise<void> {
    const cycle = await reloadCycle(this.cycle, this.log);
    if (!cycle) return;
    const old = this.runtime;
    const oldCycle = this.cycle;
    const oldLog = this.log;
    // The old runtime finishes its requests in the background; its listeners close now.
    const draining = old ? stopRuntime(old, true, oldCycle.core.workerShutdownTimeout ?? 0, oldLog) : Promise.resolve();
    const log = new ErrorLog(cycle.errorLog);
    let failure: string | null = null;
    for (let i = 0; i < REBIND_ATTEMPTS; i++) {
      const runtime = createHttpRuntime(cycle.loaded, log);
      try {
        await runtime.start();
        this.runtime = runtime;
        this.cycle = cycle;
        this.log = log;
        failure = null;
        break;
      } catch (err) {
        failure = (err as Error).message;
        await stopRuntime(runtime, false, 0, log);
        await sleep(REBIND_DELAY);
      }
    }
    if (failure !== null) {
      this.log.log('emerg', failure);
      const again = createHttpRuntime(oldCycle.loaded, oldLog);
      try {
        await again.start();
        this.runtime = again;
      } catch (err) {
        this.runtime = null;
        this.log.log('alert', `the previous configuration could not be started again: ${(err as Error).message}`);
      }
    }
    const newPid = this.cycle.core.pid || null;
    if (newPid !== this.pidPath) {
      try {
        if (newPid) writePidFile(newPid);
        if (this.pidPath) deletePidFile(this.pidPath);
        this.pidPath = newPid;
      } catch (err) {
        this.log.log('emerg', (err as Error).message);
      }
    }
    void draining;
  }
}
