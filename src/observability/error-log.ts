/**
 * The error log (ngx_log_error): nginx's line shape and levels.
 *
 *   2026/11/21 10:00:00 [error] 1234#0: *5 message, client: ..., server: ..., request: "...", host: "..."
 *
 * Writes go through a WriteStream (buffered, never blocking the event loop);
 * `reopen()` implements USR1. A log with several targets (error_log given twice
 * in one context) writes each line to every target whose level admits it, as
 * nginx's list of logs sorted by level (ngx_log_insert) does. A `syslog:`
 * target sends the same line, without its newline, as one datagram whose
 * severity is the line's level (ngx_syslog_writer; syslog.ts).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { syslogSend, type SyslogPeerConf } from './syslog.js';

export const LOG_LEVELS = ['emerg', 'alert', 'crit', 'error', 'warn', 'notice', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function levelRank(level: LogLevel): number {
  return LOG_LEVELS.indexOf(level);
}

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

/** One `error_log` target: a path (or `stderr`, or the `syslog:...` text) and the most verbose level written. */
export interface ErrorLogTarget {
  readonly path: string;
  readonly level: LogLevel;
  /** Set for `syslog:` targets: where the lines go instead of a file. */
  readonly syslog?: SyslogPeerConf;
}

/** Request context that nginx appends to a line (ngx_http_log_error). */
export interface LogRequestContext {
  readonly connection: number;
  readonly client: string;
  readonly server: string;
  readonly request: string;
  /** A subrequest's $uri (nginx's `subrequest: "..."`). */
  readonly subrequest?: string;
  readonly upstream?: string;
  readonly host?: string;
}

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));

/** `2026/11/21 10:00:00` in local time, as nginx's ngx_cached_err_log_time. */
export function errorLogTime(d = new Date()): string {
  return `${d.getFullYear()}/${pad2(d.getMonth() + 1)}/${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** A line as nginx writes it, without request context: `time [level] pid#0: message`. */
export function errorLogLine(level: LogLevel, message: string, pid = process.pid): string {
  return `${errorLogTime()} [${level}] ${pid}#0: ${message}\n`;
}

/**
 * One log file. Lines are written at once, as nginx's ngx_log_error does
 * (a write(2) per line, O_APPEND): a line is in the file before the
 * response it is about reaches the client, and none is lost if the process
 * dies. An error line is rare enough that the syscall is not a cost on the
 * hot path (and info lines are off by default).
 */
interface LineSink {
  /** `rank`: the line's level (syslog's severity). */
  write(line: string, rank: number): void;
}

class Sink implements LineSink {
  private fd = -1;
  private failed = false;
  constructor(readonly path: string) {}

  write(line: string): void {
    if (this.path === 'stderr') { process.stderr.write(line); return; }
    if (this.fd === -1 && !this.open()) return;
    try {
      writeSync(this.fd, line);
    } catch (err) {
      this.fail(err);
    }
  }

  /** false: the file could not be opened (said once on stderr; the line is lost, the process goes on). */
  open(): boolean {
    try {
      this.fd = openSync(this.path, 'a');
      this.failed = false;
      return true;
    } catch (err) {
      this.fail(err);
      return false;
    }
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    // A log that cannot be written must not take the process down.
    process.stderr.write(`weir: [alert] could not write "${this.path}": ${(err as Error).message}\n`);
  }

  reopen(): void {
    if (this.path === 'stderr') return;
    const old = this.fd;
    this.fd = -1;
    this.open();
    if (old !== -1) closeSync(old);
  }

  close(): Promise<void> {
    if (this.fd !== -1) closeSync(this.fd);
    this.fd = -1;
    return Promise.resolve();
  }
}

/** A `syslog:` target: each line one datagram, its level the severity. Nothing to open, reopen or close. */
class SyslogSink implements LineSink {
  constructor(private readonly peer: SyslogPeerConf) {}

  write(line: string, rank: number): void {
    // Send failures are not logged: that would be an error line about the error log.
    syslogSend(this.peer, rank, line.endsWith('\n') ? line.slice(0, -1) : line, 'utf8');
  }
}

/** Shared sinks per path, so that several contexts logging to one file share one descriptor. */
const sinks = new Map<string, Sink>();

function sinkFor(path: string): Sink {
  let s = sinks.get(path);
  if (!s) { s = new Sink(path); sinks.set(path, s); }
  return s;
}

export class ErrorLog {
  private readonly sinks: LineSink[];
  private readonly ranks: number[];
  /** The most verbose level any target admits: a cheap check before formatting. */
  readonly maxRank: number;

  constructor(readonly targets: readonly ErrorLogTarget[], private readonly pid = process.pid) {
    this.sinks = targets.map((t) => (t.syslog ? new SyslogSink(t.syslog) : sinkFor(t.path)));
    this.ranks = targets.map((t) => levelRank(t.level));
    this.maxRank = Math.max(-1, ...this.ranks);
  }

  enabled(level: LogLevel): boolean {
    return levelRank(level) <= this.maxRank;
  }

  log(level: LogLevel, message: string, ctx?: LogRequestContext): void {
    const rank = levelRank(level);
    if (rank > this.maxRank) return;
    let line = `${errorLogTime()} [${level}] ${this.pid}#0: `;
    if (ctx) line += `*${ctx.connection} `;
    line += message;
    if (ctx) {
      line += `, client: ${ctx.client}, server: ${ctx.server}, request: "${ctx.request}"`;
      if (ctx.subrequest !== undefined) line += `, subrequest: "${ctx.subrequest}"`;
      if (ctx.upstream) line += `, upstream: "${ctx.upstream}"`;
      if (ctx.host) line += `, host: "${ctx.host}"`;
    }
    line += '\n';
    for (let i = 0; i < this.sinks.length; i++) if (rank <= this.ranks[i]) this.sinks[i].write(line, rank);
  }
}

/** USR1: reopen every log file. */
export function reopenErrorLogs(): void {
  for (const s of sinks.values()) s.reopen();
}

export async function closeErrorLogs(): Promise<void> {
  await Promise.all([...sinks.values()].map((s) => s.close()));
  sinks.clear();
}
