import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipHashBalancer, ipHashBytes, ipHashFirstChoice, parseIpHashArgs } from '../../../src/balancer/ip-hash.js';
import { GetResult, PeerState, type PeerFactory } from '../../../src/balancer/types.js';
import { Clock, TestPc, group, request } from './fixtures.js';

function pick(f: PeerFactory, addr: string): string {
  const s = f.createSession(request(addr));
  const pc = new TestPc();
  pc.tries = s.tries;
  assert.equal(s.get(pc), GetResult.Ok);
  s.free(pc, PeerState.Ok);
  return pc.address!.name;
}

const three = () => ipHashBalancer.initUpstream(group('a:80', 'b:80', 'c:80'), {}, new Clock());

test("ip_hash matches nginx's choice (derivation in comments)", () => {
  // 192.168.1.10: hash = 89; fold the first three octets with (hash * 113 + byte) % 6271:
  //   (89*113 + 192) % 6271 = 10249 % 6271 = 3978
  //   (3978*113 + 168) % 6271 = 449682 % 6271 = 4441   (6271*71 = 445241)
  //   (4441*113 + 1) % 6271 = 501834 % 6271 = 154      (6271*80 = 501680)
  //   unweighted: 154 % 3 = 1 → b;  4 peers: 154 % 4 = 2 → c
  // 10.0.0.1:
  //   (89*113 + 10) % 6271 = 3796; (3796*113 + 0) % 6271 = 2520; (2520*113 + 0) % 6271 = 2565
  //   2565 % 3 = 0 → a;  4 peers: 2565 % 4 = 1 → b
  assert.equal(pick(three(), '192.168.1.10'), 'b:80');
  assert.equal(pick(three(), '10.0.0.1'), 'a:80');
  const four = ipHashBalancer.initUpstream(group('a:80', 'b:80', 'c:80', 'd:80'), {}, new Clock());
  assert.equal(pick(four, '192.168.1.10'), 'c:80');
  assert.equal(pick(four, '10.0.0.1'), 'b:80');
  // weighted 5,1,1 (total 7): 154 % 7 = 0 → a (0 < 5); 2565 % 7 = 3 → a
  assert.equal(ipHashFirstChoice('192.168.1.10', [5, 1, 1]), 0);
  // weighted 1,1,5: 154 % 7 = 0 → a; 2565 % 7 = 3 → 3-1-1 = 1 < 5 → c
  assert.equal(ipHashFirstChoice('10.0.0.1', [1, 1, 5]), 2);
});

test('ip_hash is stable per /24', () => {
  const f = three();
  for (const net of ['192.168.1', '10.1.2', '172.16.99', '8.8.8']) {
    const first = pick(f, `${net}.1`);
    for (let host = 2; host < 255; host += 7) assert.equal(pick(f, `${net}.${host}`), first);
  }
});

test('ip_hash retry continues the hash: 192.168.1.10 goes b, then c', () => {
  // continuing from 154: (154*113+192)%6271 = 5052; (5052*113+168)%6271 = 383;
  // (383*113+1)%6271 = 5654; 5654 % 3 = 2 → c
  const f = three();
  const s = f.createSession(request('192.168.1.10'));
  const pc = new TestPc();
  pc.tries = s.tries;
  s.get(pc);
  assert.equal(pc.address!.name, 'b:80');
  s.free(pc, PeerState.Failed);
  s.get(pc);
  assert.equal(pc.address!.name, 'c:80');
});

test('ip_hash skips an unavailable peer and falls back after 20 misses', () => {
  const f = ipHashBalancer.initUpstream(group('a:80', { name: 'b:80', down: true }), {}, new Clock());
  for (let i = 0; i < 50; i++) assert.equal(pick(f, `10.${i}.3.4`), 'a:80');
});

test('ip_hash address bytes: IPv4, IPv4-mapped IPv6, IPv6, unix', () => {
  const out = new Uint8Array(16);
  assert.equal(ipHashBytes('1.2.3.4', out), 3);
  assert.deepEqual([...out.slice(0, 3)], [1, 2, 3]);
  assert.equal(ipHashBytes('::ffff:1.2.3.4', out), 3);
  assert.deepEqual([...out.slice(0, 3)], [1, 2, 3]);
  assert.equal(ipHashBytes('2001:db8::1', out), 16);
  assert.deepEqual([...out], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(ipHashBytes('::1', out), 16);
  assert.deepEqual([...out], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(ipHashBytes('unix:', out), 3);
  assert.deepEqual([...out.slice(0, 3)], [0, 0, 0]);
});

test('ip_hash takes no arguments', () => {
  assert.deepEqual(parseIpHashArgs([]), {});
  assert.throws(() => parseIpHashArgs(['x']), { message: 'invalid number of arguments in "ip_hash" directive' });
});
