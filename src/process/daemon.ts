/**
 * `daemon on` (ngx_daemon). nginx forks and the child calls setsid(); Node
 * cannot fork, so the command re-runs itself: the same node, the same script,
 * the same arguments, detached (a new session, no controlling terminal) with
 * stdin/stdout/stderr on /dev/null and DAEMON_ENV set so it does not detach
 * again. The daemon then runs the master (or the single process), whose pid is
 * the one written to the pid file.
 *
 * Difference from nginx: nginx's parent exits right after fork, having already
 * read the config and bound the sockets in its own process. Here the sockets
 * are bound in the daemon, so the parent waits (over an IPC channel that the
 * daemon closes once started) until the daemon reports that it serves, and
 * prints the daemon's start-up error on the terminal and exits 1 if it could
 * not start. Like nginx, the daemon keeps the working directory; unlike nginx
 * it keeps the umask (nginx sets 0 and creates files 0644; Node creates 0666).
 */
import { spawn } from 'node:child_process';

export const DAEMON_ENV = 'WEIR_DAEMON';
/** How long the terminal waits for the daemon to report before giving up on it (it keeps running). */
const DAEMON_REPORT_TIMEOUT = 30_000;

interface DaemonReport {
  readonly weirDaemon: 'ready' | 'failed';
  readonly message?: string;
}

function isDaemonReport(m: unknown): m is DaemonReport {
  const v = (m as { weirDaemon?: unknown } | null)?.weirDaemon;
  return v === 'ready' || v === 'failed';
}

export function isDaemonChild(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[DAEMON_ENV] === '1';
}

/** The terminal's side: starts the daemon and resolves the exit code for this process. */
export function daemonize(): Promise<number> {
  const args = [...process.execArgv, process.argv[1], ...process.argv.slice(2)];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, [DAEMON_ENV]: '1' },
  });
  return new Promise((resolve) => {
    let done = false;
    const finish = (code: number, message?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (message) process.stderr.write(message);
      child.removeAllListeners();
      child.on('error', () => {});
      if (child.connected) child.disconnect();
      child.unref();
      resolve(code);
    };
    const timer = setTimeout(() => {
      finish(0, `weir: [warn] the daemon (pid ${child.pid}) did not report within ${DAEMON_REPORT_TIMEOUT / 1000}s; see the error log\n`);
    }, DAEMON_REPORT_TIMEOUT);
    child.on('message', (m: unknown) => {
      if (!isDaemonReport(m)) return;
      if (m.weirDaemon === 'ready') finish(0);
      else finish(1, m.message ? `weir: [emerg] ${m.message}\n` : undefined);
    });
    child.on('exit', (code, signal) => {
      finish(1, `weir: [emerg] the daemon exited ${signal ? `on signal ${signal}` : `with code ${code}`} before it started\n`);
    });
    child.on('error', (err) => finish(1, `weir: [emerg] could not start the daemon: ${err.message}\n`));
  });
}

/** The daemon's side: tells the waiting terminal how start-up went, then lets it go. */
export function reportToTerminal(ok: boolean, message?: string): Promise<void> {
  return new Promise((resolve) => {
    if (!isDaemonChild() || !process.send || !process.connected) { resolve(); return; }
    const report: DaemonReport = ok ? { weirDaemon: 'ready' } : { weirDaemon: 'failed', message };
    process.send(report, undefined, {}, () => {
      if (process.connected) process.disconnect();
      resolve();
    });
  });
}
