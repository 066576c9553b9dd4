// sticky cookie / route / learn: the bound peer first, the balancer as fallback.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import test from 'node:test';
import { GET, freePort, startProxy } from '../helpers/proxy-harness.js';

interface Backend { server: Server; port: number; addr: string }

async function backend(name: string, setCookie = false): Promise<Backend> {
  const server = createServer((_req, res) => {
    if (setCookie) res.setHeader('Set-Cookie', `sid=${name}-session; Path=/`);
    res.end(name);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, port, addr: `127.0.0.1:${port}` };
}
const close = (b: Backend): Promise<void> => new Promise((r) => { b.server.closeAllConnections(); b.server.close(() => r()); });

test('sticky cookie: the cookie names the peer (MD5 of its address), in nginx\'s spelling, on every response; falls back when the peer is down', async () => {
  const a = await backend('a');
  const b = await backend('b');
  const w = await startProxy(`
    upstream be { server ${a.addr}; server ${b.addr}; sticky cookie srv path=/ expires=1h domain=.$arg_d httponly samesite=$arg_s; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://be; } }`);
  try {
    const first = await GET(w.port, '/?d=example.com&s=Lax');
    const who = first.res!.body.toString();
    const peer = who === 'a' ? a : b;
    const id = createHash('md5').update(peer.addr).digest('hex');
    // ngx_http_upstream_sticky_cookie_insert's order: expires (with max-age), domain, httponly, secure, samesite, path.
    assert.match(first.res!.headers['set-cookie'] as unknown as string,
      new RegExp(`^srv=${id}; expires=\\w{3}, \\d\\d-\\w{3}-\\d\\d \\d\\d:\\d\\d:\\d\\d GMT; max-age=3600; domain=\\.example\\.com; httponly; samesite=Lax; path=/$`));
    for (let i = 0; i < 6; i++) {
      // A samesite variable with no known value is "strict", as nginx's.
      const again = await GET(w.port, '/?s=bogus', { headers: { Cookie: `srv=${id}` } });
      assert.equal(again.res!.body.toString(), who);
      assert.match(again.res!.headers['set-cookie'] as unknown as string, new RegExp(`^srv=${id}; expires=.*; domain=\\.; httponly; samesite=strict; path=/$`),
        'set again on every response, as nginx does');
    }
    // The bound peer goes away: the balancer chooses, and the cookie follows the new peer.
    await close(peer);
    const other = peer === a ? b : a;
    const moved = await GET(w.port, '/', { headers: { Cookie: `srv=${id}` } });
    assert.equal(moved.res!.body.toString(), other === a ? 'a' : 'b');
    assert.match(moved.res!.headers['set-cookie'] ?? '', new RegExp(`^srv=${createHash('md5').update(other.addr).digest('hex')};`));
  } finally {
    await w.stop();
    await close(a).catch(() => {});
    await close(b).catch(() => {});
  }
});

test('sticky route: the first non-empty variable names the peer by route=; unknown routes fall back', async () => {
  const a = await backend('a');
  const b = await backend('b');
  const w = await startProxy(`
    upstream be { server ${a.addr} route=ra; server ${b.addr} route=rb; sticky route $arg_r $cookie_route; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://be; } }`);
  try {
    for (let i = 0; i < 4; i++) assert.equal((await GET(w.port, '/?r=rb')).res!.body.toString(), 'b');
    for (let i = 0; i < 4; i++) assert.equal((await GET(w.port, '/', { headers: { Cookie: 'route=ra' } })).res!.body.toString(), 'a');
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await GET(w.port, '/?r=nope')).res!.body.toString());
    assert.deepEqual([...seen].sort(), ['a', 'b']);
  } finally {
    await w.stop();
    await close(a);
    await close(b);
  }
});

test('sticky learn: a session created by a response sticks to its peer', async () => {
  const a = await backend('a', true);
  const b = await backend('b', true);
  const w = await startProxy(`
    upstream be { server ${a.addr}; server ${b.addr}; sticky learn create=$upstream_cookie_sid lookup=$cookie_sid zone=client_sessions:1m timeout=1h; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://be; } }`);
  try {
    const first = await GET(w.port, '/');
    const who = first.res!.body.toString();
    for (let i = 0; i < 5; i++) {
      assert.equal((await GET(w.port, '/', { headers: { Cookie: `sid=${who}-session` } })).res!.body.toString(), who);
    }
  } finally {
    await w.stop();
    await close(a);
    await close(b);
  }
});

test('sticky learn header: learned as the response head arrives, before its body ends', async () => {
  // Both peers create the same session; /slow holds its body for 700 ms.
  const make = async (name: string): Promise<Backend> => {
    const server = createServer((req, res) => {
      res.setHeader('Set-Cookie', 'sid=same');
      if (req.url !== '/slow') { res.end(name); return; }
      res.writeHead(200);
      res.write(name);
      setTimeout(() => res.end(), 700);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    return { server, port, addr: `127.0.0.1:${port}` };
  };
  const a = await make('a');
  const b = await make('b');
  const w = await startProxy(`
    upstream be { server ${a.addr}; server ${b.addr}; sticky learn create=$upstream_cookie_sid lookup=$cookie_sid zone=s:1m header; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://be; proxy_buffering off; } }`);
  try {
    const slow = GET(w.port, '/slow', { idleMs: 1500 });
    await new Promise((r) => setTimeout(r, 250));
    const fast: string[] = [];
    for (let i = 0; i < 4; i++) fast.push((await GET(w.port, '/fast', { headers: { Cookie: 'sid=same' } })).res!.body.toString());
    const who = (await slow).res!.body.toString();
    assert.deepEqual(fast, [who, who, who, who]);
  } finally {
    await w.stop();
    await close(a);
    await close(b);
  }
});

test('sticky route and backup servers: the bound backup once the primaries are spent, never while one lives', async () => {
  const a = await backend('a');
  const b = await backend('b');
  const c = await backend('c');
  const dead = await freePort();
  const w = await startProxy(`
    upstream gone { server 127.0.0.1:${dead} route=1; server 127.0.0.1:${dead} route=2; server ${a.addr} backup route=1; server ${b.addr} backup route=2; sticky route $cookie_r; }
    upstream alive { server ${a.addr}; server ${b.addr}; server ${c.addr} backup route=3; sticky route $cookie_r; }
    server { listen 127.0.0.1:%PORT%;
      location /gone { proxy_pass http://gone; }
      location /alive { proxy_pass http://alive; } }`);
  try {
    for (let i = 0; i < 4; i++) assert.equal((await GET(w.port, '/gone', { headers: { Cookie: 'r=2' } })).res!.body.toString(), 'b');
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await GET(w.port, '/alive', { headers: { Cookie: 'r=3' } })).res!.body.toString());
    assert.deepEqual([...seen].sort(), ['a', 'b']);
  } finally {
    await w.stop();
    await close(a);
    await close(b);
    await close(c);
  }
});

test('drain: a draining server gets only requests bound to it', async () => {
  const a = await backend('a');
  const b = await backend('b');
  const w = await startProxy(`
    upstream be { server ${a.addr} route=ra drain; server ${b.addr} route=rb; sticky route $arg_r; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://be; } }`);
  try {
    for (let i = 0; i < 4; i++) assert.equal((await GET(w.port, '/')).res!.body.toString(), 'b');
    assert.equal((await GET(w.port, '/?r=ra')).res!.body.toString(), 'a');
  } finally {
    await w.stop();
    await close(a);
    await close(b);
  }
});

test('sticky config errors', async () => {
  await assert.rejects(startProxy(`upstream be { server 127.0.0.1:1; sticky cookie srv bogus; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://be; } }`), /unknown parameter "bogus"/);
  await assert.rejects(startProxy(`upstream be { server 127.0.0.1:1; sticky cookie srv secure secure; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://be; } }`), /"sticky" directive parameter "secure" is duplicate/);
  await assert.rejects(startProxy(`upstream be { server 127.0.0.1:1; sticky cookie srv samesite=always; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://be; } }`), /invalid "samesite" parameter value/);
  await assert.rejects(startProxy(`upstream be { server 127.0.0.1:1; sticky route arg_r; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://be; } }`), /invalid variable name "arg_r"/);
  await assert.rejects(startProxy(`upstream be { server 127.0.0.1:1; sticky learn create=$upstream_cookie_a lookup=$cookie_a; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass http://be; } }`), /"zone" parameter is not specified/);
});
