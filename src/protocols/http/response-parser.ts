// The upstream's response head: status line and header lines, fed in slices.
//
// Mirrors ngx_http_parse_status_line and ngx_http_parse_header_line
// (src/http/ngx_http_parse.c), ngx_http_proxy_process_status_line and
// ngx_http_proxy_process_header (src/http/modules/ngx_http_proxy_module.c),
// and the upstream header handlers of src/http/ngx_http_upstream.c
// (content_length, transfer_encoding, connection): the same checks and the
// same log lines, so the error log reads like nginx's.
//
// Deliberate differences from nginx:
// - A first line that is not a status line is invalid ("upstream sent no valid
//   HTTP/1.0 header"). nginx logs the same line but then passes the bytes on
//   as an HTTP/0.9 response with status 200 (RELIABILITY U10: 502 instead).
//   The mismatch is reported as soon as the first bytes differ from `HTTP/`
//   and a digit, so an `SSH-2.0-...` banner or a 0.9 body fails at once
//   instead of waiting for a full buffer. The status line itself is read as
//   nginx reads it: any major version, several spaces before the status,
//   IIS's "403.1", any text after it; a version below 1.1 closes.
// - A line may end in a bare LF, as in nginx (RELIABILITY U9).
// - Field-line differences are listed in field-lines.ts (CTLs in values;
//   names with non-token bytes dropped rather than forwarded).
// - Connection is split into comma-separated tokens; nginx searches the
//   value for the substring "close" (so it would also match "closed").
// - 1xx heads are returned as 'interim' and the parser then reads the next
//   head (nginx's proxy never expects them: it sends neither Expect nor
//   Upgrade without a 101 being the answer). Their number is capped.
// - Content-Length above Number.MAX_SAFE_INTEGER is invalid (nginx: off_t).
// - nginx adds empty "Server"/"Date" entries when the upstream sent none;
//   that is the header filter's business, not the parser's.

import {
  CR, SP, field, parseFieldLine, describeBadLine, latin1, LineReader,
  FIELD_DROP, FIELD_IGNORE, FIELD_INVALID, LINE_AGAIN, LINE_TOO_BIG, HTAB, isEmptyLine,
} from '../../codec/field-lines.js';

/** nginx's log lines for a bad response head (and our two additions). */
export const HeadReason = {
  tooBig: 'upstream sent too big header',
  noValidHttp: 'upstream sent no valid HTTP/1.0 header',
  /** + `: "<line up to the bad byte>\xNN..."` */
  invalidHeader: 'upstream sent invalid header',
  bothFraming: 'upstream sent "Content-Length" and "Transfer-Encoding" headers at the same time',
  /** not in nginx, which never reads 1xx heads */
  tooManyInterim: 'upstream sent too many 1xx responses',
} as const;

/** One parsed response head. Header arrays are parallel, in received order. */
export interface ResponseHead {
  readonly statusCode: number;
  /**
   * The status line from the code on, as sent ("503 Service Unavailable", "200"):
   * nginx's headers_in.status_line, which the client gets as it is.
   */
  readonly statusLine: string;
  readonly httpVersion: '1.0' | '1.1';
  /** Names as received (latin1). */
  readonly names: string[];
  /** Names lowercased, for lookups and `$upstream_http_*`. */
  readonly lowerNames: string[];
  /** Values with leading and trailing SP/HTAB removed (latin1). */
  readonly values: string[];
  /** The Content-Length value, -1 when absent (always -1 when chunked). */
  readonly contentLength: number;
  /** Transfer-Encoding: chunked was sent (the only coding accepted). */
  readonly chunked: boolean;
  /**
   * nginx's headers_in.connection_close: the response is HTTP/1.0 or carried
   * a `close` token. The connection must not be reused after it.
   */
  readonly connectionClose: boolean;
  /** A `keep-alive` token was present in Connection. */
  readonly connectionKeepAlive: boolean;
  /**
   * All Connection tokens, lowercased, in order: the hop-by-hop header
   * names the caller must strip besides the fixed list (RELIABILITY U12).
   */
  readonly connectionTokens: string[];
  /** The Upgrade header's value, or null. */
  readonly upgradeValue: string | null;
  /** Status 101: the connection becomes a tunnel after this head. */
  readonly upgrade: boolean;
  /** 1xx other than 101: another head follows. */
  readonly interim: boolean;
  /** Header lines dropped because their name has a non-token byte. */
  readonly droppedHeaders: number;
}

export type HeadStatus = 'again' | 'ok' | 'interim' | 'invalid';

const ST_STATUS = 0;
const ST_HEADERS = 1;
const ST_INTERIM = 2; // an interim head was returned; the next feed starts a new one
const ST_DONE = 3;
const ST_INVALID = 4;

const HTTP_PREFIX = Buffer.from('HTTP/', 'latin1');
const DOT = 0x2e;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Incremental, strict parser of one upstream response head (nginx's
 * u->process_header for the proxy module). One instance per request.
 *
 * Drive it with feed(slice) for every slice the upstream socket yields:
 * - 'again': all of the slice was taken; feed the next one.
 * - 'interim': a 1xx head is in `head`; `consumed` bytes of the slice were
 *   taken. Skip or forward it, then feed `slice.subarray(consumed)` (even if
 *   empty, nothing is lost) and go on: the parser reads the next head.
 * - 'ok': the final head is in `head`; `slice.subarray(consumed)` is the
 *   first body bytes (or, after a 101, the first tunnel bytes).
 * - 'invalid': `reason` holds nginx's error-log line; treat as nginx's
 *   NGX_HTTP_UPSTREAM_INVALID_HEADER (502, next upstream if allowed, close).
 */
export class ResponseHeadParser {
  /** Bytes of the last fed slice that belong to the head(s). */
  consumed = 0;
  /** The last complete head (interim or final). */
  head: ResponseHead | null = null;
  /** Why the head is invalid (nginx's error-log wording). */
  reason = '';
  /** 1xx heads read so far. */
  interimCount = 0;

  private state = ST_STATUS;
  private readonly lines: LineReader;

  // the head being read
  private statusCode = 0;
  private statusLine = '';
  /** major * 1000 + minor, as nginx's http_version. */
  private version = 1001;
  private names: string[] = [];
  private lowerNames: string[] = [];
  private values: string[] = [];
  private contentLength = -1;
  private clLine = '';
  private chunked = false;
  private teLine = '';
  private closeToken = false;
  private keepAliveToken = false;
  private tokens: string[] = [];
  private upgradeValue: string | null = null;
  private dropped = 0;

  /**
   * @param maxHeaderSize nginx's proxy_buffer_size: the most bytes one head
   *   (status line, headers, empty line) may take.
   * @param maxInterim how many 1xx heads may precede the final one.
   */
  constructor(readonly maxHeaderSize = 4096, readonly maxInterim = 32) {
    this.lines = new LineReader(maxHeaderSize);
  }

  /** Back to the start, for a new response (a retry on another peer). */
  reset(): void {
    this.state = ST_STATUS;
    this.consumed = 0;
    this.head = null;
    this.reason = '';
    this.interimCount = 0;
    this.beginHead();
  }

  feed(chunk: Buffer): HeadStatus {
    switch (this.state) {
      case ST_DONE:
        this.consumed = 0;
        return 'ok';
      case ST_INVALID:
        this.consumed = 0;
        return 'invalid';
      case ST_INTERIM:
        this.beginHead();
        this.state = ST_STATUS;
        break;
    }
    const lines = this.lines;
    let pos = 0;
    for (;;) {
      if (this.state === ST_STATUS && !this.prefixPlausible(chunk, pos)) {
        return this.fail(HeadReason.noValidHttp);
      }
      const next = lines.next(chunk, pos);
      if (next === LINE_AGAIN) {
        this.consumed = chunk.length;
        return 'again';
      }
      if (next === LINE_TOO_BIG) return this.fail(HeadReason.tooBig);
      pos = next;
      const buf = lines.lineBuf;
      const s = lines.lineStart;
      const lf = lines.lineEnd;

      if (this.state === ST_STATUS) {
        if (!this.parseStatusLine(buf, s, lf)) return this.fail(HeadReason.noValidHttp);
        this.state = ST_HEADERS;
        continue;
      }

      if (isEmptyLine(buf, s, lf)) {
        this.consumed = pos;
        return this.finishHead();
      }
      const rc = parseFieldLine(buf, s, lf);
      if (rc === FIELD_INVALID) {
        return this.fail(HeadReason.invalidHeader + ': "' + describeBadLine(buf, s, field.bad) + '"');
      }
      if (rc === FIELD_IGNORE) continue;
      if (rc === FIELD_DROP) {
        this.dropped++;
        continue;
      }
      const name = latin1(buf, s, field.nameEnd);
      const value = latin1(buf, field.valueStart, field.valueEnd);
      const lname = name.toLowerCase();
      if (!this.processHeader(name, lname, value)) return 'invalid';
      this.names.push(name);
      this.lowerNames.push(lname);
      this.values.push(value);
    }
  }

  private fail(reason: string): 'invalid' {
    this.state = ST_INVALID;
    this.reason = reason;
    return 'invalid';
  }

  private beginHead(): void {
    this.lines.reset();
    this.statusCode = 0;
    this.statusLine = '';
    this.version = 1001;
    this.names = [];
    this.lowerNames = [];
    this.values = [];
    this.contentLength = -1;
    this.clLine = '';
    this.chunked = false;
    this.teLine = '';
    this.closeToken = false;
    this.keepAliveToken = false;
    this.tokens = [];
    this.upgradeValue = null;
    this.dropped = 0;
  }

  /** Whether the first line (held bytes, then chunk[pos..]) can still start with `HTTP/` and a digit 1-9. */
  private prefixPlausible(chunk: Buffer, pos: number): boolean {
    const held = this.lines.pending;
    if (held > HTTP_PREFIX.length) return true;
    const b = this.lines.pendingBuf;
    const at = (i: number): number | undefined => (i < held ? b[i] : chunk[pos + i - held]);
    for (let i = 0; i <= HTTP_PREFIX.length && i - held < chunk.length - pos; i++) {
      const c = at(i)!;
      if (i < HTTP_PREFIX.length ? c !== HTTP_PREFIX[i] : c < 0x31 || c > 0x39) return false;
    }
    return true;
  }

  /**
   * ngx_http_parse_status_line: `HTTP/` major `.` minor (up to 3 digits each), spaces, three
   * digits, then a space, `.` (IIS's "403.1") or the line end, then any text; buf[lf] is the LF.
   */
  private parseStatusLine(buf: Buffer, s: number, lf: number): boolean {
    const eol = buf[lf - 1] === CR ? lf - 1 : lf;
    let p = s + HTTP_PREFIX.length;
    if (buf[p]! < 0x31 || buf[p]! > 0x39) return false;
    let major = 0;
    for (; p < eol && buf[p] !== DOT; p++) {
      const d = buf[p]! - 0x30;
      if (d < 0 || d > 9 || major > 99) return false;
      major = major * 10 + d;
    }
    p++;
    if (p >= eol || buf[p]! < 0x30 || buf[p]! > 0x39) return false;
    let minor = 0;
    for (; p < eol && buf[p] !== SP; p++) {
      const d = buf[p]! - 0x30;
      if (d < 0 || d > 9 || minor > 99) return false;
      minor = minor * 10 + d;
    }
    while (p < eol && buf[p] === SP) p++;
    if (eol - p < 3) return false;
    let code = 0;
    for (let i = 0; i < 3; i++) {
      const d = buf[p + i]! - 0x30;
      if (d < 0 || d > 9) return false;
      code = code * 10 + d;
    }
    const after = p + 3;
    if (after < eol && buf[after] !== SP && buf[after] !== DOT) return false;
    // A CR inside the line is not an end of line.
    for (let i = after; i < eol; i++) if (buf[i] === CR) return false;
    this.statusLine = latin1(buf, p, eol);
    this.version = major * 1000 + minor;
    this.statusCode = code;
    return true;
  }

  /** The header handlers of ngx_http_upstream.c that decide the framing. */
  private processHeader(name: string, lname: string, value: string): boolean {
    switch (lname) {
      case 'content-length': {
        if (this.clLine !== '') return this.duplicate(name, value, this.clLine);
        if (this.chunked) return !this.fail(HeadReason.bothFraming);
        this.clLine = name + ': ' + value;
        const n = parseLength(value);
        if (n < 0) {
          return !this.fail('upstream sent invalid "Content-Length" header: "' + this.clLine + '"');
        }
        this.contentLength = n;
        return true;
      }
      case 'transfer-encoding': {
        if (this.teLine !== '') return this.duplicate(name, value, this.teLine);
        if (this.clLine !== '') return !this.fail(HeadReason.bothFraming);
        this.teLine = name + ': ' + value;
        if (value.length !== 7 || value.toLowerCase() !== 'chunked') {
          return !this.fail('upstream sent unknown "Transfer-Encoding": "' + value + '"');
        }
        this.chunked = true;
        return true;
      }
      case 'connection':
        this.connectionTokens(value);
        return true;
      case 'upgrade':
        this.upgradeValue = this.upgradeValue === null ? value : this.upgradeValue + ', ' + value;
        return true;
      default:
        return true;
    }
  }

  private duplicate(name: string, value: string, previous: string): boolean {
    return !this.fail('upstream sent duplicate header line: "' + name + ': ' + value
      + '", previous value: "' + previous + '"');
  }

  private connectionTokens(value: string): void {
    const n = value.length;
    let i = 0;
    while (i < n) {
      let c = value.charCodeAt(i);
      while (i < n && (c === SP || c === HTAB || c === 0x2c)) c = value.charCodeAt(++i);
      const start = i;
      while (i < n && c !== 0x2c) c = value.charCodeAt(++i);
      let end = i;
      while (end > start && (value.charCodeAt(end - 1) === SP || value.charCodeAt(end - 1) === HTAB)) end--;
      if (end > start) {
        const t = value.slice(start, end).toLowerCase();
        if (t === 'close') this.closeToken = true;
        else if (t === 'keep-alive') this.keepAliveToken = true;
        this.tokens.push(t);
      }
    }
  }

  private finishHead(): HeadStatus {
    const code = this.statusCode;
    const interim = code >= 100 && code < 200 && code !== 101;
    this.head = {
      statusCode: code,
      statusLine: this.statusLine,
      httpVersion: this.version < 1001 ? '1.0' : '1.1',
      names: this.names,
      lowerNames: this.lowerNames,
      values: this.values,
      contentLength: this.chunked ? -1 : this.contentLength,
      chunked: this.chunked,
      connectionClose: this.version < 1001 || this.closeToken,
      connectionKeepAlive: this.keepAliveToken,
      connectionTokens: this.tokens,
      upgradeValue: this.upgradeValue,
      upgrade: code === 101,
      interim,
      droppedHeaders: this.dropped,
    };
    if (interim) {
      if (++this.interimCount > this.maxInterim) return this.fail(HeadReason.tooManyInterim);
      this.state = ST_INTERIM;
      return 'interim';
    }
    this.state = ST_DONE;
    return 'ok';
  }
}

/** ngx_atoof: digits only, no sign, no spaces; -1 if invalid or too big. */
function parseLength(v: string): number {
  const n = v.length;
  if (n === 0 || n > 16) return -1;
  let r = 0;
  for (let i = 0; i < n; i++) {
    const d = v.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    r = r * 10 + d;
  }
  return r > MAX_SAFE ? -1 : r;
}

/** The value of the first header named `lname` (lowercase), or undefined. */
export function getHeader(head: ResponseHead, lname: string): string | undefined {
  const i = head.lowerNames.indexOf(lname);
  return i === -1 ? undefined : head.values[i];
}

