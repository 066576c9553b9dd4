// proxy_buffering with a temp file: a slow client does not hold the upstream;
// proxy_max_temp_file_size 0 keeps nginx's "no temp file" behaviour; the file
// never outlives the response.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import test from 'node:test';
import { sleep, startProxy } from '../helpers/proxy-harness.js';

const SIZE = 24 * 1024 * 1024;
const body = Buffer.alloc(SIZE, 'abcdefghijklmnopqrstuvwxyz');
const digest = createHash('sha256').update(body).digest('hex');

async function bigUpstream(): Promise<{ server: Server; port: number; finishedAt: () => number }> {
  let finished = 0;
  const server = createServer((_req, res) => {
    res.setHeader('Content-Length', String(SIZE));
    res.on('finish', () => { finished = Date.now(); });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, finishedAt: () => finished };
}

/** Sends a GET, reads nothing for `pauseMs`, then reads everything; resolves with the body hash. */
function slowClient(port: number, pauseMs: number): Promise<{ hash: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    sock.pause();
    const hash = createHash('sha256');
    let head = true;
    let pending = Buffer.alloc(0);
    let bytes = 0;
    sock.on('connect', () => {
      sock.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      setTimeout(() => sock.resume(), pauseMs);
    });
    sock.on('data', (d: Buffer) => {
      if (head) {
        pending = Buffer.concat([pending, d]);
        const end = pending.indexOf('\r\n\r\n');
        if (end === -1) return;
        head = false;
        d = pending.subarray(end + 4);
      }
      bytes += d.length;
      hash.update(d);
    });
    sock.on('close', () => resolve({ hash: hash.digest('hex'), bytes }));
    sock.on('error', reject);
  });
}

for (const spool of [true, false]) {
  test(`a slow client ${spool ? 'does not hold' : 'holds (proxy_max_temp_file_size 0)'} the upstream`, async () => {
    const up = await bigUpstream();
    const w = await startProxy(`server { listen 127.0.0.1:%PORT%; access_log off;
      location / { proxy_pass http://127.0.0.1:${up.port}; ${spool ? '' : 'proxy_max_temp_file_size 0;'} } }`);
    try {
      const start = Date.now();
      const client = slowClient(w.port, 1500);
      await sleep(1200);
      const upstreamDone = up.finishedAt() !== 0 && up.finishedAt() - start < 1200;
      assert.equal(upstreamDone, spool, spool ? 'the upstream finished while the client did not read' : 'the upstream waits for the client');
      const got = await client;
      assert.equal(got.bytes, SIZE);
      assert.equal(got.hash, digest);
      const dir = join(w.prefix, 'proxy_temp');
      assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], []);
    } finally {
      await w.stop();
      await new Promise<void>((r) => { up.server.closeAllConnections(); up.server.close(() => r()); });
    }
  });
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

test('a client gone mid-spool: nothing left behind, the next request is served', async () => {
  const fdsBefore = openFds();
  const up = await bigUpstream();
  const w = await startProxy(`server { listen 127.0.0.1:%PORT%; access_log off;
    location / { proxy_pass http://127.0.0.1:${up.port}; } }`);
  try {
    const sock = connect(w.port, '127.0.0.1');
    sock.pause();
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await sleep(800);
    sock.destroy();
    await sleep(200);
    const again = await slowClient(w.port, 0);
    assert.equal(again.hash, digest);
    const dir = join(w.prefix, 'proxy_temp');
    assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], []);
  } finally {
    await w.stop();
    await new Promise<void>((r) => { up.server.closeAllConnections(); up.server.close(() => r()); });
  }
  await sleep(100);
  assert.equal(openFds(), fdsBefore, 'no file descriptor (spool file or socket) left open');
});
