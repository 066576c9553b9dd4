/**
 * Base64 as nginx reads and writes it (ngx_encode_base64, ngx_decode_base64,
 * ngx_decode_base64url). Node's decoder skips what it does not know; nginx's
 * refuses any byte outside the alphabet before the first `=`, and a length of
 * 4n+1 characters, and stops at the first `=` (what follows it is not read).
 */

const STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function basis(alphabet: string): Int8Array {
  const t = new Int8Array(256).fill(-1);
  for (let i = 0; i < 64; i++) t[alphabet.charCodeAt(i)] = i;
  return t;
}

const BASIS = basis(STD);
const BASIS_URL = basis(STD.slice(0, 62) + '-_');

function decode(text: string, table: Int8Array, out: Uint8Array): number {
  let len = 0;
  for (; len < text.length; len++) {
    const c = text.charCodeAt(len);
    if (c === 0x3d) break;
    if (c > 0xff || table[c] === -1) return -1;
  }
  if (len % 4 === 1) return -1;
  const need = Math.floor(len / 4) * 3 + (len % 4 === 0 ? 0 : (len % 4) - 1);
  if (need > out.length) return -1;
  let s = 0;
  let d = 0;
  const v = (i: number): number => table[text.charCodeAt(i)]!;
  while (len > 3) {
    out[d++] = (v(s) << 2 | v(s + 1) >> 4) & 0xff;
    out[d++] = (v(s + 1) << 4 | v(s + 2) >> 2) & 0xff;
    out[d++] = (v(s + 2) << 6 | v(s + 3)) & 0xff;
    s += 4;
    len -= 4;
  }
  if (len > 1) out[d++] = (v(s) << 2 | v(s + 1) >> 4) & 0xff;
  if (len > 2) out[d++] = (v(s + 1) << 4 | v(s + 2) >> 2) & 0xff;
  return d;
}

/**
 * ngx_decode_base64 of a byte string into `out`: the number of bytes written,
 * or -1 on nginx's errors (or when `out` is too small for the result).
 */
export function decodeBase64(text: string, out: Uint8Array): number {
  return decode(text, BASIS, out);
}

/** ngx_decode_base64url (`-` and `_`; no padding needed). */
export function decodeBase64Url(text: string, out: Uint8Array): number {
  return decode(text, BASIS_URL, out);
}

/** ngx_encode_base64: standard alphabet, padded. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
