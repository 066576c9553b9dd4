// Runs the compiled test files with node's test runner.
// `node scripts/run-tests.mjs [unit|integration|compat]` narrows to one layer.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

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
// A failed test that leaves a socket or timer open keeps its file's process alive, and
// the run would hang instead of failing: the run is bounded (WEIR_TEST_RUN_MINUTES, 20
// by default; the whole suite takes a minute or two). Not --test-force-exit: on node 20
// it was seen to drop a file's last results when it exited. --test-timeout bounds a single
// test that never ends; the slowest take seconds.
const minutes = Number(process.env.WEIR_TEST_RUN_MINUTES || 20);
const child = spawn(process.execPath,
  ['--unhandled-rejections=strict', '--test', '--test-concurrency=2', '--test-timeout=120000', ...files],
  { stdio: 'inherit', detached: true });
// Its own process group, so that a hung run is ended with every test file it started.
const killAll = (sig) => { try { process.kill(-child.pid, sig); } catch { /* gone */ } };
const timer = setTimeout(() => {
  console.error(`run-tests: the run did not end within ${minutes} min (a test left something open?); stopped`);
  killAll('SIGKILL');
}, minutes * 60_000);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(sig); process.exit(1); });
child.on('exit', (code, signal) => {
  clearTimeout(timer);
  process.exit(code ?? (signal ? 1 : 0));
});
