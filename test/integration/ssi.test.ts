// Subrequests and SSI as nginx: include virtual/file (wait, set, stub), echo, set, if, config,
// block; output in document order whatever order subrequests finish in; a failing subrequest,
// one that needs the next upstream, one the client leaves during; errors as nginx words them.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { startScriptUpstream, type ScriptUpstream } from '../helpers/proxy-fixtures.js';
import { exchange, freePort, startWeir, type Weir } from '../helpers/raw-http.js';
import { until } from '../helpers/wait.js';

let w: Weir;
let backend: ScriptUpstream;
/** Connections to the backend that are still open ("/hang" ones). */
const hanging = new Set<Socket>();
/** The 16 MB SSI page's upstream side: bytes written, and whether a write was held back. */
const bigPage = { written: 0, held: false, done: false };

const PAGES: Record<string, string> = {
  'html/order.html': 'A<!--#include virtual="/slow" -->B<!--#include virtual="/fast" -->C',
  'html/errors.html': '1<!--#include virtual="/missing" -->2<!--#include virtual="/missing" stub="s" -->3'
    + '<!--#block name="s" -->[stub]<!--#endblock --><!--#include virtual="/missing" stub="s" -->4<!--#nope -->5',
  'html/set.html': '<!--#include virtual="/value" set="v" -->[<!--#echo var="v" -->]<!--#include virtual="/missing" set="m" -->'
    + '[<!--#echo var="m" default="empty" -->]',  // set even when empty: the default is not used
  'html/echo.html': '<!--#set var="h" value="<a&b \\"q\\">" --><!--#echo var="h" -->|<!--#echo var="h" encoding="none" -->|'
    + '<!--#echo var="h" encoding="url" -->|<!--#echo var="unknown_var" -->|<!--#echo var="unknown_var" default="dflt" -->'
    + '|<!--#echo var="uri" -->|<!--#set var="x" value="${uri}-$args" --><!--#echo var="x" encoding="none" -->',
  'html/if.html': '<!--#set var="a" value="yes" -->'
    + '<!--#if expr="$a = no" -->no<!--#elif expr="$a = /^y(.)s/" -->re:<!--#echo var="1" --><!--#else -->else<!--#endif -->'
    + '|<!--#if expr="$missing" -->set<!--#else -->unset<!--#endif -->|<!--#if expr="$a != yes" -->ne<!--#else -->eq<!--#endif -->',
  'html/config.html': '<!--#config errmsg="[oops]" --><!--#include --><!--#echo -->',
  'html/silent.html': 'x<!--#include -->y',
  'html/next.html': '[<!--#include virtual="/next" -->]',
  'html/hang.html': 'before<!--#include virtual="/hang" -->after',
  'html/nested.html': '(<!--#include virtual="/order.html" -->)',
  'html/relative/page.html': '<!--#include virtual="part.html" -->',
  'html/relative/part.html': 'relative part',
  'html/file.html': '<!--#include file="inc.txt" -->!',
  'html/inc.txt': 'from file',
  'html/big.html': '<!--#include virtual="/big" set="b" -->[<!--#echo var="b" -->]',
  'html/plain.txt': '<!--#echo var="uri" -->',
  'html/lm.html': 'kept',
  'html/waited.html': 'x<!--#include virtual="/fast" -->x<!--#include virtual="/inner.html" -->x',
  'html/inner.html': '<!--#include virtual="/slow" wait="yes" -->-inner',
  'html/ncap.html': '<!--#if expr="$arg_v = /(?P<part>H.RE)/" --><!--#echo var="part" -->:<!--#echo var="1" --><!--#endif -->',
  'html/date.html': '<!--#config timefmt="%Y|%s" --><!--#echo var="date_gmt" -->',
  'html/stub-ssi.html': '<!--#block name="b" -->[<!--#echo var="uri" -->]<!--#endblock --><!--#include virtual="/missing" stub="b" -->',
};

before(async () => {
  backend = await startScriptUpstream((sock) => {
    sock.once('data', (d: Buffer) => {
      const target = d.toString('latin1').split(' ')[1] ?? '';
      const answer = (body: string): void => { sock.end(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`); };
      if (target.startsWith('/bigpage')) {
        const size = 16 * 1024 * 1024;
        sock.write(`HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);
        const piece = Buffer.alloc(65536, 'x');
        const pump = (): void => {
          while (bigPage.written < size) {
            bigPage.written += piece.length;
            if (!sock.write(piece)) { bigPage.held = true; sock.once('drain', pump); return; }
          }
          bigPage.done = true;
          sock.end();
        };
        pump();
      } else if (target.startsWith('/slow')) setTimeout(() => answer('[slow]'), 150);
      else if (target.startsWith('/hang')) { hanging.add(sock); sock.on('close', () => hanging.delete(sock)); }
      else if (target.startsWith('/big')) answer('b'.repeat(100));
      else answer(`[${target}]`);
    });
  });
  const dead = await freePort();
  w = await startWeir(`http { access_log off;
    upstream two { server 127.0.0.1:${dead}; server ${backend.addr}; }
    server { listen 127.0.0.1:%PORT%; root %PREFIX%/html;
      location / { ssi on; }
      location = /silent.html { ssi on; ssi_silent_errors on; }
      location = /plain.txt { ssi on; }
      location = /lm.html { ssi on; ssi_last_modified on; }
      location = /big.html { ssi on; }
      location = /slow { proxy_pass http://${backend.addr}; }
      location = /fast { return 200 "[fast]"; }
      location = /nossi-date { ssi off; add_header X-Date "x${'$'}{date_gmt}x"; return 200; }
      location = /value { proxy_pass http://${backend.addr}; }
      location = /big { proxy_pass http://${backend.addr}; subrequest_output_buffer_size 64; }
      location = /hang { proxy_pass http://${backend.addr}; proxy_read_timeout 10s; }
      location = /next { proxy_pass http://two; }
      location = /bigpage { proxy_pass http://${backend.addr}; ssi on; proxy_max_temp_file_size 0; }
    }
  }`, PAGES);
});

after(async () => {
  await w.stop();
  await backend.stop();
});

async function page(path: string): Promise<{ status: number; body: string; headers: Record<string, string> }> {
  const ex = await exchange(w.port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  const res = ex.responses[0]!;
  return { status: res.status, body: res.body.toString('latin1'), headers: res.headers };
}

test('output keeps document order: a fast include waits for a slow one before it; the length goes, chunked', async () => {
  const r = await page('/order.html');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'A[slow]B[fast]C');
  assert.equal(r.headers['content-length'], undefined);
  assert.equal(r.headers['transfer-encoding'], 'chunked');
  assert.equal(r.headers['accept-ranges'], undefined);
});

test('a failing include shows its error page; a stub stands in for it; an unknown command is the errmsg', async () => {
  const r = await page('/errors.html');
  assert.match(r.body, /^1<html>\r?\n<head><title>404 Not Found<\/title>/);
  assert.match(r.body, /<\/html>\r?\n2/);
  assert.ok(r.body.includes('2[an error occurred while processing the directive]3'), 'a stub defined later is not found yet');
  assert.ok(r.body.endsWith('3[stub]4[an error occurred while processing the directive]5'), r.body);
  const log = await w.waitForLog(/invalid SSI command: "nope"/);
  assert.match(log, /"stub"="s" for "include" not found/);
  assert.match(log, /open\(\) "[^"]*\/missing" failed \(2: No such file or directory\), client: [^,]+, server: , request: "GET \/errors.html HTTP\/1.1", subrequest: "\/missing"/);
});

test('include set: the body of a subrequest in a variable, empty when it failed', async () => {
  assert.equal((await page('/set.html')).body, '[[/value]][]');
});

test('echo: entity, none and url encodings, (none), default; set with variables', async () => {
  const r = await page('/echo.html?q=1');
  assert.equal(r.body, '&lt;a&amp;b &quot;q&quot;&gt;|<a&b "q">|%3Ca&b%20%22q%22%3E|(none)|dflt|/echo.html|/echo.html-q=1');
});

test('if / elif / else / endif, with a regex and its captures', async () => {
  assert.equal((await page('/if.html')).body, 're:e|unset|eq');
});

test('config errmsg; ssi_silent_errors', async () => {
  assert.equal((await page('/config.html')).body, '[oops][oops]');
  assert.equal((await page('/silent.html')).body, 'xy');
  const log = await w.waitForLog(/mandatory "var" parameter is absent in "echo" SSI command/);
  assert.match(log, /no parameter in "include" SSI command/);
});

test('a subrequest to an upstream goes to the next server as any request', async () => {
  assert.equal((await page('/next.html')).body, '[[/next]]');
});

test('includes nest; a relative virtual path is taken from the page\'s directory; include file', async () => {
  assert.equal((await page('/nested.html')).body, '(A[slow]B[fast]C)');
  assert.equal((await page('/relative/page.html')).body, 'relative part');
  assert.equal((await page('/file.html')).body, 'from file!');
});

// The limit is the subrequest's location's (nginx's postpone filter reads the subrequest's
// conf): set on /big, not on the page. nginx 1.22 answers this page with nothing at all.
test('include set over subrequest_output_buffer_size: the response is cut, as nginx terminates it', async () => {
  const ex = await exchange(w.port, 'GET /big.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  assert.ok(ex.closed);
  // On the raw bytes, not a parsed body: a chunked "[", "bbb..." would hide "[b" between chunks.
  assert.doesNotMatch(ex.raw.toString('latin1'), /bbbb/, 'no value was echoed');
  await w.waitForLog(/\[error\] .*too big subrequest response, .*request: "GET \/big\.html HTTP\/1\.1", subrequest: "\/big"/);
});

test('wait="yes" in an included page: it holds that page, not the one around it', async () => {
  assert.equal((await page('/waited.html')).body, 'x[fast]x[slow]-innerx');
});

test('if regex: named groups become SSI variables, $1 the capture; config timefmt for $date_gmt; SSI in a stub runs', async () => {
  assert.equal((await page('/ncap.html?v=xxHEREyy')).body, 'HERE:HERE');
  const [year, seconds] = (await page('/date.html')).body.split('|');
  assert.equal(year, String(new Date().getUTCFullYear()));
  assert.ok(Math.abs(Number(seconds) - Date.now() / 1000) < 5, seconds);
  assert.equal((await page('/stub-ssi.html')).body, '[/missing]', 'the stub runs as the subrequest');
});

test('$date_gmt where SSI does not run prints with the default timefmt, not seconds', async () => {
  const r = await page('/nossi-date');
  assert.match(r.headers['x-date'] ?? '', /^x[A-Z][a-z]+day, \d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d GMTx$/);
});

test('the body changes, so Last-Modified and ETag go; ssi_last_modified keeps them, the ETag weak', async () => {
  const off = await page('/order.html');
  assert.equal(off.headers['last-modified'], undefined);
  assert.equal(off.headers.etag, undefined);
  const on = await page('/lm.html');
  assert.match(on.headers['last-modified'] ?? '', /GMT$/);
  assert.match(on.headers.etag ?? '', /^W\/"/);
});

test('only ssi_types are processed (text/html)', async () => {
  const r = await page('/plain.txt');
  assert.equal(r.body, '<!--#echo var="uri" -->');
  assert.equal(r.headers['content-length'], String(r.body.length));
});

test('a large SSI page to a client that does not read: the upstream is held back, not buffered whole', async () => {
  const sock = connect(w.port, '127.0.0.1');
  sock.on('error', () => {});
  sock.pause();
  sock.write('GET /bigpage HTTP/1.1\r\nHost: localhost\r\n\r\n');
  for (let i = 0; i < 200 && !bigPage.held; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(bigPage.held && !bigPage.done, `written ${bigPage.written}`);
  assert.ok(bigPage.written < 12 * 1024 * 1024, `written ${bigPage.written}: weir read on while the client took nothing`);
  sock.destroy();
});

test('the client leaves during a subrequest: its upstream connection closes, weir goes on', async () => {
  const sock = connect(w.port, '127.0.0.1');
  let got = '';
  sock.on('data', (d) => { got += d.toString('latin1'); });
  sock.write('GET /hang.html HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await until('the hanging subrequest and the text before it', () => hanging.size > 0 && got.includes('before'));
  assert.equal(hanging.size, 1);
  assert.ok(got.includes('before'), 'the text before the include went out at once');
  sock.destroy();
  await until('the subrequest\'s upstream connection to close', () => hanging.size === 0);
  assert.equal(hanging.size, 0, 'the upstream connection of the subrequest was closed');
  assert.equal((await page('/order.html')).body, 'A[slow]B[fast]C');
});
