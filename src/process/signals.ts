/**
 * Signals, as nginx's signals[] table (src/os/unix/ngx_process.c): the `-s`
 * names, what each means to the master, and the notice the master logs when one
 * arrives (ngx_signal_handler).
 *
 * Difference from nginx: Node does not expose siginfo, so the notice cannot say
 * who sent the signal. nginx prints `signal 1 (SIGHUP) received from 4321,
 * reconfiguring` when it knows the sender and `signal 1 (SIGHUP) received,
 * reconfiguring` when it does not; weir always prints the second form.
 */
import { constants } from 'node:os';
import { readPidFile } from './pid-file.js';
import { errnoText } from '../errno.js';

/** `weir -s NAME` → the signal sent to the master. */
export const SIGNAL_NAMES = {
  stop: 'SIGTERM',
  quit: 'SIGQUIT',
  reopen: 'SIGUSR1',
  reload: 'SIGHUP',
} as const satisfies Record<string, NodeJS.Signals>;
export type SignalName = keyof typeof SIGNAL_NAMES;

export function isSignalName(s: string): s is SignalName {
  return Object.prototype.hasOwnProperty.call(SIGNAL_NAMES, s);
}

/** What the master does on each signal, as the suffix of nginx's notice. */
export const MASTER_SIGNAL_ACTIONS: Readonly<Partial<Record<NodeJS.Signals, string>>> = {
  SIGQUIT: ', shutting down',
  SIGTERM: ', exiting',
  SIGINT: ', exiting',
  SIGHUP: ', reconfiguring',
  SIGUSR1: ', reopening',
  SIGUSR2: ', changing binary',
  SIGWINCH: ', stop accepting connections',
};

export function signalNumber(sig: NodeJS.Signals): number {
  return (constants.signals as Readonly<Record<string, number>>)[sig] ?? 0;
}

/** `signal 1 (SIGHUP) received, reconfiguring` */
export function signalNotice(sig: NodeJS.Signals): string {
  return `signal ${signalNumber(sig)} (${sig}) received${MASTER_SIGNAL_ACTIONS[sig] ?? ''}`;
}

export interface SignalResult {
  /** The process exit code for `weir -s` (0 sent, 1 not). */
  readonly code: 0 | 1;
  /** nginx's level and message when it failed. */
  readonly level?: 'error' | 'alert';
  readonly message?: string;
}

/** `weir -s NAME`: read the pid file named by the config and signal the master (ngx_signal_process). */
export function signalProcess(pidPath: string, name: SignalName): SignalResult {
  let pid: number;
  try {
    pid = readPidFile(pidPath);
  } catch (err) {
    return { code: 1, level: 'error', message: (err as Error).message };
  }
  const sig = SIGNAL_NAMES[name];
  try {
    process.kill(pid, sig);
    return { code: 0 };
  } catch (err) {
    return { code: 1, level: 'alert', message: `kill(${pid}, ${signalNumber(sig)}) failed (${errnoText(err)})` };
  }
}
