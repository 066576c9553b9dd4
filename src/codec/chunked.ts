// Chunked transfer coding decoder, for upstream responses and (same
// strictness, stricter extensions) for client request bodies.
//
// Mirrors ngx_http_parse_chunked (src/http/ngx_http_parse.c, 1.29.4+: bare
// LF anywhere is invalid) and, for trailers, ngx_http_proxy_process_trailer
// (src/http/modules/ngx_http_proxy_module.c): trailers are field lines
// bounded by the same buffer size, "upstream sent too big trailers" /
// "upstream sent invalid trailer: ...".
//
// Two modes:
// - 'upstream' follows nginx: after the size, SP/HTAB/';' start an extension
//   that runs to CR (so `5 \r\n` and `5 ;x\r\n` are accepted).
// - 'downstream' (RELIABILITY R15/R16): no whitespace after the size, and
//   extensions must match `*( ";" token [ "=" ( token / quoted-string ) ] )`
//   exactly; an unbalanced quote or a CR inside one is invalid.
//
// Deliberate differences from nginx, in both modes:
// - At most 16 hex digits (leading zeros included), and a size above
//   Number.MAX_SAFE_INTEGER is invalid (nginx: off_t overflow).
// - Control bytes (but HTAB) inside an extension are invalid (nginx takes any
//   byte but LF), and extensions are bounded (4 KiB per message by default).
// - Trailer lines are always parsed and checked (nginx skips them unless
//   proxy_pass_trailers is on). Fields that must not come in a trailer
//   (framing, routing, controls, authentication: RFC 9110 §6.5.1, R18) are
//   dropped; the rest are kept for `$upstream_trailer_NAME`.
// - An optional cap on the number of chunks (R18: a flood of one-byte
//   chunks costs a callback per byte); 0 means no cap, as in nginx.
//
// Data is never copied: each piece of chunk data is a subarray of the slice.

import {
  CR, LF, SP, HTAB, HEX, TCHAR, VALUE_OK, field, parseFieldLine, describeBadLine, latin1,
  LineReader, FIELD_DROP, FIELD_IGNORE, FIELD_INVALID, LINE_AGAIN, LINE_TOO_BIG,
} from './field-lines.js';

export type ChunkedMode = 'upstream' | 'downstream';
export type ChunkedStatus = 'again' | 'done' | 'invalid';

export interface ChunkedOptions {
  /** 'upstream' (nginx's leniency, the default) or 'downstream' (strict). */
  mode?: ChunkedMode;
  /** Bytes of chunk extensions allowed in the whole message (default 4096). */
  maxExtensionBytes?: number;
  /** Bytes of the trailer section, final CRLF included (nginx: proxy_buffer_size; default 4096). */
  maxTrailerSize?: number;
  /** Most data chunks in one message; 0 for no limit (default 0). */
  maxChunks?: number;
}

/** Trailer fields never kept (RFC 9110 §6.5.1), lowercase. */
export const FORBIDDEN_TRAILERS: ReadonlySet<string> = new Set([
  'content-length', 'transfer-encoding', 'host', 'connection', 'keep-alive',
  'proxy-connection', 'te', 'trailer', 'upgrade', 'content-encoding', 'content-type',
  'content-range', 'authorization', 'proxy-authorization', 'proxy-authenticate',
  'www-authenticate', 'set-cookie', 'cookie', 'cache-control', 'expect', 'max-forwards',
  'pragma', 'range', 'age', 'expires', 'date', 'location', 'retry-after', 'vary',
  'warning', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since',
  'if-range',
]);

const S_SIZE_START = 0;
const S_SIZE = 1;
const S_EXT_LOOSE = 2;
const S_EXT_NAME_START = 3;
const S_EXT_NAME = 4;
const S_EXT_VALUE_START = 5;
const S_EXT_TOKEN = 6;
const S_EXT_QUOTED = 7;
const S_EXT_QUOTED_PAIR = 8;
const S_EXT_AFTER_QUOTED = 9;
const S_SIZE_LF = 10;
const S_DATA = 11;
const S_DATA_CR = 12;
const S_DATA_LF = 13;
const S_TRAILERS = 14;
const S_DONE = 15;
const S_INVALID = 16;

const SEMI = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Above this, size * 16 + 15 would pass Number.MAX_SAFE_INTEGER. */
const SIZE_SHIFT_LIMIT = Math.floor(Number.MAX_SAFE_INTEGER / 16);

/**
 * Incremental chunked decoder. Drive it with execute(slice, start, views):
 * the data pieces found are pushed onto `views` (subarrays of slice, never
 * empty); the return says whether the message ended ('done': `pos` is the
 * index after its last byte, the rest of the slice is not part of it), needs
 * more ('again': the whole slice was used) or is broken ('invalid': `reason`
 * is the error-log line, `detail` says what exactly).
 */
export class ChunkedDecoder {
  /** Where execute() stopped in the slice (meaningful after 'done'). */
  pos = 0;
  reason = '';
  detail = '';
  /** Data bytes decoded so far. */
  bodyBytes = 0;
  /** Data chunks seen so far. */
  chunks = 0;
  /** Kept trailer fields (parallel arrays, as for the head). */
  readonly trailerNames: string[] = [];
  readonly trailerLowerNames: string[] = [];
  readonly trailerValues: string[] = [];
  /** Trailer fields dropped (forbidden or a non-token name). */
  trailersDropped = 0;

  private state = S_SIZE_START;
  private size = 0;
  private digits = 0;
  private remaining = 0;
  private extBytes = 0;
  private readonly strict: boolean;
  private readonly who: string;
  private readonly maxExt: number;
  private readonly maxChunks: number;
  private readonly trailers: LineReader;

  constructor(options: ChunkedOptions = {}) {
    this.strict = options.mode === 'downstream';
    this.who = this.strict ? 'client' : 'upstream';
    this.maxExt = options.maxExtensionBytes ?? 4096;
    this.maxChunks = options.maxChunks ?? 0;
    this.trailers = new LineReader(options.maxTrailerSize ?? 4096);
  }

  get done(): boolean {
    return this.state === S_DONE;
  }

  /** The chunk-data bytes still expected of the current chunk (0 between chunks). */
  get pendingData(): number {
    return this.state === S_DATA ? this.remaining : 0;
  }

  /** The value of the first kept trailer named `lname` (lowercase). */
  trailer(lname: string): string | undefined {
    const i = this.trailerLowerNames.indexOf(lname);
    return i === -1 ? undefined : this.trailerValues[i];
  }

  execute(chunk: Buffer, start: number, views: Buffer[]): ChunkedStatus {
    let state = this.state;
    if (state === S_DONE) {
      this.pos = start;
      return 'done';
    }
    if (state === S_INVALID) return 'invalid';
    const end = chunk.length;
    let pos = start;

    while (pos < end) {
      if (state === S_DATA) {
        const avail = end - pos;
        const want = this.remaining;
        if (avail >= want) {
          views.push(chunk.subarray(pos, pos + want));
          pos += want;
          this.bodyBytes += want;
          this.remaining = 0;
          state = S_DATA_CR;
        } else {
          views.push(pos === 0 ? chunk : chunk.subarray(pos));
          this.bodyBytes += avail;
          this.remaining = want - avail;
          pos = end;
        }
        continue;
      }

      if (state === S_TRAILERS) {
        this.state = state;
        const rc = this.readTrailers(chunk, pos);
        if (rc !== -1) return this.stop(rc === -2 ? 'invalid' : 'done', rc);
        pos = end;
        break;
      }

      const c = chunk[pos++]!;
      switch (state) {
        case S_SIZE_START: {
          const d = HEX[c]!;
          if (d < 0) return this.invalid('invalid chunk size');
          this.size = d;
          this.digits = 1;
          state = S_SIZE;
          break;
        }
        case S_SIZE: {
          const d = HEX[c]!;
          if (d >= 0) {
            if (++this.digits > 16 || this.size > SIZE_SHIFT_LIMIT) {
              return this.invalid('chunk size too big');
            }
            this.size = this.size * 16 + d;
            break;
          }
          if (c === CR) {
            state = S_SIZE_LF;
          } else if (c === SEMI) {
            state = this.strict ? S_EXT_NAME_START : S_EXT_LOOSE;
            if (!this.countExt()) return this.invalid('chunk extensions too long');
          } else if (!this.strict && (c === SP || c === HTAB)) {
            state = S_EXT_LOOSE;
            if (!this.countExt()) return this.invalid('chunk extensions too long');
          } else {
            return this.invalid('invalid chunk size');
          }
          break;
        }
        case S_EXT_LOOSE:
          if (c === CR) {
            state = S_SIZE_LF;
          } else if (VALUE_OK[c] !== 1) {
            return this.invalid('invalid chunk extension');
          } else if (!this.countExt()) {
            return this.invalid('chunk extensions too long');
          }
          break;
        case S_EXT_NAME_START:
        case S_EXT_NAME:
        case S_EXT_VALUE_START:
        case S_EXT_TOKEN:
        case S_EXT_QUOTED:
        case S_EXT_QUOTED_PAIR:
        case S_EXT_AFTER_QUOTED: {
          if (c === CR && (state === S_EXT_NAME || state === S_EXT_TOKEN
              || state === S_EXT_AFTER_QUOTED)) {
            state = S_SIZE_LF;
            break;
          }
          const next = strictExt(state, c);
          if (next < 0) return this.invalid('invalid chunk extension');
          if (!this.countExt()) return this.invalid('chunk extensions too long');
          state = next;
          break;
        }
        case S_SIZE_LF:
          if (c !== LF) return this.invalid('expected LF after chunk size');
          if (this.size === 0) {
            state = S_TRAILERS;
          } else {
            if (this.maxChunks > 0 && this.chunks >= this.maxChunks) {
              return this.invalid('too many chunks');
            }
            this.chunks++;
            this.remaining = this.size;
            state = S_DATA;
          }
          break;
        case S_DATA_CR:
          if (c !== CR) return this.invalid('expected CRLF after chunk data');
          state = S_DATA_LF;
          break;
        case S_DATA_LF:
          if (c !== LF) return this.invalid('expected CRLF after chunk data');
          state = S_SIZE_START;
          break;
      }
    }

    this.state = state;
    this.pos = end;
    return 'again';
  }

  /** -1: need more; -2: invalid (reason set); else the position after the section. */
  private readTrailers(chunk: Buffer, pos: number): number {
    const lines = this.trailers;
    for (;;) {
      const next = lines.next(chunk, pos);
      if (next === LINE_AGAIN) return -1;
      if (next === LINE_TOO_BIG) {
        this.reason = this.who + ' sent too big trailers';
        this.detail = 'trailers too big';
        return -2;
      }
      pos = next;
      const buf = lines.lineBuf;
      const s = lines.lineStart;
      const lf = lines.lineEnd;
      if (lf - s === 1 && buf[s] === CR) return pos;
      // nginx's chunked parser: every trailer line ends in exactly one CR LF
      if (lf === s || buf[lf - 1] !== CR || (lf - s >= 2 && buf[lf - 2] === CR)) {
        this.reason = this.who + ' sent invalid trailer: "' + describeBadLine(buf, s, lf === s || buf[lf - 1] !== CR ? lf : lf - 1) + '"';
        this.detail = 'bare LF in trailers';
        return -2;
      }
      const rc = parseFieldLine(buf, s, lf);
      if (rc === FIELD_INVALID) {
        this.reason = this.who + ' sent invalid trailer: "' + describeBadLine(buf, s, field.bad) + '"';
        this.detail = 'invalid trailer line';
        return -2;
      }
      if (rc === FIELD_DROP || rc === FIELD_IGNORE) {
        this.trailersDropped++;
        continue;
      }
      const name = latin1(buf, s, field.nameEnd);
      const lname = name.toLowerCase();
      if (FORBIDDEN_TRAILERS.has(lname)) {
        this.trailersDropped++;
        continue;
      }
      this.trailerNames.push(name);
      this.trailerLowerNames.push(lname);
      this.trailerValues.push(latin1(buf, field.valueStart, field.valueEnd));
    }
  }

  private stop(status: 'done' | 'invalid', pos: number): ChunkedStatus {
    if (status === 'done') {
      this.state = S_DONE;
      this.pos = pos;
    } else {
      this.state = S_INVALID;
    }
    return status;
  }

  private countExt(): boolean {
    return ++this.extBytes <= this.maxExt;
  }

  private invalid(detail: string): 'invalid' {
    this.state = S_INVALID;
    this.detail = detail;
    this.reason = this.strict ? 'client sent invalid chunked body'
      : 'upstream sent invalid chunked response';
    return 'invalid';
  }
}

/** The strict extension grammar's next state, or -1. CR is handled by the caller. */
function strictExt(state: number, c: number): number {
  switch (state) {
    case S_EXT_NAME_START:
      return TCHAR[c] === 1 ? S_EXT_NAME : -1;
    case S_EXT_NAME:
      if (TCHAR[c] === 1) return S_EXT_NAME;
      if (c === EQUALS) return S_EXT_VALUE_START;
      return c === SEMI ? S_EXT_NAME_START : -1;
    case S_EXT_VALUE_START:
      if (TCHAR[c] === 1) return S_EXT_TOKEN;
      return c === DQUOTE ? S_EXT_QUOTED : -1;
    case S_EXT_TOKEN:
      if (TCHAR[c] === 1) return S_EXT_TOKEN;
      return c === SEMI ? S_EXT_NAME_START : -1;
    case S_EXT_QUOTED:
      if (c === DQUOTE) return S_EXT_AFTER_QUOTED;
      if (c === BACKSLASH) return S_EXT_QUOTED_PAIR;
      return VALUE_OK[c] === 1 ? S_EXT_QUOTED : -1;
    case S_EXT_QUOTED_PAIR:
      return VALUE_OK[c] === 1 ? S_EXT_QUOTED : -1;
    case S_EXT_AFTER_QUOTED:
      return c === SEMI ? S_EXT_NAME_START : -1;
  }
  return -1;
}
