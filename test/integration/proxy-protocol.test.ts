// `listen ... proxy_protocol`: the PROXY header before HTTP/1, h2c and TLS (HTTP/1 and ALPN h2),
// its variables and TLVs, realip from it (trusted by the connection's address), keep-alive
// requests after one header, a header split over several writes, and the failures: a broken
// header closes the connection with nginx's error line, a client that sends nothing or half a
// header is closed at client_header_timeout; a listener without it shows no variables.
import assert from 'node:assert/strict';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, test } from 'node:test';
import { exchange, freePort, parseResponses, startWeir, type Weir } from '../helpers/raw-http.js';
import { CertFactory } from '../helpers/tls-certs.js';

let w: Weir;
let tlsW: Weir;
let plainPort = 0;
let certs: CertFactory;

const SHOW = '"pp=$proxy_protocol_addr|$proxy_protocol_port|$proxy_protocol_server_addr|$proxy_protocol_server_port'
  + ' ra=$remote_addr alpn=$proxy_protocol_tlv_alpn v=$proxy_protocol_tlv_ssl_verify cn=$proxy_protocol_tlv_ssl_cn proto=$server_protocol\\n"';
// realip in a location runs before access, after rewrite's `return`: these are static files.
const RIP = '"$remote_addr|$remote_port|$realip_remote_addr"';
const FILES = { 'html/rip': 'x', 'html/untrusted': 'x', 'html/deny': 'x' };

before(async () => {
  plainPort = await freePort();
  w = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT% proxy_protocol; http2 on; client_header_timeout 1s; root %PREFIX%/html;
      location / { return 200 ${SHOW}; }
      location /rip { set_real_ip_from 127.0.0.1; real_ip_header proxy_protocol; add_header X-Got ${RIP}; }
      location /untrusted { set_real_ip_from 10.0.0.0/8; real_ip_header proxy_protocol; add_header X-Got ${RIP}; }
      location /deny { set_real_ip_from 127.0.0.1; real_ip_header proxy_protocol; deny 192.0.2.1; }
      location /tlv { return 200 "[$proxy_protocol_tlv_bogus][$proxy_protocol_tlv_0x05]\\n"; }
    }
    server { listen 127.0.0.1:${plainPort}; location / { return 200 ${SHOW}; } }
  }`, FILES);
  certs = new CertFactory();
  certs.selfSigned('srv', 'localhost');
  tlsW = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT% ssl proxy_protocol; http2 on; client_header_timeout 1s;
      ssl_certificate srv.crt; ssl_certificate_key srv.key; root %PREFIX%/html;
      location / { return 200 ${SHOW}; }
      location /rip { set_real_ip_from 127.0.0.1; real_ip_header proxy_protocol; add_header X-Got ${RIP}; }
    }
  }`, { ...certs.files('srv'), ...FILES });
});

after(async () => {
  await w.stop();
  await tlsW.stop();
  certs.remove();
});

const TCP4 = 'PROXY TCP4 192.0.2.1 192.0.2.2 123 5678\r\n';
const TCP6 = 'PROXY TCP6 2001:Db8::1 2001:Db8::2 123 5678\r\n';
const GET = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`;
const CLOSE = 'Connection: close\r\n';

function v2(tlvs: Buffer): Buffer {
  const addrs = Buffer.from([192, 0, 2, 1, 192, 0, 2, 2, 0, 123, 0x16, 0x2e]);
  const head = Buffer.from('\r\n\r\n\0\r\nQUIT\n\x21\x11\0\0', 'latin1');
  head.writeUInt16BE(addrs.length + tlvs.length, 14);
  return Buffer.concat([head, addrs, tlvs]);
}

function tlv(type: number, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const h = Buffer.from([type, 0, 0]);
  h.writeUInt16BE(v.length, 1);
  return Buffer.concat([h, v]);
}

async function got(port: number, parts: string | Buffer): Promise<string> {
  const ex = await exchange(port, parts);
  assert.equal(ex.responses.length, 1, ex.raw.toString('latin1'));
  return ex.responses[0]!.headers['x-got'] ?? '';
}

async function body(port: number, parts: string | Buffer | Array<string | Buffer>, gapMs = 0): Promise<string> {
  const ex = await exchange(port, parts, { gapMs });
  assert.equal(ex.responses.length, 1, ex.raw.toString('latin1'));
  return ex.responses[0]!.body.toString('latin1');
}

test('v1 TCP4, TCP6 and UNKNOWN over HTTP/1: the header\'s addresses, $remote_addr untouched', async () => {
  assert.equal(await body(w.port, TCP4 + GET('/', CLOSE)), 'pp=192.0.2.1|123|192.0.2.2|5678 ra=127.0.0.1 alpn= v= cn= proto=HTTP/1.1\n');
  assert.match(await body(w.port, TCP6 + GET('/', CLOSE)), /^pp=2001:Db8::1\|123\|2001:Db8::2\|5678 ra=127\.0\.0\.1 /);
  assert.match(await body(w.port, 'PROXY UNKNOWN 1 2 3\r\n' + GET('/', CLOSE)), /^pp=\|\|\|\s*ra=127\.0\.0\.1 /);
});

test('a listener without proxy_protocol: the variables are empty and a PROXY line is a bad request', async () => {
  assert.match(await body(plainPort, GET('/', CLOSE)), /^pp=\|\|\| ra=127\.0\.0\.1 /);
  const ex = await exchange(plainPort, TCP4 + GET('/', CLOSE));
  assert.equal(ex.responses[0]?.status, 400);
});

test('one header, then keep-alive requests on the connection keep its addresses', async () => {
  const ex = await exchange(w.port, [TCP4 + GET('/'), GET('/rip', CLOSE)], { gapMs: 50 });
  assert.equal(ex.responses.length, 2);
  assert.match(ex.responses[0]!.body.toString(), /^pp=192\.0\.2\.1\|123/);
  assert.equal(ex.responses[1]!.headers['x-got'], '192.0.2.1|123|127.0.0.1');
});

test('a header split over several writes is waited for', async () => {
  const parts = ['PROX', 'Y TCP4 192.0', '.2.1 192.0.2.2 12', '3 5678\r', '\n' + GET('/', CLOSE)];
  assert.match(await body(w.port, parts, 40), /^pp=192\.0\.2\.1\|123\|192\.0\.2\.2\|5678 /);
  const bin = v2(tlv(0x01, 'h2'));
  assert.match(await body(w.port, [bin.subarray(0, 5), bin.subarray(5, 20), Buffer.concat([bin.subarray(20), Buffer.from(GET('/', CLOSE))])], 40),
    /^pp=192\.0\.2\.1\|123\|192\.0\.2\.2\|5678 ra=127\.0\.0\.1 alpn=h2 /);
});

test('realip: real_ip_header proxy_protocol takes its address and port from a trusted connection', async () => {
  assert.equal(await got(w.port, TCP4 + GET('/rip', CLOSE)), '192.0.2.1|123|127.0.0.1');
  assert.equal(await got(w.port, TCP6 + GET('/rip', CLOSE)), '2001:db8::1|123|127.0.0.1');
  assert.match(await got(w.port, TCP4 + GET('/untrusted', CLOSE)), /^127\.0\.0\.1\|\d+\|127\.0\.0\.1$/);
  assert.match(await got(w.port, 'PROXY UNKNOWN\r\n' + GET('/rip', CLOSE)), /^127\.0\.0\.1\|\d+\|127\.0\.0\.1$/);
  const denied = await exchange(w.port, TCP4 + GET('/deny', CLOSE));
  assert.equal(denied.responses[0]?.status, 403);
  // v1 keeps the text as sent; one that is no address leaves the connection's
  assert.match(await got(w.port, 'PROXY TCP4 1:2:3 ::1 1 2\r\n' + GET('/rip', CLOSE)), /^127\.0\.0\.1\|\d+\|127\.0\.0\.1$/);
});

test('v2 with TLVs: $proxy_protocol_tlv_*, the ssl sub-TLVs; an unknown name is logged', async () => {
  const ssl = Buffer.concat([Buffer.from([1, 0, 0, 0, 7]), tlv(0x22, 'client.example')]);
  const pp = v2(Buffer.concat([tlv(0x01, 'h2'), tlv(0x05, 'ID9'), tlv(0x20, ssl)]));
  assert.match(await body(w.port, Buffer.concat([pp, Buffer.from(GET('/', CLOSE))])), /^pp=192\.0\.2\.1\|123\|192\.0\.2\.2\|5678 ra=127\.0\.0\.1 alpn=h2 v=7 cn=client\.example /);
  assert.equal(await body(w.port, Buffer.concat([pp, Buffer.from(GET('/tlv', CLOSE))])), '[][ID9]\n');
  await w.waitForLog(/\[error\] .*unknown PROXY protocol TLV "bogus"/);
  // v2 LOCAL: no addresses
  const local = Buffer.from(pp);
  local[12] = 0x20;
  assert.match(await body(w.port, Buffer.concat([local, Buffer.from(GET('/', CLOSE))])), /^pp=\|\|\| ra=127\.0\.0\.1 alpn= /);
});

test('a broken header: the connection is closed with nginx\'s error line', async () => {
  const ex = await exchange(w.port, 'BOGUS TCP4 192.0.2.1 192.0.2.2 1234 5678\r\n' + GET('/', CLOSE));
  assert.equal(ex.responses.length, 0);
  assert.ok(ex.closed);
  await w.waitForLog(new RegExp(`\\[error\\] \\d+#0: \\*\\d+ broken header: "BOGUS TCP4 192\\.0\\.2\\.1 192\\.0\\.2\\.2 1234 5678" while reading PROXY protocol, client: 127\\.0\\.0\\.1, server: 127\\.0\\.0\\.1:${w.port}`));
  const big = await exchange(w.port, Buffer.from(`PROXY TCP4 ${'1'.repeat(200)}`));
  assert.equal(big.responses.length, 0);
  assert.ok(big.closed);
  const v1 = await exchange(w.port, Buffer.concat([Buffer.from('\r\n\r\n\0\r\nQUIT\n\x11\x11\0\0', 'latin1'), Buffer.from(GET('/'))]));
  assert.ok(v1.closed);
  await w.waitForLog(/\[error\] .*unknown PROXY protocol version: 1 while reading PROXY protocol/);
});

test('client_header_timeout: nothing, or half a header, is closed with "client timed out"', async () => {
  const t0 = Date.now();
  const silent = await exchange(w.port, Buffer.alloc(0), { totalMs: 4000, firstByteMs: 3500 });
  assert.ok(silent.closed && silent.responses.length === 0);
  const half = await exchange(w.port, 'PROXY TCP4 192.0.2.1 ', { totalMs: 4000, firstByteMs: 3500 });
  assert.ok(half.closed && half.responses.length === 0);
  assert.ok(Date.now() - t0 >= 1800, 'each waited for the timeout');
  await w.waitForLog(/\[info\] .*client timed out \(110: Connection timed out\) while reading PROXY protocol, client: 127\.0\.0\.1/);
});

/** An HTTP/2 session over `socket` (the PROXY header already written). */
function h2get(session: ClientHttp2Session, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path });
    let text = '';
    req.setEncoding('utf8');
    req.on('response', (h) => { if (h['x-got'] !== undefined) text = `X-Got: ${String(h['x-got'])}`; });
    req.on('data', (d: string) => { if (!text.startsWith('X-Got')) text += d; });
    req.on('end', () => resolve(text));
    req.on('error', reject);
    req.end();
  });
}

test('h2c: the header, then the preface on the same connection; every stream sees it', async () => {
  const socket = netConnect(w.port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(TCP4);
  const session = h2connect(`http://localhost:${w.port}`, { createConnection: () => socket });
  try {
    assert.match(await h2get(session, '/'), /^pp=192\.0\.2\.1\|123\|192\.0\.2\.2\|5678 ra=127\.0\.0\.1 .*proto=HTTP\/2\.0/);
    assert.equal(await h2get(session, '/rip'), 'X-Got: 192.0.2.1|123|127.0.0.1');
  } finally {
    session.close();
    socket.destroy();
  }
});

/** TLS after the header: a raw socket gets the header, then the handshake over it. */
async function tlsAfterHeader(header: string | Buffer, alpn: string[]): Promise<TLSSocket> {
  const raw: Socket = netConnect(tlsW.port, '127.0.0.1');
  await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
  raw.write(header);
  const s = tlsConnect({ socket: raw, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: alpn });
  await new Promise<void>((resolve, reject) => { s.once('secureConnect', () => resolve()); s.once('error', reject); });
  return s;
}

test('ssl proxy_protocol: the header before the ClientHello, HTTP/1 and ALPN h2 after it', async () => {
  const s = await tlsAfterHeader(TCP4, ['http/1.1']);
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  s.write(GET('/rip', CLOSE));
  await new Promise<void>((resolve) => s.once('close', () => resolve()));
  assert.equal(parseResponses(Buffer.concat(chunks))[0]?.headers['x-got'], '192.0.2.1|123|127.0.0.1');

  const h2s = await tlsAfterHeader(TCP6, ['h2']);
  const session = h2connect(`https://localhost:${tlsW.port}`, { createConnection: () => h2s });
  try {
    assert.match(await h2get(session, '/'), /^pp=2001:Db8::1\|123\|2001:Db8::2\|5678 ra=127\.0\.0\.1 .*proto=HTTP\/2\.0/);
  } finally {
    session.close();
    h2s.destroy();
  }
});

test('ssl proxy_protocol: a broken header never reaches the handshake', async () => {
  const raw = netConnect(tlsW.port, '127.0.0.1');
  await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
  raw.write('BOGUS TCP4 192.0.2.1 192.0.2.2 1234 5678\r\n');
  raw.resume();
  await new Promise<void>((resolve) => raw.once('close', () => resolve()));
  await tlsW.waitForLog(/\[error\] .*broken header: "BOGUS TCP4 .*" while reading PROXY protocol/);
});

test('a client that closes within the header: "client closed connection", no answer', async () => {
  const s = netConnect(w.port, '127.0.0.1');
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  s.end('PROXY TCP4 192.0.2.1');
  await new Promise<void>((resolve) => s.once('close', () => resolve()));
  assert.equal(Buffer.concat(got).length, 0);
  await w.waitForLog(/\[info\] .*client closed connection while reading PROXY protocol, client: 127\.0\.0\.1/);
});
