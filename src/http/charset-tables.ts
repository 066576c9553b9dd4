/**
 * The charset recoding tables of charset_map blocks and the recoders over
 * them (ngx_http_charset_filter_module's tables, our own code).
 *
 * A map between two one-byte charsets is two 256-byte tables, one per way:
 * ASCII stays, bytes the map does not name become `?`. A map to utf-8 (it
 * is always the second charset) holds each byte's UTF-8 sequence (unnamed
 * bytes above ASCII become `?`) and, the other way, the byte for each code
 * point below 0x10000 that the map names; a code point it does not name is
 * written as the HTML entity `&#N;`, bytes that are no UTF-8 as `?`.
 *
 * nginx's conf/koi-win, conf/koi-utf and conf/win-utf are such maps; weir
 * ships them in its conf/ directory for `include`.
 */

/** One direction of a map: recodes a body chunk by chunk. */
export interface Recoder {
  /** The chunk recoded; may hold back the start of a UTF-8 sequence cut by the chunk's end. */
  recode(chunk: Buffer): Buffer;
}

/** A map as a charset_map block builds it. */
export class CharsetMap {
  /** One-byte to one-byte, or to UTF-8 sequences (when `toUtf8`). */
  readonly forward: Uint8Array | Buffer[];
  /** One-byte back, or from code points (when `toUtf8`). */
  readonly backward: Uint8Array | Map<number, number>;

  constructor(readonly src: number, readonly dst: number, readonly toUtf8: boolean) {
    if (toUtf8) {
      const fwd: Buffer[] = [];
      const back = new Map<number, number>();
      for (let i = 0; i < 128; i++) { fwd.push(Buffer.from([i])); back.set(i, i); }
      for (let i = 128; i < 256; i++) fwd.push(QUESTION);
      this.forward = fwd;
      this.backward = back;
    } else {
      const fwd = new Uint8Array(256).fill(0x3f);
      const back = new Uint8Array(256).fill(0x3f);
      for (let i = 0; i < 128; i++) { fwd[i] = i; back[i] = i; }
      this.forward = fwd;
      this.backward = back;
    }
  }

  /** `src dst` of a one-byte map. */
  setByte(from: number, to: number): void {
    (this.forward as Uint8Array)[from] = to;
    (this.backward as Uint8Array)[to] = from;
  }

  /** `src utf8bytes` of a map to utf-8; the code point it stands for. */
  setUtf8(from: number, bytes: Buffer, codePoint: number): void {
    (this.forward as Buffer[])[from] = bytes;
    (this.backward as Map<number, number>).set(codePoint, from);
  }

  /** The recoder from `src` to `dst` (forward) or back. */
  recoder(forward: boolean): Recoder {
    if (!this.toUtf8) return new ByteRecoder(forward ? (this.forward as Uint8Array) : (this.backward as Uint8Array));
    return forward ? new ToUtf8Recoder(this.forward as Buffer[]) : new FromUtf8Recoder(this.backward as Map<number, number>);
  }
}

const QUESTION = Buffer.from('?');

class ByteRecoder implements Recoder {
  constructor(private readonly table: Uint8Array) {}

  recode(chunk: Buffer): Buffer {
    const t = this.table;
    let i = 0;
    while (i < chunk.length && t[chunk[i]!] === chunk[i]) i++;
    if (i === chunk.length) return chunk;
    // A copy: the chunk may still be someone else's (a file's cache, a subrequest's part).
    const out = Buffer.allocUnsafe(chunk.length);
    chunk.copy(out, 0, 0, i);
    for (; i < chunk.length; i++) out[i] = t[chunk[i]!]!;
    return out;
  }
}

class ToUtf8Recoder implements Recoder {
  constructor(private readonly table: Buffer[]) {}

  recode(chunk: Buffer): Buffer {
    let i = 0;
    while (i < chunk.length && chunk[i]! < 0x80) i++;
    if (i === chunk.length) return chunk;
    const parts: Buffer[] = [chunk.subarray(0, i)];
    for (; i < chunk.length; i++) parts.push(this.table[chunk[i]!]!);
    return Buffer.concat(parts);
  }
}

/** ngx_utf8_decode's outcomes besides a code point. */
const INVALID = -1;
const INCOMPLETE = -2;

/**
 * Decodes one UTF-8 sequence at `at` (as nginx's ngx_utf8_decode: a lead
 * below 0xC2 is invalid and one byte long; a continuation byte below 0x80
 * ends the sequence, invalid, after it; overlong forms are invalid).
 * Returns the code point, INVALID or INCOMPLETE, and sets `decoded.next`.
 */
function decodeUtf8(b: Buffer, at: number, decoded: { next: number }): number {
  const lead = b[at]!;
  let u: number;
  let len: number;
  let valid: number;
  if (lead >= 0xf0) { u = lead & 0x07; valid = 0xffff; len = 3; }
  else if (lead >= 0xe0) { u = lead & 0x0f; valid = 0x7ff; len = 2; }
  else if (lead >= 0xc2) { u = lead & 0x1f; valid = 0x7f; len = 1; }
  else { decoded.next = at + 1; return INVALID; }
  if (b.length - at - 1 < len) return INCOMPLETE;
  let p = at + 1;
  while (len > 0) {
    const c = b[p++]!;
    if (c < 0x80) { decoded.next = p; return INVALID; }
    u = (u << 6) | (c & 0x3f);
    len--;
  }
  decoded.next = p;
  return u > valid ? u : INVALID;
}

class FromUtf8Recoder implements Recoder {
  /** The start of a sequence the last chunk cut off. */
  private saved: Buffer | null = null;
  private readonly decoded = { next: 0 };

  constructor(private readonly table: Map<number, number>) {}

  recode(input: Buffer): Buffer {
    let chunk = input;
    if (this.saved !== null) {
      chunk = Buffer.concat([this.saved, input]);
      this.saved = null;
    }
    let i = 0;
    while (i < chunk.length && chunk[i]! < 0x80) i++;
    if (i === chunk.length) return chunk;
    // Room for the worst case: a 2-byte sequence as a 7-byte entity (`&#2047;`).
    const out = Buffer.allocUnsafe(chunk.length * 4);
    chunk.copy(out, 0, 0, i);
    let o = i;
    while (i < chunk.length) {
      const c = chunk[i]!;
      if (c < 0x80) { out[o++] = c; i++; continue; }
      const n = decodeUtf8(chunk, i, this.decoded);
      if (n === INCOMPLETE) {
        this.saved = Buffer.from(chunk.subarray(i));
        break;
      }
      i = this.decoded.next;
      if (n === INVALID || n > 0x10ffff) { out[o++] = 0x3f; continue; }
      const byte = n < 0x10000 ? this.table.get(n) : undefined;
      // A code point the map gives no byte (0 is none, as in nginx's tables) goes as an entity.
      if (byte !== undefined && byte !== 0) out[o++] = byte;
      else o += out.write(`&#${n};`, o, 'latin1');
    }
    return out.subarray(0, o);
  }
}
