// validateRequestHead as a pure function: statuses, nginx log texts, cleaned header facts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateRequestHead, parseContentLength, type RequestHeadOptions } from '../../../src/http/request-validation.js';
import { validateHost } from '../../../src/http/request-target.js';

const opts: RequestHeadOptions = { underscoresInHeaders: false, ignoreInvalidHeaders: true };
const v = (headers: string[], extra: { method?: string; major?: number; minor?: number; url?: string; o?: RequestHeadOptions } = {}) =>
  validateRequestHead(extra.method ?? 'GET', extra.major ?? 1, extra.minor ?? 1, extra.url ?? '/', headers, extra.o ?? opts);

test('valid head: host, port, authority, no allocation for drops', () => {
  const r = v(['Host', 'WWW.Example.COM.:8080', 'Content-Length', '010']);
  assert.equal(r.status, 0);
  if (r.status !== 0) return;
  assert.equal(r.host, 'www.example.com');
  assert.equal(r.port, 8080);
  assert.equal(r.authority, 'WWW.Example.COM.:8080');
  assert.equal(r.contentLength, 10);
  assert.equal(r.chunked, false);
  assert.equal(r.dropHeaders, null);
  assert.equal(r.target, '/');
});

test('nginx log texts', () => {
  const cases: [ReturnType<typeof v>, number, string][] = [
    [v(['Host', 'a', 'Host', 'b']), 400, 'client sent duplicate host header: "Host: b", previous value: "Host: a"'],
    [v(['Host', 'a', 'Content-Length', '5', 'content-length', '5']), 400,
      'client sent duplicate header line: "content-length: 5", previous value: "Content-Length: 5"'],
    [v(['Host', 'a b']), 400, 'client sent invalid host header'],
    [v([]), 400, 'client sent HTTP/1.1 request without "Host" header'],
    [v(['Host', 'a', 'Content-Length', '+5']), 400, 'client sent invalid "Content-Length" header'],
    [v(['Host', 'a', 'Transfer-Encoding', 'gzip, chunked']), 501, 'client sent unknown "Transfer-Encoding": "gzip, chunked"'],
    [v(['Transfer-Encoding', 'chunked'], { minor: 0 }), 400, 'client sent HTTP/1.0 request with "Transfer-Encoding" header'],
    [v(['Host', 'a', 'Transfer-Encoding', 'chunked', 'Content-Length', '5']), 400,
      'client sent "Content-Length" and "Transfer-Encoding" headers at the same time'],
    [v(['Host', 'a'], { major: 2, minor: 0 }), 505, 'client sent invalid version'],
    [v([], { major: 0, minor: 9 }), 0, 'HTTP/0.9 GET, served as nginx does'],
    [v(['Host', 'a'], { url: '*' }), 400, 'client sent invalid request'],
    [v(['Host', 'a'], { url: 'http://u@b/' }), 400, 'client sent invalid request'],
    [v(['Host', 'a'], { url: 'http://a..b/' }), 400, 'client sent invalid host in request line'],
    [v(['Host', 'a'], { method: 'TRACE' }), 405, 'client sent TRACE method'],
    [v(['Host', 'a'], { method: 'CONNECT', url: 'a:443' }), 405, 'client sent CONNECT method'],
    [v(['Host', 'a'], { method: 'get' }), 400, 'client sent invalid method'],
    [v(['Host', 'a'], { url: '/' + 'a'.repeat(8200) }), 414, 'client sent too long URI'],
    [v(['Host', 'a', 'Transfer_Encoding', 'chunked'], { o: { underscoresInHeaders: false, ignoreInvalidHeaders: false } }), 400,
      'client sent invalid header line: "Transfer_Encoding: chunked"'],
  ];
  for (const [r, status, reason] of cases) {
    assert.equal(r.status, status, reason);
    if (r.status !== 0) assert.equal(r.reason, reason);
  }
  const big = v(['Host', 'a', 'X', 'y'.repeat(9000)]);
  assert.ok(big.status === 400 && big.tooLarge === true && big.reason.startsWith('client sent too long header line: "X: yyy'));
  const many: string[] = ['Host', 'a'];
  for (let i = 0; i < 1000; i++) many.push(`X-${i}`, 'v');
  assert.equal(v(many).status, 400);
  assert.equal(v(many.slice(0, 2000)).status, 0);
});

test('Transfer-Encoding: chunked, case-insensitive, OWS trimmed', () => {
  const r = v(['Host', 'a', 'Transfer-Encoding', ' Chunked\t']);
  assert.ok(r.status === 0 && r.chunked && r.contentLength === -1);
  // Real codings other than exactly `chunked`: nginx's 501 (R5).
  for (const te of ['identity', 'chunked, identity', 'identity, chunked', 'gzip, chunked']) {
    assert.equal(v(['Host', 'a', 'Transfer-Encoding', te]).status, 501, te);
  }
  // Malformed values: 400, as RELIABILITY R6 asks (nginx answers 501).
  for (const te of [',chunked', 'chunked,', '"chunked"', "'chunked'", 'chunk', 'chunked, chunked']) {
    assert.equal(v(['Host', 'a', 'Transfer-Encoding', te]).status, 400, te);
  }
  assert.equal(v(['Host', 'a', 'Transfer-Encoding', 'identity', 'Transfer-Encoding', 'chunked']).status, 400);
});

test('invalid header names: dropped, kept, or 400', () => {
  const r = v(['Host', 'a', 'X_Y', '1', 'Transfer-%45ncoding', 'chunked', 'Ok-Name', '2']);
  assert.ok(r.status === 0);
  assert.deepEqual(r.dropHeaders, [2, 4]);
  assert.equal(r.chunked, false);
  const u = v(['Host', 'a', 'X_Y', '1'], { o: { underscoresInHeaders: true, ignoreInvalidHeaders: true } });
  assert.ok(u.status === 0 && u.dropHeaders === null);
  const k = v(['Host', 'a', 'X_Y', '1'], { o: { underscoresInHeaders: false, ignoreInvalidHeaders: false } });
  assert.ok(k.status === 0 && k.dropHeaders === null);
  // With underscores allowed, Transfer_Encoding is simply another header (nginx).
  const t = v(['Host', 'a', 'Transfer_Encoding', 'chunked'], { o: { underscoresInHeaders: true, ignoreInvalidHeaders: false } });
  assert.ok(t.status === 0 && !t.chunked);
});

test('absolute-form: route by the authority, Host still validated', () => {
  const r = v(['Host', 'a'], { url: 'http://B.example:8080/x?y=1' });
  assert.ok(r.status === 0);
  assert.equal(r.host, 'b.example');
  assert.equal(r.port, 8080);
  assert.equal(r.authority, 'B.example:8080');
  assert.equal(r.absoluteForm, true);
  assert.equal(r.target, '/x?y=1');
  const q = v(['Host', 'a'], { url: 'https://b?x' });
  assert.ok(q.status === 0 && q.target === '/?x' && q.host === 'b');
  const n = v(['Host', 'a'], { url: 'http://b' });
  assert.ok(n.status === 0 && n.target === '/');
  const six = v(['Host', 'a'], { url: 'http://[::1]:81/' });
  assert.ok(six.status === 0 && six.host === '[::1]' && six.port === 81);
  assert.equal(v(['Host', 'a b'], { url: 'http://b/' }).status, 400);
  assert.equal(v([], { url: 'http://b/' }).status, 400); // nginx still requires the Host header for 1.1
  assert.equal(v(['Host', 'a'], { url: 'http://b_c/' }).status, 400);
  assert.equal(v(['Host', 'a'], { url: 'http://b:x/' }).status, 400);
});

test('validateHost', () => {
  const ok: [string, string, number][] = [
    ['a', 'a', 0], ['A.B.', 'a.b', 0], ['a:80', 'a', 80], ['a.:80', 'a', 80], ['a:', 'a', 0], ['[::1]', '[::1]', 0],
    ['[::1]:8080', '[::1]', 8080], ['xn--caf-dma.test', 'xn--caf-dma.test', 0], ['under_score', 'under_score', 0],
    ['a:65535', 'a', 65535],
  ];
  for (const [input, host, port] of ok) assert.deepEqual(validateHost(input), { host, port }, input);
  for (const bad of ['', '.', 'a..b', 'a/b', 'a\\b', 'a b', 'a\x00b', 'a\tb', 'example.com.:1.2', 'a:65536', 'a:-1',
    '[::1', '[]', '[::1]x', 'a@b', 'a:1:2', 'a?b', 'a#b']) {
    assert.equal(validateHost(bad), null, JSON.stringify(bad));
  }
});

test('parseContentLength (ngx_atoof)', () => {
  assert.equal(parseContentLength('0'), 0);
  assert.equal(parseContentLength('010'), 10);
  assert.equal(parseContentLength('9007199254740991'), 9007199254740991);
  for (const bad of ['', '+5', '-1', '0x5', '5a', '1e3', ' 5', '5 ', '5, 5', '99999999999999999999', '9007199254740992']) {
    assert.equal(parseContentLength(bad), -1, bad);
  }
});
