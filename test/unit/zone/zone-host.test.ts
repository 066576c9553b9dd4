// The shared zones' state and decisions (src/zone/zone-host.ts): nginx's limit_req lookup/account and limit_conn counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LIMIT_CONN_NOMEM, LIMIT_CONN_PASSED, LIMIT_CONN_REJECTED, LIMIT_REQ_BUSY, LIMIT_REQ_DECLINED, LIMIT_REQ_NOMEM, LIMIT_REQ_PASS,
  slabSize, zoneCapacity, zoneId, ZoneHost, type LimitReqLimit,
} from '../../../src/zone/zone-host.js';
import { answerZoneRequest, isZoneRequest } from '../../../src/zone/zone-client.js';

const ONE = zoneId('limit_req', 'one', 1 << 20);
const TWO = zoneId('limit_req', 'two', 1 << 20);
const NODELAY = Number.MAX_SAFE_INTEGER;

function host(start = 1_000_000): { h: ZoneHost; at: (ms: number) => void } {
  const h = new ZoneHost();
  let now = start;
  h.now = () => now;
  return { h, at: (ms) => { now = start + ms; } };
}

const lim = (o: Partial<LimitReqLimit> = {}): LimitReqLimit => ({ zone: ONE, key: 'k', burst: 0, delay: 0, rate: 2000, ...o });

test('limit_req: the first request passes, the next within 1/rate is refused with its excess; refusals are not counted', () => {
  const { h, at } = host();
  assert.deepEqual(h.limitReq([lim()]), { rc: LIMIT_REQ_PASS, excess: 0, limit: 0, delay: 0 });
  at(100);
  // 2 r/s: 100 ms drained 200 of the 1000 taken: excess 0.800 > burst 0.
  assert.deepEqual(h.limitReq([lim()]), { rc: LIMIT_REQ_BUSY, excess: 800, limit: 0, delay: 0 });
  at(500);
  assert.equal(h.limitReq([lim()]).rc, LIMIT_REQ_PASS, 'after 1/rate: allowed again, the refusal took nothing');
});

test('limit_req: burst delays by excess/rate, nodelay passes at once, delay=N passes N at once', () => {
  const { h } = host();
  const burst = lim({ burst: 3000 });
  assert.equal(h.limitReq([burst]).delay, 0);
  assert.deepEqual(h.limitReq([burst]), { rc: LIMIT_REQ_PASS, excess: 1000, limit: 0, delay: 500 });
  assert.deepEqual(h.limitReq([burst]), { rc: LIMIT_REQ_PASS, excess: 2000, limit: 0, delay: 1000 });
  assert.deepEqual(h.limitReq([burst]), { rc: LIMIT_REQ_PASS, excess: 3000, limit: 0, delay: 1500 });
  assert.equal(h.limitReq([burst]).rc, LIMIT_REQ_BUSY);
  const nd = lim({ key: 'n', burst: 2000, delay: NODELAY });
  for (let i = 0; i < 3; i++) assert.deepEqual(h.limitReq([nd]), { rc: LIMIT_REQ_PASS, excess: i * 1000, limit: 0, delay: 0 });
  assert.equal(h.limitReq([nd]).rc, LIMIT_REQ_BUSY);
  const d1 = lim({ key: 'd', burst: 2000, delay: 1000 });
  assert.equal(h.limitReq([d1]).delay, 0);
  assert.equal(h.limitReq([d1]).delay, 0, 'delay=1: the excess of 1 goes at once');
  assert.equal(h.limitReq([d1]).delay, 500);
});

test('limit_req: several limits are one step; the longest delay names its limit; a refusal charges none', () => {
  const { h } = host();
  const fast = lim({ zone: ONE, key: 'a', rate: 1_000_000, burst: 5000 });
  const slow = lim({ zone: TWO, key: 'a', rate: 1000, burst: 5000 });
  assert.equal(h.limitReq([slow, fast]).delay, 0);
  const d = h.limitReq([slow, fast]);
  assert.equal(d.rc, LIMIT_REQ_PASS);
  assert.equal(d.limit, 0, 'the slow zone is the one delaying');
  assert.equal(d.delay, 1000);
  const strict = lim({ zone: TWO, key: 'b', rate: 1000, burst: 0 });
  const loose = lim({ zone: ONE, key: 'b', rate: 1000, burst: 5000 });
  assert.equal(h.limitReq([loose, strict]).rc, LIMIT_REQ_PASS);
  assert.deepEqual(h.limitReq([loose, strict]), { rc: LIMIT_REQ_BUSY, excess: 1000, limit: 1, delay: 0 });
  // The refused request did not charge `loose`: its excess is still 1 taken request.
  assert.equal(h.limitReq([loose]).excess, 1000, 'one taken before and this one: 1 in excess (2 had the refusal charged it)');
});

test('limit_req: empty keys are not limited; all empty is no decision', () => {
  const { h } = host();
  assert.equal(h.limitReq([lim({ key: '' })]).rc, LIMIT_REQ_DECLINED);
  assert.equal(h.limitReq([lim({ key: 'x', burst: 0 }), lim({ zone: TWO, key: '' })]).rc, LIMIT_REQ_PASS);
  assert.equal(h.limitReq([lim({ key: 'x', burst: 0 }), lim({ zone: TWO, key: '' })]).rc, LIMIT_REQ_BUSY);
});

test('limit_req: a clock stepped back is not a negative drain', () => {
  const { h, at } = host();
  h.limitReq([lim({ burst: 5000 })]);
  at(-10);
  assert.equal(h.limitReq([lim({ burst: 5000 })]).excess, 1000);
});

test('limit_req: a full zone expires the oldest node, and refuses (nomem) only when that is not enough', () => {
  const size = 8 * 4096;
  const id = zoneId('limit_req', 'small', size);
  const { h } = host();
  const perNode = slabSize(32 + 48 + 5);
  const fit = zoneCapacity(size) / perNode;
  assert.ok(fit > 10, `a minimal zone holds some nodes (${fit})`);
  for (let i = 0; i < fit + 5; i++) assert.equal(h.limitReq([lim({ zone: id, key: `k${String(i).padStart(4, '0')}` })]).rc, LIMIT_REQ_PASS);
  // A key longer than a zone's room can never fit.
  assert.equal(h.limitReq([lim({ zone: id, key: 'x'.repeat(64 * 1024) })]).rc, LIMIT_REQ_NOMEM);
});

test('limit_conn: counts per key up to the limit; a refusal gives back what the same request took; release and a dead holder give back', () => {
  const h = new ZoneHost();
  const A = zoneId('limit_conn', 'a', 1 << 20);
  const B = zoneId('limit_conn', 'b', 1 << 20);
  const both = [{ zone: A, key: 'ip', conn: 2 }, { zone: B, key: 'ip', conn: 1 }];
  assert.deepEqual(h.limitConnAcquire(1, 1, both), { rc: LIMIT_CONN_PASSED, limit: 0 });
  assert.deepEqual(h.limitConnAcquire(1, 2, both), { rc: LIMIT_CONN_REJECTED, limit: 1 });
  assert.equal(h.connections(A, 'ip'), 1, 'the refused request gave back its count in a');
  assert.deepEqual(h.limitConnAcquire(2, 1, [both[0]]), { rc: LIMIT_CONN_PASSED, limit: 0 });
  assert.equal(h.connections(A, 'ip'), 2);
  h.limitConnRelease(1, 1);
  h.limitConnRelease(1, 1);
  h.limitConnRelease(9, 9);
  assert.equal(h.connections(A, 'ip'), 1, 'a release counts once; an unknown one is nothing');
  assert.equal(h.connections(B, 'ip'), 0);
  h.holderGone(2);
  assert.equal(h.connections(A, 'ip'), 0, 'a worker that died gives back what its requests held');
  assert.deepEqual(h.limitConnAcquire(3, 1, [{ zone: A, key: '', conn: 1 }]), { rc: LIMIT_CONN_PASSED, limit: 0 });
});

test('limit_conn: a full zone refuses a new key (nomem), counts for known keys still work', () => {
  const h = new ZoneHost();
  const Z = zoneId('limit_conn', 'z', 8 * 4096);
  let i = 0;
  while (h.limitConnAcquire(1, i, [{ zone: Z, key: `key-${i}`, conn: 5 }]).rc === LIMIT_CONN_PASSED) i++;
  assert.ok(i > 100);
  assert.equal(h.limitConnAcquire(1, i + 1, [{ zone: Z, key: 'another', conn: 5 }]).rc, LIMIT_CONN_NOMEM);
  assert.equal(h.limitConnAcquire(1, i + 2, [{ zone: Z, key: 'key-0', conn: 5 }]).rc, LIMIT_CONN_PASSED);
  h.limitConnRelease(1, 3);
  assert.equal(h.limitConnAcquire(1, i + 3, [{ zone: Z, key: 'another', conn: 5 }]).rc, LIMIT_CONN_PASSED, 'a key at 0 frees its node');
});

test('zone messages: only well-formed requests are taken; a malformed one is answered, never thrown', () => {
  assert.ok(isZoneRequest({ weir: 'zone', op: 'req', id: 1, limits: [] }));
  assert.ok(isZoneRequest({ weir: 'zone', op: 'rel', id: 1 }));
  for (const bad of [null, 1, {}, { weir: 'zone' }, { weir: 'zone', op: 'req', id: 1 }, { weir: 'zone', op: 'x', id: 1, limits: [] }, { weir: 'hello' }]) {
    assert.ok(!isZoneRequest(bad), JSON.stringify(bad));
  }
  const h = new ZoneHost();
  const reply = answerZoneRequest(h, 1, { weir: 'zone', op: 'req', id: 7, limits: [null as unknown as LimitReqLimit] });
  assert.deepEqual(reply, { weir: 'zone-reply', id: 7, result: { rc: -1, limit: 0 } });
  assert.equal(answerZoneRequest(h, 1, { weir: 'zone', op: 'rel', id: 7 }), null);
});
