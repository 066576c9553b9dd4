// The error log writes each line at once, as nginx's write(2) per line: a reader that
// looks right after the call (a test, a tail -f, the process dying) finds it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeErrorLogs, ErrorLog, reopenErrorLogs } from '../../../src/observability/error-log.js';

test('a line is in the file when log() returns; USR1 reopens after a rotation', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-errlog-'));
  try {
    const path = join(dir, 'error.log');
    const log = new ErrorLog([{ path, level: 'info' }]);
    log.log('error', 'first');
    assert.match(readFileSync(path, 'latin1'), /\[error\] \d+#0: first\n$/);
    log.log('debug', 'not at info');
    assert.doesNotMatch(readFileSync(path, 'latin1'), /not at info/);
    renameSync(path, `${path}.1`);
    log.log('warn', 'still the old file');
    reopenErrorLogs();
    log.log('warn', 'the new file');
    assert.match(readFileSync(`${path}.1`, 'latin1'), /still the old file/);
    assert.match(readFileSync(path, 'latin1'), /^\S+ \S+ \[warn\] \d+#0: the new file\n$/);
  } finally {
    await closeErrorLogs();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a log that cannot be opened loses its lines, not the process', async () => {
  const log = new ErrorLog([{ path: join(tmpdir(), 'no-such-dir-weir', 'x', 'error.log'), level: 'error' }]);
  const writes: string[] = [];
  const orig = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => { writes.push(String(chunk)); return true; }) as typeof process.stderr.write;
  try {
    log.log('error', 'lost');
    log.log('error', 'lost again');
  } finally {
    process.stderr.write = orig;
    await closeErrorLogs();
  }
  assert.equal(writes.filter((w) => w.includes('could not write')).length, 1, 'said once');
});
