// Address and CIDR text as nginx's ngx_inet.c reads it (src/http/inet.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INADDR_NONE, inet6Addr, inetAddr, isV4Mapped, parseCidr } from '../../../src/http/inet.js';

function v6(text: string): string | null {
  const out = new Uint8Array(16);
  if (!inet6Addr(text, out)) return null;
  return Buffer.from(out).toString('hex');
}

test('inetAddr: dotted quads, nginx\'s leniencies (empty octets, leading zeros) and refusals', () => {
  assert.equal(inetAddr('127.0.0.1'), 0x7f000001);
  assert.equal(inetAddr('10..1.2'), 0x0a000102);
  assert.equal(inetAddr('010.001.000.009'), 0x0a010009);
  assert.equal(inetAddr('255.255.255.254'), 0xfffffffe);
  for (const bad of ['255.255.255.255', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.4a', '', '::1']) {
    assert.equal(inetAddr(bad), INADDR_NONE, bad);
  }
  assert.equal(inetAddr('x1.2.3.4y', 1, 8), 0x01020304);
});

test('inet6Addr: groups, "::" anywhere, an IPv4 tail, case; refusals', () => {
  assert.equal(v6('::1'), '00000000000000000000000000000001');
  assert.equal(v6('::'), '00000000000000000000000000000000');
  assert.equal(v6('2001:DB8::'), '20010db8000000000000000000000000');
  assert.equal(v6('2001:db8:0:0:1:0:0:1'), '20010db8000000000001000000000001');
  assert.equal(v6('fe80::1:2'), 'fe800000000000000000000000010002');
  assert.equal(v6('::ffff:127.0.0.1'), '00000000000000000000ffff7f000001');
  assert.equal(v6('1:2:3:4:5:6:1.2.3.4'), '00010002000300040005000601020304');
  for (const bad of ['1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '12345::', '1.2.3.4', 'g::1', '', '::1.2.3', 'fe80::1%lo', '1:2:3:4:5:6:7:1.2.3.4']) {
    assert.equal(v6(bad), null, bad);
  }
});

test('parseCidr: masks, host bits cleared and reported, refusals', () => {
  assert.deepEqual(parseCidr('10.1.2.3'), { family: 4, addr: 0x0a010203, mask: 0xffffffff, lowBits: false });
  assert.deepEqual(parseCidr('10.0.0.0/8'), { family: 4, addr: 0x0a000000, mask: 0xff000000, lowBits: false });
  assert.deepEqual(parseCidr('10.1.2.3/8'), { family: 4, addr: 0x0a000000, mask: 0xff000000, lowBits: true });
  assert.deepEqual(parseCidr('1.2.3.4/0'), { family: 4, addr: 0, mask: 0, lowBits: true });
  assert.deepEqual(parseCidr('1.2.3.4/32'), { family: 4, addr: 0x01020304, mask: 0xffffffff, lowBits: false });
  const c6 = parseCidr('2001:db8::1/33');
  assert.ok(c6 && c6.family === 6);
  assert.equal(Buffer.from(c6.addr).toString('hex'), '20010db8000000000000000000000000');
  assert.equal(Buffer.from(c6.mask).toString('hex'), 'ffffffff800000000000000000000000');
  assert.equal(c6.lowBits, true);
  const all6 = parseCidr('::/0');
  assert.ok(all6 && all6.family === 6 && all6.mask.every((b) => b === 0) && !all6.lowBits);
  const host6 = parseCidr('::1');
  assert.ok(host6 && host6.family === 6 && host6.mask.every((b) => b === 0xff));
  for (const bad of ['1.2.3.4/33', '::1/129', '1.2.3.4/', '1.2.3.4/a', '1.2.3.4/8/8', '255.255.255.255', '255.255.255.255/32', 'all', '']) {
    assert.equal(parseCidr(bad), null, bad);
  }
});

test('isV4Mapped: only ::ffff:0:0/96', () => {
  const b = new Uint8Array(16);
  assert.ok(inet6Addr('::ffff:10.0.0.1', b) && isV4Mapped(b));
  assert.ok(inet6Addr('::10.0.0.1', b) && !isV4Mapped(b));
  assert.ok(inet6Addr('1::ffff:10.0.0.1', b) && !isV4Mapped(b));
});
