/**
 * The HTTP proxy module, request side: what reaches the upstream. proxy_pass
 * URI rules (with/without URI part, regex location, rewrite...break, variables
 * naming an upstream block, %-escapes), the exact request head, framing
 * computed by weir (C3), proxy_set_header / proxy_method / proxy_set_body /
 * proxy_pass_request_headers / _body, CR/LF never injected (C1), and headers
 * the client names in Connection (R29). A differential check runs the same
 * locations on Debian's nginx (1.22) when it is installed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFaultUpstream, type FaultUpstream, type ReceivedRequest } from '../helpers/fault-upstream.js';
import { exchange, leakSnapshot, startProxy, trackUnhandled, type ProxyWeir } from '../helpers/proxy-harness.js';
import { needs } from '../helpers/require.js';
import { NGINX_BIN, startNginx } from '../helpers/proxy-fixtures.js';

const unhandled = trackUnhandled();

/** The locations under test; `%UP%` is the fixture's address. */
const LOCATIONS = `
    location /nouri/ { proxy_pass http://be; }
    location /pre/ { proxy_pass http://be/new/; }
    location /root/ { proxy_pass http://%UP%/; }
    location ~ ^/re/ { proxy_pass http://be; }
    location /rw/ { rewrite ^/rw/(.*)$ /changed/$1 break; proxy_pass http://be/ignored/; }
    location /dyn/ { set $b be; proxy_pass http://$b; }
    location /dynu/ { set $b be; proxy_pass http://$b/fixed$is_args$args; }
    location /var/ { proxy_pass http://be$uri; }
    location /h/ { proxy_pass http://be; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }
    location /v10/ { proxy_pass http://be; proxy_http_version 1.0; }
    location /empty/ { proxy_pass http://be; proxy_set_header User-Agent ""; proxy_set_header X-Gone ""; }
    location /method/ { proxy_pass http://be; proxy_method PUT; }
    location /setbody/ { proxy_pass http://be; proxy_method POST; proxy_set_body "n=$arg_n&u=$uri"; }
    location /noheaders/ { proxy_pass http://be; proxy_pass_request_headers off; }
    location /nobody/ { proxy_pass http://be; proxy_pass_request_body off; }
    location /hv/ { proxy_pass http://be; proxy_set_header X-Uri $uri; }
    location /r29/ { proxy_pass http://be; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_set_header X-Real-IP $remote_addr; }
`;

let a: FaultUpstream;
let w: ProxyWeir;
let checkLeaks: (ms?: number) => Promise<string>;

before(async () => {
  checkLeaks = leakSnapshot();
  a = await startFaultUpstream({ mode: 'ok' });
  w = await startProxy(`
  upstream be { server ${a.addr} max_fails=0; }
  server {
    listen 127.0.0.1:%PORT%;
    server_name localhost;
    ${LOCATIONS.replaceAll('%UP%', a.addr)}
  }`);
});

after(async () => {
  await w.stop();
  await a.stop();
  const left = await checkLeaks();
  assert.equal(left, '', `handles left: ${left}`);
  assert.deepEqual(unhandled.take(), []);
});

/** Sends raw request bytes on a new connection; returns the requests the upstream received meanwhile and the client's exchange. */
async function send(bytes: string | string[], opts: { expect?: number; methods?: string[] } = {}): Promise<{ got: ReceivedRequest[]; ex: Awaited<ReturnType<typeof exchange>> }> {
  const n = a.requests.length;
  const ex = await exchange(w.port, bytes, { methods: opts.methods ?? ['GET', 'GET', 'GET'], idleMs: 250, gapMs: 50 });
  if ((opts.expect ?? 1) > 0) await a.waitRequests(n + (opts.expect ?? 1), 2000).catch(() => {});
  return { got: a.requests.slice(n), ex };
}

/** The request line and header lines of a received head. */
function lines(req: ReceivedRequest): string[] {
  return req.head.split('\r\n');
}

function headerLines(req: ReceivedRequest, name: string): string[] {
  return lines(req).slice(1).filter((l) => l.toLowerCase().startsWith(name.toLowerCase() + ':'));
}

const URI_CASES: Array<[string, string]> = [
  ['/nouri/a%20b?x=1', '/nouri/a%20b?x=1'],
  ['/nouri/a%2fb', '/nouri/a%2fb'],
  ['/pre/a%20b?x=1', '/new/a%20b?x=1'],
  ['/pre/', '/new/'],
  ['/pre/%7Euser/x%3Fy', '/new/~user/x%3Fy'],
  ['/root/a/b?c', '/a/b?c'],
  ['/re/x%20y?q=1', '/re/x%20y?q=1'],
  ['/rw/a%20b?k=v', '/changed/a%20b?k=v'],
  ['/dyn/p%20q?q=1', '/dyn/p%20q?q=1'],
  ['/dynu/p?q=1', '/fixed?q=1'],
  ['/dynu/p', '/fixed'],
  ['/var/p/q', '/var/p/q'],
];

test('proxy_pass URI rules: no URI, prefix replaced, regex location, rewrite break, variables naming an upstream block, %-escapes', async () => {
  for (const [uri, expected] of URI_CASES) {
    const { got, ex } = await send(`GET ${uri} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    assert.equal(ex.responses[0]?.status, 200, `${uri}: ${ex.raw.toString('latin1').slice(0, 100)}`);
    assert.equal(got.length, 1, uri);
    assert.equal(lines(got[0])[0], `GET ${expected} HTTP/1.1`, `for ${uri}`);
  }
});

test('Host is $proxy_host: the upstream block name, or host:port of a literal address', async () => {
  let { got } = await send('GET /pre/x HTTP/1.1\r\nHost: client.example\r\nConnection: close\r\n\r\n');
  assert.deepEqual(headerLines(got[0], 'host'), ['Host: be']);
  ({ got } = await send('GET /root/x HTTP/1.1\r\nHost: client.example\r\nConnection: close\r\n\r\n'));
  assert.deepEqual(headerLines(got[0], 'host'), [`Host: ${a.addr}`]);
});

test('proxy_pass with variables naming an upstream block: Host is the evaluated $proxy_host', {
}, async () => {
  const { got } = await send('GET /dyn/x HTTP/1.1\r\nHost: client.example\r\nConnection: close\r\n\r\n');
  assert.deepEqual(headerLines(got[0], 'host'), ['Host: be']);
});

test('the exact upstream head of a typical request: hop-by-hop dropped, X-Forwarded-For appended, no Connection with HTTP/1.1', async () => {
  const { got, ex } = await send('GET /h/path?q=1 HTTP/1.1\r\nHost: client.example\r\nUser-Agent: t/1\r\nAccept: */*\r\n'
    + 'Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Forwarded-For: 10.0.0.1\r\n'
    + 'Trailer: X-T\r\nConnection: close\r\n\r\n');
  assert.equal(ex.responses[0]?.status, 200);
  assert.deepEqual(lines(got[0]), [
    'GET /h/path?q=1 HTTP/1.1',
    'Host: be',
    'X-Forwarded-For: 10.0.0.1, 127.0.0.1',
    'User-Agent: t/1',
    'Accept: */*',
  ]);
});

test('X-Forwarded-For without a client header is the client address alone', async () => {
  const { got } = await send('GET /h/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.deepEqual(headerLines(got[0], 'x-forwarded-for'), ['X-Forwarded-For: 127.0.0.1']);
  assert.deepEqual(headerLines(got[0], 'connection'), []);
});

test('proxy_http_version 1.0: request line HTTP/1.0 and Connection: close', async () => {
  const { got } = await send('GET /v10/x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n');
  assert.equal(lines(got[0])[0], 'GET /v10/x HTTP/1.0');
  assert.deepEqual(headerLines(got[0], 'connection'), ['Connection: close']);
});

test('Content-Length is computed by weir: exactly one framing header, the client value passed through once', async () => {
  const { got, ex } = await send('POST /nouri/cl HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello', { methods: ['POST'] });
  assert.equal(ex.responses[0]?.status, 200);
  assert.deepEqual(headerLines(got[0], 'content-length'), ['Content-Length: 5']);
  assert.deepEqual(headerLines(got[0], 'transfer-encoding'), []);
  assert.equal(got[0].body.toString(), 'hello');
});

test('a chunked client body is buffered and forwarded with a correct Content-Length (no Transfer-Encoding)', async () => {
  const { got, ex } = await send('POST /nouri/ch HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
    + '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n', { methods: ['POST'] });
  assert.equal(ex.responses[0]?.status, 200);
  assert.deepEqual(headerLines(got[0], 'content-length'), ['Content-Length: 11']);
  assert.deepEqual(headerLines(got[0], 'transfer-encoding'), []);
  assert.equal(got[0].body.toString(), 'hello world');
});

test('proxy_set_header with an empty value removes the header (the client one is not passed either)', async () => {
  const { got } = await send('GET /empty/ HTTP/1.1\r\nHost: a\r\nUser-Agent: secret-agent\r\nX-Gone: 1\r\nX-Kept: 2\r\nConnection: close\r\n\r\n');
  assert.deepEqual(headerLines(got[0], 'user-agent'), []);
  assert.deepEqual(headerLines(got[0], 'x-gone'), []);
  assert.deepEqual(headerLines(got[0], 'x-kept'), ['X-Kept: 2']);
});

test('proxy_method replaces the method', async () => {
  const { got } = await send('GET /method/m HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(lines(got[0])[0], 'PUT /method/m HTTP/1.1');
});

test('proxy_set_body replaces the body with a computed Content-Length; the client body is not taken as a request', async () => {
  const { got, ex } = await send('GET /setbody/s?n=42 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(ex.responses[0]?.status, 200);
  assert.equal(lines(got[0])[0], 'POST /setbody/s?n=42 HTTP/1.1');
  assert.equal(got[0].body.toString(), 'n=42&u=/setbody/s');
  assert.deepEqual(headerLines(got[0], 'content-length'), [`Content-Length: ${'n=42&u=/setbody/s'.length}`]);
  // A client body that looks like a request, then a second request on the same connection.
  const smuggled = 'GET /nouri/admin HTTP/1.1\r\nHost: a\r\n\r\n';
  const r2 = await send([
    `POST /setbody/t?n=1 HTTP/1.1\r\nHost: a\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    'GET /nouri/second HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
  ], { expect: 2, methods: ['POST', 'GET'] });
  const targets = r2.got.map((g) => lines(g)[0]);
  assert.ok(!targets.some((t) => t.includes('/nouri/admin')), `client body served as a request: ${targets.join(' | ')}`);
  assert.equal(r2.got[0].body.toString(), 'n=1&u=/setbody/t');
});

test('proxy_pass_request_headers off: only the headers weir sets', async () => {
  const { got } = await send('GET /noheaders/ HTTP/1.1\r\nHost: client\r\nUser-Agent: ua\r\nCookie: c=1\r\nConnection: close\r\n\r\n');
  assert.deepEqual(lines(got[0]), ['GET /noheaders/ HTTP/1.1', 'Host: be']);
});

test('proxy_pass_request_body off: no body and no Content-Length upstream; the upstream connection stays in sync', async () => {
  const { got, ex } = await send('POST /nobody/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello', { methods: ['POST'] });
  assert.equal(ex.responses[0]?.status, 200);
  const cl = headerLines(got[0], 'content-length');
  // nginx sends no Content-Length then ($proxy_internal_body_length is empty).
  assert.deepEqual(cl, []);
  assert.deepEqual(headerLines(got[0], 'transfer-encoding'), []);
  assert.equal(got[0].body.length, 0);
  const next = await send('GET /nouri/after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(next.ex.responses[0]?.status, 200);
  assert.equal(lines(next.got[0])[0], 'GET /nouri/after HTTP/1.1');
});

/** No request the upstream received carries an injected header or a raw CR/LF/NUL in its line. */
function assertNothingInjected(got: ReceivedRequest[]): void {
  for (const g of got) {
    assert.equal(g.headers['x-injected'], undefined, `injected: ${JSON.stringify(g.head)}`);
    assert.doesNotMatch(lines(g)[0], /[\r\n\0]/);
  }
}

test('C1: GET /%0d%0aX-Injected:%201 through proxy_pass http://be$uri: nothing injected upstream, the target re-escaped', async () => {
  const { got, ex } = await send('GET /var/%0d%0aX-Injected:%201 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(ex.responses[0]?.status, 200);
  assertNothingInjected(got);
  assert.equal(lines(got[0])[0], 'GET /var/%0D%0AX-Injected:%201 HTTP/1.1');
  assertNothingInjected(a.requests);
  const all = a.requests.map((g) => g.head).join('\n');
  assert.doesNotMatch(all, /\r\nX-Injected/i);
});

test('C1: a header value from a variable with CR/LF is not sent (the header is dropped)', async () => {
  const { got, ex } = await send('GET /hv/a%0d%0aX-Injected:%201 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(ex.responses[0]?.status, 200);
  assertNothingInjected(got);
  assert.deepEqual(headerLines(got[0], 'x-uri'), []);
  await w.waitLog(/\[error\] .*header "X-Uri" value contains CR, LF or NUL, not sent, .*request: "GET \/hv\/a%0d%0aX-Injected:%201 /);
  // and the ordinary value is sent
  const ok = await send('GET /hv/plain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.deepEqual(headerLines(ok.got[0], 'x-uri'), ['X-Uri: /hv/plain']);
});

test('C1: prefix replacement re-escapes a decoded CR/LF', async () => {
  const { got, ex } = await send('GET /pre/%0d%0aX-Injected:%201 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  assert.equal(ex.responses[0]?.status, 200);
  assertNothingInjected(got);
  assert.match(lines(got[0])[0], /^GET \/new\/%0D%0AX-Injected:%201 HTTP\/1\.1$/i);
});

test('R29: Connection: close, X-Forwarded-For drops the client header; the one weir sets stays', async () => {
  const { got, ex } = await send('GET /r29/ HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n'
    + 'Authorization: Basic eDp5\r\nConnection: close, X-Forwarded-For, X-Real-IP, Authorization\r\n\r\n');
  assert.equal(ex.responses[0]?.status, 200);
  const xff = headerLines(got[0], 'x-forwarded-for');
  assert.equal(xff.length, 1, `X-Forwarded-For lines: ${xff.join(' | ')}`);
  assert.match(xff[0], /127\.0\.0\.1$/);
  assert.deepEqual(headerLines(got[0], 'x-real-ip'), ['X-Real-IP: 127.0.0.1']);
  assert.deepEqual(headerLines(got[0], 'authorization'), []);
  assert.deepEqual(headerLines(got[0], 'connection'), []);
});

test('R29: the client-nominated X-Forwarded-For does not feed $proxy_add_x_forwarded_for', {
}, async () => {
  const { got } = await send('GET /r29/ HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close, X-Forwarded-For\r\n\r\n');
  assert.deepEqual(headerLines(got[0], 'x-forwarded-for'), ['X-Forwarded-For: 127.0.0.1']);
});

test('differential: request lines and headers agree with nginx', { skip: needs('nginx', NGINX_BIN !== null, 'apt-get install nginx, or set NGINX_BIN') }, async () => {
  const b = await startFaultUpstream({ mode: 'ok' });
  const ngx = await startNginx(`
  proxy_http_version 1.1;
  upstream be { server ${b.addr} max_fails=0; keepalive 32; }
  server {
    listen 127.0.0.1:%PORT%;
    server_name localhost;
    ${LOCATIONS.replaceAll('%UP%', b.addr)}
  }`);
  try {
    const cases: string[] = [
      ...URI_CASES.map(([u]) => u),
      '/h/x', '/empty/', '/noheaders/', '/method/m', '/setbody/s?n=42', '/pre/a%2Fc', '/rw/%7Ex',
    ];
    const norm = (g: ReceivedRequest): string[] => {
      const [line, ...hs] = lines(g);
      // nginx 1.22 sends its default `Connection: close` (1.29.7 dropped it).
      return [line, ...hs.filter((h) => !/^connection:/i.test(h)).map((h) => h.replace(a.addr, 'UP').replace(b.addr, 'UP')).sort()];
    };
    for (const uri of cases) {
      const req = `GET ${uri} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: ua\r\nX-Forwarded-For: 10.0.0.1\r\nConnection: close\r\n\r\n`;
      const nb = b.requests.length;
      const na = a.requests.length;
      await exchange(ngx!.port, req, { methods: ['GET'], idleMs: 200 });
      await exchange(w.port, req, { methods: ['GET'], idleMs: 200 });
      await b.waitRequests(nb + 1, 1000).catch(() => {});
      await a.waitRequests(na + 1, 1000).catch(() => {});
      const fromNginx = b.requests[nb];
      const fromWeir = a.requests[na];
      assert.ok(fromNginx && fromWeir, `${uri}: nginx ${!!fromNginx}, weir ${!!fromWeir}`);
      assert.deepEqual(norm(fromWeir), norm(fromNginx), `for ${uri}`);
      assert.equal(fromWeir.body.toString(), fromNginx.body.toString(), `body for ${uri}`);
    }
  } finally {
    await ngx?.stop();
    await b.stop();
  }
});
