// expires: parsing as ngx_http_parse_expires, the fields as ngx_http_set_expires; header-list edits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyExpires, ExpiresKind, parseExpires } from '../../../src/http/expires.js';
import { joinedHeader, removeHeader, setHeader } from '../../../src/http/header-list.js';

const NOW = Date.UTC(2026, 0, 10, 12, 0, 0);

test('parseExpires: keywords, signs, daily, modified, and nginx\'s messages', () => {
  assert.deepEqual(parseExpires('epoch', false), { kind: ExpiresKind.Epoch, time: 0 });
  assert.deepEqual(parseExpires('off', false), { kind: ExpiresKind.Off, time: 0 });
  assert.deepEqual(parseExpires('1h 30m', false), { kind: ExpiresKind.Access, time: 5400 });
  assert.deepEqual(parseExpires('+1d', false), { kind: ExpiresKind.Access, time: 86400 });
  assert.deepEqual(parseExpires('-10s', false), { kind: ExpiresKind.Access, time: -10 });
  assert.deepEqual(parseExpires('@15h30m', false), { kind: ExpiresKind.Daily, time: 55800 });
  assert.deepEqual(parseExpires('1y', true), { kind: ExpiresKind.Modified, time: 365 * 86400 });
  assert.equal(parseExpires('epoch', true), 'invalid value');
  assert.equal(parseExpires('@1h', true), 'daily time cannot be used with "modified" parameter');
  assert.equal(parseExpires('@25h', false), 'daily time value must be less than 24 hours');
  assert.equal(parseExpires('', false), 'invalid value');
  assert.equal(parseExpires('10ms', false), 'invalid value');
});

test('applyExpires: from now, from Last-Modified, negative, zero; the response\'s own fields replaced', () => {
  const h = ['Cache-Control', 'private', 'X', '1', 'cache-control', 'no-store', 'Expires', 'old'];
  applyExpires(h, { kind: ExpiresKind.Access, time: 60 }, 60, NOW);
  assert.deepEqual(h, ['Cache-Control', 'max-age=60', 'X', '1', 'Expires', 'Sat, 10 Jan 2026 12:01:00 GMT']);

  const lm = ['Last-Modified', 'Sat, 10 Jan 2026 11:00:00 GMT'];
  applyExpires(lm, { kind: ExpiresKind.Modified, time: 1800 }, 1800, NOW);
  assert.equal(joinedHeader(lm, 'expires'), 'Sat, 10 Jan 2026 11:30:00 GMT');
  assert.equal(joinedHeader(lm, 'cache-control'), 'no-cache'); // already past

  const noLm: string[] = [];
  applyExpires(noLm, { kind: ExpiresKind.Modified, time: 10 }, 10, NOW);
  assert.equal(joinedHeader(noLm, 'cache-control'), 'max-age=10'); // no Last-Modified: from now

  const neg: string[] = [];
  applyExpires(neg, { kind: ExpiresKind.Access, time: -5 }, -5, NOW);
  assert.equal(joinedHeader(neg, 'cache-control'), 'no-cache');
  assert.equal(joinedHeader(neg, 'expires'), 'Sat, 10 Jan 2026 11:59:55 GMT');

  const zero: string[] = [];
  applyExpires(zero, { kind: ExpiresKind.Access, time: 0 }, 0, NOW);
  assert.deepEqual(zero, ['Expires', 'Sat, 10 Jan 2026 12:00:00 GMT', 'Cache-Control', 'max-age=0']);
});

test('applyExpires daily: the next time the local clock shows it', () => {
  const now = new Date(2026, 0, 10, 15, 0, 0).getTime();
  const later: string[] = [];
  applyExpires(later, { kind: ExpiresKind.Daily, time: 16 * 3600 }, 16 * 3600, now);
  assert.equal(Date.parse(joinedHeader(later, 'expires')!), new Date(2026, 0, 10, 16, 0, 0).getTime());
  assert.equal(joinedHeader(later, 'cache-control'), 'max-age=3600');
  const tomorrow: string[] = [];
  applyExpires(tomorrow, { kind: ExpiresKind.Daily, time: 14 * 3600 }, 14 * 3600, now);
  assert.equal(Date.parse(joinedHeader(tomorrow, 'expires')!), new Date(2026, 0, 11, 14, 0, 0).getTime());
});

test('header list: set keeps the first place and drops repeats; remove drops all; join', () => {
  const h = ['ETag', 'a', 'X', '1', 'etag', 'b'];
  setHeader(h, 'ETag', 'c');
  assert.deepEqual(h, ['ETag', 'c', 'X', '1']);
  setHeader(h, 'Y', '2');
  assert.deepEqual(h, ['ETag', 'c', 'X', '1', 'Y', '2']);
  h.push('x', '3');
  assert.equal(joinedHeader(h, 'x'), '1, 3');
  assert.equal(joinedHeader(h, 'x', '; '), '1; 3');
  removeHeader(h, 'x');
  assert.deepEqual(h, ['ETag', 'c', 'Y', '2']);
  assert.equal(joinedHeader(h, 'x'), undefined);
});
