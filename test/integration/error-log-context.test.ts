// error_log at http, server and location level: a request's lines go to the log
// of the level that serves it (nginx merges error_log down the tree).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { exchange, get, startWeir } from '../helpers/raw-http.js';
import { refusedPort } from '../helpers/fault-upstream.js';
import { textMatching } from '../helpers/wait.js';

const readLog = (path: string) => (): string => (existsSync(path) ? readFileSync(path, 'utf8') : '');

// The refused upstream is a port just found free, not port 1: as root, config-test.test.ts
// (weir -t binds each listen) listens on 127.0.0.1:1 for a moment, and a connect made then
// lands in its backlog and is reset.
test('a location-level error_log receives that location\'s lines; others keep the main log', async () => {
  const dead = await refusedPort();
  const w = await startWeir(`http {
    access_log off;
    server {
      listen 127.0.0.1:%PORT%;
      location /own { error_log logs/own.log info; proxy_pass http://127.0.0.1:${dead}; }
      location /main { proxy_pass http://127.0.0.1:${dead}; }
    }
  }`);
  try {
    await exchange(w.port, get('/own'));
    await exchange(w.port, get('/main'));
    const own = await textMatching('logs/own.log', readLog(join(w.prefix, 'logs/own.log')), /connect\(\) failed/);
    assert.match(own, /\[error\] \d+#0: \*\d+ connect\(\) failed \(111: Connection refused\) while connecting to upstream, .*request: "GET \/own HTTP\/1.1"/);
    assert.doesNotMatch(own, /GET \/main/);
    const main = await w.waitForLog(/GET \/main/);
    assert.match(main, /request: "GET \/main HTTP\/1.1"/);
    assert.doesNotMatch(main, /GET \/own/);
  } finally {
    await w.stop();
  }
});

test('a server-level error_log is inherited by its locations, at its own level', async () => {
  const dead = await refusedPort();
  // Two servers, the same failure ([error] connect() failed) in a location of each: the
  // server at level error writes it (the positive control), the one at crit does not.
  const w = await startWeir(`http {
    access_log off;
    server {
      listen 127.0.0.1:%PORT%;
      server_name crit.test;
      error_log logs/crit.log crit;
      location / { proxy_pass http://127.0.0.1:${dead}; }
    }
    server {
      listen 127.0.0.1:%PORT%;
      server_name error.test;
      error_log logs/error-level.log error;
      location / { proxy_pass http://127.0.0.1:${dead}; }
    }
  }`);
  const ask = (host: string, path: string): Promise<unknown> =>
    exchange(w.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  try {
    await ask('crit.test', '/c');
    await ask('error.test', '/e');
    // Written in the order they happen: once the second request's line is there, a line
    // of the first would have been written too.
    const errorLevel = await textMatching('logs/error-level.log', readLog(join(w.prefix, 'logs/error-level.log')),
      /\[error\] \d+#0: \*\d+ connect\(\) failed \(111: Connection refused\) while connecting to upstream, .*server: error\.test, request: "GET \/e HTTP\/1.1"/);
    assert.doesNotMatch(errorLevel, /GET \/c /);
    // [error] is below crit: nothing is written, and the main log does not get it either.
    assert.equal(readLog(join(w.prefix, 'logs/crit.log'))(), '');
    assert.doesNotMatch(w.errorLog(), /connect\(\) failed/);
  } finally {
    await w.stop();
  }
});
