/**
 * access_log / log_format against a running weir: the combined line's exact
 * shape, escape=json and default escaping, `off` and inheritance, `if=`,
 * buffer + flush, byte counts, and reopen (USR1) after a rename.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { exchange, request, startWithLogs, waitLines, type Weir } from '../helpers/in-process.js';

let w: Weir;
const log = (name: string): string => join(w.prefix, 'logs', name);

const CONF = `
events {}
http {
  log_format j escape=json '{"uri":"$uri","ua":"$http_user_agent","none":"$http_x_none","status":$status}';
  log_format raw escape=none '$http_x_raw|$http_x_none|';
  log_format bytes '$status $bytes_sent $body_bytes_sent $request_length';
  log_format esc '$http_x_esc|$http_x_none';
  access_log logs/main.log;
  server {
    listen 127.0.0.1:%PORT%;
    server_name localhost;
    location /plain/ { return 200 "hello"; }
    location /json/ { access_log logs/json.log j; access_log logs/raw.log raw; return 200 "j"; }
    location /off/ { access_log off; return 200 "off"; }
    location /cond/ { access_log logs/cond.log combined if=$arg_log; return 200 "c"; }
    location /bytes/ { access_log logs/bytes.log bytes; return 200 "0123456789"; }
    location /esc/ { access_log logs/esc.log esc; return 200 "e"; }
    location /buf/ { access_log logs/buf.log combined buffer=64k flush=200ms; return 200 "b"; }
    location /reopen/ { access_log logs/reopen.log bytes; return 200 "r"; }
    location /sync/ { access_log logs/sync.log bytes; return 200 "s"; }
  }
}
`;

before(async () => { w = await startWithLogs(CONF); });
after(async () => { await w.stop(); });

test('combined: exact shape', async () => {
  await request(w.port, '/plain/x?a=1', { headers: ['User-Agent: test-agent/1.0', 'Referer: http://ref.example/'] });
  const [line] = await waitLines(log('main.log'), 1);
  const m = /^127\.0\.0\.1 - - \[(\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "GET \/plain\/x\?a=1 HTTP\/1\.1" 200 5 "http:\/\/ref\.example\/" "test-agent\/1\.0"$/.exec(line);
  assert.ok(m, line);
});

test('combined: missing headers and remote_user are "-"; basic auth user shown', async () => {
  await request(w.port, '/plain/u', { headers: ['Authorization: Basic ' + Buffer.from('bob:pw').toString('base64')] });
  const lines = await waitLines(log('main.log'), 2);
  assert.match(lines[1], /^127\.0\.0\.1 - bob \[.*\] "GET \/plain\/u HTTP\/1\.1" 200 5 "-" "-"$/);
});

test('escape=json and escape=none; not found is empty', async () => {
  await request(w.port, '/json/', { headers: ['User-Agent: a"b\\c\tdé', 'X-Raw: r"\\'] });
  const [j] = await waitLines(log('json.log'), 1);
  assert.equal(j, '{"uri":"/json/","ua":"a\\"b\\\\c\\td\xc3\xa9","none":"","status":200}');
  const [raw] = await waitLines(log('raw.log'), 1);
  assert.equal(raw, 'r"\\||');
});

test('default escaping: \\xHH for ", \\, controls and high bytes', async () => {
  await request(w.port, '/esc/', { headers: ['X-Esc: a"b\\c\td\xe9'] });
  const [line] = await waitLines(log('esc.log'), 1);
  assert.equal(line, 'a\\x22b\\x5Cc\\x09d\\xC3\\xA9|-');
});

test('access_log off in a location; others inherit the http one', async () => {
  const before = (await waitLines(log('main.log'), 2)).length;
  await request(w.port, '/off/');
  await request(w.port, '/plain/after-off');
  const lines = await waitLines(log('main.log'), before + 1);
  assert.equal(lines.length, before + 1);
  assert.match(lines[lines.length - 1], /after-off/);
  // /json/ has its own logs and does not write the inherited one.
  assert.ok(!lines.some((l) => l.includes('/json/')));
});

test('if= condition', async () => {
  await request(w.port, '/cond/a');
  await request(w.port, '/cond/b?log=0');
  await request(w.port, '/cond/c?log=1');
  // Lines are written in order: once /cond/c's is there, one for /cond/a or /cond/b would be before it.
  const lines = await waitLines(log('cond.log'), 1);
  assert.match(lines[0], /\/cond\/c\?log=1/);
  assert.equal(readFileSync(log('cond.log'), 'latin1').trim().split('\n').length, 1);
});

test('byte counts: bytes_sent = head + body, body_bytes_sent, request_length', async () => {
  const req = 'GET /bytes/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
  const ex = await exchange(w.port, req);
  const [line] = await waitLines(log('bytes.log'), 1);
  const [status, sent, body, reqLen] = line.split(' ');
  assert.equal(status, '200');
  assert.equal(Number(sent), ex.raw.length);
  assert.equal(body, '10');
  assert.equal(Number(reqLen), req.length);
});

test('byte counts per request on a keep-alive connection', async () => {
  const one = 'GET /bytes/ HTTP/1.1\r\nHost: localhost\r\n\r\n';
  const ex = await exchange(w.port, [one, one.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')], { gapMs: 50 });
  assert.equal(ex.responses.length, 2);
  const lines = await waitLines(log('bytes.log'), 3);
  const a = Number(lines[1].split(' ')[1]);
  const b = Number(lines[2].split(' ')[1]);
  assert.equal(a + b, ex.raw.length);
  assert.equal(lines[1].split(' ')[2], '10');
  assert.equal(lines[2].split(' ')[2], '10');
});

test('buffer= holds lines until flush=', async () => {
  await request(w.port, '/buf/');
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(!existsSync(log('buf.log')) || readFileSync(log('buf.log'), 'latin1') === '');
  const lines = await waitLines(log('buf.log'), 1, 2000);
  assert.equal(lines.length, 1);
});

test('reopen: after a rename, the next line goes to a new file', async () => {
  await request(w.port, '/reopen/1');
  await waitLines(log('reopen.log'), 1);
  renameSync(log('reopen.log'), log('reopen.log.1'));
  await request(w.port, '/reopen/2');
  await waitLines(log('reopen.log.1'), 2);
  w.rt.reopenLogs();
  await request(w.port, '/reopen/3');
  const fresh = await waitLines(log('reopen.log'), 1);
  assert.equal(fresh.length, 1);
  assert.equal(readFileSync(log('reopen.log.1'), 'latin1').trim().split('\n').length, 2);
});

test('the line is in the file before the connection closes, as nginx writes it', async () => {
  for (let i = 1; i <= 5; i++) {
    const seen = await new Promise<number>((resolve, reject) => {
      const sock = connect(w.port, '127.0.0.1', () => sock.end('GET /sync/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'));
      sock.resume();
      sock.on('error', reject);
      // At the server's FIN, read at once: no waiting for a flush.
      sock.on('end', () => resolve(readFileSync(log('sync.log'), 'latin1').split('\n').filter(Boolean).length));
    });
    assert.equal(seen, i);
  }
});
