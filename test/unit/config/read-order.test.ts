// readConfig in nginx's order (ngx_init_cycle's config half): upstream `server`
// names resolved at their directive (so a later error loses to a name that is
// not found), proxy_pass hosts at the end of the http block, `parsed` (where
// -t says "syntax is ok") once every directive is read and before the core
// modules' checks; and what directives register for the cycle (log files,
// temp paths), in nginx's order.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../../src/config/errors.js';
import { loadConfigText, readConfig } from '../../../src/config/loader.js';
import { builtinModules } from '../../../src/modules.js';

const made: string[] = [];
after(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });

function confFile(text: string): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-order-'));
  made.push(dir);
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, text);
  return { dir, file };
}

/** readConfig's error (temp dir as F/) and whether `parsed` ran before it. */
async function readError(text: string): Promise<{ message: string | null; parsed: boolean }> {
  const { dir, file } = confFile(text);
  let parsed = false;
  try {
    await readConfig({ file, prefix: dir, modules: builtinModules }, () => { parsed = true; });
    return { message: null, parsed };
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return { message: e.message.replaceAll(dir + '/', 'F/'), parsed };
  }
}

const E = 'events {}\n';

test('an upstream server name that is not found wins over a later error (nginx resolves it at the directive)', async () => {
  const r = await readError(E + 'http {\n upstream u { server no-such-host.invalid; }\n foo;\n}\n');
  assert.deepEqual(r, { message: 'host not found in upstream "no-such-host.invalid" in F/nginx.conf:3', parsed: false });
});

test('a proxy_pass host is resolved at the end of the http block: an error inside the block wins, one after it loses', async () => {
  const server = ' server { listen 127.0.0.1:1; location / { proxy_pass http://no-such-host.invalid:81; } }\n';
  assert.deepEqual(await readError(E + 'http {\n' + server + ' foo;\n}\n'),
    { message: 'unknown directive "foo" in F/nginx.conf:4', parsed: false });
  assert.deepEqual(await readError(E + 'http {\n' + server + '}\nfoo;\n'),
    { message: 'host not found in upstream "no-such-host.invalid:81" in F/nginx.conf:3', parsed: false });
});

test('of two names not found, the first in the file is reported', async () => {
  const r = await readError(E + 'http {\n upstream a { server no-such-a.invalid; }\n upstream b { server no-such-b.invalid; }\n}\n');
  assert.equal(r.message, 'host not found in upstream "no-such-a.invalid" in F/nginx.conf:3');
});

test('`parsed` runs once every directive is read, before the checks of the core modules (no "events")', async () => {
  assert.deepEqual(await readError('http {}\n'), { message: 'no "events" section in configuration', parsed: true });
  assert.deepEqual(await readError(E), { message: null, parsed: true });
  assert.deepEqual(await readError('http {}\nfoo'), { message: 'unexpected end of file, expecting ";" or "}" in F/nginx.conf:2', parsed: false });
});

test('warnings are reported as they are found, with their position', async () => {
  const { dir, file } = confFile('events {}\nuser root;\n');
  const warnings: string[] = [];
  await readConfig({ file, prefix: dir, modules: builtinModules, onWarning: (m) => warnings.push(m) });
  if (process.geteuid?.() === 0) assert.deepEqual(warnings, []);
  else {
    assert.deepEqual(warnings, [
      `the "user" directive makes sense only if the master process runs with super-user privileges, ignored in ${file}:2`,
    ]);
  }
});

// --- what the cycle is left to open and create ---

test('log files are registered in the order nginx opens them, each once; the default access log only where a level has none', () => {
  const l = loadConfigText(E + `error_log /l/main.log;
http {
  access_log /l/http.log;
  error_log /l/http-error.log;
  server { listen 127.0.0.1:1; access_log /l/server.log; location / { access_log /l/http.log; } }
  server { listen 127.0.0.1:2; access_log off; }
}
error_log stderr;
`, '/p', builtinModules);
  assert.deepEqual(l.cycle.openFiles, ['/l/main.log', '/l/http.log', '/l/http-error.log', '/l/server.log']);

  const d = loadConfigText(E + 'http {\n  server { listen 127.0.0.1:1; }\n  server { listen 127.0.0.1:2; }\n}\n', '/p', builtinModules);
  assert.deepEqual(d.cycle.openFiles, ['/p/logs/access.log']);
  assert.deepEqual(loadConfigText(E + 'http {\n  server { listen 127.0.0.1:1; access_log /l/a.log; }\n}\n', '/p', builtinModules).cycle.openFiles, ['/l/a.log']);
  // Access logs with variables are opened per request, not by the cycle.
  assert.deepEqual(loadConfigText(E + 'http {\n  server { listen 127.0.0.1:1; access_log /l/$host.log; }\n}\n', '/p', builtinModules).cycle.openFiles, []);
});

test('temp paths: the ones named, then the defaults under the prefix, each once, without a trailing slash', () => {
  const l = loadConfigText(E + `http {
  proxy_temp_path /t/proxy/;
  server {
    listen 127.0.0.1:1;
    client_body_temp_path body 1 2;
    location / { fastcgi_temp_path /t/fcgi; }
    location /x { proxy_temp_path /t/proxy; }
  }
}
`, '/p', builtinModules);
  assert.deepEqual(l.cycle.tempPaths, ['/t/proxy', '/p/body', '/t/fcgi', '/p/fastcgi_temp']);
  assert.deepEqual(loadConfigText(E + 'http {}\n', '/p', builtinModules).cycle.tempPaths, []);
});
