// Reading a ClientHello before node:tls does (src/http/tls/client-hello.ts), the server name as
// nginx validates it (acceptor.ts), the session id inside node's serialized session (variables.ts)
// and the names $ssl_ciphers and $ssl_curves print (names.ts).
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { connect } from 'node:tls';
import { test } from 'node:test';
import { HelloState, isGrease, readClientHello, type ClientHello } from '../../../src/http/tls/client-hello.js';
import { validateServerName } from '../../../src/http/tls/acceptor.js';
import { sessionIdOf } from '../../../src/http/tls/variables.js';
import { cipherName, groupName } from '../../../src/http/tls/names.js';

/** The bytes node's TLS client sends first. */
function clientHello(o: { servername?: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {}): Promise<Buffer> {
  return new Promise((resolve) => {
    const wire = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) { resolve(chunk); cb(); },
    });
    const s = connect({ socket: wire, servername: o.servername, maxVersion: o.maxVersion, rejectUnauthorized: false });
    s.on('error', () => {});
    setImmediate(() => s.destroy());
  });
}

function parse(bytes: Buffer): { state: HelloState; hello: ClientHello | null } {
  const out: { hello: ClientHello | null } = { hello: null };
  return { state: readClientHello(bytes, out), hello: out.hello };
}

test('a whole ClientHello: its server name, offered suites and groups, TLSv1.3 or not', async () => {
  const bytes = await clientHello({ servername: 'Example.TEST' });
  const { state, hello } = parse(bytes);
  assert.equal(state, HelloState.Done);
  assert.equal(hello?.serverName, 'Example.TEST', 'as sent: $ssl_server_name shows it so');
  assert.ok(hello!.cipherSuites.includes(0x1301));
  assert.ok(hello!.groups.includes(0x001d));
  assert.equal(hello!.tls13, true);
  assert.equal(parse(await clientHello({ maxVersion: 'TLSv1.2' })).hello?.tls13, false);
  assert.equal(parse(await clientHello()).hello?.serverName, null, 'no SNI');
});

test('a ClientHello split anywhere waits for the rest; across records it is gathered', async () => {
  const bytes = await clientHello({ servername: 'a.test' });
  for (const cut of [1, 3, 5, 9, bytes.length - 1]) assert.equal(parse(bytes.subarray(0, cut)).state, HelloState.Again, `cut at ${cut}`);
  // The same handshake message in two records.
  const body = bytes.subarray(5);
  const half = Math.floor(body.length / 2);
  const rec = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, b.length >> 8, b.length & 0xff]), b]);
  const two = Buffer.concat([rec(body.subarray(0, half)), rec(body.subarray(half))]);
  assert.equal(parse(two.subarray(0, 5 + half + 3)).state, HelloState.Again);
  assert.equal(parse(two).hello?.serverName, 'a.test');
});

test('not TLS is plain HTTP (497); what does not parse is left to OpenSSL', () => {
  assert.equal(parse(Buffer.from('GET / HTTP/1.1\r\n')).state, HelloState.NotTls);
  assert.equal(parse(Buffer.alloc(0)).state, HelloState.Again);
  // An SSLv2-style hello: TLS, no name to read.
  assert.deepEqual(parse(Buffer.from([0x80, 0x2e, 0x01])), { state: HelloState.Done, hello: null });
  // A record that is not a handshake, a handshake that is not a ClientHello, garbage inside.
  assert.equal(parse(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00])).hello, null);
  const garbage = parse(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]));
  assert.equal(garbage.state, HelloState.Done);
  assert.equal(garbage.hello, null);
  // A message claiming more than 64 KiB is not waited for.
  assert.equal(parse(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x10, 0x00, 0x00])).state, HelloState.Done);
});

test('server names as ngx_http_validate_host takes them', () => {
  assert.equal(validateServerName('Example.COM'), 'example.com');
  assert.equal(validateServerName('example.com.'), 'example.com');
  assert.equal(validateServerName('a..b'), null);
  assert.equal(validateServerName('a/b'), null);
  assert.equal(validateServerName('a\\b'), null);
  assert.equal(validateServerName('.'), null);
  assert.equal(validateServerName('a\u0000b'), null);
});

test('the session id inside a DER SSL_SESSION; names of suites and groups, hex when unknown', () => {
  const id = Buffer.alloc(32, 0xab);
  const inner = Buffer.concat([Buffer.from([0x02, 0x01, 0x01, 0x02, 0x02, 0x03, 0x04, 0x04, 0x02, 0x13, 0x02, 0x04, 0x20]), id]);
  const der = Buffer.concat([Buffer.from([0x30, 0x81, inner.length]), inner]);
  assert.deepEqual(sessionIdOf(der), id);
  assert.equal(sessionIdOf(Buffer.from([0x31, 0x00])), null);
  assert.equal(sessionIdOf(Buffer.from([0x30, 0x05, 0x02, 0x01])), null, 'truncated');
  assert.equal(cipherName(0x1302), 'TLS_AES_256_GCM_SHA384');
  assert.equal(cipherName(0xc02f), 'ECDHE-RSA-AES128-GCM-SHA256');
  assert.equal(cipherName(0xabcd), '0xabcd');
  assert.equal(groupName(0x0017), 'prime256v1');
  assert.equal(groupName(0x001d), 'X25519');
  assert.equal(groupName(0x0a0a), '0x0a0a');
  assert.equal(isGrease(0x0a0a), true);
  assert.equal(isGrease(0x1a1a), true);
  assert.equal(isGrease(0x0a1a), false);
});
