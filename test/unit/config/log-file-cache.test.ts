// open_log_file_cache: nginx's parameters and errors, and the cache's LRU, min_uses and
// open-per-line behaviour, on real files.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { LogFileCache, parseOpenLogFileCache, writeUncached } from '../../../src/observability/log-file-cache.js';
import { parseTime } from '../../../src/config/units.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-lfc-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('parameters: defaults, off, and nginx\'s errors', () => {
  assert.deepEqual(parseOpenLogFileCache(['max=3'], parseTime), { max: 3, inactiveMs: 10_000, minUses: 1, validMs: 60_000 });
  assert.deepEqual(parseOpenLogFileCache(['max=3', 'inactive=20s', 'valid=1m', 'min_uses=2'], parseTime), { max: 3, inactiveMs: 20_000, minUses: 2, validMs: 60_000 });
  assert.equal(parseOpenLogFileCache(['off'], parseTime), null);
  assert.equal(parseOpenLogFileCache(['inactive=1s'], parseTime), '"open_log_file_cache" must have "max" parameter');
  assert.equal(parseOpenLogFileCache(['max=x'], parseTime), 'invalid "open_log_file_cache" parameter "max=x"');
  assert.equal(parseOpenLogFileCache(['max=1', 'foo'], parseTime), 'invalid "open_log_file_cache" parameter "foo"');
});

test('the access_log.t sequence: LRU eviction, min_uses, cached descriptors outlive a rename', () => {
  const logs = path.join(dir, 'dir');
  fs.mkdirSync(logs);
  const cache = new LogFileCache({ max: 3, inactiveMs: 20_000, minUses: 2, validMs: 60_000 });
  const errors: string[] = [];
  const put = (name: string): void => cache.write(path.join(logs, name), Buffer.from('/\n'), (m) => errors.push(m), 1000);
  for (const n of ['lru', 'lru', 'once', 'first', 'first', 'second', 'second']) put(n);
  assert.equal(cache.openCount, 2, 'lru was evicted when second came; once never reached min_uses');
  fs.renameSync(logs, logs + '_moved');
  for (const n of ['lru', 'once', 'first', 'second']) put(n);
  fs.renameSync(logs + '_moved', logs);
  const count = (n: string): number => fs.readFileSync(path.join(logs, n), 'latin1').split('/').length - 1;
  assert.deepEqual(['lru', 'once', 'first', 'second'].map(count), [2, 1, 3, 3]);
  assert.equal(errors.length, 2);
  assert.match(errors[0]!, /^open\(\) ".*\/dir\/lru" failed \(2: No such file or directory\)$/);
  cache.closeAll();
  assert.equal(cache.openCount, 0);
});

test('inactive entries and old descriptors are dropped; no cache opens per line', () => {
  const cache = new LogFileCache({ max: 10, inactiveMs: 1000, minUses: 1, validMs: 5000 });
  const file = path.join(dir, 'valid.log');
  cache.write(file, Buffer.from('a\n'), assert.fail, 0);
  assert.equal(cache.openCount, 1);
  cache.write(path.join(dir, 'other.log'), Buffer.from('b\n'), assert.fail, 2000);
  assert.equal(cache.openCount, 1, 'valid.log was inactive for 2s');
  fs.rmSync(file);
  cache.write(file, Buffer.from('c\n'), assert.fail, 2500);
  assert.equal(fs.readFileSync(file, 'latin1'), 'c\n');
  const plain = path.join(dir, 'plain.log');
  writeUncached(plain, Buffer.from('x\n'), assert.fail);
  fs.renameSync(plain, plain + '.old');
  writeUncached(plain, Buffer.from('y\n'), assert.fail);
  assert.equal(fs.readFileSync(plain, 'latin1'), 'y\n', 'a renamed file is recreated at the path');
  const errors: string[] = [];
  writeUncached(path.join(dir, 'missing', 'x.log'), Buffer.from('z\n'), (m) => errors.push(m));
  assert.match(errors[0]!, /No such file or directory/);
  cache.closeAll();
});
