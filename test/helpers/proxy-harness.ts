import assert from 'node:assert/strict';
import { startFaultUpstream, type FaultOptions, type FaultUpstream } from './fault-upstream.js';
/**
 * Starts weir in-process on a proxy config (with prepareConfig, so host names
 * and pending tasks run), plus the client helpers the upstream tests share:
 * one request on its own connection, several on one keep-alive connection,
 * error-log polling, and a leak check on the process's active handles.
 *
 * Reuses the raw-socket helpers of raw-http.ts (exchange, parseResponses).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadConfigText, prepareConfig } from '../../src/config/loader.js';
import { createHttpRuntime, type HttpRuntime } from '../../src/http/runtime.js';
import { builtinModules } from '../../src/modules.js';
import { closeErrorLogs, ErrorLog } from '../../src/observability/error-log.js';
import { exchange, freePort, type Exchange, type ExchangeOptions, type RawResponse } from './raw-http.js';
import { linesAtLeast, textMatching, WAIT_MS } from './wait.js';

export { exchange, freePort, parseResponses, type Exchange, type RawResponse } from './raw-http.js';

export interface ProxyWeir {
  readonly rt: HttpRuntime;
  readonly port: number;
  readonly prefix: string;
  errorLog(): string;
  /** Polls the error log until `re` matches; returns the log, rejects (failing the test) after `ms`. */
  waitLog(re: RegExp, ms?: number): Promise<string>;
  /** Lines of an access log under the prefix. */
  accessLog(name?: string): string[];
  stop(): Promise<void>;
}

/**
 * `conf` is the text inside `http { }` (or a whole config with an http block);
 * `%PORT%` is weir's listen port, `%PREFIX%` the temp prefix. An access log
 * `%PREFIX%/access.log` is available as accessLog().
 */
export async function startProxy(conf: string, files: Record<string, string> = {}): Promise<ProxyWeir> {
  const prefix = mkdtempSync(join(tmpdir(), 'weir-up-'));
  mkdirSync(join(prefix, 'logs'));
  for (const [name, content] of Object.entries(files)) {
    const p = join(prefix, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  const port = await freePort();
  let text = conf.replaceAll('%PORT%', String(port)).replaceAll('%PREFIX%', prefix);
  if (!/\bhttp\s*\{/.test(text)) text = `http {\n${text}\n}`;
  if (!/\bevents\s*\{/.test(text)) text = `events {}\n${text}`;
  const loaded = loadConfigText(text, prefix, builtinModules);
  await prepareConfig(loaded);
  const errorLogPath = join(prefix, 'error.log');
  const rt = createHttpRuntime(loaded, new ErrorLog([{ path: errorLogPath, level: 'info' }]));
  await rt.start();
  const errorLog = (): string => (existsSync(errorLogPath) ? readFileSync(errorLogPath, 'utf8') : '');
  let stopped = false;
  return {
    rt, port, prefix, errorLog,
    waitLog: (re, ms = WAIT_MS) => textMatching('the error log', errorLog, re, ms),
    accessLog(name = 'access.log') {
      const p = join(prefix, name);
      return existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter((l) => l !== '') : [];
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await rt.stop(false);
      // A log line written during the stop must not land (and recreate a file) while the prefix is removed.
      await closeErrorLogs();
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One request on its own connection (`Connection: close` is added unless `keepOpen`). */
export async function request(port: number, method: string, path: string, opts: {
  headers?: Record<string, string>; body?: string; idleMs?: number; totalMs?: number;
} = {}): Promise<{ res: RawResponse | undefined; ex: Exchange; elapsed: number }> {
  let head = `${method} ${path} HTTP/1.1\r\nHost: localhost\r\n`;
  for (const [k, v] of Object.entries(opts.headers ?? {})) head += `${k}: ${v}\r\n`;
  if (opts.body !== undefined) head += `Content-Length: ${Buffer.byteLength(opts.body)}\r\n`;
  head += 'Connection: close\r\n\r\n';
  const t0 = Date.now();
  const ex = await exchange(port, head + (opts.body ?? ''), { methods: [method], idleMs: opts.idleMs ?? 3000, totalMs: opts.totalMs ?? 6000 });
  return { res: ex.responses[0], ex, elapsed: Date.now() - t0 };
}

export const GET = (port: number, path = '/', opts?: Parameters<typeof request>[3]) => request(port, 'GET', path, opts);

/** Several GETs pipelined one after another's answer would need a client; this sends them on one connection, in sequence. */
export async function keepAliveGets(port: number, paths: string[], opts: ExchangeOptions = {}): Promise<Exchange> {
  const reqs = paths.map((p, i) => `GET ${p} HTTP/1.1\r\nHost: localhost\r\n${i === paths.length - 1 ? 'Connection: close\r\n' : ''}\r\n`);
  return exchange(port, reqs, { gapMs: 60, idleMs: 1500, ...opts, methods: paths.map(() => 'GET') });
}

/** Counts of the process's active handles by type (TCPSocketWrap, Timeout, ...). */
export function activeResources(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

/**
 * Takes a snapshot now; the returned function waits until the sockets/servers/
 * timers are back to the snapshot's counts (or `ms` passes) and returns a
 * description of what is left over ('' when nothing).
 */
export function leakSnapshot(): (ms?: number) => Promise<string> {
  const before = activeResources();
  return async (ms = 1500) => {
    const end = Date.now() + ms;
    let diff = '';
    for (;;) {
      await sleep(25);
      const now = activeResources();
      diff = '';
      for (const [k, n] of now) {
        if (k === 'TTYWrap' || k === 'FSReqCallback' || k === 'FSEventWrap' || k === 'PipeWrap' || k === 'ProcessWrap') continue;
        const b = before.get(k) ?? 0;
        if (n > b) diff += `${k}: ${b} -> ${n}; `;
      }
      if (diff === '' || Date.now() > end) return diff;
    }
  };
}

let unhandled: unknown[] = [];
let installed = false;
/** Records unhandled rejections / uncaught exceptions (the test runner also runs with --unhandled-rejections=strict). */
export function trackUnhandled(): { take(): unknown[] } {
  if (!installed) {
    installed = true;
    process.on('unhandledRejection', (e) => { unhandled.push(e); });
  }
  return { take() { const u = unhandled; unhandled = []; return u; } };
}

/** An upstream block with the fixtures' addresses and extra server parameters. */
export function upstreamBlock(name: string, servers: Array<string | { addr: string; params?: string }>, extra = ''): string {
  const lines = servers.map((s) => (typeof s === 'string' ? `    server ${s};` : `    server ${s.addr}${s.params ? ' ' + s.params : ''};`));
  return `  upstream ${name} {\n${lines.join('\n')}\n${extra ? '    ' + extra + '\n' : ''}  }\n`;
}

/** Polls an access log under the weir prefix until it has `n` lines; rejects (failing the test) after `ms`. */
export function waitAccess(w: ProxyWeir, n: number, ms = WAIT_MS, name = 'access.log'): Promise<string[]> {
  return linesAtLeast(name, () => w.accessLog(name), n, ms);
}

/**
 * Starts fault fixtures, then weir on `conf(fixtures)` (the text inside http{},
 * after `prelude`), runs `fn`, stops everything and checks that no handle was
 * left behind and that `unhandled` saw no rejection.
 */
export async function faultScenario(
  unhandled: { take(): unknown[] },
  prelude: string,
  fixtureOpts: FaultOptions[],
  conf: (fx: FaultUpstream[]) => string,
  fn: (w: ProxyWeir, fx: FaultUpstream[]) => Promise<void>,
): Promise<void> {
  const leaks = leakSnapshot();
  const fx: FaultUpstream[] = [];
  for (const o of fixtureOpts) fx.push(await startFaultUpstream(o));
  let w: ProxyWeir | null = null;
  try {
    w = await startProxy(`${prelude}\n${conf(fx)}`);
    await fn(w, fx);
  } finally {
    await w?.stop();
    for (const f of fx) await f.stop();
  }
  const left = await leaks();
  assert.equal(left, '', `handles left after the scenario: ${left}`);
  assert.deepEqual(unhandled.take(), []);
}
