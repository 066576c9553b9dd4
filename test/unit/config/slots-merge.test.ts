// Shared setters (ngx_conf_set_*_slot): values, duplicates, invalid values'
// messages; and merging http -> server -> location (ngx_conf_merge_*_value).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfContext, ConfCycle, ModuleRegistry } from '../../../src/config/conf-context.js';
import { ConfigError } from '../../../src/config/errors.js';
import { loadConfig, coreConf, type LoadedConfig } from '../../../src/config/loader.js';
import { Ctx, type HttpConfLevel } from '../../../src/config/module.js';
import type { ConfNode } from '../../../src/config/parser.js';
import {
  inherit, setBitmask, setEnum, setFlag, setMsec, setNumber, setOffset, setSec, setSize, setString,
} from '../../../src/config/slots.js';
import { builtinModules } from '../../../src/modules.js';
import { httpBlockModule, httpCoreModule, type CoreLocConf, type CoreSrvConf, type CoreMainConf } from '../../../src/http/core-module.js';
import { proxyModule, type ProxyLocConf } from '../../../src/protocols/http/proxy-module.js';

const made: string[] = [];
after(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });

// --- setters, called directly ---

function node(name: string, ...args: string[]): ConfNode {
  return { name, args, quoted: args.map(() => false), file: '/etc/weir/nginx.conf', line: 7, block: null };
}

/** Runs a setter as ConfContext.apply does (with cf.node set); returns the warnings it gave. */
function run(n: ConfNode, set: (cf: ConfContext, n: ConfNode) => void): string[] {
  const warnings: string[] = [];
  const cf = new ConfContext(new ModuleRegistry([]), { prefix: '/p', confPrefix: '/p' }, [], Ctx.Main, null, new Map(), new ConfCycle((m) => warnings.push(m)));
  cf.node = n;
  set(cf, n);
  return warnings;
}

function fails(fn: () => void, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.message, message);
    return true;
  });
}

interface Conf {
  flag?: boolean; ms?: number; sec?: number; size?: number; off?: number; num?: number; str?: string;
  mode?: 'a' | 'b'; mask?: number;
}

test('setFlag: on/off in any case; anything else names the directive and the choices', () => {
  const c: Conf = {};
  run(node('etag', 'ON'), (cf, n) => setFlag(cf, n, c, 'flag'));
  assert.equal(c.flag, true);
  const d: Conf = {};
  run(node('etag', 'off'), (cf, n) => setFlag(cf, n, d, 'flag'));
  assert.equal(d.flag, false);
  fails(() => run(node('etag', 'yes'), (cf, n) => setFlag(cf, n, {} as Conf, 'flag')),
    'invalid value "yes" in "etag" directive, it must be "on" or "off" in /etc/weir/nginx.conf:7');
});

test('setMsec / setSec: milliseconds; seconds-only refuses ms', () => {
  const c: Conf = {};
  run(node('send_timeout', '1m30s'), (cf, n) => setMsec(cf, n, c, 'ms'));
  run(node('x_sec', '90'), (cf, n) => setSec(cf, n, c, 'sec'));
  assert.deepEqual(c, { ms: 90_000, sec: 90_000 });
  fails(() => run(node('send_timeout', '10x'), (cf, n) => setMsec(cf, n, {} as Conf, 'ms')),
    '"send_timeout" directive invalid value in /etc/weir/nginx.conf:7');
  fails(() => run(node('x_sec', '500ms'), (cf, n) => setSec(cf, n, {} as Conf, 'sec')),
    '"x_sec" directive invalid value in /etc/weir/nginx.conf:7');
});

test('setSize / setOffset / setNumber / setString', () => {
  const c: Conf = {};
  run(node('a', '8k'), (cf, n) => setSize(cf, n, c, 'size'));
  run(node('b', '1g'), (cf, n) => setOffset(cf, n, c, 'off'));
  run(node('c', '42'), (cf, n) => setNumber(cf, n, c, 'num'));
  run(node('d', 'text'), (cf, n) => setString(cf, n, c, 'str'));
  assert.deepEqual(c, { size: 8192, off: 1024 ** 3, num: 42, str: 'text' });
  fails(() => run(node('a', '1g'), (cf, n) => setSize(cf, n, {} as Conf, 'size')), '"a" directive invalid value in /etc/weir/nginx.conf:7');
  fails(() => run(node('b', '1t'), (cf, n) => setOffset(cf, n, {} as Conf, 'off')), '"b" directive invalid value in /etc/weir/nginx.conf:7');
  fails(() => run(node('c', '1k'), (cf, n) => setNumber(cf, n, {} as Conf, 'num')), '"c" directive invalid number in /etc/weir/nginx.conf:7');
  fails(() => run(node('c', '-1'), (cf, n) => setNumber(cf, n, {} as Conf, 'num')), '"c" directive invalid number in /etc/weir/nginx.conf:7');
});

test('every setter but setBitmask reports a second value as "x" directive is duplicate', () => {
  const cases: Array<[ConfNode, (cf: ConfContext, n: ConfNode, c: Conf) => void]> = [
    [node('etag', 'on'), (cf, n, c) => setFlag(cf, n, c, 'flag')],
    [node('send_timeout', '1s'), (cf, n, c) => setMsec(cf, n, c, 'ms')],
    [node('x_sec', '1s'), (cf, n, c) => setSec(cf, n, c, 'sec')],
    [node('client_body_buffer_size', '1k'), (cf, n, c) => setSize(cf, n, c, 'size')],
    [node('max_temp', '1g'), (cf, n, c) => setOffset(cf, n, c, 'off')],
    [node('keepalive_requests', '5'), (cf, n, c) => setNumber(cf, n, c, 'num')],
    [node('default_type', 'a/b'), (cf, n, c) => setString(cf, n, c, 'str')],
    [node('mode', 'a'), (cf, n, c) => setEnum(cf, n, c, 'mode', ['a', 'b'] as const)],
  ];
  for (const [n, set] of cases) {
    const c: Conf = {};
    run(n, (cf, nn) => set(cf, nn, c));
    fails(() => run(n, (cf, nn) => set(cf, nn, c)), `"${n.name}" directive is duplicate in /etc/weir/nginx.conf:7`);
  }
});

test('a value that is set to off/0/"" still counts for duplicates (undefined is unset)', () => {
  const c: Conf = {};
  run(node('etag', 'off'), (cf, n) => setFlag(cf, n, c, 'flag'));
  run(node('n', '0'), (cf, n) => setNumber(cf, n, c, 'num'));
  run(node('s', ''), (cf, n) => setString(cf, n, c, 'str'));
  fails(() => run(node('etag', 'on'), (cf, n) => setFlag(cf, n, c, 'flag')), '"etag" directive is duplicate in /etc/weir/nginx.conf:7');
  fails(() => run(node('n', '1'), (cf, n) => setNumber(cf, n, c, 'num')), '"n" directive is duplicate in /etc/weir/nginx.conf:7');
  fails(() => run(node('s', 'x'), (cf, n) => setString(cf, n, c, 'str')), '"s" directive is duplicate in /etc/weir/nginx.conf:7');
});

test('an invalid value leaves the conf untouched; a duplicate is reported before the value is read (nginx slots)', () => {
  const c: Conf = {};
  fails(() => run(node('send_timeout', 'x'), (cf, n) => setMsec(cf, n, c, 'ms')), '"send_timeout" directive invalid value in /etc/weir/nginx.conf:7');
  assert.equal(c.ms, undefined);
  run(node('send_timeout', '1s'), (cf, n) => setMsec(cf, n, c, 'ms'));
  // ngx_conf_set_msec_slot checks NGX_CONF_UNSET_MSEC first (checked: worker_shutdown_timeout 1s; worker_shutdown_timeout x;).
  fails(() => run(node('send_timeout', 'x'), (cf, n) => setMsec(cf, n, c, 'ms')), '"send_timeout" directive is duplicate in /etc/weir/nginx.conf:7');
});

test('setBitmask: a repeated directive adds its words (ngx_conf_set_bitmask_slot), a word already set is a warning', () => {
  const c: Conf = {};
  const bits = { x: 1, y: 2, z: 4 };
  const warnings = run(node('mask', 'x'), (cf, n) => setBitmask(cf, n, c, 'mask', bits));
  assert.deepEqual(warnings, []);
  assert.deepEqual(run(node('mask', 'y', 'x'), (cf, n) => setBitmask(cf, n, c, 'mask', bits)), ['duplicate value "x" in /etc/weir/nginx.conf:7']);
  assert.equal(c.mask, 3);
});

test('setEnum and setBitmask: values', () => {
  const c: Conf = {};
  run(node('mode', 'b'), (cf, n) => setEnum(cf, n, c, 'mode', ['a', 'b'] as const));
  run(node('mask', 'x', 'z'), (cf, n) => setBitmask(cf, n, c, 'mask', { x: 1, y: 2, z: 4, off: 0 }));
  assert.deepEqual(c, { mode: 'b', mask: 5 });
});

test('setEnum: an invalid value is `invalid value "x"`, as ngx_conf_set_enum_slot', () => {
  fails(() => run(node('mode', 'c'), (cf, n) => setEnum(cf, n, {} as Conf, 'mode', ['a', 'b'] as const)),
    'invalid value "c" in /etc/weir/nginx.conf:7');
});

test('setBitmask: an invalid value is `invalid value "x"`, as ngx_conf_set_bitmask_slot', () => {
  fails(() => run(node('proxy_next_upstream', 'bogus'), (cf, n) => setBitmask(cf, n, {} as Conf, 'mask', { error: 2 })),
    'invalid value "bogus" in /etc/weir/nginx.conf:7');
});

test('inherit: child value, else parent value, else the default', () => {
  const fallback = 9;
  const a: Conf = { num: 1 }, pa: Conf = { num: 2 };
  inherit(a, pa, 'num', fallback);
  assert.equal(a.num, 1);
  const b: Conf = {}, pb: Conf = { num: 2 };
  inherit(b, pb, 'num', fallback);
  assert.equal(b.num, 2);
  const c: Conf = {}, pc: Conf = {};
  inherit(c, pc, 'num', fallback);
  assert.equal(c.num, 9);
  const d: Conf = { flag: false }, pd: Conf = { flag: true };
  inherit(d, pd, 'flag', true);
  assert.equal(d.flag, false, 'false is a value, not unset');
});

// --- merging, through a real config ---

function load(http: string): LoadedConfig {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-'));
  made.push(dir);
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, `events {}\nhttp {\n${http}\n}\n`);
  return loadConfig({ file, prefix: dir, modules: builtinModules });
}

interface Levels { http: HttpConfLevel; servers: HttpConfLevel[]; locations: HttpConfLevel[][] }
function levels(loaded: LoadedConfig): Levels {
  const http = coreConf(loaded, httpBlockModule).level!;
  const main = http.main[loaded.registry.indexOf(httpCoreModule)] as CoreMainConf;
  const flat = (entries: CoreMainConf['servers'][number]['locations']): HttpConfLevel[] =>
    entries.flatMap((e) => [e.level, ...flat(e.children)]);
  return { http, servers: main.servers.map((s) => s.level), locations: main.servers.map((s) => flat(s.locations)) };
}
function coreLoc(loaded: LoadedConfig, level: HttpConfLevel): CoreLocConf {
  return level.loc[loaded.registry.indexOf(httpCoreModule)] as CoreLocConf;
}
function coreSrv(loaded: LoadedConfig, level: HttpConfLevel): CoreSrvConf {
  return level.srv[loaded.registry.indexOf(httpCoreModule)] as CoreSrvConf;
}
function proxyLoc(loaded: LoadedConfig, level: HttpConfLevel): ProxyLocConf {
  return level.loc[loaded.registry.indexOf(proxyModule)] as ProxyLocConf;
}

test('merge: a value set at http level is inherited by servers and locations', () => {
  const l = load('keepalive_timeout 5s;\nclient_max_body_size 2m;\netag off;\nserver {\n listen 127.0.0.1:8080;\n location / { }\n location /a { location /a/b { } }\n}');
  const lv = levels(l);
  for (const level of [lv.servers[0], ...lv.locations[0]]) {
    const c = coreLoc(l, level);
    assert.equal(c.keepaliveTimeout, 5000);
    assert.equal(c.clientMaxBodySize, 2 * 1024 * 1024);
    assert.equal(c.etag, false);
  }
  assert.equal(lv.locations[0].length, 3);
});

test('merge: a server value overrides http for that server and its locations only', () => {
  const l = load('keepalive_timeout 5s;\nserver {\n listen 127.0.0.1:8080;\n keepalive_timeout 6s;\n location / { }\n}\nserver {\n listen 127.0.0.1:8081;\n location / { }\n}');
  const lv = levels(l);
  assert.equal(coreLoc(l, lv.servers[0]).keepaliveTimeout, 6000);
  assert.equal(coreLoc(l, lv.locations[0][0]).keepaliveTimeout, 6000);
  assert.equal(coreLoc(l, lv.servers[1]).keepaliveTimeout, 5000);
  assert.equal(coreLoc(l, lv.locations[1][0]).keepaliveTimeout, 5000);
});

test('merge: a location value overrides its server; nested locations inherit from their parent location', () => {
  const l = load('server {\n listen 127.0.0.1:8080;\n send_timeout 10s;\n location /a {\n  send_timeout 20s;\n  location /a/b { }\n }\n location /c { }\n}');
  const [a, ab, c] = levels(l).locations[0];
  assert.equal(coreLoc(l, a).sendTimeout, 20_000);
  assert.equal(coreLoc(l, ab).sendTimeout, 20_000);
  assert.equal(coreLoc(l, c).sendTimeout, 10_000);
});

test('merge: unset everywhere -> nginx default', () => {
  const l = load('server {\n listen 127.0.0.1:8080;\n location / { }\n}');
  const lv = levels(l);
  const loc = coreLoc(l, lv.locations[0][0]);
  assert.equal(loc.keepaliveTimeout, 75_000);
  assert.equal(loc.sendTimeout, 60_000);
  assert.equal(loc.clientMaxBodySize, 1024 * 1024);
  assert.equal(loc.keepaliveRequests, 1000);
  assert.equal(loc.etag, true);
  assert.equal(loc.defaultType, 'text/plain');
  assert.equal(loc.serverTokens, 'on');
  assert.deepEqual(loc.errorPages, []);
  const srv = coreSrv(l, lv.servers[0]);
  assert.equal(srv.clientHeaderTimeout, 60_000);
  assert.equal(srv.clientHeaderBufferSize, 1024);
  assert.equal(srv.mergeSlashes, true);
});

test('merge: server-level (srv) values inherit from http', () => {
  const l = load('client_header_timeout 7s;\nmerge_slashes off;\nserver {\n listen 127.0.0.1:8080;\n}\nserver {\n listen 127.0.0.1:8081;\n client_header_timeout 8s;\n}');
  const lv = levels(l);
  assert.equal(coreSrv(l, lv.servers[0]).clientHeaderTimeout, 7000);
  assert.equal(coreSrv(l, lv.servers[0]).mergeSlashes, false);
  assert.equal(coreSrv(l, lv.servers[1]).clientHeaderTimeout, 8000);
});

test('merge: the same directive at different levels is not a duplicate', () => {
  assert.doesNotThrow(() => load('keepalive_timeout 1s;\nserver {\n listen 127.0.0.1:8080;\n keepalive_timeout 2s;\n location / { keepalive_timeout 3s; }\n}'));
});

test('merge: error_page lists: a level with any entry replaces the parent\'s list', () => {
  const l = load([
    'error_page 404 /404.html;',
    'error_page 500 502 /50x.html;',
    'server {',
    ' listen 127.0.0.1:8080;',
    ' location /inherit { }',
    ' location /own { error_page 403 =200 /403.html; }',
    '}',
    'server {',
    ' listen 127.0.0.1:8081;',
    ' error_page 503 /503.html;',
    ' location / { }',
    '}',
  ].join('\n'));
  const lv = levels(l);
  const pages = (level: HttpConfLevel): Array<[number[], number, string]> =>
    coreLoc(l, level).errorPages!.map((p) => [[...p.codes], p.overwrite, p.uri.source]);
  const http = [[[404], 0, '/404.html'], [[500, 502], 0, '/50x.html']];
  assert.deepEqual(pages(lv.servers[0]), http);
  assert.deepEqual(pages(lv.locations[0][0]), http);
  assert.deepEqual(pages(lv.locations[0][1]), [[[403], 200, '/403.html']]);
  assert.deepEqual(pages(lv.servers[1]), [[[503], 0, '/503.html']]);
  assert.deepEqual(pages(lv.locations[1][0]), [[[503], 0, '/503.html']]);
});

test('merge: proxy_set_header lists: a level with any entry replaces the parent\'s list', () => {
  const l = load([
    'proxy_set_header X-A a;',
    'proxy_set_header X-B $host;',
    'server {',
    ' listen 127.0.0.1:8080;',
    ' location /inherit { }',
    ' location /own { proxy_set_header X-C c; }',
    ' location /nested { proxy_set_header X-D d; location /nested/x { } }',
    '}',
  ].join('\n'));
  const [inh, own, nested, nestedX] = levels(l).locations[0];
  const names = (level: HttpConfLevel): string[] => proxyLoc(l, level).setHeaders!.map(([n, v]) => `${n}: ${v.source}`);
  assert.deepEqual(names(inh), ['X-A: a', 'X-B: $host']);
  assert.deepEqual(names(own), ['X-C: c']);
  assert.deepEqual(names(nested), ['X-D: d']);
  assert.deepEqual(names(nestedX), ['X-D: d']);
});

test('merge: error_page and proxy_set_header may repeat at one level (lists, not duplicates)', () => {
  assert.doesNotThrow(() => load('error_page 404 /a;\nerror_page 404 /b;\nproxy_set_header A b;\nproxy_set_header A c;'));
});

test('directive values through real directives: keepalive_timeout with a header timeout', () => {
  const l = load('keepalive_timeout 65 30s;\nserver {\n listen 127.0.0.1:8080;\n}');
  const c = coreLoc(l, levels(l).servers[0]);
  assert.equal(c.keepaliveTimeout, 65_000);
  assert.equal(c.keepaliveHeaderTimeout, 30_000);
});

test('client_max_body_size accepts g (ngx_conf_set_off_slot)', () => {
  const l = load('client_max_body_size 1g;\nserver {\n listen 127.0.0.1:8080;\n}');
  assert.equal(coreLoc(l, levels(l).servers[0]).clientMaxBodySize, 1024 ** 3);
});

// nginx declares proxy_max_temp_file_size with ngx_conf_set_size_slot (1.22 and every later source checked;
// docs: `proxy_max_temp_file_size size;`), so `g` is refused.
test('proxy_max_temp_file_size refuses g (ngx_conf_set_size_slot)', () => {
  assert.throws(() => load('proxy_max_temp_file_size 1g;'), { message: /"proxy_max_temp_file_size" directive invalid value in .*nginx\.conf:3$/ });
});
