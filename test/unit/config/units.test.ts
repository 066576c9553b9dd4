// nginx's value syntaxes: times (ngx_parse_time), sizes (ngx_parse_size),
// offsets (ngx_parse_offset), numbers (ngx_atoi) and flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseFlag, parseNumber, parseOffset, parseSize, parseTime } from '../../../src/config/units.js';

const S = 1000, M = 60 * S, H = 60 * M, D = 24 * H, W = 7 * D;

test('times: one unit', () => {
  assert.equal(parseTime('10s'), 10 * S);
  assert.equal(parseTime('500ms'), 500);
  assert.equal(parseTime('5m'), 5 * M);
  assert.equal(parseTime('2h'), 2 * H);
  assert.equal(parseTime('3d'), 3 * D);
  assert.equal(parseTime('1w'), W);
  assert.equal(parseTime('0s'), 0);
  assert.equal(parseTime('0'), 0);
});

test('times: a bare number is seconds', () => {
  assert.equal(parseTime('30'), 30 * S);
  assert.equal(parseTime('007'), 7 * S);
});

test('times: several units in decreasing order', () => {
  assert.equal(parseTime('1m30s'), 90 * S);
  assert.equal(parseTime('1h30m'), 90 * M);
  assert.equal(parseTime('1d2h3m4s5ms'), D + 2 * H + 3 * M + 4 * S + 5);
  assert.equal(parseTime('1w1d'), W + D);
  assert.equal(parseTime('1s500ms'), 1500);
});

test('times: blanks between parts, trailing blanks, a bare number at the end', () => {
  assert.equal(parseTime('1h 30m'), 90 * M);
  assert.equal(parseTime('1h  30m'), 90 * M);
  assert.equal(parseTime('1m '), M);
  assert.equal(parseTime('1h 30'), H + 30 * S);
  assert.equal(parseTime('1m30'), M + 30 * S);
  assert.equal(parseTime('1s 2'), 3 * S);
  assert.equal(parseTime('1 2'), 3 * S);
});

test('times: units out of order are invalid', () => {
  for (const t of ['1s1m', '1m1h', '1h1d', '500ms1s', '1s1w', '30 1s', '1 s']) assert.equal(parseTime(t), null, t);
});

test('times: a repeated unit is invalid', () => {
  for (const t of ['1s1s', '1m1m', '1ms1ms', '1h 1h', '1d1d']) assert.equal(parseTime(t), null, t);
});

test('times: garbage is invalid', () => {
  for (const t of ['', ' ', 's', 'ms', '10x', '10S', '1.5s', '-1s', '-1', '1sm', 'ten', '1s x', '+1']) {
    assert.equal(parseTime(t), null, JSON.stringify(t));
  }
});

test('times: seconds-only values (ngx_conf_set_sec_slot) refuse ms', () => {
  assert.equal(parseTime('500ms', false), null);
  assert.equal(parseTime('1s500ms', false), null);
  assert.equal(parseTime('10s', false), 10 * S);
  assert.equal(parseTime('1h 30m', false), 90 * M);
  assert.equal(parseTime('30', false), 30 * S);
});

test('times: seconds-only values accept years and months', () => {
  assert.equal(parseTime('1y', false), 365 * D);
  assert.equal(parseTime('1M', false), 30 * D);
  assert.equal(parseTime('1y1M', false), 395 * D);
  assert.equal(parseTime('1M1y', false), null);
});

test('times: milliseconds values (ngx_conf_set_msec_slot) refuse y and M, as nginx', () => {
  assert.equal(parseTime('1y'), null);
  assert.equal(parseTime('1M'), null);
});

test('times: a blank before the first part is invalid unless only a number follows (nginx)', () => {
  assert.equal(parseTime(' 1s'), null);
  assert.equal(parseTime('30 500ms'), null);
  assert.equal(parseTime('1 2 3'), null);
});

test('times: a leading blank before a bare number is accepted, as nginx', () => {
  assert.equal(parseTime(' 5'), 5 * S);
});

test('times: huge values are invalid, not rounded', () => {
  assert.equal(parseTime('99999999999999999999'), null);
  assert.equal(parseTime('9999999999999999w'), null);
});

test('property: N s, N m, N h are N seconds, minutes, hours; bare N is N s', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 1_000_000 }), (n) => {
    assert.equal(parseTime(`${n}s`), n * S);
    assert.equal(parseTime(`${n}`), n * S);
    assert.equal(parseTime(`${n}m`), n * M);
    assert.equal(parseTime(`${n}h`), n * H);
    assert.equal(parseTime(`${n}ms`), n);
  }));
});

test('property: a h b m c s = the sum, with or without blanks', () => {
  fc.assert(fc.property(fc.nat(1000), fc.nat(1000), fc.nat(1000), (a, b, c) => {
    const want = a * H + b * M + c * S;
    assert.equal(parseTime(`${a}h${b}m${c}s`), want);
    assert.equal(parseTime(`${a}h ${b}m ${c}s`), want);
    assert.equal(parseTime(`${a}h ${b}m ${c}`), want);
  }));
});

test('sizes: bytes, k/K, m/M', () => {
  assert.equal(parseSize('512'), 512);
  assert.equal(parseSize('0'), 0);
  assert.equal(parseSize('1k'), 1024);
  assert.equal(parseSize('1K'), 1024);
  assert.equal(parseSize('8m'), 8 * 1024 * 1024);
  assert.equal(parseSize('8M'), 8 * 1024 * 1024);
  assert.equal(parseSize('16k'), 16 * 1024);
});

test('sizes: g is not a size unit; garbage is invalid', () => {
  for (const t of ['1g', '1G', '', 'k', 'M', '-1', '1.5k', '1kb', '1 k', ' 1', 'x', '1kk']) {
    assert.equal(parseSize(t), null, JSON.stringify(t));
  }
});

test('offsets: sizes plus g/G', () => {
  assert.equal(parseOffset('1g'), 1024 ** 3);
  assert.equal(parseOffset('2G'), 2 * 1024 ** 3);
  assert.equal(parseOffset('1024m'), 1024 ** 3);
  assert.equal(parseOffset('3k'), 3072);
  assert.equal(parseOffset('10'), 10);
  for (const t of ['', 'g', '1t', '-1g', '1gb']) assert.equal(parseOffset(t), null, t);
});

test('sizes and offsets: values beyond a safe integer are invalid', () => {
  assert.equal(parseSize('99999999999999999999'), null);
  assert.equal(parseOffset('9999999999999g'), null);
});

test('property: N k = 1024 N, N m = 1048576 N, N g = 2^30 N', () => {
  fc.assert(fc.property(fc.nat(1_000_000), (n) => {
    assert.equal(parseSize(`${n}k`), n * 1024);
    assert.equal(parseSize(`${n}M`), n * 1024 * 1024);
    assert.equal(parseOffset(`${n}g`), n * 1024 ** 3);
    assert.equal(parseSize(String(n)), n);
  }));
});

test('numbers: digits only', () => {
  assert.equal(parseNumber('0'), 0);
  assert.equal(parseNumber('1024'), 1024);
  for (const t of ['', '-1', '+1', '1k', '1.0', ' 1', '0x10', 'ten']) assert.equal(parseNumber(t), null, t);
  assert.equal(parseNumber('99999999999999999999'), null);
});

test('flags: on/off in any case', () => {
  assert.equal(parseFlag('on'), true);
  assert.equal(parseFlag('off'), false);
  assert.equal(parseFlag('ON'), true);
  assert.equal(parseFlag('Off'), false);
  assert.equal(parseFlag('oFF'), false);
  for (const t of ['yes', 'no', 'true', '1', '0', '', 'onn', ' on']) assert.equal(parseFlag(t), null, t);
});
