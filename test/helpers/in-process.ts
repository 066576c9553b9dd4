/**
 * In-process helpers for the rewrite/map/headers/access-log tests: weir's
 * runtime started in this process (startWeir from raw-http.ts), one request per
 * connection, and a wait for access-log lines (they are written asynchronously).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exchange, startWeir, type RawResponse, type Weir } from './raw-http.js';
import { linesAtLeast, textMatching, WAIT_MS } from './wait.js';

export { startWeir, exchange, type RawResponse, type Weir };

export interface RequestOptions {
  readonly method?: string;
  /** Extra header lines, each without CRLF. */
  readonly headers?: readonly string[];
  readonly host?: string;
  readonly version?: string;
  readonly body?: string;
  /** How long the connection may be silent before the answer counts as complete (a slow first byte needs more). */
  readonly idleMs?: number;
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
  const ex = await exchange(port, requestBytes(path, o), { methods: [o.method ?? 'GET'], idleMs: o.idleMs ?? 300 });
  const r = ex.responses[0];
  if (!r) return { status: 0, statusLine: '', headers: {}, body: Buffer.alloc(0), closedEmpty: ex.raw.length === 0 && ex.closed, text: '' };
  return { ...r, closedEmpty: false, text: r.body.toString('latin1') };
}

/** Starts weir with a `logs/` directory under the prefix (the default access log lives there). */
export function startWithLogs(conf: string, files: Record<string, string | Buffer> = {}): Promise<Weir> {
  return startWeir(conf, { 'logs/': '', ...files });
}

/** The non-empty lines of a file ([] while it does not exist). */
export function fileLines(path: string): string[] {
  const text = existsSync(path) ? readFileSync(path, 'latin1') : '';
  return text.split('\n').filter((l) => l.length > 0);
}

/** Waits until the file has at least `n` lines; returns them, rejects (failing the test) on timeout. */
export function waitLines(path: string, n: number, timeoutMs = WAIT_MS): Promise<string[]> {
  return linesAtLeast(path, () => fileLines(path), n, timeoutMs);
}

export function ensureDir(prefix: string, dir: string): string {
  const p = join(prefix, dir);
  mkdirSync(p, { recursive: true });
  return p;
}

/** Polls `read` until its result matches `re`; returns it, rejects (failing the test) on timeout. */
export function waitFor(read: () => string, re: RegExp, timeoutMs = WAIT_MS): Promise<string> {
  return textMatching('the polled text', read, re, timeoutMs);
}
