/*
 * FastCGI record framing: the constants, the stream encoder (STDIN and, for
 * tests and fakes, any stream type) and the incremental record decoder.
 *
 * Mirrors ngx_http_fastcgi_module.c: the record header layout and the
 * BEGIN_REQUEST body (ngx_http_fastcgi_request_start), the STDIN records of
 * create_request / body_output_filter (32 KB of body per record, padded to a
 * multiple of 8, an empty STDIN to end), and ngx_http_fastcgi_process_record
 * plus the record walk shared by input_filter and non_buffered_filter.
 *
 * nginx runs one request per connection, always with requestId 1, and rejects
 * any other id byte by byte ("request id high byte" / "low byte"). So do we.
 *
 * Deliberate differences from nginx:
 * - STDERR is reported once per record, after the whole record arrived; nginx
 *   logs each piece as it is read, so the log depends on how reads were split.
 *   A record is at most 65535 bytes, so holding one is bounded.
 * - END_REQUEST's body (appStatus, protocolStatus) is decoded and reported;
 *   nginx skips it. A body shorter than 8 bytes reports the bytes present and
 *   zeros for the rest (nginx does not check it either).
 * - Bytes after END_REQUEST (and its padding) are counted in `extraBytes`
 *   wherever they arrive; nginx stops reading there and silently does not
 *   reuse the connection (no log line). Same outcome.
 */

export const FCGI_VERSION_1 = 1;
export const FCGI_HEADER_LEN = 8;
/** nginx runs one request per connection and always calls it 1. */
export const FCGI_REQUEST_ID = 1;
export const FCGI_RESPONDER = 1;
export const FCGI_KEEP_CONN = 1;

/** Record types (FastCGI 1.0 spec, section 8). */
export const FcgiType = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
} as const;
export type FcgiTypeCode = (typeof FcgiType)[keyof typeof FcgiType];

/** nginx cuts the request body into records of 32 KB. */
export const FCGI_STDIN_RECORD_MAX = 32 * 1024;

/** Padding nginx adds so each record's content ends on an 8-byte boundary. */
export function fcgiPadding(contentLength: number): number {
  return (8 - (contentLength & 7)) & 7;
}

/** Writes an 8-byte record header for request 1 at `off`. */
export function writeRecordHeader(
  buf: Buffer, off: number, type: number, contentLength: number, paddingLength: number,
): void {
  buf[off] = FCGI_VERSION_1;
  buf[off + 1] = type;
  buf[off + 2] = 0;
  buf[off + 3] = FCGI_REQUEST_ID;
  buf[off + 4] = (contentLength >> 8) & 0xff;
  buf[off + 5] = contentLength & 0xff;
  buf[off + 6] = paddingLength;
  buf[off + 7] = 0;
}

/** BEGIN_REQUEST, role RESPONDER, flags KEEP_CONN when fastcgi_keep_conn is on. */
export function encodeBeginRequest(keepConn: boolean): Buffer {
  const b = Buffer.alloc(16);
  writeBeginRequest(b, 0, keepConn);
  return b;
}

/** The same 16 bytes written into a caller's buffer; returns the end offset. */
export function writeBeginRequest(buf: Buffer, off: number, keepConn: boolean): number {
  writeRecordHeader(buf, off, FcgiType.BEGIN_REQUEST, 8, 0);
  buf[off + 8] = 0;
  buf[off + 9] = FCGI_RESPONDER;
  buf[off + 10] = keepConn ? FCGI_KEEP_CONN : 0;
  buf.fill(0, off + 11, off + 16);
  return off + 16;
}

/** An empty record of `type`: ends the PARAMS or STDIN stream. */
export function encodeStreamEnd(type: number): Buffer {
  const b = Buffer.allocUnsafe(FCGI_HEADER_LEN);
  writeRecordHeader(b, 0, type, 0, 0);
  return b;
}

/** The empty STDIN record that ends the request body. Do not mutate. */
export const FCGI_STDIN_END: Buffer = encodeStreamEnd(FcgiType.STDIN);

/**
 * Frames `data` as records of `type` (at most `maxContent` bytes each) for
 * writev: [header, view, padding+next header, view, ..., padding]. The data is
 * not copied; all headers and padding share one small allocation. An empty
 * `data` yields nothing (an empty record would end the stream).
 */
export function encodeStream(type: number, data: Buffer, maxContent = FCGI_STDIN_RECORD_MAX): Buffer[] {
  const n = data.length;
  if (n === 0) return [];
  if (maxContent < 1 || maxContent > 0xffff) throw new RangeError('maxContent must be 1..65535');
  const records = Math.ceil(n / maxContent);
  // each record: 8 header bytes + up to 7 padding bytes
  const frame = Buffer.alloc(records * (FCGI_HEADER_LEN + 7));
  const out: Buffer[] = [];
  let f = 0;
  let frameStart = 0;
  for (let off = 0; off < n; off += maxContent) {
    const len = Math.min(maxContent, n - off);
    const pad = fcgiPadding(len);
    writeRecordHeader(frame, f, type, len, pad);
    f += FCGI_HEADER_LEN;
    out.push(frame.subarray(frameStart, f), data.subarray(off, off + len));
    frameStart = f;
    f += pad; // zeros from Buffer.alloc; joined with the next header
  }
  if (f > frameStart) out.push(frame.subarray(frameStart, f));
  return out;
}

/** A request-body chunk as STDIN records (nginx: 32 KB per record). */
export function encodeStdin(chunk: Buffer): Buffer[] {
  return encodeStream(FcgiType.STDIN, chunk, FCGI_STDIN_RECORD_MAX);
}

/* ---------------------------------------------------------------- decoder */

/** Error texts as nginx logs them. */
export const FcgiMessages = {
  version: (v: number): string => `upstream sent unsupported FastCGI protocol version: ${v}`,
  type: (t: number): string => `upstream sent invalid FastCGI record type: ${t}`,
  idHigh: (b: number): string => `upstream sent unexpected FastCGI request id high byte: ${b}`,
  idLow: (b: number): string => `upstream sent unexpected FastCGI request id low byte: ${b}`,
  stderr: (text: string): string => `FastCGI sent in stderr: "${text}"`,
  prematureClose: 'upstream prematurely closed connection',
} as const;

/**
 * Receives records as they are decoded, synchronously from feed(), in stream
 * order.
 */
export interface FcgiRecordSink {
  /**
   * Optional: a record header was read (before its content). Return an error
   * text to reject the record (the decoder turns `invalid`), or null.
   */
  onRecordHeader?(type: number, contentLength: number): string | null;
  /** STDOUT content: a view into the fed chunk, never a copy. */
  onStdout(view: Buffer): void;
  /** An empty STDOUT record: the application closed its stdout. */
  onStdoutEnd(): void;
  /**
   * One STDERR record's text with trailing LF, CR, '.' and ' ' trimmed as nginx
   * does (never below one byte). To be logged (FcgiMessages.stderr), never
   * forwarded. Not called for empty STDERR records.
   */
  onStderr(text: Buffer): void;
  /** END_REQUEST content read; `end` is returned once its padding is read too. */
  onEndRequest(appStatus: number, protocolStatus: number): void;
}

/** `again`: need more bytes. `end`: END_REQUEST and its padding read. `invalid`: see `error`. */
export type FcgiDecodeState = 'again' | 'end' | 'invalid';

const ST_CONTENT = 8;
const ST_PADDING = 9;
const ST_END = 10;
const ST_INVALID = 11;

/* ngx: for (m = last - 1; msg < m; m--) if (*m not in LF CR . SP) break; */
export function trimStderr(text: Buffer): Buffer {
  let e = text.length;
  while (e > 1) {
    const c = text[e - 1]!;
    if (c !== 0x0a && c !== 0x0d && c !== 0x2e && c !== 0x20) break;
    e--;
  }
  return e === text.length ? text : text.subarray(0, e);
}

/**
 * Decodes the records nginx accepts from an application: STDOUT, STDERR and
 * END_REQUEST, version 1, request id 1. One per try.
 *
 *   const d = new FcgiRecordDecoder();
 *   socket.on('data', (chunk) => {
 *     const st = d.feed(chunk, sink);   // sink.onStdout(view) / onStderr / onEndRequest
 *     if (st === 'invalid') fail(d.error);
 *     else if (st === 'end') done(d.keepalive);
 *   });
 *   socket.on('end', () => { const e = d.finish(); if (e) fail(e); });
 */
export class FcgiRecordDecoder {
  /** nginx's log text when the stream is invalid. */
  error: string | null = null;
  /** Bytes after END_REQUEST and its padding; dropped. */
  extraBytes = 0;
  /** END_REQUEST's padding ended exactly where the input ended. */
  keepalive = false;
  /** Type of the record being read (or last read). */
  type = 0;

  private st = 0; // 0..7: the next header byte; then ST_*
  private length = 0; // content bytes left in the current record
  private padding = 0; // padding bytes left
  private contentLength = 0;
  private stderrParts: Buffer[] | null = null;
  private endBody: Buffer | null = null;
  private endFill = 0;

  get state(): FcgiDecodeState {
    return this.st === ST_END ? 'end' : this.st === ST_INVALID ? 'invalid' : 'again';
  }

  /** Whether END_REQUEST (with its padding) has been read. */
  get ended(): boolean {
    return this.st === ST_END;
  }

  feed(chunk: Buffer, sink: FcgiRecordSink): FcgiDecodeState {
    const n = chunk.length;
    let p = 0;
    if (this.st === ST_INVALID) return 'invalid';
    if (this.st === ST_END) {
      if (n > 0) { this.extraBytes += n; this.keepalive = false; }
      return 'end';
    }

    while (p < n) {
      const st = this.st;
      if (st < ST_CONTENT) {
        const c = chunk[p++]!;
        switch (st) {
          case 0:
            if (c !== FCGI_VERSION_1) return this.fail(FcgiMessages.version(c));
            break;
          case 1:
            if (c !== FcgiType.STDOUT && c !== FcgiType.STDERR && c !== FcgiType.END_REQUEST) {
              return this.fail(FcgiMessages.type(c));
            }
            this.type = c;
            break;
          case 2:
            if (c !== 0) return this.fail(FcgiMessages.idHigh(c));
            break;
          case 3:
            if (c !== FCGI_REQUEST_ID) return this.fail(FcgiMessages.idLow(c));
            break;
          case 4:
            this.length = c << 8;
            break;
          case 5:
            this.length |= c;
            break;
          case 6:
            this.padding = c;
            break;
          default: {
            // reserved byte: the header is complete
            this.contentLength = this.length;
            if (sink.onRecordHeader !== undefined) {
              const err = sink.onRecordHeader(this.type, this.length);
              if (err !== null) return this.fail(err);
            }
            this.st = ST_CONTENT;
            if (this.length === 0) {
              const r = this.contentDone(chunk, p, sink);
              if (r !== null) return r;
            }
            continue;
          }
        }
        this.st = st + 1;
        continue;
      }

      if (st === ST_CONTENT) {
        const take = Math.min(this.length, n - p);
        switch (this.type) {
          case FcgiType.STDOUT:
            sink.onStdout(chunk.subarray(p, p + take));
            if (this.st === ST_INVALID) return 'invalid'; // the sink called abort()
            break;
          case FcgiType.STDERR:
            if (take === this.contentLength) {
              // the whole record in one chunk: no copy
              sink.onStderr(trimStderr(chunk.subarray(p, p + take)));
            } else {
              (this.stderrParts ??= []).push(Buffer.from(chunk.subarray(p, p + take)));
            }
            break;
          default: // END_REQUEST
            this.collectEndBody(chunk, p, take);
            break;
        }
        this.length -= take;
        p += take;
        if (this.length === 0) {
          const r = this.contentDone(chunk, p, sink);
          if (r !== null) return r;
        } else if (this.st === ST_INVALID) {
          return 'invalid';
        }
        continue;
      }

      // ST_PADDING
      const skip = Math.min(this.padding, n - p);
      this.padding -= skip;
      p += skip;
      if (this.padding === 0) {
        const r = this.recordDone(chunk, p);
        if (r !== null) return r;
      }
    }
    return 'again';
  }

  /**
   * The upstream closed. Returns nginx's text when END_REQUEST was not read,
   * else null. (With fastcgi_keep_conn off nginx treats a close after the
   * response as its end; the caller decides, this only reports.)
   */
  finish(): string | null {
    if (this.st === ST_END || this.st === ST_INVALID) return null;
    this.keepalive = false;
    return FcgiMessages.prematureClose;
  }

  /**
   * Stop decoding with `message` as the error; for a sink that rejects what it
   * was given (a bad CGI header, fastcgi_catch_stderr). feed() returns `invalid`.
   */
  abort(message: string): void {
    if (this.st !== ST_INVALID) this.fail(message);
  }

  private fail(msg: string): FcgiDecodeState {
    this.st = ST_INVALID;
    this.error = msg;
    this.keepalive = false;
    this.stderrParts = null;
    return 'invalid';
  }

  private collectEndBody(chunk: Buffer, p: number, take: number): void {
    const want = Math.min(8 - this.endFill, take);
    if (want <= 0) return;
    const body = (this.endBody ??= Buffer.alloc(8));
    chunk.copy(body, this.endFill, p, p + want);
    this.endFill += want;
  }

  /* Content fully read: deliver what was held, then padding. */
  private contentDone(chunk: Buffer, p: number, sink: FcgiRecordSink): FcgiDecodeState | null {
    switch (this.type) {
      case FcgiType.STDOUT:
        if (this.contentLength === 0) sink.onStdoutEnd();
        break;
      case FcgiType.STDERR:
        if (this.stderrParts !== null) {
          const parts = this.stderrParts;
          this.stderrParts = null;
          sink.onStderr(trimStderr(parts.length === 1 ? parts[0]! : Buffer.concat(parts)));
        }
        break;
      default: { // END_REQUEST
        const b = this.endBody;
        const app = b === null ? 0 : b.readUInt32BE(0);
        const proto = b === null ? 0 : b[4]!;
        this.endBody = null;
        this.endFill = 0;
        sink.onEndRequest(app, proto);
        break;
      }
    }
    if (this.st === ST_INVALID) return 'invalid'; // the sink called abort()
    if (this.padding > 0) {
      this.st = ST_PADDING;
      return null;
    }
    return this.recordDone(chunk, p);
  }

  private recordDone(chunk: Buffer, p: number): FcgiDecodeState | null {
    if (this.type !== FcgiType.END_REQUEST) {
      this.st = 0;
      return null;
    }
    this.st = ST_END;
    const extra = chunk.length - p;
    this.extraBytes += extra;
    this.keepalive = extra === 0;
    return 'end';
  }
}
