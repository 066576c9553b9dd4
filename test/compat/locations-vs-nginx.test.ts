/**
 * Differential: which location answers, weir vs the real nginx, for a few
 * hundred generated URIs (deterministic seed) against one config with every
 * kind of location (=, ^~, prefix, ~, ~*, nested, longest-prefix ties).
 *
 * Each location serves its own root's id.txt through `try_files /id.txt =404`
 * (so the test needs neither `return` nor variables), and the body names the
 * location. Skips with a message when no nginx binary is found.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exchange, freePort, startWeir } from '../helpers/raw-http.js';
import { seeded } from '../helpers/seeded.js';
import { NGINX_BIN } from '../helpers/daemons.js';
import { needs } from '../helpers/require.js';


// [name, location line opening]; nested ones carry their children.
interface Loc { name: string; head: string; children?: Loc[] }
const LOCATIONS: Loc[] = [
  { name: 'exact-root', head: 'location = /' },
  { name: 'exact', head: 'location = /exact' },
  { name: 'root', head: 'location /' },
  { name: 'a', head: 'location /a/' },
  { name: 'a-exact', head: 'location = /a/' },
  { name: 'ab', head: 'location /a/b/' },
  { name: 'abc-stop', head: 'location ^~ /a/b/c/' },
  { name: 'static', head: 'location ^~ /static/' },
  { name: 'static-img', head: 'location ^~ /static/img/' },
  { name: 'images', head: 'location /images/' },
  { name: 'php', head: 'location ~ \\.php$' },
  { name: 'pics', head: 'location ~* \\.(jpg|png|gif)$' },
  { name: 'api-versioned', head: 'location ~ ^/api/v[0-9]+/' },
  { name: 'api', head: 'location /api/' },
  { name: 'admin-ci', head: 'location ~* /admin' },
  { name: 'upper', head: 'location /A/' },
  { name: 'docs', head: 'location /docs/', children: [
    { name: 'docs-internal', head: 'location /docs/internal/' },
    { name: 'docs-pdf', head: 'location ~ \\.pdf$' },
  ] },
  { name: 'x', head: 'location /x', children: [{ name: 'x-y', head: 'location ~ /x/y$' }] },
  { name: 'deep-end', head: 'location ~ /deep/.*/end$' },
  { name: 'short', head: 'location /s' },
  { name: 'shorter', head: 'location /st' },
];

function render(locs: Loc[], indent: string): string {
  return locs.map((l) => `${indent}${l.head} { root locs/${l.name}; try_files /id.txt =404;\n`
    + (l.children ? render(l.children, indent + '  ') : '') + `${indent}}\n`).join('');
}
function allNames(locs: Loc[]): string[] {
  return locs.flatMap((l) => [l.name, ...(l.children ? allNames(l.children) : [])]);
}

const PARTS = ['a', 'b', 'c', 'static', 'img', 'images', 'api', 'v1', 'v22', 'vx', 'docs', 'internal', 'x', 'y', 'deep',
  'end', 'admin', 'ADMIN', 'Admin', 'A', 'exact', 'file.php', 'file.PHP', 'pic.JPG', 'pic.png', 'doc.pdf', 'index.html',
  's', 'st', 'stat', 'xy', 'q'];

function uris(n: number): string[] {
  const rand = seeded(20260521);
  const out = new Set<string>(['/', '/exact', '/exact/', '/a', '/a/', '/a/b', '/a/b/', '/a/b/c/', '/static', '/static/img/x.png',
    '/api/v1/', '/api/v1', '/docs/internal/x.pdf', '/x', '/x/y', '/xy', '/deep/a/b/end', '/s', '/st', '/stx']);
  while (out.size < n) {
    const depth = 1 + Math.floor(rand() * 4);
    let u = '';
    for (let i = 0; i < depth; i++) u += '/' + PARTS[Math.floor(rand() * PARTS.length)];
    if (rand() < 0.3) u += '/';
    out.add(u);
  }
  return [...out];
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}`);
    const ex = await exchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { idleMs: 200, totalMs: 500 });
    if (ex.responses.length > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('nginx did not start');
}

async function answer(port: number, uri: string): Promise<string> {
  const ex = await exchange(port, `GET ${uri} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { idleMs: 1000 });
  const r = ex.responses[0];
  if (!r) return 'no response';
  return r.status === 200 ? r.body.toString().trim() : `status ${r.status}`;
}

const nginx = NGINX_BIN;

test('location choice matches nginx for generated URIs', { skip: needs('nginx', nginx !== null, 'apt-get install nginx, or set NGINX_BIN') }, async () => {
  const names = allNames(LOCATIONS);
  const files: Record<string, string> = {};
  for (const n of names) files[`locs/${n}/id.txt`] = `${n}\n`;
  const serverBlock = (port: string) => `server {\n  listen 127.0.0.1:${port};\n${render(LOCATIONS, '  ')}}\n`;

  // nginx in its own prefix.
  const nprefix = mkdtempSync(join(tmpdir(), 'weir-nginx-'));
  for (const [p, c] of Object.entries(files)) { mkdirSync(join(nprefix, p, '..'), { recursive: true }); writeFileSync(join(nprefix, p), c); }
  mkdirSync(join(nprefix, 'logs'));
  const nport = await freePort();
  writeFileSync(join(nprefix, 'nginx.conf'), `daemon off;\nmaster_process off;\npid ${nprefix}/nginx.pid;\nerror_log ${nprefix}/logs/error.log;\n`
    + `events {}\nhttp {\n access_log off;\n client_body_temp_path ${nprefix}/tmp;\n ${serverBlock(String(nport))}}\n`);
  const child = spawn(nginx!, ['-p', nprefix, '-c', join(nprefix, 'nginx.conf'), '-e', join(nprefix, 'logs/error.log')], { stdio: 'ignore' });
  const w = await startWeir(`http {\n access_log off;\n${serverBlock('%PORT%')}}\n`, files);
  try {
    await waitForPort(nport, child);
    const list = uris(300);
    const diffs: string[] = [];
    for (const u of list) {
      const [a, b] = await Promise.all([answer(nport, u), answer(w.port, u)]);
      if (a !== b) diffs.push(`${u}: nginx=${a} weir=${b}`);
    }
    assert.deepEqual(diffs, [], `${diffs.length} of ${list.length} URIs differ`);
    // The URIs reach most locations (a guard against comparing only 404s).
    const seen = new Set(await Promise.all(list.slice(0, 120).map((u) => answer(w.port, u))));
    assert.ok(seen.size >= 12, `only ${seen.size} distinct answers: ${[...seen].join(", ")}`);
  } finally {
    child.kill('SIGTERM');
    await w.stop();
    rmSync(nprefix, { recursive: true, force: true });
  }
});
