// Upstream addressing and request-level behaviours: unix sockets, host names,
// $upstream_* across internal redirects, proxy_ignore_client_abort.
import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import test from 'node:test';
import { refusedPort, startFaultUpstream } from '../helpers/fault-upstream.js';
import { GET, request, startProxy } from '../helpers/proxy-harness.js';
import { pollUntil } from '../helpers/wait.js';
import { have } from '../helpers/require.js';

function listen(server: Server, where: number | string): Promise<void> {
  return new Promise((r) => (typeof where === 'string' ? server.listen(where, r) : server.listen(where, '127.0.0.1', r)));
}
const close = (s: Server): Promise<void> => new Promise((r) => { s.closeAllConnections(); s.close(() => r()); });

test('unix sockets: proxy_pass http://unix:/path:/uri and `server unix:/path` in an upstream block', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-unix-'));
  const path = join(dir, 'app.sock');
  const app = createServer((req, res) => res.end(`unix ${req.url} host=${req.headers.host}`));
  await listen(app, path);
  const w = await startProxy(`
    upstream u { server unix:${path}; }
    server {
      listen 127.0.0.1:%PORT%;
      location /direct/ { proxy_pass http://unix:${path}:/inner/; }
      location /block/ { proxy_pass http://u; }
    }`);
  try {
    const a = await GET(w.port, '/direct/x?y=1');
    assert.equal(a.res?.body.toString(), 'unix /inner/x?y=1 host=localhost');
    const b = await GET(w.port, '/block/z');
    assert.equal(b.res?.body.toString(), 'unix /block/z host=u');
  } finally {
    await w.stop();
    await close(app);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a server given by host name uses the addresses it resolves to at start-up', async (t) => {
  const name = hostname();
  let addresses: string[] = [];
  try {
    addresses = (await lookup(name, { all: true, family: 4 })).map((a) => a.address);
  } catch { /* reported below */ }
  if (!have(t, `a resolvable host name ("${name}")`, addresses.length > 0, 'the machine\'s name in /etc/hosts')) return;
  const app = createServer((_req, res) => res.end('by name'));
  await new Promise<void>((r) => app.listen(0, '0.0.0.0', r));
  const port = (app.address() as { port: number }).port;
  const w = await startProxy(`
    upstream named { server ${name}:${port}; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://named; add_header X-UA $upstream_addr; } }`);
  try {
    const x = await GET(w.port, '/');
    assert.equal(x.res?.body.toString(), 'by name');
    assert.ok(addresses.some((a) => x.res?.headers['x-ua'] === `${a}:${port}`), `${x.res?.headers['x-ua']} in ${addresses.join(',')}`);
  } finally {
    await w.stop();
    await close(app);
  }
});

test('a host name that does not resolve is a config error naming the server line', async () => {
  await assert.rejects(startProxy(`
    upstream bad { server no-such-host.invalid:80; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://bad; } }`),
  /host not found in upstream "no-such-host\.invalid:80" in inline:\d+$/);
});

test('$upstream_addr and $upstream_status join internal redirects with " : "', async () => {
  // A port just found free, not port 1 (which weir -t in config-test.test.ts may hold for a moment).
  const dead = await refusedPort();
  const good = createServer((_req, res) => res.end('good'));
  await listen(good, 0);
  const port = (good.address() as { port: number }).port;
  const w = await startProxy(`server {
      listen 127.0.0.1:%PORT%;
      location /a { proxy_pass http://127.0.0.1:${dead}; error_page 502 = /b; }
      location /b { proxy_pass http://127.0.0.1:${port}; add_header X-UA $upstream_addr; add_header X-US $upstream_status; }
    }`);
  try {
    const x = await GET(w.port, '/a');
    assert.equal(x.res?.status, 200);
    assert.equal(x.res?.headers['x-ua'], `127.0.0.1:${dead} : 127.0.0.1:${port}`);
    assert.equal(x.res?.headers['x-us'], '502 : 200');
  } finally {
    await w.stop();
    await close(good);
  }
});

for (const ignore of ['off', 'on'] as const) {
  test(`proxy_ignore_client_abort ${ignore}: a client gone before the answer ${ignore === 'on' ? 'leaves' : 'aborts'} the upstream request`, async () => {
    let upstreamClosedEarly = false;
    let answered = false;
    let sent = false;
    let arrived: () => void = () => {};
    const requestArrived = new Promise<void>((r) => { arrived = r; });
    let answer: () => void = () => {};
    const app = createServer((req, res) => {
      req.socket.once('close', () => { if (!answered) upstreamClosedEarly = true; });
      // The app answers when the test says so, not after a time.
      answer = () => { answered = true; res.end('late'); };
      res.once('finish', () => { sent = true; });
      arrived();
    });
    await listen(app, 0);
    const port = (app.address() as { port: number }).port;
    const w = await startProxy(`server { listen 127.0.0.1:%PORT%;
      location / { proxy_pass http://127.0.0.1:${port}; proxy_ignore_client_abort ${ignore}; }
      location = /barrier { return 200 "barrier"; } }`);
    try {
      const c = connect(w.port, '127.0.0.1');
      await new Promise((r) => c.once('connect', r));
      c.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
      await requestArrived;
      c.destroy();
      if (ignore === 'off') {
        // weir sees the client go and closes the upstream request, unanswered.
        await w.waitLog(/\[info\] .*client prematurely closed connection while reading response header from upstream, .*request: "GET \/ HTTP\/1\.1"/);
        await pollUntil('the upstream connection to close', () => upstreamClosedEarly, (v) => v);
        answer();
      } else {
        // A full request on another connection: by its answer weir has long read the
        // first client's close (sent before it), and must have left the upstream alone.
        assert.equal((await GET(w.port, '/barrier')).res?.body.toString(), 'barrier');
        assert.equal(upstreamClosedEarly, false, 'the upstream request was aborted with the client');
        answer();
        await pollUntil('the answer to be sent', () => sent, (v) => v);
        assert.equal(upstreamClosedEarly, false);
      }
    } finally {
      await w.stop();
      await close(app);
    }
  });
}

for (const buffering of ['on', 'off'] as const) {
  test(`proxy_request_buffering ${buffering}: a PUT whose first upstream resets is ${buffering === 'on' ? 'replayed to the next' : 'not replayed (its body was streamed)'}`, async () => {
    const bad = await startFaultUpstream({ mode: 'reset' });
    const good = await startFaultUpstream({ mode: 'ok' });
    const w = await startProxy(`
      upstream be { server ${bad.addr}; server ${good.addr}; }
      server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://be; proxy_request_buffering ${buffering}; } }`);
    try {
      const x = await request(w.port, 'PUT', '/', { body: 'payload' });
      assert.equal(x.res?.status, buffering === 'on' ? 200 : 502);
      assert.equal(good.requests.length, buffering === 'on' ? 1 : 0);
    } finally {
      await w.stop();
      await bad.stop();
      await good.stop();
    }
  });
}
