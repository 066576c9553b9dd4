// sub_filter, addition and charset on real sockets: a match split between upstream writes, a
// partial match held while the rest goes out, variables in patterns; before/after-body
// subrequests in order with sub_filter holding bytes; Content-Type charsets, recoding through
// nginx's koi-utf, X-Accel-Charset, a range of a recoded file keeping its length; max_ranges.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from '../helpers/in-process.js';
import { startScriptUpstream, type ScriptUpstream } from '../helpers/proxy-fixtures.js';
import { startWeir, type Weir } from '../helpers/raw-http.js';
import { until } from '../helpers/wait.js';

let w: Weir;
let backend: ScriptUpstream;
const open = new Set<Socket>();

const KOI_UTF = readFileSync(join(import.meta.dirname, '../../../conf/koi-utf'), 'utf8');

before(async () => {
  backend = await startScriptUpstream((sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    sock.once('data', (d: Buffer) => {
      const target = d.toString('latin1').split(' ')[1] ?? '';
      const head = (): string => 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n';
      if (target.startsWith('/split')) {
        // "foo" split between two writes, then more.
        sock.write(head() + 'Content-Length: 9\r\n\r\nxyf');
        setTimeout(() => sock.end('oozfoo'), 100);
      } else if (target.startsWith('/hold')) {
        // Never finished: what could not begin a match must reach the client anyway.
        sock.write(head() + 'Content-Length: 10\r\n\r\nxyz');
      } else if (target.startsWith('/cyr')) {
        const body = Buffer.from('абв', 'utf8');
        sock.write(`HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nX-Accel-Charset: koi8-r\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
        sock.end(body);
      } else {
        sock.end(head() + 'Content-Length: 2\r\n\r\nok');
      }
    });
  });
  w = await startWeir(`http { access_log off;
    ${KOI_UTF}
    charset_map B A { 58 59; }
    server { listen 127.0.0.1:%PORT%; root %PREFIX%/html;
      location /p/ { proxy_pass http://${backend.addr}/; proxy_buffering off; sub_filter foo bar; sub_filter_once off; sub_filter za ZA; }
      location /v/ { sub_filter $arg_m "[$arg_r]"; }
      location /lm/ { sub_filter a b; sub_filter_last_modified on; }
      location /add/ { add_before_body /before.txt; add_after_body /after.txt; addition_types text/plain; }
      location /addsub/ { add_after_body /after.txt; sub_filter foo bar; }
      location /cs/ { charset utf-8; types { text/html html; image/png png; } }
      location /koi/ { charset utf-8; source_charset koi8-r; }
      location /ab/ { charset A; source_charset B; }
      location /var/ { charset $arg_c; source_charset koi8-r; }
      location /cyr { proxy_pass http://${backend.addr}; charset utf-8; }
      location /mr/ { max_ranges 1; }
      location /mr0/ { max_ranges 0; }
    } }`, {
    'html/v/page.html': 'one TWO three',
    'html/lm/page.html': 'aaa',
    'html/add/page.txt': 'body',
    'html/before.txt': 'before-',
    'html/after.txt': '-after',
    'html/addsub/page.html': 'XXfo',
    'html/cs/page.html': 'x',
    'html/cs/img.png': 'x',
    'html/koi/page.html': Buffer.from([0x41, 0xc1, 0xc2, 0x80]),
    'html/ab/page.html': 'X'.repeat(100),
    'html/var/page.html': Buffer.from([0xc1]),
    'html/mr/page.html': '0123456789',
    'html/mr0/page.html': '0123456789',
  });
});

after(async () => {
  for (const s of open) s.destroy();
  await w.stop();
  await backend.stop();
});

test('sub_filter: a match split between upstream writes is found', async () => {
  const r = await request(w.port, '/p/split');
  assert.equal(r.status, 200);
  assert.equal(r.text, 'xybarzbar');
  assert.equal(r.headers['content-length'], undefined);
});

test('sub_filter: bytes that could begin a match are held, the rest goes out at once', async () => {
  const sock = connect(w.port, '127.0.0.1');
  let got = '';
  sock.on('data', (d: Buffer) => { got += d.toString('latin1'); });
  sock.on('error', () => {});
  sock.write('GET /p/hold HTTP/1.1\r\nHost: x\r\n\r\n');
  try {
    await until('the first bytes', () => /\r\n\r\n[0-9a-f]+\r\nxy\r\n/.test(got));
    assert.doesNotMatch(got, /xyz/);
  } finally {
    sock.destroy();
  }
});

test('sub_filter: variables in the pattern and the replacement; case-insensitive; an empty pattern is none', async () => {
  assert.equal((await request(w.port, '/v/page.html?m=two&r=2')).text, 'one [2] three');
  assert.equal((await request(w.port, '/v/page.html?r=2')).text, 'one TWO three');
});

test('sub_filter: Last-Modified and ETag go, unless sub_filter_last_modified (the ETag weak)', async () => {
  const plain = await request(w.port, '/v/page.html?m=one');
  assert.equal(plain.headers['last-modified'], undefined);
  assert.equal(plain.headers.etag, undefined);
  const lm = await request(w.port, '/lm/page.html');
  assert.equal(lm.text, 'baa');
  assert.ok(lm.headers['last-modified']);
  assert.match(lm.headers.etag ?? '', /^W\/"/);
});

test('addition: before and after the body; not for HEAD, a subrequest or another status', async () => {
  const r = await request(w.port, '/add/page.txt');
  assert.equal(r.text, 'before-body-after');
  assert.equal(r.headers['accept-ranges'], undefined);
  const head = await request(w.port, '/add/page.txt', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal((await request(w.port, '/add/missing.txt')).status, 404);
  assert.doesNotMatch((await request(w.port, '/add/missing.txt')).text, /before-|-after/);
});

test('addition: the after-body output follows what sub_filter still held at the end', async () => {
  assert.equal((await request(w.port, '/addsub/page.html')).text, 'XXfo-after');
});

test('charset: added to the types in charset_types, not to others', async () => {
  assert.equal((await request(w.port, '/cs/page.html')).headers['content-type'], 'text/html; charset=utf-8');
  assert.equal((await request(w.port, '/cs/img.png')).headers['content-type'], 'image/png');
});

test("charset: koi8-r to utf-8 through nginx's koi-utf map; unknown bytes as ?", async () => {
  const r = await request(w.port, '/koi/page.html');
  assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(r.body.toString('utf8'), 'Aаб€');
  assert.equal(r.headers['content-length'], undefined);
});

test('charset: a one-byte recoding keeps the length, and a range of it', async () => {
  const r = await request(w.port, '/ab/page.html');
  assert.equal(r.text, 'Y'.repeat(100));
  assert.equal(r.headers['content-length'], '100');
  const part = await request(w.port, '/ab/page.html', { headers: ['Range: bytes=90-'] });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-length'], '10');
  assert.equal(part.text, 'Y'.repeat(10));
});

test('charset: a variable naming a charset with no map logs nginx error and sends the body as it is', async () => {
  const r = await request(w.port, '/var/page.html?c=nosuch');
  assert.equal(r.status, 200);
  assert.deepEqual([...r.body], [0xc1]);
  assert.equal(r.headers['content-type'], 'text/html');
  await w.waitForLog(/\[error\] .*no "charset_map" between the charsets "koi8-r" and "nosuch"/);
  assert.equal((await request(w.port, '/var/page.html?c=utf-8')).body.toString('utf8'), 'а');
});

test("charset: an upstream's X-Accel-Charset names the charset to recode to", async () => {
  const r = await request(w.port, '/cyr');
  assert.equal(r.headers['content-type'], 'text/html; charset=koi8-r');
  assert.deepEqual([...r.body], [0xc1, 0xc2, 0xd7]);
  assert.equal(r.headers['x-accel-charset'], undefined);
});

test('max_ranges: past the limit the whole file; 0 turns ranges off', async () => {
  assert.equal((await request(w.port, '/mr/page.html', { headers: ['Range: bytes=0-1'] })).status, 206);
  const two = await request(w.port, '/mr/page.html', { headers: ['Range: bytes=0-1,3-4'] });
  assert.equal(two.status, 200);
  assert.equal(two.text, '0123456789');
  const off = await request(w.port, '/mr0/page.html', { headers: ['Range: bytes=0-1'] });
  assert.equal(off.status, 200);
  assert.equal(off.headers['accept-ranges'], undefined);
});
