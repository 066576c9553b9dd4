/**
 * In-process helpers for the rewrite/map/headers/access-log tests: weir's
 * runtime started in this process (startWeir from raw-http.ts), one request per
 * connection, and a wait for access-log lines (they are written asynchronously).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exchange, startWeir, type RawResponse, type Weir } from './raw-http.js';

export { startWeir, exchange, type RawResponse, type Weir };

export interface RequestOptions {
  readonly method?: string;
  /** Extra header lines, each without CRLF. */
  readonly headers?: readonly string[];
  readonly host?: string;
  readonly version?: string;
  readonly body?: string;
}

/** Builds the request bytes (Connection: close unless a Connection header is given). */
export function requestBytes(path: string, o: RequestOptions = {}): string {
  const method = o.method ?? 'GET';
  const lines = [`${method} ${path} HTTP/${o.version ?? '1.1'}`];
  if (o.host !== '') lines.push(`Host: ${o.host ?? 'localhost'}`);
  for (const h of o.headers ?? []) lines.push(h);
  if (!(o.headers ?? []).some((h) => /^connection:/i.test(h))) lines.push('Connection: close');
  if (o.body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(o.body)}`);
  return lines.join('\r\n') + '\r\n\r\n' + (o.body ?? '');
}

export interface OneResponse extends RawResponse {
  /** The server closed the connection without any response (`return 444`). */
  readonly closedEmpty: boolean;
  readonly text: string;
}

/** One request on a fresh connection; resolves with its response. */
export async function request(port: number, path: string, o: RequestOptions = {}): Promise<OneResponse> {
  const ex = await exchange(port, requestBytes(path, o), { methods: [o.method ?? 'GET'], idleMs: 300 });
  const r = ex.responses[0];
  if (!r) return { status: 0, statusLine: '', headers: {}, body: Buffer.alloc(0), closedEmpty: ex.raw.length === 0 && ex.closed, text: '' };
  return { ...r, closedEmpty: false, text: r.body.toString('latin1') };
}

/** Starts weir with a `logs/` directory under the prefix (the default access log lives there). */
export function startWithLogs(conf: string, files: Record<string, string | Buffer> = {}): Promise<Weir> {
  return startWeir(conf, { 'logs/': '', ...files });
}

/** Waits until the file has at least `n` lines; returns them. */
export async function waitLines(path: string, n: number, timeoutMs = 3000): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(path) ? readFileSync(path, 'latin1') : '';
    const lines = text.split('\n').filter((l) => l.length > 0);
    if (lines.length >= n || Date.now() > end) return lines;
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function ensureDir(prefix: string, dir: string): string {
  const p = join(prefix, dir);
  mkdirSync(p, { recursive: true });
  return p;
}

/** Polls `read` until its result matches `re` (or the time is up); returns the last result. */
export async function waitFor(read: () => string, re: RegExp, timeoutMs = 3000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = read();
    if (re.test(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}
