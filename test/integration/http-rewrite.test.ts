/**
 * The rewrite module against a running weir (in-process): return, rewrite
 * flags and captures, set, if (conditions, location switching), break,
 * error_page interplay, and the built-in variables through `return 200 "$var"`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { request, startWithLogs, waitFor, type Weir } from '../helpers/in-process.js';

let w: Weir;

const CONF = `
events {}
http {
  access_log off;
  server {
    listen 127.0.0.1:%PORT%;
    server_name localhost;
    default_type text/plain;

    rewrite ^/srv/(.*)$ /echo/$1;
    if ($http_x_srv_block) { return 418 "server if"; }

    location = /text { return 200 "hello $uri"; }
    location = /url { return https://example.com/x; }
    location = /moved { return 301 /elsewhere; }
    location = /found302 { return 302 "http://h.example/a b"; }
    location = /code404 { return 404; }
    location = /code404text { return 404 "custom not found"; }
    location = /close { return 444; }
    location = /empty { return 200; }
    location = /nocontent { return 204; }
    location = /page.html { return 200 "<p>"; }

    location /echo/ { return 200 "uri=$uri args=$args is_args=$is_args"; }

    location /last/ { rewrite ^/last/(\\w+)/(\\d+)$ /echo/$2/$1 last; return 500; }
    location /brk/ { rewrite ^/brk/(.*)$ /other/$1 break; return 500; }
    location /noflag/ { rewrite ^/noflag/(.*)$ /echo/n-$1; rewrite ^/echo/n-(.*)$ /echo/twice-$1; }
    location /redir/ { rewrite ^/redir/(.*)$ /target/$1 redirect; }
    location /perm/ { rewrite ^/perm/(.*)$ /target/$1 permanent; }
    location /abs/ { rewrite ^/abs/(.*)$ http://other.example/$1; }
    location /absq/ { rewrite ^/absq/(.*)$ http://other.example/$1?x=1; }
    location /newargs/ { rewrite ^/newargs/(.*)$ /echo/$1?a=1; }
    location /dropargs/ { rewrite ^/dropargs/(.*)$ /echo/$1?; }
    location /named/ { rewrite "^/named/(?<first>[a-z]+)/(?<second>[0-9]+)" /echo/$second/$first last; }
    location /loop/ { rewrite ^ /loop/again last; }

    location /set/ {
      set $a "A";
      set $b "$a-$uri";
      return 200 "$b";
    }
    location /setargs/ { set $args "x=1"; return 200 "$args|$arg_x"; }

    location /if/ {
      if ($arg_v) { return 200 "truthy:$arg_v"; }
      if ($arg_eq = "yes" ) { return 200 "equal"; }
      if ($arg_ne != "no" ) { return 200 "not-equal"; }
      if ($http_user_agent ~* "^curl/(\\d+)" ) { return 200 "curl major $1"; }
      if ($http_user_agent ~ "^Wget" ) { return 200 "wget"; }
      if ($http_user_agent !~ "^Moz" ) { return 200 "not mozilla"; }
      return 200 "none";
    }
    location /ifcase/ {
      if ($http_x_t !~* "^abc$" ) { return 200 "no abc"; }
      return 200 "abc";
    }
    location /files/ {
      if (-f $request_filename) { return 200 "file"; }
      if (-d $request_filename) { return 200 "dir"; }
      if (!-e $request_filename) { return 200 "missing"; }
      return 200 "other";
    }
    location /exec/ {
      if (-x $request_filename) { return 200 "exec"; }
      if (!-x $request_filename) { return 200 "noexec"; }
    }
    location /switch/ {
      add_header X-Where outer;
      if ($arg_in) {
        add_header X-Where inner;
      }
      return 200 "switched";
    }
    location /breakdir/ {
      set $x "1";
      break;
      set $x "2";
      return 500;
      add_header X-X "x=$x";
    }
    location /errpage/ {
      error_page 404 = /echo/from-error-page;
      return 404;
    }
    location /errpage-text/ {
      error_page 404 = /echo/unused;
      return 404 "direct text";
    }
    location /uvars/ {
      return 200 "$request_method|$request_uri|$server_protocol|$scheme|$host|$server_name|$server_port|$remote_addr|$nginx_version|$content_length|$content_type|$cookie_sess|$http_x_multi|$arg_Q|$query_string|$document_uri";
    }
  }
}
`;

before(async () => {
  w = await startWithLogs(CONF, { 'html/files/a.txt': 'x', 'html/files/sub/': '', 'html/exec/run.sh': '#!/bin/sh\n', 'html/exec/plain': '', 'html/other/zz': 'static zz', 'html/breakdir/index.html': 'break index\n' });
  mkdirSync(join(w.prefix, 'html/files/sub'), { recursive: true });
  chmodSync(join(w.prefix, 'html/exec/run.sh'), 0o755);
  writeFileSync(join(w.prefix, 'html/exec/plain'), '');
});
after(async () => { await w.stop(); });

test('return code text: body with default_type, variables evaluated', async () => {
  const r = await request(w.port, '/text');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/plain');
  assert.equal(r.text, 'hello /text');
  assert.equal(r.headers['content-length'], '11');
});

test('return URL: 302 with Location', async () => {
  const r = await request(w.port, '/url');
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, 'https://example.com/x');
  assert.match(r.text, /302 Found|302 Moved Temporarily/);
});

test('return 301 /path: Location made absolute', async () => {
  const r = await request(w.port, '/moved');
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, `http://localhost:${w.port}/elsewhere`);
});

test('return 302 with a URL text keeps it as is', async () => {
  const r = await request(w.port, '/found302');
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, 'http://h.example/a b');
});

test('return 404: the built-in page; with text: the text', async () => {
  const a = await request(w.port, '/code404');
  assert.equal(a.status, 404);
  assert.match(a.text, /<title>404 Not Found<\/title>/);
  const b = await request(w.port, '/code404text');
  assert.equal(b.status, 404);
  assert.equal(b.text, 'custom not found');
});

test('return 444 closes without a response', async () => {
  const r = await request(w.port, '/close');
  assert.equal(r.status, 0);
  assert.equal(r.closedEmpty, true);
});

test('return 200 with no text: empty body; 204: no body, no type', async () => {
  const a = await request(w.port, '/empty');
  assert.equal(a.status, 200);
  assert.equal(a.headers['content-length'], '0');
  const b = await request(w.port, '/nocontent');
  assert.equal(b.status, 204);
  assert.equal(b.headers['content-type'], undefined);
});

test('return: content type from the extension', async () => {
  const r = await request(w.port, '/page.html');
  assert.equal(r.headers['content-type'], 'text/html');
});

test('HEAD gets the header only', async () => {
  const r = await request(w.port, '/text', { method: 'HEAD' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], '11');
  assert.equal(r.body.length, 0);
});

test('server-level rewrite runs before location search', async () => {
  const r = await request(w.port, '/srv/abc?q=1');
  assert.equal(r.text, 'uri=/echo/abc args=q=1 is_args=?');
});

test('server-level if', async () => {
  const r = await request(w.port, '/echo/x', { headers: ['X-Srv-Block: 1'] });
  assert.equal(r.status, 418);
  assert.equal(r.text, 'server if');
});

test('rewrite last: captures, new location search', async () => {
  const r = await request(w.port, '/last/abc/42');
  assert.equal(r.text, 'uri=/echo/42/abc args= is_args=');
});

test('rewrite break: stops the script, stays in the location with the new uri', async () => {
  const r = await request(w.port, '/brk/zz');
  assert.equal(r.status, 200);
  assert.equal(r.text, 'static zz');
});

test('rewrite without flag: later rewrites see the new uri, then relocation', async () => {
  const r = await request(w.port, '/noflag/q');
  assert.equal(r.text, 'uri=/echo/twice-q args= is_args=');
});

test('rewrite redirect / permanent, args appended', async () => {
  const a = await request(w.port, '/redir/p?x=1');
  assert.equal(a.status, 302);
  assert.equal(a.headers.location, `http://localhost:${w.port}/target/p?x=1`);
  const b = await request(w.port, '/perm/p');
  assert.equal(b.status, 301);
  assert.equal(b.headers.location, `http://localhost:${w.port}/target/p`);
});

test('rewrite to http:// is a 302; args joined with & after a ?', async () => {
  const a = await request(w.port, '/abs/z?k=v');
  assert.equal(a.status, 302);
  assert.equal(a.headers.location, 'http://other.example/z?k=v');
  const b = await request(w.port, '/absq/z?k=v');
  assert.equal(b.headers.location, 'http://other.example/z?x=1&k=v');
});

test('rewrite with new args keeps old ones after &; trailing ? drops them', async () => {
  const a = await request(w.port, '/newargs/p?old=2');
  assert.equal(a.text, 'uri=/echo/p args=a=1&old=2 is_args=?');
  const b = await request(w.port, '/dropargs/p?old=2');
  assert.equal(b.text, 'uri=/echo/p args= is_args=');
});

test('named captures become variables', async () => {
  const r = await request(w.port, '/named/abc/123');
  assert.equal(r.text, 'uri=/echo/123/abc args= is_args=');
});

test('a rewrite cycle ends with 500', async () => {
  const r = await request(w.port, '/loop/x');
  assert.equal(r.status, 500);
  assert.match(await waitFor(() => w.errorLog(), /rewrite or internal redirection cycle/), /while processing "\/loop\/again"/);
});

test('set, with variables in the value', async () => {
  const r = await request(w.port, '/set/x');
  assert.equal(r.text, 'A-/set/x');
});

test('set $args changes the args', async () => {
  const r = await request(w.port, '/setargs/?y=2');
  assert.equal(r.text, 'x=1|1');
});

test('if conditions: variable, =, !=, ~*, ~ with captures, !~', async () => {
  assert.equal((await request(w.port, '/if/?v=5')).text, 'truthy:5');
  assert.equal((await request(w.port, '/if/?v=0&ne=no', { headers: ['User-Agent: Mozilla'] })).text, 'none');
  assert.equal((await request(w.port, '/if/?eq=yes&ne=no', { headers: ['User-Agent: Mozilla'] })).text, 'equal');
  assert.equal((await request(w.port, '/if/?ne=x', { headers: ['User-Agent: Mozilla'] })).text, 'not-equal');
  assert.equal((await request(w.port, '/if/?ne=no', { headers: ['User-Agent: CURL/8.1'] })).text, 'curl major 8');
  assert.equal((await request(w.port, '/if/?ne=no', { headers: ['User-Agent: Wget/1'] })).text, 'wget');
  assert.equal((await request(w.port, '/if/?ne=no', { headers: ['User-Agent: lynx'] })).text, 'not mozilla');
  assert.equal((await request(w.port, '/ifcase/', { headers: ['X-T: ABC'] })).text, 'abc');
  assert.equal((await request(w.port, '/ifcase/', { headers: ['X-T: abd'] })).text, 'no abc');
});

test('if file tests: -f, -d, !-e, -x', async () => {
  assert.equal((await request(w.port, '/files/a.txt')).text, 'file');
  assert.equal((await request(w.port, '/files/sub')).text, 'dir');
  assert.equal((await request(w.port, '/files/nope')).text, 'missing');
  assert.equal((await request(w.port, '/exec/run.sh')).text, 'exec');
  assert.equal((await request(w.port, '/exec/plain')).text, 'noexec');
});

test('a true if makes its block the location (add_header inside applies)', async () => {
  const a = await request(w.port, '/switch/?in=1');
  assert.equal(a.headers['x-where'], 'inner');
  const b = await request(w.port, '/switch/');
  assert.equal(b.headers['x-where'], 'outer');
});

test('break stops the script', async () => {
  const r = await request(w.port, '/breakdir/');
  // Neither the `set` nor the `return` after `break` runs: the index module answers, and
  // add_header (not a rewrite directive) sees $x as set before the break. nginx 1.22 agrees.
  assert.equal(r.status, 200);
  assert.equal(r.text, 'break index\n');
  assert.equal(r.headers['x-x'], 'x=1');
});

test('return 404 goes through error_page; return 404 "text" does not', async () => {
  const a = await request(w.port, '/errpage/');
  assert.equal(a.status, 200);
  assert.equal(a.text, 'uri=/echo/from-error-page args= is_args=');
  const b = await request(w.port, '/errpage-text/');
  assert.equal(b.status, 404);
  assert.equal(b.text, 'direct text');
});

test('variables through return', async () => {
  const r = await request(w.port, '/uvars/p?Q=9&z=1', {
    method: 'POST', body: 'abc',
    headers: ['Content-Type: text/x-test', 'Cookie: a=1; sess=xyz', 'X-Multi: 1', 'X-Multi: 2'],
  });
  assert.equal(r.text, `POST|/uvars/p?Q=9&z=1|HTTP/1.1|http|localhost|localhost|${w.port}|127.0.0.1|1.31.0|3|text/x-test|xyz|1, 2|9|Q=9&z=1|/uvars/p`);
});
