// The http2 directives' checks: nginx's [emerg] texts, file and line.
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { loadConfigText } from '../../../src/config/loader.js';
import { builtinModules } from '../../../src/modules.js';

function load(http: string): void {
  loadConfigText(`events {}\nhttp {\n${http}\n}\n`, tmpdir(), builtinModules);
}

test('valid http2 directives load', () => {
  load(`http2_recv_buffer_size 128k; server { listen 127.0.0.1:8080; http2 on; http2_max_concurrent_streams 10;
    http2_body_preread_size 1m; http2_streams_index_size 64; location / { http2_chunk_size 16k; } }`);
});

test('bad values are an [emerg] naming the line', () => {
  const cases: Array<[string, RegExp]> = [
    ['server { http2 maybe; }', /invalid value "maybe" in "http2" directive, it must be "on" or "off" in inline:3/],
    ['server { location / { http2_chunk_size 0; } }', /the http2 chunk size cannot be zero in inline:3/],
    ['http2_recv_buffer_size 16;', /value is too small in inline:3/],
    ['server { http2_streams_index_size 3; }', /the streams index size must be a power of two/],
    ['server { http2_body_preread_size 3000m; }', /the maximum body preread buffer size is 2147483647/],
    ['server { location / { http2 on; } }', /"http2" directive is not allowed here/],
    ['server { http2 on; http2 off; }', /"http2" directive is duplicate/],
  ];
  for (const [text, re] of cases) assert.throws(() => load(text), re, text);
});
