/**
 * auth_basic, auth_delay, auth_request (+ _set), satisfy with all of them and
 * allow/deny, and mirror, against a running weir over real sockets. The
 * access handlers that wait (the user file read, the auth subrequest) make
 * the phase engine resume at them: the satisfy tests put them after other
 * handlers so that a wrong resume index would show.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../helpers/raw-http.js';
import { fileLines, request, startWithLogs, waitLines, type Weir } from '../helpers/in-process.js';
import { loadConfigText } from '../../src/config/loader.js';
import { builtinModules } from '../../src/modules.js';

const b64 = (s: string): string => Buffer.from(s, 'latin1').toString('base64');
const auth = (user: string, pass: string): string => `Authorization: Basic ${b64(`${user}:${pass}`)}`;

let w: Weir;
/** A raw backend for the mirrors: records each request, answers as the path asks. */
let backend: Server;
let backendPort = 0;
let refusedPort = 0;
const seen: string[] = [];

const HTPASSWD = [
  '# a comment line',
  'garbage line without colon',
  ':{PLAIN}nouser',
  'plain:{PLAIN}secret',
  'des:sa3tHJ3/KuYvI',
  'md5:$1$salt$qJH7.N4xYta3aEG/dfqo/0',
  'apr1:$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.',
  'sha256:$5$saltstring$OH4IDuTlsuTYPdED1gsuiRMyTAwNlRWyA6Xr3I4/dQ5',
  'sha512:$6$saltstring$adDbXsJjcDlq2662QPgd.tkSOVmnG9Tt3oXl4HR60SusC3AGjirnDenVZp3DGwLwqy6iYKCzannhaX9DR72nN1',
  'bcrypt:$2b$04$abcdefghijklmnopqrstuughE8Ev8uGFaUgY2cNEySvxngrb/Jzdm',
  'sha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=',
  'ssha:{SSHA}yI6cZwQadOA1e+/f+T+H3eCQQhRzYWx0',
  'broken:$1$',
  'badssha:{SSHA}_____',
  'empty:',
  'comment:{PLAIN}pw:trailing comment',
].join('\n');

const CONF = `
http {
  log_format st "$uri $status $remote_user";
  access_log %PREFIX%/logs/access.log st;
  server {
    listen 127.0.0.1:%PORT%;
    server_name localhost;
    root %PREFIX%;

    location /basic {
      auth_basic "closed site";
      auth_basic_user_file htpasswd;
      add_header X-User "$remote_user";
      try_files /ok.txt =404;
      location /basic/off { auth_basic off; try_files /ok.txt =404; }
    }
    location /var {
      auth_basic $arg_realm;
      auth_basic_user_file $arg_f;
      try_files /ok.txt =404;
    }
    location /missing { auth_basic "x"; auth_basic_user_file %PREFIX%/nx/htpasswd; try_files /ok.txt =404; }
    location /dir { auth_basic "x"; auth_basic_user_file %PREFIX%/; try_files /ok.txt =404; }
    location /delay { auth_delay 400ms; auth_basic "x"; auth_basic_user_file htpasswd; try_files /ok.txt =404; }
    location /delay-deny { auth_delay 400ms; deny all; }

    # satisfy: allow/deny, then auth_basic (waits for its file), then auth_request (waits for its subrequest)
    location /any/ {
      satisfy any;
      deny all;
      auth_basic "any";
      auth_basic_user_file htpasswd;
      auth_request /decide-p;
      try_files /ok.txt =404;
    }
    location /all/ {
      satisfy all;
      allow all;
      auth_basic "all";
      auth_basic_user_file htpasswd;
      auth_request /decide-p;
      try_files /ok.txt =404;
    }
    # add_header does not apply to subrequests (as nginx's): the decision is proxied.
    location = /decide-p { proxy_pass http://127.0.0.1:%PORT%/decide?u=$request_uri; }
    location = /decide {
      if ($request_uri ~ "open$") { return 204; }
      if ($request_uri ~ "unauthorized$") { add_header WWW-Authenticate "Bearer one" always; add_header WWW-Authenticate "Bearer two" always; return 401; }
      if ($request_uri ~ "forbidden$") { return 403; }
      if ($request_uri ~ "teapot$") { return 418; }
      add_header X-User "$request_method-user" always;
      return 200 "the auth body is dropped";
    }

    location /ar/ {
      auth_request /decide-p;
      auth_request_set $who "$upstream_http_x_user|$sent_http_x_user";
      add_header X-Who "[$who]" always;
      try_files /ok.txt =404;
    }
    location /ar-local { auth_request /decide; try_files /ok.txt =404; }
    location /ar-args { auth_request /decide; auth_request_set $args "set=1"; proxy_pass http://127.0.0.1:%BACKEND%/args; }
    location /mlog/ { mirror /mirror-logged; try_files /ok.txt =404; }
    location = /mirror-logged { log_subrequest on; access_log %PREFIX%/logs/mirror.log st; return 204; }
    location /ar-slow { auth_request /decide-slow; try_files /ok.txt =404; }
    location = /decide-slow { proxy_pass http://127.0.0.1:%BACKEND%/slow; }
    location /ar-cut { auth_request /decide-cut; try_files /ok.txt =404; }
    location = /decide-cut { proxy_pass http://127.0.0.1:%BACKEND%/cut; }
    location /ar-missing { auth_request /nowhere-at-all; try_files /ok.txt =404; }

    location /m/ {
      mirror /mirror-slow;
      mirror /mirror-refused;
      mirror /mirror-cut;
      try_files /ok.txt =404;
    }
    location /mb/ {
      mirror /mirror-slow;
      proxy_pass http://127.0.0.1:%BACKEND%/main;
    }
    location /mb-off/ {
      mirror /mirror-slow;
      mirror_request_body off;
      proxy_pass http://127.0.0.1:%BACKEND%/main;
    }
    location /mhold/ { mirror /mirror-slow-logged; try_files /ok.txt =404; }
    location = /mirror-slow-logged {
      internal;
      log_subrequest on;
      access_log %PREFIX%/logs/mirror-slow.log st;
      proxy_pass http://127.0.0.1:%BACKEND%/slow;
    }
    location = /mirror-slow { internal; proxy_pass http://127.0.0.1:%BACKEND%/slow; }
    location = /mirror-refused { internal; proxy_pass http://127.0.0.1:%REFUSED%/; }
    location = /mirror-cut { internal; proxy_pass http://127.0.0.1:%BACKEND%/cut; }
  }
}
`;

before(async () => {
  refusedPort = await freePort();
  backend = createServer((s: Socket) => {
    let data = '';
    s.on('data', (d) => {
      data += d.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const cl = /content-length: *(\d+)/i.exec(data.slice(0, end));
      if (cl && data.length < end + 4 + Number(cl[1])) return;
      seen.push(data);
      const path = data.split(' ')[1];
      if (path.startsWith('/slow')) {
        setTimeout(() => s.end('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow'), 1500);
      } else if (path.startsWith('/cut')) {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
        setTimeout(() => s.destroy(), 50);
      } else {
        s.end(`HTTP/1.1 200 OK\r\nContent-Length: ${2 + data.length - end - 4}\r\nConnection: close\r\n\r\nb:${data.slice(end + 4)}`);
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  backendPort = (backend.address() as { port: number }).port;
  const conf = CONF.replaceAll('%BACKEND%', String(backendPort)).replaceAll('%REFUSED%', String(refusedPort));
  w = await startWithLogs(conf, { htpasswd: HTPASSWD, 'other/htpasswd': 'other:{PLAIN}x\n', 'ok.txt': 'ok' });
});

after(async () => {
  await w.stop();
  await new Promise<void>((resolve) => backend.close(() => resolve()));
});

test('auth_basic: no credentials is 401 with the realm, and the info line', async () => {
  const r = await request(w.port, '/basic');
  assert.equal(r.status, 401);
  assert.equal(r.headers['www-authenticate'], 'Basic realm="closed site"');
  await w.waitForLog(/\[info\].*no user\/password was provided for basic authentication/);
});

test('auth_basic: every hash format lets its user in, and only with the right password', async () => {
  const users: Array<[string, string]> = [
    ['plain', 'secret'], ['des', 'password'], ['md5', 'password'], ['apr1', 'password'], ['sha256', 'password'],
    ['sha512', 'password'], ['bcrypt', 'password'], ['sha', 'password'], ['ssha', 'password'], ['comment', 'pw'],
  ];
  for (const [user, pass] of users) {
    const ok = await request(w.port, '/basic', { headers: [auth(user, pass)] });
    assert.equal(ok.status, 200, user);
    assert.equal(ok.text, 'ok');
    assert.equal(ok.headers['x-user'], user);
    // (DES reads 8 bytes of a password only: the change goes first.)
    const bad = await request(w.port, '/basic', { headers: [auth(user, 'x' + pass)] });
    assert.equal(bad.status, 401, `${user} wrong`);
    assert.equal(bad.headers['www-authenticate'], 'Basic realm="closed site"');
  }
  await w.waitForLog(/\[error\].*user "bcrypt": password mismatch/);
});

test('auth_basic: broken lines and hashes are a 401, never a match or a crash', async () => {
  for (const [user, pass] of [['broken', '1'], ['badssha', 'x'], ['empty', ''], ['garbage line without colon', 'x'], ['# a comment line', 'x']]) {
    const r = await request(w.port, '/basic', { headers: [auth(user, pass)] });
    assert.equal(r.status, 401, user);
  }
  const r = await request(w.port, '/basic', { headers: [auth('nobody', 'x')] });
  assert.equal(r.status, 401);
  await w.waitForLog(/\[error\].*user "nobody" was not found in ".*\/htpasswd"/);
});

test('auth_basic: a garbage Authorization header is "no credentials"', async () => {
  for (const h of ['Authorization: Basic', 'Authorization: Basic !!!notbase64', 'Authorization: Bearer abc',
    `Authorization: Basic ${b64('nocolon')}`, `Authorization: Basic ${b64(':pw')}`, 'Authorization: Basic dXNlc']) {
    const r = await request(w.port, '/basic', { headers: [h] });
    assert.equal(r.status, 401, h);
    assert.equal(r.headers['www-authenticate'], 'Basic realm="closed site"');
  }
});

test('auth_basic off in an inner location; variables in realm and file', async () => {
  assert.equal((await request(w.port, '/basic/off')).text, 'ok');
  assert.equal((await request(w.port, '/var?realm=off')).status, 200);
  const a = await request(w.port, '/var?realm=R&f=other/htpasswd', { headers: [auth('other', 'x')] });
  assert.equal(a.status, 200);
  const b = await request(w.port, '/var?realm=R&f=htpasswd', { headers: [auth('other', 'x')] });
  assert.equal(b.status, 401);
  assert.equal(b.headers['www-authenticate'], 'Basic realm="R"');
});

test('auth_basic: a missing file is 403 at error, a file that cannot be read 500 at crit', async () => {
  const missing = await request(w.port, '/missing', { headers: [auth('plain', 'secret')] });
  assert.equal(missing.status, 403);
  await w.waitForLog(/\[error\].*open\(\) ".*\/nx\/htpasswd" failed \(2: No such file or directory\)/);
  const dir = await request(w.port, '/dir', { headers: [auth('plain', 'secret')] });
  assert.equal(dir.status, 500);
  await w.waitForLog(/\[crit\].*pread\(\) ".*\/" failed \(21: Is a directory\)/);
  const empty = await request(w.port, '/var?realm=R', { headers: [auth('plain', 'secret')] });
  assert.equal(empty.status, 500, 'an empty $arg_f names the config directory');
});

test('auth_basic: an edit of the user file takes effect on the next request', async () => {
  const path = join(w.prefix, 'other/htpasswd');
  const before1 = await request(w.port, '/var?realm=R&f=other/htpasswd', { headers: [auth('late', 'pw')] });
  assert.equal(before1.status, 401);
  writeFileSync(path, 'other:{PLAIN}x\nlate:{PLAIN}pw\n');
  const after1 = await request(w.port, '/var?realm=R&f=other/htpasswd', { headers: [auth('late', 'pw')] });
  assert.equal(after1.status, 200);
});

test('auth_delay: a 401 waits, a success and a 403 do not', async () => {
  let t = Date.now();
  const bad = await request(w.port, '/delay', { headers: [auth('plain', 'bad')] });
  assert.equal(bad.status, 401);
  assert.ok(Date.now() - t >= 380, `delayed ${Date.now() - t} ms`);
  await w.waitForLog(/\[info\].*delaying unauthorized request/);
  t = Date.now();
  assert.equal((await request(w.port, '/delay', { headers: [auth('plain', 'secret')] })).status, 200);
  assert.ok(Date.now() - t < 380);
  t = Date.now();
  assert.equal((await request(w.port, '/delay-deny')).status, 403);
  assert.ok(Date.now() - t < 380);
});

test('auth_delay: a client that goes away ends the wait (499, nothing written later)', async () => {
  const s = connect(w.port, '127.0.0.1');
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  s.write(`GET /delay?gone HTTP/1.1\r\nHost: localhost\r\n${auth('plain', 'bad')}\r\n\r\n`);
  await new Promise((resolve) => setTimeout(resolve, 100));
  s.destroy();
  const lines = await waitLines(join(w.prefix, 'logs/access.log'), 1);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const mine = (await waitLines(join(w.prefix, 'logs/access.log'), lines.length)).filter((l) => l.startsWith('/delay 499'));
  assert.equal(mine.length, 1, 'logged once, as 499');
});

test('satisfy any: deny, then auth_basic, then auth_request, each resumed where it waited', async () => {
  // deny refuses (403), auth_basic refuses (401), auth_request allows: in, and no challenge left.
  const open = await request(w.port, '/any/open');
  assert.equal(open.status, 200);
  assert.equal(open.text, 'ok');
  assert.equal(open.headers['www-authenticate'], undefined);
  // auth_basic allows: auth_request is not asked.
  const basic = await request(w.port, '/any/forbidden', { headers: [auth('plain', 'secret')] });
  assert.equal(basic.status, 200);
  // Nobody allows: a 401 is kept over the 403s, with auth_basic's challenge and the subrequest's.
  const un = await request(w.port, '/any/unauthorized');
  assert.equal(un.status, 401);
  assert.equal(un.headers['www-authenticate'], 'Basic realm="any", Bearer one, Bearer two');
  const fb = await request(w.port, '/any/forbidden');
  assert.equal(fb.status, 401, 'auth_basic\'s 401 wins over the later 403');
  const teapot = await request(w.port, '/any/teapot');
  assert.equal(teapot.status, 500);
  await w.waitForLog(/\[error\].*auth request unexpected status: 418/);
});

test('satisfy all: allow, auth_basic and auth_request must all let the request in', async () => {
  assert.equal((await request(w.port, '/all/open', { headers: [auth('plain', 'secret')] })).text, 'ok');
  assert.equal((await request(w.port, '/all/open')).status, 401);
  assert.equal((await request(w.port, '/all/forbidden', { headers: [auth('plain', 'secret')] })).status, 403);
  assert.equal((await request(w.port, '/all/unauthorized', { headers: [auth('plain', 'secret')] })).status, 401);
});

test('auth_request: the subrequest\'s body is dropped; auth_request_set reads its response', async () => {
  const r = await request(w.port, '/ar/x');
  assert.equal(r.status, 200);
  assert.equal(r.text, 'ok');
  assert.equal(r.headers['x-who'], '[GET-user|GET-user]');
  // A POST: the subrequest is a GET and gets no body; the client's is left for the location.
  const p = await request(w.port, '/ar/y', { method: 'POST', body: 'abc' });
  assert.equal(p.status, 405, 'the static file refuses the POST: the access phase let it on');
  assert.equal(p.headers['x-who'], '[GET-user|GET-user]');
  // A subrequest answered in place: its 200 (and dropped body) allows.
  const local = await request(w.port, '/ar-local');
  assert.equal(local.status, 200);
  assert.equal(local.text, 'ok');
  const un = await request(w.port, '/ar/unauthorized');
  assert.equal(un.status, 401);
  assert.equal(un.headers['x-who'], '[|]');
  const missing = await request(w.port, '/ar-missing');
  assert.equal(missing.status, 500);
  await w.waitForLog(/auth request unexpected status: 404/);
});

test('auth_request_set $args: the value is the query the location passes on', async () => {
  const r = await request(w.port, '/ar-args?orig=1');
  assert.equal(r.status, 200);
  assert.ok(seen.some((x) => x.startsWith('GET /args?set=1 ')), JSON.stringify(seen.slice(-2)));
});

test('mirror: a mirror with log_subrequest on is access-logged as itself', async () => {
  assert.equal((await request(w.port, '/mlog/x')).text, 'ok');
  const lines = await waitLines(join(w.prefix, 'logs/mirror.log'), 1);
  assert.deepEqual(lines, ['/mirror-logged 204 -']);
});

test('auth_request: a client gone while the subrequest runs is a 499, and nothing resumes', async () => {
  const s = connect(w.port, '127.0.0.1');
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  s.write('GET /ar-slow HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await new Promise((resolve) => setTimeout(resolve, 150));
  s.destroy();
  const log = join(w.prefix, 'logs/access.log');
  const deadline = Date.now() + 5000;
  while (!(await waitLines(log, 1)).some((l) => l.startsWith('/ar-slow 499')) && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.ok((await waitLines(log, 1)).some((l) => l.startsWith('/ar-slow 499')));
  // The upstream's late answer finds nothing to resume: the server still answers.
  await new Promise((resolve) => setTimeout(resolve, 1600));
  assert.equal((await request(w.port, '/ar-local')).status, 200);
});

test('auth_request: a subrequest whose body is cut still decides by its status', async () => {
  const r = await request(w.port, '/ar-cut');
  assert.equal(r.status, 200);
  assert.equal(r.text, 'ok');
});

test('mirror: slow, refused and cut mirrors neither delay nor change the response', async () => {
  const t = Date.now();
  const r = await request(w.port, '/m/a?q=1');
  assert.equal(r.status, 200);
  assert.equal(r.text, 'ok');
  assert.ok(Date.now() - t < 1000, `answered in ${Date.now() - t} ms`);
  // A second request right after works too (nothing of the mirrors stuck).
  assert.equal((await request(w.port, '/m/b')).text, 'ok');
  await w.waitForLog(/connect\(\) failed \(111: Connection refused\).*subrequest: "\/mirror-refused"/);
  const deadline = Date.now() + 3000;
  while (!seen.some((s) => s.startsWith('GET /slow?q=1 ')) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  assert.ok(seen.some((s) => s.startsWith('GET /slow?q=1 ')), 'the mirror got the args');
});

test('mirror: the response goes at once, but the connection is kept until the mirror ends, as nginx keeps it (r->main->count)', async () => {
  const t0 = Date.now();
  const s = connect(w.port, '127.0.0.1');
  let text = '';
  let answeredAt = 0;
  s.on('data', (d) => {
    text += d.toString('latin1');
    if (answeredAt === 0 && text.endsWith('\r\n\r\nok')) answeredAt = Date.now();
  });
  s.write('GET /mhold/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  await new Promise<void>((resolve) => s.once('end', () => resolve()));
  const endedAt = Date.now();
  s.destroy();
  assert.match(text, /^HTTP\/1\.1 200 /);
  assert.ok(answeredAt > 0 && answeredAt - t0 < 1000, `the response took ${answeredAt - t0} ms`);
  // The backend answers the mirror after 1500 ms: the close comes after that, with the mirror logged.
  assert.ok(endedAt - t0 >= 1400, `the connection closed after ${endedAt - t0} ms, before the mirror ended`);
  assert.deepEqual(fileLines(join(w.prefix, 'logs/mirror-slow.log')), ['/mirror-slow-logged 200 -']);
});

test('mirror_request_body: on, the mirror gets the body; off, it gets none', async () => {
  const on = await request(w.port, '/mb/x', { method: 'POST', body: 'BODY1' });
  assert.equal(on.status, 200);
  assert.equal(on.text, 'b:BODY1');
  const off = await request(w.port, '/mb-off/x', { method: 'POST', body: 'BODY2' });
  assert.equal(off.text, 'b:BODY2');
  const deadline = Date.now() + 3000;
  const find = (b: string): string | undefined => seen.find((s) => s.startsWith('POST /slow') && s.endsWith(b));
  while (!find('BODY1') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  assert.ok(find('BODY1'), `the mirror got the body: ${JSON.stringify(seen)}`);
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(!seen.some((s) => s.startsWith('POST /slow') && s.includes('BODY2')), 'no body for the mirror with mirror_request_body off');
});

test('config errors are [emerg] with file and line', () => {
  const load = (body: string): void => {
    loadConfigText(`events {}\nhttp {\n  server {\n    location / {\n${body}\n    }\n  }\n}\n`, '/nonexistent-prefix', builtinModules);
  };
  assert.throws(() => load('auth_basic a;\nauth_basic b;'), /"auth_basic" directive is duplicate in .*:6/);
  assert.throws(() => load('auth_basic_user_file a;\nauth_basic_user_file b;'), /is duplicate/);
  assert.throws(() => load('auth_request /a;\nauth_request /b;'), /"auth_request" directive is duplicate/);
  assert.throws(() => load('auth_request_set x y;'), /invalid variable name "x"/);
  assert.throws(() => load('auth_request_set $uri y;'), /the duplicate "uri" variable/);
  assert.throws(() => load('mirror /a;\nmirror off;'), /"mirror" directive is duplicate/);
  assert.throws(() => load('mirror off;\nmirror /a;'), /"mirror" directive is duplicate/);
  assert.throws(() => load('mirror_request_body maybe;'), /it must be "on" or "off"/);
  assert.throws(() => load('auth_delay forever;'), /"auth_delay" directive invalid value/);
  assert.throws(() => load('auth_basic "$nosuchvariable";'), /unknown "nosuchvariable" variable/);
});
