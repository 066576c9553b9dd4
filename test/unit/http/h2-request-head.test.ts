// The HTTP/2 head as HTTP (h2/request-head.ts): nginx's 400s for pseudo-header and
// connection-field mistakes, the Host line made from :authority, Cookie lines joined.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { h2RequestHead } from '../../../src/http/h2/request-head.js';

const BASE = [':method', 'GET', ':scheme', 'http', ':path', '/a?b', ':authority', 'example.com'];

test('a valid head: request parts, Host from :authority, cookies joined in one line', () => {
  const h = h2RequestHead([...BASE, 'cookie', 'a=1', 'x-y', 'z', 'cookie', 'b=2']);
  assert.equal(h.status, 0);
  assert.equal(h.method, 'GET');
  assert.equal(h.path, '/a?b');
  assert.deepEqual(h.rawHeaders, ['host', 'example.com', 'x-y', 'z', 'cookie', 'a=1; b=2']);
});

test('max_headers counts the fields the client sent: not pseudo fields, the Host made of :authority or Cookie lines', () => {
  assert.equal(h2RequestHead([...BASE, 'cookie', 'a=1', 'x-y', 'z', 'cookie', 'b=2']).fields, 1);
  assert.equal(h2RequestHead([...BASE, 'host', 'example.com', 'x-a', '1', 'x-a', '2']).fields, 3);
});

test('Host alone is enough; Host and :authority must agree', () => {
  assert.equal(h2RequestHead([':method', 'GET', ':scheme', 'http', ':path', '/', 'host', 'h']).status, 0);
  assert.equal(h2RequestHead([...BASE, 'host', 'example.com']).status, 0);
  const bad = h2RequestHead([...BASE, 'host', 'other']);
  assert.equal(bad.status, 400);
  assert.match(bad.reason, /different values/);
  assert.match(h2RequestHead([':method', 'GET', ':scheme', 'http', ':path', '/']).reason, /neither ":authority" nor "Host"/);
});

test('missing, empty, duplicate and unknown pseudo-headers are 400', () => {
  const cases: Array<[string[], RegExp]> = [
    [[':scheme', 'http', ':path', '/', ':authority', 'x'], /no :method/],
    [[':method', 'GET', ':path', '/', ':authority', 'x'], /no :scheme/],
    [[':method', 'GET', ':scheme', 'http', ':authority', 'x'], /no :path/],
    [[...BASE, ':path', '/again'], /duplicate :path/],
    [[...BASE, ':method', 'GET'], /duplicate :method/],
    [[':method', 'GET', ':scheme', 'http', ':path', '', ':authority', 'x'], /empty :path/],
    [[...BASE, ':authority', 'y'], /duplicate ":authority"/],
    [[...BASE, ':status', '200'], /unknown pseudo-header ":status"/],
  ];
  for (const [raw, re] of cases) {
    const h = h2RequestHead(raw);
    assert.equal(h.status, 400, raw.join(' '));
    assert.match(h.reason, re);
  }
});

test('connection-specific fields are 400; TE only as "trailers"', () => {
  for (const name of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade']) {
    assert.equal(h2RequestHead([...BASE, name, 'x']).status, 400, name);
  }
  assert.equal(h2RequestHead([...BASE, 'te', 'trailers']).status, 0);
  assert.equal(h2RequestHead([...BASE, 'te', 'gzip']).status, 400);
  assert.equal(h2RequestHead([...BASE, 'te', 'trailers', 'te', 'trailers']).status, 400);
});
