// autoindex end to end: the formats, symlinks, hidden files, index files first,
// jsonp callbacks, HEAD, errors, and a directory big enough to be streamed.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request, startWeir, type Weir } from '../helpers/in-process.js';

let w: Weir;

before(async () => {
  w = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT%; server_name localhost; root %PREFIX%/html; autoindex on;
      location /x/ { alias %PREFIX%/html/; autoindex_format xml; }
      location /j/ { alias %PREFIX%/html/; autoindex_format json; }
      location /p/ { alias %PREFIX%/html/; autoindex_format jsonp; }
      location /s/ { alias %PREFIX%/html/; autoindex_exact_size off; }
      location /off/ { autoindex off; }
      location /big/ { }
    }
  }`, { 'html/f42': 'x'.repeat(42), 'html/.hidden': '', 'html/sub/a': '', 'html/withindex/index.html': 'INDEX', 'html/off/f': '' });
  const html = join(w.prefix, 'html');
  symlinkSync(join(html, 'f42'), join(html, 'link'));
  symlinkSync(join(html, 'sub'), join(html, 'sublink'));
  symlinkSync(join(html, 'nowhere'), join(html, 'dangling'));
  for (const f of ['f42', 'sub']) utimesSync(join(html, f), 1583298367, 1583298367);
  mkdirSync(join(html, 'big'));
  for (let i = 0; i < 3000; i++) writeFileSync(join(html, 'big', `file-${String(i).padStart(5, '0')}`), '');
});

after(async () => { await w.stop(); });

test('html: directories first, symlinks as their targets, hidden files left out', async () => {
  const r = await request(w.port, '/');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/html');
  const lines = r.text.split('\r\n');
  assert.deepEqual(lines.slice(0, 4), ['<html>', '<head><title>Index of /</title></head>', '<body>', '<h1>Index of /</h1><hr><pre><a href="../">../</a>']);
  const names = lines.slice(4).map((l) => /^<a href="([^"]*)"/.exec(l)?.[1]).filter((n) => n !== undefined);
  assert.deepEqual(names, ['big/', 'off/', 'sub/', 'sublink/', 'withindex/', 'dangling', 'f42', 'link']);
  assert.ok(lines.includes('<a href="f42">f42</a>' + ' '.repeat(47) + ' 04-Mar-2020 05:06                  42'));
  assert.ok(lines.includes('<a href="sub/">sub/</a>' + ' '.repeat(46) + ' 04-Mar-2020 05:06                   -'));
  assert.ok(!r.text.includes('.hidden'));
  assert.ok(r.text.endsWith('</pre><hr></body>\r\n</html>\r\n'));
});

test('an index file wins; without autoindex the directory is 403', async () => {
  assert.equal((await request(w.port, '/withindex/')).text, 'INDEX');
  assert.equal((await request(w.port, '/off/')).status, 403);
  await w.waitForLog(/directory index of ".*\/html\/off\/" is forbidden/);
  assert.equal((await request(w.port, '/nonexistent/')).status, 404);
  // the index module tests the directory before autoindex runs, as nginx's
  await w.waitForLog(/".*\/html\/nonexistent\/" is not found \(2: No such file or directory\)/);
  assert.equal((await request(w.port, '/f42/')).status, 404, 'a file with a slash: ENOTDIR');
});

test('xml and json', async () => {
  const x = await request(w.port, '/x/sub/');
  assert.equal(x.headers['content-type'], 'text/xml; charset=utf-8');
  assert.match(x.text, /^<\?xml version="1.0"\?>\r\n<list>\r\n<file mtime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" size="0">a<\/file>\r\n<\/list>\r\n$/);
  const j = await request(w.port, '/j/');
  assert.equal(j.headers['content-type'], 'application/json');
  const list = JSON.parse(j.text) as Array<{ name: string; type: string; mtime: string; size?: number }>;
  assert.deepEqual(list.find((e) => e.name === 'f42'), { name: 'f42', type: 'file', mtime: 'Wed, 04 Mar 2020 05:06:07 GMT', size: 42 });
  assert.deepEqual(list.find((e) => e.name === 'sublink'), { name: 'sublink', type: 'directory', mtime: 'Wed, 04 Mar 2020 05:06:07 GMT' });
  assert.equal(list.find((e) => e.name === 'dangling')?.type, 'other');
});

test('jsonp: a callback wraps the list, none is json, a bad one is 400', async () => {
  const p = await request(w.port, '/p/sub/?callback=cb.x_1');
  assert.equal(p.headers['content-type'], 'application/javascript');
  assert.match(p.text, /^\/\* callback \*\/\r\ncb\.x_1\(\[\r\n\{ "name":"a", "type":"file", "mtime":"[^"]+", "size":0 \}\r\n\]\);$/);
  const j = await request(w.port, '/p/sub/?callback=');
  assert.equal(j.headers['content-type'], 'application/json');
  assert.equal((await request(w.port, '/p/sub/?callback=a-b')).status, 400);
  await w.waitForLog(/client sent invalid callback name: "a-b"/);
  assert.equal((await request(w.port, `/p/sub/?callback=${'a'.repeat(129)}`)).status, 400);
});

test('HEAD: the header only; POST is not autoindex\'s (the core\'s 403)', async () => {
  const h = await request(w.port, '/sub/', { method: 'HEAD' });
  assert.equal(h.status, 200);
  assert.equal(h.body.length, 0);
  assert.equal((await request(w.port, '/sub/', { method: 'POST', body: 'x' })).status, 403);
});

test('autoindex_exact_size off scales sizes; a big directory comes whole', async () => {
  assert.match((await request(w.port, '/s/')).text, /<a href="f42">f42<\/a> +04-Mar-2020 05:06 +42\r\n/);
  // 3000 stat() calls come before the first byte: on a busy machine that is longer than the default idle wait.
  const big = await request(w.port, '/big/', { idleMs: 5000 });
  assert.equal(big.status, 200);
  const rows = big.text.split('\r\n').filter((l) => l.startsWith('<a href="file-'));
  assert.equal(rows.length, 3000);
  assert.ok(rows[0]!.startsWith('<a href="file-00000">') && rows[2999]!.startsWith('<a href="file-02999">'));
});
