// The upstream core driven alone, through its port: a fake client, a fake peer session
// and a line protocol, over real loopback sockets. What nginx's ngx_http_upstream_next
// and _finalize_request decide, seen from outside the core.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Socket } from 'node:net';
import { PeerState } from '../../../src/balancer/types.js';
import { UpstreamConnection } from '../../../src/peer/connection.js';
import { FT } from '../../../src/upstream/failure.js';
import { fakePeer, startCore, upstreamConf, type FakePeer } from './fake-core.js';

async function peers(...behaviours: Parameters<typeof fakePeer>[0][]): Promise<FakePeer[]> {
  return Promise.all(behaviours.map((b) => fakePeer(b)));
}

async function closeAll(list: FakePeer[]): Promise<void> {
  await Promise.all(list.map((p) => p.close()));
}

test('a try that answers: its head and body reach the client, the peer is freed once with Ok', async () => {
  const ps = await peers({ answer: 200, body: 'hello' });
  try {
    const run = startCore(ps, upstreamConf());
    run.u.start();
    await run.client.ended;
    assert.deepEqual(run.client.outcome(), { headerStatus: 200, finalized: null, body: 'hello', cut: false });
    assert.deepEqual(run.session.frees, [[ps[0].address.name, PeerState.Ok]]);
    assert.deepEqual(run.client.states.map((s) => [s.addr, s.status]), [[ps[0].address.name, 200]]);
    assert.deepEqual(run.protocol.finalized, [0]);
  } finally {
    await closeAll(ps);
  }
});

test('error goes to the next peer and charges the failed one', async () => {
  const ps = await peers('reset', { answer: 200, body: 'b' });
  try {
    const run = startCore(ps, upstreamConf());
    run.u.start();
    await run.client.ended;
    assert.equal(run.client.outcome().body, 'b');
    assert.deepEqual(run.session.frees, [[ps[0].address.name, PeerState.Failed], [ps[1].address.name, PeerState.Ok]]);
    assert.match(run.client.lines.join('\n'), /error: recv\(\) failed \(104: Connection reset by peer\) while reading response header from upstream/);
    assert.deepEqual(run.client.states.map((s) => s.status), [502, 200]);
  } finally {
    await closeAll(ps);
  }
});

test('next and finalize are idempotent once the request is finalized', async () => {
  const ps = await peers({ answer: 200, body: 'x' });
  try {
    const run = startCore(ps, upstreamConf());
    run.u.start();
    await run.client.ended;
    run.u.next(FT.error);
    run.u.finalize(502);
    run.u.finalize(0);
    assert.equal(run.session.frees.length, 1);
    assert.deepEqual(run.protocol.finalized, [0]);
    assert.deepEqual(run.client.finalizedWith, []);
  } finally {
    await closeAll(ps);
  }
});

test('the last peer\'s listed status is the client\'s response, not an error page (ngx_http_upstream_test_next)', async () => {
  const ps = await peers({ answer: 502, body: 'first' }, { answer: 502, body: 'last' });
  try {
    const run = startCore(ps, upstreamConf({ nextUpstream: FT.error | FT.timeout | FT.http_502 }));
    run.u.start();
    await run.client.ended;
    assert.deepEqual(run.client.outcome(), { headerStatus: 502, finalized: null, body: 'last', cut: false });
    assert.deepEqual(run.session.frees.map((f) => f[1]), [PeerState.Failed, PeerState.Ok]);
  } finally {
    await closeAll(ps);
  }
});

test('a POST that reached a peer is not sent to another unless non_idempotent', async () => {
  const ps = await peers('reset', { answer: 200 });
  try {
    const run = startCore(ps, upstreamConf(), 'POST');
    run.u.start();
    await run.client.ended;
    assert.equal(run.client.outcome().finalized, 502);
    assert.equal(ps[1].connections, 0, 'the second peer was never tried');
    ps[0].connections = 0;
    const again = startCore(ps, upstreamConf({ nextUpstream: FT.error | FT.timeout | FT.non_idempotent }), 'POST');
    again.u.start();
    await again.client.ended;
    assert.equal(again.client.outcome().headerStatus, 200);
    assert.equal(ps[1].requests, 1);
  } finally {
    await closeAll(ps);
  }
});

test('next_upstream_tries bounds the tries', async () => {
  const ps = await peers('reset', 'reset', { answer: 200 });
  try {
    const run = startCore(ps, upstreamConf({ nextUpstreamTries: 2 }));
    run.u.start();
    await run.client.ended;
    assert.equal(run.client.outcome().finalized, 502);
    assert.deepEqual(ps.map((p) => p.requests), [1, 1, 0]);
  } finally {
    await closeAll(ps);
  }
});

test('next_upstream_timeout: past it, a timed-out try ends the request with 504', async () => {
  const ps = await peers('hang', { answer: 200 });
  try {
    const run = startCore(ps, upstreamConf({ readTimeout: 150, nextUpstreamTimeout: 100 }));
    run.u.start();
    await run.client.ended;
    assert.equal(run.client.outcome().finalized, 504);
    assert.equal(ps[1].connections, 0);
    assert.match(run.client.lines.join('\n'), /upstream timed out \(110: Connection timed out\) while reading response header from upstream/);
    // Without the bound, the timeout goes to the next peer.
    const again = startCore(ps, upstreamConf({ readTimeout: 150 }));
    again.u.start();
    await again.client.ended;
    assert.equal(again.client.outcome().headerStatus, 200);
  } finally {
    await closeAll(ps);
  }
});

test('a stale keep-alive connection is retried on the same peer, which is not charged', async () => {
  const ps = await peers({ answer: 200, body: 'fresh' });
  try {
    // An idle connection the peer closes as soon as a request comes (it timed out on its side).
    ps[0].behaviour = 'close';
    // The next connection gets an answer.
    ps[0].next = { answer: 200, body: 'fresh' };
    const socket = new Socket();
    socket.connect(ps[0].address.port!, '127.0.0.1');
    await once(socket, 'connect');
    const run = startCore(ps, upstreamConf());
    run.session.cached = new UpstreamConnection(socket, ps[0].address);
    run.u.start();
    await run.client.ended;
    assert.equal(run.client.outcome().body, 'fresh');
    assert.deepEqual(run.session.gets, [ps[0].address.name], 'the balancer was not asked again');
    assert.deepEqual(run.session.frees, [[ps[0].address.name, PeerState.Ok]], 'freed once, not charged');
    assert.deepEqual(run.client.states.map((s) => s.addr), [ps[0].address.name, ps[0].address.name]);
  } finally {
    await closeAll(ps);
  }
});

test('the client going away ends the request with 499; the protocol hears of it', async () => {
  const ps = await peers('hang');
  try {
    const run = startCore(ps, upstreamConf());
    run.u.start();
    while (ps[0].requests === 0) await new Promise((r) => setTimeout(r, 5));
    run.client.abort();
    await run.client.ended;
    assert.equal(run.client.outcome().finalized, 499);
    assert.equal(run.protocol.aborted, 1);
    assert.deepEqual(run.session.frees, [[ps[0].address.name, PeerState.Ok]]);
    assert.match(run.client.lines.join('\n'), /info: client prematurely closed connection while reading response header from upstream/);
  } finally {
    await closeAll(ps);
  }
});

test('no live peer: 502 and the group\'s name in $upstream_addr', async () => {
  const run = startCore([], upstreamConf());
  run.u.start();
  await run.client.ended;
  assert.equal(run.client.outcome().finalized, 502);
  assert.deepEqual(run.client.states.map((s) => [s.addr, s.status]), [['backend', 502]]);
  assert.match(run.client.lines.join('\n'), /no live upstreams while connecting to upstream/);
});

test('diagnostics_channel: connect, retry with a WeirError whose code comes from the failure table, finalize', async () => {
  const { subscribe, unsubscribe } = await import('node:diagnostics_channel');
  const ps = await peers('reset', { answer: 200, body: 'b' });
  const seen: Array<[string, Record<string, unknown>]> = [];
  const names = ['weir:upstream:connect', 'weir:upstream:connected', 'weir:upstream:retry', 'weir:upstream:finalize'];
  const listeners = names.map((name) => {
    const fn = (msg: unknown): void => { seen.push([name, msg as Record<string, unknown>]); };
    subscribe(name, fn);
    return [name, fn] as const;
  });
  try {
    const run = startCore(ps, upstreamConf());
    run.u.start();
    await run.client.ended;
    assert.deepEqual(seen.map(([n, m]) => `${n} ${String(m.peer)} ${String(m.attempt)}`), [
      `weir:upstream:connect ${ps[0].address.name} 1`,
      `weir:upstream:connected ${ps[0].address.name} 1`,
      `weir:upstream:retry ${ps[0].address.name} 1`,
      `weir:upstream:connect ${ps[1].address.name} 2`,
      `weir:upstream:connected ${ps[1].address.name} 2`,
      `weir:upstream:finalize ${ps[1].address.name} 2`,
    ]);
    const retry = seen[2][1];
    const error = retry.error as { code: string; source: string; status: number; message: string };
    assert.equal(retry.action, 'next');
    assert.equal(error.code, 'WEIR_ERR_UPSTREAM_RESET');
    assert.equal(error.source, 'upstream');
    assert.equal(error.status, run.client.states[0].status, 'the error and $upstream_status agree');
    assert.match(run.client.lines.join('\n'), new RegExp(error.message.replace(/[()]/g, '\\$&')), 'the error is the logged line');
    assert.equal(seen[5][1].status, 0);
  } finally {
    for (const [name, fn] of listeners) unsubscribe(name, fn);
    await closeAll(ps);
  }
});

test('with no subscriber, no error object is built', async () => {
  const ps = await peers('reset', { answer: 200 });
  try {
    const run = startCore(ps, upstreamConf());
    run.u.start();
    await run.client.ended;
    assert.equal((run.u as unknown as { failure: unknown }).failure, null);
  } finally {
    await closeAll(ps);
  }
});
