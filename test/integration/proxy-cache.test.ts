// The proxy cache end to end (src/http/cache/): MISS then HIT from the entry
// file, EXPIRED, BYPASS, STALE on a dead upstream, a corrupted entry file, the
// cache directory removed under a running weir, proxy_cache_lock collapsing
// concurrent misses into one upstream request, two runtimes sharing a
// directory, and ranges: cut from a response being stored, answered from the
// entry, or passed upstream past proxy_cache_max_range_offset.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import test from 'node:test';
import { request, startWeir, type Weir } from '../helpers/in-process.js';
import { exchange } from '../helpers/raw-http.js';
import { until } from '../helpers/wait.js';

interface Upstream { server: Server; port: number; hits: () => number; close(): Promise<void> }

/** Answers `body:<url>` after `delayMs`; counts requests. */
async function upstream(delayMs = 0, extra: Record<string, string> = {}): Promise<Upstream> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    setTimeout(() => {
      const body = `body:${req.url}`;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(body.length), 'X-Got-Range': req.headers.range ?? '-', ...extra });
      res.end(body);
    }, delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server, port: (server.address() as { port: number }).port, hits: () => hits,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

function conf(up: number, extra = '', zone = 'one', dir = '%PREFIX%/cache'): string {
  return `
http {
  access_log off;
  proxy_cache_path ${dir} levels=1:2 keys_zone=${zone}:1m use_temp_path=off;
  server {
    listen 127.0.0.1:%PORT%;
    location / {
      proxy_pass http://127.0.0.1:${up};
      proxy_cache ${zone};
      proxy_cache_valid 200 1m;
      proxy_cache_bypass $arg_nocache;
      add_header X-Cache $upstream_cache_status;
      ${extra}
    }
  }
}`;
}

function entryFile(prefix: string, key: string): string {
  const md5 = createHash('md5').update(key).digest('hex');
  return join(prefix, 'cache', md5.slice(-1), md5.slice(-3, -1), md5);
}

const cacheOf = (r: { headers: Record<string, string | string[] | undefined> }): unknown => r.headers['x-cache'];

test('MISS, then HIT from the entry file; BYPASS goes upstream', async () => {
  const up = await upstream();
  const w = await startWeir(conf(up.port));
  try {
    const a = await request(w.port, '/a');
    assert.equal(a.status, 200);
    assert.equal(cacheOf(a), 'MISS');
    assert.equal(a.text, 'body:/a');
    const file = entryFile(w.prefix, `http127.0.0.1:${up.port}/a`);
    await until('the entry file', () => existsSync(file));
    const b = await request(w.port, '/a');
    assert.equal(cacheOf(b), 'HIT');
    assert.equal(b.text, 'body:/a');
    assert.equal(up.hits(), 1);
    const c = await request(w.port, '/a?nocache=1');
    assert.equal(cacheOf(c), 'BYPASS');
    assert.equal(up.hits(), 2);
    // Stored without Accept-Ranges: a range is not cut from it (nginx's copy_allow_ranges), nor offered.
    const r = await request(w.port, '/a', { headers: ['Range: bytes=5-'] });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'body:/a');
    assert.equal(cacheOf(r), 'HIT');
    assert.equal(r.headers['accept-ranges'], undefined);
    // The client's Range never reaches the upstream with a cache (the whole response is stored).
    const m = await request(w.port, '/m', { headers: ['Range: bytes=0-1', 'If-None-Match: "x"'] });
    assert.equal(m.status, 200);
    assert.equal(m.headers['x-got-range'], '-');
    assert.equal(m.text, 'body:/m');
  } finally {
    await w.stop();
    await up.close();
  }
});

test('an expired entry is EXPIRED and refreshed; STALE answers while the upstream is dead', async () => {
  const up = await upstream();
  const w = await startWeir(conf(up.port, 'proxy_cache_valid 200 1s; proxy_cache_use_stale error timeout;').replace('proxy_cache_valid 200 1m;', ''));
  try {
    assert.equal(cacheOf(await request(w.port, '/s')), 'MISS');
    await until('the entry', () => existsSync(entryFile(w.prefix, `http127.0.0.1:${up.port}/s`)));
    await new Promise((r) => setTimeout(r, 1100));
    const e = await request(w.port, '/s');
    assert.equal(cacheOf(e), 'EXPIRED');
    assert.equal(up.hits(), 2);
    await new Promise((r) => setTimeout(r, 1100));
    await up.close();
    const s = await request(w.port, '/s');
    assert.equal(s.status, 200);
    assert.equal(cacheOf(s), 'STALE');
    assert.equal(s.text, 'body:/s');
    // Nothing cached and nothing upstream: the error as usual.
    const n = await request(w.port, '/never');
    assert.equal(n.status, 502);
  } finally {
    await w.stop();
  }
});

test('a corrupted entry file is a MISS with a crit line, then stored again', async () => {
  const up = await upstream();
  const w = await startWeir(conf(up.port));
  try {
    await request(w.port, '/c');
    const file = entryFile(w.prefix, `http127.0.0.1:${up.port}/c`);
    await until('the entry', () => existsSync(file));
    writeFileSync(file, 'garbage that is not an entry at all');
    const a = await request(w.port, '/c');
    assert.equal(a.status, 200);
    assert.equal(cacheOf(a), 'MISS');
    assert.equal(a.text, 'body:/c');
    await w.waitForLog(/\[crit\].*cache file ".*" has incorrect header/);
    await until('the entry again', () => readFileSync(file).subarray(0, 7).toString() === 'weirC01');
    assert.equal(cacheOf(await request(w.port, '/c')), 'HIT');
    // A truncated head (shorter than its length field says) is no entry either.
    const good = readFileSync(file);
    writeFileSync(file, good.subarray(0, 30));
    assert.equal(cacheOf(await request(w.port, '/c')), 'MISS');
  } finally {
    await w.stop();
    await up.close();
  }
});

test('a stop waits for the entries being written: no lock or temp file is left, none appears after', async () => {
  const up = await upstream();
  const w = await startWeir(conf(up.port));
  try {
    // Each response ends at the client before its entry is renamed into place and its lock removed.
    await Promise.all(Array.from({ length: 20 }, (_, i) => request(w.port, `/q${i}`)));
    await w.rt.stop(false);
    const files = (): string[] => (readdirSync(join(w.prefix, 'cache'), { recursive: true }) as string[]).filter((f) => /[0-9a-f]{32}/.test(f)).sort();
    const atStop = files();
    assert.deepEqual(atStop.filter((f) => /\.(lck|tmp)$/.test(f)), [], 'a writer was still at work after the stop');
    assert.equal(atStop.length, 20);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(files(), atStop);
  } finally {
    await w.stop();
    await up.close();
  }
});

test('the cache directory removed under a running weir: misses, then the tree is made again', async () => {
  const up = await upstream();
  const w = await startWeir(conf(up.port));
  try {
    await request(w.port, '/d');
    const file = entryFile(w.prefix, `http127.0.0.1:${up.port}/d`);
    await until('the entry', () => existsSync(file));
    rmSync(join(w.prefix, 'cache'), { recursive: true, force: true });
    const a = await request(w.port, '/d');
    assert.equal(a.status, 200);
    assert.equal(cacheOf(a), 'MISS');
    await until('the entry again', () => existsSync(file));
    assert.equal(cacheOf(await request(w.port, '/d')), 'HIT');
  } finally {
    await w.stop();
    await up.close();
  }
});

test('proxy_cache_lock: concurrent misses make one upstream request', async () => {
  const up = await upstream(300);
  const w = await startWeir(conf(up.port, 'proxy_cache_lock on;'));
  try {
    const all = await Promise.all(Array.from({ length: 10 }, () => request(w.port, '/l', { idleMs: 2000 })));
    for (const r of all) { assert.equal(r.status, 200); assert.equal(r.text, 'body:/l'); }
    assert.equal(up.hits(), 1);
    assert.equal(all.filter((r) => cacheOf(r) === 'MISS').length, 1);
    assert.equal(all.filter((r) => cacheOf(r) === 'HIT').length, 9);
  } finally {
    await w.stop();
    await up.close();
  }
});

test('without the lock, concurrent misses all go upstream but one entry is written', async () => {
  const up = await upstream(200);
  const w = await startWeir(conf(up.port));
  try {
    const all = await Promise.all(Array.from({ length: 5 }, () => request(w.port, '/n', { idleMs: 2000 })));
    for (const r of all) assert.equal(r.text, 'body:/n');
    assert.equal(up.hits(), 5);
    assert.equal(cacheOf(await request(w.port, '/n')), 'HIT');
  } finally {
    await w.stop();
    await up.close();
  }
});

test('two runtimes on one cache directory see each other\'s entries', async () => {
  const up = await upstream();
  const a = await startWeir(conf(up.port, '', 'za'));
  let b: Weir | null = null;
  try {
    b = await startWeir(conf(up.port, '', 'zb', `${a.prefix}/cache`));
    assert.equal(cacheOf(await request(a.port, '/shared')), 'MISS');
    await until('the entry', () => existsSync(entryFile(a.prefix, `http127.0.0.1:${up.port}/shared`)));
    const r = await request(b.port, '/shared');
    assert.equal(cacheOf(r), 'HIT');
    assert.equal(r.text, 'body:/shared');
    assert.equal(up.hits(), 1);
  } finally {
    await b?.stop();
    await a.stop();
    await up.close();
  }
});

test('Set-Cookie and Cache-Control: no-cache are not stored; X-Accel-Expires wins', async () => {
  const cookie = await upstream(0, { 'Set-Cookie': 'a=b' });
  const w = await startWeir(conf(cookie.port));
  try {
    await request(w.port, '/k');
    assert.equal(cacheOf(await request(w.port, '/k')), 'MISS');
    assert.equal(cookie.hits(), 2);
  } finally {
    await w.stop();
    await cookie.close();
  }
  const accel = await upstream(0, { 'Cache-Control': 'no-cache', 'X-Accel-Expires': '60' });
  const w2 = await startWeir(conf(accel.port));
  try {
    await request(w2.port, '/x');
    await until('the entry', () => existsSync(entryFile(w2.prefix, `http127.0.0.1:${accel.port}/x`)));
    const r = await request(w2.port, '/x');
    assert.equal(cacheOf(r), 'HIT');
    assert.equal(r.headers['x-accel-expires'], undefined);
  } finally {
    await w2.stop();
    await accel.close();
  }
});

/** An upstream whose handler is the test's; counts requests. */
async function scripted(handle: (n: number, req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void): Promise<Upstream> {
  let hits = 0;
  const server = createServer((req, res) => { handle(++hits, req, res); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server, port: (server.address() as { port: number }).port, hits: () => hits,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const noValid = (up: number, extra: string): string => conf(up, extra).replace('proxy_cache_valid 200 1m;', '');

test('proxy_cache_background_update: the expired entry answers STALE at once, a subrequest refreshes it, the next is a HIT', async () => {
  const up = await scripted((n, _req, res) => {
    const body = `v${n}`;
    // max-age=2, not 1: validity is whole seconds, and the HIT must fall inside it.
    res.writeHead(200, { 'Content-Length': String(body.length), 'Cache-Control': 'max-age=2' });
    res.end(body);
  });
  const w = await startWeir(noValid(up.port, 'proxy_cache_use_stale updating; proxy_cache_background_update on;'));
  try {
    assert.equal((await request(w.port, '/b')).text, 'v1');
    const entry = entryFile(w.prefix, `http127.0.0.1:${up.port}/b`);
    await until('the entry', () => existsSync(entry));
    await new Promise((r) => setTimeout(r, 2100));
    const stale = await request(w.port, '/b');
    assert.equal(cacheOf(stale), 'STALE');
    assert.equal(stale.text, 'v1');
    await until('the background update', () => up.hits() === 2 && readFileSync(entry).includes('v2'));
    const fresh = await request(w.port, '/b');
    assert.equal(cacheOf(fresh), 'HIT');
    assert.equal(fresh.text, 'v2');
    assert.equal(up.hits(), 2);
  } finally {
    await w.stop();
    await up.close();
  }
});

test('stale-if-error serves stale for a failure, not for a 500 the upstream answers (only use_stale http_500 does)', async () => {
  const up = await scripted((n, _req, res) => {
    if (n === 1) {
      res.writeHead(200, { 'Content-Length': '2', 'Cache-Control': 'max-age=1, stale-if-error=60' });
      res.end('ok');
      return;
    }
    res.writeHead(500, { 'Content-Length': '4' });
    res.end('oops');
  });
  const w = await startWeir(noValid(up.port, ''));
  try {
    assert.equal((await request(w.port, '/e')).text, 'ok');
    await until('the entry', () => existsSync(entryFile(w.prefix, `http127.0.0.1:${up.port}/e`)));
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await request(w.port, '/e')).status, 500);
    await up.close();
    const s = await request(w.port, '/e');
    assert.equal(s.status, 200);
    assert.equal(cacheOf(s), 'STALE');
  } finally {
    await w.stop();
  }
});

test('a 304 without validity fields revalidates for the stored response\'s own max-age', async () => {
  const up = await scripted((_n, req, res) => {
    if (req.headers['if-none-match'] === '"e1"') { res.writeHead(304); res.end(); return; }
    // Validity is kept in whole seconds, as nginx's valid_sec: max-age=2 leaves
    // at least one second for the HIT after the revalidation.
    res.writeHead(200, { 'Content-Length': '4', 'Cache-Control': 'max-age=2', ETag: '"e1"' });
    res.end('body');
  });
  const w = await startWeir(noValid(up.port, 'proxy_cache_revalidate on;'));
  try {
    assert.equal(cacheOf(await request(w.port, '/r')), 'MISS');
    await until('the entry', () => existsSync(entryFile(w.prefix, `http127.0.0.1:${up.port}/r`)));
    await new Promise((r) => setTimeout(r, 2100));
    const rv = await request(w.port, '/r');
    assert.equal(cacheOf(rv), 'REVALIDATED');
    assert.equal(rv.text, 'body');
    const hit = await request(w.port, '/r');
    assert.equal(cacheOf(hit), 'HIT');
    assert.equal(up.hits(), 2);
  } finally {
    await w.stop();
    await up.close();
  }
});

test('ranges: a MISS stored whole gives the client its range; a HIT answers one or several; force_ranges without Accept-Ranges', async () => {
  const up = await upstream(0, { 'Accept-Ranges': 'bytes', 'Content-Range': 'stale' });
  const w = await startWeir(`
http {
  access_log off;
  proxy_cache_path %PREFIX%/cache levels=1:2 keys_zone=one:1m;
  server {
    listen 127.0.0.1:%PORT%;
    add_header X-Cache $upstream_cache_status;
    location / { proxy_pass http://127.0.0.1:${up.port}; proxy_cache one; proxy_cache_valid 200 1m; }
    location /offset/ {
      proxy_pass http://127.0.0.1:${up.port}; proxy_cache one; proxy_cache_valid 200 1m;
      proxy_cache_max_range_offset 5;
    }
    location /forced/ { proxy_pass http://127.0.0.1:${up.port}; proxy_force_ranges on; }
  }
}`);
  try {
    // body:/r is 7 bytes; the upstream's own Content-Range is not this response's.
    const miss = await request(w.port, '/r', { headers: ['Range: bytes=5-'] });
    assert.equal(miss.status, 206);
    assert.equal(cacheOf(miss), 'MISS');
    assert.equal(miss.headers['x-got-range'], '-', 'the whole response is asked for, to be stored');
    assert.equal(miss.headers['content-range'], 'bytes 5-6/7');
    assert.equal(miss.headers['accept-ranges'], undefined);
    assert.equal(miss.text, '/r');
    await until('the entry', () => existsSync(entryFile(w.prefix, `http127.0.0.1:${up.port}/r`)));
    const whole = await request(w.port, '/r');
    assert.equal(cacheOf(whole), 'HIT');
    assert.equal(whole.status, 200);
    assert.equal(whole.text, 'body:/r', 'stored whole, not the range');
    assert.equal(whole.headers['accept-ranges'], 'bytes');
    const multi = await request(w.port, '/r', { headers: ['Range: bytes=0-1,5-'] });
    assert.equal(multi.status, 206);
    assert.match(String(multi.headers['content-type']), /^multipart\/byteranges; boundary=/);
    assert.match(multi.text, /Content-Range: bytes 0-1\/7\r\n\r\nbo\r\n.*Content-Range: bytes 5-6\/7\r\n\r\n\/r\r\n/s);
    const none = await request(w.port, '/r', { headers: ['Range: bytes=100-'] });
    assert.equal(none.status, 416);
    assert.equal(none.headers['content-range'], 'bytes */7');
    // A MISS asking for no satisfiable range: the 416, and nothing stored from that try.
    const bad = await request(w.port, '/q', { headers: ['Range: bytes=100-'] });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers['content-range'], 'bytes */7');
    assert.equal(cacheOf(await request(w.port, '/q')), 'MISS');
    // Past proxy_cache_max_range_offset the Range goes upstream and nothing is stored.
    const far = await request(w.port, '/offset/f', { headers: ['Range: bytes=6-'] });
    assert.equal(far.headers['x-got-range'], 'bytes=6-');
    assert.equal(far.status, 200, 'the upstream ignored it');
    assert.equal(far.headers['accept-ranges'], 'bytes', 'not cached: passed as the upstream said');
    assert.equal(cacheOf(await request(w.port, '/offset/f')), 'MISS');
    const near = await request(w.port, '/offset/n', { headers: ['Range: bytes=4-'] });
    assert.equal(near.headers['x-got-range'], '-');
    assert.equal(near.status, 206);
    assert.equal(near.text, ':/offset/n');
    // proxy_force_ranges: one range cut from an uncached response; more than one is the whole response.
    const forced = await request(w.port, '/forced/x', { headers: ['Range: bytes=-3'] });
    assert.equal(forced.status, 206);
    assert.equal(forced.text, 'd/x');
    assert.equal(forced.headers['x-got-range'], 'bytes=-3', 'no cache: the Range is passed');
    const forcedMulti = await request(w.port, '/forced/x', { headers: ['Range: bytes=0-1,3-4'] });
    assert.equal(forcedMulti.status, 200);
    assert.equal(forcedMulti.headers['accept-ranges'], 'bytes');
  } finally {
    await w.stop();
    await up.close();
  }
});

test('a range of a large MISS is cut across the chunks it streams in; the entry holds the whole body', async () => {
  const body = Buffer.alloc(300_000);
  for (let i = 0; i < body.length; i++) body[i] = 0x41 + (i % 26);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Length': String(body.length), 'Accept-Ranges': 'bytes' });
    // Pieces of odd sizes, so the range starts and ends inside them.
    let at = 0;
    const next = (): void => {
      if (at >= body.length) { res.end(); return; }
      const piece = body.subarray(at, at + 7_777);
      at += piece.length;
      if (res.write(piece)) setImmediate(next); else res.once('drain', next);
    };
    next();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const w = await startWeir(conf(port));
  try {
    // Read to the close: not a byte more than the range may follow its head.
    const ex = await exchange(w.port, 'GET /big HTTP/1.1\r\nHost: x\r\nRange: bytes=100000-200099\r\nConnection: close\r\n\r\n');
    assert.equal(ex.responses[0].status, 206);
    assert.equal(ex.responses[0].headers['content-length'], '100100');
    const sent = ex.raw.subarray(ex.raw.indexOf('\r\n\r\n') + 4);
    assert.ok(sent.equals(body.subarray(100_000, 200_100)), `exactly the range (${sent.length} bytes)`);
    await until('the entry', () => existsSync(entryFile(w.prefix, `http127.0.0.1:${port}/big`)));
    const whole = await request(w.port, '/big');
    assert.equal(cacheOf(whole), 'HIT');
    assert.ok(whole.body.equals(body), 'the whole body was stored');
  } finally {
    await w.stop();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
