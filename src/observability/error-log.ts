/**
 * The error log (ngx_log_error): nginx's line shape and levels.
 *
 *   2026/11/21 10:00:00 [error] 1234#0: *5 message, client: ..., server: ..., request: "...", host: "..."
 *
 * Writes go through a WriteStream (buffered, never blocking the event loop);
 * `reopen()` implements USR1. A log with several targets (error_log given twice
 * in one context) writes each line to every target whose level admits it.
 */
import { createWriteStream, type WriteStream } from 'node:fs';

export const LOG_LEVELS = ['emerg', 'alert', 'crit', 'error', 'warn', 'notice', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function levelRank(level: LogLevel): number {
  return LOG_LEVELS.indexOf(level);
}

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

/** One `error_log` target: a path (or `stderr`) and the most verbose level written. */
export interface ErrorLogTarget {
  readonly path: string;
  readonly level: LogLevel;
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

class Sink {
  stream: WriteStream | null = null;
  constructor(readonly path: string) {}

  write(line: string): void {
    if (this.path === 'stderr') { process.stderr.write(line); return; }
    if (!this.stream) this.open();
    this.stream!.write(line);
  }

  open(): void {
    const s = createWriteStream(this.path, { flags: 'a' });
    // A log that cannot be written must not take the process down.
    s.on('error', (err) => { process.stderr.write(`weir: [alert] could not write "${this.path}": ${err.message}\n`); });
    this.stream = s;
  }

  reopen(): void {
    if (this.path === 'stderr') return;
    const old = this.stream;
    this.stream = null;
    this.open();
    old?.end();
  }

  close(): Promise<void> {
    const s = this.stream;
    this.stream = null;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => s.end(resolve));
  }
}

/** Shared sinks per path, so that several contexts logging to one file share one stream. */
const sinks = new Map<string, Sink>();

function sinkFor(path: string): Sink {
  let s = sinks.get(path);
  if (!s) { s = new Sink(path); sinks.set(path, s); }
  return s;
}

export class ErrorLog {
  private readonly sinks: Sink[];
  private readonly ranks: number[];
  /** The most verbose level any target admits: a cheap check before formatting. */
  readonly maxRank: number;

  constructor(readonly targets: readonly ErrorLogTarget[], private readonly pid = process.pid) {
    this.sinks = targets.map((t) => sinkFor(t.path));
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
    for (let i = 0; i < this.sinks.length; i++) if (rank <= this.ranks[i]) this.sinks[i].write(line);
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
