/**
 * memcached_pass against the real memcached (Debian's `memcached`, started
 * here on a free port and filled with raw `set` commands) and against a
 * scripted fake for the malformed replies (RELIABILITY U14).
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { gzipSync, gunzipSync } from 'node:zlib';
import { exchange, freePort, get, startWeir, type Weir } from '../helpers/raw-http.js';
import { startFakeMemcached, type FakeMemcached } from '../helpers/fake-memcached.js';
import { findBinary, logMatching, startRelay, waitForPort, type Relay } from '../helpers/daemons.js';
import { fileLines, waitLines } from '../helpers/in-process.js';
import { join } from 'node:path';
import { needs } from '../helpers/require.js';

async function one(w: Weir, req: string) {
  const ex = await exchange(w.port, req);
  assert.ok(ex.responses.length >= 1, `no response: ${ex.raw.toString('latin1')}`);
  return ex.responses[0];
}

/** Sends raw commands to memcached and waits for one reply line per command. */
function memcachedSet(port: number, items: Array<[string, number, Buffer | string]>): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('error', reject);
    s.on('data', (d) => {
      got += d.toString('latin1');
      if ((got.match(/\r\n/g) ?? []).length >= items.length) {
        s.destroy();
        if (/^(STORED\r\n)+$/.test(got)) resolve(); else reject(new Error(`memcached said ${got}`));
      }
    });
    for (const [key, flags, value] of items) {
      const v = typeof value === 'string' ? Buffer.from(value) : value;
      s.write(Buffer.concat([Buffer.from(`set ${key} ${flags} 0 ${v.length}\r\n`), v, Buffer.from('\r\n')]));
    }
  });
}

const memcachedBin = findBinary(['memcached']);

describe('real memcached', { skip: needs('memcached', memcachedBin !== null, 'apt-get install memcached') }, () => {
  let mc: ChildProcess;
  let mcPort = 0;
  let w: Weir;
  /** A second address for the same memcached: the balancers get two distinct peers. */
  let relay: Relay;
  const big = Buffer.alloc(200_000, 'x');
  before(async () => {
    mcPort = await freePort();
    const args = ['-l', '127.0.0.1', '-p', String(mcPort), '-U', '0', '-m', '16'];
    if (process.getuid?.() === 0) args.push('-u', 'root');
    mc = spawn(memcachedBin!, args, { stdio: 'ignore' });
    await waitForPort(mcPort);
    await memcachedSet(mcPort, [
      ['/hello', 0, 'hello from memcached'],
      ['/page.html', 0, '<p>html</p>'],
      ['/z', 2, gzipSync('compressed body')],
      ['/sp%20ace', 0, 'escaped key'],
      ['/big', 0, big],
      ['/b', 0, 'value-b'],
    ]);
    relay = await startRelay(mcPort);
    w = await startWeir(`
http {
  types { text/html html; }
  default_type application/x-memcached-default;
  log_format up '$request_uri $upstream_addr';
  upstream mcs { server 127.0.0.1:${mcPort}; server 127.0.0.1:${relay.port}; }
  upstream mchash { hash $arg_k consistent; server 127.0.0.1:${mcPort}; server 127.0.0.1:${relay.port}; }
  server {
    listen 127.0.0.1:%PORT%;
    access_log %PREFIX%/access.log up;
    location / { set $memcached_key $uri; memcached_pass 127.0.0.1:${mcPort}; memcached_gzip_flag 2; }
    location /rr/ { set $memcached_key /$arg_k; memcached_pass mcs; }
    location /hash/ { set $memcached_key /$arg_k; memcached_pass mchash; }
    location /nokey/ { memcached_pass 127.0.0.1:${mcPort}; }
    location /ep/ { set $memcached_key $uri; memcached_pass 127.0.0.1:${mcPort}; error_page 404 = /fallback; }
    location = /fallback { return 200 "fallback\\n"; }
  }
}`);
  });
  after(async () => { await w?.stop(); await relay?.close(); mc?.kill(); });

  test('a stored value is the body, typed by default_type, with Content-Length', async () => {
    const res = await one(w, get('/hello'));
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'hello from memcached');
    assert.equal(res.headers['content-length'], '20');
    assert.equal(res.headers['content-type'], 'application/x-memcached-default');
    assert.equal(res.headers['content-encoding'], undefined);
  });

  test('the type follows the URI extension', async () => {
    const res = await one(w, get('/page.html'));
    assert.equal(res.headers['content-type'], 'text/html');
    assert.equal(res.body.toString(), '<p>html</p>');
  });

  test('a missing key is 404 (not a failure), with the built-in page', async () => {
    const res = await one(w, get('/missing'));
    assert.equal(res.status, 404);
    assert.match(res.body.toString(), /404 Not Found/);
    assert.match(await logMatching(w.errorLog, /\[info\].*key: "\/missing" was not found by memcached/), /\[info\].*key: "\/missing" was not found by memcached/);
  });

  test('error_page 404 applies to a memcached miss (intercept_404)', async () => {
    const res = await one(w, get('/ep/none'));
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'fallback\n');
  });

  test('memcached_gzip_flag adds Content-Encoding: gzip', async () => {
    const res = await one(w, get('/z'));
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(res.body).toString(), 'compressed body');
  });

  test('the key is escaped as nginx does (space → %20)', async () => {
    const res = await one(w, get('/sp%20ace'));
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'escaped key');
  });

  test('a large value streams whole', async () => {
    const res = await one(w, get('/big'));
    assert.equal(res.status, 200);
    assert.equal(res.body.length, big.length);
    assert.ok(res.body.equals(big));
  });

  test('a Range is answered with one range of the value, as nginx\'s memcached (force_ranges); several get the whole value', async () => {
    const res = await one(w, get('/hello', 'Range: bytes=6-9\r\n'));
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], 'bytes 6-9/20');
    assert.equal(res.body.toString(), 'from');
    const several = await one(w, get('/hello', 'Range: bytes=0-1,6-9\r\n'));
    assert.equal(several.status, 200);
    assert.equal(several.headers['accept-ranges'], 'bytes');
    assert.equal(several.body.toString(), 'hello from memcached');
  });

  test('HEAD gets the headers only', async () => {
    const ex = await exchange(w.port, get('/hello', '', 'HEAD'), { methods: ['HEAD'] });
    assert.equal(ex.responses[0].status, 200);
    assert.equal(ex.responses[0].headers['content-length'], '20');
    assert.equal(ex.responses[0].body.length, 0);
  });

  test('POST is 405', async () => {
    const res = await one(w, 'POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc');
    assert.equal(res.status, 405);
  });

  test('an unset $memcached_key is 500 with nginx\'s message', async () => {
    const res = await one(w, get('/nokey/x'));
    assert.equal(res.status, 500);
    assert.match(await logMatching(w.errorLog, /the "\$memcached_key" variable is not set/), /the "\$memcached_key" variable is not set/);
  });

  test('upstream blocks: round robin and consistent hash', async () => {
    const paths = ['/rr/?k=b', '/rr/?k=b', '/rr/?k=hello', '/rr/?k=hello'];
    // The ring depends on the peers' ports, new each run: 20 keys (misses, 404, are routed
    // all the same) leave one peer without any with odds of 2 in a million.
    for (let k = 0; k < 20; k++) paths.push(`/hash/?k=key${k}`, `/hash/?k=key${k}`);
    const before0 = fileLines(join(w.prefix, 'access.log')).length;
    for (const path of paths) {
      const res = await one(w, get(path));
      assert.equal(res.status, path.startsWith('/rr/') ? 200 : 404, path);
    }
    assert.equal((await one(w, get('/hash/?k=b'))).body.toString(), 'value-b');
    const lines = (await waitLines(join(w.prefix, 'access.log'), before0 + paths.length + 1)).slice(before0);
    const addr = (i: number): string => lines[i].split(' ')[1];
    const direct = `127.0.0.1:${mcPort}`;
    const relayed = `127.0.0.1:${relay.port}`;
    // Round robin alternates between the two peers.
    assert.deepEqual([0, 1, 2, 3].map(addr).sort(), [direct, direct, relayed, relayed].sort(), lines.slice(0, 4).join('\n'));
    assert.notEqual(addr(0), addr(1));
    // The hash sends a key to one peer every time, and the keys to both peers.
    const byKey = new Map<string, Set<string>>();
    for (let i = 4; i < lines.length; i++) {
      const k = lines[i].split(' ')[0];
      byKey.set(k, (byKey.get(k) ?? new Set()).add(addr(i)));
    }
    for (const [k, set] of byKey) assert.equal(set.size, 1, `${k} went to ${[...set].join(' and ')}`);
    assert.equal(new Set(lines.slice(4).map((_l, i) => addr(i + 4))).size, 2, lines.slice(4).join('\n'));
  });
});

describe('fake memcached (malformed replies)', () => {
  let good: FakeMemcached;
  let bad: FakeMemcached;
  let w: Weir;
  const replies: Record<string, string> = {
    '/ok': 'VALUE /ok 0 2\r\nok\r\nEND\r\n',
    '/miss': 'END\r\n',
    '/server-error': 'SERVER_ERROR out of memory\r\n',
    '/client-error': 'CLIENT_ERROR bad command line format\r\n',
    '/other-key': 'VALUE /another 0 2\r\nok\r\nEND\r\n',
    '/bad-length': 'VALUE /bad-length 0 x2\r\nok\r\nEND\r\n',
    '/garbage': 'HTTP/1.1 200 OK\r\n\r\n',
    '/extra': 'VALUE /extra 0 5\r\nextra\r\nEND\r\nVALUE junk\r\n',
    '/bad-trailer': 'VALUE /bad-trailer 0 2\r\nokXXXXXXX',
  };
  before(async () => {
    good = await startFakeMemcached((key) => replies[key] ?? 'END\r\n');
    bad = await startFakeMemcached(() => 'SERVER_ERROR always\r\n');
    w = await startWeir(`
http {
  default_type text/plain;
  upstream retry { server 127.0.0.1:${bad.port}; server 127.0.0.1:${good.port}; }
  upstream lc { least_conn; server 127.0.0.1:${good.port}; }
  upstream one { server 127.0.0.1:${good.port}; }
  upstream noretry { server 127.0.0.1:${bad.port}; server 127.0.0.1:${good.port}; }
  server {
    listen 127.0.0.1:%PORT%;
    location / { set $memcached_key $uri; memcached_pass 127.0.0.1:${good.port}; }
    location /retry/ { set $memcached_key /ok; memcached_pass retry; memcached_next_upstream error timeout invalid_response; }
    location /noretry/ { set $memcached_key /ok; memcached_pass noretry; memcached_next_upstream off; }
    location /k/ { set $memcached_key /$arg_k; memcached_pass one; }
    location /lc/ { set $memcached_key /ok; memcached_pass lc; }
    location /var/ { set $memcached_key /ok; memcached_pass $arg_b; }
  }
}`);
  });
  after(async () => { await w?.stop(); await good?.close(); await bad?.close(); });

  for (const [path, re] of [
    ['/server-error', /memcached sent invalid response: "SERVER_ERROR out of memory" while reading response header from upstream/],
    ['/client-error', /memcached sent invalid response: "CLIENT_ERROR/],
    ['/other-key', /memcached sent invalid key in response "VALUE \/another 0 2" for key "\/other-key"/],
    ['/bad-length', /memcached sent invalid length in response/],
    ['/garbage', /memcached sent invalid response: "HTTP\/1.1 200 OK"/],
  ] as const) {
    test(`${path} is 502 with nginx's log line`, async () => {
      const res = await one(w, get(path));
      assert.equal(res.status, 502);
      assert.match(await logMatching(w.errorLog, re), re);
      assert.match(await logMatching(w.errorLog, /upstream: "memcached:\/\/127\.0\.0\.1:\d+"/), /upstream: "memcached:\/\/127\.0\.0\.1:\d+"/);
    });
  }

  test('a clean reply keeps the connection; data after END is discarded and closes it', async () => {
    const before0 = good.connections;
    const a = await one(w, get('/k/?k=ok'));
    const b = await one(w, get('/k/?k=ok'));
    const c = await one(w, get('/k/?k=miss'));
    assert.deepEqual([a.status, b.status, c.status], [200, 200, 404]);
    assert.equal(a.body.toString(), 'ok');
    assert.equal(good.connections - before0, 1, 'one connection for three clean replies');
    const e = await one(w, get('/k/?k=extra'));
    assert.equal(e.status, 200);
    assert.equal(e.body.toString(), 'extra');
    assert.match(await logMatching(w.errorLog, /memcached sent invalid trailer while reading upstream/), /memcached sent invalid trailer while reading upstream/);
    const after1 = good.connections;
    const f = await one(w, get('/k/?k=ok'));
    assert.equal(f.status, 200);
    assert.equal(good.connections - after1, 1, 'the connection that carried extra data was not reused');
  });

  test('memcached_pass with variables: an upstream block or an address; unix sockets parse, a bad address is 500', async () => {
    for (const b of ['one', `127.0.0.1:${good.port}`]) {
      const res = await one(w, get(`/var/?b=${b}`));
      assert.equal(res.status, 200, b);
      assert.equal(res.body.toString(), 'ok', b);
    }
    assert.equal((await one(w, get('/var/?b=unix:/nonexistent/mc.sock'))).status, 502);
    await logMatching(w.errorLog, /\(2: No such file or directory\) while connecting to upstream, .*GET \/var\/\?b=unix:\/nonexistent\/mc\.sock /);
    assert.equal((await one(w, get('/var/?b='))).status, 500);
    await logMatching(w.errorLog, /no host in upstream ""/);
  });

  // nginx's connect() to a unix socket fails at once (ngx_event_connect_peer), so it logs
  // "[crit] connect() to unix:PATH failed", not the TCP wording of a refused connect.
  test('a unix socket that does not exist is logged as nginx does: [crit] connect() to unix:PATH failed', async () => {
    assert.equal((await one(w, get('/var/?b=unix:/nonexistent/mc2.sock'))).status, 502);
    await logMatching(w.errorLog, /\[crit\] \d+#0: \*\d+ connect\(\) to unix:\/nonexistent\/mc2\.sock failed \(2: No such file or directory\) while connecting to upstream/, 2000);
  });

  test('HEAD: the header is sent and the connection closed, its body unread, as nginx', async () => {
    await one(w, get('/k/?k=ok'));
    const before0 = good.connections;
    const h = await exchange(w.port, get('/k/?k=ok', '', 'HEAD'), { methods: ['HEAD'] });
    assert.equal(h.responses[0].status, 200);
    assert.equal(h.responses[0].headers['content-length'], '2');
    assert.equal(h.responses[0].body.length, 0);
    assert.equal(good.connections, before0, 'the HEAD went over the cached connection');
    const g = await one(w, get('/k/?k=ok'));
    assert.equal(g.body.toString(), 'ok');
    assert.equal(good.connections - before0, 1, 'the HEAD\'s connection, its body unread, was not reused');
  });

  test('a bad trailer keeps the data, logs, and the connection is not reused', async () => {
    // Through upstream `one`, whose clean replies keep their connection (the test above):
    // a warm connection first, so the bad reply goes over a cached one.
    assert.equal((await one(w, get('/k/?k=ok'))).status, 200);
    const before0 = good.connections;
    const res = await one(w, get('/k/?k=bad-trailer'));
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'ok');
    assert.equal(good.connections, before0, 'the bad reply came over the cached connection');
    await logMatching(w.errorLog, /\[error\] .*memcached sent invalid trailer while reading upstream, .*request: "GET \/k\/\?k=bad-trailer /);
    assert.equal((await one(w, get('/k/?k=ok'))).body.toString(), 'ok');
    assert.equal(good.connections - before0, 1, 'the connection with the bad trailer was not reused');
  });

  test('memcached_next_upstream invalid_response retries on the second server', async () => {
    const res = await one(w, get('/retry/'));
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'ok');
  });

  test('memcached_next_upstream off: the invalid reply is the answer', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) statuses.push((await one(w, get('/noretry/'))).status);
    assert.ok(statuses.includes(502), `${statuses}`);
  });

  test('least_conn upstream works and reuses the connection', async () => {
    await one(w, get('/lc/'));
    const n = good.connections;
    for (let i = 0; i < 3; i++) assert.equal((await one(w, get('/lc/'))).status, 200);
    assert.equal(good.connections, n);
  });
});
