/**
 * fastcgi_pass against the real php-fpm (Debian's `php-fpm`), started here
 * with its own minimal config on a free port, serving PHP scripts this test
 * writes. A counting TCP relay in front of php-fpm proves fastcgi_keep_conn
 * reuse (php-fpm cannot tell us how many connections it accepted).
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { exchange, freePort, get, startWeir, type Weir } from '../helpers/raw-http.js';
import { findBinary, logMatching, waitForPort } from '../helpers/daemons.js';
import { needs } from '../helpers/require.js';

const fpmBin = findBinary([/^php-fpm[0-9.]*$/]);
const fastcgiParams = readFileSync(new URL('../../../conf/fastcgi_params', import.meta.url), 'utf8');

async function one(w: Weir, req: string) {
  const ex = await exchange(w.port, req, { totalMs: 10_000 });
  assert.ok(ex.responses.length >= 1, `no response: ${ex.raw.toString('latin1')}`);
  return ex.responses[0];
}

const scripts: Record<string, string> = {
  'info.php': `<?php header('Content-Type: application/json'); echo json_encode([
    'method' => $_SERVER['REQUEST_METHOD'], 'query' => $_SERVER['QUERY_STRING'], 'get' => $_GET,
    'script' => $_SERVER['SCRIPT_NAME'], 'path_info' => $_SERVER['PATH_INFO'] ?? null,
    'custom' => $_SERVER['HTTP_X_CUSTOM_HEADER'] ?? null, 'post' => $_POST]);`,
  'post.php': `<?php $b = file_get_contents('php://input'); echo strlen($b), ':', md5($b);`,
  'status.php': `<?php header('Status: 404 Not Found'); echo 'not here';`,
  'code.php': `<?php http_response_code(418); echo 'teapot';`,
  'redirect.php': `<?php header('Location: /elsewhere');`,
  'big.php': `<?php echo str_repeat('0123456789', 100000);`,
  'stderr.php': `<?php error_log('oops from php'); echo 'body';`,
  'cookie.php': `<?php setcookie('a', '1'); setcookie('b', '2'); echo 'c';`,
  // What it was asked (the conditions the cache must not pass, or its own revalidation) and a fresh token.
  'cached.php': `<?php $inm = $_SERVER['HTTP_IF_NONE_MATCH'] ?? '';
    header('Cache-Control: max-age=2'); header('ETag: "v1"');
    if ($inm === '"v1"') { http_response_code(304); exit; }
    echo uniqid('', true), ' inm=', $inm, ' ims=', $_SERVER['HTTP_IF_MODIFIED_SINCE'] ?? '';`,
  // The Range it was passed, ahead of ten digits; a length, or no range could be cut.
  'ranged.php': `<?php header('Accept-Ranges: bytes'); header('Cache-Control: max-age=60');
    $body = 'range=' . ($_SERVER['HTTP_RANGE'] ?? '') . ';0123456789';
    header('Content-Length: ' . strlen($body)); echo $body;`,
};

describe('php-fpm', { skip: needs('php-fpm', fpmBin !== null, 'apt-get install php-fpm') }, () => {
  let fpm: ChildProcess;
  let dir: string;
  let relay: Server;
  let relayConnections = 0;
  const relaySockets = new Set<Socket>();
  let w: Weir;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weir-fpm-'));
    const fpmPort = await freePort();
    const root = process.getuid?.() === 0;
    const user = userInfo().username;
    writeFileSync(join(dir, 'php-fpm.conf'), `[global]
pid = ${dir}/php-fpm.pid
error_log = ${dir}/php-fpm.log
daemonize = no
[www]
${root ? `user = ${user}\ngroup = ${user}\n` : ''}listen = 127.0.0.1:${fpmPort}
pm = static
pm.max_children = 2
php_admin_flag[log_errors] = on
php_admin_value[display_errors] = off
`);
    const args = ['-F', '-y', join(dir, 'php-fpm.conf'), '-p', dir, '-n', '-d', 'fastcgi.logging=1'];
    if (root) args.push('-R');
    fpm = spawn(fpmBin!, args, { stdio: 'ignore' });
    await waitForPort(fpmPort);
    relay = createServer((client) => {
      relayConnections++;
      const up = connect(fpmPort, '127.0.0.1');
      relaySockets.add(client); relaySockets.add(up);
      client.pipe(up); up.pipe(client);
      const done = (): void => { client.destroy(); up.destroy(); relaySockets.delete(client); relaySockets.delete(up); };
      client.on('error', done); up.on('error', done); client.on('close', done); up.on('close', done);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const ra = relay.address();
    const relayPort = typeof ra === 'object' && ra ? ra.port : 0;
    const files: Record<string, string> = { 'conf/fastcgi_params': fastcgiParams, fastcgi_params: fastcgiParams };
    for (const [name, text] of Object.entries(scripts)) files[`html/${name}`] = text;
    w = await startWeir(`
http {
  fastcgi_cache_path %PREFIX%/cache keys_zone=one:1m;
  upstream fpm { server 127.0.0.1:${relayPort}; }
  upstream fpm2 { random; server 127.0.0.1:${fpmPort}; server 127.0.0.1:${relayPort}; }
  server {
    listen 127.0.0.1:%PORT%;
    root %PREFIX%/html;
    location ~ [^/]\\.php(/|$) {
      fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
      include fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_param PATH_INFO $fastcgi_path_info;
      fastcgi_pass fpm;
      fastcgi_keep_conn on;
    }
    location = /cached.php {
      include fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_pass fpm;
      fastcgi_cache one;
      fastcgi_cache_key $request_uri;
      fastcgi_cache_revalidate on;
      add_header X-Cache $upstream_cache_status;
    }
    location = /ranged.php {
      include fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_pass fpm;
      fastcgi_cache one;
      fastcgi_cache_key $request_uri;
      fastcgi_cache_max_range_offset 4;
      add_header X-Cache $upstream_cache_status;
    }
    location /random/ {
      include fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root/info.php;
      fastcgi_pass fpm2;
    }
  }
}`, files);
  });
  after(async () => {
    await w?.stop();
    for (const s of relaySockets) s.destroy();
    relay?.close();
    fpm?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('GET with a query string, path info and a client header', async () => {
    const res = await one(w, get('/info.php/more/path?a=1&b=two', 'X-Custom-Header: hi\r\n'));
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.headers['content-type'], 'application/json');
    const j = JSON.parse(res.body.toString()) as Record<string, unknown>;
    assert.equal(j.method, 'GET');
    assert.equal(j.query, 'a=1&b=two');
    assert.deepEqual(j.get, { a: '1', b: 'two' });
    assert.equal(j.script, '/info.php');
    assert.equal(j.path_info, '/more/path');
    assert.equal(j.custom, 'hi');
  });

  test('POST form body reaches $_POST', async () => {
    const body = 'x=1&y=hello';
    const res = await one(w, `POST /info.php HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    const j = JSON.parse(res.body.toString()) as Record<string, unknown>;
    assert.equal(j.method, 'POST');
    assert.deepEqual(j.post, { x: '1', y: 'hello' });
  });

  test('a large POST body (several STDIN records) arrives intact', async () => {
    const body = Buffer.alloc(300_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const head = `POST /post.php HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const ex = await exchange(w.port, [head, body], { totalMs: 10_000 });
    assert.equal(ex.responses[0].body.toString(), `${body.length}:${createHash('md5').update(body).digest('hex')}`);
  });

  test('Status header, http_response_code, Location', async () => {
    const s = await one(w, get('/status.php'));
    assert.equal(s.status, 404);
    assert.equal(s.body.toString(), 'not here');
    assert.equal((await one(w, get('/code.php'))).status, 418);
    const r = await one(w, get('/redirect.php'));
    assert.equal(r.status, 302);
    assert.match(r.headers.location, /\/elsewhere$/);
  });

  test('repeated Set-Cookie headers are all passed', async () => {
    const res = await one(w, get('/cookie.php'));
    assert.equal(res.headers['set-cookie'], 'a=1, b=2');
  });

  test('a large response streams whole', async () => {
    const res = await one(w, get('/big.php'));
    assert.equal(res.status, 200);
    assert.equal(res.body.length, 1_000_000);
    assert.equal(res.body.subarray(0, 20).toString(), '01234567890123456789');
  });

  test('stderr goes to the error log in nginx\'s shape, not to the client', async () => {
    const res = await one(w, get('/stderr.php'));
    assert.equal(res.body.toString(), 'body');
    const re = /\[error\].*FastCGI sent in stderr: "PHP message: oops from php" while reading (response header from )?upstream, client: 127\.0\.0\.1, server: , request: "GET \/stderr\.php HTTP\/1\.1", upstream: "fastcgi:\/\/127\.0\.0\.1:\d+"/;
    assert.match(await logMatching(w.errorLog, re), re);
  });

  test('fastcgi_keep_conn: php-fpm connections are reused', async () => {
    await one(w, get('/info.php'));
    const n = relayConnections;
    for (let i = 0; i < 5; i++) assert.equal((await one(w, get('/info.php?i=' + i))).status, 200);
    assert.equal(relayConnections, n, 'no new connection to php-fpm');
  });

  test('a missing script is php-fpm\'s 404', async () => {
    const res = await one(w, get('/nothere.php'));
    assert.equal(res.status, 404);
  });

  test('random balancer upstream without keep_conn: both peers chosen, a connection per request', async () => {
    // fpm2's peers are php-fpm itself and the relay in front of it: two distinct addresses.
    // Without keep_conn each request through the relay is a connection of its own.
    const n = relayConnections;
    const requests = 24;
    for (let i = 0; i < requests; i++) assert.equal((await one(w, get('/random/'))).status, 200);
    const relayed = relayConnections - n;
    // Random with equal weights: all 24 on one side has odds of 1 in 8 million.
    assert.ok(relayed > 0 && relayed < requests, `${relayed} of ${requests} requests went through the relay`);
  });

  test('fastcgi_cache: a HIT without php-fpm, the client\'s conditions not passed, a revalidation with the stored ETag', async () => {
    const conditions = 'If-None-Match: "other"\r\nIf-Modified-Since: Thu, 01 Jan 2015 00:00:00 GMT\r\n';
    const miss = await one(w, get('/cached.php', conditions));
    assert.equal(miss.status, 200, miss.body.toString());
    assert.equal(miss.headers['x-cache'], 'MISS');
    const body = miss.body.toString();
    assert.match(body, / inm= ims=$/, 'the cache keeps the client\'s conditions from php-fpm');
    const hit = await one(w, get('/cached.php', conditions));
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.body.toString(), body, 'the stored response, not a new one');
    // Validity is whole seconds (nginx's valid_sec): max-age=2 has expired after 2.1 s, never before 1.
    await new Promise((r) => setTimeout(r, 2100));
    const again = await one(w, get('/cached.php'));
    assert.equal(again.headers['x-cache'], 'REVALIDATED', 'php-fpm saw If-None-Match: "v1" and answered 304');
    assert.equal(again.body.toString(), body);
  });

  test('fastcgi_cache ranges: a range from the start is cut from the stored response; one past max_range_offset reaches php-fpm', async () => {
    const near = await one(w, get('/ranged.php?near', 'Range: bytes=0-5\r\n'));
    assert.equal(near.status, 206, near.body.toString());
    assert.equal(near.headers['x-cache'], 'MISS');
    assert.equal(near.headers['content-range'], 'bytes 0-5/17', 'php-fpm had no HTTP_RANGE: "range=;0123456789"');
    assert.equal(near.body.toString(), 'range=');
    const far = await one(w, get('/ranged.php?far', 'Range: bytes=10-\r\n'));
    assert.equal(far.status, 200);
    assert.equal(far.body.toString(), 'range=bytes=10-;0123456789', 'not cacheable: the params carry the Range');
    assert.equal(far.headers['accept-ranges'], 'bytes');
    assert.equal((await one(w, get('/ranged.php?far'))).headers['x-cache'], 'MISS', 'nothing was stored');
  });
});
