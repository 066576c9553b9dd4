// Upstream blocks checked as nginx checks them while reading: the balancer's server
// parameters (uscf->flags), a method given twice, and "no servers in upstream".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, loadConfigText } from '../../../src/config/loader.js';
import { builtinModules } from '../../../src/modules.js';

const conf = (upstream: string): string => `events {}\nhttp {\n  upstream u {\n${upstream}\n  }\n  server { location / { proxy_pass http://u; } }\n}\n`;
const load = (upstream: string): void => { loadConfigText(conf(upstream), tmpdir(), builtinModules); };

test('a parameter the balancer does not take, after it is chosen: nginx\'s [emerg] at the server line', () => {
  assert.throws(() => load('hash $uri;\nserver 127.0.0.1:1;\nserver 127.0.0.1:2 backup;'),
    { message: 'balancing method does not support parameter "backup" in inline:6' });
  assert.throws(() => load('ip_hash;\nserver 127.0.0.1:1 backup;'), { message: 'balancing method does not support parameter "backup" in inline:5' });
  assert.throws(() => load('random;\nserver 127.0.0.1:1 weight=2 backup;'), { message: 'balancing method does not support parameter "backup" in inline:5' });
  // Before the method is chosen every parameter is taken, as in nginx.
  load('server 127.0.0.1:1;\nserver 127.0.0.1:2 backup;\nhash $uri;');
  load('least_conn;\nserver 127.0.0.1:1;\nserver 127.0.0.1:2 backup weight=3 max_fails=2 fail_timeout=1s max_conns=5;');
});

test('only backup servers: "no servers in upstream" at the upstream block, at config time', () => {
  assert.throws(() => load('server 127.0.0.1:1 backup;'), { message: 'no servers in upstream "u" in inline:3' });
});

test('a second balancing method is a warning, not an error, as in nginx', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-upstream-'));
  try {
    const file = join(dir, 'nginx.conf');
    writeFileSync(file, conf('server 127.0.0.1:1;\nhash $uri;\nleast_conn;'));
    const warnings: string[] = [];
    loadConfig({ file, prefix: dir, modules: builtinModules, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(warnings, [`load balancing method redefined in ${file}:6`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
