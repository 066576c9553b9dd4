/**
 * proxy_redirect, proxy_cookie_domain/_path and proxy_cookie_flags as nginx
 * compiles, inherits and applies them (ngx_http_proxy_redirect, _cookie_*,
 * _merge_loc_conf, _rewrite_*): rules read from a config, applied to values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coreConf, loadConfigText, type LoadedConfig } from '../../../src/config/loader.js';
import { builtinModules } from '../../../src/modules.js';
import { httpBlockModule, httpCoreModule, type CoreLocConf, type CoreMainConf } from '../../../src/http/core-module.js';
import type { HttpConfLevel } from '../../../src/config/module.js';
import type { HttpRequest } from '../../../src/http/request.js';
import { proxyModule, type ProxyLocConf } from '../../../src/protocols/http/proxy-module.js';
import { rewriteValue } from '../../../src/protocols/http/proxy-rewrite.js';
import { rewriteSetCookie } from '../../../src/protocols/http/cookie-rewrite.js';

function load(server: string, http = ''): LoadedConfig {
  return loadConfigText(`events {} http { access_log off; ${http} server { listen 127.0.0.1:1; server_name localhost; ${server} } }`, '/tmp', builtinModules);
}

function emerg(server: string, http = ''): string {
  try { load(server, http); } catch (e) { return (e as Error).message; }
  return '';
}

/** The merged proxy conf of each location, by name; '' is the server level. */
function confs(l: LoadedConfig): Map<string, ProxyLocConf> {
  const http = coreConf(l, httpBlockModule).level!;
  const main = http.main[l.registry.indexOf(httpCoreModule)] as CoreMainConf;
  const out = new Map<string, ProxyLocConf>();
  const add = (level: HttpConfLevel, name: string): void => { out.set(name, level.loc[l.registry.indexOf(proxyModule)] as ProxyLocConf); };
  const walk = (entries: CoreMainConf['servers'][number]['locations']): void => {
    for (const e of entries) {
      add(e.level, (e.level.loc[l.registry.indexOf(httpCoreModule)] as CoreLocConf).entry!.name);
      walk(e.children);
    }
  };
  add(main.servers[0].level, '');
  walk(main.servers[0].locations);
  return out;
}

interface FakeRequest { args: string; captures: RegExpExecArray | null; variables: string[]; log(): void }
const request = (args = ''): FakeRequest => ({ args, captures: null, variables: [], log() {} });

/** The Location (prefix 0) or the part after `url=`, through a location's rules; null: declined. */
function redirect(c: ProxyLocConf, value: string, r = request()): string | null {
  const rules = c.template!.redirects;
  return rules === null ? null : rewriteValue(r as unknown as HttpRequest, value, 0, rules);
}

function cookie(c: ProxyLocConf, value: string, r = request()): string | null {
  const rw = c.template!.cookies;
  return rw === null ? null : rewriteSetCookie(r as unknown as HttpRequest, value, rw);
}

test('proxy_redirect default: the proxy_pass URL as written becomes the location name, or "/" without a URI part', () => {
  const c = confs(load(`
    location /impl/ { proxy_pass http://127.0.0.1:81/replace_this/; }
    location /expl/ { proxy_pass http://127.0.0.1:81/replace_this/; proxy_redirect wrong wrong; proxy_redirect default; }
    location /nouri/ { proxy_pass http://127.0.0.1:81; }
    location /port80/ { proxy_pass http://127.0.0.1:80/x/; }
    location ~ ^/re { proxy_pass http://127.0.0.1:81; }`));
  assert.equal(redirect(c.get('/impl/')!, 'http://127.0.0.1:81/replace_this/a?b'), '/impl/a?b');
  assert.equal(redirect(c.get('/impl/')!, 'http://127.0.0.1:81/other/a'), null);
  assert.equal(redirect(c.get('/impl/')!, 'HTTP://127.0.0.1:81/replace_this/a'), null, 'the prefix compares case-sensitively');
  assert.equal(redirect(c.get('/expl/')!, 'http://127.0.0.1:81/replace_this/t'), '/expl/t');
  assert.equal(redirect(c.get('/expl/')!, 'wrong/t'), 'wrong/t');
  assert.equal(redirect(c.get('/nouri/')!, 'http://127.0.0.1:81/nouri/t'), '/nouri/t');
  assert.equal(redirect(c.get('/port80/')!, 'http://127.0.0.1:80/x/t'), '/port80/t', 'the port as written');
  assert.equal(redirect(c.get('/port80/')!, 'http://127.0.0.1/x/t'), null);
  assert.equal(redirect(c.get('^/re')!, 'http://127.0.0.1:81/re/t'), '/re/t');
});

test('proxy_redirect FROM with variables, ~ and ~* regexes whose captures TO uses; the first match wins', () => {
  const c = confs(load(`location / {
      proxy_pass http://127.0.0.1:81;
      proxy_redirect http://127.0.0.1:81/$arg_v/ /replaced/;
      proxy_redirect ~^(.+)/regex_w_([^/]+) $1/$2/test.html;
      proxy_redirect ~*re+gexp? /replaced/test.html;
      proxy_redirect ~^/named/(?<part>[a-z]+) /n/$part;
    }`)).get('/')!;
  assert.equal(redirect(c, 'http://127.0.0.1:81/var_here/t.html', request('v=var_here')), '/replaced/t.html');
  assert.equal(redirect(c, 'http://127.0.0.1:81/var_here/t.html', request('v=other')), null, 'rules of its own: no implicit default');
  assert.equal(redirect(c, 'http://127.0.0.1:81/regex_w_captures/test.html'), 'http://127.0.0.1:81/captures/test.html',
    'a regex match replaces the whole value');
  assert.equal(redirect(c, 'http://127.0.0.1:81/ReeegEX/test.html'), '/replaced/test.html');
  const r = request();
  r.variables.length = 0;
  assert.equal(redirect(c, '/named/abc/def', r), '/n/abc');
  assert.equal(redirect(c, 'http://elsewhere/x'), null);
  // From `url=` on, as a Refresh is rewritten.
  const rules = c.template!.redirects!;
  const refresh = '7; url=http://127.0.0.1:81/regex_w_x';
  assert.equal(rewriteValue(request() as unknown as HttpRequest, refresh, refresh.indexOf('url=') + 4, rules), '7; url=http://127.0.0.1:81/x/test.html');
});

test('proxy_redirect inheritance: off, own rules, inherited rules, the implicit default only for a level\'s own proxy_pass', () => {
  const c = confs(load(`
    location /off/ {
      proxy_pass http://127.0.0.1:81/;
      proxy_redirect off;
      location /off/on/ {
        proxy_pass http://127.0.0.1:81;
        proxy_redirect http://127.0.0.1:81/off/ /;
        location /off/on/on/ { proxy_pass http://127.0.0.1:81; }
      }
      location /off/still/ { proxy_pass http://127.0.0.1:81/; }
    }`));
  assert.equal(c.get('/off/')!.template!.redirects, null);
  assert.equal(c.get('/off/still/')!.template!.redirects, null);
  assert.equal(redirect(c.get('/off/on/')!, 'http://127.0.0.1:81/off/on/t'), '/on/t');
  assert.equal(redirect(c.get('/off/on/on/')!, 'http://127.0.0.1:81/off/on/on/t'), '/on/on/t');
  assert.equal(redirect(c.get('/off/on/on/')!, 'http://127.0.0.1:81/t'), null, 'inherited rules, no default of its own');
  // Rules at server level: a location with proxy_pass inherits them instead of its default.
  const s = confs(load(`proxy_redirect http://a/ /b/; location /x/ { proxy_pass http://127.0.0.1:81/y/; }`));
  assert.equal(redirect(s.get('/x/')!, 'http://a/t'), '/b/t');
  assert.equal(redirect(s.get('/x/')!, 'http://127.0.0.1:81/y/t'), null);
});

test('proxy_redirect config errors read like nginx', () => {
  assert.match(emerg('location / { proxy_pass http://127.0.0.1:81; proxy_redirect bogus; }'), /^invalid parameter "bogus" in inline:1$/);
  assert.match(emerg('location / { proxy_redirect default; proxy_pass http://127.0.0.1:81; }'),
    /^"proxy_redirect default" should be placed after the "proxy_pass" directive/);
  assert.match(emerg('location / { proxy_pass http://$host; proxy_redirect default; }'),
    /^"proxy_redirect default" cannot be used with "proxy_pass" directive with variables/);
  assert.match(emerg('location / { proxy_redirect off; proxy_redirect a b; }'), /"proxy_redirect" directive is duplicate/);
  assert.match(emerg('location / { proxy_redirect a b; proxy_redirect off; }'), /"proxy_redirect" directive is duplicate/);
  assert.match(emerg('location / { if ($arg_a) { proxy_redirect off; } }'), /"proxy_redirect" directive is not allowed here/);
  assert.match(emerg('location / { proxy_redirect ~( /x; }'), /pcre2_compile\(\) failed/);
  assert.equal(emerg('location / { proxy_pass http://127.0.0.1:81; proxy_redirect default; proxy_redirect default; }'), '');
});

test('proxy_cookie_domain: a leading dot is kept out of the comparison (in any case) and kept; variables; ~ is caseless', () => {
  const c = confs(load(`location / {
      proxy_pass http://127.0.0.1:81;
      proxy_cookie_domain www.example.org .example.com;
      proxy_cookie_domain .$arg_n.com en.$arg_n.org;
      proxy_cookie_domain ~^(.+)\\.com$ $1.org;
    }`)).get('/')!;
  assert.equal(cookie(c, 'v=path=domain=; Domain=www.Example.org'), 'v=path=domain=; Domain=example.com');
  assert.equal(cookie(c, 'v=1; Domain=.LocalHost.com', request('n=localhost')), 'v=1; Domain=.en.localhost.org');
  assert.equal(cookie(c, 'v=1; Domain=www.example.COM'), 'v=1; Domain=www.example.org');
  assert.equal(cookie(c, 'v=1;domain = www.example.org ;x'), 'v=1; domain=example.com; x', 'rebuilt as nginx joins it');
  assert.equal(cookie(c, 'v=1;  Domain=other.net'), null, 'nothing matched: the field as it came');
  assert.equal(cookie(c, 'novalue; Domain=www.example.org'), null, 'a first part without "=" is left alone');
  assert.equal(cookie(c, 'v=1; Domain'), null);
});

test('proxy_cookie_path: a case-sensitive prefix with variables, ~ and ~* replacing the whole value', () => {
  const c = confs(load(`location / {
      proxy_pass http://127.0.0.1:81;
      proxy_cookie_path /path/ /new/;
      proxy_cookie_path /$arg_n/ /new/$arg_n/;
      proxy_cookie_path ~^/regex/(.+)$ /$1;
      proxy_cookie_path ~*^/caseless/(.+)$ /$1;
    }
    location /off/ { proxy_pass http://127.0.0.1:81; proxy_cookie_path off; }`));
  const l = c.get('/')!;
  assert.equal(cookie(l, 'v=1; Path=/path/test.html'), 'v=1; Path=/new/test.html');
  assert.equal(cookie(l, 'v=1; Path=/PATH/test.html'), null);
  assert.equal(cookie(l, 'v=1; Path=/localhost/t', request('n=localhost')), 'v=1; Path=/new/localhost/t');
  assert.equal(cookie(l, 'v=1; Path=/regex/test.html'), 'v=1; Path=/test.html');
  assert.equal(cookie(l, 'v=1; Path=/CASEless/test.html'), 'v=1; Path=/test.html');
  assert.equal(cookie(l, 'v=1; Path=/REGEX/test.html'), null);
  assert.equal(c.get('/off/')!.template!.cookies, null);
});

test('proxy_cookie_flags: names in any case, ~ regexes, flags from variables; set, replace, remove as nginx edits them', () => {
  const c = confs(load(`location / {
      proxy_pass http://127.0.0.1:81;
      proxy_cookie_flags a secure httponly samesite=none;
      proxy_cookie_flags d nosecure nohttponly nosamesite;
      proxy_cookie_flags $arg_complex secure;
      proxy_cookie_flags ~BAR httponly;
    }
    location /var/ { proxy_pass http://127.0.0.1:81; proxy_cookie_flags $arg_v $arg_f1 $arg_f2 $arg_f3; }`));
  const l = c.get('/')!;
  assert.equal(cookie(l, 'a=1; Domain=x'), 'a=1; Domain=x; Secure; HttpOnly; SameSite=None');
  assert.equal(cookie(l, 'A=1;secure;SameSite=Lax'), 'A=1; secure; SameSite=None; HttpOnly', 'kept where it is, replaced in place');
  assert.equal(cookie(l, 'a=1; samesite=none; Secure; HttpOnly'), 'a=1; samesite=none; Secure; HttpOnly', 'rebuilt, already right');
  assert.equal(cookie(l, 'd=1;secure;httponly;samesite=lax'), 'd=1');
  assert.equal(cookie(l, 'nx=1;samesite=none'), null);
  assert.equal(cookie(l, 'v=1', request('complex=v')), 'v=1; Secure');
  assert.equal(cookie(l, 'foobarbaz=1'), 'foobarbaz=1; HttpOnly');
  const v = c.get('/var/')!;
  assert.equal(cookie(v, 'v=1', request('v=v&f1=secure&f2=httponly&f3=samesite=none')), 'v=1; Secure; HttpOnly; SameSite=None');
  assert.equal(cookie(v, 'v=1;secure', request('v=v&f1=nosecure')), 'v=1');
  assert.equal(cookie(v, 'v=1;secure', request('v=v&f1=bogus')), null, 'an unknown flag is ignored');
  assert.equal(cookie(v, 'v=1;secure', request('v=v')), null, 'no flags: declined');
});

test('proxy_cookie_* config errors and inheritance read like nginx', () => {
  assert.match(emerg('location / { proxy_cookie_path on; }'), /^invalid parameter "on" in inline:1$/);
  assert.match(emerg('location / { proxy_cookie_domain off; proxy_cookie_domain a b; }'), /"proxy_cookie_domain" directive is duplicate/);
  assert.match(emerg('location / { proxy_cookie_domain a b; proxy_cookie_domain off; }'), /"proxy_cookie_domain" directive is duplicate/);
  assert.match(emerg('location / { proxy_cookie_flags a; }'), /^invalid parameter "a"/);
  assert.match(emerg('location / { proxy_cookie_flags a secure httponly samesite=lax nosecure; }'),
    /invalid number of arguments in "proxy_cookie_flags" directive/);
  assert.match(emerg('location / { proxy_cookie_flags off; proxy_cookie_flags a secure; }'), /"proxy_cookie_flags" directive is duplicate/);
  assert.match(emerg('location / { if ($arg_a) { proxy_cookie_path off; } }'), /"proxy_cookie_path" directive is not allowed here/);
  assert.equal(emerg('location / { proxy_cookie_flags a bogus $arg_x; }'), '', 'flags are checked per response, as nginx does');
  const c = confs(load(`location / { proxy_pass http://127.0.0.1:81; location /in/ { proxy_pass http://127.0.0.1:81; } }`,
    'proxy_cookie_path /a/ /b/;'));
  assert.equal(cookie(c.get('/in/')!, 'v=1; Path=/a/x'), 'v=1; Path=/b/x');
});
