// The retry rules as a table: nginx's ngx_http_upstream_next / test_next, and the stale
// keep-alive retry (Pingora's "reused connection" rule).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerState } from '../../../src/balancer/types.js';
import { FT } from '../../../src/upstream/failure.js';
import { chargeFor, decideRetry, retryAllowed, statusRetry, type TryFacts } from '../../../src/upstream/retry.js';

const DEFAULT_NEXT = FT.error | FT.timeout;
const facts = (over: Partial<TryFacts> = {}): TryFacts => ({
  ft: FT.error, method: 'GET', requestSent: true, bodyStreamed: false, reused: false, bytesReceived: 0,
  elapsed: 0, nextUpstream: DEFAULT_NEXT, nextUpstreamTimeout: 0, ...over,
});

/** decideRetry with a balancer that leaves `left` tries; also reports how the peer was charged. */
function decide(f: TryFacts, left = 1): { decision: ReturnType<typeof decideRetry>; charged: PeerState | null } {
  let charged: PeerState | null = null;
  const decision = decideRetry(f, (state) => { charged = state; return left; });
  return { decision, charged };
}

test('the rows of ngx_http_upstream_next', () => {
  const rows: Array<[string, Partial<TryFacts>, number, string, PeerState | null, number?]> = [
    // name, facts, tries left after free, action, charge, status
    ['error, tries left: next peer, charged', {}, 1, 'next', PeerState.Failed],
    ['error, no tries left: 502', {}, 0, 'finalize', PeerState.Failed, 502],
    ['timeout: 504 at the end', { ft: FT.timeout }, 0, 'finalize', PeerState.Failed, 504],
    ['invalid_header not in the mask: ends at once', { ft: FT.invalid_header }, 3, 'finalize', PeerState.Failed, 502],
    ['invalid_header in the mask: next', { ft: FT.invalid_header, nextUpstream: DEFAULT_NEXT | FT.invalid_header }, 3, 'next', PeerState.Failed],
    ['http_404 retried: the peer is not charged', { ft: FT.http_404, nextUpstream: FT.http_404 }, 1, 'next', PeerState.Next],
    ['http_403 at the end: 403', { ft: FT.http_403, nextUpstream: FT.http_403 }, 0, 'finalize', PeerState.Next, 403],
    ['no live upstreams: 502, never another try', { ft: FT.nolive }, 5, 'finalize', PeerState.Next, 502],
    ['POST sent: not retried without non_idempotent', { method: 'POST' }, 3, 'finalize', PeerState.Failed, 502],
    ['POST not sent yet (connect failed): retried', { method: 'POST', requestSent: false }, 3, 'next', PeerState.Failed],
    ['POST with non_idempotent: retried', { method: 'POST', nextUpstream: DEFAULT_NEXT | FT.non_idempotent }, 3, 'next', PeerState.Failed],
    ['a streamed body that was sent cannot go again', { bodyStreamed: true }, 3, 'finalize', PeerState.Failed, 502],
    ['next_upstream_timeout spent: ends', { elapsed: 1000, nextUpstreamTimeout: 1000 }, 3, 'finalize', PeerState.Failed, 502],
    ['next_upstream_timeout not yet spent: next', { elapsed: 999, nextUpstreamTimeout: 1000 }, 3, 'next', PeerState.Failed],
    ['next_upstream off', { nextUpstream: FT.off }, 3, 'finalize', PeerState.Failed, 502],
  ];
  for (const [name, over, left, action, charge, status] of rows) {
    const { decision, charged } = decide(facts(over), left);
    assert.equal(decision.action, action, name);
    assert.equal(charged, charge, `${name}: charge`);
    if (decision.action !== 'same-peer') assert.equal(decision.charge, charge, `${name}: decision's charge`);
    if (status !== undefined) assert.deepEqual(decision, { action: 'finalize', charge, status }, name);
  }
});

test('a reused connection that failed before any byte: the same peer again, charged nothing, no try spent', () => {
  const stale = facts({ reused: true });
  const { decision, charged } = decide(stale, 0);
  assert.deepEqual(decision, { action: 'same-peer' });
  assert.equal(charged, null, 'the balancer was not asked');
  // Not when bytes came, nor for a timeout, nor when retrying is not allowed, nor a sent streamed body.
  for (const over of [{ bytesReceived: 1 }, { ft: FT.timeout }, { method: 'POST' }, { bodyStreamed: true }, { nextUpstream: FT.off }]) {
    assert.notEqual(decide(facts({ reused: true, ...over }), 1).decision.action, 'same-peer', JSON.stringify(over));
  }
  // A fresh connection that fails is charged.
  assert.equal(decide(facts({ reused: false }), 1).charged, PeerState.Failed);
});

test('test_next: a listed status goes on while more than this try is left; the last peer\'s answer stands', () => {
  const f = { method: 'GET', requestSent: true, elapsed: 0, nextUpstream: FT.error | FT.http_503, nextUpstreamTimeout: 0 };
  assert.equal(statusRetry(503, 2, () => f), FT.http_503);
  assert.equal(statusRetry(503, 1, () => f), 0, 'the last try: the 503 is the client\'s');
  assert.equal(statusRetry(500, 2, () => f), 0, 'not listed');
  assert.equal(statusRetry(200, 2, () => f), 0);
  assert.equal(statusRetry(503, 2, () => ({ ...f, method: 'POST' })), 0, 'non_idempotent needed after the request went');
  assert.equal(statusRetry(503, 2, () => ({ ...f, elapsed: 5, nextUpstreamTimeout: 5 })), 0);
});

test('chargeFor and retryAllowed on their own', () => {
  assert.equal(chargeFor(FT.http_404), PeerState.Next);
  assert.equal(chargeFor(FT.http_500), PeerState.Failed);
  assert.equal(retryAllowed({ ft: FT.error, method: 'PATCH', requestSent: true, elapsed: 0, nextUpstream: DEFAULT_NEXT, nextUpstreamTimeout: 0 }), false);
  assert.equal(retryAllowed({ ft: FT.error, method: 'PUT', requestSent: true, elapsed: 0, nextUpstream: DEFAULT_NEXT, nextUpstreamTimeout: 0 }), true, 'PUT is idempotent');
});
