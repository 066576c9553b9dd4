// proxy_cache_path and proxy_cache*: nginx's [emerg] messages, and the
// validity rules (X-Accel-Expires > Cache-Control > Expires > proxy_cache_valid).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/loader.js';
import { builtinModules } from '../../../src/modules.js';
import { entryPath } from '../../../src/http/cache/entry-file.js';
import { responseValidity } from '../../../src/http/cache/validity.js';
import { IGNORE_HEADERS } from '../../../src/upstream/upstream-conf.js';

function load(http: string): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'weir-cache-'));
  try {
    const file = join(dir, 'nginx.conf');
    writeFileSync(file, `events {}\nhttp {\n${http}\n}\n`);
    try {
      loadConfig({ file, prefix: dir, modules: builtinModules });
      return null;
    } catch (err) {
      return (err as Error).message.replaceAll(file, 'FILE');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fcgi = (body: string): string => `server { listen 127.0.0.1:1; location / { fastcgi_pass 127.0.0.1:2; ${body} } }`;
const loc = (body: string): string => `server { listen 127.0.0.1:1; location / { proxy_pass http://127.0.0.1:2; ${body} } }`;

test('a good config loads', () => {
  assert.equal(load(`proxy_cache_path c levels=1:2 use_temp_path=off keys_zone=one:1m inactive=1h max_size=1g min_free=10m
      loader_files=10 loader_sleep=10ms loader_threshold=100ms manager_files=5 manager_sleep=1s manager_threshold=1s;
${loc('proxy_cache one; proxy_cache_key $uri; proxy_cache_valid 200 1m; proxy_cache_valid any 1s; proxy_cache_methods POST; proxy_cache_min_uses 2; proxy_cache_bypass $arg_a $arg_b; proxy_no_cache $arg_c; proxy_cache_use_stale error timeout updating http_500; proxy_cache_lock on; proxy_cache_lock_timeout 1s; proxy_cache_lock_age 2s; proxy_cache_revalidate on; proxy_cache_convert_head off;')}`), null);
  assert.equal(load(`proxy_cache_path c keys_zone=one:1m;\n${loc('proxy_cache $arg_z;')}`), null);
});

test('proxy_cache_path and proxy_cache: nginx\'s messages', () => {
  const cases: Array<[string, RegExp]> = [
    ['proxy_cache_path c levels=3 keys_zone=a:1m;', /invalid "levels" "levels=3" in FILE:3/],
    ['proxy_cache_path c levels=1:2:2:1 keys_zone=a:1m;', /invalid "levels"/],
    ['proxy_cache_path c levels=1;', /"proxy_cache_path" must have "keys_zone" parameter/],
    ['proxy_cache_path c keys_zone=a;', /invalid keys zone size "keys_zone=a"/],
    ['proxy_cache_path c keys_zone=a:4k;', /keys zone "keys_zone=a:4k" is too small/],
    ['proxy_cache_path c keys_zone=a:1m use_temp_path=yes;', /invalid use_temp_path value "use_temp_path=yes", it must be "on" or "off"/],
    ['proxy_cache_path c keys_zone=a:1m inactive=5ms;', /invalid inactive value "inactive=5ms"/],
    ['proxy_cache_path c keys_zone=a:1m max_size=x;', /invalid max_size value "max_size=x"/],
    ['proxy_cache_path c keys_zone=a:1m purger=on;', /invalid parameter "purger=on"/],
    ['proxy_cache_path c keys_zone=a:1m; proxy_cache_path d keys_zone=a:1m;', /duplicate zone "a"/],
    ['limit_req_zone $uri zone=a:1m rate=1r/s; proxy_cache_path c keys_zone=a:1m;', /already declared for a different use/],
    // weir checks zone sizes (ngx_init_cycle's check) before merging, where nginx says "zone is unknown".
    [loc('proxy_cache nope;'), /zero size shared memory zone "nope"|"proxy_cache" zone "nope" is unknown/],
    [`proxy_cache_path c keys_zone=a:1m;\n${loc('proxy_cache a; proxy_cache a;')}`, /"proxy_cache" directive is duplicate/],
    [loc('proxy_cache_valid 99 1m;'), /invalid status "99"/],
    [loc('proxy_cache_valid 200 xm;'), /invalid time value "xm"/],
    [loc('proxy_cache_use_stale error off;'), /invalid value "off" in "proxy_cache_use_stale" directive/],
    [loc('proxy_cache_methods PUT;'), /invalid value "PUT"/],
    // FastCGI has no default key, and no convert_head.
    [`fastcgi_cache_path c keys_zone=a:1m;\n${fcgi('fastcgi_cache a;')}`, /no "fastcgi_cache_key" for "fastcgi_cache"/],
    [`fastcgi_cache_path c keys_zone=a:1m;\nfastcgi_cache_key $uri;\n${fcgi('fastcgi_cache $arg_z;')}`, /^\(loaded\)$/],
    [`fastcgi_cache_path c keys_zone=a:1m;\n${fcgi('fastcgi_cache a; fastcgi_cache_key $uri; fastcgi_cache_convert_head off;')}`,
      /unknown directive "fastcgi_cache_convert_head"/],
  ];
  for (const [conf, re] of cases) {
    const got = load(conf);
    assert.match(got ?? '(loaded)', re, conf);
  }
});

test('entry paths take the levels from the end of the MD5', () => {
  assert.equal(entryPath('/c', [1, 2], 'b7f54b2df7773722d382f4809d65029c'), '/c/c/29/b7f54b2df7773722d382f4809d65029c');
  assert.equal(entryPath('/c', [], 'b7f54b2df7773722d382f4809d65029c'), '/c/b7f54b2df7773722d382f4809d65029c');
});

test('validity: X-Accel-Expires over Cache-Control over Expires over proxy_cache_valid', () => {
  const now = 1_000_000_000_000;
  const valid = [{ status: 200, ms: 60_000 }];
  const v = (headers: string[], accel: string | null = null, ignore = 0, status = 200): number =>
    responseValidity(status, headers, accel, ignore, valid, now).validUntil;
  assert.equal(v([]), now + 60_000);
  assert.equal(v([], null, 0, 404), 0);
  assert.equal(v(['Cache-Control', 'max-age=10']), now + 10_000);
  assert.equal(v(['Cache-Control', 's-maxage=5, max-age=10']), now + 5_000);
  assert.equal(v(['Cache-Control', 'no-cache']), 0);
  assert.equal(v(['Cache-Control', 'private, max-age=10']), 0);
  assert.equal(v(['Cache-Control', 'max-age=0']), 0);
  assert.equal(v(['Cache-Control', 'max-age=x']), 0);
  assert.equal(v(['Cache-Control', 'no-cache'], '30'), now + 30_000);
  assert.equal(v(['Cache-Control', 'max-age=10'], '30'), now + 30_000);
  assert.equal(v([], '0'), 0);
  assert.equal(v([], '@1000000005'), 1_000_000_005_000);
  assert.equal(v(['Cache-Control', 'no-cache'], '30', IGNORE_HEADERS['X-Accel-Expires']), 0);
  assert.equal(v(['Cache-Control', 'no-cache'], null, IGNORE_HEADERS['Cache-Control']), now + 60_000);
  const future = new Date(now + 20_000).toUTCString();
  assert.equal(v(['Expires', future]), now + 20_000);
  assert.equal(v(['Expires', 'Thu, 01 Jan 1970 00:00:00 GMT']), 0);
  assert.equal(v(['Expires', 'garbage']), 0);
  assert.equal(v(['Expires', future, 'Cache-Control', 'max-age=10']), now + 10_000);
  assert.equal(v(['Set-Cookie', 'a=b']), 0);
  assert.equal(v(['Set-Cookie', 'a=b'], null, IGNORE_HEADERS['Set-Cookie']), now + 60_000);
  assert.equal(v(['Vary', '*']), 0);
  assert.equal(responseValidity(200, ['Vary', 'Accept-Encoding'], null, 0, valid, now).vary, 'Accept-Encoding');
  assert.equal(v(['Vary', 'x'.repeat(200)]), 0);
});
