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
import { startProxy, type ProxyWeir } from '../helpers/proxy-harness.js';
import { pollUntil, WAIT_MS } from '../helpers/wait.js';

const SIZE = 24 * 1024 * 1024;
const body = Buffer.alloc(SIZE, 'abcdefghijklmnopqrstuvwxyz');
const digest = createHash('sha256').update(body).digest('hex');

interface BigUpstream { server: Server; port: number; finished: () => boolean }

async function bigUpstream(): Promise<BigUpstream> {
  let finished = false;
  const server = createServer((_req, res) => {
    res.setHeader('Content-Length', String(SIZE));
    // 'finish': the whole body left node for the kernel, so weir has taken all but the
    // loopback buffers' worth (a few MB of the 24).
    res.on('finish', () => { finished = true; });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, finished: () => finished };
}

const closeUpstream = (up: BigUpstream): Promise<void> =>
  new Promise<void>((r) => { up.server.closeAllConnections(); up.server.close(() => r()); });

interface SlowClient {
  /** Bytes of body received so far. */
  readonly bytes: () => number;
  /** Starts reading; resolves with the body's hash and size at the close. */
  readAll(): Promise<{ hash: string; bytes: number }>;
  destroy(): void;
}

/** Sends a GET and reads nothing until readAll(). */
async function slowClient(port: number, path = '/'): Promise<SlowClient> {
  const sock = connect(port, '127.0.0.1');
  sock.pause();
  await new Promise((r) => sock.once('connect', r));
  sock.write(`GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
  const hash = createHash('sha256');
  let head = true;
  let pending = Buffer.alloc(0);
  let bytes = 0;
  const closed = new Promise<void>((resolve, reject) => { sock.on('close', () => resolve()); sock.on('error', reject); });
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
  return {
    bytes: () => bytes,
    async readAll() { sock.resume(); await closed; return { hash: hash.digest('hex'), bytes }; },
    destroy: () => sock.destroy(),
  };
}

const noTempFiles = (w: ProxyWeir): void => {
  const dir = join(w.prefix, 'proxy_temp');
  assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], []);
};

test('a slow client does not hold the upstream', async () => {
  const up = await bigUpstream();
  const w = await startProxy(`server { listen 127.0.0.1:%PORT%; access_log off;
    location / { proxy_pass http://127.0.0.1:${up.port}; } }`);
  try {
    const client = await slowClient(w.port);
    // The upstream gets rid of its 24 MB while the client reads nothing: weir spooled it.
    await pollUntil('the upstream to finish while the client reads nothing', up.finished, (v) => v);
    assert.equal(client.bytes(), 0);
    const got = await client.readAll();
    assert.equal(got.bytes, SIZE);
    assert.equal(got.hash, digest);
    noTempFiles(w);
  } finally {
    await w.stop();
    await closeUpstream(up);
  }
});

test('a slow client holds the upstream (proxy_max_temp_file_size 0)', async () => {
  // The control: the same download through a location that spools, side by side. Once
  // its upstream has finished, an upstream that nothing held would have finished too.
  const held = await bigUpstream();
  const control = await bigUpstream();
  const w = await startProxy(`server { listen 127.0.0.1:%PORT%; access_log off;
    location /held { proxy_pass http://127.0.0.1:${held.port}; proxy_max_temp_file_size 0; }
    location /control { proxy_pass http://127.0.0.1:${control.port}; } }`);
  try {
    const heldClient = await slowClient(w.port, '/held');
    const controlClient = await slowClient(w.port, '/control');
    await pollUntil('the control upstream to finish', control.finished, (v) => v);
    assert.equal(held.finished(), false, 'the upstream finished while the client did not read');
    const got = await heldClient.readAll();
    assert.equal(got.bytes, SIZE);
    assert.equal(got.hash, digest);
    assert.equal(held.finished(), true);
    assert.equal((await controlClient.readAll()).hash, digest);
    noTempFiles(w);
  } finally {
    await w.stop();
    await closeUpstream(held);
    await closeUpstream(control);
  }
});

const openFds = (): number => readdirSync('/proc/self/fd').length;

test('a client gone mid-spool: nothing left behind, the next request is served', async () => {
  const fdsBefore = openFds();
  const up = await bigUpstream();
  const w = await startProxy(`server { listen 127.0.0.1:%PORT%; access_log off;
    location / { proxy_pass http://127.0.0.1:${up.port}; } }`);
  try {
    const gone = await slowClient(w.port);
    // The body is in weir's spool (the upstream is done, the client has read nothing).
    await pollUntil('the upstream to finish into the spool', up.finished, (v) => v);
    gone.destroy();
    const again = await (await slowClient(w.port)).readAll();
    assert.equal(again.hash, digest);
    noTempFiles(w);
  } finally {
    await w.stop();
    await closeUpstream(up);
  }
  // Sockets and the spool file close asynchronously after stop(): wait for the count.
  await pollUntil('no file descriptor (spool file or socket) left open', openFds, (n) => n <= fdsBefore, WAIT_MS, (n) => `${n} open, ${fdsBefore} before`);
});
