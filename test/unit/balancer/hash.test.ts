import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildChashRing,
  chashFirstServer,
  crc32,
  hashBalancer,
  hashFirstChoice,
  parseHashArgs,
} from '../../../src/balancer/hash.js';
import { GetResult, PeerState, type PeerFactory } from '../../../src/balancer/types.js';
import { Clock, TestPc, compile, group, request, server } from './fixtures.js';

const enc = new TextEncoder();

function pick(f: PeerFactory, key: string, failing: ReadonlySet<string> = new Set()): string[] {
  const s = f.createSession(request('127.0.0.1', { k: key }));
  const pc = new TestPc();
  pc.tries = s.tries;
  const tried: string[] = [];
  for (;;) {
    if (s.get(pc) !== GetResult.Ok) return [...tried, 'busy'];
    tried.push(pc.address!.name);
    if (failing.has(pc.address!.name)) {
      s.free(pc, PeerState.Failed);
      if (pc.tries > 0) continue;
      return tried;
    }
    s.free(pc, PeerState.Ok);
    return tried;
  }
}

test('crc32 is the standard CRC-32 (check value of "123456789")', () => {
  assert.equal(crc32(enc.encode('123456789')), 0xcbf43926);
  assert.equal(crc32(enc.encode('')), 0);
});

test('plain hash: ((crc32(key) >> 16) & 0x7fff) % total weight, by weight', () => {
  // crc32("123456789") = 0xcbf43926 → >> 16 = 0xcbf4, & 0x7fff = 0x4bf4 = 19444;
  // 19444 % 3 = 1 → second peer; 19444 % 7 = 5 → with weights 5,1,1: 5 - 5 = 0 < 1 → second
  assert.equal(hashFirstChoice('123456789', [1, 1, 1]), 1);
  assert.equal(hashFirstChoice('123456789', [5, 1, 1]), 1);
  const f = hashBalancer.initUpstream(group('a:80', 'b:80', 'c:80'), parseHashArgs(['$k'], compile), new Clock());
  assert.deepEqual(pick(f, '123456789'), ['b:80']);
  // every key maps to the peer of nginx's formula, each time (and the 20 keys reach all three)
  const names = ['a:80', 'b:80', 'c:80'];
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const key = `/item/${i}`;
    const expected = names[((crc32(enc.encode(key)) >>> 16) & 0x7fff) % 3]!;
    assert.deepEqual(pick(f, key), [expected], key);
    assert.deepEqual(pick(f, key), [expected], `${key}, again`);
    seen.add(expected);
  }
  assert.equal(seen.size, 3);
});

test('plain hash: a failed peer is rehashed to another, empty key falls back to round robin', () => {
  const f = hashBalancer.initUpstream(group('a:80', 'b:80', 'c:80'), parseHashArgs(['$k'], compile), new Clock());
  const tried = pick(f, '123456789', new Set(['b:80']));
  assert.equal(tried[0], 'b:80');
  assert.equal(tried.length, 2);
  assert.notEqual(tried[1], 'b:80');
  // b is now failed for fail_timeout: new requests for the key rehash away from it
  assert.notEqual(pick(f, '123456789')[0], 'b:80');
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) seen.add(pick(f, '')[0]!);
  assert.ok(seen.size >= 2);
});

test('consistent ring: 160 points per weight unit, from HOST \\0 PORT as written', () => {
  const ring = buildChashRing([
    { server: server('10.0.0.1:80'), weight: 1 },
    { server: server('10.0.0.2:80'), weight: 2 },
  ]);
  assert.equal(ring.hashes.length, 480);
  for (let i = 1; i < ring.hashes.length; i++) assert.ok(ring.hashes[i - 1]! < ring.hashes[i]!);
  // the first point of a server: crc32("10.0.0.1" "\0" "80" 00 00 00 00)
  const first = crc32(new Uint8Array([...enc.encode('10.0.0.1'), 0, ...enc.encode('80'), 0, 0, 0, 0]));
  const at = ring.hashes.indexOf(first);
  assert.ok(at >= 0);
  assert.equal(ring.servers[at], '10.0.0.1:80');
  // two addresses of one name add the same points once
  const dup = buildChashRing([
    { server: server('app:80'), weight: 1 },
    { server: server('app:80'), weight: 1 },
  ]);
  assert.equal(dup.hashes.length, 160);
});

test('consistent hash: adding a server remaps about 1/N of keys, only to the new server', () => {
  const names = ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80', '10.0.0.5:80'];
  const before = buildChashRing(names.map((n) => ({ server: server(n), weight: 1 })));
  const after = buildChashRing([...names, '10.0.0.6:80'].map((n) => ({ server: server(n), weight: 1 })));
  const keys = 20_000;
  let moved = 0;
  for (let i = 0; i < keys; i++) {
    const key = `/objects/${i}`;
    const a = chashFirstServer(before, key);
    const b = chashFirstServer(after, key);
    if (a !== b) {
      moved++;
      assert.equal(b, '10.0.0.6:80');
    }
  }
  const share = moved / keys;
  assert.ok(share > 0.08 && share < 1 / 6 + 0.06, `moved share ${share}`);
});

test('consistent hash session: picks the ring server, walks on when it is unavailable', () => {
  const g = group('10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80');
  const f = hashBalancer.initUpstream(g, parseHashArgs(['$k', 'consistent'], compile), new Clock());
  const ring = buildChashRing(g.servers.map((s) => ({ server: s, weight: 1 })));
  for (let i = 0; i < 30; i++) {
    const key = `k${i}`;
    assert.deepEqual(pick(f, key), [chashFirstServer(ring, key)]);
  }
  const target = chashFirstServer(ring, 'k0');
  const tried = pick(f, 'k0', new Set([target]));
  assert.equal(tried[0], target);
  assert.notEqual(tried[1], target);
  assert.notEqual(pick(f, 'k0')[0], target, 'failed peer skipped on later requests');
});

test('hash arguments', () => {
  assert.equal(parseHashArgs(['$k'], compile).consistent, false);
  assert.equal(parseHashArgs(['$k', 'consistent'], compile).consistent, true);
  assert.throws(() => parseHashArgs(['$k', 'foo'], compile), { message: 'invalid parameter "foo"' });
  assert.throws(() => parseHashArgs([], compile), { message: 'invalid number of arguments in "hash" directive' });
});
