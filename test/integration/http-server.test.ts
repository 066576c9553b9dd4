// The server side of issue 3 that other files do not cover: listen forms,
// server selection, server_tokens, client keep-alive and header timeouts.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import test from 'node:test';
import { exchange, freePort, get, parseResponses, startWeir } from '../helpers/raw-http.js';
import { until } from '../helpers/wait.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A client connection that collects bytes and notices the close. */
function client(options: { port: number; host?: string } | { path: string }): Promise<{ sock: Socket; text: () => string; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const sock = 'path' in options ? connect(options.path) : connect(options.port, options.host ?? '127.0.0.1');
    let data = '';
    let closed = false;
    sock.on('data', (d) => { data += d.toString('latin1'); });
    sock.on('close', () => { closed = true; });
    sock.on('error', () => { closed = true; });
    sock.once('connect', () => resolve({ sock, text: () => data, closed: () => closed }));
    sock.once('error', reject);
  });
}

test('several listens per server, several servers per port: chosen by address, then by Host', async () => {
  const p2 = await freePort();
  const w = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT%; listen 127.0.0.1:${p2}; location / { return 200 "A"; } }
    server { listen 127.0.0.1:%PORT%; server_name b.test; location / { return 200 "B"; } }
  }`);
  try {
    const body = async (port: number, host: string): Promise<string> =>
      (await exchange(port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)).responses[0]?.body.toString() ?? '';
    assert.equal(await body(w.port, 'b.test'), 'B');
    assert.equal(await body(w.port, 'other'), 'A');
    assert.equal(await body(p2, 'b.test'), 'A', 'server B does not listen on the second port');
  } finally {
    await w.stop();
  }
});

test('server_name: exact, leading and trailing wildcards, regex with captures, "" and default_server', async () => {
  const w = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT%; server_name first.test; return 200 "first"; }
    server { listen 127.0.0.1:%PORT% default_server; server_name default.test; return 200 "default"; }
    server { listen 127.0.0.1:%PORT%; server_name www.example.com; return 200 "exact"; }
    server { listen 127.0.0.1:%PORT%; server_name *.example.com; return 200 "head"; }
    server { listen 127.0.0.1:%PORT%; server_name mail.*; return 200 "tail"; }
    server { listen 127.0.0.1:%PORT%; server_name ~^(?<sub>.+)\\.example\\.net$; return 200 "regex $sub $1"; }
    server { listen 127.0.0.1:%PORT%; server_name ""; return 200 "nohost"; }
  }`);
  try {
    const body = async (req: string): Promise<string> => (await exchange(w.port, req)).responses[0]?.body.toString() ?? '';
    const byHost = (h: string): Promise<string> => body(`GET / HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`);
    assert.equal(await byHost('www.example.com'), 'exact');
    assert.equal(await byHost('a.b.example.com'), 'head');
    assert.equal(await byHost('mail.example.org'), 'tail');
    assert.equal(await byHost('api.example.net'), 'regex api api');
    assert.equal(await byHost('WWW.EXAMPLE.COM.'), 'exact', 'case and a trailing dot do not matter');
    assert.equal(await byHost('unknown.test'), 'default');
    assert.equal(await body('GET / HTTP/1.0\r\n\r\n'), 'nohost');
  } finally {
    await w.stop();
  }
});

test('server_name regexes in PCRE syntax, caseless when they hold an uppercase letter; $server_name is the first name', async () => {
  const w = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT%; server_name default.test; return 200 "default"; }
    server { listen 127.0.0.1:%PORT%; server_name ~^API\\.example\\.com$; return 200 "upper $server_name"; }
    server { listen 127.0.0.1:%PORT%; server_name ~^(?P<name>[a-z]+)\\Q.example.org\\E$; return 200 "quoted $name"; }
    server { listen 127.0.0.1:%PORT%; server_name "~^(?P<name>www\\p{N}+)\\.example\\.net$"; return 200 "digits $name"; }
    server { listen 127.0.0.1:%PORT%; server_name .dot.test alias.test; return 200 "dot $server_name"; }
  }`);
  try {
    const byHost = async (h: string): Promise<string> =>
      (await exchange(w.port, `GET / HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`)).responses[0]?.body.toString() ?? '';
    assert.equal(await byHost('api.example.com'), 'upper ~^API\\.example\\.com$');
    assert.equal(await byHost('BLAH.EXAMPLE.ORG'), 'quoted blah');
    assert.equal(await byHost('blahxexample.org'), 'default', '\\Q..\\E quotes the dot');
    assert.equal(await byHost('WWW01.example.net'), 'digits www01');
    assert.equal(await byHost('wwwx.example.net'), 'default');
    assert.equal(await byHost('a.dot.test'), 'dot dot.test');
    assert.equal(await byHost('alias.test'), 'dot dot.test');
  } finally {
    await w.stop();
  }
});

test('listen unix:/path and [::1]:port', async () => {
  const v6 = await freePort();
  const w = await startWeir(`http { access_log off;
    server { listen unix:%PREFIX%/weir.sock; listen [::1]:${v6}; listen 127.0.0.1:%PORT%; location / { return 200 "over $server_addr"; } }
  }`);
  try {
    const u = await client({ path: join(w.prefix, 'weir.sock') });
    u.sock.write(get('/'));
    await sleep(200);
    assert.match(u.text(), /^HTTP\/1\.1 200 OK/);
    assert.match(u.text(), /over unix:/);
    const six = await client({ port: v6, host: '::1' });
    six.sock.write(get('/'));
    await sleep(200);
    assert.match(six.text(), /over ::1$/);
  } finally {
    await w.stop();
  }
});

test('server_tokens: weir/VERSION by default, `weir` when off, in the header and the error page', async () => {
  const w = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT%; location /on { return 404; } location /off { server_tokens off; return 404; } }
  }`);
  try {
    const on = (await exchange(w.port, get('/on'))).responses[0];
    assert.match(on.headers.server, /^weir\/\d+\.\d+\.\d+$/);
    assert.match(on.body.toString(), /<center>weir\/\d+\.\d+\.\d+<\/center>/);
    const off = (await exchange(w.port, get('/off'))).responses[0];
    assert.equal(off.headers.server, 'weir');
    assert.match(off.body.toString(), /<center>weir<\/center>/);
  } finally {
    await w.stop();
  }
});

test('client keep-alive: keepalive_requests, keepalive_timeout, HTTP/1.0 keep-alive, Connection: close', async () => {
  const w = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT%;
      location / { return 200 "ok"; }
      location /two { keepalive_requests 2; return 200 "two"; }
    }
    keepalive_timeout 400ms;
  }`);
  try {
    // keepalive_requests 2: the second response says close, and the connection ends.
    const c = await client({ port: w.port });
    c.sock.write('GET /two HTTP/1.1\r\nHost: a\r\n\r\n');
    await sleep(100);
    c.sock.write('GET /two HTTP/1.1\r\nHost: a\r\n\r\n');
    await sleep(200);
    const rs = parseResponses(Buffer.from(c.text(), 'latin1'));
    assert.deepEqual(rs.map((r) => r.headers.connection), ['keep-alive', 'close']);
    assert.ok(c.closed());

    // keepalive_timeout: an idle connection is closed after about 400 ms, not before.
    const idle = await client({ port: w.port });
    idle.sock.write(get('/', '', 'GET').replace('Connection: close\r\n', ''));
    await sleep(200);
    assert.equal(idle.closed(), false);
    await sleep(600);
    assert.equal(idle.closed(), true);

    // HTTP/1.0 with Connection: keep-alive stays open (Content-Length framing); plain 1.0 closes.
    const ten = await client({ port: w.port });
    ten.sock.write('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await sleep(150);
    assert.match(ten.text(), /Connection: keep-alive\r\n/);
    assert.match(ten.text(), /Content-Length: 2\r\n/);
    assert.equal(ten.closed(), false);
    ten.sock.destroy();
    const plain = await client({ port: w.port });
    plain.sock.write('GET / HTTP/1.0\r\n\r\n');
    await sleep(150);
    assert.ok(plain.closed());

    // Connection: close from the client.
    const closing = await exchange(w.port, get('/'));
    assert.equal(closing.responses[0].headers.connection, 'close');
    assert.ok(closing.closed);
  } finally {
    await w.stop();
  }
});

test('keepalive_time: a connection older than it is closed after its next response', async () => {
  const w = await startWeir(`http { access_log off; keepalive_time 300ms;
    server { listen 127.0.0.1:%PORT%; location / { return 200 "ok"; } } }`);
  try {
    const c = await client({ port: w.port });
    c.sock.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await sleep(400);
    c.sock.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await sleep(200);
    const rs = parseResponses(Buffer.from(c.text(), 'latin1'));
    assert.deepEqual(rs.map((r) => r.headers.connection), ['keep-alive', 'close']);
    assert.ok(c.closed());
  } finally {
    await w.stop();
  }
});

test('client_header_timeout: a head that does not complete in time gets 408 and the connection closes', async () => {
  const w = await startWeir(`http { access_log off; client_header_timeout 300ms;
    server { listen 127.0.0.1:%PORT%; location / { return 200 "ok"; } } }`);
  try {
    const c = await client({ port: w.port });
    c.sock.write('GET / HTTP/1.1\r\nHost: a\r\n');
    const started = Date.now();
    await until('the connection to close', () => c.closed());
    const elapsed = Date.now() - started;
    assert.ok(c.closed(), 'closed');
    assert.match(c.text(), /^HTTP\/1\.1 408 /);
    assert.ok(elapsed >= 250 && elapsed < 1900, `after ${elapsed} ms`);
  } finally {
    await w.stop();
  }
});

test('send_timeout: a client that stops reading a large response is closed', async () => {
  const big = Buffer.alloc(24 * 1024 * 1024, 'x');
  const w = await startWeir(`http { access_log off; send_timeout 1s;
    server { listen 127.0.0.1:%PORT%; root %PREFIX%/html; } }`, { 'html/big.bin': big });
  try {
    const stalled = await client({ port: w.port });
    stalled.sock.pause();
    stalled.sock.write(get('/big.bin'));
    let log = '';
    for (let i = 0; i < 4 && !/client timed out/.test(log); i++) log = await w.waitForLog(/client timed out/);
    assert.match(log, /client timed out \(110: Connection timed out\) while sending response to client/);
    // Reading again, the client finds the response cut short and the connection closed.
    stalled.sock.resume();
    await until('the stalled client to be closed', () => stalled.closed());
    assert.ok(stalled.closed(), 'the stalled client was closed');
    assert.ok(stalled.text().length < big.length, 'the response was cut');
  } finally {
    await w.stop();
  }
});
