/**
 * Address text to numbers, as nginx's ngx_inet.c reads it: ngx_inet_addr,
 * ngx_inet6_addr and ngx_ptocidr (`allow 10.0.0.0/8`, `deny 2001:db8::/32`).
 *
 * The parsers keep nginx's leniencies and refusals, because a config that
 * nginx accepts (or rejects) must fare the same here:
 * - an IPv4 octet may be empty (`10..1.2` is 10.0.1.2) and have leading zeros;
 * - `255.255.255.255` is no IPv4 address (it is INADDR_NONE, nginx's "error"),
 *   so as a CIDR it is tried as IPv6 and refused;
 * - a CIDR's host bits are cleared, and reported (nginx warns "low address bits
 *   of X are meaningless").
 *
 * The same parsers read the client addresses Node reports (`127.0.0.1`, `::1`,
 * `::ffff:127.0.0.1`), which are canonical text. They allocate nothing: an
 * IPv6 address is written into a caller's 16 bytes.
 */

/** ngx_inet_addr's failure (INADDR_NONE); also what 255.255.255.255 reads as. */
export const INADDR_NONE = -1;

/**
 * Dotted-quad text[start, end) as an unsigned 32-bit number, or INADDR_NONE.
 * Exactly three dots; each octet at most 255 (it may be empty).
 */
export function inetAddr(text: string, start = 0, end = text.length): number {
  let addr = 0;
  let octet = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (octet > 255) return INADDR_NONE;
      continue;
    }
    if (c === 46) {
      addr = addr * 256 + octet;
      octet = 0;
      dots++;
      continue;
    }
    return INADDR_NONE;
  }
  if (dots !== 3) return INADDR_NONE;
  addr = addr * 256 + octet;
  return addr === 0xffffffff ? INADDR_NONE : addr;
}

/**
 * IPv6 text[start, end) into out[0..16) (ngx_inet6_addr): hex groups, one `::`,
 * an IPv4 tail. False when it is not an IPv6 address (out is then garbage).
 */
export function inet6Addr(text: string, out: Uint8Array, start = 0, end = text.length): boolean {
  if (end <= start) return false;
  let p = start;
  if (text.charCodeAt(p) === 58) p++;
  let at = 0;
  let zero = -1;
  let digit = -1;
  let nibbles = 0;
  let word = 0;
  let groups = 8;
  for (; p < end; p++) {
    const c = text.charCodeAt(p);
    if (c === 58 /* : */) {
      if (nibbles) {
        digit = p + 1;
        out[at++] = word >> 8;
        out[at++] = word & 0xff;
        if (--groups) { nibbles = 0; word = 0; continue; }
      } else if (zero < 0) {
        digit = p + 1;
        zero = at;
        continue;
      }
      return false;
    }
    if (c === 46 /* . */ && nibbles) {
      if (groups < 2 || digit < 0) return false;
      const v4 = inetAddr(text, digit, end);
      if (v4 === INADDR_NONE) return false;
      out[at++] = v4 >>> 24;
      out[at++] = (v4 >>> 16) & 0xff;
      word = v4 & 0xffff;
      groups--;
      nibbles = 1;
      break;
    }
    if (++nibbles > 4) return false;
    const h = c | 0x20;
    if (c >= 48 && c <= 57) word = word * 16 + (c - 48);
    else if (h >= 97 && h <= 102) word = word * 16 + (h - 87);
    else return false;
  }
  if (nibbles === 0 && zero < 0) return false;
  out[at++] = word >> 8;
  out[at++] = word & 0xff;
  if (--groups) {
    if (zero < 0) return false;
    // Move what followed `::` to the end; the gap is zeros.
    const gap = groups * 2;
    for (let s = at - 1; s >= zero; s--) out[s + gap] = out[s];
    out.fill(0, zero, zero + gap);
    return true;
  }
  return zero < 0;
}

export type Cidr =
  | { readonly family: 4; readonly addr: number; readonly mask: number; readonly lowBits: boolean }
  | { readonly family: 6; readonly addr: Uint8Array; readonly mask: Uint8Array; readonly lowBits: boolean };

/**
 * `addr` or `addr/bits` (ngx_ptocidr), IPv4 or IPv6; null when invalid.
 * IPv4 numbers are unsigned; `addr` is already masked, `lowBits` tells that
 * masking changed it.
 */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const end = slash < 0 ? text.length : slash;
  let bits = -1;
  if (slash >= 0) {
    // ngx_atoi: one or more digits, nothing else.
    if (slash + 1 === text.length) return null;
    bits = 0;
    for (let i = slash + 1; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) return null;
      bits = bits * 10 + (c - 48);
      if (bits > 128) return null;
    }
  }
  const v4 = inetAddr(text, 0, end);
  if (v4 !== INADDR_NONE) {
    if (bits < 0) return { family: 4, addr: v4, mask: 0xffffffff, lowBits: false };
    if (bits > 32) return null;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    const addr = (v4 & mask) >>> 0;
    return { family: 4, addr, mask, lowBits: addr !== v4 };
  }
  const addr = new Uint8Array(16);
  if (!inet6Addr(text, addr, 0, end)) return null;
  const mask = new Uint8Array(16);
  if (bits < 0) {
    mask.fill(0xff);
    return { family: 6, addr, mask, lowBits: false };
  }
  let lowBits = false;
  let left = bits;
  for (let i = 0; i < 16; i++) {
    const s = left > 8 ? 8 : left;
    left -= s;
    mask[i] = (0xff << (8 - s)) & 0xff;
    if ((addr[i] & mask[i]) !== addr[i]) { lowBits = true; addr[i] &= mask[i]; }
  }
  return { family: 6, addr, mask, lowBits };
}

/** True when out[0..16) is an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
export function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** A trusted source of set_real_ip_from (and the like): a CIDR, or any unix-socket client. */
export type SourceMatch = Cidr | { readonly family: 'unix' };

const scratch6 = new Uint8Array(16);

/**
 * ngx_cidr_match: whether the address text (as $remote_addr has it, `unix:` for a unix
 * socket) is in the list; an IPv4-mapped IPv6 address matches as IPv4.
 */
export function cidrMatch(address: string, list: readonly SourceMatch[]): boolean {
  if (address === 'unix:') return list.some((c) => c.family === 'unix');
  let v4 = address.indexOf(':') < 0 ? inetAddr(address) : INADDR_NONE;
  let v6: Uint8Array | null = null;
  if (v4 === INADDR_NONE) {
    if (!inet6Addr(address, scratch6)) return false;
    if (isV4Mapped(scratch6)) v4 = ((scratch6[12]! << 24) | (scratch6[13]! << 16) | (scratch6[14]! << 8) | scratch6[15]!) >>> 0;
    else v6 = scratch6;
  }
  for (const c of list) {
    if (c.family === 4) {
      if (v6 === null && v4 !== INADDR_NONE && ((v4 & c.mask) >>> 0) === c.addr) return true;
    } else if (c.family === 6 && v6 !== null) {
      let n = 0;
      while (n < 16 && (v6[n]! & c.mask[n]!) === c.addr[n]) n++;
      if (n === 16) return true;
    }
  }
  return false;
}

/** ngx_inet6_ntop: the longest run (two groups or more) of zero groups as `::`, an embedded IPv4 tail kept dotted. */
export function inet6Ntop(p: Uint8Array): string {
  let zero = -1;
  let last = -1;
  let max = 1;
  let n = 0;
  for (let i = 0; i < 16; i += 2) {
    if (p[i] !== 0 || p[i + 1] !== 0) {
      if (max < n) { zero = last; max = n; }
      n = 0;
      continue;
    }
    if (n++ === 0) last = i;
  }
  if (max < n) { zero = last; max = n; }
  let out = '';
  let end = 16;
  if (zero === 0) {
    if ((max === 5 && p[10] === 0xff && p[11] === 0xff) || max === 6 || (max === 7 && p[14] !== 0 && p[15] !== 1)) end = 12;
    out += ':';
  }
  for (let i = 0; i < end; i += 2) {
    if (i === zero) {
      out += ':';
      i += (max - 1) * 2;
      continue;
    }
    out += (p[i]! * 256 + p[i + 1]!).toString(16);
    if (i < 14) out += ':';
  }
  if (end === 12) out += `${p[12]}.${p[13]}.${p[14]}.${p[15]}`;
  return out;
}
