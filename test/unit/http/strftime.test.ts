// strftime in the C locale, as nginx's SSI uses it for timefmt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { strftime } from '../../../src/http/ssi/strftime.js';

const T = new Date(Date.UTC(2026, 0, 4, 9, 5, 7)); // a Sunday

test('strftime: nginx SSI\'s default timefmt and the common conversions, in GMT', () => {
  assert.equal(strftime('%A, %d-%b-%Y %H:%M:%S %Z', T, true), 'Sunday, 04-Jan-2026 09:05:07 GMT');
  assert.equal(strftime('%a %B %e %j %y %m %I %p %T %F %D %%', T, true), 'Sun January  4 004 26 01 09 AM 09:05:07 2026-01-04 01/04/26 %');
  assert.equal(strftime('%s', T, true), String(T.getTime() / 1000));
  assert.equal(strftime('%z %u %w', T, true), '+0000 7 0');
  assert.equal(strftime('%Q and %', T, true), '%Q and %', 'an unknown conversion stays as written');
});
