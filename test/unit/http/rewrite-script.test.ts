/**
 * The rewrite script compiler and helpers: replacement splitting, redirect
 * unescaping, config errors shaped like nginx's, log escaping, time formats,
 * query/cookie parsing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../../src/config/loader.js';
import { builtinModules } from '../../../src/modules.js';
import { unescapeRedirect } from '../../../src/http/rewrite-script.js';
import { escapeDefault, escapeJson, LogFormat } from '../../../src/http/access-log-module.js';
import type { HttpRequest } from '../../../src/http/request.js';
import { VariableRegistry } from '../../../src/http/variables.js';
import { cookieValue, formatMsec, formatTimeIso8601, formatTimeLocal, queryArg } from '../../../src/http/variables-core.js';

function load(body: string): void {
  loadConfigText(`events {} http { access_log off; server { listen 127.0.0.1:1; ${body} } }`, '/tmp', builtinModules);
}

function emerg(body: string): string {
  try { load(body); } catch (e) { return (e as Error).message; }
  return '';
}

test('config errors read like nginx', () => {
  assert.match(emerg('location / { return abc; }'), /^invalid return code "abc" in inline:1$/);
  assert.match(emerg('location / { return 1000; }'), /invalid return code "1000"/);
  assert.match(emerg('location / { rewrite ^ /x bogus; }'), /invalid parameter "bogus"/);
  assert.match(emerg('location / { rewrite ^ ""; }'), /empty replacement/);
  assert.match(emerg('location / { rewrite "(" /x; }'), /pcre2_compile\(\) failed/);
  assert.match(emerg('location / { set x 1; }'), /invalid variable name "x"/);
  assert.match(emerg('location / { set $uri 1; }'), /the duplicate "uri" variable/);
  assert.match(emerg('location / { if $a { } }'), /invalid condition "\$a"/);
  assert.match(emerg('location / { if ($a ? b) { } }'), /unexpected "\?" in condition/);
  assert.match(emerg('location / { if (-q /x) { } }'), /invalid condition "-q"/);
  assert.match(emerg('location / { if ($a) { if ($b) { } } }'), /"if" directive is not allowed here/);
  assert.match(emerg('location / { return 200 $nosuch; }'), /unknown "nosuch" variable/);
  assert.equal(emerg('location / { if ($a) { return 200; } set $a 1; }'), '');
});

test('map config errors', () => {
  const e = (m: string): string => {
    try { loadConfigText(`events {} http { ${m} }`, '/tmp', builtinModules); } catch (err) { return (err as Error).message; }
    return '';
  };
  assert.match(e('map $uri $x { a 1; a 2; }'), /conflicting parameter "a"/);
  assert.match(e('map $uri $x { default 1; default 2; }'), /duplicate default map parameter/);
  assert.match(e('map $uri $x { a 1 2; }'), /invalid number of the map parameters/);
  assert.match(e('map $uri x { a 1; }'), /invalid variable name "x"/);
  assert.match(e('map $uri $host { a 1; }'), /the duplicate "host" variable/);
  assert.match(e('map $uri $x { hostnames; a*b 1; }'), /invalid hostname or wildcard "a\*b"/);
});

test('log_format / access_log errors', () => {
  const e = (m: string): string => {
    try { loadConfigText(`events {} http { ${m} }`, '/tmp', builtinModules); } catch (err) { return (err as Error).message; }
    return '';
  };
  assert.match(e('access_log logs/a.log nope;'), /unknown log format "nope"/);
  assert.match(e('log_format combined "$uri";'), /duplicate "log_format" name "combined"/);
  assert.match(e('log_format f escape=xml "$uri";'), /unknown log format escaping "xml"/);
  assert.match(e('log_format f "$nosuch"; access_log logs/a f;'), /unknown "nosuch" variable/);
  assert.match(e('access_log logs/a combined buffer=0;'), /invalid buffer size "0"/);
  assert.match(e('access_log logs/a combined gzip=0;'), /invalid compression level "0"/);
  assert.equal(e('access_log syslog:server=127.0.0.1 combined;'), '');
  assert.match(e('access_log syslog:server=127.0.0.1 combined buffer=4k;'), /logs to syslog cannot be buffered/);
});

test('unescapeRedirect keeps %XX of controls and `%` and below, stops at ?', () => {
  assert.equal(unescapeRedirect('/a%41b'), '/aAb');
  assert.equal(unescapeRedirect('/a%20b%25c'), '/a%20b%25c');
  assert.equal(unescapeRedirect('/a%41?x=%41'), '/aA?x=%41');
  assert.equal(unescapeRedirect('/plain'), '/plain');
});

test('log escaping', () => {
  assert.equal(escapeDefault('plain'), 'plain');
  assert.equal(escapeDefault('a"b\\c\x01\x7f\xff'), 'a\\x22b\\x5Cc\\x01\\x7F\\xFF');
  assert.equal(escapeJson('a"b\\c\n\r\t\b\f\x01\xe9'), 'a\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\xe9');
  assert.equal(escapeDefault('€'), '\\xE2\\x82\\xAC');
});

test('LogFormat parses $name, ${name} and literals', () => {
  const registry = new VariableRegistry();
  const looked: string[] = [];
  for (const [name, value] of [['uri', '/p"q'], ['status', '200'], ['uriX', 'wrong'], ['1', 'one']] as const) {
    registry.define(name, () => { looked.push(name); return value; });
  }
  registry.define('empty', () => undefined);
  // The getters above read nothing from the request: any object stands for it.
  const r = {} as unknown as HttpRequest;
  const f = new LogFormat('t', 'default', '[${uri}x] $status $1 $empty%');
  f.resolve(registry);
  // `${uri}x` is $uri then "x" (not $uriX); `$1` is looked up by name (no captures); an unset
  // value is "-"; the default escaping applies to values, not to literals.
  assert.equal(f.render(r), '[/p\\x22qx] 200 one -%\n');
  assert.deepEqual(looked, ['uri', 'status', '1']);
  const j = new LogFormat('j', 'json', '{"u":"$uri"}');
  j.resolve(registry);
  assert.equal(j.render(r), '{"u":"/p\\"q"}\n');
  assert.throws(() => new LogFormat('t', 'default', '${uri'), /closing bracket/);
  assert.throws(() => new LogFormat('t', 'default', '$nosuch').resolve(registry), /unknown "nosuch" variable/);
});

test('time formats', () => {
  const d = new Date(2026, 10, 21, 10, 0, 5);
  assert.match(formatTimeLocal(d), /^21\/Nov\/2026:10:00:05 [+-]\d{4}$/);
  assert.match(formatTimeIso8601(d), /^2026-11-21T10:00:05[+-]\d{2}:\d{2}$/);
  assert.equal(formatMsec(1700000000123), '1700000000.123');
  assert.equal(formatMsec(1700000000005), '1700000000.005');
});

test('query args and cookies', () => {
  assert.equal(queryArg('a=1&B=2&c', 'b'), '2');
  assert.equal(queryArg('a=1&c', 'c'), '');
  assert.equal(queryArg('ab=1', 'a'), undefined);
  assert.equal(queryArg('', 'a'), undefined);
  assert.equal(cookieValue('a=1; Sess=xyz', 'sess'), 'xyz');
  assert.equal(cookieValue('a=1', 'b'), undefined);
});
