// error_log at http, server and location level: a request's lines go to the log
// of the level that serves it (nginx merges error_log down the tree).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { exchange, get, startWeir } from '../helpers/raw-http.js';

async function waitFile(path: string, re: RegExp): Promise<string> {
  let text = '';
  for (let i = 0; i < 40; i++) {
    text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    if (re.test(text)) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
  return text;
}

test('a location-level error_log receives that location\'s lines; others keep the main log', async () => {
  const w = await startWeir(`http {
    access_log off;
    server {
      listen 127.0.0.1:%PORT%;
      location /own { error_log logs/own.log info; proxy_pass http://127.0.0.1:1; }
      location /main { proxy_pass http://127.0.0.1:1; }
    }
  }`);
  try {
    await exchange(w.port, get('/own'));
    await exchange(w.port, get('/main'));
    const own = await waitFile(join(w.prefix, 'logs/own.log'), /connect\(\) failed/);
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
  const w = await startWeir(`http {
    access_log off;
    server {
      listen 127.0.0.1:%PORT%;
      error_log logs/server.log crit;
      location / { proxy_pass http://127.0.0.1:1; }
    }
  }`);
  try {
    await exchange(w.port, get('/x'));
    await new Promise((r) => setTimeout(r, 200));
    const server = existsSync(join(w.prefix, 'logs/server.log')) ? readFileSync(join(w.prefix, 'logs/server.log'), 'utf8') : '';
    // [error] is below crit: nothing is written, and the main log does not get it either.
    assert.equal(server, '');
    assert.doesNotMatch(w.errorLog(), /connect\(\) failed/);
  } finally {
    await w.stop();
  }
});
