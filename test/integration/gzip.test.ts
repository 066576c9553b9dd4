// gzip, gunzip and gzip_static as nginx: which responses are gzipped (status, type, length,
// Content-Encoding, the client's Accept-Encoding, gzip_proxied against Via, gzip_http_version,
// gzip_disable), the headers that change, Vary, $gzip_ratio, HEAD; streaming: a flush when the
// upstream pauses, backpressure to the upstream through zlib, a client leaving mid-stream;
// gunzip of upstream gzip (several members, a corrupt body); gzip_static on/always/off.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { constants as zc, gunzipSync, gzipSync } from 'node:zlib';
import { liveZlibStreams } from '../../src/http/gzip/zlib-filter.js';
import { startScriptUpstream, type ScriptUpstream } from '../helpers/proxy-fixtures.js';
import { exchange, startWeir, type RawResponse, type Weir } from '../helpers/raw-http.js';
import { fileLines, waitLines } from '../helpers/in-process.js';
import { until } from '../helpers/wait.js';

let w: Weir;
let backend: ScriptUpstream;
const BIG = randomBytes(16 * 1024 * 1024);
/** The big response's upstream side: a write was held back (backpressure reached it), it ended, its socket closed. */
const big = { held: false, done: false, closed: false, written: 0 };
/** The streamed response: the test lets its second part go. */
let releaseSecond: (() => void) | null = null;

const PLAIN = 'X'.repeat(1000);
const MEMBER = 'member-'.repeat(50);
const TWO_MEMBERS = Buffer.concat([gzipSync(MEMBER), gzipSync(MEMBER)]);

function answer(sock: Socket, head: string, body: Buffer | string): void {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  sock.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\n${head}Content-Length: ${b.length}\r\nConnection: close\r\n\r\n`), b]));
}

before(async () => {
  backend = await startScriptUpstream((sock) => {
    sock.once('data', (d: Buffer) => {
      const target = d.toString('latin1').split(' ')[1] ?? '';
      if (target === '/stream') {
        sock.write('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n' + 'first part '.repeat(20));
        releaseSecond = () => sock.end('second part');
      } else if (target === '/big') {
        sock.write(`HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: ${BIG.length}\r\nConnection: close\r\n\r\n`);
        sock.on('close', () => { big.closed = true; });
        const piece = 65536;
        const pump = (): void => {
          while (big.written < BIG.length) {
            const chunk = BIG.subarray(big.written, big.written + piece);
            big.written += chunk.length;
            if (!sock.write(chunk)) { big.held = true; sock.once('drain', pump); return; }
          }
          big.done = true;
          sock.end();
        };
        pump();
      } else if (target === '/gz') answer(sock, 'Content-Type: text/plain\r\nContent-Encoding: gzip\r\nETag: "e1"\r\n', gzipSync(PLAIN));
      else if (target === '/gz2') answer(sock, 'Content-Type: text/plain\r\nContent-Encoding: gzip\r\n', TWO_MEMBERS);
      else if (target === '/corrupt') answer(sock, 'Content-Type: text/plain\r\nContent-Encoding: gzip\r\n', Buffer.from('not gzip at all, not at all'));
      else if (target === '/expired') answer(sock, 'Content-Type: text/html\r\nExpires: Thu, 01 Jan 1970 00:00:01 GMT\r\n', PLAIN);
      else if (target === '/future') answer(sock, 'Content-Type: text/html\r\nExpires: Thu, 01 Jan 2099 00:00:01 GMT\r\n', PLAIN);
      else if (target === '/nocache') answer(sock, 'Content-Type: text/html\r\nCache-Control: max-age=0, no-cache\r\n', PLAIN);
      else if (target === '/nostore') answer(sock, 'Content-Type: text/html\r\nCache-Control: no-store\r\n', PLAIN);
      else if (target === '/private') answer(sock, 'Content-Type: text/html\r\nCache-Control: private\r\n', PLAIN);
      else if (target === '/public') answer(sock, 'Content-Type: text/html\r\nCache-Control: public, no-cachex\r\n', PLAIN);
      else if (target === '/lm') answer(sock, 'Content-Type: text/html\r\nLast-Modified: Thu, 01 Jan 2015 00:00:01 GMT\r\n', PLAIN);
      else if (target === '/etag') answer(sock, 'Content-Type: text/html\r\nETag: "x"\r\n', PLAIN);
      else if (target === '/bare') answer(sock, 'Content-Type: text/html\r\n', PLAIN);
      else answer(sock, 'Content-Type: text/html\r\n', `[${target}]`);
    });
  });
  w = await startWeir(`http {
    log_format ratio "$uri $gzip_ratio";
    access_log %PREFIX%/logs/ratio.log ratio;
    types { text/html html; text/css css; text/plain txt; application/json json; }
    server { listen 127.0.0.1:%PORT%; root %PREFIX%/html;
      gzip on;
      location / { }
      location /vary/ { gzip_vary on; }
      location /small/ { gzip_min_length 2000; }
      location /typed/ { gzip_types text/css; }
      location /any/ { gzip_types *; }
      location /v10/ { gzip_http_version 1.0; }
      location /msie/ { gzip_disable msie6; }
      location /ua/ { gzip_disable "curl/[0-9]" "^Bot"; }
      location /level/ { gzip_comp_level 9; gzip_window 512; gzip_hash 1k; }
      location /err { gzip_min_length 0; return 500; }
      location = /notfound { gzip_min_length 0; error_page 404 /x404; }
      location /up/ { proxy_pass http://${backend.addr}/; }
      location /stream { proxy_pass http://${backend.addr}; proxy_buffering off; }
      location /big { proxy_pass http://${backend.addr}; proxy_buffering off; }
      location /px-off/ { proxy_pass http://${backend.addr}/; }
      location /px-any/ { gzip_proxied any; proxy_pass http://${backend.addr}/; }
      location /px-expired/ { gzip_proxied expired; proxy_pass http://${backend.addr}/; }
      location /px-nocache/ { gzip_proxied no-cache; proxy_pass http://${backend.addr}/; }
      location /px-nostore/ { gzip_proxied no-store; proxy_pass http://${backend.addr}/; }
      location /px-private/ { gzip_proxied private; proxy_pass http://${backend.addr}/; }
      location /px-nolm/ { gzip_proxied no_last_modified; proxy_pass http://${backend.addr}/; }
      location /px-noetag/ { gzip_proxied no_etag; proxy_pass http://${backend.addr}/; }
      location /px-auth/ { gzip_proxied auth; proxy_pass http://${backend.addr}/; }
      location /gunzip/ { gunzip on; gzip_vary on; proxy_pass http://${backend.addr}/; }
      location /nogunzip/ { gzip off; proxy_pass http://${backend.addr}/; }
      location /static-on/ { gzip off; gzip_static on; gzip_vary on; }
      location /static-always/ { gzip off; gzip_static always; }
      location /static-gunzip/ { gzip_static always; gunzip on; }
      location /static-off/ { gzip_static off; }
      location /ssi/ { ssi on; }
      location = /inc { proxy_pass http://${backend.addr}; }
    }
  }`, {
    'html/index.html': PLAIN,
    'html/vary/a.html': PLAIN,
    'html/small/a.html': PLAIN,
    'html/typed/a.css': PLAIN,
    'html/typed/a.txt': PLAIN,
    'html/typed/a.html': PLAIN,
    'html/any/a.json': PLAIN,
    'html/a.txt': PLAIN,
    'html/tiny.html': 'tiny',
    'html/v10/a.html': PLAIN,
    'html/msie/a.html': PLAIN,
    'html/ua/a.html': PLAIN,
    'html/level/a.html': PLAIN,
    'html/static-on/a.html': 'plain copy',
    'html/static-on/a.html.gz': gzipSync('gzipped copy'),
    'html/static-on/only.html': 'no gz here',
    'html/static-always/a.html': 'plain copy',
    'html/static-always/a.html.gz': gzipSync('gzipped copy'),
    'html/static-gunzip/a.html.gz': gzipSync('gzipped copy'),
    'html/static-off/a.html': 'plain copy',
    'html/static-off/a.html.gz': gzipSync('gzipped copy'),
    'html/ssi/page.html': 'A<!--#include virtual="/inc" -->B<!--#include virtual="/ssi/part.html" -->C',
    'html/ssi/part.html': 'part',
  });
});

after(async () => {
  await w?.stop();
  await backend?.stop();
});

interface Got extends RawResponse {
  /** The body as the client reads it: inflated when it came gzipped. */
  readonly plain: string;
}

async function get(path: string, headers: readonly string[] = ['Accept-Encoding: gzip'], method = 'GET', version = '1.1'): Promise<Got> {
  const req = `${method} ${path} HTTP/${version}\r\nHost: localhost\r\n${headers.map((h) => h + '\r\n').join('')}Connection: close\r\n\r\n`;
  const ex = await exchange(w.port, req, { methods: [method], idleMs: 300 });
  const r = ex.responses[0];
  assert.ok(r, `a response to ${path}`);
  const whole = r.headers['content-encoding'] === 'gzip' && r.body.length > 0 && r.status !== 206;
  const plain = whole ? gunzipSync(r.body).toString('latin1') : r.body.toString('latin1');
  return { ...r, plain };
}

const gzipped = (r: RawResponse): boolean => r.headers['content-encoding'] === 'gzip';

test('a static file: gzipped with its length, Accept-Ranges gone and a weak ETag; plain for a client without gzip', async () => {
  const r = await get('/index.html');
  assert.equal(r.status, 200);
  assert.ok(gzipped(r));
  assert.equal(r.plain, PLAIN);
  assert.ok(r.body.length < PLAIN.length);
  assert.equal(r.headers['content-length'], undefined);
  assert.equal(r.headers['transfer-encoding'], 'chunked');
  assert.equal(r.headers['accept-ranges'], undefined);
  assert.match(r.headers.etag ?? '', /^W\/"/);
  assert.equal(r.headers.vary, undefined, 'no Vary without gzip_vary');
  const plain = await get('/index.html', []);
  assert.ok(!gzipped(plain));
  assert.equal(plain.body.toString(), PLAIN);
  assert.equal(plain.headers['content-length'], String(PLAIN.length));
  assert.doesNotMatch(plain.headers.etag ?? '', /^W\//);
  for (const ae of ['gzip;q=0', 'deflate, br', 'x-gzip']) assert.ok(!gzipped(await get('/index.html', [`Accept-Encoding: ${ae}`])), ae);
  assert.ok(gzipped(await get('/index.html', ['Accept-Encoding: br;q=1, gzip;q=0.5'])));
});

test('gzip_vary: Vary: Accept-Encoding on every response gzip judged, gzipped or not', async () => {
  assert.equal((await get('/vary/a.html')).headers.vary, 'Accept-Encoding');
  const plain = await get('/vary/a.html', []);
  assert.ok(!gzipped(plain));
  assert.equal(plain.headers.vary, 'Accept-Encoding');
});

test('gzip_min_length, gzip_types (text/html always, * for any), the status', async () => {
  assert.ok(!gzipped(await get('/small/a.html')), 'shorter than gzip_min_length');
  assert.ok(!gzipped(await get('/tiny.html')), 'shorter than the default 20');
  assert.ok(gzipped(await get('/typed/a.css')));
  assert.ok(gzipped(await get('/typed/a.html')));
  assert.ok(!gzipped(await get('/typed/a.txt')));
  assert.ok(!gzipped(await get('/a.txt')), 'text/plain is not a default type');
  assert.ok(gzipped(await get('/any/a.json')));
  assert.ok(!gzipped(await get('/err')), 'a 500 is not gzipped');
  const nf = await get('/notfound');
  assert.equal(nf.status, 404);
  assert.ok(gzipped(nf), 'a 404 is');
  assert.match(nf.plain, /404 Not Found/);
});

test('gzip_http_version: HTTP/1.0 clients only with 1.0; the body then ends with the connection', async () => {
  assert.ok(!gzipped(await get('/index.html', ['Accept-Encoding: gzip'], 'GET', '1.0')));
  const r = await get('/v10/a.html', ['Accept-Encoding: gzip'], 'GET', '1.0');
  assert.ok(gzipped(r));
  assert.equal(r.plain, PLAIN);
});

test('gzip_disable: msie6 and regexes against User-Agent', async () => {
  const msie6 = 'User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)';
  assert.ok(!gzipped(await get('/msie/a.html', ['Accept-Encoding: gzip', msie6])));
  assert.ok(gzipped(await get('/msie/a.html', ['Accept-Encoding: gzip', 'User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)'])));
  assert.ok(gzipped(await get('/index.html', ['Accept-Encoding: gzip', msie6])), 'msie6 only where gzip_disable says so');
  assert.ok(!gzipped(await get('/ua/a.html', ['Accept-Encoding: gzip', 'User-Agent: CURL/8.1'])), 'caseless');
  assert.ok(!gzipped(await get('/ua/a.html', ['Accept-Encoding: gzip', 'User-Agent: bot 1'])));
  assert.ok(gzipped(await get('/ua/a.html', ['Accept-Encoding: gzip', 'User-Agent: a bot'])));
  assert.ok(gzipped(await get('/ua/a.html')));
});

test('gzip_comp_level, gzip_window, gzip_hash go to zlib: the body still inflates', async () => {
  const r = await get('/level/a.html');
  assert.ok(gzipped(r));
  assert.equal(r.plain, PLAIN);
});

test('HEAD: Content-Encoding as for GET, no body, no length', async () => {
  const r = await get('/index.html', ['Accept-Encoding: gzip'], 'HEAD');
  assert.ok(gzipped(r));
  assert.equal(r.body.length, 0);
  assert.equal(r.headers['content-length'], undefined);
  assert.ok(!gzipped(await get('/index.html', [], 'HEAD')));
});

test('$gzip_ratio: input over output for a gzipped response, "-" otherwise', async () => {
  await get('/vary/a.html');
  await get('/tiny.html');
  const lines = await waitLines(`${w.prefix}/logs/ratio.log`, 2);
  const ratio = lines.find((l) => l.startsWith('/vary/a.html '));
  assert.match(ratio ?? '', /^\/vary\/a\.html \d+\.\d\d$/);
  assert.ok(Number(ratio!.split(' ')[1]) > 10, 'a run of X compresses well');
  assert.ok(fileLines(`${w.prefix}/logs/ratio.log`).includes('/tiny.html -'));
});

test('gzip_proxied against Via: off, any, expired, no-cache, no-store, private, no_last_modified, no_etag, auth', async () => {
  const via = ['Accept-Encoding: gzip', 'Via: 1.1 cache'];
  assert.ok(gzipped(await get('/px-off/bare')), 'no Via: gzip_proxied does not matter');
  assert.ok(!gzipped(await get('/px-off/bare', via)));
  assert.ok(gzipped(await get('/px-any/bare', via)));
  assert.ok(gzipped(await get('/px-expired/expired', via)));
  assert.ok(!gzipped(await get('/px-expired/future', via)), 'expires later');
  assert.ok(gzipped(await get('/px-expired/future')), 'without Via, Expires does not matter');
  assert.ok(!gzipped(await get('/px-nocache/expired', via)), 'Expires decides once present');
  assert.ok(gzipped(await get('/px-nocache/nocache', via)));
  assert.ok(!gzipped(await get('/px-nocache/public', via)), 'no-cachex is not no-cache');
  assert.ok(!gzipped(await get('/px-nocache/nostore', via)));
  assert.ok(gzipped(await get('/px-nostore/nostore', via)));
  assert.ok(gzipped(await get('/px-private/private', via)));
  assert.ok(!gzipped(await get('/px-private/nocache', via)));
  assert.ok(gzipped(await get('/px-nolm/bare', via)));
  assert.ok(!gzipped(await get('/px-nolm/lm', via)));
  assert.ok(gzipped(await get('/px-noetag/bare', via)));
  assert.ok(!gzipped(await get('/px-noetag/etag', via)));
  assert.ok(gzipped(await get('/px-auth/bare', via)), 'nothing in the response refuses it either (nginx\'s fall-through)');
  assert.ok(!gzipped(await get('/px-auth/public', via)), 'Cache-Control refuses it without Authorization');
  assert.ok(gzipped(await get('/px-auth/public', [...via, 'Authorization: Basic eDp5'])));
});

test('a proxied response with buffering off is flushed to the client when the upstream pauses', async () => {
  const sock = connect(w.port, '127.0.0.1');
  const chunks: Buffer[] = [];
  sock.on('data', (d: Buffer) => chunks.push(d));
  sock.write('GET /stream HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n');
  // The first part, inflated from the chunks that came, before the upstream sent the rest.
  const inflated = (): string => {
    const raw = Buffer.concat(chunks);
    const headEnd = raw.indexOf('\r\n\r\n');
    if (headEnd === -1) return '';
    const body = dechunk(raw.subarray(headEnd + 4));
    if (body.length < 10) return '';
    return gunzipSync(body, { finishFlush: zc.Z_SYNC_FLUSH }).toString();
  };
  await until('the first part inflated', () => inflated() === 'first part '.repeat(20));
  assert.ok(releaseSecond);
  releaseSecond!();
  await new Promise<void>((resolve) => sock.on('close', () => resolve()));
  const raw = Buffer.concat(chunks);
  const body = dechunk(raw.subarray(raw.indexOf('\r\n\r\n') + 4));
  assert.equal(gunzipSync(body).toString(), 'first part '.repeat(20) + 'second part');
});

test('backpressure through zlib: a client that does not read holds the upstream back; the body is whole', async () => {
  const sock = connect(w.port, '127.0.0.1');
  sock.pause();
  sock.write('GET /big HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n');
  await until('the upstream held back', () => big.held);
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(!big.done, 'the upstream cannot send it all while the client reads nothing');
  const chunks: Buffer[] = [];
  sock.on('data', (d: Buffer) => chunks.push(d));
  sock.resume();
  await new Promise<void>((resolve) => sock.on('close', () => resolve()));
  const raw = Buffer.concat(chunks);
  const head = raw.subarray(0, raw.indexOf('\r\n\r\n')).toString();
  assert.match(head, /Content-Encoding: gzip/);
  const body = gunzipSync(dechunk(raw.subarray(raw.indexOf('\r\n\r\n') + 4)));
  assert.equal(createHash('sha1').update(body).digest('hex'), createHash('sha1').update(BIG).digest('hex'));
  await until('no zlib stream left', () => liveZlibStreams() === 0);
});

test('a client that leaves mid-stream: zlib freed, the upstream closed, nothing unhandled, weir answers on', async () => {
  big.held = false; big.done = false; big.closed = false; big.written = 0;
  const sock = connect(w.port, '127.0.0.1');
  let got = 0;
  sock.on('data', (d: Buffer) => { got += d.length; if (got > 100_000) sock.destroy(); });
  sock.on('error', () => {});
  sock.write('GET /big HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n');
  await until('the upstream connection closed', () => big.closed);
  await until('no zlib stream left', () => liveZlibStreams() === 0);
  assert.equal((await get('/index.html')).plain, PLAIN);
  assert.doesNotMatch(w.errorLog(), /\[alert\]|\[crit\]|deflate\(\) failed/);
});

test('SSI with gzip: the whole page, subrequests in place, gzipped once', async () => {
  const r = await get('/ssi/page.html');
  assert.ok(gzipped(r));
  assert.equal(r.plain, 'A[/inc]BpartC');
});

test('gunzip: an upstream gzip body inflated for a client without gzip, passed as it is to one with', async () => {
  const plain = await get('/gunzip/gz', []);
  assert.equal(plain.status, 200);
  assert.ok(!gzipped(plain));
  assert.equal(plain.body.toString(), PLAIN);
  assert.equal(plain.headers['content-length'], undefined);
  assert.equal(plain.headers.etag, 'W/"e1"');
  assert.equal(plain.headers.vary, 'Accept-Encoding');
  const passed = await get('/gunzip/gz');
  assert.ok(gzipped(passed));
  assert.equal(passed.plain, PLAIN);
  assert.equal(passed.headers.vary, 'Accept-Encoding');
  assert.equal((await get('/gunzip/gz2', [])).body.toString(), MEMBER + MEMBER, 'two members one after another');
  assert.ok(gzipped(await get('/nogunzip/gz', [])), 'without gunzip the client gets what the upstream sent');
  const head = await get('/gunzip/gz', [], 'HEAD');
  assert.ok(!gzipped(head));
  assert.equal(head.headers.vary, 'Accept-Encoding');
});

test('gunzip of a body that is not gzip: logged, the response cut', async () => {
  const ex = await exchange(w.port, 'GET /gunzip/corrupt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', { idleMs: 300 });
  // Nothing inflated yet: the head, which waits for the first body bytes, never went (nginx's
  // header sits below postpone_output then too); the connection closes.
  assert.ok(ex.closed);
  assert.equal(ex.raw.length, 0);
  await w.waitForLog(/\[error\].*inflate\(\) failed: incorrect header check/);
  await until('no zlib stream left', () => liveZlibStreams() === 0);
});

test('gzip_static on: FILE.gz for a gzip client, FILE otherwise, with Vary; a missing .gz leaves it to static', async () => {
  const gz = await get('/static-on/a.html');
  assert.ok(gzipped(gz));
  assert.equal(gz.plain, 'gzipped copy');
  assert.equal(gz.headers['content-length'], String(gzipSync('gzipped copy').length));
  assert.equal(gz.headers['content-type'], 'text/html');
  assert.equal(gz.headers.vary, 'Accept-Encoding');
  assert.equal(gz.headers['accept-ranges'], 'bytes');
  const plain = await get('/static-on/a.html', []);
  assert.ok(!gzipped(plain));
  assert.equal(plain.body.toString(), 'plain copy');
  assert.equal(plain.headers.vary, 'Accept-Encoding');
  const only = await get('/static-on/only.html');
  assert.equal(only.body.toString(), 'no gz here');
  assert.equal(only.headers.vary, undefined, 'no .gz: nothing to vary on');
  const head = await get('/static-on/a.html', ['Accept-Encoding: gzip'], 'HEAD');
  assert.ok(gzipped(head));
  assert.equal(head.body.length, 0);
  const range = await get('/static-on/a.html', ['Accept-Encoding: gzip', 'Range: bytes=0-1']);
  assert.equal(range.status, 206);
  assert.deepEqual([...range.body], [0x1f, 0x8b], 'a range of the .gz file');
  assert.equal((await get('/static-on/missing.html')).status, 404);
  assert.equal((await get('/static-on/a.html', ['Accept-Encoding: gzip'], 'POST')).status, 405, 'not GET or HEAD: left to static');
});

test('gzip_static always: FILE.gz for every client; with gunzip, inflated for those without gzip; off: never', async () => {
  const always = await get('/static-always/a.html', []);
  assert.ok(gzipped(always));
  assert.equal(always.plain, 'gzipped copy');
  const inflated = await get('/static-gunzip/a.html', []);
  assert.ok(!gzipped(inflated));
  assert.equal(inflated.body.toString(), 'gzipped copy');
  const passed = await get('/static-gunzip/a.html');
  assert.ok(gzipped(passed));
  assert.equal(passed.plain, 'gzipped copy', 'gzip on does not gzip it again');
  const off = await get('/static-off/a.html');
  assert.equal(off.plain, 'plain copy');
});

/** The data of the complete chunks of a chunked body (a partial last chunk is left out). */
function dechunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const le = raw.indexOf('\r\n', pos);
    if (le === -1) break;
    const size = parseInt(raw.subarray(pos, le).toString('latin1'), 16);
    if (!(size > 0) || le + 2 + size > raw.length) break;
    parts.push(raw.subarray(le + 2, le + 2 + size));
    pos = le + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
