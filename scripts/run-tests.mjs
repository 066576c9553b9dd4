// Runs the compiled test files with node's test runner.
// `node scripts/run-tests.mjs [unit|integration|compat]` narrows to one layer.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('../dist/test/', import.meta.url).pathname;
const layers = process.argv.slice(2);
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
}
for (const layer of layers.length ? layers : ['unit', 'integration', 'compat']) {
  try { walk(join(root, layer)); } catch (e) { if (e.code !== 'ENOENT') throw e; }
}
// --test-force-exit: a test that fails with a socket or timer still open (its cleanup
// skipped by the throw) would otherwise keep its file's process alive, and the run would
// hang instead of failing. --test-timeout bounds a test that never ends the same way; the
// slowest tests take seconds, so two minutes only ever stops a hung one.
const r = spawnSync(process.execPath,
  ['--unhandled-rejections=strict', '--test', '--test-concurrency=2', '--test-force-exit', '--test-timeout=120000', ...files],
  { stdio: 'inherit' });
process.exit(r.status ?? 1);
