// Static extras of issue 15: the directory redirect escapes the URI as
// nginx's; If-Range compares against the Last-Modified / ETag that add_header
// leaves (nginx's range filter runs after the headers filter).
import assert from 'node:assert/strict';
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request, startWeir, type Weir } from '../helpers/in-process.js';

let w: Weir;

before(async () => {
  w = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT%; server_name localhost; root %PREFIX%/html;
      location /gone.html { add_header Last-Modified ""; }
      location /fixed.html { add_header Last-Modified "Mon, 28 Sep 1970 06:00:00 GMT"; add_header ETag '"mine"'; }
    }
  }`, { 'html/dir sp/index.html': 'x', 'html/gone.html': '0123456789abc', 'html/fixed.html': '0123456789abc', 'html/plain.html': '0123456789abc' });
  utimesSync(join(w.prefix, 'html/plain.html'), 100000, 100000);
});

after(async () => { await w.stop(); });

test('a directory without its slash: 301 to the escaped URI, args kept', async () => {
  assert.equal((await request(w.port, '/dir%20sp')).headers.location, 'http://localhost:' + w.port + '/dir%20sp/');
  assert.equal((await request(w.port, '/dir%20sp?a=b')).headers.location, 'http://localhost:' + w.port + '/dir%20sp/?a=b');
});

test('If-Range: the date add_header sets counts, a removed Last-Modified never matches', async () => {
  const range = (path: string, ifRange: string): Promise<{ status: number }> =>
    request(w.port, path, { headers: ['Range: bytes=0-3', `If-Range: ${ifRange}`] });
  assert.equal((await range('/fixed.html', 'Mon, 28 Sep 1970 06:00:00 GMT')).status, 206);
  assert.equal((await range('/fixed.html', '"mine"')).status, 206);
  assert.equal((await range('/fixed.html', 'Thu, 01 Jan 1970 00:00:00 GMT')).status, 200);
  assert.equal((await range('/gone.html', 'wrong')).status, 200, 'no Last-Modified and a bad date: the whole file');
  assert.equal((await range('/plain.html', 'Fri, 02 Jan 1970 03:46:40 GMT')).status, 206, 'the file\'s own mtime');
  assert.equal((await range('/plain.html', 'garbage')).status, 200);
});
