// The config errors and warnings of geo, split_clients, userid and secure_link,
// with nginx's words and file:line. Where nginx is installed, each case is also
// run through `nginx -t` and its [emerg] and [warn] lines compared.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ConfigError } from '../../../src/config/errors.js';
import { loadConfig } from '../../../src/config/loader.js';
import { builtinModules } from '../../../src/modules.js';
import { NGINX_BIN } from '../../helpers/daemons.js';

const made: string[] = [];
after(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });

interface Outcome {
  /** The [emerg] message, null when the config is good. */
  error: string | null;
  warnings: string[];
}

function setup(http: string, files: Record<string, string>): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-vars-'));
  made.push(dir);
  fs.mkdirSync(path.join(dir, 'logs'));
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, `events {}\nhttp {\n${http}\n}\n`);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return { dir, file };
}

function weir(http: string, files: Record<string, string>): Outcome {
  const { dir, file } = setup(http, files);
  const warnings: string[] = [];
  const clean = (s: string): string => s.replaceAll(dir + '/', 'F/');
  try {
    loadConfig({ file, prefix: dir, modules: builtinModules, onWarning: (m) => warnings.push(clean(m)) });
    return { error: null, warnings };
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return { error: clean(e.message), warnings };
  }
}

function nginx(http: string, files: Record<string, string>): Outcome {
  const { dir, file } = setup(http, files);
  const r = spawnSync(NGINX_BIN!, ['-t', '-q', '-p', dir + '/', '-c', file, '-e', 'stderr'], { encoding: 'utf8' });
  const lines = r.stderr.split('\n');
  const text = (l: string): string => l.replace(/^.*?\[(emerg|warn)\] (\d+#\d+: )?/, '').replaceAll(dir + '/', 'F/');
  const emerg = lines.find((l) => l.includes('[emerg]'));
  return { error: emerg === undefined ? null : text(emerg), warnings: lines.filter((l) => l.includes('[warn]')).map(text) };
}

/** Asserts weir's outcome, and nginx's too when it is installed. */
function expect(http: string, error: string | null, warnings: string[] = [], files: Record<string, string> = {}): void {
  assert.deepEqual(weir(http, files), { error, warnings });
  if (NGINX_BIN !== null) assert.deepEqual(nginx(http, files), { error, warnings }, 'nginx -t says otherwise');
}

test('geo: a good block reads without a word', () => {
  expect('geo $g { default a; 10.0.0.0/8 b; 2001:db8::/32 c; 255.255.255.255 d; proxy 127.0.0.1; proxy_recursive; delete 10.0.0.0/8; }\n'
    + 'geo $arg_ip $r { ranges; default a; 10.0.0.0-10.0.0.255 b; 10.0.0.1-10.0.0.1 c; delete 10.0.0.1-10.0.0.1; }', null);
});

test('geo: a garbage line in an included file names the file and line', () => {
  expect('geo $g {\n  include geo.conf;\n}', 'invalid network "not-a-network" in F/geo.conf:2', [],
    { 'geo.conf': '10.0.0.0/8 a;\nnot-a-network b;\n' });
});

test('geo: bad CIDRs, bad ranges, wrong word counts', () => {
  expect('geo $g {\n  10.0.0.0/33 x;\n}', 'invalid network "10.0.0.0/33" in F/nginx.conf:4');
  expect('geo $g {\n  10.0.0.256 x;\n}', 'invalid network "10.0.0.256" in F/nginx.conf:4');
  expect('geo $g {\n  proxy bogus;\n}', 'invalid network "bogus" in F/nginx.conf:4');
  expect('geo $g {\n  10.0.0.0/8 a b;\n}', 'invalid number of the geo parameters in F/nginx.conf:4');
  expect('geo $g {\n  lonely;\n}', 'invalid number of the geo parameters in F/nginx.conf:4');
  expect('geo $g {\n  ranges;\n  10.0.0.5-10.0.0.1 x;\n}', 'invalid range "10.0.0.5-10.0.0.1" in F/nginx.conf:5');
  expect('geo $g {\n  ranges;\n  10.0.0.0/8 x;\n}', 'invalid range "10.0.0.0/8" in F/nginx.conf:5');
  expect('geo $g {\n  10.0.0.0/8 x;\n  ranges;\n}',
    'the "ranges" directive must be the first directive inside "geo" block in F/nginx.conf:5');
  expect('geo $g {\n  ranges;\n  10.0.0.0-10.0.0.10 a;\n  10.0.0.5-10.0.0.20 b;\n}',
    'range "10.0.0.5-10.0.0.20" overlaps "10.0.0.0-10.0.0.10" in F/nginx.conf:6');
  expect('geo g {\n}', 'invalid variable name "g" in F/nginx.conf:3');
  expect('geo $a $b $c {\n}', 'invalid number of arguments in "geo" directive in F/nginx.conf:3');
  expect('geo $g {\n  a {\n  }\n}', 'unexpected "{" in F/nginx.conf:4');
});

test('geo: nginx\'s warnings, with positions', () => {
  expect('geo $g {\n  10.0.0.0/8 a;\n  10.0.0.0/8 b;\n  10.1.2.3/8 c;\n  delete 192.168.0.0/16;\n}', null, [
    'duplicate network "10.0.0.0/8", value: "b", old value: "a" in F/nginx.conf:5',
    'low address bits of 10.1.2.3/8 are meaningless in F/nginx.conf:6',
    'duplicate network "10.1.2.3/8", value: "c", old value: "b" in F/nginx.conf:6',
    'no network "192.168.0.0/16" to delete in F/nginx.conf:7',
  ]);
  expect('geo $g {\n  ranges;\n  default a;\n  default b;\n  10.0.0.0-10.0.0.9 a;\n  10.0.0.0-10.0.0.9 b;\n  delete 10.0.1.0-10.0.1.9;\n}', null, [
    'duplicate default geo range value: "b", old value: "a" in F/nginx.conf:6',
    'duplicate range "10.0.0.0-10.0.0.9", value: "b", old value: "a" in F/nginx.conf:8',
    'no address range "10.0.1.0-10.0.1.9" to delete in F/nginx.conf:9',
  ]);
});

test('split_clients: percentages as nginx reads them', () => {
  expect('split_clients $remote_addr $s { 0.01% a; 12.5% b; 50.% c; * d; }', null);
  expect('split_clients $remote_addr $s {\n  50 a;\n}', 'invalid percent value "50" in F/nginx.conf:4');
  expect('split_clients $remote_addr $s {\n  0% a;\n}', 'invalid percent value "0%" in F/nginx.conf:4');
  expect('split_clients $remote_addr $s {\n  1.234% a;\n}', 'invalid percent value "1.234%" in F/nginx.conf:4');
  expect('split_clients $remote_addr $s {\n  x% a;\n}', 'invalid percent value "x%" in F/nginx.conf:4');
  expect('split_clients $remote_addr $s {\n  60% a;\n  50% b;\n}', 'percent total is greater than 100% in F/nginx.conf:6');
  expect('split_clients $remote_addr s {\n}', 'invalid variable name "s" in F/nginx.conf:3');
});

test('userid: bad values', () => {
  expect('userid maybe;', 'invalid value "maybe" in F/nginx.conf:3');
  expect('userid_mark ab;', '"userid_mark" directive value must be "off" or a single letter, digit or "=" in F/nginx.conf:3');
  expect('userid_mark -;', '"userid_mark" directive value must be "off" or a single letter, digit or "=" in F/nginx.conf:3');
  expect('userid_expires soon;', '"userid_expires" directive invalid value in F/nginx.conf:3');
  expect('userid_expires 1h;\nuserid_expires max;', '"userid_expires" directive is duplicate in F/nginx.conf:4');
  expect('userid_flags secure bogus;', 'invalid value "bogus" in F/nginx.conf:3');
  expect('userid_service x;', '"userid_service" directive invalid number in F/nginx.conf:3');
  expect('userid_flags secure samesite=lax;\nuserid_flags samesite=none httponly;', null,
    ['duplicate value "samesite=none" in F/nginx.conf:4']);
});

test('secure_link: the secret does not mix with secure_link and secure_link_md5', () => {
  // Checked as levels are merged: nginx reports it at the http block's `}`.
  expect('server {\n  location / {\n    secure_link_secret s;\n    secure_link $arg_h;\n  }\n}',
    '"secure_link_secret" cannot be mixed with "secure_link" and "secure_link_md5" in F/nginx.conf:9');
  expect('secure_link_secret a;\nsecure_link_secret b;', '"secure_link_secret" directive is duplicate in F/nginx.conf:4');
});
