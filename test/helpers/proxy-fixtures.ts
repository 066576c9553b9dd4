/**
 * Fixtures for the proxy-request/-response/-websocket tests:
 *   - a scripted TCP upstream (one handler per accepted connection, any bytes),
 *   - a raw client socket that collects what comes back and can wait for it,
 *   - the real nginx (Debian 1.22) on the same config, for differential checks
 *     (null when no binary is installed: the caller asks require.ts whether to skip).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './raw-http.js';
import { NGINX_BIN, waitForPort } from './daemons.js';

export interface ScriptUpstream {
  readonly port: number;
  readonly addr: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections currently open. */
  readonly open: number;
  stop(): Promise<void>;
}

/**
 * A TCP server that runs `onConn(socket, index)` for every connection (an
 * 'error' listener is always installed). `allowHalfOpen`: a FIN from weir does
 * not end our side (the tunnel tests answer after the client's FIN).
 */
export async function startScriptUpstream(onConn: (sock: Socket, index: number) => void, opts: { allowHalfOpen?: boolean } = {}): Promise<ScriptUpstream> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer({ allowHalfOpen: opts.allowHalfOpen ?? false }, (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    onConn(sock, connections++);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return {
    port,
    addr: `127.0.0.1:${port}`,
    get connections() { return connections; },
    get open() { return sockets.size; },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Reads one request head (up to CRLFCRLF) from a socket; resolves with it and any bytes after it. */
export function readHead(sock: Socket): Promise<{ head: string; rest: Buffer }> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const i = buf.indexOf('\r\n\r\n');
      if (i === -1) return;
      sock.off('data', onData);
      resolve({ head: buf.subarray(0, i).toString('latin1'), rest: buf.subarray(i + 4) });
    };
    sock.on('data', onData);
  });
}

export interface RawClient {
  readonly sock: Socket;
  /** Everything received so far. */
  data(): Buffer;
  text(): string;
  /** The server ended (FIN) its side. */
  readonly ended: boolean;
  /** The socket is fully closed. */
  readonly closed: boolean;
  write(b: string | Buffer): void;
  /** Resolves when the received text matches `re`, rejects after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<string>;
  /** Resolves when the server closed (FIN or reset) or after `ms` (then `false`). */
  waitEnd(ms?: number): Promise<boolean>;
  destroy(): void;
}

/** A raw client connection to 127.0.0.1:port (connected when the promise resolves). */
export function rawClient(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let ended = false;
    let closed = false;
    const listeners = new Set<() => void>();
    const poke = (): void => { for (const l of [...listeners]) l(); };
    sock.on('data', (d: Buffer) => { chunks.push(d); poke(); });
    sock.on('end', () => { ended = true; poke(); });
    sock.on('close', () => { closed = true; ended = true; poke(); });
    sock.on('error', () => {});
    const c: RawClient = {
      sock,
      data: () => Buffer.concat(chunks),
      text: () => Buffer.concat(chunks).toString('latin1'),
      get ended() { return ended; },
      get closed() { return closed; },
      write: (b) => { sock.write(b); },
      waitFor(re, ms = 2000) {
        return new Promise((res, rej) => {
          const check = (): void => {
            const t = c.text();
            if (re.test(t)) { done(); res(t); }
          };
          const timer = setTimeout(() => { done(); rej(new Error(`no ${re} in ${JSON.stringify(c.text().slice(-300))}`)); }, ms);
          const done = (): void => { clearTimeout(timer); listeners.delete(check); };
          listeners.add(check);
          check();
        });
      },
      waitEnd(ms = 2000) {
        return new Promise((res) => {
          const check = (): void => { if (ended) { done(); res(true); } };
          const timer = setTimeout(() => { done(); res(false); }, ms);
          const done = (): void => { clearTimeout(timer); listeners.delete(check); };
          listeners.add(check);
          check();
        });
      },
      destroy: () => sock.destroy(),
    };
    sock.once('connect', () => resolve(c));
    sock.once('error', reject);
  });
}

export { NGINX_BIN };

export interface RealNginx {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Starts the real nginx on `httpBody` (text inside http{}; `%PORT%` is its
 * listen port). Returns null when nginx is not installed.
 */
export async function startNginx(httpBody: string): Promise<RealNginx | null> {
  if (!NGINX_BIN) return null;
  const dir = mkdtempSync(join(tmpdir(), 'weir-proxy-nginx-'));
  mkdirSync(join(dir, 'logs'));
  const port = await freePort();
  const conf = `daemon off; master_process off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/cb; proxy_temp_path ${dir}/pt; fastcgi_temp_path ${dir}/ft;
  uwsgi_temp_path ${dir}/ut; scgi_temp_path ${dir}/st;
  ${httpBody.replaceAll('%PORT%', String(port)).replaceAll('%PREFIX%', dir)}
}`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn(NGINX_BIN, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await waitForPort(port, 5000);
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    port,
    async stop() {
      child.kill('SIGTERM');
      let t: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => { t = setTimeout(r, 2000); })]);
      clearTimeout(t);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
