/*
 * memcached wire codec: the `get` request and the incremental response parser.
 *
 * Mirrors ngx_http_memcached_module.c (create_request, process_header,
 * filter_init, filter) and the NGX_ESCAPE_MEMCACHED table of ngx_escape_uri()
 * in src/core/ngx_string.c. No sockets and no config here: the protocol module
 * feeds bytes in and reads the outcome.
 *
 * Deliberate differences from nginx:
 * - Numbers (flags, length) above Number.MAX_SAFE_INTEGER are rejected as
 *   invalid; nginx accepts up to 2^63-1. No real memcached sends such values.
 * - Without memcached_gzip_flag nginx never looks at the flags field; we still
 *   parse it so `flags` can be exposed, but a non-numeric value only makes
 *   `flags` null, it is not an error (same acceptance as nginx).
 * - Bytes after "END\r\n" are counted in `extraBytes` and clear `keepalive`
 *   wherever they arrive. nginx notices them only when they share a read with
 *   the trailer (it logs "memcached sent invalid trailer"); later ones are
 *   caught by the keepalive module's close handler. Same outcome: dropped,
 *   connection not reused.
 * - Log texts are decoded as UTF-8 for our string logger; nginx writes the
 *   raw bytes.
 * - The header line is bounded by `bufferSize` counting only the status line;
 *   nginx counts whatever else shares its upstream buffer (the same thing for
 *   a header that is a single line).
 */

/* "\r\nEND\r\n": what must follow the data block of a VALUE reply. */
const TRAILER = Buffer.from('\r\nEND\r\n', 'latin1');
const TRAILER_LEN = TRAILER.length;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;

/** nginx's memcached_buffer_size default is one page; 4k on the common targets. */
export const MEMCACHED_DEFAULT_BUFFER_SIZE = 4096;

/*
 * The escape map as nginx writes it: eight 32-bit words, bit (b & 31) of word
 * (b >> 5) set means byte b is written as %XX. Word 0 escapes 0x00-0x1f, word 1
 * = 0x21 sets bits 0 (0x20 space) and 5 (0x25 '%'); everything else, including
 * 0x7f and 0x80-0xff, goes out raw. Keeping nginx's words (not a list of bytes)
 * makes a diff against ngx_string.c trivial.
 */
const NGX_ESCAPE_MEMCACHED_WORDS: readonly number[] = [
  0xffffffff, 0x00000021, 0x00000000, 0x00000000,
  0x00000000, 0x00000000, 0x00000000, 0x00000000,
];

const ESCAPE = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  ESCAPE[b] = (NGX_ESCAPE_MEMCACHED_WORDS[b >> 5]! >>> (b & 31)) & 1;
}

/* nginx's hex[] is upper case. */
const HEX = Buffer.from('0123456789ABCDEF', 'latin1');

/** Whether ngx_escape_uri(NGX_ESCAPE_MEMCACHED) escapes this byte. */
export function memcachedEscapes(byte: number): boolean {
  return ESCAPE[byte & 0xff] === 1;
}

/*
 * Strings are taken as latin1 so each char is one byte: that is how node's
 * http layer hands us URIs and header values, so the original bytes survive.
 */
function toBytes(key: string | Buffer): Buffer {
  return typeof key === 'string' ? Buffer.from(key, 'latin1') : key;
}

/** The key bytes as nginx puts them on the wire (CR, LF, NUL, space, % escaped). */
export function escapeMemcachedKey(key: string | Buffer): Buffer {
  return createGetRequest(key).escapedKey;
}

export interface MemcachedGetRequest {
  /** `get <escaped key>\r\n`, ready to write. */
  readonly request: Buffer;
  /** A view into `request`: the key the reply's VALUE line must echo. */
  readonly escapedKey: Buffer;
}

/** nginx's text when $memcached_key is empty or unset (the caller logs it, 500). */
export const MEMCACHED_KEY_NOT_SET = 'the "$memcached_key" variable is not set';

/**
 * Build the request once per try. Throws RangeError(MEMCACHED_KEY_NOT_SET) for an
 * empty key: the caller is expected to check first, as nginx does before it
 * allocates anything.
 */
export function createGetRequest(key: string | Buffer): MemcachedGetRequest {
  const src = toBytes(key);
  const n = src.length;
  if (n === 0) throw new RangeError(MEMCACHED_KEY_NOT_SET);

  let escapes = 0;
  for (let i = 0; i < n; i++) escapes += ESCAPE[src[i]!]!;

  const keyLen = n + 2 * escapes;
  const out = Buffer.allocUnsafe(4 + keyLen + 2);
  out[0] = 0x67; out[1] = 0x65; out[2] = 0x74; out[3] = SP; // "get "
  let o = 4;
  if (escapes === 0) {
    src.copy(out, o);
    o += n;
  } else {
    for (let i = 0; i < n; i++) {
      const b = src[i]!;
      if (ESCAPE[b] === 1) {
        out[o++] = 0x25;
        out[o++] = HEX[b >> 4]!;
        out[o++] = HEX[b & 15]!;
      } else {
        out[o++] = b;
      }
    }
  }
  out[o++] = CR;
  out[o] = LF;
  return { request: out, escapedKey: out.subarray(4, 4 + keyLen) };
}

/** `get <escaped key>\r\n` */
export function buildGetRequest(key: string | Buffer): Buffer {
  return createGetRequest(key).request;
}

/* ---------------------------------------------------------------- parser */

/** Error texts, as nginx logs them (the caller adds the " while ..." context). */
export const MemcachedMessages = {
  tooBigHeader: 'upstream sent too big header',
  invalidTrailer: 'memcached sent invalid trailer',
  prematureClose: 'upstream prematurely closed connection',
  invalidKey: (line: string, key: string): string =>
    `memcached sent invalid key in response "${line}" for key "${key}"`,
  invalidFlags: (line: string, key: string): string =>
    `memcached sent invalid flags in response "${line}" for key "${key}"`,
  invalidLength: (line: string, key: string): string =>
    `memcached sent invalid length in response "${line}" for key "${key}"`,
  invalidResponse: (line: string): string =>
    `memcached sent invalid response: "${line}"`,
  notFound: (key: string): string =>
    `key: "${key}" was not found by memcached`,
} as const;

/**
 * Where the parser is. `header`: waiting for the status line. `body`: VALUE
 * accepted, data or trailer still due. `done`: the reply is complete (check
 * `keepalive`, `warning`, `extraBytes`). `invalid`: see `error`; nginx answers
 * 502 (NGX_HTTP_UPSTREAM_INVALID_HEADER) and the connection is closed.
 */
export type MemcachedState = 'header' | 'body' | 'done' | 'invalid';

/**
 * Receives the reply as it is parsed. Called synchronously from feed(), in
 * stream order: onHeader exactly once (before any onData), then onData with
 * views into the fed chunks (never copies; keep them only as long as the chunk
 * is kept).
 */
export interface MemcachedSink {
  onHeader(reply: MemcachedResponseParser): void;
  onData(view: Buffer): void;
}

export interface MemcachedParserOptions {
  /** The escaped key sent in the request (MemcachedGetRequest.escapedKey). */
  readonly key: Buffer;
  /** memcached_buffer_size: the status line must fit (with its LF). */
  readonly bufferSize?: number;
  /** memcached_gzip_flag; 0 (the default) means off, flags are not validated. */
  readonly gzipFlag?: number;
}

/** Decimal digits only, non-empty, within the safe integer range; else -1. */
function parseDecimal(buf: Buffer, start: number, end: number): number {
  if (start >= end) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
    if (v > Number.MAX_SAFE_INTEGER) return -1;
  }
  return v;
}

/* flags & gzip_flag over 53 bits: JS bit operators only see 32. */
function bitsIntersect(a: number, b: number): boolean {
  if ((a & b) !== 0) return true;
  return ((Math.floor(a / 0x100000000) & Math.floor(b / 0x100000000)) >>> 0) !== 0;
}

const S_HEADER = 0;
const S_BODY = 1;
const S_DONE = 2;
const S_INVALID = 3;
const STATE_NAMES: readonly MemcachedState[] = ['header', 'body', 'done', 'invalid'];

/**
 * One per try (create a new one on retry). feed() any slicing of the reply;
 * the outcome does not depend on where the slices are cut.
 *
 *   const { request, escapedKey } = createGetRequest(key);
 *   const p = new MemcachedResponseParser({ key: escapedKey, bufferSize: 4096 });
 *   socket.on('data', (chunk) => {
 *     const st = p.feed(chunk, sink);   // sink.onHeader -> p.status / p.length / p.gzip
 *     if (st === 'invalid') fail(p.error);          // 502, close
 *     else if (st === 'done') finish(p.keepalive);  // p.warning to the error log
 *   });
 *   socket.on('end', () => { const e = p.finish(); if (e) fail(e); });
 */
export class MemcachedResponseParser {
  /** 200 for VALUE, 404 for a lone END, 0 before the header. */
  status: 0 | 200 | 404 = 0;
  /** The data length from VALUE (-> Content-Length); 0 for 404. */
  length = 0;
  /** The flags field if it is a decimal number, else null. */
  flags: number | null = null;
  /** flags & memcached_gzip_flag: add "Content-Encoding: gzip". */
  gzip = false;
  /** Why the reply is invalid (nginx's log text), when state is `invalid`. */
  error: string | null = null;
  /** Something to log at error level without failing the reply. */
  warning: string | null = null;
  /** Bytes received after the reply ended; they are dropped. */
  extraBytes = 0;
  /** True only when the reply ended exactly at "END\r\n" with nothing after. */
  keepalive = false;

  private readonly key: Buffer;
  private readonly bufferSize: number;
  private readonly gzipFlag: number;
  private st = S_HEADER;
  private pending: Buffer | null = null;
  private rest = 0;
  private trailerPos = 0;

  constructor(opts: MemcachedParserOptions) {
    this.key = opts.key;
    this.bufferSize = opts.bufferSize ?? MEMCACHED_DEFAULT_BUFFER_SIZE;
    this.gzipFlag = opts.gzipFlag ?? 0;
  }

  get state(): MemcachedState {
    return STATE_NAMES[this.st]!;
  }

  /** The text nginx logs at info level for a 404 (`key: "..." was not found ...`). */
  get notFoundMessage(): string {
    return MemcachedMessages.notFound(this.key.toString('utf8'));
  }

  feed(chunk: Buffer, sink: MemcachedSink): MemcachedState {
    switch (this.st) {
      case S_HEADER:
        return this.feedHeader(chunk, sink);
      case S_BODY:
        return this.feedBody(chunk, 0, sink);
      case S_DONE:
        if (chunk.length > 0) {
          this.extraBytes += chunk.length;
          this.keepalive = false;
          // the same report whether or not the bytes shared a read with END
          if (this.status === 200) this.warning ??= MemcachedMessages.invalidTrailer;
        }
        return 'done';
      default:
        return 'invalid';
    }
  }

  /**
   * The upstream closed. Returns nginx's text if the reply was cut short
   * (header or data/trailer missing), else null.
   */
  finish(): string | null {
    if (this.st === S_HEADER || this.st === S_BODY) {
      this.keepalive = false;
      return MemcachedMessages.prematureClose;
    }
    return null;
  }

  private fail(msg: string): MemcachedState {
    this.st = S_INVALID;
    this.error = msg;
    this.pending = null;
    this.keepalive = false;
    return 'invalid';
  }

  private feedHeader(chunk: Buffer, sink: MemcachedSink): MemcachedState {
    let buf = chunk;
    let from = 0;
    if (this.pending !== null) {
      from = this.pending.length;
      buf = Buffer.concat([this.pending, chunk]);
    }
    // nginx looks for LF only inside its buffer of buffer_size bytes
    const limit = Math.min(buf.length, this.bufferSize);
    const lf = from < limit ? buf.indexOf(LF, from) : -1;
    if (lf === -1 || lf >= limit) {
      if (buf.length >= this.bufferSize) return this.fail(MemcachedMessages.tooBigHeader);
      // a copy: the caller may recycle the chunk, and this is at most one line
      this.pending = buf === chunk ? Buffer.from(chunk) : buf;
      return 'header';
    }
    this.pending = null;

    const r = this.parseLine(buf, lf);
    if (r !== null) return this.fail(r);

    sink.onHeader(this);
    if (this.st === S_DONE) {
      // a lone END: nothing may follow on this connection for this request
      const extra = buf.length - (lf + 1);
      if (extra > 0) {
        this.extraBytes += extra;
        this.keepalive = false;
      }
      return 'done';
    }
    return this.feedBody(buf, lf + 1, sink);
  }

  /* Returns null when the line was accepted (state moved on), else the error. */
  private parseLine(buf: Buffer, lf: number): string | null {
    if (lf === 0 || buf[lf - 1] !== CR) {
      return MemcachedMessages.invalidResponse(buf.toString('utf8', 0, lf));
    }
    const end = lf - 1; // the CR; the line proper is [0, end)

    if (end >= 6 && buf[0] === 0x56 && buf[1] === 0x41 && buf[2] === 0x4c
        && buf[3] === 0x55 && buf[4] === 0x45 && buf[5] === SP) { // "VALUE "
      const key = this.key;
      const klen = key.length;
      let p = 6;
      // the escaped key holds no CR, so a line too short to hold it mismatches
      if (end - p < klen || key.compare(buf, p, p + klen) !== 0) {
        return MemcachedMessages.invalidKey(this.lineText(buf, end), key.toString('utf8'));
      }
      p += klen;
      if (buf[p] !== SP) return MemcachedMessages.invalidResponse(this.lineText(buf, end));
      p++;

      // flags run to the next space; nginx's scan stops at a NUL byte (its
      // C string end), so do we
      const flagsStart = p;
      let found = false;
      while (p <= end) {
        const c = buf[p]!;
        if (c === 0) break;
        p++;
        if (c === SP) { found = true; break; }
      }
      if (!found) return MemcachedMessages.invalidResponse(this.lineText(buf, end));

      const flags = parseDecimal(buf, flagsStart, p - 1);
      if (this.gzipFlag !== 0) {
        if (flags < 0) {
          return MemcachedMessages.invalidFlags(this.lineText(buf, end), key.toString('utf8'));
        }
        this.gzip = bitsIntersect(flags, this.gzipFlag);
      }
      this.flags = flags < 0 ? null : flags;

      const length = parseDecimal(buf, p, end);
      if (length < 0) {
        return MemcachedMessages.invalidLength(this.lineText(buf, end), key.toString('utf8'));
      }
      this.status = 200;
      this.length = length;
      this.rest = length;
      this.trailerPos = 0;
      this.st = S_BODY;
      return null;
    }

    if (end === 3 && buf[0] === 0x45 && buf[1] === 0x4e && buf[2] === 0x44) { // "END"
      this.status = 404;
      this.length = 0;
      this.keepalive = true;
      this.st = S_DONE;
      return null;
    }

    return MemcachedMessages.invalidResponse(this.lineText(buf, end));
  }

  private lineText(buf: Buffer, end: number): string {
    return buf.toString('utf8', 0, end);
  }

  private feedBody(buf: Buffer, p: number, sink: MemcachedSink): MemcachedState {
    const n = buf.length;
    if (this.rest > 0 && p < n) {
      const take = Math.min(this.rest, n - p);
      sink.onData(buf.subarray(p, p + take));
      this.rest -= take;
      p += take;
    }
    while (p < n && this.trailerPos < TRAILER_LEN) {
      if (buf[p] !== TRAILER[this.trailerPos]) {
        // the data block itself was complete; nginx keeps it, logs, closes.
        // Everything from the bad byte on is dropped and counted as extra.
        this.warning = MemcachedMessages.invalidTrailer;
        this.keepalive = false;
        this.extraBytes += n - p;
        this.st = S_DONE;
        return 'done';
      }
      this.trailerPos++;
      p++;
    }
    if (this.trailerPos < TRAILER_LEN) return 'body';

    this.st = S_DONE;
    if (p < n) {
      this.extraBytes += n - p;
      this.keepalive = false;
      this.warning = MemcachedMessages.invalidTrailer;
    } else {
      this.keepalive = true;
    }
    return 'done';
  }
}
