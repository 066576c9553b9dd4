// Field lines (header and trailer lines) of HTTP/1.x, shared by the response
// head parser and the chunked decoder's trailer section.
//
// Mirrors ngx_http_parse_header_line (src/http/ngx_http_parse.c), called by
// nginx with allow_underscores = 1 for upstream responses, plus the line
// accumulation nginx gets for free from its fixed u->buffer.
//
// As in nginx (RELIABILITY R12, U9):
// - A line ends in LF, with or without CRs before it ("a\r\n", "a\n" and
//   "a\r\r\n" are the same line); a CR anywhere else is invalid.
// - A line without a colon is a header with an empty value.
// - Names of ALPHA, DIGIT and `-` are nginx's; `_` is left to the caller
//   (underscores_in_headers); a name with another token character (`A.B`)
//   is returned for the caller's ignore_invalid_headers, and one with a byte
//   that is printable but not a token character (`X@`, `Bad\x85`) is
//   reported as "drop" (nginx's invalid_header: ignored, never forwarded).
//   Names with CTL, SP, DEL, or an empty name are invalid, as in nginx.
// - The IIS quirk (a second "HTTP/1.1 ..." line among the headers) is
//   reported as "ignore" in upstream heads, which nginx skips (`upstream`
//   false: a client's such line is an odd name, and 400 at its SP).
//
// Deliberate differences from nginx:
// - Any control byte but HTAB in a value is invalid (nginx rejects only NUL;
//   RELIABILITY R13: `Host: a\x00.evil`-style values are a known smuggling
//   and log-injection vector, and weir re-serialises what it forwards).
// - The chunked decoder's trailer section keeps nginx's chunked rule instead
//   (CRLF only); it checks the line end itself before calling here.
//
// Bytes are checked through 256-entry tables; no regex, no per-byte strings.

export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HTAB = 9;
export const COLON = 58;

/** RFC 9110 tchar: ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA. */
export const TCHAR: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  for (const ch of "!#$%&'*+-.^_`|~") t[ch.charCodeAt(0)] = 1;
  return t;
})();

/** field-vchar / obs-text / SP / HTAB: what may appear inside a value. */
export const VALUE_OK: Uint8Array = (() => {
  const t = new Uint8Array(256);
  t[HTAB] = 1;
  for (let c = 0x20; c <= 0x7e; c++) t[c] = 1;
  for (let c = 0x80; c <= 0xff; c++) t[c] = 1;
  return t;
})();

/** Hex digit values, -1 for anything else. */
export const HEX: Int8Array = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let c = 0; c <= 9; c++) t[0x30 + c] = c;
  for (let c = 0; c < 6; c++) {
    t[0x41 + c] = 10 + c;
    t[0x61 + c] = 10 + c;
  }
  return t;
})();

/** parseFieldLine results. */
export const FIELD_OK = 0;
export const FIELD_DROP = 1;
export const FIELD_IGNORE = 2;
export const FIELD_INVALID = -1;

/**
 * Out-parameters of parseFieldLine. Module-level so a line costs no object;
 * valid until the next call (JavaScript runs one parse at a time).
 */
export const field = { nameEnd: 0, valueStart: 0, valueEnd: 0, bad: 0 };

/**
 * Checks one field line buf[s .. lf] (lf is the index of its LF, lf > s) and
 * records where the name and the trimmed value are. On FIELD_INVALID,
 * field.bad is the offending byte's index, for nginx's log line.
 */
export function parseFieldLine(buf: Buffer, s: number, lf: number, upstream = true): number {
  let eol = lf;
  while (eol > s && buf[eol - 1] === CR) eol--;
  let i = s;
  let drop = false;
  for (; i < eol; i++) {
    const c = buf[i]!;
    if (TCHAR[c] === 1) continue;
    if (c === COLON) break;
    if (c <= SP || c === 0x7f) {
      // covers obs-fold (a line starting with SP/HTAB), "Name : v" and a stray CR
      field.bad = i;
      return FIELD_INVALID;
    }
    if (c === 0x2f && upstream && i - s === 4 && buf[s] === 0x48 && buf[s + 1] === 0x54
        && buf[s + 2] === 0x54 && buf[s + 3] === 0x50) {
      for (let j = i + 1; j < eol; j++) {
        if (VALUE_OK[buf[j]!] !== 1) {
          field.bad = j;
          return FIELD_INVALID;
        }
      }
      return FIELD_IGNORE;
    }
    drop = true;
  }
  if (i === s) {
    // empty name (an empty line is the caller's)
    field.bad = i;
    return FIELD_INVALID;
  }
  field.nameEnd = i;
  if (i === eol) {
    // no colon: nginx takes the line as a name with an empty value
    field.valueStart = field.valueEnd = eol;
    return drop ? FIELD_DROP : FIELD_OK;
  }
  i++;
  while (i < eol && (buf[i] === SP || buf[i] === HTAB)) i++;
  field.valueStart = i;
  let valueEnd = i;
  for (; i < eol; i++) {
    const c = buf[i]!;
    if (VALUE_OK[c] !== 1) {
      field.bad = i;
      return FIELD_INVALID;
    }
    if (c !== SP && c !== HTAB) valueEnd = i + 1;
  }
  field.valueEnd = valueEnd;
  return drop ? FIELD_DROP : FIELD_OK;
}

/** Whether buf[s .. lf] is the empty line that ends a head: LF alone or CR LF (nginx's sw_start; CR CR LF is invalid). */
export function isEmptyLine(buf: Buffer, s: number, lf: number): boolean {
  return lf === s || (lf - s === 1 && buf[s] === CR);
}

/** nginx's `"%*s\x%02xd..."` rendering of a bad line, up to the bad byte. */
export function describeBadLine(buf: Buffer, s: number, bad: number): string {
  const b = buf[bad]!;
  return latin1(buf, s, bad) + '\\x' + (b < 16 ? '0' : '') + b.toString(16) + '...';
}

/** LineReader.next results (non-negative results are positions). */
export const LINE_AGAIN = -1;
export const LINE_TOO_BIG = -2;

/**
 * Cuts a byte stream into lines, at most `limit` bytes in all (the whole
 * section: status line, headers and the empty line), like nginx's fixed
 * proxy_buffer_size buffer. A line that arrives whole in one slice is read
 * in place; only a line split across slices is copied, into a stash that is
 * allocated the first time one is split.
 */
export class LineReader {
  /** Where the last line returned by next() lies: buf[start .. lf]. */
  lineBuf: Buffer = EMPTY;
  lineStart = 0;
  lineEnd = 0;
  /** Bytes of the completed lines of this section. */
  total = 0;
  private stash: Buffer | null = null;
  private stashLen = 0;

  constructor(readonly limit: number) {}

  reset(): void {
    this.total = 0;
    this.stashLen = 0;
  }

  /** Bytes held from an incomplete line. */
  get pending(): number {
    return this.stashLen;
  }

  /** The stash holding an incomplete line (valid for `pending` bytes). */
  get pendingBuf(): Buffer {
    return this.stash ?? EMPTY;
  }

  /**
   * The next whole line of chunk from pos: returns the position after its
   * LF and sets lineBuf/lineStart/lineEnd; or LINE_AGAIN (the rest of the
   * chunk is kept); or LINE_TOO_BIG (the section cannot fit in `limit`).
   */
  next(chunk: Buffer, pos: number): number {
    // Scanned here rather than with Buffer#indexOf: lines are short and the
    // native call costs more than the loop; the scan also stops at the limit.
    const room = this.limit - this.total - this.stashLen;
    const len = chunk.length;
    const stop = pos + room < len ? pos + room : len;
    let lf = pos;
    while (lf < stop && chunk[lf] !== LF) lf++;
    if (lf === stop) {
      if (stop < len || len - pos >= room) return LINE_TOO_BIG;
      if (len > pos) this.append(chunk, pos, len);
      return LINE_AGAIN;
    }
    if (this.stashLen === 0) {
      this.lineBuf = chunk;
      this.lineStart = pos;
      this.lineEnd = lf;
    } else {
      this.append(chunk, pos, lf + 1);
      this.lineBuf = this.stash!;
      this.lineStart = 0;
      this.lineEnd = this.stashLen - 1;
      this.stashLen = 0;
    }
    this.total += this.lineEnd - this.lineStart + 1;
    return lf + 1;
  }

  private append(chunk: Buffer, from: number, to: number): void {
    if (this.stash === null) this.stash = Buffer.allocUnsafe(this.limit);
    chunk.copy(this.stash, this.stashLen, from, to);
    this.stashLen += to - from;
  }
}

const EMPTY = Buffer.alloc(0);

interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}
// Buffer#latin1Slice is what toString('latin1', ...) ends up calling, minus
// the argument juggling; it is not in Node's typings, hence the check.
const HAS_LATIN1_SLICE =
  typeof (Buffer.prototype as unknown as Partial<Latin1Slicer>).latin1Slice === 'function';

/** buf[s .. e) as a latin1 string (header bytes map 1:1 to UTF-16 units). */
export function latin1(buf: Buffer, s: number, e: number): string {
  return HAS_LATIN1_SLICE
    ? (buf as unknown as Latin1Slicer).latin1Slice(s, e)
    : buf.toString('latin1', s, e);
}
