// $request_time's clock: one reading per turn of the event loop (nginx's cached time).
import assert from 'node:assert/strict';
import test from 'node:test';
import { loopTimeMs } from '../../src/http/loop-clock.js';

test('readings within one loop turn are equal, however long the turn', () => {
  const a = loopTimeMs();
  const until = Date.now() + 5;
  while (Date.now() < until) { /* a busy turn */ }
  assert.equal(loopTimeMs(), a);
});

test('a later turn reads the clock again', async () => {
  const a = loopTimeMs();
  await new Promise((r) => setTimeout(r, 5));
  const b = loopTimeMs();
  assert.ok(b >= a + 4, `${b} - ${a}`);
  assert.ok(Math.abs(b - Date.now()) <= 1);
});
