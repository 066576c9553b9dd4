import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseServerParameters } from '../../../src/balancer/server-params.js';

test("server defaults are nginx's", () => {
  assert.deepEqual(parseServerParameters(['backend1:8080']), {
    address: 'backend1:8080', name: 'backend1:8080', weight: 1, maxFails: 1, failTimeout: 10_000,
    maxConns: 0, backup: false, down: false, drain: false, route: '', slowStart: 0,
  });
});

test('server parameters', () => {
  const p = parseServerParameters([
    '127.0.0.1:81', 'weight=5', 'max_fails=3', 'fail_timeout=1m30s', 'max_conns=10', 'backup', 'down', 'drain', 'route=a', 'slow_start=30s',
  ]);
  assert.equal(p.weight, 5);
  assert.equal(p.maxFails, 3);
  assert.equal(p.failTimeout, 90_000);
  assert.equal(p.maxConns, 10);
  assert.equal(p.backup && p.down && p.drain, true);
  assert.equal(p.route, 'a');
  assert.equal(p.slowStart, 30_000);
  assert.equal(parseServerParameters(['a', 'fail_timeout=30']).failTimeout, 30_000);
  assert.equal(parseServerParameters(['a', 'max_fails=0']).maxFails, 0);
});

test("invalid values give nginx's message", () => {
  for (const bad of ['weight=0', 'weight=-1', 'weight=', 'weight=1x', 'max_fails=a', 'max_conns=-1', 'fail_timeout=10x',
    'fail_timeout=500ms', 'fail_timeout=', 'foo', 'backup=1', 'route=']) {
    assert.throws(() => parseServerParameters(['a:80', bad]), { message: `invalid parameter "${bad}"` }, bad);
  }
});

test('weight=N round-trips for every positive N (property)', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 1_000_000 }), (n) => {
    assert.equal(parseServerParameters(['a', `weight=${n}`]).weight, n);
  }));
});
