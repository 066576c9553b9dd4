/**
 * WebSocket (and other upgrades) through the proxy with nginx's recipe:
 *   map $http_upgrade $connection_upgrade { default upgrade; '' close; }
 *   proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;
 * The tunnel is byte-transparent, so the fixture just echoes raw bytes after
 * its 101. Covers: echo both ways (and bytes pipelined after the upgrade
 * request), client FIN and upstream FIN delivered after pending bytes, idle
 * tunnel closed after proxy_read_timeout, an upstream refusing the upgrade
 * (200/426: no tunnel, pipelined bytes never served: R28/F15), and open/close
 * cycles leaving no socket behind.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { leakSnapshot, sleep, startProxy, trackUnhandled, waitAccess, type ProxyWeir } from '../helpers/proxy-harness.js';
import { rawClient, readHead, startScriptUpstream, type RawClient, type ScriptUpstream } from '../helpers/proxy-fixtures.js';
import { until, WAIT_MS } from '../helpers/wait.js';

const unhandled = trackUnhandled();

const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: fixture\r\n\r\n';
const PUSH = Buffer.alloc(2 * 1024 * 1024, 'p');

interface Seen { target: string; head: string; after: Buffer[]; ended: boolean; closed: boolean }
const seen: Seen[] = [];

let up: ScriptUpstream;
let w: ProxyWeir;
let checkLeaks: (ms?: number) => Promise<string>;

function onUpstream(sock: Socket): void {
  void readHead(sock).then(({ head, rest }) => {
    if (sock.destroyed) return;
    const target = head.split('\r\n')[0].split(' ')[1] ?? '';
    const s: Seen = { target, head, after: [], ended: false, closed: false };
    seen.push(s);
    sock.on('close', () => { s.closed = true; });
    // A refused upgrade leaves an ordinary keep-alive connection: serve the next request on it too.
    if (target.startsWith('/ws/refuse200')) { sock.write('HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nno-tunl'); onUpstream(sock); return; }
    if (target.startsWith('/ws/refuse426')) { sock.write('HTTP/1.1 426 Upgrade Required\r\nContent-Length: 4\r\n\r\n426!'); onUpstream(sock); return; }
    sock.write(SWITCH);
    const record = (d: Buffer): void => { s.after.push(d); };
    if (rest.length > 0) record(rest);
    sock.on('data', record);
    sock.on('end', () => {
      s.ended = true;
      // Answer after the client's FIN (half-close): the client must still get it.
      if (target.startsWith('/ws/echo')) sock.end('got-fin');
    });
    if (target.startsWith('/ws/echo')) {
      if (rest.length > 0) sock.write(rest);
      sock.on('data', (d: Buffer) => sock.write(d));
      sock.write('hello-from-upstream|');
    } else if (target.startsWith('/ws/serverfin')) {
      sock.write(PUSH);
      sock.end('|end-of-stream');
    }
    // /idle/...: silence.
  });
}

before(async () => {
  checkLeaks = leakSnapshot();
  up = await startScriptUpstream(onUpstream, { allowHalfOpen: true });
  w = await startProxy(`
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  log_format t '$request_method $request_uri $status $bytes_sent $body_bytes_sent $sent_http_connection';
  upstream ws { server ${up.addr} max_fails=0; }
  server {
    listen 127.0.0.1:%PORT%;
    server_name localhost;
    access_log %PREFIX%/access.log t;
    location /ws/ {
      proxy_pass http://ws;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 5s;
    }
    location /idle/ {
      proxy_pass http://ws;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 300ms;
    }
    location / { return 200 "served $uri"; }
  }`);
});

after(async () => {
  await w.stop();
  await up.stop();
  const left = await checkLeaks();
  assert.equal(left, '', `handles left: ${left}`);
  assert.deepEqual(unhandled.take(), []);
});

const upgradeReq = (path: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/** Opens a tunnel: the client has received the 101 head. */
async function open(path: string, pipelined = ''): Promise<RawClient> {
  const c = await rawClient(w.port);
  c.write(upgradeReq(path) + pipelined);
  await c.waitFor(/\r\n\r\n/);
  return c;
}

const seenFor = async (path: string): Promise<Seen> => {
  for (let i = 0; i < 100; i++) {
    const s = seen.find((x) => x.target === path);
    if (s) return s;
    await sleep(10);
  }
  throw new Error(`the upstream never saw ${path}`);
};

/** Body bytes after the first CRLFCRLF. */
const afterHead = (c: RawClient): string => { const t = c.text(); return t.slice(t.indexOf('\r\n\r\n') + 4); };

/** The 101 head's bytes as the client got them (the access-log test compares). */
let tunnelHeadLength = 0;

test('echo both ways; the upgrade request goes out with Upgrade/Connection: upgrade; bytes pipelined after it reach the upstream', async () => {
  const c = await open('/ws/echo/1', 'early-bytes|');
  try {
    const head = c.text().slice(0, c.text().indexOf('\r\n\r\n'));
    tunnelHeadLength = head.length + 4;
    assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\nServer: weir\/[^\r]+\r\nDate: /, 'a head as any other');
    assert.equal(head.match(/\r\nConnection:/gi)?.length, 1, 'only the header filter\'s Connection');
    assert.match(head, /\r\nUpgrade: websocket/i);
    assert.match(head, /\r\nConnection: upgrade/i);
    assert.match(head, /\r\nSec-WebSocket-Accept: fixture/i);
    const s = await seenFor('/ws/echo/1');
    assert.match(s.head, /\r\nUpgrade: websocket(\r\n|$)/);
    assert.match(s.head, /\r\nConnection: upgrade(\r\n|$)/);
    assert.match(s.head, /\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==/);
    await c.waitFor(/hello-from-upstream\|/);
    c.write('ping-1|');
    await c.waitFor(/ping-1\|/);
    c.write(Buffer.alloc(300_000, 'z'));
    await until('300,000 echoed bytes', () => c.data().filter((b) => b === 0x7a).length >= 300_000);
    assert.equal(c.data().filter((b) => b === 0x7a).length, 300_000);
    assert.ok(afterHead(c).includes('early-bytes|'), 'the pipelined bytes were not echoed');
    assert.ok(Buffer.concat(s.after).toString().startsWith('early-bytes|ping-1|'), Buffer.concat(s.after).toString().slice(0, 40));
  } finally {
    c.destroy();
  }
});

test('the access log shows 101 for a tunnel, however it ended', {
}, async () => {
  const lines = await waitAccess(w, 1);
  const line = lines.find((l) => l.startsWith('GET /ws/echo/1 101 '));
  assert.ok(line, lines.join('\n'));
  const [, , , sent, body, connection] = line.split(' ');
  assert.equal(connection, 'upgrade');
  assert.equal(Number(sent) - Number(body), tunnelHeadLength, '$body_bytes_sent leaves out the 101 head');
});

test('client FIN: pending bytes reach the upstream, then its FIN; the upstream can still answer', async () => {
  const c = await open('/ws/echo/fin');
  await c.waitFor(/hello-from-upstream\|/);
  c.write('last-bytes|');
  c.sock.end();
  const s = await seenFor('/ws/echo/fin');
  assert.ok(await c.waitEnd(2000), 'the tunnel did not end');
  assert.ok(s.ended, 'the upstream did not get the FIN');
  assert.equal(Buffer.concat(s.after).toString(), 'last-bytes|');
  assert.equal(afterHead(c), 'hello-from-upstream|last-bytes|got-fin');
  c.destroy();
  await until('the upstream side to close', () => s.closed);
  assert.ok(s.closed, 'the upstream connection is still open');
});

test('upstream FIN: every pending byte (2 MB to a paused client) is delivered before the client sees the end', async () => {
  const c = await rawClient(w.port);
  try {
    c.write(upgradeReq('/ws/serverfin'));
    c.sock.pause();
    await sleep(200);
    c.sock.resume();
    assert.ok(await c.waitEnd(4000), 'the client never saw the end');
    const body = afterHead(c);
    assert.equal(body.length, PUSH.length + '|end-of-stream'.length);
    assert.ok(body.endsWith('p|end-of-stream'));
  } finally {
    c.destroy();
  }
});

test('idle tunnel closed after proxy_read_timeout (300 ms), both sides', async () => {
  const t0 = Date.now();
  const c = await open('/idle/x');
  assert.match(c.text(), /^HTTP\/1\.1 101 /);
  const s = await seenFor('/idle/x');
  assert.ok(await c.waitEnd(2500), 'the idle tunnel was never closed');
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 250 && elapsed < 1500, `closed after ${elapsed} ms`);
  // weir closed its upstream socket: the fixture (allowHalfOpen) sees the FIN.
  await until('the upstream side to get the FIN', () => s.ended);
  assert.ok(s.ended, 'the upstream side of the tunnel is still open');
  await w.waitLog(/upstream timed out \(110: Connection timed out\) while proxying upgraded connection/);
  c.destroy();
});

test('activity keeps a tunnel open past proxy_read_timeout', async () => {
  const c = await open('/idle/busy');
  try {
    for (let i = 0; i < 6; i++) { await sleep(120); c.write('.'); }
    assert.ok(!c.ended, 'closed while bytes were flowing');
  } finally {
    c.destroy();
  }
});

test('R28: the upstream refuses the upgrade (200 / 426): no tunnel; the pipelined bytes are never tunnelled nor sent upstream', async () => {
  for (const [path, status, body] of [['/ws/refuse200', 200, 'no-tunl'], ['/ws/refuse426', 426, '426!']] as const) {
    const c = await rawClient(w.port);
    try {
      c.write(upgradeReq(path) + 'GET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n');
      await c.waitFor(new RegExp(`\\r\\n\\r\\n${body}`));
      // weir answers the pipelined request itself once the refusal is done.
      await c.waitFor(/served \/admin$/, WAIT_MS);
      const text = c.text();
      assert.match(text, new RegExp(`^HTTP/1\\.1 ${status} `));
      // R28: the pipelined bytes are parsed as HTTP by weir itself (here: `location /`
      // answers "served /admin"), never sent to the upstream.
      assert.equal(text.match(/HTTP\/1\.1 \d{3}/g)?.length, 2, text);
      assert.match(text, /\r\n\r\nserved \/admin$/);
      const s = await seenFor(path);
      assert.equal(s.after.length, 0, 'bytes were tunnelled');
      assert.ok(!seen.some((x) => x.target === '/admin'), 'the pipelined request reached the upstream');
    } finally {
      c.destroy();
    }
  }
});

test('10 open/close cycles (either side closing) leave no socket behind', async () => {
  // Settle the earlier tests' connections first.
  await sleep(100);
  const leaks = leakSnapshot();
  const openBefore = up.open;
  for (let i = 0; i < 10; i++) {
    if (i % 3 === 2) {
      // The upstream closes.
      const c = await open(`/ws/serverfin/cycle${i}`);
      assert.ok(await c.waitEnd(3000));
      c.destroy();
      continue;
    }
    const c = await open(`/ws/echo/cycle${i}`);
    await c.waitFor(/hello-from-upstream\|/);
    c.write(`m${i}|`);
    await c.waitFor(new RegExp(`m${i}\\|`));
    if (i % 3 === 0) c.destroy(); // the client vanishes
    else { c.sock.end(); assert.ok(await c.waitEnd(1000)); c.destroy(); } // the client half-closes
  }
  await until('the upstream connection to close', () => up.open <= openBefore);
  assert.equal(up.open, openBefore, 'upstream tunnel sockets left open');
  const left = await leaks(2000);
  assert.equal(left, '', `handles left: ${left}`);
});
