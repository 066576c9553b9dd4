// proxy_request_buffering off as nginx: the body bytes that came with the head
// leave with the upstream request head in one write; what one read decoded of a
// chunked body goes on as one chunk; $request_body shows a streamed body that
// fit in client_body_buffer_size (in add_header, and after error_page).
import assert from 'node:assert/strict';
import { connect, createServer, Socket, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { startWeir, type Weir } from '../helpers/raw-http.js';

let w: Weir;
let backend: Server;
let backendPort = 0;
/** The reads of the backend's last connection, each as received. */
let reads: string[] = [];

before(async () => {
  backend = createServer((s: Socket) => {
    reads = [];
    let all = '';
    s.on('data', (d) => {
      reads.push(d.toString('latin1'));
      all += d.toString('latin1');
      const headEnd = all.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      const length = /content-length: (\d+)/i.exec(all.slice(0, headEnd));
      const done = length ? all.length - headEnd - 4 >= Number(length[1]) : all.endsWith('0\r\n\r\n');
      if (!done) return;
      const status = all.startsWith('POST /404') ? '404 Not Found' : '200 OK';
      s.end(`HTTP/1.1 ${status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok`);
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  backendPort = (backend.address() as { port: number }).port;
  w = await startWeir(`http { access_log off; server { listen 127.0.0.1:%PORT%;
    proxy_request_buffering off;
    location / { proxy_pass http://127.0.0.1:${backendPort}; add_header X-Body "$request_body"; client_body_buffer_size 2k; }
    location /small { proxy_pass http://127.0.0.1:${backendPort}; add_header X-Body "[$request_body]"; client_body_buffer_size 8; }
    location /error_page { proxy_pass http://127.0.0.1:${backendPort}/404; proxy_intercept_errors on; error_page 404 /echo; }
    location /echo { return 200 "echo:$request_body"; }
  } }`);
});

after(async () => {
  await w.stop();
  await new Promise((r) => backend.close(r));
});

/** Sends `parts` with pauses between them; resolves with the whole answer. */
function send(parts: string[], gapMs = 150): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(w.port, '127.0.0.1');
    let got = '';
    sock.on('data', (d) => { got += d.toString('latin1'); });
    sock.on('close', () => resolve(got));
    sock.on('error', reject);
    sock.on('connect', async () => {
      for (const p of parts) {
        sock.write(p);
        await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

const head = (path: string, framing: string): string =>
  `POST ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${framing}\r\n\r\n`;

test('the preread body leaves with the request head; the rest follows as it comes', async () => {
  const answer = await send([head('/p', 'Content-Length: 10') + '01234', '56789']);
  assert.match(answer, /^HTTP\/1\.1 200/);
  assert.match(reads[0], /^POST \/p HTTP\/1\.1\r\n[\s\S]*\r\n\r\n01234$/, JSON.stringify(reads));
  assert.equal(reads[1], '56789');
});

test('a chunked body: what one read decoded goes on as one chunk', async () => {
  const answer = await send([head('/c', 'Transfer-Encoding: chunked') + '5\r\n01234\r\n4\r\nmany\r\n', '5\r\n56789\r\n4\r\nmany\r\n0\r\n\r\n']);
  assert.match(answer, /^HTTP\/1\.1 200/);
  assert.ok(reads[0].endsWith('\r\n\r\n9\r\n01234many\r\n'), JSON.stringify(reads));
  assert.equal(reads.slice(1).join(''), '9\r\n56789many\r\n0\r\n\r\n');
});

test('the last data and the last chunk leave in one write, as nginx sends one chain', async () => {
  // The peer may read between two writes (nginx-tests' backends do); which write syscalls
  // weir makes is seen at the socket's own write hooks.
  const writes: string[] = [];
  const proto = Socket.prototype as unknown as {
    _write: (this: Socket, chunk: Buffer | string, enc: BufferEncoding, cb: () => void) => void;
    _writev: (this: Socket, chunks: Array<{ chunk: Buffer | string }>, cb: () => void) => void;
  };
  const { _write, _writev } = proto;
  proto._write = function (chunk, enc, cb) {
    if (this.remotePort === backendPort) writes.push(chunk.toString());
    return _write.call(this, chunk, enc, cb);
  };
  proto._writev = function (chunks, cb) {
    if (this.remotePort === backendPort) writes.push(chunks.map((c) => c.chunk.toString()).join(''));
    return _writev.call(this, chunks, cb);
  };
  try {
    const answer = await send([head('/c', 'Transfer-Encoding: chunked'), '5\r\n56789\r\n0\r\n\r\n'], 50);
    assert.match(answer, /^HTTP\/1\.1 200/);
  } finally {
    Object.assign(proto, { _write, _writev });
  }
  assert.equal(writes.length, 2, JSON.stringify(writes));
  assert.match(writes[0]!, /^POST \/c /);
  assert.equal(writes[1], '5\r\n56789\r\n0\r\n\r\n');
});

test('$request_body shows a streamed body that fit in client_body_buffer_size, else nothing', async () => {
  const body = '0123456789'.repeat(128);
  const fits = await send([head('/b', `Content-Length: ${body.length}`) + body], 0);
  assert.ok(fits.includes(`X-Body: ${body}\r\n`), fits.slice(0, 300));
  const big = await send([head('/small', 'Content-Length: 10') + '0123456789'], 0);
  assert.match(big, /X-Body: \[\]\r\n/);
});

test('$request_body of a streamed body after error_page', async () => {
  const answer = await send([head('/error_page', 'Content-Length: 10') + '0123456789'], 0);
  assert.match(answer, /^HTTP\/1\.1 404/); // error_page without =code keeps the status
  assert.ok(answer.endsWith('echo:0123456789'), answer);
});
