/**
 * Raw-socket helpers for integration tests: start weir in-process on a config
 * with free ports, send exact bytes, and split what comes back into responses.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTempPaths, loadConfigText } from '../../src/config/loader.js';
import type { Module } from '../../src/config/module.js';
import { createHttpRuntime, type HttpRuntime } from '../../src/http/runtime.js';
import { builtinModules } from '../../src/modules.js';
import { closeErrorLogs, ErrorLog } from '../../src/observability/error-log.js';
import { textMatching, WAIT_MS } from './wait.js';

/** A port nothing listens on right now (bind 0, read, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Weir {
  readonly rt: HttpRuntime;
  readonly port: number;
  /** The -p prefix (a temp dir, removed by stop). */
  readonly prefix: string;
  readonly errorLogPath: string;
  errorLog(): string;
  /** Waits until the error log matches; returns the log, rejects (failing the test) after `ms`. */
  waitForLog(re: RegExp, ms?: number): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts weir on `conf`, where `%PORT%` is replaced by a free port and
 * `%PREFIX%` by the temp prefix dir. `files` are written under the prefix first.
 */
export async function startWeir(conf: string, files: Record<string, string | Buffer> = {}, extraModules: readonly Module[] = []): Promise<Weir> {
  const prefix = mkdtempSync(join(tmpdir(), 'weir-test-'));
  mkdirSync(join(prefix, 'logs'));
  for (const [name, content] of Object.entries(files)) {
    const p = join(prefix, name);
    const dir = p.slice(0, p.lastIndexOf('/'));
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
    if (name.endsWith('/')) continue;
    writeFileSync(p, content);
  }
  const port = await freePort();
  let text = conf.replaceAll('%PORT%', String(port)).replaceAll('%PREFIX%', prefix);
  if (!/\bevents\s*\{/.test(text)) text = `events {}\n${text}`;
  const loaded = loadConfigText(text, prefix, [...builtinModules, ...extraModules]);
  createTempPaths(loaded);
  const errorLogPath = join(prefix, 'error.log');
  const rt = createHttpRuntime(loaded, new ErrorLog([{ path: errorLogPath, level: 'info' }]));
  await rt.start();
  const errorLog = (): string => (existsSync(errorLogPath) ? readFileSync(errorLogPath, 'utf8') : '');
  return {
    rt, port, prefix, errorLogPath, errorLog,
    waitForLog: (re, ms = WAIT_MS) => textMatching('the error log', errorLog, re, ms),
    async stop() {
      await rt.stop(false);
      // A log line written during the stop must not land (and recreate a file) while the prefix is removed.
      await closeErrorLogs();
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

export interface RawResponse {
  readonly status: number;
  readonly statusLine: string;
  /** Lower-cased names; repeated headers joined with ', '. */
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

export interface Exchange {
  readonly responses: RawResponse[];
  /** The server closed the connection (FIN or reset) before the idle wait ended. */
  readonly closed: boolean;
  readonly raw: Buffer;
}

export interface ExchangeOptions {
  /** Wait this long after the last byte for more (default 400 ms). */
  readonly idleMs?: number;
  /** Gaps: each element of `parts` is written after this delay (default 0). */
  readonly gapMs?: number;
  /** Methods of the requests in order, so HEAD responses are parsed without a body. */
  readonly methods?: readonly string[];
  /** Give up after this long in total (default 5000 ms). */
  readonly totalMs?: number;
  /** Wait this long for the first byte when the server neither answers nor closes (default 2000 ms). */
  readonly firstByteMs?: number;
}

/** Sends `parts` (bytes, written in order) and collects what comes back. */
export function exchange(port: number, parts: string | Buffer | readonly (string | Buffer)[], opts: ExchangeOptions = {}): Promise<Exchange> {
  const list = typeof parts === 'string' || Buffer.isBuffer(parts) ? [parts] : parts;
  const idleMs = opts.idleMs ?? 400;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closed = false;
    let finished = false;
    const sock = connect(port, '127.0.0.1');
    let idle: NodeJS.Timeout | null = null;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      if (idle) clearTimeout(idle);
      clearTimeout(total);
      sock.destroy();
      const raw = Buffer.concat(chunks);
      resolve({ responses: parseResponses(raw, opts.methods), closed, raw });
    };
    const total = setTimeout(finish, opts.totalMs ?? 5000);
    // Before the first byte, wait longer: a loaded machine (the whole suite on two
    // cores) may take more than idleMs to answer at all.
    const firstByteMs = Math.max(idleMs, opts.firstByteMs ?? 2000);
    const armIdle = (): void => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(finish, chunks.length === 0 ? firstByteMs : idleMs);
    };
    sock.on('data', (d) => { chunks.push(d); armIdle(); });
    sock.on('end', () => { closed = true; finish(); });
    sock.on('close', () => { closed = true; finish(); });
    sock.on('error', () => { closed = true; });
    sock.on('connect', async () => {
      for (let i = 0; i < list.length; i++) {
        if (i > 0 && opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
        if (sock.destroyed) return;
        sock.write(list[i]);
      }
      armIdle();
    });
  });
}

/** Splits a byte stream into HTTP/1.x responses (1xx included as their own entries). */
export function parseResponses(raw: Buffer, methods: readonly string[] = []): RawResponse[] {
  const out: RawResponse[] = [];
  let pos = 0;
  let reqIndex = 0;
  while (pos < raw.length) {
    const headEnd = raw.indexOf('\r\n\r\n', pos);
    if (headEnd === -1) break;
    const head = raw.subarray(pos, headEnd).toString('latin1');
    const lines = head.split('\r\n');
    const statusLine = lines[0];
    const status = Number(statusLine.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      const k = l.slice(0, c).trim().toLowerCase();
      const v = l.slice(c + 1).trim();
      headers[k] = headers[k] !== undefined ? `${headers[k]}, ${v}` : v;
    }
    pos = headEnd + 4;
    if (status >= 100 && status < 200) { out.push({ status, statusLine, headers, body: Buffer.alloc(0) }); continue; }
    const method = methods[reqIndex++];
    let body: Buffer = Buffer.alloc(0);
    if (method === 'HEAD' || status === 204 || status === 304) {
      // no body
    } else if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const le = raw.indexOf('\r\n', pos);
        if (le === -1) { pos = raw.length; break; }
        const size = parseInt(raw.subarray(pos, le).toString('latin1'), 16);
        pos = le + 2;
        if (size === 0) { const te = raw.indexOf('\r\n\r\n', pos - 2); pos = te === -1 ? raw.length : te + 4; break; }
        parts.push(raw.subarray(pos, pos + size));
        pos += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = raw.subarray(pos, pos + n);
      pos += n;
    } else {
      body = raw.subarray(pos);
      pos = raw.length;
    }
    out.push({ status, statusLine, headers, body });
  }
  return out;
}

/** A simple GET with Host and Connection: close. */
export function get(path: string, extra = '', method = 'GET'): string {
  return `${method} ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}Connection: close\r\n\r\n`;
}
