// ngx_http_parse_complex_uri semantics, the fast path, and ngx_escape_uri's tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseRequestUri, parseComplexUri, escapeUri, countEscapes, EscapeType, toByteString } from '../../../src/http/uri.js';

function ok(target: string, mergeSlashes = true): { uri: string; args: string } {
  const r = parseRequestUri(target, mergeSlashes);
  assert.equal(r.status, 0, `expected ${JSON.stringify(target)} to parse`);
  if (r.status !== 0) throw new Error('unreachable');
  return { uri: r.uri, args: r.args };
}

const cases: [string, string, string][] = [
  // target, $uri, $args
  ['/', '/', ''],
  ['/a/b', '/a/b', ''],
  ['/a?b=1', '/a', 'b=1'],
  ['/a?', '/a', ''],
  ['/a//b', '/a/b', ''],
  ['//a///b//', '/a/b/', ''],
  ['/a/./b', '/a/b', ''],
  ['/a/.', '/a/', ''],
  ['/a/b/..', '/a/', ''],
  ['/a/b/../c', '/a/c', ''],
  ['/a/../../', null as unknown as string, ''],
  ['/.hidden', '/.hidden', ''],
  ['/a/..b/c', '/a/..b/c', ''],
  ['/a/...', '/a/...', ''],
  ['/%61', '/a', ''],
  ['/%2e%2E/', null as unknown as string, ''],
  ['/a/%2e%2e/b', '/b', ''],
  ['/a%2Fb', '/a/b', ''],
  ['/a%2F%2Fb', '/a/b', ''],
  ['/a%3Fb?c', '/a?b', 'c'],
  ['/a%23b', '/a#b', ''],
  ['/a%25b', '/a%b', ''],
  ['/a%252e%252e', '/a%2e%2e', ''],
  ['/a#frag', '/a', ''],
  ['/a?x=1#frag', '/a', 'x=1'],
  ['/a/.#f', '/a/', ''],
  ['/a/b/..?q', '/a/', 'q'],
  ['/a/.?q', '/a/', 'q'],
  ['/%C3%A9', '/\u00c3\u00a9', ''],
  ['/a?b=%2F..//', '/a', 'b=%2F..//'],
  ['/a+b', '/a+b', ''],
  ['/%0d%0aX', '/\r\nX', ''],
];

test('complex URI normalisation table', () => {
  for (const [t, uri, args] of cases) {
    if (uri === null) {
      assert.equal(parseRequestUri(t).status, 400, t);
      continue;
    }
    assert.deepEqual(ok(t), { uri, args }, t);
  }
});

test('invalid escapes, %00 and climbing above the root are 400', () => {
  for (const t of ['/%', '/%4', '/%zz', '/%4g', '/a%00b', '/..', '/../a', '/a/../..', '/%2e%2e', 'a', '']) {
    const r = parseRequestUri(t);
    assert.equal(r.status, 400, JSON.stringify(t));
    if (r.status === 400) assert.equal(r.reason, 'client sent invalid request');
  }
});

test('merge_slashes off keeps repeated slashes', () => {
  assert.equal(ok('/a//b', false).uri, '/a//b');
  assert.equal(ok('/a//../b', false).uri, '/a/b');
});

test('fast path returns the input string itself', () => {
  const t = '/plain/path.html';
  const r = parseRequestUri(t);
  assert.ok(r.status === 0 && r.uri === t && r.args === '' && !r.hasArgs && !r.quoted);
  const r2 = parseRequestUri('/p?x=1');
  assert.ok(r2.status === 0 && r2.uri === '/p' && r2.hasArgs && r2.args === 'x=1');
  const r3 = parseRequestUri('/p%41');
  assert.ok(r3.status === 0 && r3.quoted);
});

const alphabet = fc.constantFrom('/', '/', '.', '.', '%', '2', 'e', 'E', 'f', 'F', '0', 'a', 'b', '?', '#', '+', '5', '3');
const targets = fc.array(alphabet, { maxLength: 24 }).map((a) => '/' + a.join(''));

test('property: normalised $uri never contains /./ /../ // nor ends in /. or /..', () => {
  fc.assert(fc.property(targets, (t) => {
    const r = parseRequestUri(t);
    if (r.status !== 0) return true;
    const u = r.uri;
    // Decoded `%2F` etc. are re-dispatched, decoded `%25` is literal data, so the invariant
    // holds for every valid result.
    return !u.includes('/./') && !u.includes('/../') && !u.includes('//')
      && !u.endsWith('/.') && !u.endsWith('/..') && u.startsWith('/');
  }), { numRuns: 3000 });
});

test('property: fast path == slow path', () => {
  fc.assert(fc.property(targets, fc.boolean(), (t, merge) => {
    const a = parseRequestUri(t, merge);
    const b = parseComplexUri(t, merge);
    if (a.status !== 0 || b.status !== 0) return a.status === b.status;
    return a.uri === b.uri && a.args === b.args && a.hasArgs === b.hasArgs;
  }), { numRuns: 3000 });
});

test('property: normalisation is idempotent on %-free results', () => {
  fc.assert(fc.property(targets, (t) => {
    const r = parseRequestUri(t);
    if (r.status !== 0 || r.uri.includes('%') || r.uri.includes('?') || r.uri.includes('#')) return true;
    const again = parseRequestUri(r.uri);
    return again.status === 0 && again.uri === r.uri;
  }), { numRuns: 2000 });
});

test('escapeUri follows ngx_escape_uri tables', () => {
  assert.equal(escapeUri('/a b#c%d?e'), '/a%20b%23c%25d%3Fe');
  assert.equal(escapeUri('/plain'), '/plain');
  assert.equal(escapeUri('/\u00c3\u00a9'), '/%C3%A9');
  assert.equal(escapeUri('/a\r\n'), '/a%0D%0A');
  assert.equal(escapeUri('a=1&b+c;d', EscapeType.Args), 'a=1%26b%2Bc%3Bd');
  assert.equal(escapeUri('a/b c~_.-', EscapeType.UriComponent), 'a%2Fb%20c~_.-');
  assert.equal(escapeUri('k y%\u00e9', EscapeType.Memcached), 'k%20y%25\u00e9');
  // nginx 1.21.1+: what RFC 3986 does not allow in a URI is escaped too.
  assert.equal(escapeUri('/"<>\\^`{|}[]'), '/%22%3C%3E%5C%5E%60%7B%7C%7D[]');
  assert.equal(escapeUri('/a!$&\'()*+,;=:@~'), '/a!$&\'()*+,;=:@~', 'sub-delims and the rest stay');
  assert.equal(escapeUri('<a "b"> c', EscapeType.Html), '%3Ca%20%22b%22%3E%20c');
  assert.equal(escapeUri("u 'v'<w>", EscapeType.Refresh), "u%20%27v%27%3Cw%3E");
  assert.equal(countEscapes('/a b#'), 2);
  assert.equal(toByteString('/caf\u00e9'), '/caf\u00c3\u00a9');
  assert.equal(toByteString('/ascii'), '/ascii');
});
