/**
 * Finding and waiting for the real daemons some integration tests run
 * (memcached, php-fpm): no machine-specific paths, PATH plus the sbin dirs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { textMatching, WAIT_MS } from './wait.js';

/** The first executable whose name matches one of `names` (string or RegExp) on PATH or in sbin dirs. */
export function findBinary(names: ReadonlyArray<string | RegExp>): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const name of names) {
    for (const dir of dirs) {
      if (!dir || !existsSync(dir)) continue;
      if (typeof name === 'string') {
        if (existsSync(join(dir, name))) return join(dir, name);
        continue;
      }
      let entries: string[] = [];
      try { entries = readdirSync(dir); } catch { continue; }
      const hit = entries.filter((e) => name.test(e)).sort().reverse()[0];
      if (hit) return join(dir, hit);
    }
  }
  return null;
}

/**
 * The real nginx for differential tests: $NGINX_BIN, else the usual places,
 * else PATH; null when none runs (`nginx -v` exits 0).
 */
export const NGINX_BIN: string | null = [process.env.NGINX_BIN, '/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx', findBinary(['nginx'])]
  .find((p): p is string => {
    if (!p) return false;
    try { return spawnSync(p, ['-v']).status === 0; } catch { return false; }
  }) ?? null;

/** Resolves once a TCP port (or unix socket path) accepts connections. */
export async function waitForPort(target: number | string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = typeof target === 'number' ? connect(target, '127.0.0.1') : connect(target);
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${target}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The error log is written asynchronously: poll until `re` matches; rejects (failing the test) on timeout. */
export function logMatching(read: () => string, re: RegExp, timeoutMs = WAIT_MS): Promise<string> {
  return textMatching('the error log', read, re, timeoutMs);
}

export interface Relay {
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * A counting TCP relay to 127.0.0.1:`target`: a second address for one real daemon, so
 * a balancer test has two distinct peers (the same address twice would prove nothing
 * about the choice), and a count of the connections made through it.
 */
export async function startRelay(target: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((client) => {
    connections++;
    const up = connect(target, '127.0.0.1');
    sockets.add(client); sockets.add(up);
    client.pipe(up); up.pipe(client);
    const done = (): void => { client.destroy(); up.destroy(); sockets.delete(client); sockets.delete(up); };
    client.on('error', done); up.on('error', done); client.on('close', done); up.on('close', done);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  return {
    port: typeof a === 'object' && a ? a.port : 0,
    get connections() { return connections; },
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
