/*
 * FastCGI name-value pairs and the request head (BEGIN_REQUEST + PARAMS).
 *
 * Mirrors the PARAMS part of ngx_http_fastcgi_create_request(): lengths below
 * 128 take one byte, longer ones four bytes big-endian with the top bit set;
 * the pairs go out in one buffer sized in a first pass; records are padded to
 * a multiple of 8 and the stream ends with an empty PARAMS record.
 *
 * Deliberate differences from nginx:
 * - nginx puts every pair into a single PARAMS record and refuses a request
 *   whose pairs exceed 65535 bytes ("fastcgi request record is too big"). We
 *   split the stream over as many records as needed, as the FastCGI spec
 *   allows (a pair may straddle records); each record carries at most
 *   FCGI_PARAMS_RECORD_MAX bytes, a multiple of 8 so full records need no
 *   padding. For heads under 64 KB the bytes are identical to nginx's.
 * - nginx writes the name length of a fastcgi_param as one byte whatever its
 *   size (names are short in practice); we apply the 1-or-4 rule to names too.
 * - Strings are written as latin1 (one byte per char), which is how node's
 *   http layer represents header bytes; pass Buffers for anything else.
 */

import {
  FCGI_HEADER_LEN, FcgiType, fcgiPadding, writeBeginRequest, writeRecordHeader,
} from './records.js';

/** Largest content per PARAMS record we emit (65535 rounded down to 8). */
export const FCGI_PARAMS_RECORD_MAX = 65528;

/** Largest name or value length the 4-byte form can carry. */
export const FCGI_MAX_PARAM_LENGTH = 0x7fffffff;

export interface FcgiParam {
  readonly name: string | Buffer;
  readonly value: string | Buffer;
}

/* latin1: one byte per char, so a string's length is its byte length */
function byteLength(s: string | Buffer): number {
  return s.length;
}

/** Bytes of one length prefix. */
export function paramLengthSize(len: number): 1 | 4 {
  return len < 128 ? 1 : 4;
}

/** Bytes of the whole pairs stream (no record framing). */
export function paramsStreamLength(params: readonly FcgiParam[]): number {
  let total = 0;
  for (const p of params) {
    const k = byteLength(p.name);
    const v = byteLength(p.value);
    if (k > FCGI_MAX_PARAM_LENGTH || v > FCGI_MAX_PARAM_LENGTH) {
      throw new RangeError('FastCGI parameter longer than 2^31-1 bytes');
    }
    total += paramLengthSize(k) + paramLengthSize(v) + k + v;
  }
  return total;
}

/** Bytes the PARAMS records take for a stream of `streamLen` bytes, end record included. */
export function paramsRecordsLength(streamLen: number): number {
  const full = Math.floor(streamLen / FCGI_PARAMS_RECORD_MAX);
  const tail = streamLen - full * FCGI_PARAMS_RECORD_MAX;
  let size = full * (FCGI_HEADER_LEN + FCGI_PARAMS_RECORD_MAX);
  if (tail > 0) size += FCGI_HEADER_LEN + tail + fcgiPadding(tail);
  return size + FCGI_HEADER_LEN; // the empty PARAMS record
}

/**
 * Writes PARAMS records carrying `params`, then the empty PARAMS record, at
 * `off` in `buf` (which must have paramsRecordsLength(streamLen) bytes free).
 * Returns the end offset.
 */
export function writeParams(
  buf: Buffer, off: number, params: readonly FcgiParam[], streamLen: number,
): number {
  const w = new PairsWriter(buf, off, streamLen);
  for (const p of params) {
    w.length(byteLength(p.name));
    w.length(byteLength(p.value));
    w.bytes(p.name);
    w.bytes(p.value);
  }
  return w.finish();
}

/**
 * Record-aware writer: `pos` moves over content bytes; when a record's content
 * is full it writes that record's padding and the next header.
 */
class PairsWriter {
  pos: number;
  private contentEnd: number; // end of the current record's content
  private pad = 0; // padding owed after contentEnd
  private left: number; // stream bytes not yet assigned to a record

  constructor(private readonly buf: Buffer, start: number, streamLen: number) {
    this.pos = start;
    this.contentEnd = start;
    this.left = streamLen;
  }

  /* pos === contentEnd: pad the previous record, open the next. */
  private advance(): void {
    if (this.pad > 0) {
      this.buf.fill(0, this.pos, this.pos + this.pad);
      this.pos += this.pad;
      this.pad = 0;
    }
    const len = Math.min(FCGI_PARAMS_RECORD_MAX, this.left);
    this.pad = fcgiPadding(len);
    writeRecordHeader(this.buf, this.pos, FcgiType.PARAMS, len, this.pad);
    this.pos += FCGI_HEADER_LEN;
    this.contentEnd = this.pos + len;
    this.left -= len;
  }

  private byte(b: number): void {
    if (this.pos === this.contentEnd) this.advance();
    this.buf[this.pos++] = b;
  }

  length(len: number): void {
    if (len < 128) {
      this.byte(len);
    } else {
      this.byte(((len >>> 24) & 0x7f) | 0x80);
      this.byte((len >>> 16) & 0xff);
      this.byte((len >>> 8) & 0xff);
      this.byte(len & 0xff);
    }
  }

  bytes(src: string | Buffer): void {
    const n = src.length;
    let i = 0;
    while (i < n) {
      if (this.pos === this.contentEnd) this.advance();
      const room = Math.min(this.contentEnd - this.pos, n - i);
      if (typeof src === 'string') {
        this.buf.write(room === n ? src : src.substring(i, i + room), this.pos, room, 'latin1');
      } else {
        src.copy(this.buf, this.pos, i, i + room);
      }
      this.pos += room;
      i += room;
    }
  }

  finish(): number {
    if (this.pad > 0) {
      this.buf.fill(0, this.pos, this.pos + this.pad);
      this.pos += this.pad;
      this.pad = 0;
    }
    writeRecordHeader(this.buf, this.pos, FcgiType.PARAMS, 0, 0);
    return this.pos + FCGI_HEADER_LEN;
  }
}

/** The PARAMS records for `params` and the empty PARAMS record, in one Buffer. */
export function encodeParams(params: readonly FcgiParam[]): Buffer {
  const streamLen = paramsStreamLength(params);
  const buf = Buffer.allocUnsafe(paramsRecordsLength(streamLen));
  writeParams(buf, 0, params, streamLen);
  return buf;
}

/**
 * BEGIN_REQUEST + PARAMS records + the empty PARAMS record in one Buffer,
 * sized once: what nginx's create_request puts in its first buffer (the body
 * follows as encodeStdin() pieces and FCGI_STDIN_END).
 */
export function encodeRequestHead(params: readonly FcgiParam[], keepConn: boolean): Buffer {
  const streamLen = paramsStreamLength(params);
  const buf = Buffer.allocUnsafe(16 + paramsRecordsLength(streamLen));
  const off = writeBeginRequest(buf, 0, keepConn);
  writeParams(buf, off, params, streamLen);
  return buf;
}

/* ---------------------------------------------------------------- decoding */

/**
 * Decodes a complete pairs stream (the PARAMS content joined). For tests and
 * fake applications; returns null if the stream is truncated.
 */
export function decodeParams(stream: Buffer): Array<[Buffer, Buffer]> | null {
  const out: Array<[Buffer, Buffer]> = [];
  let p = 0;
  const n = stream.length;
  const readLen = (): number => {
    if (p >= n) return -1;
    const b = stream[p]!;
    if (b < 128) { p += 1; return b; }
    if (p + 4 > n) return -1;
    const v = ((b & 0x7f) * 0x1000000) + (stream[p + 1]! << 16) + (stream[p + 2]! << 8) + stream[p + 3]!;
    p += 4;
    return v;
  };
  while (p < n) {
    const k = readLen();
    const v = readLen();
    if (k < 0 || v < 0 || p + k + v > n) return null;
    out.push([stream.subarray(p, p + k), stream.subarray(p + k, p + k + v)]);
    p += k + v;
  }
  return out;
}
