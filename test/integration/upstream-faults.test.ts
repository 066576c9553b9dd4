/**
 * The upstream core under faults (issue 4, RELIABILITY F1–F3, F16): refused,
 * reset and hanging peers, garbage, truncated bodies, the proxy_next_upstream
 * words, tries and timeout, no live upstreams, the error-log lines in nginx's
 * shape, $upstream_addr/$upstream_status across tries, and max_fails /
 * fail_timeout marking through the balancer's free(). Every scenario checks
 * that no socket or timer is left after weir stops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { refusedPort, type FaultOptions, type FaultUpstream } from '../helpers/fault-upstream.js';
import {
  GET, request, sleep, trackUnhandled, upstreamBlock, waitAccess, type ProxyWeir, faultScenario } from '../helpers/proxy-harness.js';
import { until } from '../helpers/wait.js';

const unhandled = trackUnhandled();

const LOG = `log_format up '$request_method $request_uri $status ua="$upstream_addr" us="$upstream_status"';`;

/**
 * Starts fixtures, then weir on `conf(fixtures)` (the text inside http{}),
 * runs `fn`, stops everything and checks for leaks and unhandled rejections.
 */
const scenario = (
  fixtureOpts: FaultOptions[],
  conf: (fx: FaultUpstream[]) => string,
  fn: (w: ProxyWeir, fx: FaultUpstream[]) => Promise<void>,
): Promise<void> => faultScenario(unhandled, LOG, fixtureOpts, conf, fn);

function server(locExtra = '', srvExtra = ''): string {
  return `  server {
    listen 127.0.0.1:%PORT%;
    server_name localhost;
    access_log %PREFIX%/access.log up;
    ${srvExtra}
    location / { proxy_pass http://be; ${locExtra} }
  }`;
}

const bodyOf = (x: Awaited<ReturnType<typeof request>>): string => x.res?.body.toString() ?? '';

// ---------------------------------------------------------------- F1: refuse

test('refused peer: 0 failed GETs and POSTs while the other is alive; the log line is nginx\'s', async () => {
  const dead = await refusedPort();
  await scenario([{ mode: 'ok' }], ([b]) => upstreamBlock('be', [`127.0.0.1:${dead}`, b.addr]) + server(), async (w, [b]) => {
    for (let i = 0; i < 6; i++) {
      const x = await request(w.port, i % 2 ? 'POST' : 'GET', '/', i % 2 ? { body: 'data' } : {});
      assert.equal(x.res?.status, 200, `request ${i}: ${x.ex.raw.toString('latin1')}`);
      assert.equal(bodyOf(x), `port=${b.port}`);
    }
    const log = await w.waitLog(/connect\(\) failed/);
    assert.match(log, new RegExp(
      `\\[error\\] \\d+#\\d+: \\*\\d+ connect\\(\\) failed \\(111: Connection refused\\) while connecting to upstream, `
      + `client: 127\\.0\\.0\\.1, server: localhost, request: "GET / HTTP/1\\.1", upstream: "http://127\\.0\\.0\\.1:${dead}/", host: "localhost"`));
    // A connect failure is retried for POST too (nothing was sent).
    assert.equal(b.requests.filter((r) => r.method === 'POST').length, 3);
  });
});

// ---------------------------------------------------------------- F2: reset

test('the log line names the URI sent upstream, with its query (nginx\'s u->uri), not the client\'s', async () => {
  const dead = await refusedPort();
  const srv = 'location /pre/ { proxy_pass http://be/up/; } location /unix/ { proxy_pass http://unix:/nonexistent-weir.sock:/u/; }';
  await scenario([{ mode: 'ok' }], ([b]) => upstreamBlock('be', [`127.0.0.1:${dead}`, b.addr]) + server('', srv), async (w) => {
    await request(w.port, 'GET', '/pre/a%20b?x=1');
    const log = await w.waitLog(/connect\(\) failed \(111/);
    assert.match(log, new RegExp(`request: "GET /pre/a%20b\\?x=1 HTTP/1\\.1", upstream: "http://127\\.0\\.0\\.1:${dead}/up/a%20b\\?x=1"`));
    const x = await request(w.port, 'GET', '/unix/v?y=2');
    assert.equal(x.res?.status, 502);
    const unix = await w.waitLog(/connect\(\) to unix:/);
    assert.match(unix, /upstream: "http:\/\/unix:\/nonexistent-weir\.sock:\/u\/v\?y=2"/);
  });
});

test('reset before any response byte: GETs retried (0 errors); POST sent once → 502', async () => {
  await scenario([{ mode: 'reset' }, { mode: 'ok' }], ([a, b]) => upstreamBlock('be', [`${a.addr} max_fails=0`, `${b.addr} max_fails=0`]) + server(), async (w, [a, b]) => {
    for (let i = 0; i < 4; i++) {
      const x = await GET(w.port);
      assert.equal(x.res?.status, 200, x.ex.raw.toString('latin1'));
    }
    assert.ok(a.requests.length >= 1, 'the resetting peer was tried');
    const aBefore = a.requests.length;
    const bBefore = b.requests.length;
    let fivehundreds = 0;
    for (let i = 0; i < 4; i++) {
      const x = await request(w.port, 'POST', '/p', { body: 'once' });
      assert.ok(x.res?.status === 200 || x.res?.status === 502, x.ex.raw.toString('latin1'));
      if (x.res?.status === 502) fivehundreds++;
    }
    const posts = a.requests.length - aBefore + b.requests.length - bBefore;
    assert.equal(posts, 4, 'each POST reached an upstream exactly once');
    assert.equal(fivehundreds, a.requests.length - aBefore, 'every POST that hit the resetting peer got 502');
    assert.ok(fivehundreds >= 1);
    // The POST's own line: the GETs' lines come first, and the log is written as it goes.
    await w.waitLog(/recv\(\) failed \(104: Connection reset by peer\) while reading response header from upstream, client: 127\.0\.0\.1, server: localhost, request: "POST \/p HTTP\/1\.1", upstream: "http:\/\/127\.0\.0\.1:\d+\/p", host: "localhost"/);
  });
});

test('POST with non_idempotent: retried on the next peer (sent twice)', async () => {
  await scenario([{ mode: 'reset' }, { mode: 'ok' }],
    ([a, b]) => upstreamBlock('be', [a.addr, b.addr]) + server('proxy_next_upstream error timeout non_idempotent;'), async (w, [a, b]) => {
      const x = await request(w.port, 'POST', '/', { body: 'twice' });
      assert.equal(x.res?.status, 200);
      assert.equal(a.requests.length, 1);
      assert.equal(b.requests.length, 1);
      assert.equal(a.requests[0].body.toString(), 'twice');
      assert.equal(b.requests[0].body.toString(), 'twice');
    });
});

// ---------------------------------------------------------------- F3: hang

test('hanging peer with proxy_read_timeout 300ms: GET answered by the other peer', async () => {
  await scenario([{ mode: 'hang' }, { mode: 'ok' }],
    ([a, b]) => upstreamBlock('be', [a.addr, b.addr]) + server('proxy_read_timeout 300ms;'), async (w, [a, b]) => {
      const x = await GET(w.port);
      assert.equal(x.res?.status, 200);
      assert.equal(bodyOf(x), `port=${b.port}`);
      assert.equal(a.requests.length, 1);
      assert.ok(x.elapsed >= 250 && x.elapsed < 1500, `elapsed ${x.elapsed}`);
      await w.waitLog(/upstream timed out \(110: Connection timed out\) while reading response header from upstream, client: 127\.0\.0\.1, server: localhost, request: "GET \/ HTTP\/1\.1", upstream: "http:\/\/127\.0\.0\.1:\d+\/", host: "localhost"/);
    });
});

test('a try that timed out has its response time, no header time ($upstream_*_time across next, as nginx)', async () => {
  await scenario([{ mode: 'hang' }, { mode: 'ok' }], ([a, b]) => upstreamBlock('be', [a.addr, b.addr])
    + server('proxy_read_timeout 300ms; add_header X-Times "$upstream_header_time|$upstream_response_time";'), async (w) => {
    const x = await GET(w.port);
    assert.equal(x.res?.status, 200);
    const m = /^(-), (\d+\.\d{3})\|(\d+\.\d{3}), (-)$/.exec(x.res?.headers['x-times'] ?? '');
    assert.ok(m, `X-Times: ${x.res?.headers['x-times']}`);
    assert.ok(Number(m[3]) >= 0.25, `the first try lasted its read timeout: ${m[3]}`);
    assert.ok(Number(m[2]) < 0.25, `the second try answered at once: ${m[2]}`);
  });
});

test('single hanging peer: 504 within proxy_read_timeout', async () => {
  await scenario([{ mode: 'hang' }], ([a]) => upstreamBlock('be', [a.addr]) + server('proxy_read_timeout 300ms;'), async (w) => {
    const x = await GET(w.port);
    assert.equal(x.res?.status, 504);
    assert.ok(x.elapsed >= 250 && x.elapsed < 1500, `elapsed ${x.elapsed}`);
  });
});

test('trickling response slower than nothing: read timeout is between two reads, so it completes', async () => {
  await scenario([{ mode: 'trickle', trickleMs: 10 }], ([a]) => upstreamBlock('be', [a.addr]) + server('proxy_read_timeout 200ms;'), async (w, [a]) => {
    const x = await GET(w.port);
    assert.equal(x.res?.status, 200);
    assert.equal(bodyOf(x), `port=${a.port}`);
  });
});

// ---------------------------------------------------------------- garbage

test('garbage from one peer with invalid_header listed: 0 failed GETs', async () => {
  await scenario([{ mode: 'garbage' }, { mode: 'ok' }],
    ([a, b]) => upstreamBlock('be', [a.addr, b.addr]) + server('proxy_next_upstream error timeout invalid_header;'), async (w, [a]) => {
      for (let i = 0; i < 4; i++) assert.equal((await GET(w.port)).res?.status, 200);
      assert.ok(a.requests.length >= 1);
      // nginx's words for a first line that is not a status line (the fixture sends an SSH banner).
      await w.waitLog(/\[error\] \d+#\d+: \*\d+ upstream sent no valid HTTP\/1\.0 header while reading response header from upstream, client: 127\.0\.0\.1/);
    });
});

test('garbage without invalid_header in next_upstream: 502', async () => {
  await scenario([{ mode: 'garbage' }, { mode: 'ok' }], ([a, b]) => upstreamBlock('be', [a.addr, b.addr]) + server(), async (w) => {
    const x = await GET(w.port);
    assert.equal(x.res?.status, 502);
  });
});

// ---------------------------------------------------------------- truncation (U5, F2 after bytes)

test('Content-Length body cut by FIN: the client sees fewer bytes and a closed connection', async () => {
  await scenario([{ mode: 'cl-short' }], ([a]) => upstreamBlock('be', [a.addr]) + server(), async (w) => {
    const x = await GET(w.port);
    assert.equal(x.res?.status, 200);
    assert.equal(x.res?.headers['content-length'], '10');
    assert.equal(x.res?.body.toString(), 'abc');
    assert.ok(x.ex.closed);
    await w.waitLog(/upstream prematurely closed connection while reading upstream, client: 127\.0\.0\.1/);
  });
});

test('chunked body without the last chunk: the client never gets a terminating 0-chunk', async () => {
  await scenario([{ mode: 'chunked-short' }], ([a]) => upstreamBlock('be', [a.addr]) + server(), async (w) => {
    const x = await GET(w.port);
    assert.equal(x.res?.status, 200);
    const raw = x.ex.raw.toString('latin1');
    assert.match(raw, /hello/);
    assert.doesNotMatch(raw, /\r\n0\r\n\r\n$/);
    assert.ok(x.ex.closed);
  });
});

test('reset after the header / mid-body: truncation visible, no retry once bytes went to the client', async () => {
  for (const [mode, sent] of [['reset-after-header', ''], ['reset-mid-body', 'x'.repeat(10)]] as const) {
    await scenario([{ mode }, { mode: 'ok' }], ([a, b]) => upstreamBlock('be', [a.addr, b.addr]) + server(), async (w, [a, b]) => {
      const x = await GET(w.port);
      // The client gets the head and what came before the reset (all of it, unless the reset
      // overtook bytes weir had not read yet), then the close: never 100 bytes.
      assert.equal(x.res?.status, 200, mode);
      assert.equal(x.res.headers['content-length'], '100');
      assert.ok(sent.startsWith(x.res.body.toString()), `${mode}: ${JSON.stringify(x.res.body.toString())}`);
      assert.ok(x.ex.closed);
      assert.equal(a.requests.length, 1);
      assert.equal(b.requests.length, 0, 'no retry after the header went to the client');
    });
  }
});

test('a reset after the header is logged as nginx does: recv() failed (104: Connection reset by peer) while reading upstream', async () => {
  await scenario([{ mode: 'reset-mid-body' }], ([a]) => upstreamBlock('be', [a.addr]) + server('proxy_buffering off;'), async (w) => {
    assert.equal((await GET(w.port)).res?.status, 200);
    await w.waitLog(/\[error\] \d+#\d+: \*\d+ recv\(\) failed \(104: Connection reset by peer\) while reading upstream, client: 127\.0\.0\.1/, 2000);
  });
});

test('with proxy_buffering on, the same reset is readv() failed, as nginx\'s event pipe reads', async () => {
  await scenario([{ mode: 'reset-mid-body' }], ([a]) => upstreamBlock('be', [a.addr]) + server(), async (w) => {
    assert.equal((await GET(w.port)).res?.status, 200);
    await w.waitLog(/\[error\] \d+#\d+: \*\d+ readv\(\) failed \(104: Connection reset by peer\) while reading upstream, client: 127\.0\.0\.1/, 2000);
  });
});

test('reset right after the header: the client sees the 200 header, then the close (nginx flushes before closing)', {
}, async () => {
  await scenario([{ mode: 'reset-after-header' }], ([a]) => upstreamBlock('be', [a.addr]) + server(), async (w) => {
    const x = await GET(w.port);
    assert.equal(x.res?.status, 200, `raw: ${JSON.stringify(x.ex.raw.toString('latin1'))}`);
    assert.equal(x.res?.headers['content-length'], '100');
    assert.ok(x.ex.closed);
  });
});

// ---------------------------------------------------------------- proxy_next_upstream words

test('http_500 with two servers: the second answers', async () => {
  await scenario([{ mode: 'status', status: 500 }, { mode: 'ok' }],
    ([a, b]) => upstreamBlock('be', [a.addr, b.addr]) + server('proxy_next_upstream error timeout http_500;'), async (w, [, b]) => {
      const x = await GET(w.port, '/one');
      assert.equal(x.res?.status, 200);
      assert.equal(bodyOf(x), `port=${b.port}`);
      const lines = await waitAccess(w, 1);
      assert.match(lines[0], /^GET \/one 200 ua="127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+" us="500, 200"$/);
    });
});

test('http_500 when tries run out: the client gets the last upstream\'s own 500 body', async () => {
  await scenario([{ mode: 'status', status: 500 }, { mode: 'status', status: 500 }],
    ([a, b]) => upstreamBlock('be', [a.addr, b.addr]) + server('proxy_next_upstream error timeout http_500;'), async (w, [a, b]) => {
      const x = await GET(w.port);
      assert.equal(x.res?.status, 500);
      assert.equal(a.requests.length + b.requests.length, 2);
      assert.match(bodyOf(x), /^fixture 500 from \d+$/, `got the generated page: ${bodyOf(x)}`);
    });
});

test('POST + http_500 without non_idempotent: the upstream\'s own 500, sent once', async () => {
  await scenario([{ mode: 'status', status: 500 }, { mode: 'ok' }],
    ([a, b]) => upstreamBlock('be', [a.addr, b.addr]) + server('proxy_next_upstream error timeout http_500;'), async (w, [a, b]) => {
      const x = await request(w.port, 'POST', '/', { body: 'x' });
      assert.equal(x.res?.status, 500);
      assert.equal(bodyOf(x), `fixture 500 from ${a.port}`);
      assert.equal(a.requests.length + b.requests.length, 1);
    });
});

test('http_404 retries but does not mark the peer failed; http_403 likewise', async () => {
  for (const status of [404, 403]) {
    await scenario([{ mode: 'status', status }, { mode: 'ok' }],
      ([a, b]) => upstreamBlock('be', [`${a.addr} max_fails=1 fail_timeout=30s`, b.addr]) + server(`proxy_next_upstream error http_${status};`),
      async (w, [a, b]) => {
        for (let i = 0; i < 4; i++) assert.equal((await GET(w.port, `/s${i}`)).res?.status, 200, `${status}: request ${i}`);
        // Not marked failed: round robin keeps trying it. Charged (max_fails=1), it would be
        // skipped for 30 s after its first answer, and the failure logged.
        const lines = await waitAccess(w, 4);
        const retried = lines.filter((l) => l.endsWith(`ua="${a.addr}, ${b.addr}" us="${status}, 200"`));
        assert.equal(retried.length, a.requests.length, `${status}: each try of A was retried on B\n${lines.join('\n')}`);
        assert.ok(a.requests.length >= 2, `${status} peer tried ${a.requests.length} times`);
        assert.doesNotMatch(w.errorLog(), /temporarily disabled/);
      });
  }
});

test('proxy_next_upstream off: a refused first peer gives 502', async () => {
  const dead = await refusedPort();
  await scenario([{ mode: 'ok' }], ([b]) => upstreamBlock('be', [`127.0.0.1:${dead}`, b.addr]) + server('proxy_next_upstream off;'), async (w) => {
    const x = await GET(w.port);
    assert.equal(x.res?.status, 502);
  });
});

test('proxy_next_upstream_tries 2 with 3 resetting peers: 2 attempts, 502; without it: 3', async () => {
  for (const [tries, expected] of [[2, 2], [0, 3]] as const) {
    await scenario([{ mode: 'reset' }, { mode: 'reset' }, { mode: 'reset' }],
      (fx) => upstreamBlock('be', fx.map((f) => f.addr)) + server(`proxy_next_upstream_tries ${tries};`), async (w, fx) => {
        const x = await GET(w.port);
        assert.equal(x.res?.status, 502);
        assert.equal(fx.reduce((n, f) => n + f.requests.length, 0), expected, `tries ${tries}`);
        const lines = await waitAccess(w, 1);
        assert.equal(/ua="([^"]*)"/.exec(lines[0])![1].split(', ').length, expected, lines[0]);
      });
  }
});

test('proxy_next_upstream_timeout bounds the retries', async () => {
  await scenario([{ mode: 'hang' }, { mode: 'hang' }, { mode: 'hang' }],
    (fx) => upstreamBlock('be', fx.map((f) => f.addr)) + server('proxy_read_timeout 300ms; proxy_next_upstream_timeout 500ms;'), async (w, fx) => {
      const x = await GET(w.port);
      assert.equal(x.res?.status, 504);
      assert.equal(fx.reduce((n, f) => n + f.requests.length, 0), 2);
      assert.ok(x.elapsed >= 550 && x.elapsed < 1800, `elapsed ${x.elapsed}`);
    });
});

// ---------------------------------------------------------------- no live upstreams

test('no live upstreams: 502 and nginx\'s log line', async () => {
  const d1 = await refusedPort();
  const d2 = await refusedPort();
  await scenario([], () => upstreamBlock('be', [`127.0.0.1:${d1}`, `127.0.0.1:${d2}`]) + server(), async (w) => {
    assert.equal((await GET(w.port)).res?.status, 502);
    const x = await GET(w.port, '/second');
    assert.equal(x.res?.status, 502);
    await w.waitLog(/\[error\] \d+#\d+: \*\d+ no live upstreams while connecting to upstream, client: 127\.0\.0\.1, server: localhost, request: "GET \/second HTTP\/1\.1", upstream: "http:\/\/be\/second", host: "localhost"/);
    const lines = await waitAccess(w, 2);
    assert.match(lines[1], /ua="be" us="502"/);
  });
});

// ---------------------------------------------------------------- $upstream_* across tries

test('$upstream_addr and $upstream_status list every try, joined by ", "', async () => {
  const dead = await refusedPort();
  await scenario([{ mode: 'reset' }, { mode: 'ok' }],
    ([a, b]) => upstreamBlock('be', [`127.0.0.1:${dead}`, a.addr, b.addr]) + server(), async (w, [a, b]) => {
      const x = await GET(w.port, '/v');
      assert.equal(x.res?.status, 200);
      const lines = await waitAccess(w, 1);
      assert.equal(lines[0], `GET /v 200 ua="127.0.0.1:${dead}, ${a.addr}, ${b.addr}" us="502, 502, 200"`);
    });
});

// ---------------------------------------------------------------- max_fails / fail_timeout through free()

test('max_fails=1 fail_timeout=1s: the failed peer is skipped for fail_timeout, then probed once', async () => {
  await scenario([{ mode: 'reset' }, { mode: 'ok' }],
    ([a, b]) => upstreamBlock('be', [`${a.addr} max_fails=1 fail_timeout=1s`, b.addr]) + server(), async (w, [a, b]) => {
      for (let i = 0; i < 6; i++) assert.equal((await GET(w.port)).res?.status, 200);
      assert.equal(a.requests.length, 1, 'one failure, then skipped');
      assert.equal(b.requests.length, 6);
      await sleep(1100);
      for (let i = 0; i < 4; i++) assert.equal((await GET(w.port)).res?.status, 200);
      assert.equal(a.requests.length, 2, 'probed once after fail_timeout');
    });
});

test('max_fails=2: two failures within fail_timeout before the peer is skipped', async () => {
  await scenario([{ mode: 'reset' }, { mode: 'ok' }],
    ([a, b]) => upstreamBlock('be', [`${a.addr} max_fails=2 fail_timeout=5s`, b.addr]) + server(), async (w, [a]) => {
      for (let i = 0; i < 10; i++) assert.equal((await GET(w.port)).res?.status, 200);
      assert.equal(a.requests.length, 2);
    });
});

test('a single-server group is never made unavailable', async () => {
  let n = 0;
  await scenario([{ mode: () => (n++ === 0 ? 'reset' : 'ok') }],
    ([a]) => upstreamBlock('be', [`${a.addr} max_fails=1 fail_timeout=30s`]) + server(), async (w) => {
      assert.equal((await GET(w.port)).res?.status, 502);
      assert.equal((await GET(w.port)).res?.status, 200);
    });
});

test('the client goes away while the upstream hangs: the upstream connection is closed, 499 logged', async () => {
  await scenario([{ mode: 'hang' }], ([a]) => upstreamBlock('be', [a.addr]) + server(), async (w, [a]) => {
    await request(w.port, 'GET', '/gone', { idleMs: 300, totalMs: 300 });
    await a.waitRequests(1);
    await until('the upstream connection to close', () => a.open === 0);
    assert.equal(a.open, 0, 'upstream connection closed after the client left');
    const lines = await waitAccess(w, 1);
    assert.match(lines[0], /^GET \/gone 499 /);
  });
});

test('"upstream server temporarily disabled" carries the stage and upstream, as nginx logs it on pc->log', {
}, async () => {
  await scenario([{ mode: 'reset' }, { mode: 'ok' }],
    ([a, b]) => upstreamBlock('be', [`${a.addr} max_fails=1`, b.addr]) + server(), async (w, [a]) => {
      assert.equal((await GET(w.port)).res?.status, 200);
      await w.waitLog(new RegExp(`\\[warn\\] \\d+#\\d+: \\*\\d+ upstream server temporarily disabled while reading response header from upstream, client: 127\\.0\\.0\\.1, server: localhost, request: "GET / HTTP/1\\.1", upstream: "http://${a.addr}/", host: "localhost"`));
    });
});
