/**
 * Static files as nginx: root, alias (prefix and regex), index, try_files,
 * types/default_type, Last-Modified/ETag, 304/412, Range (206/416/multipart),
 * HEAD, 301 for directories, 403/404/405 and the error-log lines.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { exchange, get, startWeir, type Weir } from '../helpers/raw-http.js';

const mimeTypes = readFileSync(new URL('../../../conf/mime.types', import.meta.url), 'utf8');
const big = Buffer.alloc(300_000);
for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;

const conf = `
http {
  include mime.types;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:%PORT%;
    root html;
    location / { }
    location /al/ { alias aliased/; }
    location ~ ^/re/(.+)$ { alias %PREFIX%/aliased/$1; }
    location /multi/ { index none.html second.html; }
    location /noidx/ { index none.html; }
    location /tf/ { try_files /tf/missing /tf/a.txt /fallback.txt; }
    location /tfdir/ { try_files /nothing /tf/ =404; }
    location /tfcode/ { try_files /nothing =418; }
    location /tfnamed/ { try_files /nothing @named; }
    location @named { root named; }
    location /noetag/ { etag off; }
    location /typed/ { types { text/x-custom cst; } default_type text/x-default; }
    location /quiet/ { log_not_found off; }
    location /gz/ { gzip on; gzip_types text/plain; gzip_min_length 1; }
  }
}`;

let w: Weir;
before(async () => {
  w = await startWeir(conf, {
    'conf/mime.types': mimeTypes,
    'mime.types': mimeTypes,
    'html/index.html': 'index page\n',
    'html/a.txt': 'hello a\n',
    'html/gz/t.txt': 'gzip me, gzip me, gzip me\n',
    'html/style.CSS': 'body{}',
    'html/big.bin': big,
    'html/empty.txt': '',
    'html/dir/index.html': 'dir index\n',
    'html/multi/second.html': 'second\n',
    'html/noidx/x.txt': 'x',
    'html/tf/a.txt': 'tf a\n',
    'html/fallback.txt': 'fallback\n',
    'html/noetag/f.txt': 'f',
    'html/typed/f.cst': 'c',
    'html/typed/f.zzz': 'z',
    'aliased/al.txt': 'aliased file\n',
    'named/tfnamed/x': 'named x\n',
    'named/nothing': 'named nothing\n',
  });
});
after(async () => { await w?.stop(); });

async function one(req: string, methods?: string[]) {
  const ex = await exchange(w.port, req, { methods });
  assert.ok(ex.responses.length >= 1, `no response to ${JSON.stringify(req)}: ${ex.raw.toString('latin1')}`);
  return ex.responses[0];
}

test('a file is served with type, length, Last-Modified, ETag and Accept-Ranges', async () => {
  const res = await one(get('/a.txt'));
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), 'hello a\n');
  assert.equal(res.headers['content-type'], 'text/plain');
  assert.equal(res.headers['content-length'], '8');
  assert.equal(res.headers['accept-ranges'], 'bytes');
  const st = statSync(join(w.prefix, 'html/a.txt'));
  const mtime = Math.floor(st.mtimeMs / 1000);
  assert.equal(res.headers['last-modified'], new Date(mtime * 1000).toUTCString());
  assert.equal(res.headers.etag, `"${mtime.toString(16)}-8"`);
});

test('content type by extension (case-insensitive), default_type, types {} per location', async () => {
  assert.equal((await one(get('/style.CSS'))).headers['content-type'], 'text/css');
  assert.equal((await one(get('/big.bin'))).headers['content-type'], 'application/octet-stream');
  assert.equal((await one(get('/typed/f.cst'))).headers['content-type'], 'text/x-custom');
  assert.equal((await one(get('/typed/f.zzz'))).headers['content-type'], 'text/x-default');
});

test('a large file is streamed whole and intact', async () => {
  const res = await one(get('/big.bin'));
  assert.equal(res.status, 200);
  assert.equal(res.body.length, big.length);
  assert.ok(res.body.equals(big));
});

test('an empty file: 200 with Content-Length 0', async () => {
  const res = await one(get('/empty.txt'));
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-length'], '0');
});

test('HEAD: headers only, same Content-Length', async () => {
  const ex = await exchange(w.port, get('/a.txt', '', 'HEAD'), { methods: ['HEAD'] });
  assert.equal(ex.responses[0].status, 200);
  assert.equal(ex.responses[0].headers['content-length'], '8');
  assert.ok(ex.raw.toString('latin1').endsWith('\r\n\r\n'));
});

test('index: / serves index.html through an internal redirect; several indexes, first found', async () => {
  assert.equal((await one(get('/'))).body.toString(), 'index page\n');
  assert.equal((await one(get('/dir/'))).body.toString(), 'dir index\n');
  const m = await one(get('/multi/'));
  assert.equal(m.status, 200);
  assert.equal(m.body.toString(), 'second\n');
  assert.equal(m.headers['content-type'], 'text/html');
});

test('a directory without index: 403 and "directory index ... is forbidden"', async () => {
  const res = await one(get('/noidx/'));
  assert.equal(res.status, 403);
  assert.match(await w.waitForLog(/\[error\] .*directory index of ".*\/html\/noidx\/" is forbidden/), /\[error\] .*directory index of ".*\/html\/noidx\/" is forbidden/);
});

test('a directory without the slash: 301 to uri/ (args kept)', async () => {
  const res = await one(get('/dir?x=1'));
  assert.equal(res.status, 301);
  assert.match(res.headers.location, /^http:\/\/localhost:\d+\/dir\/\?x=1$/);
});

test('missing file: 404 and the open() error line; log_not_found off is silent', async () => {
  const res = await one(get('/nope.txt'));
  assert.equal(res.status, 404);
  assert.match(await w.waitForLog(/\[error\] \d+#0: \*\d+ open\(\) ".*\/html\/nope\.txt" failed \(2: No such file or directory\), client: 127\.0\.0\.1, server: , request: "GET \/nope\.txt HTTP\/1\.1", host: "localhost"/), /\[error\] \d+#0: \*\d+ open\(\) ".*\/html\/nope\.txt" failed \(2: No such file or directory\), client: 127\.0\.0\.1, server: , request: "GET \/nope\.txt HTTP\/1\.1", host: "localhost"/);
  assert.equal((await one(get('/quiet/nope'))).status, 404);
  assert.equal((await one(get('/missing-dir/'))).status, 404);
  // The log is written in order, asynchronously: once the later request's line is there,
  // a line for /quiet/nope would be there too.
  const log = await w.waitForLog(/\[error\] .*".*\/html\/missing-dir\/" is not found \(2: No such file or directory\), .*request: "GET \/missing-dir\/ /);
  assert.doesNotMatch(log, /quiet\/nope/);
});

test('methods: POST to a file 405, POST to a missing file 404, DELETE 405', async () => {
  assert.equal((await one('POST /a.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc')).status, 405);
  assert.equal((await one('POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')).status, 404);
  assert.equal((await one('DELETE /a.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')).status, 405);
});

test('alias in a prefix location and in a regex location with a capture', async () => {
  assert.equal((await one(get('/al/al.txt'))).body.toString(), 'aliased file\n');
  assert.equal((await one(get('/re/al.txt'))).body.toString(), 'aliased file\n');
  assert.equal((await one(get('/re/none'))).status, 404);
});

test('try_files: first existing file, else the fallback URI, =code, @named, a directory', async () => {
  assert.equal((await one(get('/tf/whatever'))).body.toString(), 'tf a\n');
  // A directory argument matches as "/tf" (nginx drops the slash), which the static handler redirects.
  const tfdir = await one(get('/tfdir/x'));
  assert.equal(tfdir.status, 301);
  assert.match(tfdir.headers.location, /\/tf\/$/);
  assert.equal((await one(get('/tfcode/x'))).status, 418);
  assert.equal((await one(get('/tfnamed/x'))).body.toString(), 'named x\n');
});

test('try_files fallback to a URI (found again by location matching)', async () => {
  const w2 = await startWeir(`http { server { listen 127.0.0.1:%PORT%; root html;
    location / { try_files /missing1 /missing2 /fallback.txt; }
    location = /fallback.txt { } } }`, { 'html/fallback.txt': 'fb\n' });
  try {
    const ex = await exchange(w2.port, get('/anything'));
    assert.equal(ex.responses[0].status, 200);
    assert.equal(ex.responses[0].body.toString(), 'fb\n');
  } finally { await w2.stop(); }
});

test('try_files $uri $uri/ =404', async () => {
  const w2 = await startWeir(`http { server { listen 127.0.0.1:%PORT%; root html;
      location / { try_files $uri $uri/ =404; } } }`, { 'html/f.txt': 'f\n', 'html/d/index.html': 'd\n' });
  try {
    assert.equal((await exchange(w2.port, get('/f.txt'))).responses[0].body.toString(), 'f\n');
    assert.equal((await exchange(w2.port, get('/d'))).responses[0].status, 301);
    assert.equal((await exchange(w2.port, get('/d/'))).responses[0].body.toString(), 'd\n');
    assert.equal((await exchange(w2.port, get('/none'))).responses[0].status, 404);
  } finally { await w2.stop(); }
});

test('conditional: If-Modified-Since equal → 304, older → 200; If-None-Match → 304; etag off', async () => {
  const p = join(w.prefix, 'html/a.txt');
  utimesSync(p, 1_700_000_000, 1_700_000_000);
  const lm = new Date(1_700_000_000 * 1000).toUTCString();
  const etag = `"${(1_700_000_000).toString(16)}-8"`;
  const nm = await one(get('/a.txt', `If-Modified-Since: ${lm}\r\n`));
  assert.equal(nm.status, 304);
  assert.equal(nm.headers.etag, etag);
  assert.equal(nm.headers['content-length'], undefined);
  assert.equal((await one(get('/a.txt', `If-Modified-Since: ${new Date(1_600_000_000_000).toUTCString()}\r\n`))).status, 200);
  assert.equal((await one(get('/a.txt', `If-None-Match: "x", ${etag}\r\n`))).status, 304);
  assert.equal((await one(get('/a.txt', `If-None-Match: W/${etag}\r\n`))).status, 304);
  assert.equal((await one(get('/a.txt', `If-None-Match: "other"\r\n`))).status, 200);
  assert.equal((await one(get('/a.txt', `If-None-Match: *\r\n`))).status, 304);
  assert.equal((await one(get('/a.txt', `If-Match: "other"\r\n`))).status, 412);
  assert.equal((await one(get('/a.txt', `If-Unmodified-Since: ${new Date(1_600_000_000_000).toUTCString()}\r\n`))).status, 412);
  const ne = await one(get('/noetag/f.txt'));
  assert.equal(ne.headers.etag, undefined);
  assert.ok(ne.headers['last-modified']);
});

test('Range: single → 206 with Content-Range; suffix; open end; unsatisfiable → 416', async () => {
  const r1 = await one(get('/big.bin', 'Range: bytes=10-19\r\n'));
  assert.equal(r1.status, 206);
  assert.equal(r1.headers['content-range'], `bytes 10-19/${big.length}`);
  assert.equal(r1.headers['content-length'], '10');
  assert.equal(r1.headers['accept-ranges'], undefined);
  assert.ok(r1.body.equals(big.subarray(10, 20)));
  const r2 = await one(get('/big.bin', 'Range: bytes=-5\r\n'));
  assert.ok(r2.body.equals(big.subarray(big.length - 5)));
  const r3 = await one(get('/big.bin', `Range: bytes=${big.length - 3}-\r\n`));
  assert.equal(r3.headers['content-range'], `bytes ${big.length - 3}-${big.length - 1}/${big.length}`);
  const r4 = await one(get('/big.bin', `Range: bytes=${big.length}-\r\n`));
  assert.equal(r4.status, 416);
  assert.equal(r4.headers['content-range'], `bytes */${big.length}`);
  const r5 = await one(get('/big.bin', 'Range: bytes=abc\r\n'));
  assert.equal(r5.status, 416);
  const r6 = await one(get('/big.bin', 'Range: items=1-2\r\n'));
  assert.equal(r6.status, 200);
  const r7 = await one(get('/big.bin', 'Range: bytes=0-4\r\nIf-Range: "stale"\r\n'));
  assert.equal(r7.status, 200);
  assert.equal(r7.body.length, big.length);
});

test('Range on a body gzip rewrites: the whole compressed body, no Accept-Ranges (the range filter sees the length go)', async () => {
  const zipped = await one(get('/gz/t.txt', 'Range: bytes=0-4\r\nAccept-Encoding: gzip\r\n'));
  assert.equal(zipped.status, 200);
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  assert.equal(zipped.headers['content-range'], undefined);
  assert.equal(zipped.headers['accept-ranges'], undefined);
  assert.equal(gunzipSync(zipped.body).toString(), 'gzip me, gzip me, gzip me\n');
  const plain = await one(get('/gz/t.txt', 'Range: bytes=0-3\r\n'));
  assert.equal(plain.status, 206);
  assert.equal(plain.body.toString(), 'gzip');
});

test('Range: multiple ranges → multipart/byteranges 206', async () => {
  const res = await one(get('/a.txt', 'Range: bytes=0-1,4-5\r\n'));
  assert.equal(res.status, 206);
  const m = /^multipart\/byteranges; boundary=(\d+)$/.exec(res.headers['content-type']);
  assert.ok(m);
  const b = m[1];
  assert.equal(res.body.toString('latin1'),
    `\r\n--${b}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/8\r\n\r\nhe`
    + `\r\n--${b}\r\nContent-Type: text/plain\r\nContent-Range: bytes 4-5/8\r\n\r\no `
    + `\r\n--${b}--\r\n`);
  assert.equal(Number(res.headers['content-length']), res.body.length);
});

test('keep-alive: several requests on one connection, bodies of POSTs discarded', async () => {
  const ex = await exchange(w.port, [
    'GET /a.txt HTTP/1.1\r\nHost: a\r\n\r\n',
    'POST /a.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello',
    'GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=0-0\r\n\r\n',
    'GET /a.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
  ]);
  assert.deepEqual(ex.responses.map((r) => r.status), [200, 405, 206, 200]);
  assert.ok(ex.closed);
});
