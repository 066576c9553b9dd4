// RatePacer: what limit_rate lets through, by whole seconds as nginx counts, and what it holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RatePacer } from '../../../src/http/h1/rate-pacer.js';

/** A pacer on a clock the test moves (ms); wakes are counted, not awaited. */
function paced(rate: number, after: number) {
  let now = 10_000_250;
  const state = { woke: 0 };
  const p = new RatePacer(rate, after, now, () => { state.woke++; }, () => now);
  return { p, state, advance: (ms: number) => { now += ms; } };
}

test('limit_rate_after and the first second\'s worth go at once; the rest is held, in order', () => {
  const { p, advance } = paced(10_000, 500);
  assert.equal(p.admit(Buffer.alloc(8000, 'a'))?.length, 8000);
  assert.equal(p.holding, false);
  const b = p.admit(Buffer.alloc(4000, 'b'));
  assert.equal(b?.length, 2500, 'allowance 500 + 10000 in second 0');
  assert.equal(p.holding, true);
  assert.equal(p.admit(Buffer.from('c')), null, 'held while earlier bytes are');
  advance(500);
  assert.deepEqual(p.take(), [], 'still second 0: nothing more');
  advance(500);
  const got = Buffer.concat(p.take()).toString('latin1');
  assert.equal(got, 'b'.repeat(1500) + 'c', 'second 1 allows 10000 more');
  assert.equal(p.holding, false);
  p.stop();
});

test('bursts of a second\'s worth, at second boundaries as nginx\'s', () => {
  const { p, advance } = paced(1000, 0);
  assert.equal(p.admit(Buffer.alloc(3500))?.length, 1000);
  const sent: number[] = [];
  for (let s = 0; s < 4; s++) {
    advance(1000);
    sent.push(Buffer.concat(p.take()).length);
  }
  assert.deepEqual(sent, [1000, 1000, 500, 0]);
  p.stop();
});

test('it wakes itself when held bytes may go', async () => {
  let woke = 0;
  const p = new RatePacer(100_000, 0, Date.now(), () => { woke++; });
  assert.equal(p.admit(Buffer.alloc(150_000))?.length, 100_000);
  // The burst of 100000 bytes costs 1 s at the rate: the pacer sleeps that long.
  await new Promise((r) => setTimeout(r, 1300));
  assert.ok(woke >= 1, `woke ${woke}`);
  p.stop();
});
