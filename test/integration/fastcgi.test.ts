/**
 * fastcgi_pass against a scripted fake application: record framing
 * (RELIABILITY U15: split records, bad version/type/id, stdout after
 * END_REQUEST, stderr), params (fastcgi_param inheritance, if_not_empty,
 * HTTP_* headers), STDIN, keep_conn reuse counted at the fake, upstream
 * blocks with round robin and ip_hash, next upstream, intercept_errors,
 * hide/pass headers, catch_stderr.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { exchange, get, startWeir, type Weir } from '../helpers/raw-http.js';
import { endRequest, record, response, startFakeFastcgi, stderr, stdout, type FakeFastcgi } from '../helpers/fake-fastcgi.js';
import { logMatching } from '../helpers/daemons.js';

const fastcgiParams = readFileSync(new URL('../../../conf/fastcgi_params', import.meta.url), 'utf8');

async function one(w: Weir, req: string) {
  const ex = await exchange(w.port, req);
  assert.ok(ex.responses.length >= 1, `no response: ${ex.raw.toString('latin1')}`);
  return ex.responses[0];
}

describe('fake FastCGI application', () => {
  let app: FakeFastcgi;
  let bad: FakeFastcgi;
  let w: Weir;
  before(async () => {
    app = await startFakeFastcgi((req, sock) => {
      const uri = req.params.get('DOCUMENT_URI') ?? req.params.get('URI') ?? '';
      const end = (): void => { if (!req.keepConn) sock.end(); };
      switch (uri) {
        case '/split': {
          const bytes = Buffer.concat([stderr('early warning'), stdout('Content-Type: text/plain\r\nX-A: 1\r\n\r\nsplit '), stdout('body'), endRequest()]);
          let i = 0;
          const step = (): void => {
            if (i >= bytes.length) { end(); return; }
            sock.write(bytes.subarray(i, i + 1));
            i++;
            setTimeout(step, 1);
          };
          step();
          return;
        }
        case '/bad-version': sock.write(record(6, 'Status: 200\r\n\r\nx', { version: 2 })); end(); return;
        case '/bad-type': sock.write(record(12, 'x')); end(); return;
        case '/bad-id': sock.write(record(6, 'Status: 200\r\n\r\nx', { id: 2 })); end(); return;
        case '/after-end': sock.write(Buffer.concat([response('Content-Type: text/plain\r\n', 'first'), stdout('EXTRA')])); end(); return;
        case '/stderr': sock.write(Buffer.concat([stdout('Content-Type: text/plain\r\n\r\nbody-'), stderr('PHP message: oops\n'), stdout('rest'), endRequest()])); end(); return;
        case '/catch': sock.write(Buffer.concat([stderr('FATAL: database down'), response('Content-Type: text/plain\r\n', 'never')])); end(); return;
        case '/status': sock.write(response('Status: 404 Not Found\r\nContent-Type: text/plain\r\n', 'app 404')); end(); return;
        case '/status-text': sock.write(response('Status: 404 Not here\r\n', 'x')); end(); return;
        case '/status-bare': sock.write(response('Status: 503\r\n', 'x')); end(); return;
        case '/location': sock.write(response('Location: http://example.com/x\r\n')); end(); return;
        case '/headers': sock.write(response('X-Secret: s\r\nX-Accel-Buffering: no\r\nX-Visible: v\r\nX-Accel-Charset: utf-8\r\n', 'h')); end(); return;
        case '/length': sock.write(response('Content-Length: 3\r\n', 'abcdef')); end(); return;
        case '/empty-stdout': sock.write(endRequest()); end(); return;
        default: {
          const body = JSON.stringify({ params: Object.fromEntries(req.params), stdin: req.stdin.toString('latin1') });
          sock.write(response('Content-Type: application/json\r\n', body));
          end();
        }
      }
    });
    bad = await startFakeFastcgi((req, sock) => { sock.write(record(6, 'x', { version: 9 })); if (!req.keepConn) sock.end(); });
    w = await startWeir(`
http {
  fastcgi_param SERVER_LEVEL yes;
  upstream app { server 127.0.0.1:${app.port}; }
  upstream iph { ip_hash; server 127.0.0.1:${app.port}; }
  upstream retry { server 127.0.0.1:${bad.port}; server 127.0.0.1:${app.port}; }
  server {
    listen 127.0.0.1:%PORT%;
    fastcgi_param OUTER 1;
    location / {
      include fastcgi_params;
      fastcgi_param EMPTY_SKIPPED $arg_none if_not_empty;
      fastcgi_param EMPTY_KEPT $arg_none;
      fastcgi_param HTTP_X_OVERRIDE from-config;
      fastcgi_pass app;
      fastcgi_keep_conn on;
      fastcgi_hide_header X-Secret;
      fastcgi_pass_header X-Accel-Buffering;
      fastcgi_catch_stderr "FATAL";
    }
    location /inherit/ { fastcgi_pass 127.0.0.1:${app.port}; }
    location /var/ { fastcgi_param DOCUMENT_URI /; fastcgi_pass $arg_b; }
    location /noheaders/ { fastcgi_param URI $uri; fastcgi_pass_request_headers off; fastcgi_pass_request_body off; fastcgi_pass app; }
    location /close/ { fastcgi_param DOCUMENT_URI /; fastcgi_pass app; }
    location /iph/ { fastcgi_param DOCUMENT_URI /; fastcgi_pass iph; fastcgi_keep_conn on; }
    location /retry/ { fastcgi_param DOCUMENT_URI /; fastcgi_pass retry; fastcgi_next_upstream error timeout invalid_header; }
    location /intercept/ {
      fastcgi_param DOCUMENT_URI /status; fastcgi_pass app; fastcgi_intercept_errors on;
      error_page 404 = /caught;
    }
    location = /caught { return 200 "caught\\n"; }
    location ~ ^/split/ {
      fastcgi_split_path_info ^(/split/.+\\.php)(/.*)$;
      fastcgi_index index.php;
      fastcgi_param SCRIPT_NAME $fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_param DOCUMENT_URI /;
      fastcgi_pass app;
    }
  }
}`, { 'conf/fastcgi_params': fastcgiParams, 'fastcgi_params': fastcgiParams });
  });
  after(async () => { await w?.stop(); await app?.close(); await bad?.close(); });

  test('params: fastcgi_params, if_not_empty, HTTP_* headers, query, STDIN body', async () => {
    const body = 'a=1&b=' + 'x'.repeat(70_000);
    const res = await one(w, `POST /script.php?q=1 HTTP/1.1\r\nHost: localhost\r\nX-Custom-Thing: yes\r\nX-Override: from-client\r\nCookie: a=1\r\nCookie: b=2\r\nAccept: x\r\nAccept: y\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    assert.equal(res.status, 200);
    const got = JSON.parse(res.body.toString()) as { params: Record<string, string>; stdin: string };
    const p = got.params;
    assert.equal(p.REQUEST_METHOD, 'POST');
    assert.equal(p.QUERY_STRING, 'q=1');
    assert.equal(p.REQUEST_URI, '/script.php?q=1');
    assert.equal(p.SCRIPT_NAME, '/script.php');
    assert.equal(p.CONTENT_LENGTH, String(body.length));
    assert.equal(p.CONTENT_TYPE, 'application/x-www-form-urlencoded');
    assert.equal(p.GATEWAY_INTERFACE, 'CGI/1.1');
    assert.equal(p.REDIRECT_STATUS, '200');
    assert.equal(p.HTTP_X_CUSTOM_THING, 'yes');
    assert.equal(p.HTTP_X_OVERRIDE, 'from-config', 'a fastcgi_param HTTP_* wins over the client header');
    assert.equal(p.HTTP_COOKIE, 'a=1; b=2');
    assert.equal(p.HTTP_ACCEPT, 'x, y');
    assert.equal(p.HTTP_HOST, 'localhost');
    assert.equal('EMPTY_SKIPPED' in p, false);
    assert.equal(p.EMPTY_KEPT, '');
    assert.equal('OUTER' in p, false, 'a level with fastcgi_param replaces the parent list');
    assert.equal('SERVER_LEVEL' in p, false);
    assert.equal(got.stdin, body);
  });

  test('fastcgi_param is inherited when the level has none', async () => {
    const res = await one(w, get('/inherit/x'));
    const p = (JSON.parse(res.body.toString()) as { params: Record<string, string> }).params;
    assert.equal(p.OUTER, '1');
    assert.equal('SERVER_LEVEL' in p, false);
  });

  test('pass_request_headers off / pass_request_body off', async () => {
    const res = await one(w, `POST /noheaders/x HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`);
    const got = JSON.parse(res.body.toString()) as { params: Record<string, string>; stdin: string };
    assert.deepEqual(Object.keys(got.params), ['URI']);
    assert.equal(got.stdin, '');
  });

  test('fastcgi_split_path_info, $fastcgi_script_name, $fastcgi_path_info, fastcgi_index', async () => {
    let p = (JSON.parse((await one(w, get('/split/app.php/extra/path'))).body.toString()) as { params: Record<string, string> }).params;
    assert.equal(p.SCRIPT_NAME, '/split/app.php');
    assert.equal(p.PATH_INFO, '/extra/path');
    p = (JSON.parse((await one(w, get('/split/dir/'))).body.toString()) as { params: Record<string, string> }).params;
    assert.equal(p.SCRIPT_NAME, '/split/dir/index.php');
    assert.equal(p.PATH_INFO, '');
  });

  test('records split at every byte are reassembled; stderr before the header is logged', async () => {
    const res = await one(w, get('/split'));
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'split body');
    assert.equal(res.headers['x-a'], '1');
    const re = /\[error\].*FastCGI sent in stderr: "early warning" while reading response header from upstream, client: 127\.0\.0\.1, server: , request: "GET \/split HTTP\/1\.1", upstream: "fastcgi:\/\/127\.0\.0\.1:\d+"/;
    assert.match(await logMatching(w.errorLog, re), re);
  });

  // nginx reads the request id byte by byte: id 2 is a valid high byte (0) and a bad low
  // byte, so "high byte: 0" is a line nginx never prints.
  for (const [path, message] of [
    ['/bad-version', 'upstream sent unsupported FastCGI protocol version: 2'],
    ['/bad-type', 'upstream sent invalid FastCGI record type: 12'],
    ['/bad-id', 'upstream sent unexpected FastCGI request id low byte: 2'],
    ['/empty-stdout', 'upstream prematurely closed FastCGI stdout'],
  ] as const) {
    test(`${path}: 502 and nginx's log line`, async () => {
      const res = await one(w, get(path));
      assert.equal(res.status, 502);
      const line = `${message} while reading response header from upstream, client: 127.0.0.1, server: , request: "GET ${path} HTTP/1.1"`;
      await logMatching(w.errorLog, new RegExp(`\\[error\\] \\d+#0: \\*\\d+ ${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    });
  }

  test('stderr in the body is logged, never forwarded', async () => {
    const res = await one(w, get('/stderr'));
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'body-rest');
    const re = /FastCGI sent in stderr: "PHP message: oops" while reading upstream/;
    assert.match(await logMatching(w.errorLog, re), re);
  });

  test('fastcgi_catch_stderr turns a matching stderr into 502', async () => {
    const res = await one(w, get('/catch'));
    assert.equal(res.status, 502);
  });

  test('fastcgi_pass with variables: an upstream block, an address; a bad one is 500, a name without resolver 502', async () => {
    for (const b of ['app', `127.0.0.1:${app.port}`]) {
      const res = await one(w, get(`/var/?b=${b}`));
      assert.equal(res.status, 200, b);
      assert.equal(JSON.parse(res.body.toString()).params.DOCUMENT_URI, '/', b);
    }
    assert.equal((await one(w, get('/var/?b=127.0.0.1:99999'))).status, 500);
    assert.match(await logMatching(w.errorLog, /invalid port in upstream/), /invalid port in upstream "127\.0\.0\.1:99999"/);
    assert.equal((await one(w, get('/var/?b=localhost'))).status, 500, 'no port and no upstream block of that name');
    assert.match(await logMatching(w.errorLog, /no port in upstream/), /no port in upstream "localhost"/);
    assert.equal((await one(w, get('/var/?b=backend.test:9000'))).status, 502);
    assert.match(await logMatching(w.errorLog, /no resolver defined/), /no resolver defined to resolve backend\.test/);
  });

  test('Status and Location headers', async () => {
    const s = await one(w, get('/status'));
    assert.equal(s.status, 404);
    assert.equal(s.body.toString(), 'app 404');
    assert.equal(s.headers.status, undefined);
    assert.equal((await one(w, get('/status-text'))).statusLine, 'HTTP/1.1 404 Not here', 'the Status text is the status line');
    assert.equal((await one(w, get('/status-bare'))).statusLine, 'HTTP/1.1 503 Service Temporarily Unavailable', 'a bare code: nginx\'s text');
    const l = await one(w, get('/location'));
    assert.equal(l.statusLine, 'HTTP/1.1 302 Moved Temporarily');
    assert.equal(l.status, 302);
    assert.equal(l.headers.location, 'http://example.com/x');
  });

  test('hide_header, pass_header and the default hidden X-Accel-* headers', async () => {
    const res = await one(w, get('/headers'));
    assert.equal(res.headers['x-secret'], undefined);
    assert.equal(res.headers['x-accel-buffering'], 'no');
    assert.equal(res.headers['x-accel-charset'], undefined);
    assert.equal(res.headers['x-visible'], 'v');
  });

  test('Content-Length from the application bounds the body', async () => {
    const res = await one(w, get('/length'));
    assert.equal(res.headers['content-length'], '3');
    assert.equal(res.body.toString(), 'abc');
  });

  test('intercept_errors sends the application 404 to error_page', async () => {
    const res = await one(w, get('/intercept/'));
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'caught\n');
  });

  test('keep_conn: one connection for several requests; stdout after END_REQUEST is dropped and the connection not reused', async () => {
    await one(w, get('/warm'));
    const n = app.connections;
    for (let i = 0; i < 3; i++) assert.equal((await one(w, get('/x'))).status, 200);
    assert.equal(app.connections, n, 'reused');
    const e = await one(w, get('/after-end'));
    assert.equal(e.status, 200);
    assert.equal(e.body.toString(), 'first');
    const m = app.connections;
    await one(w, get('/x'));
    assert.equal(app.connections, m + 1, 'not reused after extra data');
    assert.ok(app.requests.slice(-4).every((r) => r.keepConn), 'KEEP_CONN flag sent');
  });

  test('without keep_conn the application closes and each request connects', async () => {
    const n = app.connections;
    for (let i = 0; i < 3; i++) assert.equal((await one(w, get('/close/'))).status, 200);
    assert.equal(app.connections, n + 3);
    assert.equal(app.requests.at(-1)!.keepConn, false);
  });

  test('ip_hash upstream with keep_conn reuses', async () => {
    await one(w, get('/iph/'));
    const n = app.connections;
    for (let i = 0; i < 3; i++) assert.equal((await one(w, get('/iph/'))).status, 200);
    assert.equal(app.connections, n);
  });

  test('fastcgi_next_upstream invalid_header: a bad record goes to the next server', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await one(w, get('/retry/'))).status, 200);
  });
});
