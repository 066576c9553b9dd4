// gzip's pure parts: ngx_http_gzip_accept_encoding (and its quantity quirks), $gzip_ratio's
// rounding, ngx_http_weak_etag, gzip_types matching, and the directives' [emerg]s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigText } from '../../../src/config/loader.js';
import { builtinModules } from '../../../src/modules.js';
import { acceptsGzip, weakenEtag } from '../../../src/http/gzip/gzip-ok.js';
import { formatRatio } from '../../../src/http/gzip/gzip-module.js';
import { typeMatches } from '../../../src/http/gzip/types.js';

test('acceptsGzip: gzip as a whole coding, with a non-zero quantity', () => {
  for (const yes of ['gzip', 'gzip,deflate', 'gzip, deflate', 'deflate, gzip', 'deflate,gzip', 'GZIP', 'br, GZip ',
    'gzip;q=1', 'gzip; q=0.5', 'gzip;q=0.001', 'gzip ;q=1.0', 'gzip;Q=1', 'gzip;q=1,br', 'x-gzip, gzip', 'gzip;']) {
    assert.equal(acceptsGzip(yes), true, yes);
  }
  for (const no of ['', 'gzi', 'deflate', 'x-gzip', 'gzipx', 'gzip;q=0', 'gzip;q=0.000', 'gzip; q=0.0', 'gzip;q=2',
    'gzip;q=1.5', 'gzip;q=0.0001', 'gzip;x=1', 'gzip;q', 'gzip;q=', 'gzip;q=a', 'gzip/1', 'br;gzip']) {
    assert.equal(acceptsGzip(no), false, no);
  }
});

test('formatRatio: two decimals, the third rounding the second, as nginx prints $gzip_ratio', () => {
  assert.equal(formatRatio(100, 50), '2.00');
  assert.equal(formatRatio(2125, 1000), '2.13');
  assert.equal(formatRatio(2124, 1000), '2.12');
  assert.equal(formatRatio(1999, 1000), '2.00'); // 1.999: the fraction carries into the whole
  assert.equal(formatRatio(10, 3), '3.33');
  assert.equal(formatRatio(20, 100), '0.20');
  assert.equal(formatRatio(101, 1000), '0.10');
});

test('weakenEtag: a quoted ETag gets W/, a weak one stays, an unquoted one goes', () => {
  const h = (v: string): string[] => { const list = ['Content-Type', 'text/html', 'ETag', v]; weakenEtag(list); return list; };
  assert.deepEqual(h('"abc"'), ['Content-Type', 'text/html', 'ETag', 'W/"abc"']);
  assert.deepEqual(h('W/"abc"'), ['Content-Type', 'text/html', 'ETag', 'W/"abc"']);
  assert.deepEqual(h('abc'), ['Content-Type', 'text/html']);
  const none = ['Content-Type', 'text/html'];
  weakenEtag(none);
  assert.deepEqual(none, ['Content-Type', 'text/html']);
});

test('typeMatches: the type without parameters, any case; * matches any response', () => {
  const types = new Set(['text/html', 'text/plain']);
  assert.equal(typeMatches(types, ['Content-Type', 'Text/Plain; charset=utf-8']), true);
  assert.equal(typeMatches(types, ['Content-Type', 'application/json']), false);
  assert.equal(typeMatches(types, []), false);
  assert.equal(typeMatches(null, []), true);
});

function confError(http: string): string {
  const prefix = mkdtempSync(join(tmpdir(), 'weir-gzip-'));
  try {
    loadConfigText(`events {}\nhttp {\n${http}\n}`, prefix, builtinModules);
    return '';
  } catch (e) {
    return (e as Error).message;
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
}

test('gzip directives: nginx\'s [emerg] for each bad value, with the line', () => {
  assert.equal(confError('gzip on; gzip_comp_level 9; gzip_window 4k; gzip_hash 128k; gzip_types text/css *; gzip_min_length 1k;'
    + ' gzip_buffers 16 8k; gzip_vary on; gzip_http_version 1.0; gzip_proxied expired no-cache auth; gzip_disable msie6 "MSIE [1-6]\\.";'
    + ' gunzip on; gunzip_buffers 4 4k; gzip_static always; postpone_gzipping 0; gzip_no_buffer off;'), '');
  assert.match(confError('gzip_comp_level 10;'), /value must be between 1 and 9 in inline:3/);
  assert.match(confError('gzip_comp_level 0;'), /value must be between 1 and 9/);
  assert.match(confError('gzip_comp_level x;'), /"gzip_comp_level" directive invalid number/);
  assert.match(confError('gzip_window 3k;'), /"gzip_window" directive must be 512, 1k, 2k, 4k, 8k, 16k, or 32k in inline:3/);
  assert.match(confError('gzip_window 64k;'), /"gzip_window" directive must be 512/);
  assert.match(confError('gzip_hash 256;'), /"gzip_hash" directive must be 512, 1k, 2k, 4k, 8k, 16k, 32k, 64k, or 128k/);
  assert.match(confError('gzip_buffers 0 4k;'), /"gzip_buffers" directive invalid value/);
  assert.match(confError('gzip_buffers 4 0;'), /"gzip_buffers" directive invalid value/);
  assert.match(confError('gunzip_buffers x 4k;'), /"gunzip_buffers" directive invalid value/);
  assert.match(confError('gzip_http_version 2.0;'), /invalid value "2.0"/);
  assert.match(confError('gzip_proxied sometimes;'), /invalid value "sometimes"/);
  assert.match(confError('gzip_static maybe;'), /invalid value "maybe"/);
  assert.match(confError('gzip_disable "(";'), /pcre2_compile\(\) failed/);
  assert.match(confError('gzip maybe;'), /it must be "on" or "off"/);
  assert.match(confError('gzip on; gzip off;'), /"gzip" directive is duplicate/);
  assert.match(confError('gzip_static on; gzip_static off;'), /"gzip_static" directive is duplicate/);
  assert.match(confError('server { location / { if ($uri) { gzip_types text/css; } } }'), /"gzip_types" directive is not allowed here/);
  assert.equal(confError('server { location / { if ($uri) { gzip on; gunzip on; } } }'), '');
});
