/**
 * The HTTP proxy module, response side: headers hidden and passed
 * (proxy_hide_header / proxy_pass_header, Date/Server/X-Accel-*), hop-by-hop
 * and Connection-named headers stripped (U12), proxy_redirect (default, off,
 * rules; checked against nginx when it is installed), 1xx (103 to HTTP/1.1
 * clients only, 100 swallowed, an unasked 101 → 502: U6/U7),
 * proxy_intercept_errors with error_page, $upstream_http_* / $upstream_cookie_*,
 * bodiless responses (CL 0, HEAD, 204, 304), a 5 MB body to a slow reader
 * under backpressure, and a client abort mid-download (F14).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { exchange, leakSnapshot, startProxy, sleep, trackUnhandled, waitAccess, type ProxyWeir } from '../helpers/proxy-harness.js';
import { needs } from '../helpers/require.js';
import { NGINX_BIN, rawClient, startNginx, startScriptUpstream, type ScriptUpstream } from '../helpers/proxy-fixtures.js';
import { until } from '../helpers/wait.js';

const unhandled = trackUnhandled();

// A full GC before measuring buffers (freed chunks would otherwise count).
setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

interface Seen { target: string; method: string; head: string; conn: number }

/** What the routed upstream does for a request: bytes to write, or a function that takes over the socket. */
type Answer = string | Buffer | ((sock: Socket) => void);

const H = 'HTTP/1.1 200 OK\r\n';
// 5 MB fits in the loopback socket buffers of the two connections (about 4 MB
// each, measured), so the backpressure test needs more than that to see weir hold the upstream.
const big = Buffer.alloc(24 * 1024 * 1024);
for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 12)) & 0xff;
const bigSha = createHash('sha256').update(big).digest('hex');

/** Upstream-side observation of the big download. */
const bigStats = { written: 0, blocked: 0, maxBlockedAt: 0, done: false };
/** The socket of the endless download (F14). */
const endless = { closed: false, opened: false };

const ROUTES: Array<[RegExp, Answer]> = [
  [/^\/hide/, `${H}Date: Mon, 01 Jan 2001 00:00:00 GMT\r\nServer: upstream-srv\r\nX-Pad: avoid browser bug\r\nX-Accel-Expires: 10\r\n`
    + 'X-Accel-Limit-Rate: 1000000\r\nX-Accel-Buffering: no\r\nX-Accel-Charset: utf-8\r\nX-Secret: s\r\nX-Kept: k\r\n'
    + 'Connection: X-Hop\r\nX-Hop: hop\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok'],
  [/^\/(app|noredir|rules|plain)\/|^\/backend\//, ''], // replaced per request below (Location echoes the target)
  [/^\/relative/, 'HTTP/1.1 302 Found\r\nLocation: /elsewhere/x\r\nRefresh: 3; URL=/elsewhere/x\r\nContent-Length: 0\r\n\r\n'],
  [/^\/hints/, `HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n${H}Content-Length: 2\r\n\r\nhi`],
  [/^\/cont/, `HTTP/1.1 100 Continue\r\n\r\n${H}Content-Length: 4\r\n\r\nbody`],
  [/^\/ws101/, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
  [/^\/icpt\/404/, 'HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\nX-Up: 1\r\n\r\nupstream 404'],
  [/^\/icpt\/500/, 'HTTP/1.1 500 Oops\r\nContent-Length: 12\r\n\r\nupstream 500'],
  [/^\/icpt\/401/, 'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="a"\r\nX-Up: 1\r\n'
    + 'WWW-Authenticate: Bearer\r\nContent-Length: 12\r\n\r\nupstream 401'],
  [/^\/uvars/, `${H}X-Backend: b-7\r\nSet-Cookie: theme=dark; Path=/\r\nSet-Cookie: sid=abc123; HttpOnly\r\nContent-Length: 2\r\n\r\nuv`],
  [/^\/empty/, `${H}Content-Length: 0\r\n\r\n`],
  [/^\/headm/, `${H}Content-Length: 11\r\nX-H: 1\r\n\r\n`],
  [/^\/s204/, 'HTTP/1.1 204 No Content\r\nX-N: 1\r\n\r\n'],
  [/^\/s304/, 'HTTP/1.1 304 Not Modified\r\nETag: "e1"\r\n\r\n'],
  [/^\/big/, (sock) => {
    sock.write(`${H}Content-Length: ${big.length}\r\n\r\n`);
    let off = 0;
    const pump = (): void => {
      while (off < big.length) {
        const piece = big.subarray(off, off + 65536);
        off += piece.length;
        bigStats.written = off;
        if (!sock.write(piece)) {
          bigStats.blocked++;
          bigStats.maxBlockedAt = off;
          sock.once('drain', pump);
          return;
        }
      }
      bigStats.done = true;
    };
    pump();
  }],
  [/^\/endless/, (sock) => {
    endless.opened = true;
    endless.closed = false;
    sock.once('close', () => { endless.closed = true; });
    sock.write(`${H}Content-Length: 100000000\r\n\r\n`);
    const t = setInterval(() => { if (!sock.destroyed) sock.write(Buffer.alloc(1024, 120)); }, 10);
    sock.once('close', () => clearInterval(t));
  }],
  [/^\/hang/, () => {}],
  [/^\/sline\/busy/, 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy'],
  [/^\/sline\/bare/, 'HTTP/1.1   200\r\nContent-Length: 4\r\n\r\nbare'],
  [/^\/sline\/iis/, 'HTTP/1.1 403.1 Execute access forbidden\r\nContent-Length: 3\r\n\r\niis'],
  [/^\/sline\/odd/, 'HTTP/1.1 299 Fine Thanks\r\nContent-Length: 3\r\n\r\nodd'],
  [/^\/icpt\/sline/, 'HTTP/1.1 404 Nothing Here\r\nContent-Length: 3\r\n\r\nnot'],
];

function route(target: string, sock: Socket): void {
  if (/^\/(app|noredir|rules|plain|backend)\//.test(target)) {
    // Location names the upstream URL of the request (proxy_redirect input), Refresh too.
    const loc = `http://be${target.startsWith('/backend/') ? target : '/backend' + target.slice(target.indexOf('/', 1))}`;
    sock.write(`HTTP/1.1 302 Found\r\nLocation: ${loc}\r\nRefresh: 5; url=${loc}\r\nContent-Length: 0\r\n\r\n`);
    return;
  }
  for (const [re, answer] of ROUTES) {
    if (!re.test(target)) continue;
    if (typeof answer === 'function') answer(sock); else sock.write(answer);
    return;
  }
  sock.write(`${H}Content-Length: 7\r\n\r\ndefault`);
}

const seen: Seen[] = [];
let up: ScriptUpstream;
let w: ProxyWeir;
let checkLeaks: (ms?: number) => Promise<string>;

const SERVER_BODY = (addr: string): string => `
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  log_format r '$request_method $request_uri $status $body_bytes_sent up=$upstream_http_x_backend sid=$upstream_cookie_sid';
  upstream be { server ${addr} max_fails=0; }
  server {
    listen 127.0.0.1:%PORT%;
    server_name localhost;
    access_log %PREFIX%/access.log r;
    location / { proxy_pass http://be; }
    location /hide { proxy_pass http://be; proxy_hide_header X-Secret; }
    location /hidepass { proxy_pass http://be; proxy_pass_header Server; proxy_pass_header Date; proxy_pass_header X-Accel-Expires; }
    location /app/ { proxy_pass http://be/backend/; }
    location /backend/ { proxy_pass http://be; }
    location /noredir/ { proxy_pass http://be/backend/; proxy_redirect off; }
    location /rules/ { proxy_pass http://be/backend/; proxy_redirect http://be/backend/ /elsewhere/; proxy_redirect http://other/ /never/; }
    location /rx/ { proxy_pass http://be/backend/; proxy_redirect ~^http://BE/ /never/; proxy_redirect ~*^http://BE/backend/(.+)$ /moved/$1$arg_q; }
    location /relative { proxy_pass http://be; }
    location /relrule { proxy_pass http://be/relative; proxy_redirect /elsewhere/ /here/; }
    location /ws101 {
      proxy_pass http://be;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
    }
    location /icpt/ { proxy_pass http://be; proxy_intercept_errors on; error_page 401 404 /e404; }
    location /icpt/sline { proxy_pass http://be; proxy_intercept_errors on; error_page 404 =410 /e404; }
    location /noicpt/ { proxy_pass http://be/icpt/; error_page 404 /e404; }
    location = /e404 { return 200 "intercepted page"; }
    # No temp file here: the slow-reader test checks the upstream is held (proxy-temp-file.test covers spooling).
    location /big { proxy_pass http://be; proxy_max_temp_file_size 0; }
    location /uvars { proxy_pass http://be; add_header X-Got "[$upstream_http_x_backend][$upstream_cookie_sid][$upstream_cookie_theme][$upstream_http_x_none]"; }
  }`;

before(async () => {
  checkLeaks = leakSnapshot();
  up = await startScriptUpstream((sock, conn) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const i = buf.indexOf('\r\n\r\n');
        if (i === -1) return;
        const head = buf.subarray(0, i).toString('latin1');
        buf = buf.subarray(i + 4);
        const [method = '', target = ''] = head.split('\r\n')[0].split(' ');
        seen.push({ method, target, head, conn });
        route(target, sock);
      }
    });
  });
  w = await startProxy(SERVER_BODY(up.addr));
});

after(async () => {
  await w.stop();
  await up.stop();
  const left = await checkLeaks();
  assert.equal(left, '', `handles left: ${left}`);
  assert.deepEqual(unhandled.take(), []);
});

const get = (path: string, extra = '', version = '1.1', method = 'GET'): string =>
  `${method} ${path} HTTP/${version}\r\nHost: localhost\r\n${extra}Connection: close\r\n\r\n`;

async function one(path: string, extra = '', version = '1.1', method = 'GET') {
  const ex = await exchange(w.port, get(path, extra, version, method), { methods: [method], idleMs: 250 });
  return { ex, res: ex.responses.filter((r) => r.status >= 200)[0], all: ex.responses };
}

test('Date, Server, X-Pad, X-Accel-* are hidden; proxy_hide_header; hop-by-hop and Connection-named headers stripped', async () => {
  const { res } = await one('/hide');
  assert.equal(res?.status, 200);
  assert.equal(res.body.toString(), 'ok');
  assert.equal(res.headers['x-kept'], 'k');
  assert.match(res.headers.server ?? '', /^weir/);
  assert.notEqual(res.headers.date, 'Mon, 01 Jan 2001 00:00:00 GMT');
  assert.ok(res.headers.date, 'weir sets its own Date');
  for (const h of ['x-pad', 'x-accel-expires', 'x-accel-limit-rate', 'x-accel-buffering', 'x-accel-charset', 'x-secret', 'x-hop', 'keep-alive']) {
    assert.equal(res.headers[h], undefined, `${h} reached the client`);
  }
});

test('proxy_pass_header passes Date and an X-Accel-* header', async () => {
  const { res } = await one('/hidepass');
  assert.equal(res?.status, 200);
  assert.equal(res.headers.date, 'Mon, 01 Jan 2001 00:00:00 GMT');
  assert.equal(res.headers['x-accel-expires'], '10');
  assert.equal(res.headers['x-pad'], undefined);
});

test('proxy_pass_header Server: the upstream Server replaces weir\'s own (one Server header)', {
}, async () => {
  const { ex, res } = await one('/hidepass');
  assert.equal(res?.status, 200);
  assert.equal(ex.raw.toString('latin1').match(/\r\nServer:/gi)?.length, 1, ex.raw.toString('latin1'));
  assert.equal(res.headers.server, 'upstream-srv');
});

test('proxy_redirect default rewrites Location and Refresh from the upstream URL to the location; off and rules', async () => {
  const base = `http://localhost:${w.port}`;
  let { res } = await one('/app/x?y=1');
  assert.equal(res?.status, 302);
  // A rewritten Location is nginx's r->headers_out.location: made absolute.
  assert.equal(res.headers.location, `${base}/app/x?y=1`);
  ({ res } = await one('/backend/z'));
  assert.equal(res.headers.location, `${base}/backend/z`);
  ({ res } = await one('/noredir/x'));
  assert.equal(res.headers.location, 'http://be/backend/x');
  ({ res } = await one('/rules/x'));
  assert.equal(res.headers.location, `${base}/elsewhere/x`);
  assert.equal(res.headers.refresh, '5; url=/elsewhere/x');
});

test('proxy_redirect ~ / ~*: the whole value becomes TO, with the captures and variables; the first matching rule wins', async () => {
  const { res } = await one('/rx/a/b?q=-1');
  assert.equal(res?.headers.location, `http://localhost:${w.port}/moved/a/b?q=-1-1`);
  assert.equal(res.headers.refresh, '5; url=/moved/a/b?q=-1-1');
});

test('an upstream\'s relative Location stays relative unless proxy_redirect rewrites it; Refresh\'s URL= in any case', async () => {
  let { res } = await one('/relative');
  assert.equal(res?.status, 302);
  assert.equal(res.headers.location, '/elsewhere/x');
  assert.equal(res.headers.refresh, '3; URL=/elsewhere/x');
  ({ res } = await one('/relrule'));
  assert.equal(res?.headers.location, `http://localhost:${w.port}/here/x`);
  assert.equal(res.headers.refresh, '3; URL=/here/x');
});

test('proxy_redirect default rewrites the url= part of Refresh (nginx ngx_http_proxy_rewrite_refresh)', {
}, async () => {
  const { res } = await one('/app/x?y=1');
  assert.equal(res?.headers.refresh, '5; url=/app/x?y=1');
});

test('differential: proxy_redirect Location and Refresh agree with nginx', { skip: needs('nginx', NGINX_BIN !== null, 'apt-get install nginx, or set NGINX_BIN') }, async () => {
  const ngx = await startNginx(`proxy_http_version 1.1;\n${SERVER_BODY(up.addr).replace(/max_fails=0;/, 'max_fails=0; keepalive 32;').replace(/access_log [^;]*;/, '')}`);
  try {
    for (const path of ['/app/x?y=1', '/backend/z', '/noredir/x', '/rules/x', '/rx/a/b?q=-1', '/relative', '/relrule']) {
      const n = await exchange(ngx!.port, get(path), { methods: ['GET'], idleMs: 200 });
      const o = await exchange(w.port, get(path), { methods: ['GET'], idleMs: 200 });
      const norm = (v: string | undefined, port: number): string | undefined => v?.replace(`:${port}/`, ':PORT/');
      assert.equal(n.responses[0]?.status, o.responses[0]?.status, `status for ${path}`);
      assert.equal(norm(o.responses[0]?.headers.location, w.port), norm(n.responses[0]?.headers.location, ngx!.port), `Location for ${path}`);
      assert.equal(norm(o.responses[0]?.headers.refresh, w.port), norm(n.responses[0]?.headers.refresh, ngx!.port), `Refresh for ${path}`);
      // Every path's upstream sends a Refresh: a comparison of two absent headers proves nothing.
      assert.ok(n.responses[0]?.headers.refresh, `nginx sent no Refresh for ${path}`);
    }
  } finally {
    await ngx?.stop();
  }
});

test('103 Early Hints reach an HTTP/1.1 client, not an HTTP/1.0 one; 100 Continue from the upstream is swallowed', async () => {
  const a = await one('/hints');
  assert.deepEqual(a.all.map((r) => r.status), [103, 200]);
  assert.equal(a.all[0].headers.link, '</s.css>; rel=preload');
  assert.equal(a.res.body.toString(), 'hi');
  const b = await one('/hints', '', '1.0');
  assert.deepEqual(b.all.map((r) => r.status), [200]);
  assert.equal(b.res.body.toString(), 'hi');
  const c = await one('/cont');
  assert.deepEqual(c.all.map((r) => r.status), [200]);
  assert.equal(c.res.body.toString(), 'body');
});

test('U7: 101 to a request without Upgrade, in a location that forwards Upgrade → 502 without a body, no tunnel', async () => {
  const { ex, res } = await one('/ws101');
  assert.equal(res?.status, 502);
  assert.equal(res.headers['content-length'], '0', 'nginx logs no body bytes for it (proxy_upgrade.t)');
  assert.equal(res.headers.connection, 'close');
  assert.ok(ex.closed);
  await w.waitLog(/\[error\] .*upstream sent "101 Switching Protocols" to a request that did not ask to upgrade while reading response header from upstream, .*request: "GET \/ws101 /);
});

test('proxy_intercept_errors on: error_page serves the 404; a status without error_page passes; off: the upstream page', async () => {
  let { res } = await one('/icpt/404');
  assert.equal(res?.status, 404);
  assert.equal(res.body.toString(), 'intercepted page');
  assert.equal(res.headers['x-up'], undefined);
  ({ res } = await one('/icpt/500'));
  assert.equal(res?.status, 500);
  assert.equal(res.body.toString(), 'upstream 500');
  ({ res } = await one('/noicpt/404'));
  assert.equal(res?.status, 404);
  assert.equal(res.body.toString(), 'upstream 404');
});

test('the upstream status line reaches the client as sent; weir\'s own text only for responses it makes', async () => {
  const line = async (path: string): Promise<string> => (await one(path)).res!.statusLine;
  assert.equal(await line('/sline/busy'), 'HTTP/1.1 503 Service Unavailable', 'not nginx\'s "Service Temporarily Unavailable"');
  assert.equal(await line('/sline/bare'), 'HTTP/1.1 200', 'no reason stays none; the extra spaces go');
  assert.equal(await line('/sline/iis'), 'HTTP/1.1 403.1 Execute access forbidden');
  assert.equal(await line('/sline/odd'), 'HTTP/1.1 299 Fine Thanks');
  const { res } = await one('/icpt/sline');
  assert.equal(res?.statusLine, 'HTTP/1.1 410 Gone', 'an intercepted error is weir\'s own response');
  assert.equal(res.body.toString(), 'intercepted page');
});

test('proxy_intercept_errors: an intercepted 401 keeps every WWW-Authenticate of the upstream, and only those', async () => {
  const { res } = await one('/icpt/401');
  assert.equal(res?.status, 401);
  assert.equal(res.body.toString(), 'intercepted page');
  assert.equal(res.headers['www-authenticate'], 'Basic realm="a", Bearer');
  assert.equal(res.headers['x-up'], undefined);
});

test('$upstream_http_NAME and $upstream_cookie_NAME in add_header and in the access log', async () => {
  const { res } = await one('/uvars');
  assert.equal(res?.status, 200);
  assert.equal(res.headers['x-got'], '[b-7][abc123][dark][]');
  assert.equal(res.headers['x-backend'], 'b-7');
  let line: string | undefined;
  for (let i = 0; i < 100 && !line; i++) {
    line = w.accessLog().find((l) => l.startsWith('GET /uvars '));
    if (!line) await sleep(20);
  }
  assert.ok(line, w.accessLog().join('\n'));
  assert.match(line, /^GET \/uvars 200 2 up=b-7 sid=abc123$/);
});

test('Content-Length: 0 completes and the client connection stays usable; HEAD, 204 and 304 pass without a body', async () => {
  const ex = await exchange(w.port, [
    'GET /empty HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET /s204 HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET /s304 HTTP/1.1\r\nHost: a\r\n\r\n',
    'HEAD /headm HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
  ], { methods: ['GET', 'GET', 'GET', 'HEAD', 'GET'], gapMs: 80, idleMs: 400 });
  const st = ex.responses.map((r) => r.status);
  assert.deepEqual(st, [200, 204, 304, 200, 200], ex.raw.toString('latin1'));
  assert.equal(ex.responses[0].headers['content-length'], '0');
  assert.equal(ex.responses[1].headers['x-n'], '1');
  assert.equal(ex.responses[2].headers.etag, '"e1"');
  assert.equal(ex.responses[3].headers['content-length'], '11');
  assert.equal(ex.responses[3].headers['x-h'], '1');
  assert.equal(ex.responses[4].body.toString(), 'default');
  assert.equal(seen.find((s) => s.target === '/headm')?.method, 'HEAD');
});

/**
 * arrayBuffers once garbage is gone: V8 frees the backing stores of dead
 * ArrayBuffers on a concurrent sweeper after the GC, so right after gc() the
 * figure can still count megabytes of freed read buffers (seen on a loaded
 * machine); collect twice with a pause between.
 */
async function settledArrayBuffers(): Promise<number> {
  gc();
  await sleep(50);
  gc();
  await sleep(20);
  return process.memoryUsage().arrayBuffers;
}

test('24 MB to a slow reader with proxy_max_temp_file_size 0: the upstream is held by backpressure, memory stays bounded, the body arrives intact', async () => {
  const c = await rawClient(w.port);
  const memBefore = await settledArrayBuffers();
  try {
    c.sock.pause();
    c.write(get('/big'));
    // Nobody reads: the upstream must see write() return false and stay blocked. Wait for
    // the pipeline to fill (the loopback buffers take a few MB, on a loaded machine slowly):
    // blocked, and no write for 250 ms. A weir that spooled or buffered would never stall.
    let last = -1;
    let movedAt = Date.now();
    await until('the upstream to stall on backpressure', () => {
      if (bigStats.written !== last) { last = bigStats.written; movedAt = Date.now(); }
      return bigStats.blocked > 0 && !bigStats.done && Date.now() - movedAt >= 250;
    });
    assert.ok(!bigStats.done, `the whole body (${bigStats.written} bytes) was taken while the client read nothing`);
    const heldAt = bigStats.written;
    const memHeld = await settledArrayBuffers() - memBefore;
    await sleep(300);
    assert.equal(bigStats.written, heldAt, 'the upstream kept writing while the client read nothing');
    // Read slowly for a while, then fast.
    for (let i = 0; i < 5; i++) { c.sock.resume(); await sleep(20); c.sock.pause(); await sleep(60); }
    c.sock.resume();
    const ok = await c.waitEnd(8000);
    assert.ok(ok, 'the download did not finish');
    const raw = c.data();
    const he = raw.indexOf('\r\n\r\n');
    assert.match(raw.subarray(0, he).toString('latin1'), new RegExp(`^HTTP/1\\.1 200 OK\r\n[\\s\\S]*Content-Length: ${big.length}`, 'i'));
    const body = raw.subarray(he + 4);
    assert.equal(body.length, big.length);
    assert.equal(createHash('sha256').update(body).digest('hex'), bigSha);
    // Buffers held in weir's process while the client was stalled (kernel socket buffers not counted).
    assert.ok(memHeld < 1024 * 1024, `arrayBuffers grew by ${memHeld} while stalled (upstream held at ${heldAt})`);
  } finally {
    c.destroy();
  }
});

test('F14: a client abort mid-download closes the upstream connection; the log keeps the 200 that was sent', async () => {
  const before = w.accessLog().length;
  const c = await rawClient(w.port);
  c.write(get('/endless'));
  await c.waitFor(/\r\n\r\nxxxx/);
  c.destroy();
  await until('the upstream connection to close', () => endless.closed);
  assert.ok(endless.closed, 'the upstream connection is still open after the client left');
  const lines = await waitAccess(w, before + 1);
  const line = lines.slice(before).find((l) => l.startsWith('GET /endless '));
  assert.ok(line, lines.join('\n'));
  assert.match(line, /^GET \/endless 200 /);
});

test('F14: a client abort before the response header → 499 in the access log, the upstream connection closed', async () => {
  const before = w.accessLog().length;
  const openBefore = up.open;
  const c = await rawClient(w.port);
  c.write(get('/hang'));
  await until('/hang at the upstream', () => seen.some((s) => s.target === '/hang'));
  c.destroy();
  await until('the upstream connection to close', () => up.open <= openBefore);
  assert.ok(up.open <= openBefore, 'the upstream connection is still open');
  const lines = await waitAccess(w, before + 1);
  assert.ok(lines.slice(before).some((l) => /^GET \/hang 499 /.test(l)), lines.join('\n'));
});
