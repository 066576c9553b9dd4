/**
 * map (exact, hostnames wildcards, regex with captures, default, include,
 * variables in values, caching vs volatile) and add_header (status filter,
 * always, inheritance, add_header_inherit) against a running weir.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, startWithLogs, type Weir } from '../helpers/in-process.js';

let w: Weir;

const CONF = `
events {}
http {
  access_log off;
  map $http_x_k $exact {
    default     dflt;
    alpha       A;
    "Beta"      B;
    \\default   escaped-default;
    ~^re-(\\d+)$ "regex $1";
    ~*^CI-(?<tail>.+) "ci $tail";
    include     map-extra.conf;
  }
  map $http_x_h $host_kind {
    hostnames;
    default             none;
    example.com         exact;
    *.example.com       head;
    .example.org        dot;
    www.example.*       tail;
  }
  map $uri $from_var {
    /a    "uri is $uri";
  }
  map $http_x_n $nodefault { on yes; }
  map $s $cached { default "c-$s"; }
  map $s $vol { volatile; default "v-$s"; }

  add_header X-Http http-level;
  server {
    listen 127.0.0.1:%PORT%;
    server_name localhost;

    location /map/ { return 200 "[$exact]"; }
    location /host/ { return 200 "[$host_kind]"; }
    location /a { return 200 "[$from_var]"; }
    location /nd/ { return 200 "[$nodefault]"; }
    location /cache/ {
      set $s one; set $c1 $cached; set $v1 $vol;
      set $s two;
      return 200 "$c1|$cached|$v1|$vol";
    }

    location /inherit/ { return 200 "x"; }
    location /own/ { add_header X-Own own; return 200 "x"; }
    location /status404/ { add_header X-Plain plain; add_header X-Always yes always; return 404; }
    location /status302/ { add_header X-Plain plain; return 302 /x; }
    location /empty/ { add_header X-Empty $http_x_none; add_header X-Var "v=$uri"; return 200 "x"; }
    location /merge/ { add_header_inherit merge; add_header X-Own own; return 200 "x"; }
    location /off/ { add_header_inherit off; return 200 "x"; }
  }
}
`;

before(async () => {
  w = await startWithLogs(CONF, { 'map-extra.conf': 'from-include included;\n' });
});
after(async () => { await w.stop(); });

const k = (v: string) => ({ headers: [`X-K: ${v}`] });

test('map: exact keys are case-insensitive; default; escaped default; include', async () => {
  assert.equal((await request(w.port, '/map/', k('alpha'))).text, '[A]');
  assert.equal((await request(w.port, '/map/', k('ALPHA'))).text, '[A]');
  assert.equal((await request(w.port, '/map/', k('beta'))).text, '[B]');
  assert.equal((await request(w.port, '/map/', k('zzz'))).text, '[dflt]');
  assert.equal((await request(w.port, '/map/')).text, '[dflt]');
  assert.equal((await request(w.port, '/map/', k('default'))).text, '[escaped-default]');
  assert.equal((await request(w.port, '/map/', k('from-include'))).text, '[included]');
});

test('map: regexes in order with captures and named captures', async () => {
  assert.equal((await request(w.port, '/map/', k('re-42'))).text, '[regex 42]');
  assert.equal((await request(w.port, '/map/', k('RE-42'))).text, '[dflt]');
  assert.equal((await request(w.port, '/map/', k('ci-Foo'))).text, '[ci Foo]');
});

test('map hostnames: exact, *.x, .x, x.*, trailing dot', async () => {
  const h = (v: string) => ({ headers: [`X-H: ${v}`] });
  assert.equal((await request(w.port, '/host/', h('example.com'))).text, '[exact]');
  assert.equal((await request(w.port, '/host/', h('example.com.'))).text, '[exact]');
  assert.equal((await request(w.port, '/host/', h('a.b.example.com'))).text, '[head]');
  assert.equal((await request(w.port, '/host/', h('example.org'))).text, '[dot]');
  assert.equal((await request(w.port, '/host/', h('x.example.org'))).text, '[dot]');
  assert.equal((await request(w.port, '/host/', h('www.example.net'))).text, '[tail]');
  assert.equal((await request(w.port, '/host/', h('other.net'))).text, '[none]');
});

test('map: values with variables; no default gives an empty value', async () => {
  assert.equal((await request(w.port, '/a')).text, '[uri is /a]');
  assert.equal((await request(w.port, '/nd/', { headers: ['X-N: off'] })).text, '[]');
});

test('map: cached per request unless volatile', async () => {
  assert.equal((await request(w.port, '/cache/')).text, 'c-one|c-one|v-one|v-two');
});

test('add_header: inherited from http when the location has none', async () => {
  const r = await request(w.port, '/inherit/');
  assert.equal(r.headers['x-http'], 'http-level');
});

test('add_header: a level with its own replaces the parent list', async () => {
  const r = await request(w.port, '/own/');
  assert.equal(r.headers['x-own'], 'own');
  assert.equal(r.headers['x-http'], undefined);
});

test('add_header: only for 2xx/3xx listed statuses unless always', async () => {
  const a = await request(w.port, '/status404/');
  assert.equal(a.status, 404);
  assert.equal(a.headers['x-plain'], undefined);
  assert.equal(a.headers['x-always'], 'yes');
  const b = await request(w.port, '/status302/');
  assert.equal(b.status, 302);
  assert.equal(b.headers['x-plain'], 'plain');
});

test('add_header: an empty value adds nothing; variables evaluated', async () => {
  const r = await request(w.port, '/empty/');
  assert.equal(r.headers['x-empty'], undefined);
  assert.equal(r.headers['x-var'], 'v=/empty/');
});

test('add_header_inherit merge / off', async () => {
  const a = await request(w.port, '/merge/');
  assert.equal(a.headers['x-http'], 'http-level');
  assert.equal(a.headers['x-own'], 'own');
  const b = await request(w.port, '/off/');
  assert.equal(b.headers['x-http'], undefined);
});
