// Complex values (ngx_http_compile_complex_value / ngx_http_script_compile):
// literals, `$a$b`, `${a}b`, captures `$1`, and the errors, with file:line.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VariableRegistry } from '../../../src/http/variables.js';
import type { HttpRequest } from '../../../src/http/request.js';
import { ConfigError } from '../../../src/config/errors.js';
import { loadConfig } from '../../../src/config/loader.js';
import { builtinModules } from '../../../src/modules.js';

const made: string[] = [];
after(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });

const POS = { file: '/etc/weir/nginx.conf', line: 5 };

/** A registry with $a = "A", $b = "B", $host = "example.com", $empty = "", $missing not found, http_* from a table. */
function registry(): VariableRegistry {
  const vars = new VariableRegistry();
  vars.define('a', () => 'A');
  vars.define('b', () => 'B');
  vars.define('host', () => 'example.com');
  vars.define('empty', () => '');
  vars.define('missing', () => undefined);
  const headers: Record<string, string> = { user_agent: 'curl', x_y: 'z' };
  vars.definePrefix('http_', (_r, name) => headers[name]);
  return vars;
}

const request = (captures?: string[]): HttpRequest => ({ captures } as unknown as HttpRequest);

function evaluate(text: string, captures?: string[]): string {
  const vars = registry();
  const v = vars.compile(text, POS);
  vars.resolveAll();
  return v.evaluate(request(captures));
}

function fails(fn: () => unknown, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.message, message);
    return true;
  });
}

test('a literal is a constant with no variables', () => {
  const v = registry().compile('/var/www/html', POS);
  assert.equal(v.constant, '/var/www/html');
  assert.equal(v.hasVariables, false);
  assert.deepEqual(v.variableNames, []);
  assert.equal(v.evaluate(request()), '/var/www/html');
  assert.equal(v.source, '/var/www/html');
  assert.equal(registry().compile('', POS).constant, '');
});

test('$a$b: adjacent variables', () => {
  assert.equal(evaluate('$a$b'), 'AB');
  const v = registry().compile('$a$b', POS);
  assert.equal(v.constant, null);
  assert.equal(v.hasVariables, true);
  assert.deepEqual(v.variableNames, ['a', 'b']);
});

test('${a}b: braces separate a name from following letters', () => {
  assert.equal(evaluate('${a}b'), 'Ab');
  assert.equal(evaluate('x${a}${b}y'), 'xABy');
  assert.deepEqual(registry().compile('${a}b', POS).variableNames, ['a']);
});

test('a name ends at the first character outside [A-Za-z0-9_]', () => {
  assert.equal(evaluate('http://$host/path'), 'http://example.com/path');
  assert.equal(evaluate('$a-$b.$a:$b'), 'A-B.A:B');
  assert.equal(evaluate('pre $http_user_agent post'), 'pre curl post');
  assert.equal(evaluate('$http_x_y'), 'z');
});

test('not found and empty values render as empty strings', () => {
  assert.equal(evaluate('[$missing][$empty][$http_nope]'), '[][][]');
});

test('$1..$9: regex captures of the request', () => {
  assert.equal(evaluate('/img/$1/$2', ['/img/x/y', 'x', 'y']), '/img/x/y');
  assert.equal(evaluate('$1', undefined), '');
  assert.equal(evaluate('$3', ['all', 'one']), '');
});

test('$12 is capture 1 followed by "2" (only one digit names a capture)', () => {
  assert.equal(evaluate('$12', ['m', 'one']), 'one2');
});

test('$0 and ${1} are not captures in nginx: unknown variable', () => {
  const vars = registry();
  vars.compile('$0', POS);
  fails(() => vars.resolveAll(), 'unknown "0" variable in /etc/weir/nginx.conf:5');
  const vars2 = registry();
  vars2.compile('${1}', POS);
  fails(() => vars2.resolveAll(), 'unknown "1" variable in /etc/weir/nginx.conf:5');
});

test('unknown variables are reported when resolved, with the file:line of the value', () => {
  const vars = registry();
  const v = vars.compile('/x/$nope', POS);
  assert.deepEqual(v.variableNames, ['nope']);
  fails(() => vars.resolveAll(), 'unknown "nope" variable in /etc/weir/nginx.conf:5');
  const vars2 = registry();
  vars2.compile('/x/${nope}y', { file: 'F', line: 9 });
  fails(() => vars2.resolveAll(), 'unknown "nope" variable in F:9');
});

test('a variable may be compiled before it is defined (set/map later in the file)', () => {
  const vars = registry();
  const v = vars.compile('<$later>', POS);
  const slot = vars.declareSettable('later');
  vars.resolveAll();
  assert.equal(v.evaluate({ variables: { [slot]: 'L' } } as unknown as HttpRequest), '<L>');
});

test('a prefix alone is a variable of its family, as nginx (name.len >= prefix.len): $http_ resolves', () => {
  const vars = registry();
  vars.compile('$http_', POS);
  vars.resolveAll();
  vars.compile('$htt', POS);
  fails(() => vars.resolveAll(), 'unknown "htt" variable in /etc/weir/nginx.conf:5');
});

test('the closing bracket in "x" variable is missing', () => {
  fails(() => registry().compile('/x/${host', POS), 'the closing bracket in "host" variable is missing in /etc/weir/nginx.conf:5');
});

test('the closing bracket message names only the variable name (nginx stops at a non-name character)', () => {
  fails(() => registry().compile('/x/${a-b}', POS), 'the closing bracket in "a" variable is missing in /etc/weir/nginx.conf:5');
  fails(() => registry().compile('/x/${host/y', POS), 'the closing bracket in "host" variable is missing in /etc/weir/nginx.conf:5');
});

test('invalid variable name: a lone `$`, `${}`', () => {
  for (const text of ['/a$', '${}', '$-x', '$"x"']) {
    assert.throws(() => registry().compile(text, POS), (e: unknown) =>
      e instanceof ConfigError && e.detail.startsWith('invalid variable name') && e.message.endsWith(' in /etc/weir/nginx.conf:5'));
  }
});

test('invalid variable name: nginx prints no value', () => {
  fails(() => registry().compile('/a$', POS), 'invalid variable name in /etc/weir/nginx.conf:5');
});

// --- through a real config ---

function loadHttp(http: string): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-'));
  made.push(dir);
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, `events {}\nhttp {\n${http}\n}\n`);
  try {
    loadConfig({ file, prefix: dir, modules: builtinModules });
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(e.detail.replaceAll(dir + '/', 'F/'), e.position && { file: e.position.file.replace(dir + '/', 'F/'), line: e.position.line });
    throw e;
  }
}

test('config: an unknown variable names the directive\'s file:line', () => {
  // nginx finds unknown variables after the http block and prints no position;
  // weir keeps the position of the value that used it.
  fails(() => loadHttp('server {\n listen 127.0.0.1:8080;\n location / {\n  root /x/$nope;\n }\n}'), 'unknown "nope" variable in F/nginx.conf:6');
  fails(() => loadHttp('server {\n listen 127.0.0.1:8080;\n proxy_set_header X ${nope}y;\n}'), 'unknown "nope" variable in F/nginx.conf:5');
});

test('config: built-in variables, prefixes, captures, set variables are known', () => {
  assert.doesNotThrow(() => loadHttp([
    'server {',
    ' listen 127.0.0.1:8080;',
    ' location ~ ^/(a)/(b) { root /x/$1/$2$host$request_uri$http_user_agent$arg_q$cookie_c; }',
    ' location /s { set $mine v; root /y/$mine; }',
    '}',
  ].join('\n')));
});

test('config: a variable used before its `set` is known', () => {
  assert.doesNotThrow(() => loadHttp('server {\n listen 127.0.0.1:8080;\n location /a { root /x/$later; }\n location /b { set $later 1; }\n}'));
});

test('config: the closing bracket error names the directive\'s line', () => {
  fails(() => loadHttp('server {\n listen 127.0.0.1:8080;\n root "/x/${host";\n}'), 'the closing bracket in "host" variable is missing in F/nginx.conf:5');
});
