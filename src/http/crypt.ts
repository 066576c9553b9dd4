/**
 * Password hashes of auth_basic_user_file (ngx_crypt, src/core/ngx_crypt.c,
 * and what it falls back to: libc's crypt(3)).
 *
 * nginx itself knows `$apr1$` (Apache's MD5), `{PLAIN}`, `{SHA}` and
 * `{SSHA}`; anything else goes to the system's crypt(). Which formats that
 * accepts depends on the libc: weir does what libxcrypt (the crypt of
 * current Debian, Ubuntu, Fedora) does for the common ones, in TypeScript:
 *
 *   DES        `sa3tHJ3/KuYvI`: traditional crypt, 2 salt characters, 8 password bytes
 *   `$1$`      MD5-crypt (the same algorithm as `$apr1$`, another magic)
 *   `$5$`      SHA-256-crypt, `$6$` SHA-512-crypt, with optional `rounds=N$`
 *              (1000..999999999; out of range fails, as libxcrypt)
 *   `$2a$`, `$2b$`, `$2y$`  bcrypt (cost 04..31)
 *
 * Not supported (they fail as an unknown format does): BSDi `_` extended
 * DES, yescrypt `$y$`, gost-yescrypt, scrypt, sunmd5. A salt crypt() cannot
 * use yields libxcrypt's failure token `*0`, which never equals a stored
 * hash, so the user gets a 401 "password mismatch" as on such a system.
 *
 * Everything is a byte string (one char per byte, latin1): the key and the
 * salt end at their first NUL, as C strings do.
 */
import { createHash } from 'node:crypto';

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function cstr(s: string): string {
  const nul = s.indexOf('\0');
  return nul < 0 ? s : s.slice(0, nul);
}

/** ngx_crypt: `key` hashed as `salt` (a stored hash) says; compare the result with `salt`. */
export function crypt(key: string, salt: string): string {
  key = cstr(key);
  salt = cstr(salt);
  if (salt.startsWith('$apr1$')) return md5Crypt(key, salt, '$apr1$');
  if (salt.startsWith('{PLAIN}')) return salt.slice(0, 7) + key;
  if (salt.startsWith('{SSHA}')) return sshaCrypt(key, salt);
  if (salt.startsWith('{SHA}')) return '{SHA}' + createHash('sha1').update(key, 'latin1').digest('base64');
  return libcCrypt(key, salt);
}

/** What libxcrypt's crypt() gives for the formats weir knows; `*0` for the rest. */
export function libcCrypt(key: string, salt: string): string {
  const fail = salt.startsWith('*0') ? '*1' : '*0';
  if (salt.startsWith('$1$')) return md5Crypt(key, salt, '$1$');
  if (salt.startsWith('$5$')) return shaCrypt(key, salt, '$5$', 'sha256') ?? fail;
  if (salt.startsWith('$6$')) return shaCrypt(key, salt, '$6$', 'sha512') ?? fail;
  if (/^\$2[aby]\$/.test(salt)) return bcrypt(key, salt) ?? fail;
  if (salt.length >= 2 && ITOA64.includes(salt[0]) && ITOA64.includes(salt[1])) return desCrypt(key, salt.slice(0, 2));
  return fail;
}

function bytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** ngx_crypt_to64: `n` characters of `v`, low bits first. */
function to64(v: number, n: number): string {
  let out = '';
  while (n-- > 0) {
    out += ITOA64[v & 0x3f];
    v >>>= 6;
  }
  return out;
}

// ---------------------------------------------------------------------------
// MD5-crypt (Poul-Henning Kamp's; Apache's apr1 is the same with its magic)

export function md5Crypt(key: string, salt: string, magic: string): string {
  let s = salt.slice(magic.length, magic.length + 8);
  const dollar = s.indexOf('$');
  if (dollar >= 0) s = s.slice(0, dollar);
  const k = bytes(key);
  const sb = bytes(s);
  const md5 = createHash('md5').update(k).update(magic, 'latin1').update(sb);
  let final = createHash('md5').update(k).update(sb).update(k).digest();
  for (let n = k.length; n > 0; n -= 16) md5.update(final.subarray(0, n > 16 ? 16 : n));
  const zero = Buffer.alloc(1);
  for (let i = k.length; i; i >>= 1) md5.update(i & 1 ? zero : k.subarray(0, 1));
  final = md5.digest();
  // Slow it down: 1000 rounds.
  for (let i = 0; i < 1000; i++) {
    const c = createHash('md5');
    c.update(i & 1 ? k : final);
    if (i % 3) c.update(sb);
    if (i % 7) c.update(k);
    c.update(i & 1 ? final : k);
    final = c.digest();
  }
  const f = final;
  return magic + s + '$'
    + to64((f[0] << 16) | (f[6] << 8) | f[12], 4)
    + to64((f[1] << 16) | (f[7] << 8) | f[13], 4)
    + to64((f[2] << 16) | (f[8] << 8) | f[14], 4)
    + to64((f[3] << 16) | (f[9] << 8) | f[15], 4)
    + to64((f[4] << 16) | (f[10] << 8) | f[5], 4)
    + to64(f[11], 2);
}

// ---------------------------------------------------------------------------
// {SSHA}: base64(SHA1(key salt) salt)

/** ngx_decode_base64: the standard alphabet only, up to the first `=`; null when malformed. */
export function decodeBase64Strict(text: string): Buffer | null {
  let len = 0;
  for (; len < text.length; len++) {
    const c = text.charCodeAt(len);
    if (c === 0x3d) break;
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f;
    if (!ok) return null;
  }
  if (len % 4 === 1) return null;
  return Buffer.from(text.slice(0, len), 'base64');
}

function sshaCrypt(key: string, salt: string): string {
  const decoded = decodeBase64Strict(salt.slice(6));
  // A hash too short to hold a salt (or not base64) has none: the comparison fails.
  const saltBytes = decoded !== null && decoded.length > 20 ? decoded.subarray(20) : Buffer.alloc(0);
  const digest = createHash('sha1').update(bytes(key)).update(saltBytes).digest();
  return '{SSHA}' + Buffer.concat([digest, saltBytes]).toString('base64');
}

// ---------------------------------------------------------------------------
// SHA-crypt (Ulrich Drepper's specification, "Unix crypt using SHA-256 and SHA-512")

/** The byte order of the final encoding, three bytes a group (SHA-256, SHA-512). */
const SHA256_ORDER = [0, 10, 20, 21, 1, 11, 12, 22, 2, 3, 13, 23, 24, 4, 14, 15, 25, 5, 6, 16, 26, 27, 7, 17, 18, 28, 8, 9, 19, 29];
const SHA512_ORDER = [
  0, 21, 42, 22, 43, 1, 44, 2, 23, 3, 24, 45, 25, 46, 4, 47, 5, 26, 6, 27, 48, 28, 49, 7, 50, 8, 29, 9, 30, 51, 31, 52, 10,
  53, 11, 32, 12, 33, 54, 34, 55, 13, 56, 14, 35, 15, 36, 57, 37, 58, 16, 59, 17, 38, 18, 39, 60, 40, 61, 19, 62, 20, 41,
];

function repeatTo(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += block.length) block.copy(out, i, 0, Math.min(block.length, length - i));
  return out;
}

export function shaCrypt(key: string, salt: string, magic: string, alg: 'sha256' | 'sha512'): string | null {
  let rest = salt.slice(magic.length);
  let rounds = 5000;
  let custom = false;
  if (rest.startsWith('rounds=')) {
    const m = /^rounds=([1-9][0-9]{0,9})\$/.exec(rest);
    if (m === null) return null;
    rounds = Number(m[1]);
    if (rounds < 1000 || rounds > 999999999) return null;
    custom = true;
    rest = rest.slice(m[0].length);
  }
  const dollar = rest.indexOf('$');
  const s = bytes((dollar >= 0 ? rest.slice(0, dollar) : rest).slice(0, 16));
  const k = bytes(key);
  const size = alg === 'sha256' ? 32 : 64;
  const b = createHash(alg).update(k).update(s).update(k).digest();
  const a = createHash(alg).update(k).update(s);
  let n = k.length;
  for (; n > size; n -= size) a.update(b);
  a.update(b.subarray(0, n));
  for (n = k.length; n > 0; n >>= 1) a.update(n & 1 ? b : k);
  let digest = a.digest();
  const dp = createHash(alg);
  for (let i = 0; i < k.length; i++) dp.update(k);
  const p = repeatTo(dp.digest(), k.length);
  const ds = createHash(alg);
  for (let i = 0; i < 16 + digest[0]; i++) ds.update(s);
  const sp = repeatTo(ds.digest(), s.length);
  for (let i = 0; i < rounds; i++) {
    const c = createHash(alg);
    c.update(i & 1 ? p : digest);
    if (i % 3) c.update(sp);
    if (i % 7) c.update(p);
    c.update(i & 1 ? digest : p);
    digest = c.digest();
  }
  const order = size === 32 ? SHA256_ORDER : SHA512_ORDER;
  let out = magic + (custom ? `rounds=${rounds}$` : '') + s.toString('latin1') + '$';
  for (let i = 0; i < order.length; i += 3) {
    out += to64((digest[order[i]] << 16) | (digest[order[i + 1]] << 8) | digest[order[i + 2]], 4);
  }
  out += size === 32 ? to64((digest[31] << 8) | digest[30], 3) : to64(digest[63], 2);
  return out;
}

// ---------------------------------------------------------------------------
// Traditional DES crypt (Version 7 Unix): 25 DES encryptions of a zero block
// under the password, with the salt perturbing the E expansion.

const IP = [
  58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
  57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, 61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];
const FP = [
  40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62, 30, 37, 5, 45, 13, 53, 21, 61, 29,
  36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27, 34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25,
];
const E = [
  32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17,
  16, 17, 18, 19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
];
const P = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25];
const PC1 = [
  57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
  63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
];
const PC2 = [
  14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
  41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];
const SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];
const S = [
  [14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
    4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13],
  [15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
    0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9],
  [10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
    13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12],
  [7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
    10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14],
  [2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
    4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3],
  [12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
    9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13],
  [4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
    1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12],
  [13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
    7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11],
];

export function desCrypt(key: string, salt: string): string {
  // The key: 7 bits of each of the first 8 bytes, shifted over the parity bit.
  const keyBits = new Uint8Array(64);
  for (let i = 0; i < 8 && i < key.length; i++) {
    const c = (key.charCodeAt(i) << 1) & 0xff;
    for (let j = 0; j < 8; j++) keyBits[i * 8 + j] = (c >> (7 - j)) & 1;
  }
  const cd = new Uint8Array(56);
  for (let i = 0; i < 56; i++) cd[i] = keyBits[PC1[i] - 1];
  const ks: Uint8Array[] = [];
  for (let round = 0; round < 16; round++) {
    for (let s = 0; s < SHIFTS[round]; s++) {
      const c0 = cd[0];
      const d0 = cd[28];
      for (let i = 0; i < 27; i++) { cd[i] = cd[i + 1]; cd[28 + i] = cd[29 + i]; }
      cd[27] = c0;
      cd[55] = d0;
    }
    const k = new Uint8Array(48);
    for (let i = 0; i < 48; i++) k[i] = cd[PC2[i] - 1];
    ks.push(k);
  }
  // The salt swaps E's entries i and i+24 for each bit set.
  const e = E.slice();
  for (let i = 0; i < 2; i++) {
    const v = ITOA64.indexOf(salt[i]);
    for (let j = 0; j < 6; j++) {
      if ((v >> j) & 1) {
        const t = e[6 * i + j];
        e[6 * i + j] = e[6 * i + j + 24];
        e[6 * i + j + 24] = t;
      }
    }
  }
  let block = new Uint8Array(64);
  const lr = new Uint8Array(64);
  const pre = new Uint8Array(48);
  const f = new Uint8Array(32);
  for (let iter = 0; iter < 25; iter++) {
    for (let i = 0; i < 64; i++) lr[i] = block[IP[i] - 1];
    for (let round = 0; round < 16; round++) {
      const k = ks[round];
      for (let j = 0; j < 48; j++) pre[j] = lr[32 + e[j] - 1] ^ k[j];
      for (let s = 0; s < 8; s++) {
        const t = 6 * s;
        const row = (pre[t] << 1) | pre[t + 5];
        const col = (pre[t + 1] << 3) | (pre[t + 2] << 2) | (pre[t + 3] << 1) | pre[t + 4];
        const v = S[s][row * 16 + col];
        for (let b = 0; b < 4; b++) f[4 * s + b] = (v >> (3 - b)) & 1;
      }
      for (let j = 0; j < 32; j++) {
        const nr = lr[j] ^ f[P[j] - 1];
        lr[j] = lr[32 + j];
        lr[32 + j] = nr;
      }
    }
    // The last round's halves are not swapped: R16 L16.
    for (let j = 0; j < 32; j++) {
      const t = lr[j];
      lr[j] = lr[32 + j];
      lr[32 + j] = t;
    }
    const out = new Uint8Array(64);
    for (let i = 0; i < 64; i++) out[i] = lr[FP[i] - 1];
    block = out;
  }
  let result = salt;
  for (let i = 0; i < 11; i++) {
    let c = 0;
    for (let j = 0; j < 6; j++) {
      const bit = 6 * i + j;
      c = (c << 1) | (bit < 64 ? block[bit] : 0);
    }
    result += ITOA64[c];
  }
  return result;
}

// ---------------------------------------------------------------------------
// bcrypt (Provos and Mazières' eksblowfish)

const BCRYPT64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

let blowfishInit: Uint32Array | null = null;

/**
 * Blowfish's initial P-array and S-boxes: the hexadecimal digits of pi's
 * fractional part, 18 + 4 * 256 words of them. Computed once, on first use,
 * from Machin's formula (pi = 16 atan 1/5 - 4 atan 1/239) in fixed point,
 * rather than carried as a 4 KB table.
 */
function blowfishConstants(): Uint32Array {
  if (blowfishInit !== null) return blowfishInit;
  const words = 18 + 1024;
  const bits = BigInt(words * 32 + 64);
  const one = 1n << bits;
  const atanInv = (x: bigint): bigint => {
    let term = one / x;
    const x2 = x * x;
    let sum = term;
    for (let k = 1n; term !== 0n; k++) {
      term /= x2;
      const t = term / (2n * k + 1n);
      sum = k & 1n ? sum - t : sum + t;
    }
    return sum;
  };
  const pi = 16n * atanInv(5n) - 4n * atanInv(239n);
  // Drop the integer part (3) and the guard bits.
  const frac = (pi - 3n * one) >> 64n;
  const out = new Uint32Array(words);
  let v = frac;
  for (let i = words - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffffffffn);
    v >>= 32n;
  }
  blowfishInit = out;
  return out;
}

function bcryptDecode(text: string, length: number): Buffer | null {
  const out = Buffer.alloc(length);
  let bitsHeld = 0;
  let acc = 0;
  let n = 0;
  for (let i = 0; i < text.length && n < length; i++) {
    const v = BCRYPT64.indexOf(text[i]);
    if (v < 0) return null;
    acc = (acc << 6) | v;
    bitsHeld += 6;
    if (bitsHeld >= 8) {
      bitsHeld -= 8;
      out[n++] = (acc >> bitsHeld) & 0xff;
    }
  }
  return n === length ? out : null;
}

function bcryptEncode(data: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bitsHeld = 0;
  for (let i = 0; i < data.length; i++) {
    acc = ((acc << 8) | data[i]) & 0xffffff;
    bitsHeld += 8;
    while (bitsHeld >= 6) {
      bitsHeld -= 6;
      out += BCRYPT64[(acc >> bitsHeld) & 0x3f];
    }
  }
  if (bitsHeld > 0) out += BCRYPT64[(acc << (6 - bitsHeld)) & 0x3f];
  return out;
}

class Blowfish {
  readonly p: Uint32Array;
  readonly s: Uint32Array;
  l = 0;
  r = 0;

  constructor() {
    const init = blowfishConstants();
    this.p = init.slice(0, 18);
    this.s = init.slice(18);
  }

  /** Enciphers (this.l, this.r) in place. */
  encipher(): void {
    const p = this.p;
    const s = this.s;
    let l = this.l;
    let r = this.r;
    for (let i = 0; i < 16; i++) {
      l = (l ^ p[i]) >>> 0;
      const f = ((((s[l >>> 24] + s[256 + ((l >>> 16) & 0xff)]) >>> 0) ^ s[512 + ((l >>> 8) & 0xff)]) + s[768 + (l & 0xff)]) >>> 0;
      r = (r ^ f) >>> 0;
      const t = l; l = r; r = t;
    }
    const t = l; l = r; r = t;
    this.r = (r ^ p[16]) >>> 0;
    this.l = (l ^ p[17]) >>> 0;
  }

  /** The expensive key schedule's step: key into P, then P and S re-encrypted, salted when `salt` is given. */
  expand(key: Uint8Array, salt: Uint8Array | null): void {
    let kp = 0;
    const word = (data: Uint8Array, pos: number): [number, number] => {
      let w = 0;
      for (let i = 0; i < 4; i++) {
        w = ((w << 8) | data[pos]) >>> 0;
        pos = (pos + 1) % data.length;
      }
      return [w, pos];
    };
    for (let i = 0; i < 18; i++) {
      const [w, next] = word(key, kp);
      kp = next;
      this.p[i] = (this.p[i] ^ w) >>> 0;
    }
    let sp = 0;
    this.l = 0;
    this.r = 0;
    const fill = (arr: Uint32Array): void => {
      for (let i = 0; i < arr.length; i += 2) {
        if (salt !== null) {
          const [a, n1] = word(salt, sp);
          const [b, n2] = word(salt, n1);
          sp = n2;
          this.l = (this.l ^ a) >>> 0;
          this.r = (this.r ^ b) >>> 0;
        }
        this.encipher();
        arr[i] = this.l;
        arr[i + 1] = this.r;
      }
    };
    fill(this.p);
    fill(this.s);
  }
}

export function bcrypt(key: string, salt: string): string | null {
  const m = /^\$(2[aby])\$(\d\d)\$([./A-Za-z0-9]{22})/.exec(salt);
  if (m === null) return null;
  const cost = Number(m[2]);
  if (cost < 4 || cost > 31) return null;
  const saltBytes = bcryptDecode(m[3], 16);
  if (saltBytes === null) return null;
  // The key is the password with its NUL, at most 72 bytes.
  const k = Buffer.concat([bytes(key), Buffer.alloc(1)]).subarray(0, 72);
  const bf = new Blowfish();
  bf.expand(k, saltBytes);
  const rounds = 2 ** cost;
  for (let i = 0; i < rounds; i++) {
    bf.expand(k, null);
    bf.expand(saltBytes, null);
  }
  const text = bytes('OrpheanBeholderScryDoubt');
  const c = new Uint32Array(6);
  for (let i = 0; i < 6; i++) c[i] = text.readUInt32BE(i * 4);
  for (let i = 0; i < 64; i++) {
    for (let j = 0; j < 6; j += 2) {
      bf.l = c[j];
      bf.r = c[j + 1];
      bf.encipher();
      c[j] = bf.l;
      c[j + 1] = bf.r;
    }
  }
  const out = Buffer.alloc(24);
  for (let i = 0; i < 6; i++) out.writeUInt32BE(c[i], i * 4);
  return `$${m[1]}$${m[2]}$${bcryptEncode(saltBytes).slice(0, 22)}${bcryptEncode(out.subarray(0, 23))}`;
}
