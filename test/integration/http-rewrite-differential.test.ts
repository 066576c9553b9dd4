/**
 * Differential: the same rewrite/return/if/map config on the real nginx and on
 * weir; status, Location (port-normalised) and body must agree. Skipped with a
 * message when no nginx binary is found.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/raw-http.js';
import { request, startWithLogs, type Weir } from '../helpers/in-process.js';
import { NGINX_BIN } from '../helpers/daemons.js';
import { needs } from '../helpers/require.js';

const NGINX = NGINX_BIN;
const skip = needs('nginx', NGINX !== null, 'apt-get install nginx, or set NGINX_BIN');

const BODY = `
  map $arg_k $mapped {
    default d;
    ~^n(\\d+)$ "num-$1";
    exact e;
  }
  server {
    listen 127.0.0.1:%PORT%;
    server_name localhost;
    default_type text/plain;
    location = /t { return 200 "uri=$uri args=$args is_args=$is_args m=$mapped"; }
    location /r/ { rewrite ^/r/(\\w+)/(\\d+) /t?x=$2&y=$1 last; }
    location /rq/ { rewrite ^/rq/(.*) /t? last; }
    location /rd/ { rewrite ^/rd/(.*)$ /t/$1 redirect; }
    location /rp/ { rewrite ^/rp/(.*)$ http://example.com/$1?z=1 permanent; }
    location /ret/ { return 301 /t; }
    location /ret404 { return 404; }
    location /ret404t { return 404 "nf"; }
    location /if/ {
      if ($arg_a = "1" ) { return 200 "a1"; }
      if ($arg_b ~ "^(x+)$" ) { return 200 "b:$1"; }
      if ($arg_c) { rewrite ^ /t last; }
      return 200 "none";
    }
    location /set/ { set $v "[$arg_q]"; return 200 "$v"; }
  }
`;

const URIS = [
  '/t', '/t?k=exact', '/t?k=n42', '/t?k=zz', '/r/abc/12', '/r/abc/12?old=1', '/rq/x?old=1', '/rd/p?q=1',
  '/rp/p?q=1', '/ret/', '/ret404', '/ret404t', '/if/?a=1', '/if/?b=xxx', '/if/?b=xy', '/if/?c=1', '/if/',
  '/set/?q=7', '/set/',
];

let nginx: ChildProcess | null = null;
let nginxPort = 0;
let nginxDir = '';
let w: Weir | null = null;

before(async () => {
  if (!NGINX) return;
  nginxDir = mkdtempSync(join(tmpdir(), 'weir-diff-nginx-'));
  mkdirSync(join(nginxDir, 'logs'));
  nginxPort = await freePort();
  const conf = `daemon off; master_process off; pid ${nginxDir}/nginx.pid; error_log ${nginxDir}/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${nginxDir}/cb; proxy_temp_path ${nginxDir}/pt; fastcgi_temp_path ${nginxDir}/ft;
  uwsgi_temp_path ${nginxDir}/ut; scgi_temp_path ${nginxDir}/st;
  ${BODY.replaceAll('%PORT%', String(nginxPort))}
}`;
  writeFileSync(join(nginxDir, 'nginx.conf'), conf);
  nginx = spawn(NGINX, ['-p', nginxDir, '-c', join(nginxDir, 'nginx.conf'), '-e', join(nginxDir, 'error.log')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const r = await request(nginxPort, '/t').catch(() => null);
    if (r && r.status) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  w = await startWithLogs(`events {} http { access_log off; ${BODY} }`);
});

after(async () => {
  nginx?.kill('SIGTERM');
  await w?.stop();
  if (nginxDir) rmSync(nginxDir, { recursive: true, force: true });
});

test('rewrite/return/if/map agree with nginx', { skip }, async () => {
  for (const uri of URIS) {
    const a = await request(nginxPort, uri);
    const b = await request(w!.port, uri);
    const where = `for ${uri}`;
    assert.equal(b.status, a.status, where);
    const norm = (l: string | undefined, port: number) => l?.replace(`:${port}/`, ':PORT/');
    assert.equal(norm(b.headers.location, w!.port), norm(a.headers.location, nginxPort), where);
    if (a.status === 200) assert.equal(b.text, a.text, where);
    assert.equal(b.headers['content-type'], a.headers['content-type'], where);
  }
});
