/**
 * expires, add_header's ETag/Last-Modified replacement, add_trailer,
 * $sent_http_* / $sent_trailer_* while the fields are built, an upstream's
 * repeated fields ($upstream_http_* joined, unique ones kept once), and
 * limit_rate / limit_rate_after / $limit_rate / X-Accel-Limit-Rate, against a
 * running weir.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { exchange, request, requestBytes, startWithLogs, type Weir } from '../helpers/in-process.js';

let w: Weir;
let raw: Server;
let rawPort = 0;

const DATA = 'x'.repeat(30_000);

function conf(upstream: number): string {
  return `
events {}
http {
  access_log off;
  server {
    listen 127.0.0.1:%PORT%;
    server_name localhost;
    root %PREFIX%/html;

    location /epoch { expires epoch; return 200 "x"; }
    location /max { expires max; return 200 "x"; }
    location /access { expires 1h; return 200 "x"; }
    location /negative { expires -1; return 200 "x"; }
    location /var { expires $arg_e; return 200 "x"; }
    location /nx { expires 1h; return 404; }
    location /file { expires modified +10s; }
    location /etag { add_header ETag '"mine"'; }
    location /no-etag { add_header ETag ''; add_header Last-Modified ''; }
    location /redefine { expires epoch; proxy_pass http://127.0.0.1:${upstream}/; }
    location /sent {
      add_header Cache-Control a;
      add_header Cache-Control b;
      add_header X-Sent $sent_http_cache_control;
      return 204;
    }
    location /trailer {
      add_trailer X-T one;
      add_trailer X-T two;
      add_trailer X-Seen $sent_trailer_x_t;
      add_trailer X-Never '';
      return 200 "body";
    }
    location /trailer-404 { add_trailer X-T one; return 404; }
    location /up {
      proxy_pass http://127.0.0.1:${upstream}/;
      add_header X-Up-Bar $upstream_http_bar;
      add_header X-Up-Expires $upstream_http_expires;
    }
    location /slow { limit_rate 10k; limit_rate_after 1k; alias %PREFIX%/html/file; }
    location /set-rate { set $limit_rate 10k; add_header X-Rate $limit_rate; alias %PREFIX%/html/file; }
    location /var-rate { limit_rate $arg_r; add_header X-Rate $limit_rate; alias %PREFIX%/html/file; }
    location /accel-rate { proxy_pass http://127.0.0.1:${upstream}/accel; }
    location /fast { limit_rate 0; alias %PREFIX%/html/file; }
  }
}
`;
}

/** A backend that repeats fields, and one that asks for a rate and a redirect. */
function backend(): Promise<void> {
  raw = createServer((s) => {
    let got = '';
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      const accel = got.startsWith('GET /accel');
      s.end(accel
        ? 'HTTP/1.1 200 OK\r\nX-Accel-Redirect: /fast\r\nX-Accel-Limit-Rate: 12000\r\nContent-Length: 0\r\n\r\n'
        : 'HTTP/1.1 200 OK\r\nBar: 1\r\nBar: 2\r\nExpires: first\r\nExpires: second\r\n'
          + 'Cache-Control: private\r\nCache-Control: no-store\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    });
    s.on('error', () => {});
  });
  return new Promise((resolve) => raw.listen(0, '127.0.0.1', () => {
    rawPort = (raw.address() as { port: number }).port;
    resolve();
  }));
}

before(async () => {
  await backend();
  w = await startWithLogs(conf(rawPort), { 'html/file': DATA, 'html/etag': 'e', 'html/no-etag': 'n' });
});
after(async () => {
  await w.stop();
  await new Promise((r) => raw.close(r));
});

test('expires: epoch, max, a time from now, a negative one, off for other statuses', async () => {
  const e = await request(w.port, '/epoch');
  assert.equal(e.headers.expires, 'Thu, 01 Jan 1970 00:00:01 GMT');
  assert.equal(e.headers['cache-control'], 'no-cache');
  const m = await request(w.port, '/max');
  assert.equal(m.headers.expires, 'Thu, 31 Dec 2037 23:55:55 GMT');
  assert.equal(m.headers['cache-control'], 'max-age=315360000');
  const a = await request(w.port, '/access');
  assert.equal(a.headers['cache-control'], 'max-age=3600');
  const at = Date.parse(a.headers.expires);
  assert.ok(Math.abs(at - (Date.now() + 3600_000)) < 5000, a.headers.expires);
  assert.equal((await request(w.port, '/negative')).headers['cache-control'], 'no-cache');
  const nx = await request(w.port, '/nx');
  assert.equal(nx.status, 404);
  assert.equal(nx.headers.expires, undefined);
});

test('expires with variables: parsed per request; off, empty and bad values add nothing', async () => {
  assert.equal((await request(w.port, '/var?e=2m')).headers['cache-control'], 'max-age=120');
  assert.equal((await request(w.port, '/var?e=epoch')).headers['cache-control'], 'no-cache');
  for (const q of ['?e=off', '', '?e=bad']) {
    const r = await request(w.port, `/var${q}`);
    assert.equal(r.headers.expires, undefined, q);
    assert.equal(r.headers['cache-control'], undefined, q);
  }
});

test('expires modified counts from the file\'s Last-Modified', async () => {
  const r = await request(w.port, '/file');
  const lm = Date.parse(r.headers['last-modified']);
  assert.equal(Date.parse(r.headers.expires), lm + 10_000);
});

test('expires replaces every Cache-Control and Expires the upstream sent', async () => {
  const r = await request(w.port, '/redefine');
  assert.equal(r.headers['cache-control'], 'no-cache');
  assert.equal(r.headers.expires, 'Thu, 01 Jan 1970 00:00:01 GMT');
});

test('add_header ETag replaces the file\'s; an empty ETag or Last-Modified removes it', async () => {
  assert.equal((await request(w.port, '/etag')).headers.etag, '"mine"');
  const n = await request(w.port, '/no-etag');
  assert.equal(n.status, 200);
  assert.equal(n.headers.etag, undefined);
  assert.equal(n.headers['last-modified'], undefined);
});

test('$sent_http_* sees the fields added before it, repeats joined', async () => {
  const r = await request(w.port, '/sent');
  assert.equal(r.headers['x-sent'], 'a, b');
});

test('add_trailer: the body goes chunked and ends with the fields; $sent_trailer_* sees earlier ones', async () => {
  const ex = await exchange(w.port, requestBytes('/trailer'), { idleMs: 300 });
  const text = ex.raw.toString('latin1');
  assert.match(text, /Transfer-Encoding: chunked\r\n/);
  assert.doesNotMatch(text, /Content-Length/);
  assert.ok(text.endsWith('4\r\nbody\r\n0\r\nX-T: one\r\nX-T: two\r\nX-Seen: one, two\r\n\r\n'), JSON.stringify(text.slice(-80)));
  // HTTP/1.0 has no trailers: the length stays, nothing follows the body.
  const old = await exchange(w.port, requestBytes('/trailer', { version: '1.0' }), { idleMs: 300 });
  assert.match(old.raw.toString('latin1'), /Content-Length: 4\r\n[\s\S]*\r\n\r\nbody$/);
  const nx = await exchange(w.port, requestBytes('/trailer-404'), { idleMs: 300 });
  assert.doesNotMatch(nx.raw.toString('latin1'), /X-T/);
});

test('an upstream\'s repeated fields: $upstream_http_* joins them, a unique one (Expires) is kept once', async () => {
  const r = await request(w.port, '/up');
  assert.equal(r.text, 'ok');
  assert.equal(r.headers['x-up-bar'], '1, 2');
  assert.equal(r.headers['x-up-expires'], 'first');
  assert.equal(r.headers.expires, 'first');
  assert.equal(r.headers['cache-control'], 'private, no-store');
  await w.waitForLog(/upstream sent duplicate header line: "Expires: second", previous value: "Expires: first", ignored/);
});

/** Fetches `path`, returning the body length and how long it took. */
async function timed(path: string): Promise<{ length: number; ms: number; rate?: string }> {
  const start = Date.now();
  // Paced bytes come in bursts a second apart: wait longer than that between reads.
  const ex = await exchange(w.port, requestBytes(path), { idleMs: 1500 });
  const r = ex.responses[0];
  return { length: r?.body.length ?? 0, ms: Date.now() - start, rate: r?.headers['x-rate'] };
}

test('limit_rate paces the body after limit_rate_after; limit_rate 0 does not', async () => {
  // nginx counts whole seconds: by second S, 1 KiB + 10 KiB * (S + 1) may go, so the
  // head and 30000 bytes need second 2: more than 1 s, however the first second began.
  const slow = await timed('/slow');
  assert.equal(slow.length, DATA.length);
  assert.ok(slow.ms >= 900, `paced: ${slow.ms} ms`);
  const fast = await timed('/fast');
  assert.equal(fast.length, DATA.length);
  assert.ok(fast.ms < 500, `not paced: ${fast.ms} ms`);
});

test('$limit_rate: set parses a size; a variable limit_rate is evaluated as the body starts, a bad one is none', async () => {
  const s = await timed('/set-rate');
  assert.equal(s.rate, '10240');
  assert.ok(s.ms >= 900, `set $limit_rate paces: ${s.ms} ms`);
  // As nginx's, the directive is evaluated as the body starts: add_header still saw 0.
  const v = await timed('/var-rate?r=10k');
  assert.equal(v.rate, '0');
  assert.ok(v.ms >= 900, `limit_rate $arg_r paces: ${v.ms} ms`);
  const bad = await timed('/var-rate?r=fast');
  assert.equal(bad.length, DATA.length);
  assert.ok(bad.ms < 500, `a bad rate is none: ${bad.ms} ms`);
  await w.waitForLog(/invalid size "fast"/);
});

test('X-Accel-Limit-Rate sets the client\'s rate, kept across X-Accel-Redirect (limit_rate 0 there)', async () => {
  const r = await timed('/accel-rate');
  assert.equal(r.length, DATA.length);
  assert.ok(r.ms >= 900, `paced by the upstream's rate: ${r.ms} ms`);
});
