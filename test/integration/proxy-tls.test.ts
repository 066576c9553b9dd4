// TLS to upstreams: proxy_pass https:// through the one upstream core. Verification on
// (trusted CA, right and wrong name) and off, a client certificate, session reuse on a
// new connection, keep-alive reuse of a TLS connection, a failed handshake going to the
// next upstream, the handshake under proxy_connect_timeout, plaintext injected before or
// around the ServerHello (RELIABILITY U13), and the config errors.
import assert from 'node:assert/strict';
import { createServer as netServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as tlsServer, type TLSSocket } from 'node:tls';
import { after, before, test } from 'node:test';
import { loadConfigText } from '../../src/config/loader.js';
import { builtinModules } from '../../src/modules.js';
import { request } from '../helpers/in-process.js';
import { startWeir, type Weir } from '../helpers/raw-http.js';
import { CertFactory } from '../helpers/tls-certs.js';

let certs: CertFactory;
const servers: Server[] = [];
const weirs: Weir[] = [];

function listen(s: Server): Promise<number> {
  servers.push(s);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
}

interface Backend { port: number; connections: number; reused: number; }

/** A TLS backend answering with what it saw: the client certificate's CN, whether the session was resumed. */
async function tlsBackend(cert: string, o: { requestCert?: boolean } = {}): Promise<Backend> {
  const b: Backend = { port: 0, connections: 0, reused: 0 };
  const s = tlsServer({ key: certs.read(`${cert}.key`), cert: certs.read(`${cert}.crt`), requestCert: o.requestCert ?? false, rejectUnauthorized: false }, (sock: TLSSocket) => {
    b.connections++;
    if (sock.isSessionReused()) b.reused++;
    let buf = '';
    sock.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        const head = buf.slice(0, buf.indexOf('\r\n\r\n'));
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        const peer = sock.getPeerCertificate();
        const body = `cn=${peer && peer.subject ? String(peer.subject.CN) : '-'} sni=${(sock as TLSSocket & { servername?: string | false }).servername || '-'} uri=${head.split(' ')[1]}`;
        const close = /connection: close/i.test(head);
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${close ? 'Connection: close\r\n' : ''}\r\n${body}`);
        if (close) sock.end();
      }
    });
    sock.on('error', () => {});
  });
  b.port = await listen(s);
  return b;
}

/** A backend that is not TLS: it answers plaintext HTTP at once, before any ServerHello. */
function plaintextBackend(): Promise<number> {
  return listen(netServer((c: Socket) => {
    c.on('error', () => {});
    c.end('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nINJECTED');
  }));
}

/** A man in the middle: passes the real backend's handshake on, with plaintext right after its first bytes (the ServerHello). */
function injectingProxy(target: number): Promise<number> {
  return listen(netServer((c: Socket) => {
    const up = netConnect(target, '127.0.0.1');
    let first = true;
    c.on('data', (d) => up.write(d));
    up.on('data', (d) => {
      c.write(d);
      if (first) { first = false; c.write('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nINJECTED'); }
    });
    const end = (): void => { c.destroy(); up.destroy(); };
    c.on('error', end); up.on('error', end); c.on('close', end); up.on('close', end);
  }));
}

/** Accepts and never answers (a handshake that never completes). */
function silentBackend(): Promise<number> {
  const held: Socket[] = [];
  const s = netServer((c) => { held.push(c); c.on('error', () => {}); });
  s.on('close', () => { for (const c of held) c.destroy(); });
  return listen(s);
}

let ca: string;
let good: Backend;
let mtls: Backend;
let stranger: Backend;

async function start(conf: string): Promise<Weir> {
  const w = await startWeir(`http { access_log off; ${conf} }`, {
    ...certs.files('ca', 'a', 'client', 'self'),
  });
  weirs.push(w);
  return w;
}

before(async () => {
  certs = new CertFactory();
  certs.selfSigned('ca', 'proxy test CA', 'rsa', true);
  certs.signed('a', 'a.test', 'ca');
  certs.signed('client', 'client one', 'ca');
  certs.selfSigned('self', 'self.test');
  ca = 'ca';
  good = await tlsBackend('a');
  mtls = await tlsBackend('a', { requestCert: true });
  stranger = await tlsBackend('self');
});

after(async () => {
  for (const w of weirs) await w.stop();
  for (const s of servers) s.close();
  certs.remove();
});

test('verification on: a trusted certificate of the right name passes; a wrong name or an unknown CA is a 502 with nginx\'s line', async () => {
  const w = await start(`
    proxy_ssl_verify on; proxy_ssl_trusted_certificate %PREFIX%/${ca}.crt;
    server { listen 127.0.0.1:%PORT%;
      location /ok/ { proxy_pass https://127.0.0.1:${good.port}/; proxy_ssl_name a.test; }
      location /wrong/ { proxy_pass https://127.0.0.1:${good.port}/; proxy_ssl_name b.test; }
      location /untrusted/ { proxy_pass https://127.0.0.1:${stranger.port}/; proxy_ssl_name self.test; }
      location /off/ { proxy_pass https://127.0.0.1:${stranger.port}/; proxy_ssl_verify off; }
    }`);
  const ok = await request(w.port, '/ok/x');
  assert.equal(ok.status, 200);
  assert.match(ok.text, /uri=\/x/);
  assert.match(ok.text, /sni=-/, 'no SNI unless proxy_ssl_server_name on');
  assert.equal((await request(w.port, '/wrong/')).status, 502);
  await w.waitForLog(/\[error\].*upstream SSL certificate does not match "b\.test" while SSL handshaking to upstream.*upstream: "https:\/\/127\.0\.0\.1:\d+\//);
  assert.equal((await request(w.port, '/untrusted/')).status, 502);
  await w.waitForLog(/upstream SSL certificate verify error: \(18:self-signed certificate\) while SSL handshaking to upstream/);
  assert.equal((await request(w.port, '/off/')).status, 200);
});

test('proxy_ssl_server_name sends the name (not for an address), with variables', async () => {
  const w = await start(`server { listen 127.0.0.1:%PORT%;
      proxy_ssl_server_name on;
      location /named/ { proxy_pass https://127.0.0.1:${good.port}/; proxy_ssl_name $arg_n:8443; }
      location /ip/ { proxy_pass https://127.0.0.1:${good.port}/; }
    }`);
  assert.match((await request(w.port, '/named/?n=a.test')).text, /sni=a\.test/);
  assert.match((await request(w.port, '/ip/')).text, /sni=-/);
});

test('a client certificate goes to the upstream: static, with variables, or cancelled by ""', async () => {
  const w = await start(`server { listen 127.0.0.1:%PORT%;
      proxy_ssl_certificate %PREFIX%/client.crt; proxy_ssl_certificate_key %PREFIX%/client.key;
      location /static/ { proxy_pass https://127.0.0.1:${mtls.port}/; }
      location /vars/ { proxy_pass https://127.0.0.1:${mtls.port}/;
        proxy_ssl_certificate %PREFIX%/$arg_c.crt; proxy_ssl_certificate_key %PREFIX%/$arg_c.key; }
      location /none/ { proxy_pass https://127.0.0.1:${mtls.port}/; proxy_ssl_certificate ""; proxy_ssl_certificate_key ""; }
    }`);
  assert.match((await request(w.port, '/static/')).text, /cn=client one/);
  assert.match((await request(w.port, '/vars/?c=self')).text, /cn=self\.test/);
  assert.match((await request(w.port, '/none/')).text, /cn=-/);
  // A certificate with variables that does not load: 500, and the reason logged.
  assert.equal((await request(w.port, '/vars/?c=missing')).status, 500);
  await w.waitForLog(/\[error\].*cannot load certificate .*missing\.crt/);
});

test('proxy_ssl_session_reuse: a new connection resumes the peer\'s session; off: it does not', async () => {
  const b = await tlsBackend('a');
  const w = await start(`server { listen 127.0.0.1:%PORT%;
      location /on/ { proxy_pass https://127.0.0.1:${b.port}/; }
      location /off/ { proxy_pass https://127.0.0.1:${b.port}/; proxy_ssl_session_reuse off; }
    }`);
  for (let i = 0; i < 3; i++) assert.equal((await request(w.port, '/on/')).status, 200);
  assert.equal(b.connections, 3);
  assert.equal(b.reused, 2);
  for (let i = 0; i < 2; i++) assert.equal((await request(w.port, '/off/')).status, 200);
  assert.equal(b.connections, 5);
  assert.equal(b.reused, 2);
});

test('keep-alive: a TLS connection is reused for the next request; plain and TLS connections are never mixed', async () => {
  const b = await tlsBackend('a');
  const w = await start(`
    upstream u { server 127.0.0.1:${b.port}; keepalive 4; }
    server { listen 127.0.0.1:%PORT%; proxy_http_version 1.1; proxy_set_header Connection "";
      location / { proxy_pass https://u; }
      location /plain/ { proxy_pass http://u; }
    }`);
  for (let i = 0; i < 3; i++) assert.match((await request(w.port, `/k${i}`)).text, new RegExp(`uri=/k${i}`));
  assert.equal(b.connections, 1);
  // The same group over plain HTTP opens its own connection (the TLS one is not handed to it).
  const plain = await request(w.port, '/plain/');
  assert.equal(plain.status, 502, plain.text);
  assert.equal((await request(w.port, '/k9')).status, 200);
  assert.equal(b.connections, 1);
});

test('a failed handshake is an error for proxy_next_upstream: the next peer answers, the failed one is charged', async () => {
  const bad = await plaintextBackend();
  const w = await start(`
    upstream u { server 127.0.0.1:${bad} max_fails=1 fail_timeout=30s; server 127.0.0.1:${good.port}; }
    server { listen 127.0.0.1:%PORT%; location / { proxy_pass https://u; } }`);
  const r = await request(w.port, '/n');
  assert.equal(r.status, 200);
  assert.doesNotMatch(r.text, /INJECTED/);
  await w.waitForLog(/\[error\].*SSL_do_handshake\(\) failed \(SSL: error:0A00010B:SSL routines::wrong version number\) while SSL handshaking to upstream/);
  // max_fails=1: the failed peer is out for fail_timeout, so no second handshake error.
  const before = w.errorLog().split('SSL_do_handshake').length;
  for (let i = 0; i < 3; i++) assert.equal((await request(w.port, '/n')).status, 200);
  assert.equal(w.errorLog().split('SSL_do_handshake').length, before);
});

test('plaintext injected before or around the ServerHello is discarded and the connection fails (U13)', async () => {
  const bad = await plaintextBackend();
  const mitm = await injectingProxy(good.port);
  const w = await start(`server { listen 127.0.0.1:%PORT%;
      location /before/ { proxy_pass https://127.0.0.1:${bad}/; }
      location /around/ { proxy_pass https://127.0.0.1:${mitm}/; }
    }`);
  for (const path of ['/before/', '/around/']) {
    const r = await request(w.port, path);
    assert.equal(r.status, 502, path);
    assert.doesNotMatch(r.text, /INJECTED/, path);
  }
  // Before: the handshake fails. Around: TLSv1.3's whole first flight may come before the
  // injected bytes, so the handshake completes and the next record read fails.
  await w.waitForLog(/SSL_do_handshake\(\) failed \(SSL: error:0A00010B:SSL routines::wrong version number\) while SSL handshaking to upstream/);
  await w.waitForLog(/SSL_(do_handshake|read)\(\) failed \(SSL: error:[0-9A-F]{8}:SSL routines::[^)]+\) while (SSL handshaking to|reading response header from) upstream[^\n]*\/around\//);
});

test('proxy_connect_timeout covers the handshake: 504 and nginx\'s line', async () => {
  const silent = await silentBackend();
  const w = await start(`server { listen 127.0.0.1:%PORT%;
      location / { proxy_pass https://127.0.0.1:${silent}; proxy_connect_timeout 300ms; } }`);
  const t0 = Date.now();
  assert.equal((await request(w.port, '/', { idleMs: 1500 })).status, 504);
  assert.ok(Date.now() - t0 < 1400);
  await w.waitForLog(/upstream timed out \(110: Connection timed out\) while SSL handshaking to upstream/);
});

test('config errors as nginx\'s [emerg]s', () => {
  const load = (loc: string): string => {
    try {
      loadConfigText(`events {} http { server { listen 127.0.0.1:1; location / { proxy_pass https://127.0.0.1:1; ${loc} } } }`, certs.dir, builtinModules);
      return '';
    } catch (e) { return (e as Error).message; }
  };
  assert.match(load('proxy_ssl_verify on;'), /no proxy_ssl_trusted_certificate for proxy_ssl_verify/);
  assert.match(load('proxy_ssl_certificate client.crt;'), /no "proxy_ssl_certificate_key" is defined for certificate "client.crt"/);
  assert.match(load('proxy_ssl_certificate nothere.crt; proxy_ssl_certificate_key nothere.key;'), /cannot load certificate "nothere.crt"/);
  assert.match(load('proxy_ssl_certificate_cache max=0;'), /invalid parameter "max=0"/);
  assert.match(load('proxy_ssl_certificate_cache inactive=1s;'), /"proxy_ssl_certificate_cache" must have the "max" parameter/);
  assert.match(load('proxy_ssl_protocols TLSv9;'), /invalid value "TLSv9"/);
  assert.match(load('proxy_ssl_conf_command Certificate x.crt;'), /node:tls has no way to pass "Certificate"/);
  assert.match(load('proxy_ssl_verify on; proxy_ssl_verify off;'), /"proxy_ssl_verify" directive is duplicate/);
  assert.equal(load('proxy_ssl_certificate client.crt; proxy_ssl_certificate_key client.key; proxy_ssl_verify off;'), '');
});
