// The proxy cache end to end (src/http/cache/): MISS then HIT from the entry
// file, EXPIRED, BYPASS, STALE on a dead upstream, a corrupted entry file, the
// cache directory removed under a running weir, proxy_cache_lock collapsing
// concurrent misses into one upstream request, two runtimes sharing a
// directory, and ranges answered from the entry.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import test from 'node:test';
import { request, startWeir, type Weir } from '../helpers/in-process.js';
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
    // A range of a cached 200 is answered from the entry.
    const r = await request(w.port, '/a', { headers: ['Range: bytes=5-'] });
    assert.equal(r.status, 206);
    assert.equal(r.text, '/a');
    assert.equal(cacheOf(r), 'HIT');
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
