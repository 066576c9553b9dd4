import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyKeepaliveDirective, KEEPALIVE_DEFAULTS, parseKeepalive, parseKeepaliveRequests, parseKeepaliveTime,
  parseKeepaliveTimeout, resolveKeepalive, type KeepaliveDirectives,
} from '../../../src/keepalive/directives.js';

test('keepalive N [local]', () => {
  assert.deepEqual(parseKeepalive(['16']), { max: 16, local: false });
  assert.deepEqual(parseKeepalive(['16', 'local']), { max: 16, local: true });
  assert.deepEqual(parseKeepalive(['0']), { max: 0, local: false });
  assert.throws(() => parseKeepalive(['-1']), { message: 'invalid value "-1" in "keepalive" directive' });
  assert.throws(() => parseKeepalive(['many']), { message: 'invalid value "many" in "keepalive" directive' });
  assert.throws(() => parseKeepalive(['16', 'shared']), { message: 'invalid parameter "shared"' });
  assert.throws(() => parseKeepalive([]), { message: 'invalid number of arguments in "keepalive" directive' });
  assert.throws(() => parseKeepalive(['1', 'local', 'x']), { message: 'invalid number of arguments in "keepalive" directive' });
});

test('keepalive_requests, keepalive_time, keepalive_timeout', () => {
  assert.equal(parseKeepaliveRequests(['100']), 100);
  assert.equal(parseKeepaliveRequests(['0']), 0);
  assert.throws(() => parseKeepaliveRequests(['1k']), { message: '"keepalive_requests" directive invalid number' });
  assert.equal(parseKeepaliveTime(['1h']), 3_600_000);
  assert.equal(parseKeepaliveTime(['90']), 90_000);
  assert.equal(parseKeepaliveTimeout(['500ms']), 500);
  assert.equal(parseKeepaliveTimeout(['1m30s']), 90_000);
  assert.throws(() => parseKeepaliveTime(['soon']), { message: '"keepalive_time" directive invalid value' });
  assert.throws(() => parseKeepaliveTimeout(['60s', '50s']), { message: 'invalid number of arguments in "keepalive_timeout" directive' });
});

test('duplicates are rejected with nginx message', () => {
  const conf: KeepaliveDirectives = {};
  applyKeepaliveDirective(conf, 'keepalive', ['8']);
  applyKeepaliveDirective(conf, 'keepalive_timeout', ['5s']);
  assert.throws(() => applyKeepaliveDirective(conf, 'keepalive', ['9']), { message: '"keepalive" directive is duplicate' });
  assert.throws(() => applyKeepaliveDirective(conf, 'keepalive_timeout', ['5s']), { message: '"keepalive_timeout" directive is duplicate' });
  assert.deepEqual(conf, { max: 8, local: false, timeout: 5000 });
});

test('defaults: an upstream block without keepalive is `keepalive 32 local`', () => {
  assert.deepEqual(resolveKeepalive({}, { implicit: false }), KEEPALIVE_DEFAULTS);
  assert.deepEqual(KEEPALIVE_DEFAULTS, { max: 32, local: true, requests: 1000, time: 3_600_000, timeout: 60_000 });
});

test('explicit keepalive N shares across locations unless `local`', () => {
  assert.equal(resolveKeepalive({ max: 64, local: false }, { implicit: false })!.local, false);
  assert.equal(resolveKeepalive({ max: 64, local: true }, { implicit: false })!.local, true);
  assert.deepEqual(resolveKeepalive({ max: 64, local: false, requests: 5, time: 1000, timeout: 2000 }, { implicit: false }),
    { max: 64, local: false, requests: 5, time: 1000, timeout: 2000 });
});

test('keepalive 0 and implicit upstreams get no cache', () => {
  assert.equal(resolveKeepalive({ max: 0, local: false }, { implicit: false }), null);
  assert.equal(resolveKeepalive({}, { implicit: true }), null);
});
