/**
 * ip_hash: mirrors nginx's ngx_http_upstream_ip_hash_module.c (1.27+).
 *
 * The key is the first three octets of an IPv4 client (so one /24 maps to one peer) or all 16
 * bytes of an IPv6 one; hash starts at 89 and folds each byte as (hash * 113 + byte) % 6271,
 * then picks by weight over the primary peers. A retry keeps folding from the last hash, so it
 * walks to another peer; after 20 misses, or with fewer than 2 peers, it falls back to round
 * robin. No backup servers (nginx's flags for ip_hash exclude `backup`).
 *
 * Deliberate difference: an IPv4-mapped IPv6 client (`::ffff:192.0.2.1`, what Node reports on a
 * dual-stack listener) hashes as the IPv4 address, because nginx listening on 0.0.0.0 sees it so.
 * A unix-socket or unparsable client hashes as three zero bytes (nginx's pseudo address).
 */

import type {
  BalancerContext,
  BalancerModule,
  BalancerRequest,
  PeerConnection,
  PeerFactory,
  PeerSession,
  UpstreamGroupConf,
} from './types.js';
import { GetResult } from './types.js';
import {
  RoundRobinSession,
  RoundRobinUpstream,
  parseNoArgs,
  peerUsable,
  peerAtWeight,
  type RoundRobinOptions,
  type RoundRobinPeer,
} from './round-robin.js';

/**
 * Writes the bytes ip_hash uses for `address` into `out` (16 bytes) and returns how many:
 * 3 for IPv4 (and IPv4-mapped IPv6), 16 for IPv6, 3 zero bytes otherwise.
 */
export function ipHashBytes(address: string, out: Uint8Array): number {
  if (parseIPv4(address, 0, address.length, out, 0)) return 3;
  if (address.indexOf(':') >= 0 && parseIPv6(address, out)) {
    if (isV4Mapped(out)) {
      out[0] = out[12]!;
      out[1] = out[13]!;
      out[2] = out[14]!;
      return 3;
    }
    return 16;
  }
  out[0] = 0;
  out[1] = 0;
  out[2] = 0;
  return 3;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** Parses dotted-quad text[start, end) into out[at..at+3]; false if not exactly a.b.c.d. */
function parseIPv4(text: string, start: number, end: number, out: Uint8Array, at: number): boolean {
  let octet = 0;
  let digits = 0;
  let part = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return false;
    } else if (c === 46 && digits > 0 && part < 3) {
      out[at + part++] = octet;
      octet = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  if (digits === 0 || part !== 3) return false;
  out[at + 3] = octet;
  return true;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses IPv6 text (with `::`, an embedded IPv4 tail, an optional `%zone` or brackets) into 16 bytes. */
function parseIPv6(address: string, out: Uint8Array): boolean {
  let start = 0;
  let end = address.length;
  if (address.charCodeAt(0) === 91 /* [ */ && address.charCodeAt(end - 1) === 93) {
    start = 1;
    end--;
  }
  const zone = address.indexOf('%', start);
  if (zone >= 0 && zone < end) end = zone;
  out.fill(0);
  let pos = 0;
  let gap = -1;
  let i = start;
  if (address.charCodeAt(i) === 58) {
    if (address.charCodeAt(i + 1) !== 58) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    if (pos >= 16) return false;
    // an IPv4 tail: dotted quad in the last 4 bytes
    let j = i;
    while (j < end && address.charCodeAt(j) !== 58) j++;
    if (j === end && address.indexOf('.', i) >= 0 && address.indexOf('.', i) < end) {
      if (pos > 12 || !parseIPv4(address, i, end, out, pos)) return false;
      pos += 4;
      break;
    }
    let value = 0;
    let n = 0;
    for (; i < end; i++) {
      const h = hexValue(address.charCodeAt(i));
      if (h < 0) break;
      value = (value << 4) | h;
      if (++n > 4) return false;
    }
    if (n === 0) return false;
    out[pos++] = value >>> 8;
    out[pos++] = value & 0xff;
    if (i === end) break;
    if (address.charCodeAt(i) !== 58) return false;
    i++;
    if (address.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = pos;
      i++;
    } else if (i === end) {
      return false;
    }
  }
  if (gap >= 0) {
    const tail = pos - gap;
    const shift = 16 - pos;
    for (let k = tail - 1; k >= 0; k--) {
      out[gap + shift + k] = out[gap + k]!;
      out[gap + k] = 0;
    }
    return true;
  }
  return pos === 16;
}

/** The ip_hash peer choice as a pure function, for tests and tools: index into the primary peers. */
export function ipHashFirstChoice(address: string, weights: readonly number[]): number {
  const bytes = new Uint8Array(16);
  const len = ipHashBytes(address, bytes);
  let hash = 89;
  for (let i = 0; i < len; i++) hash = (hash * 113 + bytes[i]!) % 6271;
  let total = 0;
  for (const w of weights) total += w;
  let w = hash % total;
  let p = 0;
  while (w >= weights[p]!) {
    w -= weights[p]!;
    p++;
  }
  return p;
}

export class IpHashSession extends RoundRobinSession {
  private hash = 89;
  private hashTries = 0;
  private readonly addr = new Uint8Array(16);
  private readonly addrLen: number;

  constructor(upstream: RoundRobinUpstream, request: BalancerRequest) {
    super(upstream);
    this.addrLen = ipHashBytes(request.remoteAddress, this.addr);
  }

  override get(pc: PeerConnection): GetResult {
    const table = this.table;
    if (this.hashTries > 20 || table.number < 2) return this.getRoundRobin(pc);

    pc.cached = false;
    const now = this.upstream.context.now();
    const peers = table.peers;
    const addr = this.addr;
    const addrLen = this.addrLen;
    let hash = this.hash;
    let peer: RoundRobinPeer;

    for (;;) {
      for (let i = 0; i < addrLen; i++) hash = (hash * 113 + addr[i]!) % 6271;
      const p = peerAtWeight(peers, hash % table.totalWeight);
      peer = peers[p]!;
      if (!this.tried.has(p) && peerUsable(peer, now)) break;
      if (++this.hashTries > 20) return this.getRoundRobin(pc);
    }

    this.choose(peer, now);
    this.hash = hash;
    return this.connect(pc, peer);
  }
}

class IpHashUpstream extends RoundRobinUpstream {
  override createSession(request: BalancerRequest): PeerSession {
    return new IpHashSession(this, request);
  }
}

export type IpHashOptions = RoundRobinOptions;

export function parseIpHashArgs(args: readonly string[]): IpHashOptions {
  return parseNoArgs('ip_hash', args);
}

export const ipHashBalancer: BalancerModule<IpHashOptions> = {
  name: 'ip_hash',
  supports: { weight: true, maxFails: true, failTimeout: true, maxConns: true, down: true, backup: false },
  parseArgs: parseIpHashArgs,
  initUpstream(group: UpstreamGroupConf, _options: IpHashOptions, context: BalancerContext): PeerFactory {
    return new IpHashUpstream(group, context);
  },
};
