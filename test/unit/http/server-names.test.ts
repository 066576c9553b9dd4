// server_name priority: exact, longest leading wildcard, longest trailing wildcard, regex, default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerNames, ServerNameConfigError } from '../../../src/http/server-names.js';
import { tmpdir } from 'node:os';
import { loadConfigText } from '../../../src/config/loader.js';
import { builtinModules } from '../../../src/modules.js';

const servers = new ServerNames<string>([
  { payload: 'first', names: ['first.test'] },
  { payload: 'exact', names: ['www.example.com', 'Mixed.Example.COM'] },
  { payload: 'star', names: ['*.example.com'] },
  { payload: 'deep', names: ['*.sub.example.com'] },
  { payload: 'dot', names: ['.example.org'] },
  { payload: 'tail', names: ['www.*'] },
  { payload: 'tail-long', names: ['www.example.*'] },
  { payload: 'regex1', names: ['~^(?<sub>.+)\\.example\\.net$'] },
  { payload: 'regex2', names: ['~^api\\.(.+)$'] },
  { payload: 'empty', names: [''] },
  { payload: 'def', names: ['def.test'], defaultServer: true },
]);

const table: [string, string, string | null][] = [
  ['www.example.com', 'exact', 'www.example.com'],
  ['mixed.example.com', 'exact', 'Mixed.Example.COM'],
  ['a.example.com', 'star', '*.example.com'],
  ['a.b.example.com', 'star', '*.example.com'],
  ['x.sub.example.com', 'deep', '*.sub.example.com'],
  ['sub.example.com', 'star', '*.example.com'],
  ['example.com', 'def', null],
  ['example.org', 'dot', '.example.org'],
  ['a.example.org', 'dot', '.example.org'],
  ['www.example.org', 'dot', '.example.org'], // leading wildcard beats trailing
  ['www.example.net', 'tail-long', 'www.example.*'], // trailing beats regex, longest wins
  ['www.foo.net', 'tail', 'www.*'],
  ['www', 'def', null],
  ['shop.example.net', 'regex1', '~^(?<sub>.+)\\.example\\.net$'],
  ['api.example.net', 'regex1', '~^(?<sub>.+)\\.example\\.net$'], // first regex in order
  ['api.other.io', 'regex2', '~^api\\.(.+)$'],
  ['', 'empty', ''],
  ['unknown.test', 'def', null],
  ['first.test', 'first', 'first.test'],
  ['notexample.com', 'def', null],
];

test('server_name priority table', () => {
  for (const [host, payload, name] of table) {
    const m = servers.find(host);
    assert.equal(m.payload, payload, host);
    assert.equal(m.name, name, host);
  }
});

test('regex captures', () => {
  const m = servers.find('shop.example.net');
  assert.equal(m.captures?.groups?.sub, 'shop');
  assert.equal(m.captures?.[1], 'shop');
  assert.equal(servers.find('api.other.io').captures?.[1], 'other.io');
});

test('default server: first unless default_server', () => {
  const s = new ServerNames<number>([{ payload: 1, names: ['a'] }, { payload: 2, names: ['b'] }]);
  assert.equal(s.find('zzz').payload, 1);
  assert.equal(s.find('').payload, 1);
  assert.throws(() => new ServerNames<number>([
    { payload: 1, names: [], defaultServer: true }, { payload: 2, names: [], defaultServer: true },
  ], '127.0.0.1:8080'), { message: 'a duplicate default server for 127.0.0.1:8080' });
});

test('conflicts keep the first and warn; bad wildcards are config errors', () => {
  const s = new ServerNames<number>([
    { payload: 1, names: ['example.com', '*.example.com'] },
    { payload: 2, names: ['.example.com', 'EXAMPLE.com'] },
  ]);
  assert.equal(s.find('example.com').payload, 1);
  assert.equal(s.find('a.example.com').payload, 1);
  assert.deepEqual(s.warnings, [
    'conflicting server name ".example.com" on 0.0.0.0:80, ignored',
    'conflicting server name ".example.com" on 0.0.0.0:80, ignored',
    'conflicting server name "example.com" on 0.0.0.0:80, ignored',
  ]);
  for (const bad of ['*', '*.example.*', 'www.*.example.com', 'ex*ample.com', '*example.com', '.']) {
    assert.throws(() => new ServerNames<number>([{ payload: 1, names: [bad] }]), ServerNameConfigError, bad);
  }
});

test('a regex is caseless only when it has an uppercase letter, as in nginx', () => {
  const s = new ServerNames<string>([
    { payload: 'default', names: ['default.test'] },
    { payload: 'upper', names: ['~^[^A-Z]+\\.upper$'] },
    { payload: 'lower', names: ['~^[a-z]+\\.lower$'] },
  ]);
  // Caseless, `[^A-Z]` also excludes a-z, as PCRE2_CASELESS makes it.
  assert.equal(s.find('abc.upper').payload, 'default');
  assert.equal(s.find('123.upper').payload, 'upper');
  assert.equal(s.find('abc.lower').payload, 'lower');
});

test('a name with "/" is accepted with nginx\'s warning', () => {
  const s = new ServerNames<string>([{ payload: 'a', names: ['a/b'], file: 'f', line: 3 }]);
  assert.deepEqual(s.warnings, ['server name "a/b" has suspicious symbols in f:3']);
});

test('server_name errors nginx gives at config time', () => {
  const conf = (name: string): string => `events {}\nhttp { server { server_name ${name}; } }\n`;
  for (const [name, message] of [
    ['*example.com', 'server name "*example.com" is invalid'],
    ['.', 'server name "." is invalid'],
    ['~', 'empty regex in server name "~"'],
    ['"~^(a"', 'pcre2_compile() failed: missing closing parenthesis in "^(a"'],
    ['~^(?>a)', 'pcre2_compile() failed: an atomic group is not supported by weir in "^(?>a)" at "(?>a)"'],
  ] as const) {
    assert.throws(() => loadConfigText(conf(name), tmpdir(), builtinModules), { message: `${message} in inline:2` }, name);
  }
});
