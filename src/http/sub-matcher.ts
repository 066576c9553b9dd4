/**
 * The streaming multi-pattern matcher behind sub_filter (the semantics of
 * ngx_http_sub_parse and ngx_http_sub_match, our own code).
 *
 * Patterns are byte strings, lower-cased; the body is compared with ASCII
 * letters lower-cased, so matching is case-insensitive for ASCII only, as
 * nginx's ngx_tolower. The leftmost place where a pattern matches wins; where
 * several match at one place, the first in the config wins. A replaced
 * match is not looked into again.
 *
 * Candidate places are found with a Horspool skip table over the first
 * `min` bytes of every pattern (`min`: the shortest pattern's length), so most
 * bytes are looked at once and passed on. Across writes only the bytes that
 * could still begin a match are held (fewer than the longest pattern);
 * everything before them goes on at once. At the end of the body what is held
 * goes out as it is: a match cut off by the end of the body is no match.
 */

/** A pattern set's tables, made once per config (or per request for patterns with variables). */
export interface SubTables {
  /** The patterns, lower-cased, in config order. */
  readonly patterns: readonly Buffer[];
  readonly min: number;
  readonly max: number;
  /** How far the scan may skip at a byte (lower-cased) seen at the end of a `min` window. */
  readonly shift: Uint8Array;
  /** By the byte at a pattern's position min-1: the patterns with it there, in config order. */
  readonly buckets: ReadonlyArray<readonly number[] | undefined>;
}

/** ASCII lower-casing of every byte value. */
const LOWER = new Uint8Array(256);
for (let i = 0; i < 256; i++) LOWER[i] = i >= 0x41 && i <= 0x5a ? i + 0x20 : i;

/** Lower-cases the ASCII letters of a pattern (ngx_strlow). */
export function lowerBytes(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(b.length);
  for (let i = 0; i < b.length; i++) out[i] = LOWER[b[i]!]!;
  return out;
}

/** Builds the tables for non-empty lower-cased patterns (at least one). */
export function buildSubTables(patterns: readonly Buffer[]): SubTables {
  let min = Infinity;
  let max = 0;
  for (const p of patterns) {
    if (p.length < min) min = p.length;
    if (p.length > max) max = p.length;
  }
  // A skip is at most 255 (nginx keeps it in a byte); a smaller skip is always safe.
  const window = Math.min(min, 255);
  const shift = new Uint8Array(256).fill(window);
  const buckets: number[][] = [];
  patterns.forEach((p, i) => {
    for (let j = 0; j < window; j++) {
      const c = p[min - 1 - j]!;
      if (shift[c]! > j) shift[c] = j;
    }
    (buckets[p[min - 1]!] ??= []).push(i);
  });
  return { patterns, min, max, shift, buckets };
}

const NO = 0;
const YES = 1;
/** The data ended while the pattern still matched. */
const PARTIAL = 2;

function matchAt(data: Buffer, start: number, pattern: Buffer): number {
  const n = data.length;
  for (let k = 0; k < pattern.length; k++) {
    const at = start + k;
    if (at >= n) return PARTIAL;
    if (LOWER[data[at]!] !== pattern[k]) return NO;
  }
  return YES;
}

const EMPTY = Buffer.alloc(0);

export class SubMatcher {
  /** Bytes not passed on yet: they may begin a match. */
  private held: Buffer = EMPTY;
  /** sub_filter_once: each pattern is replaced once; then the rest passes as it is. */
  private readonly used: boolean[] | null;
  private applied = 0;
  private passThrough = false;

  /**
   * `replacement(i)`: what pattern i is replaced by; `out`: where the
   * resulting bytes go, in order.
   */
  constructor(
    private readonly tables: SubTables,
    once: boolean,
    private readonly replacement: (i: number) => Buffer,
    private readonly out: (chunk: Buffer) => void,
  ) {
    this.used = once ? new Array<boolean>(tables.patterns.length).fill(false) : null;
  }

  write(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.passThrough) { this.out(chunk); return; }
    const data = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
    this.held = EMPTY;
    this.scan(data);
  }

  /** The end of the body: what is held goes out unchanged. */
  end(): void {
    if (this.held.length > 0) this.out(this.held);
    this.held = EMPTY;
  }

  private scan(data: Buffer): void {
    const { min, shift, buckets, patterns } = this.tables;
    const used = this.used;
    const n = data.length;
    let emitFrom = 0;
    let offset = min - 1;
    outer: while (offset < n) {
      const c = LOWER[data[offset]!]!;
      const skip = shift[c]!;
      if (skip > 0) { offset += skip; continue; }
      const start = offset - min + 1;
      const bucket = buckets[c];
      if (bucket !== undefined) {
        for (let b = 0; b < bucket.length; b++) {
          const i = bucket[b]!;
          if (used !== null && used[i]) continue;
          const p = patterns[i]!;
          const m = matchAt(data, start, p);
          if (m === NO) continue;
          if (start > emitFrom) this.out(data.subarray(emitFrom, start));
          if (m === PARTIAL) {
            // An earlier pattern of the config wins over a later one here: wait for the rest.
            this.held = Buffer.from(data.subarray(start));
            return;
          }
          const rep = this.replacement(i);
          if (rep.length > 0) this.out(rep);
          emitFrom = start + p.length;
          if (used !== null) {
            used[i] = true;
            if (++this.applied === patterns.length) {
              this.passThrough = true;
              if (emitFrom < n) this.out(data.subarray(emitFrom));
              return;
            }
          }
          offset = emitFrom + min - 1;
          continue outer;
        }
      }
      offset++;
    }
    // The places whose first `min` bytes are not all here yet: the first that may still match is held.
    let keep = Math.max(emitFrom, n - min + 1);
    for (; keep < n; keep++) {
      let could = false;
      for (let i = 0; i < patterns.length && !could; i++) {
        if (used !== null && used[i]) continue;
        could = matchAt(data, keep, patterns[i]!) === PARTIAL;
      }
      if (could) break;
    }
    if (keep > emitFrom) this.out(data.subarray(emitFrom, keep));
    if (keep < n) this.held = Buffer.from(data.subarray(keep));
  }
}
