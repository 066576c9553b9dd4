/*
 * The CGI response header at the start of a FastCGI application's STDOUT.
 *
 * Mirrors the header half of ngx_http_fastcgi_process_header(): lines are read
 * with ngx_http_parse_header_line(r, b, allow_underscores = 1) from
 * src/http/ngx_http_parse.c, so the same byte rules apply:
 * - a line ends with LF or CRLF (any number of CRs before the LF); an empty
 *   line ends the header;
 * - the name runs to ':'; a line without ':' is a header with an empty value;
 *   a name starting with ':', or holding a control byte, space or DEL, is
 *   "upstream sent invalid header"; other odd bytes in a name are accepted;
 * - spaces and tabs around the value are dropped; a NUL in the value, or a CR
 *   not followed by LF, is invalid;
 * - a line starting "HTTP/" (IIS repeats its status line) is skipped.
 * Then the status: a "Status" header gives it (its first three bytes must be
 * digits, else "upstream sent invalid status"), else "Location" gives
 * 302 Moved Temporarily (nginx does not look at whether the URL is absolute,
 * unlike CGI's local-redirect rule), else 200 OK.
 *
 * The STDOUT stream may be cut anywhere, also inside a line and across
 * records; nginx joins such lines (split_parts), we carry the partial line.
 *
 * Deliberate differences from nginx:
 * - The size bound counts header bytes of the STDOUT stream only (must end
 *   within fastcgi_buffer_size bytes); nginx counts its whole buffer, which
 *   also holds record headers and padding (and stderr text before stdout).
 * - With several Status (or Location) lines the first decides; nginx's
 *   header handlers log the later ones as duplicates and keep the first too.
 * - Names and values are latin1 strings (one char per byte), like node's http.
 */

export const FCGI_DEFAULT_BUFFER_SIZE = 4096;

export interface CgiHeader {
  readonly name: string;
  readonly value: string;
}

export const CgiMessages = {
  tooBigHeader: 'upstream sent too big header',
  invalidHeader: 'upstream sent invalid header',
  invalidStatus: (value: string): string => `upstream sent invalid status "${value}"`,
} as const;

/** `again`: more STDOUT needed. `done`: see status, headers, bodyOffset. `invalid`: see error. */
export type CgiHeaderState = 'again' | 'done' | 'invalid';

const CR = 0x0d;
const LF = 0x0a;

/* ngx_http_parse_header_line()'s lowcase[]: the bytes that are "normal" in a name. */
const NAME_OK = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) NAME_OK[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) NAME_OK[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) NAME_OK[c] = 1;
NAME_OK[0x2d] = 1; // '-'
NAME_OK[0x5f] = 1; // '_' (allow_underscores = 1 for upstreams)

const S_START = 0;
const S_NAME = 1;
const S_SPACE_BEFORE_VALUE = 2;
const S_VALUE = 3;
const S_SPACE_AFTER_VALUE = 4;
const S_IGNORE_LINE = 5;
const S_ALMOST_DONE = 6;
const S_HEADER_ALMOST_DONE = 7;
const S_DONE = 8;
const S_INVALID = 9;

/**
 * One per try. Feed it STDOUT content views in order.
 *
 *   const h = new CgiHeaderParser(4096);
 *   const st = h.feed(stdoutView);
 *   if (st === 'done') {
 *     send(h.status, h.statusLine, h.headers);
 *     const body = stdoutView.subarray(h.bodyOffset);   // rest of this view is body
 *   } else if (st === 'invalid') fail(h.error);          // 502
 */
export class CgiHeaderParser {
  readonly headers: CgiHeader[] = [];
  status = 0;
  /** The Status value as sent ("404 Not Found"), or nginx's default line. */
  statusLine = '';
  /** In the view passed to the feed() that returned `done`: where the body starts. */
  bodyOffset = 0;
  error: string | null = null;

  private st = S_START;
  private base = 0; // stream offset of the current chunk's first byte
  private lineStart = 0; // stream offsets, for the line being parsed
  private nameEnd = 0;
  private valueStart = 0;
  private valueEnd = 0;
  private nameLen = 0; // bytes of the name seen so far (for the "HTTP/" check)
  private carry: Buffer | null = null; // the line's bytes from earlier chunks

  constructor(private readonly bufferSize = FCGI_DEFAULT_BUFFER_SIZE) {}

  get state(): CgiHeaderState {
    return this.st === S_DONE ? 'done' : this.st === S_INVALID ? 'invalid' : 'again';
  }

  feed(chunk: Buffer): CgiHeaderState {
    if (this.st === S_DONE) return 'done';
    if (this.st === S_INVALID) return 'invalid';

    const base = this.base;
    const n = chunk.length;
    // the header must end within bufferSize bytes of the stream
    const limit = Math.min(n, this.bufferSize - base);
    let st = this.st;

    for (let i = 0; i < limit; i++) {
      const c = chunk[i]!;
      switch (st) {
        case S_START:
          this.lineStart = base + i;
          if (c === CR) { st = S_HEADER_ALMOST_DONE; break; }
          if (c === LF) return this.headerDone(i);
          if (c <= 0x20 || c === 0x7f || c === 0x3a) {
            return this.fail(CgiMessages.invalidHeader);
          }
          this.nameLen = 1;
          st = S_NAME;
          break;

        case S_NAME:
          if (NAME_OK[c] === 1) { this.nameLen++; break; }
          if (c === 0x3a) { // ':'
            this.nameEnd = base + i;
            st = S_SPACE_BEFORE_VALUE;
            break;
          }
          if (c === CR) {
            this.nameEnd = this.valueStart = this.valueEnd = base + i;
            st = S_ALMOST_DONE;
            break;
          }
          if (c === LF) {
            this.nameEnd = this.valueStart = this.valueEnd = base + i;
            this.lineDone(chunk, i);
            st = S_START;
            break;
          }
          if (c === 0x2f && this.nameLen === 4 && this.nameIsHTTP(chunk)) {
            st = S_IGNORE_LINE;
            break;
          }
          if (c <= 0x20 || c === 0x7f) return this.fail(CgiMessages.invalidHeader);
          this.nameLen++;
          break;

        case S_SPACE_BEFORE_VALUE:
          if (c === 0x20 || c === 0x09) break;
          if (c === CR) { this.valueStart = this.valueEnd = base + i; st = S_ALMOST_DONE; break; }
          if (c === LF) {
            this.valueStart = this.valueEnd = base + i;
            this.lineDone(chunk, i);
            st = S_START;
            break;
          }
          if (c === 0) return this.fail(CgiMessages.invalidHeader);
          this.valueStart = base + i;
          st = S_VALUE;
          break;

        case S_VALUE:
          if (c === 0x20 || c === 0x09) { this.valueEnd = base + i; st = S_SPACE_AFTER_VALUE; break; }
          if (c === CR) { this.valueEnd = base + i; st = S_ALMOST_DONE; break; }
          if (c === LF) {
            this.valueEnd = base + i;
            this.lineDone(chunk, i);
            st = S_START;
            break;
          }
          if (c === 0) return this.fail(CgiMessages.invalidHeader);
          break;

        case S_SPACE_AFTER_VALUE:
          if (c === 0x20 || c === 0x09) break;
          if (c === CR) { st = S_ALMOST_DONE; break; }
          if (c === LF) { this.lineDone(chunk, i); st = S_START; break; }
          if (c === 0) return this.fail(CgiMessages.invalidHeader);
          st = S_VALUE;
          break;

        case S_IGNORE_LINE:
          if (c === LF) { this.carry = null; st = S_START; }
          break;

        case S_ALMOST_DONE:
          if (c === LF) { this.lineDone(chunk, i); st = S_START; break; }
          if (c === CR) break;
          return this.fail(CgiMessages.invalidHeader);

        default: // S_HEADER_ALMOST_DONE
          if (c === LF) return this.headerDone(i);
          return this.fail(CgiMessages.invalidHeader);
      }
    }

    this.st = st;
    if (base + n >= this.bufferSize) return this.fail(CgiMessages.tooBigHeader);

    // keep the unfinished line's bytes: the next chunk may complete it
    if (st !== S_START && st !== S_HEADER_ALMOST_DONE && st !== S_IGNORE_LINE) {
      const from = Math.max(0, this.lineStart - base);
      const tail = Buffer.from(chunk.subarray(from)); // the caller may recycle chunk
      this.carry = this.carry === null ? tail : Buffer.concat([this.carry, tail]);
    }
    this.base = base + n;
    return 'again';
  }

  private fail(msg: string): CgiHeaderState {
    this.st = S_INVALID;
    this.error = msg;
    this.carry = null;
    return 'invalid';
  }

  /* Whether the line starts "HTTP" (case-sensitive, as nginx); the name may
     have begun in an earlier chunk. */
  private nameIsHTTP(chunk: Buffer): boolean {
    return this.byteAt(chunk, 0) === 0x48 && this.byteAt(chunk, 1) === 0x54
      && this.byteAt(chunk, 2) === 0x54 && this.byteAt(chunk, 3) === 0x50;
  }

  private byteAt(chunk: Buffer, k: number): number {
    const rel = this.lineStart + k - this.base;
    return rel >= 0 ? chunk[rel]! : this.carry![this.carry!.length + rel]!;
  }

  private lineDone(chunk: Buffer, i: number): void {
    let src: Buffer;
    let origin: number;
    if (this.carry === null) {
      src = chunk;
      origin = this.base;
    } else {
      src = Buffer.concat([this.carry, chunk.subarray(0, i)]);
      origin = this.lineStart;
      this.carry = null;
    }
    this.headers.push({
      name: src.toString('latin1', this.lineStart - origin, this.nameEnd - origin),
      value: src.toString('latin1', this.valueStart - origin, this.valueEnd - origin),
    });
  }

  private headerDone(i: number): CgiHeaderState {
    this.carry = null;
    this.bodyOffset = i + 1;
    let status: CgiHeader | null = null;
    let location = false;
    for (const h of this.headers) {
      const name = h.name;
      if (name.length === 6 && status === null && name.toLowerCase() === 'status') status = h;
      else if (name.length === 8 && name.toLowerCase() === 'location') location = true;
    }
    if (status !== null) {
      const v = status.value;
      const code = v.length >= 3 ? threeDigits(v) : -1;
      if (code < 0) return this.fail(CgiMessages.invalidStatus(v));
      this.status = code;
      this.statusLine = v;
    } else if (location) {
      this.status = 302;
      this.statusLine = '302 Moved Temporarily';
    } else {
      this.status = 200;
      this.statusLine = '200 OK';
    }
    this.st = S_DONE;
    return 'done';
  }
}

/* ngx_atoi(value, 3) */
function threeDigits(v: string): number {
  let n = 0;
  for (let k = 0; k < 3; k++) {
    const d = v.charCodeAt(k) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}
