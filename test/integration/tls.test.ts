// TLS to clients as nginx: listen ... ssl, the server chosen by SNI (and the Host check),
// RSA and ECDSA certificates together, ssl_reject_handshake, the 497 page for plain HTTP,
// sessions (builtin cache, tickets), client certificates (495/496, optional_no_ca), the
// $ssl_* variables, certificates named by $ssl_server_name, password files, data: values,
// unix sockets, and what weir refuses at config time.
import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadConfig, loadConfigText } from '../../src/config/loader.js';
import { builtinModules } from '../../src/modules.js';
import { exchange, startWeir, type Weir } from '../helpers/raw-http.js';
import { CertFactory } from '../helpers/tls-certs.js';

let certs: CertFactory;
let w: Weir;

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
  peerCn: string;
  session: Buffer | undefined;
  reused: boolean;
  protocol: string | null;
}

/** One HTTPS request on a fresh connection (Connection: close). */
function httpsGet(port: number, path: string, o: ConnectionOptions & { hostHeader?: string; unix?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined;
    const s: TLSSocket = connect({ ...(o.unix ? { path: o.unix } : { port, host: '127.0.0.1' }), rejectUnauthorized: false, ...o }, () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: ${o.hostHeader ?? o.servername ?? 'localhost'}\r\nConnection: close\r\n\r\n`);
    });
    s.on('session', (sess: Buffer) => { session = sess; });
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head, ...rest] = text.split('\r\n\r\n');
      const lines = head!.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) { const i = l.indexOf(':'); headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim(); }
      const cert = s.getPeerCertificate();
      resolve({
        status: Number(lines[0]!.split(' ')[1]), headers, body: rest.join('\r\n\r\n'),
        peerCn: cert && cert.subject ? String(cert.subject.CN) : '', session, reused: s.isSessionReused(), protocol: s.getProtocol(),
      });
      s.destroy();
    });
  });
}

/** The handshake's failure (its code), or '' when it succeeded. */
function handshakeError(port: number, o: ConnectionOptions = {}): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...o }, () => { s.destroy(); resolve(''); });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

before(async () => {
  certs = new CertFactory();
  certs.selfSigned('ca', 'weir test CA', 'rsa', true);
  certs.signed('a-rsa', 'a.test', 'ca', 'rsa');
  certs.signed('a-ec', 'a.test', 'ca', 'ec');
  certs.selfSigned('b', 'b.test');
  certs.selfSigned('dyn.test', 'dyn.test');
  certs.signed('client', 'client one', 'ca');
  certs.selfSigned('stranger-ca', 'stranger CA', 'rsa', true);
  certs.signed('stranger', 'stranger', 'stranger-ca');
  const encKey = certs.encryptKey('b', 'secret');
  w = await startWeir(`http { access_log off;
    add_header X-Vars "$scheme|$https|$ssl_protocol|$ssl_server_name|$ssl_session_reused|$server_name" always;
    server { listen 127.0.0.1:%PORT% ssl; server_name a.test;
      ssl_certificate a-rsa.crt; ssl_certificate_key a-rsa.key;
      ssl_certificate a-ec.crt; ssl_certificate_key a-ec.key;
      ssl_session_cache builtin:100; ssl_session_tickets off;
      error_page 497 =301 https://$host$request_uri;
      location / { return 200 "a:$ssl_session_id:$ssl_cipher:$ssl_alpn_protocol"; }
      location /curve { return 200 "$ssl_curve|$ssl_curves"; }
      location = /497 { return 200 "caught $status"; }
    }
    server { listen 127.0.0.1:%PORT% ssl; server_name b.test;
      ssl_certificate b.crt; ssl_certificate_key b-enc.key; ssl_password_file pass;
      location / { return 200 "b"; }
    }
    server { listen 127.0.0.1:%PORT% ssl; server_name rejected.test; ssl_reject_handshake on; }
    server { listen 127.0.0.1:%PORT% ssl; server_name nocert.test; location / { return 200 "nocert:$server_name"; } }
    server { listen 127.0.0.1:%PORT% ssl; server_name verify.test;
      ssl_certificate b.crt; ssl_certificate_key b-enc.key; ssl_password_file pass;
      ssl_verify_client on; ssl_client_certificate ca.crt;
      error_page 496 /no-cert;
      location / { return 200 "verified:$ssl_client_verify:$ssl_client_s_dn:$ssl_client_i_dn_legacy"; }
      location = /no-cert { return 403 "no cert"; }
    }
    server { listen 127.0.0.1:%PORT% ssl; server_name optional.test;
      ssl_certificate b.crt; ssl_certificate_key b-enc.key; ssl_password_file pass;
      ssl_verify_client optional_no_ca;
      location / { return 200 "optional:$ssl_client_verify"; }
    }
    server { listen 127.0.0.1:%PORT% ssl; server_name dyn.test other.test;
      ssl_certificate $ssl_server_name.crt; ssl_certificate_key $ssl_server_name.key;
      location / { return 200 "dyn"; }
    }
    server { listen unix:%PREFIX%/tls.sock ssl; server_name a.test;
      ssl_certificate "data:${certs.read('a-rsa.crt').toString()}"; ssl_certificate_key a-rsa.key;
      location / { return 200 "unix:$https"; }
    }
  }`, { ...certs.files('a-rsa', 'a-ec', 'ca', 'dyn.test'), 'b.crt': certs.read('b.crt'), 'b-enc.key': certs.read(encKey), pass: 'wrong\nsecret\n' });
});

after(async () => {
  await w?.stop();
  certs?.remove();
});

test('SNI chooses the server and its certificate; no SNI gets the default server', async () => {
  const a = await httpsGet(w.port, '/', { servername: 'a.test' });
  assert.equal(a.status, 200);
  assert.equal(a.peerCn, 'a.test');
  assert.match(a.headers['x-vars']!, /^https\|on\|TLSv1\.3\|a\.test\|\.\|a\.test$/);
  const b = await httpsGet(w.port, '/', { servername: 'B.TEST.' });
  assert.equal(b.peerCn, 'b.test', 'the name is matched as nginx validates it: lower case, no trailing dot');
  assert.equal(b.body, 'b', 'an encrypted key opened with the second password of the file');
  const none = await httpsGet(w.port, '/', { hostHeader: 'a.test' });
  assert.equal(none.peerCn, 'a.test', 'no SNI: the first server is the default');
  assert.match(none.headers['x-vars']!, /^https\|on\|TLSv1\.3\|\|/);
});

test('RSA and ECDSA certificates side by side: each client gets the kind it can use', async () => {
  const ec = await httpsGet(w.port, '/', { servername: 'a.test', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
  assert.match(ec.body, /ECDHE-ECDSA-AES128-GCM-SHA256/);
  const rsa = await httpsGet(w.port, '/', { servername: 'a.test', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256', ALPNProtocols: ['http/1.1'] });
  assert.match(rsa.body, /ECDHE-RSA-AES128-GCM-SHA256/);
  assert.match(rsa.body, /:http\/1\.1$/, '$ssl_alpn_protocol');
});

test('$ssl_curve: the group of the exchange; $ssl_curves: the client\'s offer', async () => {
  const d = await httpsGet(w.port, '/curve', { servername: 'a.test', ecdhCurve: 'X25519:P-256' });
  assert.equal(d.body, 'X25519|X25519:prime256v1');
  const p384 = await httpsGet(w.port, '/curve', { servername: 'a.test', ecdhCurve: 'P-384', maxVersion: 'TLSv1.2' });
  assert.equal(p384.body, 'secp384r1|secp384r1');
});

test('a server with no certificates of its own uses the default server\'s; ssl_reject_handshake refuses', async () => {
  const r = await httpsGet(w.port, '/', { servername: 'nocert.test' });
  assert.equal(r.peerCn, 'a.test');
  assert.equal(r.body, 'nocert:nocert.test');
  assert.equal(await handshakeError(w.port, { servername: 'rejected.test' }), 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME');
  assert.match(await w.waitForLog(/handshake rejected\) while SSL handshaking/), /\[info\]/);
});

test('the session cache resumes a TLSv1.2 session by id ($ssl_session_reused, $ssl_session_id)', async () => {
  const first = await httpsGet(w.port, '/', { servername: 'a.test', maxVersion: 'TLSv1.2' });
  assert.equal(first.reused, false);
  const id = first.body.split(':')[1]!;
  assert.match(id, /^[0-9a-f]{64}$/);
  const again = await httpsGet(w.port, '/', { servername: 'a.test', maxVersion: 'TLSv1.2', session: first.session });
  assert.equal(again.reused, true);
  assert.match(again.headers['x-vars']!, /\|r\|a\.test$/);
  assert.equal(again.body.split(':')[1], id, 'the same session id');
  // A session of server a is not one of server b's (its own cache, its own context).
  const other = await httpsGet(w.port, '/', { servername: 'b.test', maxVersion: 'TLSv1.2', session: first.session });
  assert.equal(other.reused, false);
});

test('TLSv1.3 resumes from the cache with ssl_session_tickets off', async () => {
  const first = await httpsGet(w.port, '/', { servername: 'a.test' });
  const again = await httpsGet(w.port, '/', { servername: 'a.test', session: first.session });
  assert.equal(again.protocol, 'TLSv1.3');
  assert.equal(again.reused, true);
});

test('plain HTTP to an ssl port: 400 "The plain HTTP request was sent to HTTPS port", error_page 497 can catch it', async () => {
  const ex = await exchange(w.port, 'GET / HTTP/1.1\r\nHost: b.test\r\n\r\n');
  const r = ex.responses[0]!;
  assert.equal(r.status, 400);
  assert.match(r.body.toString(), /The plain HTTP request was sent to HTTPS port/);
  assert.equal(r.headers.connection, 'close');
  const redirected = (await exchange(w.port, 'GET /x?y HTTP/1.1\r\nHost: a.test\r\n\r\n')).responses[0]!;
  assert.equal(redirected.status, 301);
  assert.equal(redirected.headers.location, 'https://a.test/x?y');
  assert.match(await w.waitForLog(/client sent plain HTTP request to HTTPS port/), /\[info\]/);
});

test('client certificates: on without one is 496 (error_page catches it), a good chain passes, another CA is 495', async () => {
  const none = await httpsGet(w.port, '/', { servername: 'verify.test' });
  assert.equal(none.status, 400, 'error_page without "=" answers 496 as 400, as nginx');
  assert.equal(none.body, 'no cert');
  const ok = await httpsGet(w.port, '/', { servername: 'verify.test', cert: certs.read('client.crt'), key: certs.read('client.key') });
  assert.equal(ok.status, 200);
  assert.equal(ok.body, 'verified:SUCCESS:CN=client one:/CN=weir test CA');
  const bad = await httpsGet(w.port, '/', { servername: 'verify.test', cert: certs.read('stranger.crt'), key: certs.read('stranger.key') });
  assert.equal(bad.status, 400);
  assert.match(bad.body, /The SSL certificate error/);
  const opt = await httpsGet(w.port, '/', { servername: 'optional.test', cert: certs.read('stranger.crt'), key: certs.read('stranger.key') });
  assert.equal(opt.status, 200, 'optional_no_ca lets an unknown issuer through');
  assert.match(opt.body, /^optional:FAILED:/);
  assert.equal((await httpsGet(w.port, '/', { servername: 'optional.test' })).body, 'optional:NONE');
});

test('a Host other than the TLS name is served by its server, unless that server verifies certificates: 421', async () => {
  const r = await httpsGet(w.port, '/', { servername: 'a.test', hostHeader: 'b.test' });
  assert.equal(r.body, 'b');
  const m = await httpsGet(w.port, '/', { servername: 'a.test', hostHeader: 'verify.test' });
  assert.equal(m.status, 421);
  assert.match(await w.waitForLog(/client attempted to request the server name different from the one that was negotiated/), /\[info\]/);
});

test('certificates named by $ssl_server_name are loaded per name; a missing one fails that handshake only', async () => {
  const r = await httpsGet(w.port, '/', { servername: 'dyn.test' });
  assert.equal(r.peerCn, 'dyn.test');
  assert.notEqual(await handshakeError(w.port, { servername: 'other.test' }), '');
  assert.match(await w.waitForLog(/cannot load certificate "other\.test\.crt"/), /\[error\]/);
  assert.equal((await httpsGet(w.port, '/', { servername: 'dyn.test' })).status, 200);
});

test('listen unix:... ssl, and a data: certificate', async () => {
  const r = await httpsGet(0, '/', { unix: join(w.prefix, 'tls.sock'), servername: 'a.test' });
  assert.equal(r.body, 'unix:on');
  assert.equal(r.peerCn, 'a.test');
});

test('bad input: a broken ClientHello, a silent client, a client gone mid-hello: closed, nothing leaks', async () => {
  const closed = (bytes: Buffer | null, end: boolean): Promise<void> => new Promise((resolve) => {
    const s = netConnect(w.port, '127.0.0.1', () => { if (bytes) s.write(bytes); if (end) s.end(); });
    s.on('data', () => {});
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
  // A handshake record whose ClientHello is garbage: OpenSSL's refusal.
  await closed(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]), false);
  // Half a record, then the client leaves.
  await closed(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), true);
  const ok = await httpsGet(w.port, '/', { servername: 'a.test' });
  assert.equal(ok.status, 200, 'still serving');
});

test('config errors are [emerg]s naming the problem', () => {
  const load = (srv: string, files = true): string => {
    try {
      loadConfigText(`events {} http { server { listen 127.0.0.1:1 ssl; ${srv} } }`, certs.dir, builtinModules);
      return '';
    } catch (e) {
      return (e as Error).message;
    }
    void files;
  };
  assert.match(load(''), /no "ssl_certificate" is defined for the "listen \.\.\. ssl" directive/);
  assert.match(load('ssl_certificate a-rsa.crt;'), /no "ssl_certificate_key" is defined for certificate "a-rsa.crt"/);
  assert.match(load('ssl_certificate a-rsa.crt; ssl_certificate_key missing.key;'), /cannot load certificate key "missing.key".*No such file/);
  assert.match(load('ssl_certificate a-rsa.crt; ssl_certificate_key a-rsa.key; ssl_ciphers NOPE;'), /SSL_CTX_set_cipher_list\("NOPE"\) failed/);
  assert.match(load('ssl_certificate a-rsa.crt; ssl_certificate_key a-rsa.key; ssl_ecdh_curve nope;'), /SSL_CTX_set1_curves_list\("nope"\) failed/);
  assert.match(load('ssl_certificate a-rsa.crt; ssl_certificate_key a-rsa.key; ssl_conf_command RecordPadding 16;'), /node:tls has no way to pass "RecordPadding"/);
  assert.match(load('ssl_certificate a-rsa.crt; ssl_certificate_key a-ec.key;'), /SSL_CTX_use_PrivateKey\("a-ec.key"\) failed.*key values mismatch/);
  assert.match(load('ssl_certificate a-rsa.crt; ssl_certificate_key a-rsa.key; ssl_protocols SSLv3;'), /SSLv2 and SSLv3 are not supported/);
  assert.match(load('ssl_protocols TLSv9;'), /invalid value "TLSv9"/);
  assert.match(load('ssl_session_cache shared:x;'), /invalid zone size/);
  assert.match(load('ssl_session_cache builtin:0;'), /invalid session cache "builtin:0"/);
  assert.match(load('ssl_verify_client on; ssl_certificate a-rsa.crt; ssl_certificate_key a-rsa.key;'), /no ssl_client_certificate or ssl_trusted_certificate/);
  assert.match(load('ssl on;'), /the "ssl" directive is no longer supported/);
  assert.match(load('ssl_stapling on;'), /"ssl_stapling" is not supported by weir/);
  assert.match(load('ssl_certificate $host.crt; ssl_certificate_key a-rsa.key;'), /only \$ssl_server_name can be used/);
  assert.equal(load('ssl_certificate a-rsa.crt; ssl_certificate_key a-rsa.key; ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256; ssl_protocols TLSv1.2 TLSv1.3;'), '');
});

test('the bundled TLS example loads, its certificate found beside the config (nginx\'s conf prefix, not -p)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-tls-example-'));
  try {
    mkdirSync(join(dir, 'conf'));
    const conf = join(dir, 'conf', 'weir-tls.conf');
    copyFileSync(fileURLToPath(new URL('../../../conf/weir-tls.conf', import.meta.url)), conf);
    copyFileSync(join(certs.dir, 'a-rsa.crt'), join(dir, 'conf', 'localhost.crt'));
    copyFileSync(join(certs.dir, 'a-rsa.key'), join(dir, 'conf', 'localhost.key'));
    // The prefix is elsewhere: the files must be found through the config's directory.
    const prefix = mkdtempSync(join(tmpdir(), 'weir-tls-prefix-'));
    try {
      assert.doesNotThrow(() => loadConfig({ file: conf, prefix, modules: builtinModules }));
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a fast stop closes connections still before their handshake', async () => {
  const own = await startWeir(`http { access_log off; server { listen 127.0.0.1:%PORT% ssl;
    ssl_certificate a-rsa.crt; ssl_certificate_key a-rsa.key; client_header_timeout 60s; } }`, certs.files('a-rsa'));
  const silent = netConnect(own.port, '127.0.0.1');
  await new Promise((resolve) => silent.once('connect', resolve));
  const closed = new Promise<number>((resolve) => { const t0 = Date.now(); silent.on('close', () => resolve(Date.now() - t0)); silent.on('error', () => {}); });
  await new Promise((r) => setTimeout(r, 50));
  await own.stop();
  assert.ok((await closed) < 5000, 'closed by the stop, not by client_header_timeout');
});

test('a graceful stop serves a connection still before its handshake, its first request with Connection: close', async () => {
  const own = await startWeir(`http { access_log off; server { listen 127.0.0.1:%PORT% ssl;
    ssl_certificate a-rsa.crt; ssl_certificate_key a-rsa.key; location / { return 200 "served\\n"; } } }`, certs.files('a-rsa'));
  try {
    // Accepted before the listener closed, its ClientHello not yet sent (as a reload's race leaves one).
    const raw = netConnect(own.port, '127.0.0.1');
    await new Promise((resolve) => raw.once('connect', resolve));
    await new Promise((r) => setTimeout(r, 50));
    let stopped = false;
    const stopping = own.rt.stop(true).then(() => { stopped = true; });
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' }, () => {
        s.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
      });
      let text = '';
      s.setEncoding('latin1').on('data', (d: string) => { text += d; });
      s.on('error', reject);
      s.on('close', () => resolve(text));
    });
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(answer, /\r\nConnection: close\r\n/i);
    assert.match(answer, /served\n$/);
    await stopping;
    assert.ok(stopped);
  } finally {
    await own.stop();
  }
});
