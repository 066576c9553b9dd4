/**
 * The client connection as weir's own HTTP/1 server drives it (h1/): the
 * lingering close after an early answer, its bounds, pipelined requests
 * split at every byte, and a graceful stop that still serves a connection
 * that was accepted but had not sent its request yet.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { parseResponses, startWeir, type Weir } from '../helpers/raw-http.js';
import { until } from '../helpers/wait.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let w: Weir;
before(async () => {
  w = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT%;
      client_max_body_size 1k;
      lingering_timeout 300ms;
      lingering_time 1s;
      location / { return 200 "ok:$uri"; }
      location /upload { proxy_pass http://127.0.0.1:9; }
      location /early { proxy_pass http://127.0.0.1:%PORT%/answer; proxy_request_buffering off; }
      location /answer { return 200 "early"; }
    } }`);
});
after(async () => { await w.stop(); });

interface Client {
  sock: Socket;
  data(): Buffer;
  /** The server's FIN arrived. */
  ended(): boolean;
  closed(): boolean;
  closedAt(): number;
}

/** A client that, like a browser still uploading, keeps its side open after the server's FIN. */
function client(): Promise<Client> {
  return new Promise((resolve, reject) => {
    const sock = connect({ port: w.port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let closedAt = 0;
    let ended = false;
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => { ended = true; });
    sock.on('error', () => {});
    sock.on('close', () => { closedAt = Date.now(); });
    sock.once('connect', () => resolve({
      sock,
      data: () => Buffer.concat(chunks),
      ended: () => ended,
      closed: () => closedAt !== 0,
      closedAt: () => closedAt,
    }));
    sock.once('error', reject);
  });
}

test('an early 413 with a large body still being sent arrives whole: the close lingers instead of resetting', async () => {
  const c = await client();
  c.sock.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 4000000\r\n\r\n');
  // Keep sending well after the answer: a plain close would turn into a reset.
  const piece = Buffer.alloc(64 * 1024, 0x61);
  for (let i = 0; i < 20 && !c.closed(); i++) {
    c.sock.write(piece);
    await sleep(10);
  }
  await until('weir to end the connection', () => c.ended());
  const rs = parseResponses(c.data());
  assert.equal(rs.length, 1);
  assert.equal(rs[0].status, 413);
  assert.equal(rs[0].headers.connection, 'close');
  assert.match(rs[0].body.toString(), /413 Request Entity Too Large/);
  assert.ok(c.ended(), 'the server ended the connection');
  assert.ok(!c.closed(), 'the bytes sent after the answer were taken, not reset');
  c.sock.destroy();
});

test('lingering is bounded: a client that keeps sending is cut after lingering_time', async () => {
  const c = await client();
  const started = Date.now();
  c.sock.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n');
  // A trickle faster than lingering_timeout, for longer than lingering_time.
  while (!c.closed() && Date.now() - started < 4000) {
    c.sock.write('x'.repeat(100));
    await sleep(100);
  }
  assert.ok(c.closed(), 'still open after 4 s');
  const lasted = c.closedAt() - started;
  assert.ok(lasted >= 900 && lasted < 2500, `closed after ${lasted} ms`);
  assert.equal(parseResponses(c.data())[0]?.status, 413);
  c.sock.destroy();
});

test('lingering ends when the client goes quiet for lingering_timeout: a late byte is then refused', async () => {
  const early = await client();
  early.sock.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\nabc');
  await sleep(100);
  early.sock.write('still lingering');
  await sleep(150);
  assert.ok(!early.closed(), 'a byte within lingering_timeout is taken');
  early.sock.destroy();

  const late = await client();
  late.sock.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\nabc');
  await sleep(600);
  // The first late byte draws a reset, the next write fails on it.
  for (let i = 0; i < 50 && !late.closed(); i++) { late.sock.write('too late'); await sleep(20); }
  assert.ok(late.closed(), 'the connection was gone after lingering_timeout');
  assert.equal(parseResponses(late.data())[0]?.status, 413);
  late.sock.destroy();
});

test('three pipelined requests split at every byte boundary get three answers in order', async () => {
  const wire = Buffer.from(
    'GET /a HTTP/1.1\r\nHost: a\r\n\r\n'
    + 'GET /b HTTP/1.1\r\nHost: a\r\nX-Long: ' + 'v'.repeat(300) + '\r\n\r\n'
    + 'GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 'latin1');
  for (const step of [1, 2, 7, 31, 64]) {
    const c = await client();
    for (let i = 0; i < wire.length; i += step) {
      c.sock.write(wire.subarray(i, i + step));
      if (step < 8 && i % 40 === 0) await sleep(1);
    }
    await until('weir to end the connection', () => c.ended());
    const bodies = parseResponses(c.data()).map((r) => r.body.toString());
    assert.deepEqual(bodies, ['ok:/a', 'ok:/b', 'ok:/c'], `step ${step}`);
    assert.ok(c.ended(), `step ${step}: ended after Connection: close`);
    c.sock.destroy();
  }
});

test('graceful stop: an accepted connection that has not sent its request yet is still served, with Connection: close', async () => {
  const own = await startWeir(`http { access_log off; server { listen 127.0.0.1:%PORT%; location / { return 200 "late"; } } }`);
  const sock = connect(own.port, '127.0.0.1');
  const chunks: Buffer[] = [];
  sock.on('data', (d) => chunks.push(d));
  sock.on('error', () => {});
  await new Promise((r) => sock.once('connect', r));
  await sleep(50);
  const stopped = own.rt.stop(true);
  await sleep(50);
  sock.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await stopped;
  const rs = parseResponses(Buffer.concat(chunks));
  assert.equal(rs[0]?.body.toString(), 'late');
  assert.equal(rs[0]?.headers.connection, 'close');
  sock.destroy();
  await own.stop();
});

test('client_header_timeout on a connection that sent nothing: closed without an answer (nginx)', async () => {
  const own = await startWeir(`http { access_log off; client_header_timeout 300ms;
    server { listen 127.0.0.1:%PORT%; location / { return 200 "x"; } } }`);
  try {
    const sock = connect(own.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', () => {});
    const started = Date.now();
    await new Promise((r) => sock.once('close', r));
    const lasted = Date.now() - started;
    assert.ok(lasted >= 250 && lasted < 1500, `closed after ${lasted} ms`);
    assert.equal(Buffer.concat(chunks).length, 0, 'nothing was sent');
  } finally {
    await own.stop();
  }
});

test('an answer that came before the body: the rest is dropped for lingering_timeout at most, then the connection closes', async () => {
  // The upstream answers at once (keep-alive) while the client has sent 5 of 100 body bytes and stops.
  const c = await client();
  const started = Date.now();
  c.sock.write('POST /early HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nhello');
  await until('weir to end the connection', () => c.ended());
  const rs = parseResponses(c.data());
  assert.equal(rs[0]?.body.toString(), 'early');
  assert.ok(c.ended(), 'weir closed the connection');
  const lasted = Date.now() - started;
  assert.ok(lasted < 2500, `closed after ${lasted} ms`);
  c.sock.destroy();
});
