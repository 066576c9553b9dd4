// HTTP/2 to clients: h2c with prior knowledge beside HTTP/1 on one port, ALPN h2 on TLS,
// requests through proxy_pass (GET, POST buffered and streamed, 100 concurrent streams on
// one session), GOAWAY on a graceful stop with the stream in flight finished, and the
// attack bounds (rapid reset, CONTINUATION flood, HPACK bomb, a window that never opens),
// each with the server still answering afterwards.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect as h2connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, test } from 'node:test';
import { startWeir, type Weir } from '../helpers/raw-http.js';
import { CertFactory } from '../helpers/tls-certs.js';

let backend: Server;
let backendPort = 0;
let w: Weir;
let tlsW: Weir;
let certs: CertFactory;
const seen: Array<{ url: string; headers: IncomingMessage['headers']; body: string }> = [];

before(async () => {
  backend = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      const delay = req.url?.startsWith('/slow') ? 300 : 0;
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': 'yes' });
        res.end(`backend ${req.method} ${req.url} ${body.length}:${body.slice(0, 20)}`);
      }, delay);
    });
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  backendPort = (backend.address() as { port: number }).port;
  w = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT%; http2 on; send_timeout 1s;
      location / { return 200 "plain $server_protocol $http2 $http_host\\n"; }
      location /p/ { proxy_pass http://127.0.0.1:${backendPort}/; }
      location /u/ { proxy_pass http://127.0.0.1:${backendPort}/; proxy_request_buffering off; }
      location /slow { proxy_pass http://127.0.0.1:${backendPort}; }
      location /big { return 200 "${'x'.repeat(3000)}"; }
      location /limit { client_max_body_size 10; proxy_pass http://127.0.0.1:${backendPort}/; }
    }
  }`);
  certs = new CertFactory();
  certs.selfSigned('site', 'h2.test');
  tlsW = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT% ssl; http2 on; server_name h2.test;
      ssl_certificate site.crt; ssl_certificate_key site.key;
      location / { return 200 "tls $server_protocol $http2 $ssl_protocol\\n"; }
    }
  }`, certs.files('site'));
});

after(async () => {
  await w?.stop();
  await tlsW?.stop();
  await new Promise<void>((resolve) => backend.close(() => resolve()));
});

interface H2Answer { status: number; headers: IncomingHttpHeaders; body: string }

function h2request(client: ClientHttp2Session, path: string, method = 'GET', body?: string | Buffer[]): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const req = client.request({ ':method': method, ':path': path });
    req.on('error', reject);
    let headers: IncomingHttpHeaders = {};
    req.on('response', (h) => { headers = h; });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks).toString() }));
    if (body === undefined) req.end();
    else if (typeof body === 'string') req.end(body);
    else {
      // a body in parts, some time apart: it is streamed, not sent at once
      let i = 0;
      const next = (): void => {
        if (i === body.length) { req.end(); return; }
        req.write(body[i++]);
        setTimeout(next, 20);
      };
      next();
    }
  });
}

function h2c(port: number): ClientHttp2Session {
  const c = h2connect(`http://127.0.0.1:${port}`);
  c.on('error', () => {});
  return c;
}

async function closeClient(c: ClientHttp2Session): Promise<void> {
  if (c.closed || c.destroyed) return;
  await new Promise<void>((resolve) => c.close(() => resolve()));
}

test('h2c with prior knowledge: a GET answered as HTTP/2.0, and HTTP/1.1 still served on the same port', async () => {
  const c = h2c(w.port);
  const a = await h2request(c, '/');
  assert.equal(a.status, 200);
  assert.equal(a.body, `plain HTTP/2.0 h2c 127.0.0.1:${w.port}\n`);
  assert.equal(a.headers.connection, undefined);
  assert.ok(a.headers.date);
  await closeClient(c);
  const h1 = await new Promise<string>((resolve) => {
    const s = netConnect(w.port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    let t = '';
    s.on('data', (d) => { t += d.toString(); });
    s.on('close', () => resolve(t));
  });
  assert.match(h1, /^HTTP\/1\.1 200/);
  assert.match(h1, /plain HTTP\/1\.1  x\n$/);
});

test('proxy_pass over h2: GET, and POST bodies buffered and streamed reach the backend', async () => {
  const c = h2c(w.port);
  const g = await h2request(c, '/p/get?a=1');
  assert.equal(g.status, 200);
  assert.equal(g.headers['x-backend'], 'yes');
  assert.equal(g.body, 'backend GET /get?a=1 0:');
  const got = seen.find((s) => s.url === '/get?a=1')!;
  assert.equal(got.headers.host, `127.0.0.1:${backendPort}`);
  const p = await h2request(c, '/p/post', 'POST', 'hello body');
  assert.equal(p.body, 'backend POST /post 10:hello body');
  assert.equal(seen.find((s) => s.url === '/post')!.headers['content-length'], '10');
  // no Content-Length, sent in parts: buffered, the backend gets a length; unbuffered, chunked
  const parts = ['one-', 'two-', 'three'].map((x) => Buffer.from(x));
  const b = await h2request(c, '/p/parts', 'POST', parts);
  assert.equal(b.body, 'backend POST /parts 13:one-two-three');
  assert.equal(seen.find((s) => s.url === '/parts')!.headers['content-length'], '13');
  const u = await h2request(c, '/u/stream', 'POST', parts.map((x) => Buffer.from(x)));
  assert.equal(u.body, 'backend POST /stream 13:one-two-three');
  assert.equal(seen.find((s) => s.url === '/stream')!.headers['transfer-encoding'], 'chunked');
  // client_max_body_size on a body of unknown length: 413
  const big = await h2request(c, '/limit/x', 'POST', [Buffer.from('0123456789'), Buffer.from('abc')]);
  assert.equal(big.status, 413);
  // and the session goes on
  assert.equal((await h2request(c, '/')).status, 200);
  await closeClient(c);
});

test('100 concurrent streams through the proxy on one session', async () => {
  const c = h2c(w.port);
  const all = await Promise.all(Array.from({ length: 100 }, (_, i) => h2request(c, `/p/many/${i}`)));
  for (let i = 0; i < 100; i++) {
    assert.equal(all[i]!.status, 200);
    assert.equal(all[i]!.body, `backend GET /many/${i} 0:`);
  }
  await closeClient(c);
});

test('ALPN on TLS: h2 chosen when offered, http/1.1 otherwise; $http2 is "h2"', async () => {
  const alpn = (protocols: string[]): Promise<string | false> => new Promise((resolve, reject) => {
    const s = tlsConnect({ port: tlsW.port, host: '127.0.0.1', servername: 'h2.test', rejectUnauthorized: false, ALPNProtocols: protocols }, () => {
      const p = s.alpnProtocol ?? false;
      s.destroy();
      resolve(p);
    });
    s.on('error', reject);
  });
  assert.equal(await alpn(['h2', 'http/1.1']), 'h2');
  assert.equal(await alpn(['http/1.1', 'h2']), 'h2');
  assert.equal(await alpn(['http/1.1']), 'http/1.1');
  const c = h2connect(`https://127.0.0.1:${tlsW.port}`, { servername: 'h2.test', rejectUnauthorized: false });
  c.on('error', () => {});
  const a = await h2request(c, '/');
  assert.equal(a.status, 200);
  assert.match(a.body, /^tls HTTP\/2\.0 h2 TLSv1\.3\n$/);
  await closeClient(c);
});

test('a server without http2 offers only http/1.1, and its cleartext port takes no preface', async () => {
  const plain = await startWeir(`http { access_log off; server { listen 127.0.0.1:%PORT%; return 200 "h1"; } }`);
  try {
    const t = await new Promise<string>((resolve) => {
      const s = netConnect(plain.port, '127.0.0.1', () => s.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
      let out = '';
      s.on('data', (d) => { out += d.toString('latin1'); });
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(out));
    });
    assert.match(t, /^HTTP\/1\.1 400/);
  } finally {
    await plain.stop();
  }
});

test('a stream whose Host names a server of the address with http2 off is answered 421; the session goes on', async () => {
  // The default server turns HTTP/2 on for the address; "off.test" has it off (ngx_http_set_virtual_server).
  const mixed = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT%; http2 on; server_name on.test; return 200 "on"; }
    server { listen 127.0.0.1:%PORT%; server_name off.test; http2 off; return 200 "off"; }
  }`);
  const c = h2c(mixed.port);
  try {
    const ask = (host: string): Promise<H2Answer> => new Promise((resolve, reject) => {
      const req = c.request({ ':method': 'GET', ':path': '/', ':authority': host });
      req.on('error', reject);
      let status = 0;
      req.on('response', (h) => { status = Number(h[':status']); });
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => resolve({ status, headers: {}, body: Buffer.concat(chunks).toString() }));
      req.end();
    });
    assert.equal((await ask('off.test')).status, 421);
    const on = await ask('on.test');
    assert.equal(on.status, 200);
    assert.equal(on.body, 'on');
  } finally {
    await closeClient(c);
    await mixed.stop();
  }
});

test('max_headers on a stream: the fields the client sent count, not :authority or the joined Cookie; one more is a 400', async () => {
  const limited = await startWeir(`http { access_log off; server { listen 127.0.0.1:%PORT%; http2 on; max_headers 3; return 200 "ok"; } }`);
  const c = h2c(limited.port);
  try {
    const ask = (n: number): Promise<number> => new Promise((resolve, reject) => {
      const fields: Record<string, string | string[]> = { ':method': 'GET', ':path': '/', ':authority': 'localhost', cookie: ['a=1', 'b=2'] };
      for (let i = 0; i < n; i++) fields[`x-f${i}`] = String(i);
      const req = c.request(fields);
      req.on('error', reject);
      let status = 0;
      req.on('response', (h) => { status = Number(h[':status']); });
      req.resume();
      req.on('end', () => resolve(status));
      req.end();
    });
    assert.equal(await ask(3), 200);
    assert.equal(await ask(4), 400);
  } finally {
    await closeClient(c);
    await limited.stop();
  }
});

test('a graceful stop sends GOAWAY; the stream in flight is finished', async () => {
  const own = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT%; http2 on; location / { proxy_pass http://127.0.0.1:${backendPort}; } } }`);
  const c = h2c(own.port);
  let goaway = -1;
  c.on('goaway', (code: number) => { goaway = code; });
  const answer = h2request(c, '/slow/1');
  // the stream is open at the backend before the stop starts
  await new Promise((r) => setTimeout(r, 100));
  const stopped = own.rt.stop(true);
  const a = await answer;
  assert.equal(a.status, 200);
  assert.equal(a.body, 'backend GET /slow/1 0:');
  await stopped;
  assert.equal(goaway, constants.NGHTTP2_NO_ERROR);
  c.destroy();
  await own.stop();
});

test('a connection accepted before a graceful stop, its preface sent after: GOAWAY at once (ngx_http_v2_init under ngx_exiting)', async () => {
  const own = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT%; http2 on; client_header_timeout 60s; location / { return 200; } } }`);
  try {
    const raw = netConnect(own.port, '127.0.0.1');
    await new Promise((resolve) => raw.once('connect', resolve));
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    const stopped = own.rt.stop(true);
    const c = h2connect(`http://127.0.0.1:${own.port}`, { createConnection: () => raw });
    c.on('error', () => {});
    const goaway = await new Promise<number>((resolve) => c.once('goaway', (code: number) => resolve(code)));
    assert.equal(goaway, constants.NGHTTP2_NO_ERROR);
    await stopped;
    assert.ok(Date.now() - t0 < 5000, 'the stop did not wait for client_header_timeout');
    c.destroy();
  } finally {
    await own.stop();
  }
});

// ---------------------------------------------------------------------------
// Raw frames, for what node's client will not send.

function frame(type: number, flags: number, sid: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(sid, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK integer with an N-bit prefix (RFC 7541 5.1). */
function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) { out.push((value % 128) + 128); value = Math.floor(value / 128); }
  out.push(value);
  return out;
}

function literal(name: string, value: string, indexed = false): Buffer {
  return Buffer.concat([
    Buffer.from([indexed ? 0x40 : 0x00]),
    Buffer.from(hpackInt(name.length, 7, 0)), Buffer.from(name, 'latin1'),
    Buffer.from(hpackInt(value.length, 7, 0)), Buffer.from(value, 'latin1'),
  ]);
}

/** :method GET, :scheme http, :path /, :authority x (static table indexes). */
const BASIC = Buffer.concat([Buffer.from([0x82, 0x86, 0x84]), literal(':authority', 'x')]);
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

interface RawConn { socket: Socket; frames: Array<{ type: number; flags: number; sid: number; payload: Buffer }>; closed: Promise<void> }

function rawConnect(port: number, settings = Buffer.alloc(0)): Promise<RawConn> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    const conn: RawConn = { socket, frames: [], closed: new Promise((r) => socket.once('close', () => r())) };
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        conn.frames.push({ type: buf[3]!, flags: buf[4]!, sid: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) });
        buf = buf.subarray(9 + len);
      }
    });
    socket.on('error', () => {});
    socket.on('connect', () => {
      socket.write(Buffer.concat([PREFACE, frame(4, 0, 0, settings)]));
      resolve(conn);
    });
  });
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function stillServes(port: number): Promise<void> {
  const c = h2c(port);
  assert.equal((await h2request(c, '/')).status, 200);
  await closeClient(c);
}

test('a client that starts with something other than its SETTINGS is served, as nginx does', async () => {
  const socket = netConnect(w.port, '127.0.0.1');
  const got: Buffer[] = [];
  socket.on('data', (d: Buffer) => got.push(d));
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write(PREFACE);
  await until('the server SETTINGS', () => Buffer.concat(got).length >= 9);
  // the ACK of the server's SETTINGS first, then a PING
  socket.write(Buffer.concat([frame(4, 1, 0, Buffer.alloc(0)), frame(6, 0, 0, Buffer.from('SEE-THIS'))]));
  await until('the PING ack', () => Buffer.concat(got).includes(Buffer.from('SEE-THIS')));
  socket.destroy();
});

test('rapid reset (CVE-2023-44487): a flood of streams opened and reset ends the session', async () => {
  const conn = await rawConnect(w.port);
  const parts: Buffer[] = [];
  for (let i = 0; i < 3000; i++) {
    const sid = 1 + 2 * i;
    parts.push(frame(1, 0x5, sid, BASIC), frame(3, 0, sid, Buffer.from([0, 0, 0, 8])));
  }
  conn.socket.write(Buffer.concat(parts));
  await Promise.race([conn.closed, new Promise((_, rej) => setTimeout(() => rej(new Error('the session was not closed')), 5000))]);
  const goaway = conn.frames.find((f) => f.type === 7);
  assert.ok(goaway, 'GOAWAY sent');
  assert.notEqual(goaway.payload.readUInt32BE(4), constants.NGHTTP2_NO_ERROR);
  await stillServes(w.port);
});

test('CONTINUATION flood (CVE-2024-27316): endless CONTINUATION frames end the session', async () => {
  const conn = await rawConnect(w.port);
  conn.socket.write(frame(1, 0x1, 1, BASIC)); // END_STREAM, no END_HEADERS
  const junk = literal('x-junk', 'y'.repeat(100));
  const payload = Buffer.concat(Array.from({ length: 100 }, () => junk));
  let sent = 0;
  while (!conn.socket.destroyed && sent < 2000) {
    conn.socket.write(frame(9, 0, 1, payload));
    sent++;
    if (sent % 100 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.race([conn.closed, new Promise((_, rej) => setTimeout(() => rej(new Error('the session was not closed')), 5000))]);
  assert.ok(sent < 2000 || conn.frames.some((f) => f.type === 7), 'the flood was cut');
  await stillServes(w.port);
});

test('HPACK bomb: one large dynamic-table entry referenced many times is refused', async () => {
  const conn = await rawConnect(w.port);
  // a 4000-byte value into the dynamic table (index 62), then 1000 references to it: 4 MB decoded
  const refs = Buffer.alloc(1000, 0x80 | 62);
  conn.socket.write(frame(1, 0x5, 1, Buffer.concat([BASIC, literal('x-bomb', 'b'.repeat(4000), true), refs])));
  await until('a refusal', () => conn.frames.some((f) => (f.type === 3 && f.sid === 1) || f.type === 7)
    || conn.frames.some((f) => f.type === 1 && f.sid === 1));
  const headers = conn.frames.find((f) => f.type === 1 && f.sid === 1);
  // refused as a stream reset or session error, or answered with an error status; never served as 200
  if (headers) assert.notEqual(headers.payload[0], 0x88);
  conn.socket.destroy();
  await stillServes(w.port);
});

test('a window that never opens: the stream is reset after send_timeout, the session lives', async () => {
  // initial window 0: not a byte of DATA may go
  const conn = await rawConnect(w.port, Buffer.from([0, 4, 0, 0, 0, 0]));
  conn.socket.write(frame(1, 0x5, 1, Buffer.concat([Buffer.from([0x82, 0x86]), literal(':path', '/big'), literal(':authority', 'x')])));
  await until('the stream reset', () => conn.frames.some((f) => f.type === 3 && f.sid === 1), 6000);
  assert.ok(conn.frames.some((f) => f.type === 1 && f.sid === 1), 'the head was sent');
  assert.ok(!conn.socket.destroyed, 'the session is still open');
  // PING still answered on it
  conn.socket.write(frame(6, 0, 0, Buffer.from('stillhr!')));
  await until('the PING ack', () => conn.frames.some((f) => f.type === 6 && (f.flags & 1) === 1));
  conn.socket.destroy();
});
