// Which upstream responses the range filter may cut a range from (nginx's
// ngx_http_upstream_copy_allow_ranges and process_headers' force_ranges), and
// the *_force_ranges directives as nginx has them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { loadConfigText } from '../../../src/config/loader.js';
import { builtinModules } from '../../../src/modules.js';
import { allowsRanges } from '../../../src/upstream/control-headers.js';

const fields = (): string[] => ['Content-Type', 'text/plain', 'accept-ranges', 'bytes', 'ETag', '"a"', 'Accept-Ranges', 'none'];

test('force_ranges: ranges whatever the upstream said; its Accept-Ranges goes (the filter states its own)', () => {
  const h = fields();
  assert.equal(allowsRanges(h, { forceRanges: true }, false), true);
  assert.deepEqual(h, ['Content-Type', 'text/plain', 'ETag', '"a"']);
  const none = ['Content-Type', 'text/plain'];
  assert.equal(allowsRanges(none, { forceRanges: true }, false), true);
  assert.deepEqual(none, ['Content-Type', 'text/plain']);
});

test('a response being cached: ranges only when the upstream offered them', () => {
  const h = fields();
  assert.equal(allowsRanges(h, { forceRanges: false }, true), true);
  assert.deepEqual(h, ['Content-Type', 'text/plain', 'ETag', '"a"']);
  const none = ['Content-Type', 'text/plain'];
  assert.equal(allowsRanges(none, { forceRanges: false }, true), false);
});

test('neither: no range, and the upstream\'s fields pass untouched', () => {
  const h = fields();
  assert.equal(allowsRanges(h, { forceRanges: false }, false), false);
  assert.deepEqual(h, fields());
});

test('proxy_force_ranges and fastcgi_force_ranges are flags; memcached has none (nginx forces its ranges)', () => {
  const load = (loc: string): void => {
    loadConfigText(`events {}\nhttp {\n  server {\n    location / {\n      ${loc}\n    }\n  }\n}\n`, tmpdir(), builtinModules);
  };
  load('proxy_pass http://127.0.0.1:1; proxy_force_ranges on;');
  load('fastcgi_pass 127.0.0.1:1; fastcgi_force_ranges off;');
  assert.throws(() => load('proxy_pass http://127.0.0.1:1; proxy_force_ranges yes;'),
    { message: /invalid value "yes" in "proxy_force_ranges" directive, it must be "on" or "off" in inline:5/ });
  assert.throws(() => load('memcached_pass 127.0.0.1:1; memcached_force_ranges on;'),
    { message: /unknown directive "memcached_force_ranges" in inline:5/ });
});
