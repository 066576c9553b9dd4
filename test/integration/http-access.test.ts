/**
 * allow/deny (ngx_http_access_module), satisfy and limit_except against a
 * running weir, over real sockets: IPv4 from 127.0.0.1, IPv6 from ::1, an
 * IPv4-mapped client on a dual-stack listener, and a unix-domain socket.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../helpers/raw-http.js';
import { request, requestBytes, startWithLogs, type Weir } from '../helpers/in-process.js';

let w: Weir;
let port6 = 0;
let portMapped = 0;

const CONF = `
events {}
http {
  access_log off;
  deny 192.0.2.1;
  server {
    listen 127.0.0.1:%PORT%;
    listen [::1]:%PORT6%;
    listen [::]:%PORTMAPPED% ipv6only=off;
    listen unix:%PREFIX%/weir.sock;
    server_name localhost;
    location / { return 200 "open"; }

    # order: the first match decides
    location /allow-first { allow 127.0.0.1; deny all; return 200 "open"; }
    location /deny-first  { deny 127.0.0.1; allow all; }
    location /allow-other { allow 10.0.0.1; deny all; }

    # IPv4 CIDR
    location /cidr-in     { deny 127.0.0.0/8; }
    location /cidr-out    { deny 10.0.0.0/8; allow 127.0.0.1; deny all; }
    location /cidr-edge   { deny 127.0.0.2/31; allow 127.0.0.0/31; deny all; }
    location /cidr-low    { deny 127.1.2.3/8; }
    location /cidr-zero   { deny 0.0.0.0/0; }

    # IPv6 rules (a v4 client has no v6 rules to meet, and the reverse)
    location /v6-host     { allow ::1; deny all; }
    location /v6-deny     { deny ::1/128; }
    location /v6-all      { deny ::/0; }
    location /v6-other    { deny 2001:db8::/32; allow ::1; deny all; }
    location /v4-only     { deny 127.0.0.1; deny 0.0.0.0/0; }
    location /v6-mapped   { deny ::ffff:127.0.0.1; }
    location /v6-mapped-both { deny ::ffff:127.0.0.1; allow 127.0.0.1; }

    # unix: sockets
    location /unix-deny   { deny unix:; }
    location /unix-allow  { allow unix:; deny all; }

    # inheritance: http level's deny, a server with its own rules
    location /inherit/ {
      deny 127.0.0.1;
      location /inherit/nested { }
      location /inherit/own { allow all; }
      location /inherit/v6-only { allow ::1; }
    }

    # the access phase runs after rewrite
    location /return  { deny all; return 200 "returned"; }
    location /rewrite { deny all; rewrite ^ /open-target last; }
    location /open-target { return 200 "target"; }
    location /after-rewrite { rewrite ^ /denied-target last; }
    location /denied-target { deny all; }

    location /error-page { deny all; error_page 403 /forbidden-page; }
    location /forbidden-page { return 200 "custom 403"; }

    location /satisfy-any { satisfy any; deny all; }
    location /satisfy-any-allow { satisfy any; allow 127.0.0.1; deny all; return 200 "open"; }

    location /lmt {
      limit_except GET { deny all; }
      return 200 "lmt";
    }
    location /lmt-static {
      limit_except GET { include lmt.conf; }
    }
    location /lmt-allow {
      limit_except GET { allow 127.0.0.1; deny all; }
      return 200 "lmt";
    }
  }
  server {
    listen 127.0.0.1:%PORT%;
    server_name other;
    allow 127.0.0.1;
    deny all;
    location / { return 200 "other"; }
    location /deny { deny all; }
  }
}
`;

before(async () => {
  port6 = await freePort();
  portMapped = await freePort();
  w = await startWithLogs(CONF.replaceAll('%PORT6%', String(port6)).replaceAll('%PORTMAPPED%', String(portMapped)), {
    'lmt.conf': 'deny all;',
    'html/lmt-static': 'static',
  });
});
after(async () => { await w?.stop(); });

/** One request over `target` (TCP host:port, or a unix socket path); resolves with the status. */
function statusOver(target: { host: string; port: number } | { path: string }, path: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = 'path' in target ? connect(target.path) : connect(target.port, target.host);
    let data = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => { data += d; });
    sock.on('error', reject);
    sock.on('close', () => resolve(Number(data.split(' ')[1] ?? 0)));
    sock.on('connect', () => sock.write(requestBytes(path, { method })));
  });
}

const v4 = (path: string, method?: string): Promise<number> => statusOver({ host: '127.0.0.1', port: w.port }, path, method);
const v6 = (path: string, method?: string): Promise<number> => statusOver({ host: '::1', port: port6 }, path, method);
const mapped = (path: string): Promise<number> => statusOver({ host: '127.0.0.1', port: portMapped }, path);
const unix = (path: string): Promise<number> => statusOver({ path: join(w.prefix, 'weir.sock') }, path);

test('rules apply in order: the first match decides', async () => {
  assert.equal(await v4('/allow-first'), 200);
  assert.equal(await v4('/deny-first'), 403);
  assert.equal(await v4('/allow-other'), 403);
});

test('IPv4 CIDR: inside, outside, the mask boundary, host bits cleared, /0', async () => {
  assert.equal((await request(w.port, '/cidr-in')).status, 403);
  assert.equal(await v4('/cidr-out'), 404, '10.0.0.0/8 does not hold 127.0.0.1, the next rule allows');
  assert.equal(await v4('/cidr-edge'), 404, '127.0.0.2/31 is .2-.3; 127.0.0.0/31 holds .1');
  assert.equal(await v4('/cidr-low'), 403, '127.1.2.3/8 is 127.0.0.0/8');
  assert.equal(await v4('/cidr-zero'), 403);
});

test('IPv6: a host, /128, ::/0, another prefix; v4 rules do not meet a v6 client nor v6 rules a v4 one', async () => {
  assert.equal(await v6('/v6-host'), 404);
  assert.equal(await v4('/v6-host'), 403, 'the v4 client meets only `deny all`');
  assert.equal(await v6('/v6-deny'), 403);
  assert.equal(await v4('/v6-deny'), 404, 'a v4 client has no v4 rules here');
  assert.equal(await v6('/v6-all'), 403);
  assert.equal(await v6('/v6-other'), 404);
  assert.equal(await v6('/v4-only'), 404);
  assert.equal(await v4('/v4-only'), 403);
});

test('an IPv4-mapped client meets the v4 rules when there are any, else the v6 rules', async () => {
  assert.equal(await mapped('/v4-only'), 403);
  assert.equal(await mapped('/v6-mapped'), 403);
  assert.equal(await mapped('/v6-mapped-both'), 404, 'the v4 rule allows; the v6 deny is not looked at');
  assert.equal(await mapped('/allow-first'), 200);
});

test('unix: rules apply to unix-socket clients only; all covers them', async () => {
  assert.equal(await unix('/unix-deny'), 403);
  assert.equal(await v4('/unix-deny'), 404);
  assert.equal(await unix('/unix-allow'), 404);
  assert.equal(await v4('/unix-allow'), 403);
  assert.equal(await unix('/v6-all'), 404, 'an IPv6 rule does not meet a unix client');
  assert.equal(await unix('/allow-other'), 403, '`deny all` covers unix');
});

test('inheritance: a level without rules takes its parent\'s; any rule of its own replaces them all', async () => {
  assert.equal(await v4('/inherit/'), 403);
  assert.equal(await v4('/inherit/nested'), 403);
  assert.equal(await v4('/inherit/own'), 404);
  assert.equal(await v4('/inherit/v6-only'), 404, 'a v6 rule alone drops the inherited v4 deny');
  // http level `deny 192.0.2.1` is inherited by the first server: 127.0.0.1 passes.
  assert.equal(await v4('/'), 200);
  const other = await request(w.port, '/', { host: 'other' });
  assert.equal(other.status, 200);
  assert.equal((await request(w.port, '/deny', { host: 'other' })).status, 403);
});

test('403 page, and "access forbidden by rule" at error level with the request context', async () => {
  const r = await request(w.port, '/deny-first');
  assert.equal(r.status, 403);
  assert.match(r.text, /<title>403 Forbidden<\/title>/);
  const log = await w.waitForLog(/access forbidden by rule.*deny-first/);
  assert.match(log, /\[error\] \d+#\d+: \*\d+ access forbidden by rule, client: 127\.0\.0\.1, server: localhost, request: "GET \/deny-first HTTP\/1\.1", host: "localhost"\n/);
});

test('the access phase runs after rewrite: return answers first, rewrite last goes on to another location', async () => {
  assert.equal((await request(w.port, '/return')).text, 'returned');
  assert.equal((await request(w.port, '/rewrite')).text, 'target');
  assert.equal((await request(w.port, '/after-rewrite')).status, 403);
  const page = await request(w.port, '/error-page');
  assert.equal(page.status, 403);
  assert.equal(page.text, 'custom 403');
});

test('satisfy any: a deny still ends in 403, logged once; an allow lets the request on', async () => {
  assert.equal((await request(w.port, '/satisfy-any', { headers: ['X-Mark: any'] })).status, 403);
  const log = await w.waitForLog(/GET \/satisfy-any HTTP/);
  assert.equal(log.split('\n').filter((l) => l.includes('"GET /satisfy-any HTTP/1.1"')).length, 1);
  assert.match(log, /\[error\].*access forbidden by rule, client: 127\.0\.0\.1, server: localhost, request: "GET \/satisfy-any HTTP\/1\.1"/);
  assert.equal((await request(w.port, '/satisfy-any-allow')).text, 'open');
});

test('limit_except: the methods named (GET brings HEAD) use the location, others the limit_except block', async () => {
  assert.equal(await v4('/lmt', 'GET'), 200);
  assert.equal(await v4('/lmt', 'HEAD'), 200);
  assert.equal(await v4('/lmt', 'POST'), 403);
  assert.equal(await v4('/lmt', 'DELETE'), 403);
  assert.equal(await v4('/lmt-static', 'GET'), 200, 'content handler of the location');
  assert.equal(await v4('/lmt-static', 'POST'), 403, 'rules from an include inside limit_except');
  assert.equal(await v4('/lmt', 'FOO'), 403, 'a method nginx does not know is never named');
  // The block allows 127.0.0.1; it runs no `return` (rewrite codes are not inherited), so static answers.
  assert.equal(await v4('/lmt-allow', 'POST'), 404);
  assert.equal(await v6('/lmt-allow', 'POST'), 403);
  assert.equal(await v6('/lmt-allow', 'GET'), 200);
});
