// The PROXY protocol header on bytes (src/http/proxy-protocol.ts): v1 TCP4/TCP6/UNKNOWN, v2
// PROXY/LOCAL over INET/INET6/UNIX, TLVs and nginx's TLV names, a header that arrives in pieces,
// garbage and headers too long, each with nginx's log text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getTlv, readProxyHeader, tlvQuery, V1_MAX_HEADER, type ProxyHeaderResult, type ProxyProtocol } from '../../../src/http/proxy-protocol.js';

const SIG = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');

function v2(verCmd: number, famTrans: number, body: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(body.length);
  return Buffer.concat([SIG, Buffer.from([verCmd, famTrans]), len, body]);
}

function tlv(type: number, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const h = Buffer.from([type, 0, 0]);
  h.writeUInt16BE(v.length, 1);
  return Buffer.concat([h, v]);
}

const INET4 = Buffer.from([192, 0, 2, 1, 192, 0, 2, 2, 0, 123, 0x16, 0x2e]);

function done(r: ProxyHeaderResult): { length: number; header: ProxyProtocol | null } {
  assert.equal(r.kind, 'done', JSON.stringify(r));
  return r as { length: number; header: ProxyProtocol | null };
}

function error(r: ProxyHeaderResult): string | null {
  assert.equal(r.kind, 'error', JSON.stringify(r));
  return (r as { message: string | null }).message;
}

test('v1 TCP4 and TCP6: the addresses as written, the ports, the length up to LF', () => {
  const line = 'PROXY TCP4 192.0.2.1 192.0.2.2 123 5678\r\n';
  const r = done(readProxyHeader(Buffer.from(`${line}GET / HTTP/1.0\r\n\r\n`)));
  assert.equal(r.length, line.length);
  assert.deepEqual(r.header, { srcAddr: '192.0.2.1', dstAddr: '192.0.2.2', srcPort: 123, dstPort: 5678, tlvs: null });
  const six = done(readProxyHeader(Buffer.from('PROXY TCP6 2001:Db8::1 2001:Db8::2 0 65535\r\n')));
  assert.deepEqual(six.header, { srcAddr: '2001:Db8::1', dstAddr: '2001:Db8::2', srcPort: 0, dstPort: 65535, tlvs: null });
});

test('v1 UNKNOWN: skipped to CRLF, no addresses', () => {
  assert.deepEqual(done(readProxyHeader(Buffer.from('PROXY UNKNOWN\r\nGET'))), { kind: 'done', length: 15, header: null });
  assert.equal(done(readProxyHeader(Buffer.from('PROXY UNKNOWN 1 2 3 4 5 6\r\n'))).length, 27);
});

test('v1 garbage: nginx\'s broken header line, the bytes up to CR or LF', () => {
  assert.equal(error(readProxyHeader(Buffer.from('BOGUS TCP4 192.0.2.1 192.0.2.2 1234 5678\r\n'))),
    'broken header: "BOGUS TCP4 192.0.2.1 192.0.2.2 1234 5678"');
  assert.equal(error(readProxyHeader(Buffer.from('GET / HTTP/1.1\r\n'))), 'broken header: "GET / HTTP/1.1"');
  assert.equal(error(readProxyHeader(Buffer.from('\r\nGET'))), 'broken header: ""');
  for (const bad of [
    'PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n', 'PROXY TCP4x1.2.3.4 1.2.3.4 1 2\r\n', 'PROXY TCP4 1.2.3.g 1.2.3.4 1 2\r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n', 'PROXY TCP4 1.2.3.4 1.2.3.4  2\r\n', 'PROXY TCP4 1.2.3.4 1.2.3.4 1 2x\r\n',
    'PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX', 'PROXY TCP4 1.2.3.4 1.2.3.4 1 -2\r\n', 'PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n',
  ]) {
    assert.match(error(readProxyHeader(Buffer.from(bad, 'latin1')))!, /^broken header: "PROXY /, bad);
  }
});

test('a header in pieces: every prefix of a valid one asks for more, then it is read', () => {
  const headers = [
    Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 123 5678\r\n'),
    Buffer.from('PROXY UNKNOWN 1 2\r\n'),
    v2(0x21, 0x11, Buffer.concat([INET4, tlv(0x01, 'h2')])),
  ];
  for (const h of headers) {
    for (let n = 0; n < h.length; n++) assert.deepEqual(readProxyHeader(h.subarray(0, n)), { kind: 'again' }, `${n} of ${h.length}`);
    assert.equal(done(readProxyHeader(h)).length, h.length);
  }
});

test('v1 longer than 107 bytes without its end is broken; a bad byte is broken at once', () => {
  const long = Buffer.from(`PROXY TCP6 ${'1:'.repeat(60)}`);
  assert.ok(long.length >= V1_MAX_HEADER);
  assert.match(error(readProxyHeader(long))!, /^broken header: "PROXY TCP6 1:1:/);
  assert.deepEqual(readProxyHeader(long.subarray(0, V1_MAX_HEADER - 1)), { kind: 'again' });
  assert.match(error(readProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 z')))!, /broken header/);
  assert.match(error(readProxyHeader(Buffer.from('PROXY UNKNOWN'.padEnd(120, ' '))))!, /broken header: "PROXY UNKNOWN/);
});

test('v2 PROXY over INET and INET6: addresses as ngx_sock_ntop prints them, TLVs kept', () => {
  const four = done(readProxyHeader(Buffer.concat([v2(0x21, 0x11, INET4), Buffer.from('GET')])));
  assert.equal(four.length, 28);
  assert.deepEqual(four.header, { srcAddr: '192.0.2.1', dstAddr: '192.0.2.2', srcPort: 123, dstPort: 5678, tlvs: null });
  const a6 = Buffer.alloc(36);
  a6.writeUInt32BE(0x20010db8, 0); a6.writeUInt32BE(1, 12);
  a6.writeUInt32BE(0x20010db8, 16); a6.writeUInt32BE(0x0000ffff, 24); a6.writeUInt32BE(0xc0000201, 28);
  a6.writeUInt16BE(123, 32); a6.writeUInt16BE(5678, 34);
  const six = done(readProxyHeader(v2(0x21, 0x21, Buffer.concat([a6, tlv(0x05, 'id')]))));
  assert.equal(six.header!.srcAddr, '2001:db8::1');
  assert.equal(six.header!.dstAddr, '2001:db8::ffff:c000:201');
  assert.deepEqual(six.header!.tlvs, tlv(0x05, 'id'));
});

test('v2 LOCAL, UNIX, UNSPEC, DGRAM: skipped by their length, no addresses', () => {
  assert.deepEqual(readProxyHeader(v2(0x20, 0x11, INET4)), { kind: 'done', length: 28, header: null });
  assert.deepEqual(readProxyHeader(v2(0x21, 0x31, Buffer.alloc(216))), { kind: 'done', length: 232, header: null });
  assert.deepEqual(readProxyHeader(v2(0x21, 0x01, Buffer.alloc(0))), { kind: 'done', length: 16, header: null });
  assert.deepEqual(readProxyHeader(v2(0x21, 0x41, Buffer.from([1, 2, 3, 4]))), { kind: 'done', length: 20, header: null });
  assert.deepEqual(readProxyHeader(v2(0x21, 0x12, INET4)), { kind: 'done', length: 28, header: null });
});

test('v2 errors: version, too large, addresses shorter than their family', () => {
  assert.equal(error(readProxyHeader(v2(0x11, 0x11, INET4))), 'unknown PROXY protocol version: 1');
  assert.equal(error(readProxyHeader(v2(0x21, 0x11, Buffer.alloc(2000)).subarray(0, 100), 1024)), 'header is too large');
  assert.equal(readProxyHeader(v2(0x21, 0x11, Buffer.alloc(2000)), 4096).kind, 'done');
  assert.equal(error(readProxyHeader(v2(0x21, 0x11, Buffer.alloc(8)))), null);
  assert.equal(error(readProxyHeader(v2(0x21, 0x21, Buffer.alloc(20)))), null);
});

test('TLV names: nginx\'s table, 0xHH, ssl_verify and the ssl sub-TLVs; unknown and broken ones', () => {
  const sub = Buffer.concat([tlv(0x21, 'TLSv1.3'), tlv(0x22, 'example.com')]);
  const ssl = Buffer.concat([Buffer.from([1, 0, 0, 1, 0]), sub]);
  const tlvs = Buffer.concat([tlv(0x01, 'h2'), tlv(0x02, 'host'), tlv(0x20, ssl), tlv(0xae, 'x')]);
  const pp: ProxyProtocol = { srcAddr: '', dstAddr: '', srcPort: 0, dstPort: 0, tlvs };
  const get = (name: string) => getTlv(pp, name, tlvQuery(name));
  assert.deepEqual(get('alpn'), { kind: 'found', value: 'h2' });
  assert.deepEqual(get('0x02'), { kind: 'found', value: 'host' });
  assert.deepEqual(get('0x000ae'), { kind: 'found', value: 'x' });
  assert.deepEqual(get('ssl_verify'), { kind: 'found', value: '256' });
  assert.deepEqual(get('ssl_version'), { kind: 'found', value: 'TLSv1.3' });
  assert.deepEqual(get('ssl_0x22'), { kind: 'found', value: 'example.com' });
  assert.deepEqual(get('ssl_cipher'), { kind: 'none' });
  assert.deepEqual(get('netns'), { kind: 'none' });
  assert.equal(get('ssl').kind, 'found');
  assert.deepEqual(get('bogus'), { kind: 'none', log: 'unknown PROXY protocol TLV "bogus"' });
  assert.deepEqual(get('ssl_bogus'), { kind: 'none', log: 'unknown PROXY protocol TLV "ssl_bogus"' });
  assert.deepEqual(get('0xzz'), { kind: 'error', log: 'invalid PROXY protocol TLV "0xzz"' });
  assert.deepEqual(get('0x'), { kind: 'error', log: 'invalid PROXY protocol TLV "0x"' });
  const broken: ProxyProtocol = { ...pp, tlvs: Buffer.concat([tlv(0x01, 'h2'), Buffer.from([0x05, 0, 9, 1])]) };
  assert.deepEqual(getTlv(broken, 'unique_id', tlvQuery('unique_id')), { kind: 'error', log: 'broken PROXY protocol TLV' });
  assert.deepEqual(getTlv(broken, 'alpn', tlvQuery('alpn')), { kind: 'found', value: 'h2' });
  const shortSsl: ProxyProtocol = { ...pp, tlvs: tlv(0x20, Buffer.from([1, 0])) };
  assert.deepEqual(getTlv(shortSsl, 'ssl_verify', tlvQuery('ssl_verify')), { kind: 'error', log: null });
  const none: ProxyProtocol = { ...pp, tlvs: null };
  assert.deepEqual(getTlv(none, 'ssl_verify', tlvQuery('ssl_verify')), { kind: 'none' });
});
