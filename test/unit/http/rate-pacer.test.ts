// RatePacer: what limit_rate lets through at once, what it holds, and when it wakes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RatePacer } from '../../../src/http/h1/rate-pacer.js';

test('the first second\'s worth and limit_rate_after go at once; the rest is held, in order', async () => {
  let woke = 0;
  const p = new RatePacer(10_000, 500, Date.now(), () => { woke++; });
  const a = p.admit(Buffer.alloc(8000, 'a'));
  assert.equal(a?.length, 8000);
  assert.equal(p.holding, false);
  const b = p.admit(Buffer.alloc(4000, 'b'));
  assert.ok(b !== null && b.length >= 2500 && b.length < 2600, `allowance 10500: ${b?.length}`);
  assert.equal(p.holding, true);
  assert.equal(p.admit(Buffer.from('c')), null, 'held while earlier bytes are');
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(woke >= 1);
  const parts = p.take();
  const got = Buffer.concat(parts).toString('latin1');
  assert.ok(got.length > 0 && /^b+c?$/.test(got), got.slice(0, 20));
  p.stop();
});

test('a held remainder wakes in bursts, not every millisecond', async () => {
  let woke = 0;
  let sent = 0;
  const p = new RatePacer(20_000, 0, Date.now(), () => {
    woke++;
    for (const b of p.take()) sent += b.length;
  });
  const now = p.admit(Buffer.alloc(26_000));
  sent += now?.length ?? 0;
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(sent, 26_000);
  assert.ok(woke <= 10, `woke ${woke} times for 0.3 s of data`);
  p.stop();
});
