/**
 * hash KEY [consistent]: mirrors nginx's ngx_http_upstream_hash_module.c (1.27+).
 *
 * Plain: each attempt hashes `[REHASH]KEY` with CRC32 (REHASH = attempt number in decimal,
 * omitted the first time), adds ((crc >> 16) & 0x7fff) to a running sum (Cache::Memcached's
 * formula) and picks by weight over the primary peers; after 20 misses, with fewer than 2 peers
 * or an empty key it falls back to round robin.
 *
 * consistent: a ketama ring of 160 points per unit of weight per peer. Each point hashes
 * crc32(HOST "\0" PORT PREV) where HOST/PORT come from the `server` name as written (no default
 * port is added; `unix:` names drop the prefix and have no port) and PREV is the previous point's
 * hash as 4 little-endian bytes (0 for the first). Points are sorted and duplicates dropped. A
 * request starts at the first point >= crc32(KEY), takes that point's server (smooth round robin
 * among usable peers of that server name) and walks clockwise; after 20 points, with a single
 * peer or an empty key it falls back to round robin.
 *
 * No backup servers (nginx's flags for hash exclude `backup`). The key is hashed as UTF-8 bytes.
 */

import type {
  BalancerContext,
  BalancerModule,
  BalancerRequest,
  CompiledValue,
  PeerConnection,
  PeerFactory,
  PeerSession,
  UpstreamGroupConf,
} from './types.js';
import { GetResult } from './types.js';
import {
  RoundRobinSession,
  RoundRobinUpstream,
  peerUsable,
  peerAtWeight,
  type RoundRobinPeer,
} from './round-robin.js';

const CRC_TABLE = /* @__PURE__ */ (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** ngx_crc32_init. */
export const CRC32_INIT = 0xffffffff;

/** ngx_crc32_update over bytes[start, end). */
export function crc32Update(crc: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  for (let i = start; i < end; i++) crc = CRC_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}

/** ngx_crc32_update with one byte. */
function crc32Byte(crc: number, byte: number): number {
  return (CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8)) >>> 0;
}

/** ngx_crc32_final. */
export function crc32Final(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

/** ngx_crc32_long: CRC32 of a whole buffer. */
export function crc32(bytes: Uint8Array): number {
  return crc32Final(crc32Update(CRC32_INIT, bytes));
}

/** Feeds the decimal digits of n (n > 0) to the CRC without building a string. */
function crc32Decimal(crc: number, n: number): number {
  let div = 1;
  while (div * 10 <= n) div *= 10;
  for (; div >= 1; div = Math.floor(div / 10)) crc = crc32Byte(crc, 48 + (Math.floor(n / div) % 10));
  return crc;
}

const encoder = new TextEncoder();

/** Options of `hash`: the compiled key and whether it is `consistent`. */
export interface HashOptions {
  readonly key: CompiledValue;
  readonly consistent: boolean;
}

export function parseHashArgs(args: readonly string[], compile: (text: string) => CompiledValue): HashOptions {
  if (args.length < 1 || args.length > 2) {
    throw new Error('invalid number of arguments in "hash" directive');
  }
  const key = compile(args[0]!);
  if (args.length === 2 && args[1] !== 'consistent') {
    throw new Error(`invalid parameter "${args[1]}"`);
  }
  return { key, consistent: args.length === 2 };
}

/** The plain hash's first choice as a pure function: index into the peers, by weight. */
export function hashFirstChoice(key: string, weights: readonly number[]): number {
  let total = 0;
  for (const w of weights) total += w;
  const h = (crc32(encoder.encode(key)) >>> 16) & 0x7fff;
  let w = h % total;
  let p = 0;
  while (w >= weights[p]!) {
    w -= weights[p]!;
    p++;
  }
  return p;
}

class HashUpstream extends RoundRobinUpstream {
  constructor(group: UpstreamGroupConf, context: BalancerContext, readonly key: CompiledValue) {
    super(group, context);
  }

  override createSession(request: BalancerRequest): PeerSession {
    return new HashSession(this, encoder.encode(request.evaluate(this.key)));
  }
}

export class HashSession extends RoundRobinSession {
  private hashTries = 0;
  private rehash = 0;
  private hash = 0;

  constructor(upstream: RoundRobinUpstream, private readonly key: Uint8Array) {
    super(upstream);
  }

  override get(pc: PeerConnection): GetResult {
    const table = this.table;
    if (this.hashTries > 20 || table.number < 2 || this.key.length === 0) return this.getRoundRobin(pc);

    pc.cached = false;
    const now = this.upstream.context.now();
    const peers = table.peers;
    let peer: RoundRobinPeer;

    for (;;) {
      let crc = CRC32_INIT;
      if (this.rehash > 0) crc = crc32Decimal(crc, this.rehash);
      crc = crc32Final(crc32Update(crc, this.key));
      this.hash = (this.hash + ((crc >>> 16) & 0x7fff)) >>> 0;
      this.rehash++;

      const p = peerAtWeight(peers, this.hash % table.totalWeight);
      peer = peers[p]!;
      if (!this.tried.has(p) && peerUsable(peer, now)) break;
      if (++this.hashTries > 20) return this.getRoundRobin(pc);
    }

    this.choose(peer, now);
    return this.connect(pc, peer);
  }
}

/** The sorted, de-duplicated ketama ring: point hashes and the server name each belongs to. */
export interface ChashRing {
  readonly hashes: Uint32Array;
  readonly servers: readonly string[];
}

/** Splits a `server` name as nginx's update_chash does: HOST and PORT bytes. */
function hostAndPort(name: string): [string, string] {
  if (name.length >= 5 && name.slice(0, 5).toLowerCase() === 'unix:') return [name.slice(5), ''];
  for (let j = 0; j < name.length; j++) {
    const c = name.charCodeAt(name.length - j - 1);
    if (c === 58) return [name.slice(0, name.length - j - 1), name.slice(name.length - j)];
    if (c < 48 || c > 57) break;
  }
  return [name, ''];
}

/** Builds the ring for peers (server name and weight each): ngx_http_upstream_update_chash. */
export function buildChashRing(peers: readonly { readonly server: { readonly name: string }; readonly weight: number }[]): ChashRing {
  const hashes: number[] = [];
  const owners: string[] = [];
  const prev = new Uint8Array(4);
  for (const peer of peers) {
    const name = peer.server.name;
    const [host, port] = hostAndPort(name);
    let base = crc32Update(CRC32_INIT, encoder.encode(host));
    base = crc32Byte(base, 0);
    base = crc32Update(base, encoder.encode(port));
    prev.fill(0);
    const npoints = peer.weight * 160;
    for (let j = 0; j < npoints; j++) {
      const hash = crc32Final(crc32Update(base, prev));
      hashes.push(hash);
      owners.push(name);
      prev[0] = hash & 0xff;
      prev[1] = (hash >>> 8) & 0xff;
      prev[2] = (hash >>> 16) & 0xff;
      prev[3] = (hash >>> 24) & 0xff;
    }
  }
  const order = hashes.map((_, i) => i).sort((a, b) => hashes[a]! - hashes[b]! || a - b);
  const outHashes: number[] = [];
  const outServers: string[] = [];
  for (const i of order) {
    if (outHashes.length > 0 && outHashes[outHashes.length - 1] === hashes[i]) continue;
    outHashes.push(hashes[i]!);
    outServers.push(owners[i]!);
  }
  return { hashes: Uint32Array.from(outHashes), servers: outServers };
}

/** ngx_http_upstream_find_chash_point: the first point >= hash (may equal the point count). */
export function findChashPoint(ring: ChashRing, hash: number): number {
  const points = ring.hashes;
  let i = 0;
  let j = points.length;
  while (i < j) {
    const k = (i + j) >>> 1;
    const h = points[k]!;
    if (hash > h) i = k + 1;
    else if (hash < h) j = k;
    else return k;
  }
  return i;
}

/** The consistent hash's first choice (all peers usable), as a pure function: the server name. */
export function chashFirstServer(ring: ChashRing, key: string): string {
  const point = findChashPoint(ring, crc32(encoder.encode(key)));
  return ring.servers[point % ring.servers.length]!;
}

class ChashUpstream extends RoundRobinUpstream {
  readonly ring: ChashRing;

  constructor(group: UpstreamGroupConf, context: BalancerContext, readonly key: CompiledValue) {
    super(group, context);
    this.ring = buildChashRing(this.primary.peers);
  }

  override createSession(request: BalancerRequest): PeerSession {
    return new ChashSession(this, encoder.encode(request.evaluate(this.key)));
  }
}

export class ChashSession extends RoundRobinSession {
  private hashTries = 0;
  private point = 0;
  private readonly ring: ChashRing;
  private readonly emptyKey: boolean;

  constructor(upstream: ChashUpstream, key: Uint8Array) {
    super(upstream);
    this.ring = upstream.ring;
    this.emptyKey = key.length === 0;
    if (this.ring.hashes.length > 0) this.point = findChashPoint(this.ring, crc32(key));
  }

  override get(pc: PeerConnection): GetResult {
    const table = this.table;
    if (this.hashTries > 20 || table.single || this.emptyKey) return this.getRoundRobin(pc);

    pc.cached = false;
    const ring = this.ring;
    if (ring.hashes.length === 0) return this.busy(pc);
    const now = this.upstream.context.now();
    const peers = table.peers;
    const tried = this.tried;

    for (;;) {
      const server = ring.servers[this.point % ring.servers.length]!;
      let best: RoundRobinPeer | null = null;
      let total = 0;
      for (let i = 0; i < peers.length; i++) {
        if (tried.has(i)) continue;
        const peer = peers[i]!;
        if (!peerUsable(peer, now)) continue;
        if (peer.server.name !== server) continue;
        peer.currentWeight += peer.effectiveWeight;
        total += peer.effectiveWeight;
        if (peer.effectiveWeight < peer.weight) peer.effectiveWeight++;
        if (best === null || peer.currentWeight > best.currentWeight) best = peer;
      }
      if (best !== null) {
        best.currentWeight -= total;
        this.choose(best, now);
        return this.connect(pc, best);
      }
      this.point++;
      if (++this.hashTries > 20) return this.getRoundRobin(pc);
    }
  }
}

export const hashBalancer: BalancerModule<HashOptions> = {
  name: 'hash',
  supports: { weight: true, maxFails: true, failTimeout: true, maxConns: true, down: true, backup: false },
  parseArgs: parseHashArgs,
  initUpstream(group: UpstreamGroupConf, options: HashOptions, context: BalancerContext): PeerFactory {
    return options.consistent
      ? new ChashUpstream(group, context, options.key)
      : new HashUpstream(group, context, options.key);
  },
};
