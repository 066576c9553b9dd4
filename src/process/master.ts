/**
 * The master process (ngx_master_process_cycle, ngx_reap_children,
 * ngx_start_worker_processes): forks `worker_processes` workers with
 * node:cluster, writes the pid file once they all listen, respawns a worker that
 * dies, and turns signals into work:
 *
 *   QUIT ........ graceful stop: every worker finishes in-flight requests (bounded
 *                 by worker_shutdown_timeout), then the master removes the pid file
 *   TERM, INT ... fast stop: workers drop their connections; after 3 s the master
 *                 kills what is left with SIGKILL (nginx escalates the same way)
 *   HUP ......... reload: re-read and test the config; on failure log the [emerg]
 *                 and leave the running workers untouched; on success fork a new
 *                 generation, wait until every new worker listens, then tell the
 *                 old generation to stop gracefully
 *   USR1 ........ reopen the error logs here and tell workers to reopen theirs
 *   USR2, WINCH . nginx's binary upgrade: not supported, logged and ignored
 *
 * Scheduling: cluster.SCHED_NONE. The master creates each listening socket (the
 * first worker's listen() asks for it) and hands the same descriptor to every
 * worker, which accepts on it directly, as nginx's workers accept on the
 * sockets they inherit. Node's default, SCHED_RR, has the master accept every
 * connection and pass it to a worker over IPC: one more process hop and a
 * message per connection, and a master that stops scheduling stops the service.
 * SCHED_NONE's cost is that the kernel, not the master, spreads connections, so
 * a busy worker can take more than its share (nginx without `reuseport` has the
 * same property). Measured on a 2-core box (2 workers, a separate client, 32
 * concurrent requests on new connections, three runs each): SCHED_NONE
 * 1270-1640 req/s with a 47/53 split between the workers, SCHED_RR 1070-1510
 * req/s: within the noise there, so the choice rests on the reasons above. For reloads the two policies behave alike: the master keeps a
 * listening socket open while any worker of any generation listens on it, so a
 * new generation joins the same socket before the old one leaves it and no
 * connection is refused; the backlog is never closed.
 *
 * Differences from nginx:
 * - Workers get commands over the cluster IPC channel (nginx uses its channel
 *   socketpair too, with signals as the fallback). A command is held until the
 *   worker's first message (`hello`): Node drops IPC messages that arrive
 *   before the child has a 'message' listener, and a QUIT that reached a worker
 *   still loading its modules was lost that way (its master then waited forever).
 * - The pid file is written once every worker listens (see pid-file.ts).
 * - A reload waits until each new worker reports that it listens before the old
 *   generation is told to quit (nginx waits a fixed 100 ms). A new generation
 *   that fails to start (a port in use, say) is stopped and the old one keeps
 *   serving, as when nginx's ngx_init_cycle fails.
 * - `daemon` and `master_process` changed by a reload are ignored (nginx too,
 *   silently); the pid file moves if `pid` changed.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { ticketPeriodsFrom } from '../http/tls/ssl-module.js';
import { closeErrorLogs, ErrorLog, reopenErrorLogs } from '../observability/error-log.js';
import { reloadCycle, type Cycle } from './cycle.js';
import { EXIT_FATAL, isWorkerMessage, WORKER_ENV, type MasterMessage, type WorkerSpec } from './ipc.js';
import { deletePidFile, writePidFile } from './pid-file.js';
import { LOG_FLUSH_TIMEOUT, withTimeout } from './shutdown.js';
import { signalNotice, signalNumber } from './signals.js';
import { answerZoneRequest, isZoneRequest } from '../zone/zone-client.js';
import { ZoneHost } from '../zone/zone-host.js';
import { isSharedRequest, SharedStateHost } from '../zone/shared-state.js';

/** After a fast stop was asked, workers still alive this long later get SIGKILL. */
const TERMINATE_KILL_DELAY = 3000;

interface WorkerRecord {
  readonly worker: Worker;
  readonly pid: number;
  readonly generation: number;
  readonly cycle: Cycle;
  state: 'starting' | 'ready' | 'stopping';
  /** The message of a `failed` report, kept for the exit that follows it. */
  failure: string | null;
  /** Settles a start wait: null once listening, a message on failure. */
  started: ((failure: string | null) => void) | null;
  /** Commands held until the worker says hello (see ipc.ts). */
  held: MasterMessage[] | null;
}

export type StartResult = { readonly ok: true } | { readonly ok: false; readonly message: string };

export class Master {
  private cycle: Cycle;
  private log: ErrorLog;
  private generation = 1;
  private pendingGeneration: number | null = null;
  private readonly workers = new Map<number, WorkerRecord>();
  /** The shared zones (zone-host.ts): kept here so that they outlive workers and reloads. */
  private readonly zones = new ZoneHost();
  /** The replicated zones (shared-state.ts): upstream peer counts, stub_status counters, sticky sessions. */
  private readonly shared = new SharedStateHost((id, m) => {
    const rec = this.workers.get(id);
    if (rec !== undefined && rec.worker.isConnected()) rec.worker.send(m);
  });
  private exiting: 'quit' | 'terminate' | null = null;
  private finishing = false;
  private exitCode = 0;
  private reloading = false;
  private reloadAgain = false;
  private pidPath: string | null = null;
  private killTimer: NodeJS.Timeout | null = null;
  /** False until the first generation listens: a HUP before then waits for it. */
  private running = false;

  constructor(cycle: Cycle, log: ErrorLog) {
    this.cycle = cycle;
    this.log = log;
  }

  /**
   * Forks the first generation and resolves once every worker listens and the
   * pid file is written ({ok: true}), or once a failure stopped everything
   * ({ok: false}: the caller reports it and exits 1). After {ok: true} the
   * master runs until a signal stops it, and exits the process itself.
   */
  async start(): Promise<StartResult> {
    // What ps shows, as nginx's "nginx: master process /usr/sbin/nginx -c ...".
    process.title = `weir: master process ${process.argv.slice(1).join(' ')}`;
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: fileURLToPath(new URL('../worker-main.js', import.meta.url)), args: [] });
    this.installSignals();

    const failure = await this.startGeneration(this.cycle, this.generation);
    if (failure === null && !this.exiting) {
      try {
        // Time-based state starts now (TLS ticket key periods), in every worker, before the pid file says we serve.
        const since = Date.now();
        ticketPeriodsFrom(since);
        for (const rec of this.workers.values()) this.send(rec, { weir: 'serving', since });
        const pid = this.cycle.core.pid;
        // `pid off`: no file.
        if (pid) writePidFile(pid);
        this.pidPath = pid || null;
        this.running = true;
        if (this.reloadAgain) { this.reloadAgain = false; this.requestReload(); }
        return { ok: true };
      } catch (err) {
        return this.abortStart((err as Error).message);
      }
    }
    return this.abortStart(failure ?? 'exiting before the workers started');
  }

  private async abortStart(message: string): Promise<StartResult> {
    this.exitCode = 1;
    this.log.log('emerg', message);
    await new Promise<void>((resolve) => {
      this.onFinished = resolve;
      this.shutdown('terminate');
    });
    return { ok: false, message };
  }

  /** Set while start() is failing: the caller, not the master, ends the process. */
  private onFinished: (() => void) | null = null;

  private installSignals(): void {
    const on = (sig: NodeJS.Signals, action: () => void): void => {
      process.on(sig, () => {
        this.log.log('notice', signalNotice(sig));
        action();
      });
    };
    on('SIGQUIT', () => this.shutdown('quit'));
    on('SIGTERM', () => this.shutdown('terminate'));
    on('SIGINT', () => this.shutdown('terminate'));
    on('SIGHUP', () => this.requestReload());
    on('SIGUSR1', () => this.reopen());
    on('SIGUSR2', () => this.log.log('notice', 'binary upgrade is not supported by weir, ignored'));
    on('SIGWINCH', () => this.log.log('notice', 'SIGWINCH is not supported by weir, ignored'));
  }

  /** Forks one generation; resolves null when all of it listens, or the first failure (the rest is then stopped). */
  private startGeneration(cycle: Cycle, generation: number): Promise<string | null> {
    this.log.log('notice', 'start worker processes');
    const n = cycle.core.workerProcesses ?? 1;
    const records: WorkerRecord[] = [];
    for (let i = 0; i < n; i++) records.push(this.fork(cycle, generation));
    // `worker_processes 0`: a master with no workers, as nginx allows.
    if (records.length === 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      let waiting = records.length;
      let settled = false;
      for (const rec of records) {
        rec.started = (failure) => {
          rec.started = null;
          if (settled) return;
          if (failure !== null) {
            settled = true;
            for (const other of records) {
              other.started = null;
              if (other.state !== 'stopping') this.stopWorker(other, 'terminate');
            }
            resolve(failure);
          } else if (--waiting === 0) {
            settled = true;
            resolve(null);
          }
        };
      }
    });
  }

  private fork(cycle: Cycle, generation: number): WorkerRecord {
    const spec: WorkerSpec = { ...cycle.options, generation };
    const worker = cluster.fork({ [WORKER_ENV]: JSON.stringify(spec) });
    const rec: WorkerRecord = {
      worker, pid: worker.process.pid ?? 0, generation, cycle, state: 'starting', failure: null, started: null, held: [],
    };
    this.workers.set(worker.id, rec);
    this.log.log('notice', `start worker process ${rec.pid}`);
    worker.on('message', (m: unknown) => this.onMessage(rec, m));
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => this.onExit(rec, code, signal));
    // A send racing the worker's exit reports here instead of throwing.
    worker.on('error', (err: Error) => this.log.log('info', `worker process ${rec.pid}: ${err.message}`));
    return rec;
  }

  private onMessage(rec: WorkerRecord, m: unknown): void {
    // A dead worker's last messages may still be read after its 'exit': what it would take
    // now could never be given back, so a zone or shared request of it is dropped.
    if (this.workers.get(rec.worker.id) !== rec && (isZoneRequest(m) || isSharedRequest(m))) return;
    if (isZoneRequest(m)) {
      const reply = answerZoneRequest(this.zones, rec.worker.id, m);
      if (reply !== null && rec.worker.isConnected()) rec.worker.send(reply);
      return;
    }
    if (isSharedRequest(m)) { this.shared.handle(rec.worker.id, rec.generation, m); return; }
    if (!isWorkerMessage(m)) return;
    if (m.weir === 'hello') {
      const held = rec.held ?? [];
      rec.held = null;
      for (const c of held) this.send(rec, c);
      return;
    }
    if (m.weir === 'ready') {
      if (rec.state === 'starting') rec.state = 'ready';
      rec.started?.(null);
      return;
    }
    rec.failure = m.message;
    if (rec.started) rec.started(m.message);
    else this.log.log('emerg', m.message);
  }

  private onExit(rec: WorkerRecord, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(rec.worker.id);
    // What its requests held in limit_conn zones is given back (nginx's would stay counted).
    this.zones.holderGone(rec.worker.id);
    this.shared.holderGone(rec.worker.id);
    if (signal) {
      this.log.log('alert', `worker process ${rec.pid} exited on signal ${signalNumber(signal)}`);
    } else if (code === EXIT_FATAL && rec.failure === null) {
      this.log.log('alert', `worker process ${rec.pid} exited with fatal code ${code} and cannot be respawned`);
    } else {
      this.log.log('notice', `worker process ${rec.pid} exited with code ${code}`);
    }
    if (rec.state === 'starting') {
      rec.started?.(rec.failure ?? `worker process ${rec.pid} exited before it listened`);
    } else if (rec.state === 'ready' && !this.exiting && this.isLive(rec.generation)) {
      this.fork(rec.cycle, rec.generation);
    }
    // A generation that ends leaves its counters (nginx frees the old cycle's zones with it).
    if (!this.isLive(rec.generation) && ![...this.workers.values()].some((w) => w.generation === rec.generation)) {
      this.shared.dropGeneration(rec.generation);
    }
    this.maybeFinish();
  }

  private isLive(generation: number): boolean {
    return generation === this.generation || generation === this.pendingGeneration;
  }

  private send(rec: WorkerRecord, message: MasterMessage): void {
    if (rec.held) rec.held.push(message);
    else if (rec.worker.isConnected()) rec.worker.send(message);
  }

  private stopWorker(rec: WorkerRecord, how: 'quit' | 'terminate'): void {
    rec.state = 'stopping';
    this.send(rec, { weir: how });
  }

  private shutdown(how: 'quit' | 'terminate'): void {
    if (this.exiting === 'terminate' || this.exiting === how) return;
    this.exiting = how;
    for (const rec of this.workers.values()) {
      const waiting = rec.started;
      this.stopWorker(rec, how);
      waiting?.('exiting');
    }
    if (how === 'terminate' && !this.killTimer) {
      this.killTimer = setTimeout(() => {
        for (const rec of this.workers.values()) rec.worker.process.kill('SIGKILL');
      }, TERMINATE_KILL_DELAY);
    }
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (!this.exiting || this.workers.size > 0 || this.finishing) return;
    this.finishing = true;
    if (this.killTimer) clearTimeout(this.killTimer);
    if (this.onFinished) {
      // start() failed: its caller reports and exits.
      this.onFinished();
      return;
    }
    if (this.pidPath) {
      const err = deletePidFile(this.pidPath);
      if (err) this.log.log('alert', err);
    }
    this.log.log('notice', 'exit');
    void withTimeout(closeErrorLogs(), LOG_FLUSH_TIMEOUT).then(() => process.exit(this.exitCode));
  }

  private reopen(): void {
    this.log.log('notice', 'reopening logs');
    reopenErrorLogs();
    for (const rec of this.workers.values()) this.send(rec, { weir: 'reopen' });
  }

  private requestReload(): void {
    this.reload().catch((err: unknown) => {
      this.log.log('alert', `reload failed: ${(err as Error).stack ?? String(err)}`);
    });
  }

  private async reload(): Promise<void> {
    if (this.exiting) return;
    if (this.reloading || !this.running) {
      // A HUP during a reload re-reads the config once more when this one ends.
      this.reloadAgain = true;
      return;
    }
    this.reloading = true;
    try {
      do {
        this.reloadAgain = false;
        await this.reloadOnce();
      } while (this.reloadAgain && !this.exiting);
    } finally {
      this.reloading = false;
    }
  }

  private async reloadOnce(): Promise<void> {
    const cycle = await reloadCycle(this.cycle, this.log);
    if (!cycle) return;
    const oldLog = this.log;
    const generation = this.generation + 1;
    this.pendingGeneration = generation;
    this.log = new ErrorLog(cycle.errorLog);
    const failure = await this.startGeneration(cycle, generation);
    this.pendingGeneration = null;
    if (this.exiting) return;
    if (failure !== null) {
      this.log = oldLog;
      this.log.log('emerg', failure);
      return;
    }
    for (const rec of this.workers.values()) {
      if (rec.generation < generation && rec.state !== 'stopping') this.stopWorker(rec, 'quit');
    }
    this.generation = generation;
    const oldPid = this.pidPath;
    this.cycle = cycle;
    const newPid = cycle.core.pid || null;
    if (oldPid !== newPid) {
      try {
        if (newPid) writePidFile(newPid);
        this.pidPath = newPid;
        if (oldPid) {
          const err = deletePidFile(oldPid);
          if (err) this.log.log('alert', err);
        }
      } catch (err) {
        this.log.log('emerg', (err as Error).message);
      }
    }
  }
}
