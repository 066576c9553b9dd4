// listen's address: port ranges (nginx 1.27.3+) expand to one socket per port; bad ranges are refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandPorts, parseListenAddress, parseListenParams, type ListenAddress } from '../../../src/http/listen.js';

function keys(text: string): string[] {
  const a = parseListenAddress(text);
  assert.equal(typeof a, 'object', `${text}: ${String(a)}`);
  const conf = parseListenParams(a as ListenAddress, []);
  assert.equal(typeof conf, 'object');
  return expandPorts(conf as Exclude<typeof conf, string>).map((c) => c.key);
}

test('a port range is a listen per port, for IPv4, IPv6 and the wildcard', () => {
  assert.deepEqual(keys('127.0.0.1:8182-8184'), ['127.0.0.1:8182', '127.0.0.1:8183', '127.0.0.1:8184']);
  assert.deepEqual(keys('[::1]:80-81'), ['[::1]:80', '[::1]:81']);
  assert.deepEqual(keys('90-91'), ['*:90', '*:91']);
  assert.deepEqual(keys('127.0.0.1:80-80'), ['127.0.0.1:80']);
  assert.deepEqual(keys('127.0.0.1:80'), ['127.0.0.1:80']);
});

test('bad ranges: nginx\'s "invalid port" and "invalid port range"', () => {
  assert.equal(parseListenAddress('127.0.0.1:81-80'), 'invalid port range in "127.0.0.1:81-80"');
  for (const bad of ['127.0.0.1:80-', '127.0.0.1:-80', '127.0.0.1:80-65536', '127.0.0.1:80-x', '127.0.0.1:80-81-82']) {
    assert.equal(parseListenAddress(bad), `invalid port in "${bad}"`);
  }
});

test('listen ... http2 is the older form of http2 on', () => {
  const conf = parseListenParams(parseListenAddress('127.0.0.1:443') as ListenAddress, ['ssl', 'http2']);
  assert.ok(typeof conf !== 'string');
  assert.equal(conf.http2, true);
  assert.equal(conf.ssl, true);
  assert.match(String(parseListenParams(parseListenAddress('80') as ListenAddress, ['quic'])), /not supported/);
});

test('listen ... proxy_protocol, with ssl and http2 or alone', () => {
  const a = parseListenAddress('127.0.0.1:443') as ListenAddress;
  const conf = parseListenParams(a, ['ssl', 'proxy_protocol', 'http2']);
  assert.ok(typeof conf !== 'string');
  assert.equal(conf.proxyProtocol, true);
  assert.equal(conf.ssl, true);
  const plain = parseListenParams(a, []);
  assert.ok(typeof plain !== 'string');
  assert.notEqual(plain.proxyProtocol, true);
  assert.equal(parseListenParams(a, ['proxy_protocol=on']), 'invalid parameter "proxy_protocol=on"');
});
