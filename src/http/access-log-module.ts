/**
 * ngx_http_log_module: `log_format`, `access_log`, `open_log_file_cache`
 * (accepted, no effect), and the log phase handler.
 *
 * A format compiles once into literal and variable parts; per request a line
 * is one loop over them. Escaping as nginx's:
 *   default  `"`, `\`, control bytes and bytes >= 0x7f as `\xHH`; a variable
 *            that is not found is written as `-`;
 *   json     ngx_escape_json: `\"`, `\\`, `\n \r \t \b \f`, other controls as
 *            `\u00XX`, bytes >= 0x80 as is; not found is empty;
 *   none     nothing escaped; not found is empty.
 * `combined` is predefined. Lines are byte strings (one char per byte, as $uri),
 * written as latin1; config literals are converted to their UTF-8 bytes.
 *
 * Files: one sink (an O_APPEND descriptor) per path per http block, shared by
 * every access_log naming it. A line is written with one write(2) as the
 * request is logged, as nginx writes it: it is in the file before the
 * connection closes or the next request on it starts (tools and tests that
 * read the log after a response rely on that). `buffer=size`
 * holds lines until the buffer would overflow, `flush=time` writes them at the
 * latest after that time (an unref'd timer). USR1 (reopenHooks) flushes and
 * reopens every sink; stop (stopHooks) flushes and closes them.
 *
 * Inheritance as nginx: a level with access_log (or `off`) keeps its own, else
 * inherits; with nothing at any level, `logs/access.log combined`, made when a
 * server (or location) is merged, as ngx_http_log_merge_loc_conf makes it.
 * Every constant path is registered with the cycle (ngx_conf_open_file), which
 * opens it once the config is read, so that a missing directory fails `-t`
 * and start-up as in nginx; the default only once some level needs it.
 *
 * `gzip[=level]` compresses what a flush writes as one gzip member (node:zlib,
 * level 1 by default; the buffer is 64k unless given), as ngx_http_log_gzip. A
 * path with variables is opened per line, or kept open by open_log_file_cache
 * (log-file-cache.ts); such a log cannot be buffered (nginx's [emerg]).
 *
 * `syslog:...` sends each line as one datagram (syslog.ts) with the target's
 * severity; such a log cannot be buffered (nginx's [emerg]), and a failed send
 * is a [warn] "send() to syslog failed" in the request's error log.
 *
 * Deliberate differences: a path with variables skips nginx's test that the root directory
 * exists; $bytes_sent and friends are read through the variable registry
 * (nginx has dedicated ops; the output is the same).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { ConfContext } from '../config/conf-context.js';
import { ConfigError, type ConfPosition } from '../config/errors.js';
import { Ctx, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { parseSize, parseTime } from '../config/units.js';
import { httpCoreModule } from './core-module.js';
import type { HttpRequest } from './request.js';
import { toByteString } from './uri.js';
import { scanValue, type ComplexValue, type VariableGetter, type VariableRegistry } from './variables.js';
import { LogFileCache, parseOpenLogFileCache, writeUncached } from '../observability/log-file-cache.js';
import { parseSyslog, syslogSend, type SyslogPeerConf } from '../observability/syslog.js';

export type LogEscape = 'default' | 'json' | 'none';

interface VarPart {
  readonly name: string;
  get: VariableGetter | null;
  data: string;
}

/** A compiled log_format. */
export class LogFormat {
  private readonly literals: string[] = [];
  private readonly vars: VarPart[] = [];

  constructor(readonly name: string, readonly escape: LogEscape, text: string, private readonly position?: ConfPosition) {
    let lit = '';
    let tokens;
    try {
      tokens = scanValue(toByteString(text), position);
    } catch (e) {
      // ngx_http_log_compile_format words a bad name this way.
      if (e instanceof ConfigError && e.detail === 'invalid variable name') throw new ConfigError(`invalid parameter "${text}"`, position);
      throw e;
    }
    for (const t of tokens) {
      if (t.kind === 'literal') { lit += t.text; continue; }
      this.literals.push(lit);
      lit = '';
      // The log module has no captures: `$1` is looked up as a name, as nginx does.
      this.vars.push({ name: t.kind === 'capture' ? String(t.n) : t.name, get: null, data: '' });
    }
    this.literals.push(lit + '\n');
  }

  /** Binds the variables (after the http block is read: set/map may define them late). */
  resolve(registry: VariableRegistry): void {
    for (const v of this.vars) {
      if (v.get) continue;
      const found = registry.lookup(v.name);
      if (!found) throw new ConfigError(`unknown "${v.name}" variable`, this.position);
      v.get = found.get;
      v.data = found.data;
    }
  }

  render(r: HttpRequest): string {
    let out = this.literals[0];
    const esc = this.escape;
    for (let i = 0; i < this.vars.length; i++) {
      const v = this.vars[i];
      const value = v.get!(r, v.data);
      if (value === undefined) { if (esc === 'default') out += '-'; }
      else if (esc === 'default') out += escapeDefault(value);
      else if (esc === 'json') out += escapeJson(value);
      else out += toBytes(value);
      out += this.literals[i + 1];
    }
    return out;
  }
}

const HEX = '0123456789ABCDEF';

/** Chars above 0xff (config text) become their UTF-8 bytes. */
function toBytes(s: string): string {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return Buffer.from(s, 'utf8').toString('latin1');
  return s;
}

/** ngx_http_log_escape. */
export function escapeDefault(value: string): string {
  const s = toBytes(value);
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) break;
  }
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) out += '\\x' + HEX[c >> 4] + HEX[c & 0xf];
    else out += s[i];
  }
  return out;
}

/** ngx_escape_json. */
export function escapeJson(value: string): string {
  const s = toBytes(value);
  let out = '';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string;
    if (c === 0x22) rep = '\\"';
    else if (c === 0x5c) rep = '\\\\';
    else if (c > 0x1f) continue;
    else if (c === 0x0a) rep = '\\n';
    else if (c === 0x0d) rep = '\\r';
    else if (c === 0x09) rep = '\\t';
    else if (c === 0x08) rep = '\\b';
    else if (c === 0x0c) rep = '\\f';
    else rep = '\\u00' + HEX[c >> 4] + HEX[c & 0xf];
    out += s.slice(start, i) + rep;
    start = i + 1;
  }
  return start === 0 ? s : out + s.slice(start);
}

/** One open log file. */
export class LogSink {
  private fd: number | null = null;
  private pending = '';
  private timer: NodeJS.Timeout | null = null;
  /** 0: write each line at once. */
  bufferSize = 0;
  flushMs = 0;
  /** gzip level (0: plain): each write is one gzip member. */
  gzip = 0;

  constructor(readonly path: string) {}

  write(line: string): void {
    if (this.bufferSize === 0) { this.out(line); return; }
    if (this.pending.length + line.length > this.bufferSize) this.flush();
    if (line.length > this.bufferSize) { this.out(line); return; }
    this.pending += line;
    if (this.flushMs > 0 && this.timer === null) {
      this.timer = setTimeout(() => { this.timer = null; this.flush(); }, this.flushMs);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (this.pending.length === 0) return;
    const data = this.pending;
    this.pending = '';
    this.out(data);
  }

  private out(data: string): void {
    try {
      if (this.fd === null) this.fd = openSync(this.path, 'a');
      if (this.gzip > 0) writeSync(this.fd, gzipSync(Buffer.from(data, 'latin1'), { level: this.gzip }));
      else writeSync(this.fd, data, null, 'latin1');
    } catch (err) {
      // A log that cannot be written must not take the worker down (nginx logs an alert and goes on).
      process.stderr.write(`weir: [alert] could not write to "${this.path}": ${(err as Error).message}\n`);
    }
  }

  /** USR1: what is buffered goes to the old file, new lines to a new one at the same path. */
  reopen(): void {
    this.flush();
    this.closeFd();
  }

  close(): Promise<void> {
    this.flush();
    this.closeFd();
    return Promise.resolve();
  }

  private closeFd(): void {
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) try { closeSync(fd); } catch { /* already gone */ }
  }
}

export interface AccessLogTarget {
  /** Constant path, or null when `pathValue` has variables. */
  readonly path: string | null;
  readonly pathValue: ComplexValue | null;
  readonly format: LogFormat;
  readonly bufferSize: number;
  readonly flushMs: number;
  readonly gzip: number;
  readonly condition: ComplexValue | null;
  /** `syslog:` target: no path, no sink. */
  readonly syslog?: SyslogPeerConf;
}

export interface LogMainConf {
  readonly formats: Map<string, LogFormat>;
  readonly sinks: Map<string, LogSink>;
  /** Every open_log_file_cache of the http block (closed on reopen and stop). */
  readonly fileCaches: LogFileCache[];
  readonly prefix: { value: string };
}

export interface LogLocConf {
  logs?: AccessLogTarget[];
  off?: boolean;
  /** open_log_file_cache: the cache (shared by the levels that inherit it), null for off. */
  fileCache?: LogFileCache | null;
}

export const COMBINED_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

function sinkFor(main: LogMainConf, path: string, target: AccessLogTarget | null): LogSink {
  let s = main.sinks.get(path);
  if (!s) {
    s = new LogSink(path);
    main.sinks.set(path, s);
  }
  if (target && target.bufferSize > 0 && s.bufferSize === 0) {
    s.bufferSize = target.bufferSize;
    s.flushMs = target.flushMs;
    s.gzip = target.gzip;
  }
  return s;
}

function parseLogFormat(cf: ConfContext, d: ConfNode): void {
  const main = cf.main(accessLogModule);
  const name = d.args[0];
  if (main.formats.has(name)) return cf.error(`duplicate "log_format" name "${name}"`);
  let rest = d.args.slice(1);
  let escape: LogEscape = 'default';
  if (rest.length > 0 && rest[0].startsWith('escape=')) {
    const v = rest[0].slice(7);
    if (v !== 'default' && v !== 'json' && v !== 'none') return cf.error(`unknown log format escaping "${v}"`);
    escape = v;
    rest = rest.slice(1);
  }
  if (rest.length === 0) return cf.error(`invalid number of arguments in "log_format" directive`);
  try {
    main.formats.set(name, new LogFormat(name, escape, rest.join(''), cf.position));
  } catch (e) {
    if (e instanceof ConfigError) return cf.error(e.detail);
    throw e;
  }
}

function parseAccessLog(cf: ConfContext, d: ConfNode): void {
  const main = cf.main(accessLogModule);
  const conf = cf.loc(accessLogModule);
  const pathText = d.args[0];
  if (pathText === 'off') {
    if (d.args.length !== 1) return cf.error(`invalid parameter "${d.args[1]}"`);
    conf.off = true;
    return;
  }
  const syslog = pathText.startsWith('syslog:') ? parseSyslog(cf, pathText) : undefined;
  const fmtName = d.args[1] ?? 'combined';
  const format = main.formats.get(fmtName);
  if (!format) return cf.error(`unknown log format "${fmtName}"`);
  let bufferSize = 0;
  let flushMs = 0;
  let gzip = 0;
  let condition: ComplexValue | null = null;
  const vars = cf.main(httpCoreModule).variables;
  for (const p of d.args.slice(2)) {
    if (p.startsWith('buffer=')) {
      const n = parseSize(p.slice(7));
      if (n === null || n === 0) return cf.error(`invalid buffer size "${p.slice(7)}"`);
      bufferSize = n;
    } else if (p.startsWith('flush=')) {
      const t = parseTime(p.slice(6));
      if (t === null || t === 0) return cf.error(`invalid flush time "${p.slice(6)}"`);
      flushMs = t;
    } else if (p.startsWith('if=')) {
      condition = vars.compile(toByteString(p.slice(3)), cf.position);
    } else if (p === 'gzip' || p.startsWith('gzip=')) {
      if (p === 'gzip') gzip = 1;
      else {
        const level = p.slice(5);
        gzip = /^[0-9]+$/.test(level) ? Number(level) : 0;
        if (gzip < 1 || gzip > 9) return cf.error(`invalid compression level "${level}"`);
      }
    } else {
      return cf.error(`invalid parameter "${p}"`);
    }
  }
  // nginx: gzip without a buffer size gets 64k; flush needs a buffer.
  if (gzip > 0 && bufferSize === 0) bufferSize = 64 * 1024;
  if (flushMs > 0 && bufferSize === 0) return cf.error(`no buffer is defined for access_log "${pathText}"`);
  if (syslog !== undefined) {
    if (bufferSize > 0) return cf.error('logs to syslog cannot be buffered');
    (conf.logs ??= []).push({ path: null, pathValue: null, format, bufferSize: 0, flushMs: 0, gzip: 0, condition, syslog });
    return;
  }
  const pathValue = vars.compile(pathText, cf.position);
  if (bufferSize > 0 && pathValue.constant === null) return cf.error('buffered logs cannot have variables in name');
  const target: AccessLogTarget = {
    path: pathValue.constant === null ? null : cf.fullPath(pathValue.constant),
    pathValue: pathValue.constant === null ? pathValue : null,
    format, bufferSize, flushMs, gzip, condition,
  };
  if (target.path !== null) {
    const existing = main.sinks.get(target.path);
    if (bufferSize > 0 && existing !== undefined && existing.bufferSize > 0
      && (existing.bufferSize !== bufferSize || existing.flushMs !== flushMs || existing.gzip !== gzip)) {
      return cf.error(`access_log "${pathText}" already defined with conflicting parameters`);
    }
    sinkFor(main, target.path, target);
    cf.cycle.openFile(target.path);
  }
  (conf.logs ??= []).push(target);
}

const directives: DirectiveSpec[] = [
  { name: 'log_format', contexts: Ctx.Http, args: [2, Infinity], set: parseLogFormat },
  {
    name: 'access_log',
    contexts: Ctx.Http | Ctx.Server | Ctx.Location | Ctx.LocationIf | Ctx.LimitExcept,
    args: [1, Infinity], set: parseAccessLog,
  },
  {
    name: 'open_log_file_cache', contexts: Ctx.Http | Ctx.Server | Ctx.Location, args: [1, 4],
    set(cf, d) {
      const conf = cf.loc(accessLogModule);
      if (conf.fileCache !== undefined) return cf.duplicate();
      const parsed = parseOpenLogFileCache(d.args, parseTime);
      if (typeof parsed === 'string') return cf.error(parsed);
      conf.fileCache = parsed === null ? null : new LogFileCache(parsed);
      if (conf.fileCache !== null) cf.main(accessLogModule).fileCaches.push(conf.fileCache);
    },
  },
];

function logHandler(index: number, main: LogMainConf) {
  return (r: HttpRequest): void => {
    const conf = r.loc.loc[index] as LogLocConf;
    if (conf.off || !conf.logs) return;
    const logs = conf.logs;
    for (let i = 0; i < logs.length; i++) {
      const t = logs[i];
      if (t.condition) {
        const v = t.condition.evaluate(r);
        if (v.length === 0 || v === '0') continue;
      }
      if (t.path !== null) { main.sinks.get(t.path)!.write(t.format.render(r)); continue; }
      if (t.syslog !== undefined) {
        // The line without the newline the format ends with (nginx leaves NGX_LINEFEED out for syslog).
        syslogSend(t.syslog, t.syslog.severity, t.format.render(r).slice(0, -1), 'latin1', (message) => r.log('warn', message));
        continue;
      }
      let p = t.pathValue!.evaluate(r);
      if (!p.startsWith('/')) p = main.prefix.value + '/' + p;
      const data = Buffer.from(t.format.render(r), 'latin1');
      const onError = (message: string): void => r.log('crit', message);
      if (conf.fileCache) conf.fileCache.write(p, data, onError); else writeUncached(p, data, onError);
    }
  };
}

export const accessLogModule: HttpModule<LogMainConf, unknown, LogLocConf> = {
  kind: 'http',
  name: 'http_log',
  directives,
  createMain: () => ({
    formats: new Map([['combined', new LogFormat('combined', 'default', COMBINED_FORMAT)]]),
    sinks: new Map(),
    fileCaches: [],
    prefix: { value: '' },
  }),
  createLoc: () => ({}),
  initMain(main, cf) {
    main.prefix.value = cf.paths.prefix;
  },
  mergeLoc(p, c, cf) {
    if (c.fileCache === undefined) c.fileCache = p.fileCache ?? null;
    if (c.logs || c.off) return;
    c.logs = p.logs;
    c.off = p.off;
    if (c.logs || c.off) return;
    const main = cf.main(accessLogModule);
    const path = cf.fullPath('logs/access.log');
    sinkFor(main, path, null);
    cf.cycle.openFile(path);
    c.logs = [{ path, pathValue: null, format: main.formats.get('combined')!, bufferSize: 0, flushMs: 0, gzip: 0, condition: null }];
  },
  postConfiguration(cf) {
    const main = cf.main(accessLogModule);
    const core = cf.main(httpCoreModule);
    for (const f of main.formats.values()) f.resolve(core.variables);
    core.log.push(logHandler(cf.registry.indexOf(accessLogModule), main));
    core.reopenHooks.push(() => {
      for (const s of main.sinks.values()) s.reopen();
      for (const c of main.fileCaches) c.closeAll();
    });
    core.stopHooks.push(async () => {
      for (const c of main.fileCaches) c.closeAll();
      await Promise.all([...main.sinks.values()].map((s) => s.close()));
    });
  },
};
