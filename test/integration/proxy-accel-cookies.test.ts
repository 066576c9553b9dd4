// X-Accel-Redirect, X-Accel-Limit-Rate / proxy_limit_rate, and the Set-Cookie
// rewriting directives (proxy_cookie_domain, proxy_cookie_path, proxy_cookie_flags).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import test from 'node:test';
import { startFaultUpstream } from '../helpers/fault-upstream.js';
import { GET, request, startProxy, waitAccess } from '../helpers/proxy-harness.js';

/** A node upstream whose handler decides per request. */
async function upstream(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; addr: string }> {
  const server = createServer(handler!);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address() as { port: number };
  return { server, addr: `127.0.0.1:${a.port}` };
}

const close = (s: Server): Promise<void> => new Promise((r) => { s.closeAllConnections(); s.close(() => r()); });

test('X-Accel-Redirect: an internal redirect to a location (as GET) or a named location; the header is not sent', async () => {
  const seen: string[] = [];
  const up = await upstream((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url === '/app/named') res.setHeader('X-Accel-Redirect', '@files');
    else if (req.url?.startsWith('/app/')) res.setHeader('X-Accel-Redirect', '/protected/file.txt?x=1');
    res.end('upstream body, never seen');
  });
  const w = await startProxy(`server {
      listen 127.0.0.1:%PORT%;
      location /app/ { proxy_pass http://${up.addr}; }
      location /protected/ { internal; return 200 "internal $uri $args $request_method"; }
      location @files { return 200 "named"; }
    }`);
  try {
    const a = await request(w.port, 'POST', '/app/doc', { body: 'payload' });
    assert.equal(a.res?.status, 200);
    assert.equal(a.res?.body.toString(), 'internal /protected/file.txt x=1 GET');
    assert.equal(a.res?.headers['x-accel-redirect'], undefined);
    const b = await GET(w.port, '/app/named');
    assert.equal(b.res?.body.toString(), 'named');
    // The internal location is not reachable directly.
    assert.equal((await GET(w.port, '/protected/file.txt')).res?.status, 404);
    assert.deepEqual(seen, ['POST /app/doc', 'GET /app/named']);
  } finally {
    await w.stop();
    await close(up.server);
  }
});

test('X-Accel-Redirect keeps the upstream\'s Content-Type, Set-Cookie and the like, drops the rest; unsafe URIs are 404; a named location keeps the method', async () => {
  const up = await upstream((req, res) => {
    const target = new URL(req.url!, 'http://x').searchParams.get('to')!;
    res.setHeader('X-Accel-Redirect', target);
    res.setHeader('Content-Type', 'text/blah');
    res.setHeader('Set-Cookie', ['a=1', 'b=2']);
    res.setHeader('Content-Disposition', 'attachment');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Expires', 'fake');
    res.setHeader('Accept-Ranges', 'parrots');
    res.setHeader('X-Other', 'dropped');
    res.end();
  });
  const w = await startProxy(`server {
      listen 127.0.0.1:%PORT%;
      location /app/ { proxy_pass http://${up.addr}; }
      location /to/ { return 200 "to $uri $args"; }
      location @named { return 200 "named $request_method"; }
    }`);
  try {
    const a = await GET(w.port, '/app/?to=/to/x%20y?q=1');
    assert.equal(a.res?.status, 200);
    assert.equal(a.res?.body.toString(), 'to /to/x y q=1');
    const h = a.res!.headers;
    assert.deepEqual([h['content-type'], h['set-cookie'], h['content-disposition'], h['cache-control'], h.expires, h['accept-ranges']],
      ['text/blah', 'a=1, b=2', 'attachment', 'no-cache', 'fake', 'parrots']);
    assert.equal(h['x-other'], undefined);
    for (const bad of ['..', '../x', '/to/..', '/to/../x', '/to/.%2e', '/to/%2e%2e/x', '/to/a%00b']) {
      const x = await GET(w.port, `/app/?to=${encodeURIComponent(bad)}`);
      assert.equal(x.res?.status, 404, bad);
    }
    assert.match(await w.waitLog(/unsafe URI/), /\[error\] .*unsafe URI "\.\." was detected/);
    const n = await request(w.port, 'POST', '/app/?to=@named', { body: 'x' });
    assert.equal(n.res?.body.toString(), 'named POST');
  } finally {
    await w.stop();
    await close(up.server);
  }
});

test('proxy_ignore_headers X-Accel-Redirect passes the response through as is', async () => {
  const up = await startFaultUpstream({ mode: 'ok', extraHeaders: ['X-Accel-Redirect: /elsewhere'] });
  const w = await startProxy(`server {
      listen 127.0.0.1:%PORT%;
      location / { proxy_pass http://${up.addr}; proxy_ignore_headers X-Accel-Redirect; }
      location /elsewhere { return 200 "redirected"; }
    }`);
  try {
    const x = await GET(w.port, '/');
    assert.equal(x.res?.body.toString(), `port=${up.port}`);
  } finally {
    await w.stop();
    await up.stop();
  }
});

test('proxy_limit_rate bounds how fast the upstream is read, X-Accel-Limit-Rate how fast the client is written', async () => {
  const big = 'x'.repeat(60_000);
  const up = await upstream((req, res) => {
    if (req.url === '/accel') res.setHeader('X-Accel-Limit-Rate', '30000');
    res.end(big);
  });
  const w = await startProxy(`server {
      listen 127.0.0.1:%PORT%;
      location / { proxy_pass http://${up.addr}; proxy_limit_rate 100k; }
      location /accel { proxy_pass http://${up.addr}; }
      location /var { proxy_pass http://${up.addr}; proxy_limit_rate $arg_r; }
    }`);
  try {
    // 60 KB read at 100 KiB/s takes about 0.6 s; written at 30000 B/s (the first second's worth at once) about 1 s.
    const a = await GET(w.port, '/', { idleMs: 3000 });
    assert.equal(a.res?.body.length, big.length);
    assert.ok(a.elapsed >= 400, `limited: ${a.elapsed} ms`);
    const b = await GET(w.port, '/accel', { idleMs: 3000 });
    assert.equal(b.res?.body.length, big.length);
    assert.ok(b.elapsed >= 700, `limited by the header: ${b.elapsed} ms`);
    // proxy_limit_rate with variables (nginx 1.27.0+), evaluated per request.
    const c = await GET(w.port, '/var?r=100k', { idleMs: 3000 });
    assert.equal(c.res?.body.length, big.length);
    assert.ok(c.elapsed >= 400, `limited by $arg_r: ${c.elapsed} ms`);
    const d = await GET(w.port, '/var?r=0', { idleMs: 3000 });
    assert.equal(d.res?.body.length, big.length);
    assert.ok(d.elapsed < 400, `unlimited: ${d.elapsed} ms`);
  } finally {
    await w.stop();
    await close(up.server);
  }
});

test('proxy_cookie_domain, proxy_cookie_path and proxy_cookie_flags rewrite Set-Cookie', async () => {
  const up = await upstream((_req, res) => {
    res.setHeader('Set-Cookie', [
      'a=1; Domain=.backend.internal; Path=/app/x',
      'b=2;domain=backend.internal;path=/other',
      'sess=3; Path=/app',
      'keep=4;Domain=example.org',
      'Dyn=5;secure;SameSite=None',
    ]);
    res.end('ok');
  });
  const w = await startProxy(`server {
      listen 127.0.0.1:%PORT%;
      location / {
        proxy_pass http://${up.addr};
        proxy_cookie_domain backend.internal public.example.com;
        proxy_cookie_path /app/ /;
        proxy_cookie_path ~^/other$ /moved;
        proxy_cookie_flags sess secure httponly samesite=strict;
        proxy_cookie_flags $arg_c $arg_f1 $arg_f2;
      }
    }`);
  try {
    const x = await GET(w.port, '/?c=dyn&f1=nosecure&f2=samesite=lax');
    const cookies = x.res!.headers['set-cookie'];
    // A leading dot stays; a rewritten field is joined again with "; ", an untouched one is as it came.
    assert.equal(cookies, [
      'a=1; Domain=.public.example.com; Path=/x',
      'b=2; domain=public.example.com; path=/moved',
      'sess=3; Path=/app; Secure; HttpOnly; SameSite=Strict',
      'keep=4;Domain=example.org',
      'Dyn=5; SameSite=Lax',
    ].join(', '));
  } finally {
    await w.stop();
    await close(up.server);
  }
});

test('proxy_cookie_* config errors and off; an unknown flag is ignored per response, as nginx does', async () => {
  await assert.rejects(startProxy(`server { listen 127.0.0.1:%PORT%; location / { proxy_cookie_path on; } }`),
    /invalid parameter "on"/);
  const up = await upstream((_req, res) => { res.setHeader('Set-Cookie', ['a=1; Path=/app/x', 'b=2;Secure']); res.end('ok'); });
  const w = await startProxy(`proxy_cookie_path /app/ /;
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://${up.addr}; proxy_cookie_path off; proxy_cookie_flags b bogus; } }`);
  try {
    assert.equal((await GET(w.port, '/')).res?.headers['set-cookie'], 'a=1; Path=/app/x, b=2;Secure');
  } finally {
    await w.stop();
    await close(up.server);
  }
});

test('$upstream_trailer_NAME in the access log, from a chunked upstream response', async () => {
  const up = await upstream((_req, res) => {
    res.setHeader('Trailer', 'X-Checksum');
    res.write('part1-');
    res.addTrailers({ 'X-Checksum': 'abc123' });
    res.end('part2');
  });
  const w = await startProxy(`log_format tr '$status $upstream_trailer_x_checksum';
    server { listen 127.0.0.1:%PORT%; access_log logs/tr.log tr; location / { proxy_pass http://${up.addr}; } }`);
  try {
    const x = await GET(w.port, '/');
    assert.equal(x.res?.body.toString(), 'part1-part2');
    assert.deepEqual(await waitAccess(w, 1, undefined, 'logs/tr.log'), ['200 abc123']);
  } finally {
    await w.stop();
    await close(up.server);
  }
});
