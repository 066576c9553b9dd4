// Every config error nginx prints, with its exact file:line, through loadConfig
// (parse + walk + module checks). Where Debian's nginx is installed, the same
// text is also run through `nginx -t` and its message compared.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ConfigError, atPosition, formatPosition, COMMAND_LINE } from '../../../src/config/errors.js';
import { loadConfig, loadConfigText } from '../../../src/config/loader.js';
import { builtinModules } from '../../../src/modules.js';
import { NGINX_BIN } from '../../helpers/daemons.js';
import { needs } from '../../helpers/require.js';

const made: string[] = [];
after(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });

const NGINX = NGINX_BIN ?? 'nginx';
const haveNginx = NGINX_BIN !== null;
/** Messages compared with `nginx -t` so far; the last test of the file checks the count. */
let comparedWithNginx = 0;

interface Case {
  /** The main config (nginx.conf). */
  conf: string;
  /** Other files, relative to the config's directory. */
  files?: Record<string, string>;
  globals?: string;
}

function setup(c: Case): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-'));
  made.push(dir);
  fs.mkdirSync(path.join(dir, 'logs'));
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, c.conf);
  for (const [name, text] of Object.entries(c.files ?? {})) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return { dir, file };
}

/** weir's message, with the temp dir written as F/. */
function weirError(c: Case): string | null {
  const { dir, file } = setup(c);
  try {
    loadConfig({ file, prefix: dir, globals: c.globals, modules: builtinModules });
    return null;
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.message.replaceAll(dir + '/', 'F/');
  }
}

/** nginx's [emerg] message (without the prefix), with the temp dir written as F/; null when -t passes. */
function nginxError(c: Case): string | null {
  const { dir, file } = setup(c);
  const args = ['-t', '-q', '-p', dir + '/', '-c', file, '-e', 'stderr'];
  if (c.globals) args.push('-g', c.globals);
  const r = spawnSync(NGINX, args, { encoding: 'utf8' });
  if (r.status === 0) return null;
  const line = r.stderr.split('\n').find((l) => l.includes('[emerg]'));
  assert.ok(line, `nginx failed without [emerg]: ${r.stderr}`);
  return line.replace(/^.*?\[emerg\] (\d+#\d+: )?/, '').replaceAll(dir + '/', 'F/');
}

/** Asserts weir's message and, with nginx installed, that nginx says the same. */
function expectError(c: Case, message: string): void {
  assert.equal(weirError(c), message);
  if (!haveNginx) return;
  assert.equal(nginxError(c), message, 'nginx -t says otherwise');
  comparedWithNginx++;
}

const E = 'events {}\n';

test('ConfigError: message, detail and position', () => {
  const e = new ConfigError('unknown directive "foo"', { file: '/etc/weir/nginx.conf', line: 12 });
  assert.equal(e.message, 'unknown directive "foo" in /etc/weir/nginx.conf:12');
  assert.equal(e.detail, 'unknown directive "foo"');
  assert.deepEqual(e.position, { file: '/etc/weir/nginx.conf', line: 12 });
  assert.equal(e.name, 'ConfigError');
  assert.ok(e instanceof Error);
  const bare = new ConfigError('no "events" section in configuration');
  assert.equal(bare.message, 'no "events" section in configuration');
  assert.equal(bare.position, undefined);
});

test('formatPosition: file:line, or "command line" without a line', () => {
  assert.equal(formatPosition({ file: '/a/b.conf', line: 3 }), '/a/b.conf:3');
  assert.equal(formatPosition({ file: COMMAND_LINE, line: 1 }), 'command line');
  assert.equal(new ConfigError('x', { file: COMMAND_LINE, line: 0 }).message, 'x in command line');
});

test('atPosition: adds a position to plain errors and position-less ConfigErrors, keeps an existing one', () => {
  const pos = { file: 'F', line: 2 };
  assert.equal(atPosition(new Error('invalid port'), pos).message, 'invalid port in F:2');
  assert.equal(atPosition('text', pos).message, 'text in F:2');
  assert.equal(atPosition(new ConfigError('d'), pos).message, 'd in F:2');
  const keep = new ConfigError('k', { file: 'G', line: 9 });
  assert.equal(atPosition(keep, pos), keep);
});

test('unknown directive "foo" in F:12', () => {
  expectError({ conf: E + '\n'.repeat(10) + 'foo bar;\n' }, 'unknown directive "foo" in F/nginx.conf:12');
});

test('unknown directive inside blocks and in included files', () => {
  expectError({ conf: E + 'http {\n  server {\n    bogus_thing on;\n  }\n}\n' }, 'unknown directive "bogus_thing" in F/nginx.conf:4');
  expectError({ conf: E + 'http {\ninclude inc/*.conf;\n}\n', files: { 'inc/a.conf': '\n\nwhat;\n' } }, 'unknown directive "what" in F/inc/a.conf:3');
});

test('an unknown directive is an error even when nothing uses it (block form too)', () => {
  expectError({ conf: E + 'frobnicate {\n}\n' }, 'unknown directive "frobnicate" in F/nginx.conf:2');
});

test('"proxy_pass" directive is not allowed here in F:7', () => {
  expectError({ conf: E + 'http {\n  server {\n    listen 127.0.0.1:8080;\n\n\n    proxy_pass http://127.0.0.1:1;\n  }\n}\n' },
    '"proxy_pass" directive is not allowed here in F/nginx.conf:7');
});

test('not allowed here: listen in http, server in main, location in http, worker_connections in main, daemon in events', () => {
  expectError({ conf: E + 'http {\nlisten 80;\n}\n' }, '"listen" directive is not allowed here in F/nginx.conf:3');
  expectError({ conf: E + 'server {}\n' }, '"server" directive is not allowed here in F/nginx.conf:2');
  expectError({ conf: E + 'http {\nlocation / {}\n}\n' }, '"location" directive is not allowed here in F/nginx.conf:3');
  expectError({ conf: E + 'worker_connections 1;\n' }, '"worker_connections" directive is not allowed here in F/nginx.conf:2');
  expectError({ conf: 'events {\ndaemon off;\n}\n' }, '"daemon" directive is not allowed here in F/nginx.conf:2');
});

test('invalid number of arguments in "listen" directive in F:3', () => {
  expectError({ conf: 'events {}\nhttp { server {\nlisten;\n} }\n' }, 'invalid number of arguments in "listen" directive in F/nginx.conf:3');
});

test('invalid number of arguments: flags, blocks, fixed counts', () => {
  expectError({ conf: E + 'daemon on off;\n' }, 'invalid number of arguments in "daemon" directive in F/nginx.conf:2');
  expectError({ conf: E + 'daemon;\n' }, 'invalid number of arguments in "daemon" directive in F/nginx.conf:2');
  expectError({ conf: 'events x {}\n' }, 'invalid number of arguments in "events" directive in F/nginx.conf:1');
  expectError({ conf: E + 'http x {}\n' }, 'invalid number of arguments in "http" directive in F/nginx.conf:2');
  expectError({ conf: E + 'worker_processes 1 2;\n' }, 'invalid number of arguments in "worker_processes" directive in F/nginx.conf:2');
  expectError({ conf: E + 'http {\nkeepalive_timeout 1 2 3;\n}\n' }, 'invalid number of arguments in "keepalive_timeout" directive in F/nginx.conf:3');
});

test('"keepalive_timeout" directive is duplicate (and other duplicates)', () => {
  expectError({ conf: E + 'http {\nkeepalive_timeout 5s;\nkeepalive_timeout 6s;\n}\n' }, '"keepalive_timeout" directive is duplicate in F/nginx.conf:4');
  expectError({ conf: E + 'http {\nkeepalive_timeout 5s;\nkeepalive_timeout 5s 6s;\n}\n' }, '"keepalive_timeout" directive is duplicate in F/nginx.conf:4');
  expectError({ conf: E + 'http {\netag on;\netag off;\n}\n' }, '"etag" directive is duplicate in F/nginx.conf:4');
  expectError({ conf: E + 'http {\nclient_max_body_size 1m;\nclient_max_body_size 2m;\n}\n' }, '"client_max_body_size" directive is duplicate in F/nginx.conf:4');
  expectError({ conf: E + 'http {\nlingering_close on;\nlingering_close on;\n}\n' }, '"lingering_close" directive is duplicate in F/nginx.conf:4');
  expectError({ conf: 'events { worker_connections 1;\nworker_connections 2; }\n' }, '"worker_connections" directive is duplicate in F/nginx.conf:2');
  expectError({ conf: E + 'pid a.pid;\npid b.pid;\n' }, '"pid" directive is duplicate in F/nginx.conf:3');
  expectError({ conf: E + 'worker_processes 1;\nworker_processes 2;\n' }, '"worker_processes" directive is duplicate in F/nginx.conf:3');
  expectError({ conf: E + 'daemon off;\nmaster_process on;\ndaemon on;\n' }, '"daemon" directive is duplicate in F/nginx.conf:4');
  expectError({ conf: E + 'http {}\nhttp {}\n' }, '"http" directive is duplicate in F/nginx.conf:3');
  expectError({ conf: E + 'events {}\n' }, '"events" directive is duplicate in F/nginx.conf:2');
  // nginx's slots check for a duplicate before the value.
  expectError({ conf: E + 'worker_shutdown_timeout 1s;\nworker_shutdown_timeout x;\n' }, '"worker_shutdown_timeout" directive is duplicate in F/nginx.conf:3');
  expectError({ conf: E + 'http {\nlingering_close on;\nlingering_close x;\n}\n' }, '"lingering_close" directive is duplicate in F/nginx.conf:4');
  expectError({ conf: E + 'http { server {\nroot /a;\nroot /b;\n} }\n' }, '"root" directive is duplicate in F/nginx.conf:4');
  expectError({ conf: E + 'http { server { location / {\nalias /a;\nroot /b;\n} } }\n' },
    '"root" directive is duplicate, "alias" directive was specified earlier in F/nginx.conf:4');
});

test('a duplicate across an include names the included file', () => {
  expectError({ conf: E + 'http {\ninclude a.conf;\ninclude a.conf;\n}\n', files: { 'a.conf': '\nkeepalive_timeout 5s;\n' } },
    '"keepalive_timeout" directive is duplicate in F/a.conf:2');
});

test('"if_modified_since" directive is duplicate', () => {
  expectError({ conf: E + 'http {\nif_modified_since off;\nif_modified_since off;\n}\n' }, '"if_modified_since" directive is duplicate in F/nginx.conf:4');
});

test('a duplicate listen', () => {
  expectError({ conf: E + 'http { server {\nlisten 8080;\nlisten 8080;\n} }\n' }, 'a duplicate listen 0.0.0.0:8080 in F/nginx.conf:4');
});

test('unexpected "}"', () => {
  expectError({ conf: E + '}\n' }, 'unexpected "}" in F/nginx.conf:2');
  expectError({ conf: E + 'http {\n  keepalive_timeout 5s\n}\n' }, 'unexpected "}" in F/nginx.conf:4');
  expectError({ conf: 'events { use "epoll"}\n' }, 'unexpected "}" in F/nginx.conf:1');
});

test('unexpected ";" / unexpected "{" / unexpected "x" after a quote', () => {
  expectError({ conf: E + ';\n' }, 'unexpected ";" in F/nginx.conf:2');
  expectError({ conf: E + '{}\n' }, 'unexpected "{" in F/nginx.conf:2');
  expectError({ conf: E + 'user "a"b;\n' }, 'unexpected "b" in F/nginx.conf:2');
});

test('unexpected end of file, expecting ";" or "}"', () => {
  expectError({ conf: E + 'http { server { listen 80' }, 'unexpected end of file, expecting ";" or "}" in F/nginx.conf:2');
  expectError({ conf: E + 'worker_processes 1\n\n' }, 'unexpected end of file, expecting ";" or "}" in F/nginx.conf:4');
  expectError({ conf: E + 'user "abc\n\n' }, 'unexpected end of file, expecting ";" or "}" in F/nginx.conf:4');
});

test('unexpected end of file, expecting "}"', () => {
  expectError({ conf: E + 'http {\nserver {\n' }, 'unexpected end of file, expecting "}" in F/nginx.conf:4');
  expectError({ conf: E + 'http {\ninclude a.conf;\n}\n', files: { 'a.conf': 'server {\n' } }, 'unexpected end of file, expecting "}" in F/a.conf:2');
});

test('directive "http" has no opening "{"', () => {
  expectError({ conf: E + 'http;\n' }, 'directive "http" has no opening "{" in F/nginx.conf:2');
  expectError({ conf: E + 'http {\nserver;\n}\n' }, 'directive "server" has no opening "{" in F/nginx.conf:3');
  expectError({ conf: 'events;\n' }, 'directive "events" has no opening "{" in F/nginx.conf:1');
});

test('directive "x" is not terminated by ";"', () => {
  expectError({ conf: E + 'worker_processes 2 {}\n' }, 'directive "worker_processes" is not terminated by ";" in F/nginx.conf:2');
  expectError({ conf: E + 'http { server {\nlisten 80 {}\n} }\n' }, 'directive "listen" is not terminated by ";" in F/nginx.conf:3');
});

test('no "events" section in configuration (no position)', () => {
  expectError({ conf: 'http {}\n' }, 'no "events" section in configuration');
  expectError({ conf: '' }, 'no "events" section in configuration');
  expectError({ conf: '# nothing\n' }, 'no "events" section in configuration');
});

test('include: a missing plain file, a glob with no match', () => {
  expectError({ conf: E + '\ninclude missing.conf;\n' }, 'open() "F/missing.conf" failed (2: No such file or directory) in F/nginx.conf:3');
  assert.equal(weirError({ conf: E + 'include conf.d/*.conf;\n' }), null);
  expectError({ conf: E + 'include a b;\n' }, 'invalid number of arguments in "include" directive in F/nginx.conf:2');
});

test('-g: errors say "in command line"', () => {
  expectError({ conf: E, globals: 'foo bar;' }, 'unknown directive "foo" in command line');
  expectError({ conf: E, globals: 'daemon maybe;' }, 'invalid value "maybe" in "daemon" directive, it must be "on" or "off" in command line');
  expectError({ conf: E, globals: '}' }, 'unexpected "}" in command line');
  expectError({ conf: E, globals: 'worker_connections 1;' }, '"worker_connections" directive is not allowed here in command line');
});

test('-g: a -g directive repeated in the file is a duplicate at the file\'s line', () => {
  expectError({ conf: E + 'daemon off;\n', globals: 'daemon off;' }, '"daemon" directive is duplicate in F/nginx.conf:2');
});

test('-g: directives come first and apply', () => {
  assert.equal(weirError({ conf: E, globals: 'daemon off; master_process off;' }), null);
});

test('invalid values: flags, times, sizes, numbers', () => {
  expectError({ conf: E + 'daemon yes;\n' }, 'invalid value "yes" in "daemon" directive, it must be "on" or "off" in F/nginx.conf:2');
  expectError({ conf: E + 'worker_shutdown_timeout 10x;\n' }, '"worker_shutdown_timeout" directive invalid value in F/nginx.conf:2');
  expectError({ conf: E + 'worker_shutdown_timeout 1s1m;\n' }, '"worker_shutdown_timeout" directive invalid value in F/nginx.conf:2');
  expectError({ conf: E + 'worker_shutdown_timeout 1s1s;\n' }, '"worker_shutdown_timeout" directive invalid value in F/nginx.conf:2');
  expectError({ conf: E + 'http {\nclient_body_buffer_size 1x;\n}\n' }, '"client_body_buffer_size" directive invalid value in F/nginx.conf:3');
  expectError({ conf: E + 'http {\nclient_body_buffer_size 1g;\n}\n' }, '"client_body_buffer_size" directive invalid value in F/nginx.conf:3');
  expectError({ conf: E + 'http {\nkeepalive_requests 1k;\n}\n' }, '"keepalive_requests" directive invalid number in F/nginx.conf:3');
  expectError({ conf: E + 'http {\nkeepalive_timeout 5s x;\n}\n' }, '"keepalive_timeout" directive invalid value in F/nginx.conf:3');
  expectError({ conf: E + 'http {\nerror_page 200 /a;\n}\n' }, 'value "200" must be between 300 and 599 in F/nginx.conf:3');
  expectError({ conf: E + 'http { server {\nlisten 80 bogus;\n} }\n' }, 'invalid parameter "bogus" in F/nginx.conf:3');
});

test('accepted values: flags in any case, times with blanks', () => {
  assert.equal(weirError({ conf: E + 'daemon OFF;\nworker_shutdown_timeout "1h 30m";\n' }), null);
});

test('worker_connections: invalid number "1k" (nginx\'s own setter)', () => {
  expectError({ conf: 'events { worker_connections 1k; }\n' }, 'invalid number "1k" in F/nginx.conf:1');
});

test('worker_processes: "worker_processes" directive invalid value; 0 is accepted', () => {
  expectError({ conf: E + 'worker_processes x;\n' }, '"worker_processes" directive invalid value in F/nginx.conf:2');
  assert.equal(weirError({ conf: E + 'worker_processes 0;\n' }), null);
});

test('enum values: `invalid value "x"` without the directive name', () => {
  expectError({ conf: E + 'http {\nlingering_close x;\n}\n' }, 'invalid value "x" in F/nginx.conf:3');
  expectError({ conf: E + 'http {\nserver_tokens x;\n}\n' }, 'invalid value "x" in F/nginx.conf:3');
});

test('a directive spanning lines is reported at the line of its ";" or "{" (nginx)', () => {
  expectError({ conf: E + 'daemon\n\nyes;\n' }, 'invalid value "yes" in "daemon" directive, it must be "on" or "off" in F/nginx.conf:4');
  expectError({ conf: E + 'foo\nbar\n;\n' }, 'unknown directive "foo" in F/nginx.conf:4');
  expectError({ conf: E + 'user "a\nb" c d;\n' }, 'invalid number of arguments in "user" directive in F/nginx.conf:3');
  expectError({ conf: E + 'http\n\n;\n' }, 'directive "http" has no opening "{" in F/nginx.conf:4');
  expectError({ conf: E + 'http {}\nhttp\n\n{\n}\n' }, '"http" directive is duplicate in F/nginx.conf:5');
});

test('loadConfigText names its text "inline"', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-'));
  made.push(dir);
  assert.throws(() => loadConfigText('events {}\nfoo;\n', dir, builtinModules), { message: 'unknown directive "foo" in inline:2' });
});

test('allow/deny: invalid parameter (nginx\'s ngx_ptocidr refusals), not allowed in if; quirks it accepts', () => {
  const at = (rule: string): Case => ({ conf: E + `http {\nserver {\nlocation / {\n${rule}\n}\n}\n}\n` });
  for (const bad of ['1.2.3.4/33', '1.2.3.4/', '::1/129', '1.2.3', '255.255.255.255', '1::2::3', 'ALL', 'unix:/x', 'fe80::1%lo', '10.0.0.0/8x']) {
    expectError(at(`deny ${bad};`), `invalid parameter "${bad}" in F/nginx.conf:5`);
  }
  expectError(at('if ($arg_a) {\nallow all;\n}'), '"allow" directive is not allowed here in F/nginx.conf:6');
  for (const ok of ['allow 10..1.2;', 'deny 1.2.3.4/8;', 'allow ::ffff:1.2.3.4/96;', 'deny :1::;', 'allow unix:;', 'deny all;', 'allow 0.0.0.0/0;', 'deny ::/0;']) {
    assert.equal(weirError(at(ok)), null, ok);
  }
});

test('limit_except: invalid method, duplicate, what may not be inside; satisfy and keepalive_disable values', () => {
  const at = (body: string): Case => ({ conf: E + `http {\nserver {\nlocation / {\n${body}\n}\n}\n}\n` });
  expectError(at('limit_except GET FOO { }'), 'invalid method "FOO" in F/nginx.conf:5');
  expectError(at('limit_except get { }\nlimit_except POST { }'), '"limit_except" directive is duplicate in F/nginx.conf:6');
  expectError(at('limit_except GET {\nreturn 403;\n}'), '"return" directive is not allowed here in F/nginx.conf:6');
  expectError(at('limit_except GET {\nlocation /x { }\n}'), '"location" directive is not allowed here in F/nginx.conf:6');
  expectError({ conf: E + 'http {\nserver {\nlimit_except GET { }\n}\n}\n' }, '"limit_except" directive is not allowed here in F/nginx.conf:4');
  expectError(at('satisfy maybe;'), 'invalid value "maybe" in F/nginx.conf:5');
  expectError(at('satisfy ANY;\nsatisfy all;'), '"satisfy" directive is duplicate in F/nginx.conf:6');
  expectError(at('keepalive_disable bogus;'), 'invalid value "bogus" in F/nginx.conf:5');
  expectError(at('keepalive_disable msie6 safari none;'), 'invalid number of arguments in "keepalive_disable" directive in F/nginx.conf:5');
  assert.equal(weirError(at('keepalive_disable MSIE6 none;\nkeepalive_disable safari;\nlimit_except GET {\nallow 127.0.0.1;\ndeny all;\naccess_log off;\n}')), null);
});

// --- which error comes first: nginx handles each directive as it is read ---

test('an unknown directive near the top wins over a syntax error far below it', () => {
  expectError({ conf: E + 'http {\n  foo;\n' + '\n'.repeat(36) + '  server { listen 80\n}\n' }, 'unknown directive "foo" in F/nginx.conf:3');
  expectError({ conf: E + 'foo;\nhttp {\n' }, 'unknown directive "foo" in F/nginx.conf:2');
});

test('a directive\'s own arguments are checked when it is reached, before what follows is read', () => {
  expectError({ conf: E + 'worker_processes x;\nfoo' }, '"worker_processes" directive invalid value in F/nginx.conf:2');
  expectError({ conf: E + 'http {\n server {\n  listen 127.0.0.1:1 bogus;\n  foo;\n' }, 'invalid parameter "bogus" in F/nginx.conf:4');
  // A block directive's arguments are checked at its "{", before the block is read.
  expectError({ conf: E + 'http {\n server {\n  location a b c {\n   foo;\n' }, 'invalid number of arguments in "location" directive in F/nginx.conf:4');
});

test('the first error in file order wins, inside blocks and across includes', () => {
  expectError({ conf: E + 'http {\n server {\n  location / {\n   bogus;\n  }\n }\n}\nhttp {\n' }, 'unknown directive "bogus" in F/nginx.conf:5');
  expectError({ conf: E + 'include a.conf;\nfoo;\n', files: { 'a.conf': 'bar;\n' } }, 'unknown directive "bar" in F/a.conf:1');
  expectError({ conf: E + 'foo;\ninclude missing.conf;\n' }, 'unknown directive "foo" in F/nginx.conf:2');
  expectError({ conf: E + 'include missing.conf;\nfoo;\n' }, 'open() "F/missing.conf" failed (2: No such file or directory) in F/nginx.conf:2');
  // A block a handler reads its own way (map) still has the syntax of the file around it.
  expectError({ conf: E + 'http {\n map $a $b {\n  x y;\n  z {\n }\n }\n}\nhttp {\n' }, 'unexpected "{" in F/nginx.conf:5');
});

test('a syntax error anywhere wins over what is checked once the file is read (no "events")', () => {
  expectError({ conf: 'http {}\nfoo' }, 'unexpected end of file, expecting ";" or "}" in F/nginx.conf:2');
});

test('a duplicate default server: at the second listen that names it', () => {
  expectError({ conf: E + 'http {\n server { listen 127.0.0.1:1 default_server; }\n server {\n  listen 127.0.0.1:1 default_server;\n }\n}\n' },
    'a duplicate default server for 127.0.0.1:1 in F/nginx.conf:5');
  expectError({ conf: E + 'http {\n server { listen 1 default_server; }\n server { listen *:1 default_server; }\n}\n' },
    'a duplicate default server for 0.0.0.0:1 in F/nginx.conf:4');
});

// Registered last, so it runs after every test above (node:test runs a file's tests in
// order). Without nginx each expectError() checked weir alone: this skip says so where a
// run's summary shows it (a failure under WEIR_TEST_REQUIRE=all); with nginx it proves the
// comparisons really ran.
test('every message above was also compared with nginx -t', {
  skip: needs('nginx', haveNginx, 'apt-get install nginx, or set NGINX_BIN; without it the messages were checked against weir alone'),
}, (t) => {
  t.diagnostic(`${comparedWithNginx} messages compared with nginx -t`);
  assert.ok(comparedWithNginx >= 100, `only ${comparedWithNginx} messages were compared with nginx -t`);
});
