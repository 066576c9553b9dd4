/**
 * The upstream keep-alive cache through the proxy (nginx 1.29.7+: on by
 * default, `keepalive 32`): connections are reused (counted at the fixture),
 * `Connection: close` from the upstream is honoured, no reuse after a
 * truncated, over-long or malformed response, keepalive_requests and
 * keepalive_timeout, and a failure on a reused connection (the upstream
 * closed it just as a request arrived) is retried without a client error and
 * without charging the peer. Every scenario ends with no handle left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo } from 'node:net';
import { startWeir } from '../helpers/raw-http.js';
import { type FaultOptions, type FaultUpstream, type ReceivedRequest } from '../helpers/fault-upstream.js';
import { GET, request, sleep, trackUnhandled, upstreamBlock, waitAccess, type ProxyWeir, faultScenario } from '../helpers/proxy-harness.js';
import { until } from '../helpers/wait.js';

const unhandled = trackUnhandled();

const scenario = (
  fixtureOpts: FaultOptions[],
  conf: (fx: FaultUpstream[]) => string,
  fn: (w: ProxyWeir, fx: FaultUpstream[]) => Promise<void>,
): Promise<void> => faultScenario(unhandled, `log_format up '$request_uri $status ua="$upstream_addr" us="$upstream_status"';`, fixtureOpts, conf, fn);

const srv = (loc = ''): string => `  server { listen 127.0.0.1:%PORT%; server_name localhost; access_log %PREFIX%/access.log up;
    location / { proxy_pass http://be; ${loc} } }`;

/** Requests already received on the connection of `req`, before it. */
const earlierOnConn = (fx: () => FaultUpstream, req: ReceivedRequest): number =>
  fx().requests.filter((q) => q.conn === req.conn && q.index < req.index).length;

test('connections are reused across client connections (keepalive on by default)', async () => {
  await scenario([{ mode: 'ok' }], ([a]) => upstreamBlock('be', [a.addr]) + srv(), async (w, [a]) => {
    for (let i = 0; i < 5; i++) assert.equal((await GET(w.port)).res?.status, 200);
    assert.equal(a.requests.length, 5);
    assert.equal(a.connections, 1);
    // HTTP/1.1 upstream request, and no "Connection: close" (nginx 1.29.7+).
    assert.match(a.requests[0].head, /^GET \/ HTTP\/1\.1\r\n/);
    assert.equal(a.requests[0].headers.connection, undefined);
    assert.equal(a.requests[0].headers.host, 'be');
  });
});

test('explicit keepalive 32 with proxy_http_version 1.1 (what nginx 1.22 needs) reuses too', async () => {
  await scenario([{ mode: 'ok' }], ([a]) => upstreamBlock('be', [a.addr], 'keepalive 32;') + srv('proxy_http_version 1.1; proxy_set_header Connection "";'), async (w, [a]) => {
    for (let i = 0; i < 4; i++) assert.equal((await GET(w.port)).res?.status, 200);
    assert.equal(a.connections, 1);
  });
});

test('Connection: close from the upstream is honoured (no reuse)', async () => {
  await scenario([{ mode: 'ok', extraHeaders: ['Connection: close'] }], ([a]) => upstreamBlock('be', [a.addr]) + srv(), async (w, [a]) => {
    for (let i = 0; i < 3; i++) assert.equal((await GET(w.port)).res?.status, 200);
    assert.equal(a.connections, 3);
  });
});

test('no reuse after an over-long response (bytes beyond Content-Length)', async () => {
  let n = 0;
  await scenario([{ mode: () => (n++ === 0 ? 'raw' : 'ok'), raw: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA', closeAfterRaw: false }],
    ([a]) => upstreamBlock('be', [a.addr]) + srv(), async (w, [a]) => {
      assert.equal((await GET(w.port)).res?.body.toString(), 'ok');
      assert.equal((await GET(w.port)).res?.body.toString(), `port=${a.port}`);
      assert.equal(a.connections, 2);
    });
});

test('no reuse after a malformed chunked body (the client sees the truncation)', async () => {
  let n = 0;
  await scenario([{ mode: () => (n++ === 0 ? 'raw' : 'ok'), raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokZZ\r\n0\r\n\r\n', closeAfterRaw: false }],
    ([a]) => upstreamBlock('be', [a.addr]) + srv(), async (w, [a]) => {
      const x = await GET(w.port, '/bad');
      // The head and "ok" go out, as nginx sends them, then the close without a last chunk.
      assert.equal(x.res?.status, 200);
      assert.match(x.ex.raw.toString('latin1'), /\r\n\r\n2\r\nok\r\n$/);
      assert.ok(x.ex.closed);
      await w.waitLog(/\[error\] .*upstream sent invalid chunked response while reading upstream, .*request: "GET \/bad HTTP\/1\.1"/);
      assert.equal((await GET(w.port)).res?.body.toString(), `port=${a.port}`);
      assert.equal(a.connections, 2);
    });
});

test('no reuse after a response the client aborted (body not drained)', async () => {
  let n = 0;
  await scenario([{ mode: (i) => (n++ === 0 ? 'hang' : 'ok') }], ([a]) => upstreamBlock('be', [a.addr]) + srv(), async (w, [a]) => {
    await request(w.port, 'GET', '/abort', { idleMs: 200, totalMs: 200 });
    await sleep(100);
    assert.equal((await GET(w.port)).res?.status, 200);
    assert.equal(a.connections, 2);
  });
});

test('keepalive_requests 2: a connection carries at most 2 requests', async () => {
  await scenario([{ mode: 'ok' }], ([a]) => upstreamBlock('be', [a.addr], 'keepalive 8; keepalive_requests 2;') + srv(), async (w, [a]) => {
    for (let i = 0; i < 5; i++) assert.equal((await GET(w.port)).res?.status, 200);
    assert.equal(a.connections, 3);
  });
});

test('keepalive_timeout 150ms: an idle cached connection is closed by weir', async () => {
  await scenario([{ mode: 'ok' }], ([a]) => upstreamBlock('be', [a.addr], 'keepalive 8; keepalive_timeout 150ms;') + srv(), async (w, [a]) => {
    assert.equal((await GET(w.port)).res?.status, 200);
    const idleSince = Date.now();
    assert.equal(a.open, 1);
    await until('weir to close the idle connection', () => a.open === 0);
    // Not before its time (the fixture's socket closes a little after weir's side).
    assert.ok(Date.now() - idleSince >= 140, `closed after ${Date.now() - idleSince} ms`);
    assert.equal((await GET(w.port)).res?.status, 200);
    assert.equal(a.connections, 2);
  });
});

test('the upstream closes an idle connection (FIN): weir drops it from the cache, the next GET succeeds', async () => {
  await scenario([{ mode: 'ok' }], ([a]) => upstreamBlock('be', [a.addr]) + srv(), async (w, [a]) => {
    assert.equal((await GET(w.port, '/first')).res?.status, 200);
    a.closeIdle();
    // The fixture's socket closes once weir's side has closed too.
    await until('the upstream connection to close', () => a.open === 0);
    assert.equal(a.open, 0);
    assert.equal((await GET(w.port, '/second')).res?.status, 200);
    assert.equal(a.connections, 2);
    // Dropped from the cache, the second GET went straight to a fresh connection: one try.
    // Had the closed connection stayed cached, the GET would have failed on it first and
    // been retried as a stale one: two tries, `ua="A, A"`.
    const lines = await waitAccess(w, 2);
    assert.equal(lines[1], `/second 200 ua="${a.addr}" us="200"`);
    assert.equal(a.requests.length, 2);
  });
});

test('a reused connection reset as the request arrives: GET retried without a client error, peer not charged', async () => {
  // Two peers with max_fails=1: a charged failure would disable the peer (and log it), and
  // the retry would go to the other peer. Uncharged, each request is retried on the peer
  // that failed it, on a fresh connection, and both peers keep their turn.
  const fx: FaultUpstream[] = [];
  const resetReused = (k: number): FaultOptions => ({ mode: (_i, req) => (earlierOnConn(() => fx[k], req) > 0 ? 'reset' : 'ok') });
  await scenario([resetReused(0), resetReused(1)],
    ([a, b]) => { fx.push(a, b); return upstreamBlock('be', [`${a.addr} max_fails=1 fail_timeout=30s`, `${b.addr} max_fails=1 fail_timeout=30s`]) + srv(); },
    async (w, [a, b]) => {
      for (let i = 0; i < 6; i++) {
        const x = await GET(w.port, `/r${i}`);
        assert.equal(x.res?.status, 200, `request ${i}: ${x.ex.raw.toString('latin1').slice(0, 100)}`);
      }
      const lines = await waitAccess(w, 6);
      // Round robin alternates A, B; from the third request on, each went first to a cached
      // connection (reset), then to the same peer afresh.
      const peer = (i: number): string => (i % 2 === 0 ? a.addr : b.addr);
      assert.deepEqual(lines, Array.from({ length: 6 }, (_v, i) =>
        `/r${i} 200 ua="${i < 2 ? peer(i) : `${peer(i)}, ${peer(i)}`}" us="${i < 2 ? '200' : '502, 200'}"`));
      assert.equal(a.connections, 3, 'each stale connection of A replaced by a fresh one');
      assert.equal(b.connections, 3, 'each stale connection of B replaced by a fresh one');
      assert.doesNotMatch(w.errorLog(), /temporarily disabled/);
    });
});

test('a reused connection closed (FIN, no answer) as the request arrives: GET retried; two peers, neither skipped', {
}, async () => {
  let fa: FaultUpstream;
  let fb: FaultUpstream;
  const opts = (get: () => FaultUpstream): FaultOptions => ({ mode: (_i, req) => (earlierOnConn(get, req) > 0 ? 'raw' : 'ok'), raw: '' });
  await scenario([opts(() => fa), opts(() => fb)],
    ([a, b]) => { fa = a; fb = b; return upstreamBlock('be', [`${a.addr} max_fails=1 fail_timeout=30s`, `${b.addr} max_fails=1 fail_timeout=30s`]) + srv(); },
    async (w, [a, b]) => {
      for (let i = 0; i < 6; i++) assert.equal((await GET(w.port, `/f${i}`)).res?.status, 200);
      // Both peers keep getting traffic: a stale keep-alive connection is not a peer failure.
      assert.ok(a.requests.length >= 3 && b.requests.length >= 3, `${a.requests.length} / ${b.requests.length}`);
      const lines = await waitAccess(w, 6);
      assert.equal(lines.length, 6);
    });
});

test('tries are not consumed by stale cached connections: single peer, proxy_next_upstream_tries 1', async () => {
  let fx: FaultUpstream;
  await scenario([{ mode: (_i, req) => (earlierOnConn(() => fx, req) > 0 ? 'reset' : 'ok') }],
    ([a]) => { fx = a; return upstreamBlock('be', [a.addr]) + srv('proxy_next_upstream_tries 1;'); }, async (w) => {
      assert.equal((await GET(w.port)).res?.status, 200);
      assert.equal((await GET(w.port)).res?.status, 200);
    });
});

test('cached connections are closed when weir stops (no socket left at the fixture)', {
}, async () => {
  await scenario([{ mode: 'ok' }, { mode: 'ok' }], ([a, b]) => upstreamBlock('be', [a.addr, b.addr]) + srv(), async (w, [a, b]) => {
    for (let i = 0; i < 4; i++) assert.equal((await GET(w.port)).res?.status, 200);
    assert.equal(a.open + b.open, 2);
    await w.stop();
    await until('every cached connection to close', () => a.open + b.open === 0);
    assert.equal(a.open + b.open, 0);
  });
});

test('an upstream that answers before the whole request body arrived: its connection is never reused', async () => {
  // The upstream answers each head at once, keep-alive, without reading the body
  // (as an early 413 or a `return` does). Reusing its connection would make the
  // next request's bytes the rest of the previous body.
  const received: string[] = [];
  const upstream = createServer((sock) => {
    const conn = received.push('') - 1;
    sock.on('error', () => {});
    sock.on('data', (d) => {
      const before = received[conn];
      received[conn] += d.toString('latin1');
      const heads = received[conn].split('\r\n\r\n').length - before.split('\r\n\r\n').length;
      for (let i = 0; i < heads; i++) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  const w = await startWeir(`http { access_log off;
    upstream be { server 127.0.0.1:${port}; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://be; proxy_request_buffering off; } } }`);
  const client = connect(w.port, '127.0.0.1');
  try {
    client.on('error', () => {});
    let answer = '';
    client.on('data', (d) => { answer += d.toString('latin1'); });
    client.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhalf!');
    await until('the early answer', () => answer.endsWith('ok'));
    assert.match(answer, /^HTTP\/1\.1 200 /);
    // The rest of the body never comes; another client asks meanwhile.
    const second = await GET(w.port, '/next');
    assert.equal(second.res?.status, 200);
    assert.equal(received.length, 2, 'the second request went to a new upstream connection');
    assert.match(received[1], /^GET \/next HTTP\/1\.1\r\n/);
    assert.doesNotMatch(received[0], /GET \/next/);
  } finally {
    client.destroy();
    await w.stop();
    upstream.close();
  }
});
