/**
 * A cache entry on disk (nginx's cache file: ngx_http_file_cache_header_t,
 * the key line, the response head, the body). weir's layout:
 *
 *   0   8  magic "weirC01\n" (a different layout gets a different magic)
 *   8   4  u32 LE: length of the meta JSON
 *   12  8  f64 LE: valid until (epoch ms): fixed, so a revalidation (304)
 *          rewrites these 8 bytes in place, as nginx's update_header does
 *   20  …  meta JSON: key, date, Last-Modified, ETag, Vary and the variant,
 *          status, status line and the response fields for the client
 *   …      the body, as the client gets it (no transfer framing)
 *
 * The body's length is what follows the meta: an entry is renamed into place
 * only once its body ended well, so a crash mid-write leaves a temp file no
 * reader ever opens. The file name is the MD5 of the key; the levels take
 * directories from its end (levels=1:2: .../c/29/b7f5...9c), as nginx.
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

export const MAGIC = Buffer.from('weirC01\n', 'latin1');
export const FIXED = 20;
const VALID_AT = 12;
/** A meta larger than this is a corrupt file, not a response head. */
const MAX_META = 1 << 20;

export interface EntryMeta {
  readonly key: string;
  /** When the response was stored (epoch ms). */
  readonly date: number;
  readonly lastModified: string | null;
  readonly etag: string | null;
  /** The response's Vary, and the request's values of those fields when stored. */
  readonly vary: string | null;
  readonly variant: string | null;
  readonly status: number;
  readonly statusLine: string | null;
  /** For the client, flat [name, value, ...]. */
  readonly headers: readonly string[];
  /** Cache-Control stale-while-revalidate and stale-if-error (s; -1 none). */
  readonly updatingSec?: number;
  readonly errorSec?: number;
}

export interface Entry {
  readonly meta: EntryMeta;
  validUntil: number;
  /** Where the body starts in the file, and its length. */
  readonly bodyStart: number;
  readonly bodyLength: number;
}

export function md5Hex(key: string): string {
  return createHash('md5').update(key, 'latin1').digest('hex');
}

/** The entry's path under `dir` for `levels`. */
export function entryPath(dir: string, levels: readonly number[], md5: string): string {
  let p = dir;
  let end = md5.length;
  for (const n of levels) {
    p += '/' + md5.slice(end - n, end);
    end -= n;
  }
  return `${p}/${md5}`;
}

export function encodeHead(meta: EntryMeta, validUntil: number): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const head = Buffer.allocUnsafe(FIXED + json.length);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(json.length, 8);
  head.writeDoubleLE(validUntil, VALID_AT);
  json.copy(head, FIXED);
  return head;
}

/** Why a file is not an entry (nginx's crit lines about cache files), or the entry. */
export type ReadResult = { readonly entry: Entry } | { readonly bad: string };

/** Reads and checks the head of an open entry file of `size` bytes. */
export async function readEntry(fh: FileHandle, size: number): Promise<ReadResult> {
  if (size < FIXED) return { bad: 'is too small' };
  const first = Buffer.allocUnsafe(Math.min(size, 4096));
  const { bytesRead } = await fh.read(first, 0, first.length, 0);
  if (bytesRead < FIXED || !first.subarray(0, 8).equals(MAGIC)) return { bad: 'has incorrect header' };
  const metaLength = first.readUInt32LE(8);
  if (metaLength > MAX_META || FIXED + metaLength > size) return { bad: 'has too long header' };
  let json: Buffer;
  if (FIXED + metaLength <= bytesRead) json = first.subarray(FIXED, FIXED + metaLength);
  else {
    json = Buffer.allocUnsafe(metaLength);
    const rest = await fh.read(json, 0, metaLength, FIXED);
    if (rest.bytesRead !== metaLength) return { bad: 'is too small' };
  }
  let meta: EntryMeta;
  try {
    meta = JSON.parse(json.toString('utf8')) as EntryMeta;
  } catch {
    return { bad: 'has incorrect header' };
  }
  if (!validMeta(meta)) return { bad: 'has incorrect header' };
  const bodyStart = FIXED + metaLength;
  return { entry: { meta, validUntil: first.readDoubleLE(VALID_AT), bodyStart, bodyLength: size - bodyStart } };
}

function validMeta(m: EntryMeta): boolean {
  return typeof m === 'object' && m !== null && typeof m.key === 'string' && typeof m.status === 'number'
    && Array.isArray(m.headers) && m.headers.length % 2 === 0 && m.headers.every((h) => typeof h === 'string')
    && typeof m.date === 'number';
}

/** A revalidated entry's new validity, written in place. */
export async function writeValidUntil(fh: FileHandle, validUntil: number): Promise<void> {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleLE(validUntil, 0);
  await fh.write(b, 0, 8, VALID_AT);
}
