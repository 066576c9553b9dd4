/**
 * weir as a real process, for black-box integration tests.
 *
 *   const weir = await startWeir({ config: ({ port }) => `events {} http { server { listen 127.0.0.1:${port}; ... } }` });
 *   const r = await httpGet(weir.port, '/');
 *   await weir.stop();            // QUIT, wait for exit, remove the temp prefix
 *
 * startWeir writes the config into a fresh temp prefix (conf/weir.conf, logs/),
 * picks free ports, runs `node bin/weir -p DIR -c DIR/conf/weir.conf -g 'daemon off;'`
 * and resolves once the pid file exists (weir writes it only when every
 * listener accepts connections). Do not put `daemon` in the config: the helper
 * passes it with -g (override with `globals`).
 *
 * Every wait has a timeout; every process started here is SIGKILLed when the
 * test process exits, whatever happened (a master killed that way takes its
 * workers with it: they exit when their IPC channel closes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's bin/weir (this file runs from dist/test/helpers/). */
export const WEIR_BIN = fileURLToPath(new URL('../../../bin/weir', import.meta.url));

const DEFAULT_TIMEOUT = 15_000;
const POLL_MS = 20;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- cleanup of everything started here ----------------------------------------------------

const livePids = new Set<number>();
let exitHookInstalled = false;

/** Registers a pid to SIGKILL when this test process exits (daemons, masters). */
export function killAtExit(pid: number): void {
  livePids.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of livePids) {
      try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ }
    }
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls `check` until it returns a value other than undefined/false; rejects after timeoutMs. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = DEFAULT_TIMEOUT): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

// ---- ports ---------------------------------------------------------------------------------

/** `n` distinct free TCP ports on 127.0.0.1 (all held open together, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

// ---- the prefix ----------------------------------------------------------------------------

export interface Prefix {
  readonly dir: string;
  readonly confPath: string;
  /** The default pid file (logs/weir.pid). */
  readonly pidPath: string;
  /** The error log the helper's configs usually name (logs/error.log). */
  readonly errorLogPath: string;
  /** Writes a file relative to the prefix (directories created). */
  write(rel: string, text: string): string;
  writeConfig(text: string): void;
  read(rel: string): string;
  /** The error log's text ('' if it does not exist yet). */
  errorLog(): string;
  remove(): void;
}

export function makePrefix(config?: string, files: Readonly<Record<string, string>> = {}): Prefix {
  const dir = mkdtempSync(join(tmpdir(), 'weir-test-'));
  mkdirSync(join(dir, 'conf'));
  mkdirSync(join(dir, 'logs'));
  const p: Prefix = {
    dir,
    confPath: join(dir, 'conf', 'weir.conf'),
    pidPath: join(dir, 'logs', 'weir.pid'),
    errorLogPath: join(dir, 'logs', 'error.log'),
    write(rel, text) {
      const path = join(dir, rel);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      return path;
    },
    writeConfig(text) { writeFileSync(p.confPath, text); },
    read(rel) { return readFileSync(join(dir, rel), 'utf8'); },
    errorLog() { return existsSync(p.errorLogPath) ? readFileSync(p.errorLogPath, 'utf8') : ''; },
    remove() { rmSync(dir, { recursive: true, force: true }); },
  };
  if (config !== undefined) p.writeConfig(config);
  for (const [rel, text] of Object.entries(files)) p.write(rel, text);
  return p;
}

/** The pid in a pid file, or undefined while it is missing or not yet a number. */
export function readPid(path: string): number | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return /^[0-9]+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Children of a process (Linux /proc), e.g. a master's workers. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the parenthesised command: state, ppid, ...
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z') out.push(Number(name));
    } catch { /* gone meanwhile */ }
  }
  return out.sort((a, b) => a - b);
}

// ---- running the command -------------------------------------------------------------------

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node bin/weir ARGS` to completion (-t, -v, -s ...). */
export function runWeir(args: readonly string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WEIR_BIN, ...args], { cwd: o.cwd, env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid) killAtExit(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`weir ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (child.pid) livePids.delete(child.pid);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

// ---- a running weir ------------------------------------------------------------------------

export interface ConfigContext {
  /** ports[0]. */
  readonly port: number;
  readonly ports: readonly number[];
  readonly dir: string;
}

export interface StartOptions {
  /** The config text, or a function of the allocated ports and the prefix. */
  readonly config: string | ((c: ConfigContext) => string);
  /** How many free ports to allocate (default 1). */
  readonly ports?: number;
  /** Extra files relative to the prefix (included configs, static files). */
  readonly files?: Readonly<Record<string, string>>;
  /** -g (default `daemon off;`). */
  readonly globals?: string;
  /** Arguments added after -p/-c/-g (e.g. ['-e', 'stderr']). */
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Start-up timeout (default 10 s). */
  readonly timeoutMs?: number;
  /** Keep the temp prefix after stop() (debugging). */
  readonly keep?: boolean;
  /** The pid file the config names, relative to the prefix (default logs/weir.pid). */
  readonly pidFile?: string;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface WeirProcess {
  readonly prefix: Prefix;
  readonly child: ChildProcess;
  /** The master's pid (the pid in the pid file). */
  readonly pid: number;
  readonly port: number;
  readonly ports: readonly number[];
  readonly config: ConfigContext;
  stdout(): string;
  stderr(): string;
  errorLog(): string;
  /** The master's live children. */
  workers(): number[];
  signal(sig: NodeJS.Signals): void;
  /** Writes a new config (text or function of the same ports) and sends HUP. */
  reload(config?: string | ((c: ConfigContext) => string)): void;
  /** Runs `weir -p DIR -c CONF ARGS` against this prefix (e.g. ['-s', 'reload']). */
  run(args: readonly string[]): Promise<RunResult>;
  /** Resolves the error log text once it matches (counting matches: `count` of them). */
  waitForLog(pattern: RegExp, timeoutMs?: number, count?: number): Promise<string>;
  waitForExit(timeoutMs?: number): Promise<ExitStatus>;
  readonly exited: boolean;
  /** Sends `sig` (default QUIT), waits for the exit (SIGKILL after the timeout), removes the prefix. */
  stop(sig?: NodeJS.Signals, timeoutMs?: number): Promise<ExitStatus>;
}

export async function startWeir(o: StartOptions): Promise<WeirProcess> {
  const ports = await freePorts(o.ports ?? 1);
  const prefix = makePrefix(undefined, o.files);
  const ctx: ConfigContext = { port: ports[0], ports, dir: prefix.dir };
  const render = (c: string | ((c: ConfigContext) => string)): string => (typeof c === 'function' ? c(ctx) : c);
  prefix.writeConfig(render(o.config));

  const args = ['-p', prefix.dir, '-c', prefix.confPath, '-g', o.globals ?? 'daemon off;', ...(o.args ?? [])];
  const child = spawn(process.execPath, [WEIR_BIN, ...args], { env: o.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (!child.pid) throw new Error('could not spawn bin/weir');
  killAtExit(child.pid);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  let status: ExitStatus | null = null;
  const exitWaiters: Array<(s: ExitStatus) => void> = [];
  child.once('exit', (code, signal) => {
    status = { code, signal };
    livePids.delete(child.pid!);
    for (const w of exitWaiters.splice(0)) w(status);
  });

  const waitForExit = (timeoutMs = DEFAULT_TIMEOUT): Promise<ExitStatus> => {
    if (status) return Promise.resolve(status);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`weir (pid ${child.pid}) did not exit within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
      exitWaiters.push((s) => { clearTimeout(timer); resolve(s); });
    });
  };

  const pidPath = o.pidFile !== undefined ? join(prefix.dir, o.pidFile) : prefix.pidPath;
  try {
    await waitFor('the pid file', () => {
      if (status) throw new Error(`weir exited (${status.code ?? status.signal}) before writing its pid file; stderr:\n${stderr}\nerror log:\n${prefix.errorLog()}`);
      return readPid(pidPath) !== undefined;
    }, o.timeoutMs ?? DEFAULT_TIMEOUT);
  } catch (err) {
    child.kill('SIGKILL');
    await waitForExit(2000).catch(() => undefined);
    if (!o.keep) prefix.remove();
    throw err;
  }

  const weir: WeirProcess = {
    prefix,
    child,
    pid: child.pid,
    port: ports[0],
    ports,
    config: ctx,
    stdout: () => stdout,
    stderr: () => stderr,
    errorLog: () => prefix.errorLog(),
    workers: () => childPids(child.pid!),
    signal: (sig) => { child.kill(sig); },
    reload(config) {
      if (config !== undefined) prefix.writeConfig(render(config));
      child.kill('SIGHUP');
    },
    run: (extra) => runWeir(['-p', prefix.dir, '-c', prefix.confPath, ...extra]),
    waitForLog: (pattern, timeoutMs = DEFAULT_TIMEOUT, count = 1) => waitFor(`${pattern} in the error log`, () => {
      const text = prefix.errorLog();
      const re = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g');
      return (text.match(re)?.length ?? 0) >= count ? text : undefined;
    }, timeoutMs),
    waitForExit,
    get exited() { return status !== null; },
    async stop(sig = 'SIGQUIT', timeoutMs = DEFAULT_TIMEOUT) {
      try {
        if (!status) child.kill(sig);
        return await waitForExit(timeoutMs);
      } catch (err) {
        child.kill('SIGKILL');
        await waitForExit(2000).catch(() => undefined);
        throw err;
      } finally {
        if (!o.keep) prefix.remove();
      }
    },
  };
  return weir;
}

// ---- HTTP ----------------------------------------------------------------------------------

export interface HttpResult {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** Whether the request went out on a socket the agent reused. */
  readonly reused: boolean;
}

/** GET on 127.0.0.1:port; `agent` false (the default) opens a new connection per request. */
export function httpGet(port: number, path = '/', o: { agent?: http.Agent | false; host?: string; timeoutMs?: number } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: o.agent ?? false, headers: { host: o.host ?? 'localhost' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.setTimeout(o.timeoutMs ?? 5000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', (err: Error & { reusedSocket?: boolean }) => {
      err.reusedSocket = req.reusedSocket;
      reject(err);
    });
    req.end();
  });
}
