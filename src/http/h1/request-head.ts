// The client's request head: request line, header lines and the empty line,
// fed in slices as they arrive on the connection.
//
// Mirrors ngx_http_parse_request_line and ngx_http_parse_header_line
// (src/http/ngx_http_parse.c) as ngx_http_process_request_line and
// ngx_http_process_request_headers (src/http/ngx_http_request.c) drive them,
// with nginx's large_client_header_buffers limits and its info-log texts.
// What the head means (version policy, target form, Host, framing headers,
// ignore_invalid_headers, max_headers) is validateRequestHead's business
// (request-validation.ts), which runs on what this parser returns.
//
// As nginx 1.31 parses (RELIABILITY R12, R14, R21):
// - A line ends in LF, a CR before it optional; any number of empty lines
//   (CRs and LFs) may precede the request line. A CR elsewhere is 400.
// - Runs of SP between method, target and version, and after the version.
//   A tab is 400.
// - `HTTP/` then a major version of 1 (2 and above: 505 "client sent
//   invalid version", as soon as its first digit is read), `.`, and a minor
//   version of at most three digits: 1.2 is served as 1.2.
// - No version (HTTP/0.9 `GET /`): the head ends with the request line; a
//   method other than GET is 400 "client sent invalid method in HTTP/0.9
//   request".
// - The target starts with `/` or a scheme letter (CONNECT: an authority);
//   any byte above SP but DEL follows (bytes >= 0x80 pass). Its form
//   (absolute, authority) is checked by validateRequestHead.
// - A header name with a byte that is printable but not a token character
//   (`X@`, `Bad\x85`, `a/b`, a line starting `HTTP/`) is nginx's
//   invalid_header: returned in rawHeaders with the others, and
//   validateRequestHead ignores it (logged at info) whatever
//   ignore_invalid_headers says, since such a name cannot be forwarded
//   through a strict upstream parser. Names of token characters outside
//   nginx's [A-Za-z0-9-] (`X_Y`, `A.B`) follow underscores_in_headers and
//   ignore_invalid_headers there (R10).
// - The other field-line rules are field-lines.ts's: no obs-fold, no space
//   before the colon, no empty name, a line without a colon is a name with
//   an empty value, no control byte but HTAB in a value (nginx rejects only
//   NUL there: weir stricter, R13).
// - Sizes: each line (request line, header line) with its CRLF must fit in
//   one large buffer (bufferSize) and the whole head in bufferCount of them.
//   nginx packs lines into buffers, a line never spanning two, after a first
//   client_header_buffer_size buffer, so its exact cut-off differs by up to
//   a line per buffer. The decision is taken as soon as the bytes arrive:
//   bufferSize bytes without a LF are too long, whatever follows.
//   A too long request line is 414 "client sent too long URI"; a too long
//   header line is nginx's 494 (sent as 400, tooLarge) "client sent too long
//   header line" with the line's first LOG_PREFIX bytes; a head too large as
//   a whole is 494 "client sent too large request" (nginx says "too long
//   header line" when its buffers run out in the middle of a line).
// - A method is rejected on its first bad byte, before the line is whole
//   (nginx parses byte by byte), so a TLS ClientHello or other non-HTTP bytes
//   get their 400 at once; the rest of the line is checked when its LF comes.
//
// Lines are read in place from the caller's slice; only a line split across
// slices is copied (LineReader's stash, one bufferSize buffer, allocated the
// first time a line is split). No regex, no per-line objects: the fields read
// in place from one slice become strings through a single latin1 conversion
// and a slice each (a conversion per field costs more than the parse).
// Bytes are checked through 256-entry tables.

import {
  CR, SP, field, parseFieldLine, describeBadLine, latin1, isEmptyLine, LineReader,
  FIELD_INVALID, LINE_AGAIN, LINE_TOO_BIG,
} from '../../codec/field-lines.js';

/** execute(): all of the chunk was consumed and the head is not complete yet. */
export const HEAD_AGAIN = -1;
/** execute(): the head is invalid; status, reason, action and tooLarge say how. */
export const HEAD_ERROR = -2;

/** large_client_header_buffers: `number size` (nginx: 4 8k). */
export interface RequestHeadLimits {
  bufferSize: number;
  bufferCount: number;
}

const LINE = 'reading client request line';
const HEADERS = 'reading client request headers';
const INVALID_REQUEST = 'client sent invalid request';
const INVALID_METHOD = 'client sent invalid method';
const TOO_LONG_URI = 'client sent too long URI';
const TOO_LARGE_REQUEST = 'client sent too large request';
const INVALID_VERSION = 'client sent invalid version';
const INVALID_09_METHOD = 'client sent invalid method in HTTP/0.9 request';
/** How much of a too long header line the log shows. */
const LOG_PREFIX = 32;
/** nginx stops taking minor version digits past this value (so at most 3 digits). */
const MAX_MINOR = 99;

const ST_LINE = 0; // before or in the request line
const ST_HEADERS = 1;
const ST_DONE = 2;
const ST_ERROR = 3;

// How far the bytes of an incomplete request line have been checked.
const E_START = 0; // nothing yet, or only CRs of empty lines
const E_METHOD = 1; // method bytes
const E_SP = 2; // the SPs after the method
const E_DONE = 3; // past the first target byte: the rest waits for the LF

/** nginx's method alphabet: A-Z, `_`, `-`. */
const METHOD: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  t[0x5f] = 1;
  t[0x2d] = 1;
  return t;
})();

const DEL = 0x7f;

/**
 * Incremental, strict parser of HTTP/1 request heads, one per connection.
 *
 * execute(chunk, pos) takes the bytes chunk[pos..] and returns:
 * - the index in chunk just after the head when it is complete: method, url,
 *   versionMajor/Minor, rawHeaders and headLength hold it; the bytes from
 *   that index on are the body or the next request. Call reset() before
 *   parsing the next head (further execute() calls return pos meanwhile).
 * - HEAD_AGAIN: all of chunk[pos..] was taken (what belongs to an
 *   incomplete line is kept); feed the next slice.
 * - HEAD_ERROR: status (400, 414), tooLarge (nginx's 494, sent as 400),
 *   reason (nginx's info-log text) and action (its "while ..." context).
 *   The connection must be closed after the answer.
 */
export class RequestHeadParser {
  method = '';
  url = '';
  versionMajor = 0;
  versionMinor = 0;
  /** [name, value, name, value...]: names as sent, values without surrounding SP/HTAB. */
  rawHeaders: string[] = [];
  /** Bytes of the head from its request line to its empty line, both included. */
  headLength = 0;
  /**
   * The request line as sent (`$request`), when it is not simply
   * `method SP url SP HTTP/major.minor` (runs of spaces, HTTP/0.9, `HTTP/1.01`); '' otherwise.
   * After an error in the request line: as much of it as had come (nginx's
   * request_start up to the first CR or LF received).
   */
  sentLine = '';

  status = 0;
  tooLarge = false;
  reason = '';
  action = '';

  private state = ST_LINE;
  private early = E_START;
  /** Bytes of the completed lines of this head. */
  private headTotal = 0;
  /**
   * Fields read in place from the current chunk, as offsets [nameStart,
   * nameEnd, valueStart, valueEnd, ...]: made strings together by flush(),
   * one latin1 conversion for all of them (it is the costly call) and a
   * slice each.
   */
  private readonly spans: number[] = [];
  private readonly bufferSize: number;
  private readonly headLimit: number;
  /**
   * Cuts lines of at most bufferSize bytes. Its `total` is set before each
   * line to what the head limit leaves of that window, so it also reports
   * LINE_TOO_BIG as soon as a line cannot fit in the rest of the head.
   */
  private readonly lines: LineReader;

  constructor(limits: RequestHeadLimits) {
    this.bufferSize = limits.bufferSize;
    this.headLimit = limits.bufferSize * limits.bufferCount;
    this.lines = new LineReader(limits.bufferSize);
  }

  /** Some byte of a head (beyond empty lines skipped before it) has arrived. */
  get started(): boolean {
    return this.state !== ST_LINE || this.early !== E_START;
  }

  /** The request line as far as it has come, while it is incomplete (for a timed-out head's log). */
  lineSoFar(): string {
    if (this.state !== ST_LINE) return '';
    return lineSoFar(this.lines.pendingBuf, 0, this.lines.pending);
  }

  /** Ready for the next head of the connection; what was returned is left to its holder. */
  reset(): void {
    this.state = ST_LINE;
    this.early = E_START;
    this.headTotal = 0;
    this.lines.reset();
    this.spans.length = 0;
    this.method = '';
    this.url = '';
    this.versionMajor = 0;
    this.versionMinor = 0;
    this.rawHeaders = [];
    this.headLength = 0;
    this.sentLine = '';
    this.status = 0;
    this.tooLarge = false;
    this.reason = '';
    this.action = '';
  }

  execute(chunk: Buffer, pos: number): number {
    if (this.state >= ST_DONE) return this.state === ST_DONE ? pos : HEAD_ERROR;
    const lines = this.lines;
    for (;;) {
      const held = lines.pending;
      const next = lines.next(chunk, pos);
      if (next === LINE_AGAIN) {
        if (this.state === ST_LINE) {
          if (this.early !== E_DONE && !this.checkEarly(chunk, pos, chunk.length)) {
            // the line's bytes are all in the stash now
            this.sentLine = lineSoFar(lines.pendingBuf, 0, lines.pending);
            return HEAD_ERROR;
          }
        } else if (this.spans.length !== 0) {
          this.flush(chunk);
        }
        return HEAD_AGAIN;
      }
      if (next === LINE_TOO_BIG) {
        if (this.state === ST_LINE) {
          const stash = lines.pendingBuf.subarray(0, held);
          this.sentLine = lineSoFar(held === 0 ? chunk : Buffer.concat([stash, chunk.subarray(pos)]), held === 0 ? pos : 0,
            held === 0 ? chunk.length : held + chunk.length - pos);
        }
        this.tooBig(chunk, pos, held);
        return this.failed(chunk);
      }
      pos = next;
      const buf = lines.lineBuf;
      const s = lines.lineStart;
      const lf = lines.lineEnd;

      if (this.state === ST_LINE) {
        // nginx skips CRs and LFs before the request line, however many
        let start = s;
        while (start < lf && buf[start] === CR) start++;
        if (start === lf) {
          this.early = E_START;
          lines.total = 0;
          continue;
        }
        if (!this.requestLine(buf, start, lf)) {
          this.sentLine = lineSoFar(buf, start, lf);
          return HEAD_ERROR;
        }
        if (this.versionMajor === 0) {
          // HTTP/0.9: no header lines
          this.headLength = lf - start + 1;
          this.state = ST_DONE;
          return pos;
        }
        this.state = ST_HEADERS;
      } else if (isEmptyLine(buf, s, lf)) {
        if (this.spans.length !== 0) this.flush(chunk);
        this.headLength = this.headTotal + lf - s + 1;
        this.state = ST_DONE;
        return pos;
      } else if (!this.headerLine(buf, s, lf, buf === chunk)) {
        return this.failed(chunk);
      }

      this.headTotal += lf - s + 1;
      const left = this.headLimit - this.headTotal;
      lines.total = left >= this.bufferSize ? 0 : this.bufferSize - left;
    }
  }

  /** The head is invalid: rawHeaders keeps the lines before the bad one, however the bytes came. */
  private failed(chunk: Buffer): number {
    if (this.spans.length !== 0) this.flush(chunk);
    return HEAD_ERROR;
  }

  /** Records why the head is invalid; always false. */
  private fail(status: number, reason: string, action: string, tooLarge = false): false {
    this.state = ST_ERROR;
    this.status = status;
    this.reason = reason;
    this.action = action;
    this.tooLarge = tooLarge;
    return false;
  }

  /**
   * The bytes chunk[from..to) of an incomplete request line (no LF among
   * them): rejects a bad method or what follows it at once. Gives the same
   * verdict as requestLine() on the whole line would.
   */
  private checkEarly(chunk: Buffer, from: number, to: number): boolean {
    let st = this.early;
    for (let i = from; i < to; i++) {
      const c = chunk[i]!;
      switch (st) {
        case E_START:
          if (METHOD[c] === 1) st = E_METHOD;
          else if (c !== CR) return this.fail(400, INVALID_METHOD, LINE);
          break;
        case E_METHOD:
          if (c === SP) st = E_SP;
          else if (METHOD[c] !== 1) return this.fail(400, INVALID_METHOD, LINE);
          break;
        case E_SP:
          if (c === SP) break;
          if (c < SP || c === DEL) return this.fail(400, INVALID_REQUEST, LINE);
          this.early = E_DONE;
          return true;
        default:
          return true;
      }
    }
    this.early = st;
    return true;
  }

  /** No LF within what is left of the line's window (held bytes, then chunk[pos..]). */
  private tooBig(chunk: Buffer, pos: number, held: number): false {
    const window = this.bufferSize - this.lines.total;
    if (this.state === ST_LINE) {
      const end = Math.min(chunk.length, pos + window - held);
      if (this.early !== E_DONE && !this.checkEarly(chunk, pos, end)) return false;
      return this.fail(414, TOO_LONG_URI, LINE);
    }
    if (window < this.bufferSize) return this.fail(400, TOO_LARGE_REQUEST, HEADERS, true);
    // The line's first bytes: those held from earlier slices, then this one's.
    const stash = this.lines.pendingBuf;
    let text = latin1(stash, 0, Math.min(held, LOG_PREFIX));
    if (held < LOG_PREFIX) text += latin1(chunk, pos, Math.min(chunk.length, pos + LOG_PREFIX - held));
    return this.fail(400, 'client sent too long header line: "' + text + '..."', HEADERS, true);
  }

  /**
   * `method SP+ request-target [SP+ HTTP/major.minor SP*] [CR] LF`; buf[s]
   * is its first byte (not a CR), buf[lf] its LF. Errors in the order
   * nginx's byte-wise parser meets them.
   */
  private requestLine(buf: Buffer, s: number, lf: number): boolean {
    // The order of the checks is checkEarly's: a prefix gets the same verdict.
    const eol = buf[lf - 1] === CR ? lf - 1 : lf;
    let i = s;
    while (METHOD[buf[i]!] === 1) i++;
    if (i === s || buf[i] !== SP) return this.fail(400, INVALID_METHOD, LINE);
    const methodEnd = i;
    const method = methodName(buf, s, methodEnd);

    while (buf[i] === SP) i++;
    const target = i;
    let c = buf[i]!;
    // origin-form `/...` or absolute-form `scheme:...`; CONNECT takes an authority
    if (c !== 0x2f && !((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) && method !== 'CONNECT') {
      return this.fail(400, INVALID_REQUEST, LINE);
    }
    while (c > SP && c !== DEL) c = buf[++i]!;
    // the line end stops the scan too: a byte after it is never looked at
    if (i === target || (c !== SP && i !== eol)) return this.fail(400, INVALID_REQUEST, LINE);
    const targetEnd = i;
    while (i < eol && buf[i] === SP) i++;

    let major = 0;
    let minor = 9;
    const versionStart = i;
    if (i < eol) {
      // HTTP-version; every byte compared below differs from CR and LF, so
      // no check reads past the line.
      if (buf[i] !== 0x48 || buf[i + 1] !== 0x54 || buf[i + 2] !== 0x54 || buf[i + 3] !== 0x50
          || buf[i + 4] !== 0x2f) {
        return this.fail(400, INVALID_REQUEST, LINE);
      }
      i += 5;
      let d = buf[i]! - 0x30;
      if (!(d >= 1 && d <= 9)) return this.fail(400, INVALID_REQUEST, LINE);
      major = d;
      if (major > 1) return this.fail(505, INVALID_VERSION, LINE);
      while ((d = buf[++i]! - 0x30) >= 0 && d <= 9) {
        major = major * 10 + d;
        if (major > 1) return this.fail(505, INVALID_VERSION, LINE);
      }
      if (buf[i] !== 0x2e) return this.fail(400, INVALID_REQUEST, LINE);
      d = buf[++i]! - 0x30;
      if (!(d >= 0 && d <= 9)) return this.fail(400, INVALID_REQUEST, LINE);
      minor = d;
      while ((d = buf[++i]! - 0x30) >= 0 && d <= 9) {
        if (minor > MAX_MINOR) return this.fail(400, INVALID_REQUEST, LINE);
        minor = minor * 10 + d;
      }
      while (i < eol && buf[i] === SP) i++;
      if (i !== eol) return this.fail(400, INVALID_REQUEST, LINE);
    } else if (method !== 'GET') {
      return this.fail(400, INVALID_09_METHOD, LINE);
    }

    const canonical = major !== 0 && target === methodEnd + 1 && versionStart === targetEnd + 1
      && buf[versionStart + 8] !== SP && versionStart + 8 === eol;
    this.sentLine = canonical ? '' : latin1(buf, s, eol);
    this.method = method;
    this.url = latin1(buf, target, targetEnd);
    this.versionMajor = major;
    this.versionMinor = minor;
    return true;
  }

  /** One field line buf[s..lf] (not the empty line); inPlace: buf is the chunk being executed. */
  private headerLine(buf: Buffer, s: number, lf: number, inPlace: boolean): boolean {
    // FIELD_DROP lines (odd names) are kept: validateRequestHead ignores and logs them
    if (parseFieldLine(buf, s, lf, false) === FIELD_INVALID) {
      return this.fail(400, 'client sent invalid header line: "' + describeBadLine(buf, s, field.bad) + '"', HEADERS);
    }
    if (inPlace) {
      this.spans.push(s, field.nameEnd, field.valueStart, field.valueEnd);
    } else {
      // a line that was split across slices: always the first line of an execute() call
      this.rawHeaders.push(latin1(buf, s, field.nameEnd), latin1(buf, field.valueStart, field.valueEnd));
    }
    return true;
  }

  /** Turns the spans of chunk into rawHeaders entries. */
  private flush(chunk: Buffer): void {
    const spans = this.spans;
    const raw = this.rawHeaders;
    const base = spans[0]!;
    const text = latin1(chunk, base, spans[spans.length - 1]!);
    for (let i = 0; i < spans.length; i += 4) {
      raw.push(text.slice(spans[i]! - base, spans[i + 1]! - base), text.slice(spans[i + 2]! - base, spans[i + 3]! - base));
    }
    spans.length = 0;
  }
}

/** buf[s..e) from its first byte that is no CR or LF up to the next CR or LF: a request line as far as it came. */
function lineSoFar(buf: Buffer, s: number, e: number): string {
  while (s < e && (buf[s] === CR || buf[s] === 0x0a)) s++;
  let i = s;
  while (i < e && buf[i] !== CR && buf[i] !== 0x0a) i++;
  return latin1(buf, s, i);
}

/** The method as a string; the common ones as constants (no allocation, fast compares). */
function methodName(buf: Buffer, s: number, e: number): string {
  const c0 = buf[s];
  switch (e - s) {
    case 3:
      if (c0 === 0x47 && buf[s + 1] === 0x45 && buf[s + 2] === 0x54) return 'GET';
      if (c0 === 0x50 && buf[s + 1] === 0x55 && buf[s + 2] === 0x54) return 'PUT';
      break;
    case 4:
      if (c0 === 0x50 && buf[s + 1] === 0x4f && buf[s + 2] === 0x53 && buf[s + 3] === 0x54) return 'POST';
      if (c0 === 0x48 && buf[s + 1] === 0x45 && buf[s + 2] === 0x41 && buf[s + 3] === 0x44) return 'HEAD';
      break;
    case 5:
      if (c0 === 0x50 && buf[s + 1] === 0x41 && buf[s + 2] === 0x54 && buf[s + 3] === 0x43
          && buf[s + 4] === 0x48) return 'PATCH';
      break;
    case 6:
      if (c0 === 0x44 && buf[s + 1] === 0x45 && buf[s + 2] === 0x4c && buf[s + 3] === 0x45
          && buf[s + 4] === 0x54 && buf[s + 5] === 0x45) return 'DELETE';
      break;
    case 7:
      if (c0 === 0x4f && buf[s + 1] === 0x50 && buf[s + 2] === 0x54 && buf[s + 3] === 0x49
          && buf[s + 4] === 0x4f && buf[s + 5] === 0x4e && buf[s + 6] === 0x53) return 'OPTIONS';
      break;
  }
  return latin1(buf, s, e);
}
