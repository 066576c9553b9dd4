/**
 * Finding and waiting for the real daemons some integration tests run
 * (memcached, php-fpm): no machine-specific paths, PATH plus the sbin dirs.
 */
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';

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

/** The error log is written asynchronously: poll until `re` matches (or give up and return the text). */
export async function logMatching(read: () => string, re: RegExp, timeoutMs = 2000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const text = read();
    if (re.test(text) || Date.now() > end) return text;
    await new Promise((r) => setTimeout(r, 20));
  }
}
