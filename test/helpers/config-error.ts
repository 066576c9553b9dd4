/**
 * What `weir -t` would say of an http block: null when it loads, else the
 * error's message with the config file's path as FILE (tests compare
 * nginx's "[emerg] ... in FILE:line" texts without a path of this machine).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/loader.js';
import { builtinModules } from '../../src/modules.js';

/** `after` goes inside http after `http` (a server using what the test declares). */
export function configError(http: string, after = ''): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'weir-conf-'));
  try {
    const file = join(dir, 'nginx.conf');
    writeFileSync(file, `events {}\nhttp {\n${http}\n${after}}\n`);
    try {
      loadConfig({ file, prefix: dir, modules: builtinModules });
      return null;
    } catch (err) {
      return (err as Error).message.replaceAll(file, 'FILE');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
