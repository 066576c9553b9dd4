/**
 * The PROXY protocol header a `listen ... proxy_protocol` connection starts
 * with (ngx_proxy_protocol_read, ngx_proxy_protocol_get_tlv): pure functions
 * on bytes, so every case is unit-tested without a socket.
 *
 * v1 is the text line `PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n` or
 * `PROXY UNKNOWN ...\r\n`; v2 the binary signature, version/command,
 * family/transport, a length and the addresses, then TLVs. As in nginx, a
 * v1 address is kept as written (only its characters are checked: realip
 * parses it later), a v2 one as ngx_sock_ntop prints it; v2's LOCAL command,
 * a transport other than STREAM and a family other than INET/INET6 (AF_UNIX
 * among them) are skipped and leave no addresses.
 *
 * Difference: nginx parses what one read returned, so a header split over
 * TCP segments is "broken" there. Here a header that is valid so far and
 * incomplete asks for more bytes (`again`), up to the spec's 107 bytes for
 * v1 and the caller's limit for v2 (nginx's buffer size); any byte that
 * makes it invalid is the same answer, with the same log text, as nginx's.
 */
import { inet6Ntop } from './inet.js';

/** c->proxy_protocol. */
export interface ProxyProtocol {
  readonly srcAddr: string;
  readonly dstAddr: string;
  readonly srcPort: number;
  readonly dstPort: number;
  /** v2's TLV bytes after the addresses (null: none), read when a variable asks. */
  readonly tlvs: Buffer | null;
}

export type ProxyHeaderResult =
  | { readonly kind: 'again' }
  /** `length` bytes were the header; `header` is null when it carried no addresses (UNKNOWN, LOCAL...). */
  | { readonly kind: 'done'; readonly length: number; readonly header: ProxyProtocol | null }
  /** nginx closes the connection; `message` is what it logs at error level (null: nothing). */
  | { readonly kind: 'error'; readonly message: string | null };

/** NGX_PROXY_PROTOCOL_V1_MAX_HEADER. */
export const V1_MAX_HEADER = 107;
/** NGX_PROXY_PROTOCOL_MAX_HEADER: the most nginx reads for the header on an ssl listener. */
export const MAX_HEADER = 4096;

const SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
const V2_HEADER = 16;
const PROXY_ = Buffer.from('PROXY ', 'latin1');
const UNKNOWN = Buffer.from('UNKNOWN', 'latin1');
const TCP = Buffer.from('TCP', 'latin1');

const AGAIN: ProxyHeaderResult = { kind: 'again' };
const SILENT: ProxyHeaderResult = { kind: 'error', message: null };

/** Cursor results of the v1 readers: a position, or one of these. */
const OUT = -1;
const BAD = -2;

/** `data[at..]` equals `word` as far as data goes: 1 all of it, 0 a prefix so far, -1 a difference. */
function prefixMatch(data: Buffer, at: number, word: Buffer): number {
  const n = Math.min(data.length - at, word.length);
  if (data.compare(word, 0, n, at, at + n) !== 0) return -1;
  return n === word.length ? 1 : 0;
}

/**
 * Reads the header from the bytes received so far. `v2Limit` is the most
 * bytes a v2 header may take (nginx's read buffer: client_header_buffer_size
 * on a plain listener, MAX_HEADER on an ssl one).
 */
export function readProxyHeader(data: Buffer, v2Limit = MAX_HEADER): ProxyHeaderResult {
  if (data.length > 0 && data[0] === SIGNATURE[0]) {
    const sig = prefixMatch(data, 0, SIGNATURE);
    if (sig === 0 || (sig === 1 && data.length < V2_HEADER)) return AGAIN;
    if (sig === 1) return readV2(data, v2Limit);
  }
  const r = readV1(data);
  if (r !== AGAIN || data.length < V1_MAX_HEADER) return r;
  return broken(data);
}

/** nginx's "broken header" line: the bytes up to the first CR or LF. */
function broken(data: Buffer): ProxyHeaderResult {
  let end = 0;
  while (end < data.length && data[end] !== 0x0d && data[end] !== 0x0a) end++;
  return { kind: 'error', message: `broken header: "${data.toString('latin1', 0, end)}"` };
}

function readV1(data: Buffer): ProxyHeaderResult {
  const proxy = prefixMatch(data, 0, PROXY_);
  if (proxy < 0) return broken(data);
  // nginx wants "PROXY " and two more bytes before it looks further
  if (proxy === 0 || data.length < 8) return AGAIN;
  let p = 6;
  const unknown = prefixMatch(data, p, UNKNOWN);
  if (unknown === 0) return AGAIN;
  if (unknown === 1) {
    // skip to CRLF: whatever UNKNOWN carries is ignored
    for (p += 7; p < data.length - 1; p++) if (data[p] === 0x0d && data[p + 1] === 0x0a) return { kind: 'done', length: p + 2, header: null };
    return AGAIN;
  }
  const tcp = prefixMatch(data, p, TCP);
  if (tcp < 0) return broken(data);
  if (tcp === 0 || data.length < p + 5) return AGAIN;
  if ((data[p + 3] !== 0x34 && data[p + 3] !== 0x36) || data[p + 4] !== 0x20) return broken(data);
  p += 5;
  const srcStart = p;
  p = readAddr(data, p);
  if (p < 0) return p === OUT ? AGAIN : broken(data);
  const srcAddr = data.toString('latin1', srcStart, p - 1);
  const dstStart = p;
  p = readAddr(data, p);
  if (p < 0) return p === OUT ? AGAIN : broken(data);
  const dstAddr = data.toString('latin1', dstStart, p - 1);
  const srcPortStart = p;
  p = readPort(data, p, 0x20);
  if (p < 0) return p === OUT ? AGAIN : broken(data);
  const srcPort = Number(data.toString('latin1', srcPortStart, p - 1));
  const dstPortStart = p;
  p = readPort(data, p, 0x0d);
  if (p < 0) return p === OUT ? AGAIN : broken(data);
  const dstPort = Number(data.toString('latin1', dstPortStart, p - 1));
  if (p === data.length) return AGAIN;
  if (data[p] !== 0x0a) return broken(data);
  return { kind: 'done', length: p + 1, header: { srcAddr, dstAddr, srcPort, dstPort, tlvs: null } };
}

/** ngx_proxy_protocol_read_addr: hex digits, `.` and `:` up to a space; the position after it. */
function readAddr(data: Buffer, p: number): number {
  for (;;) {
    if (p === data.length) return OUT;
    const ch = data[p++]!;
    if (ch === 0x20) return p;
    const ok = ch === 0x3a || ch === 0x2e || (ch >= 0x30 && ch <= 0x39) || ((ch | 0x20) >= 0x61 && (ch | 0x20) <= 0x66);
    if (!ok) return BAD;
  }
}

/** ngx_proxy_protocol_read_port: decimal 0-65535 up to `sep` (ngx_atoi: at least one digit). */
function readPort(data: Buffer, p: number, sep: number): number {
  const start = p;
  let n = 0;
  for (;;) {
    if (p === data.length) return OUT;
    const ch = data[p++]!;
    if (ch === sep) return p - 1 === start ? BAD : p;
    if (ch < 0x30 || ch > 0x39) return BAD;
    n = n * 10 + (ch - 0x30);
    if (n > 65535) return BAD;
  }
}

function readV2(data: Buffer, limit: number): ProxyHeaderResult {
  const version = data[12]! >> 4;
  if (version !== 2) return { kind: 'error', message: `unknown PROXY protocol version: ${version}` };
  const end = V2_HEADER + data.readUInt16BE(14);
  if (end > limit) return { kind: 'error', message: 'header is too large' };
  if (data.length < end) return AGAIN;
  const command = data[12]! & 0x0f;
  const transport = data[13]! & 0x0f;
  const family = data[13]! >> 4;
  // only PROXY over STREAM, from INET or INET6, carries addresses
  if (command !== 1 || transport !== 1 || (family !== 1 && family !== 2)) return { kind: 'done', length: end, header: null };
  let p = V2_HEADER;
  let srcAddr: string;
  let dstAddr: string;
  if (family === 1) {
    if (end - p < 12) return SILENT;
    srcAddr = `${data[p]}.${data[p + 1]}.${data[p + 2]}.${data[p + 3]}`;
    dstAddr = `${data[p + 4]}.${data[p + 5]}.${data[p + 6]}.${data[p + 7]}`;
    p += 8;
  } else {
    if (end - p < 36) return SILENT;
    srcAddr = inet6Ntop(data.subarray(p, p + 16));
    dstAddr = inet6Ntop(data.subarray(p + 16, p + 32));
    p += 32;
  }
  const srcPort = data.readUInt16BE(p);
  const dstPort = data.readUInt16BE(p + 2);
  p += 4;
  // copied: the chunk it came in may be large and is otherwise garbage once handed on
  const tlvs = p < end ? Buffer.from(data.subarray(p, end)) : null;
  return { kind: 'done', length: end, header: { srcAddr, dstAddr, srcPort, dstPort, tlvs } };
}

/** ngx_proxy_protocol_get_tlv's answer: the value, none, or an error nginx logs (message) or not (null). */
export type TlvResult =
  | { readonly kind: 'found'; readonly value: string }
  | { readonly kind: 'none'; readonly log?: string }
  | { readonly kind: 'error'; readonly log: string | null };

const TLV_NAMES: ReadonlyMap<string, number> = new Map([['alpn', 0x01], ['authority', 0x02], ['unique_id', 0x05], ['ssl', 0x20], ['netns', 0x30]]);
const SSL_TLV_NAMES: ReadonlyMap<string, number> = new Map([['version', 0x21], ['cn', 0x22], ['cipher', 0x23], ['sig_alg', 0x24], ['key_alg', 0x25]]);

/** What a `$proxy_protocol_tlv_NAME` asks for, decided once per name. */
export type TlvQuery =
  | { readonly kind: 'type'; readonly ssl: boolean; readonly type: number }
  | { readonly kind: 'verify' }
  | { readonly kind: 'invalid'; readonly ssl: boolean }
  | { readonly kind: 'unknown'; readonly ssl: boolean };

/** The NAME of `$proxy_protocol_tlv_NAME`: a name of nginx's table, `0xHH`, or `ssl_` and one of those. */
export function tlvQuery(name: string): TlvQuery {
  let n = name;
  const ssl = n.startsWith('ssl_');
  if (ssl) {
    n = n.slice(4);
    if (n === 'verify') return { kind: 'verify' };
  }
  if (n.startsWith('0x')) {
    const type = hexToInt(n.slice(2));
    return type < 0 ? { kind: 'invalid', ssl } : { kind: 'type', ssl, type };
  }
  const type = (ssl ? SSL_TLV_NAMES : TLV_NAMES).get(n);
  return type === undefined ? { kind: 'unknown', ssl } : { kind: 'type', ssl, type };
}

/** ngx_hextoi: -1 for an empty or non-hex text, or one past the int range. */
function hexToInt(text: string): number {
  if (text.length === 0) return -1;
  let v = 0;
  for (let i = 0; i < text.length; i++) {
    const d = parseInt(text[i]!, 16);
    if (Number.isNaN(d) || v > Number.MAX_SAFE_INTEGER / 16) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** ngx_proxy_protocol_get_tlv for a parsed name (`name` as written, for the log). */
export function getTlv(pp: ProxyProtocol, name: string, q: TlvQuery): TlvResult {
  const tlvs = pp.tlvs ?? EMPTY;
  let list = tlvs;
  if (q.kind === 'verify' || q.ssl) {
    const ssl = lookupTlv(tlvs, 0x20);
    if (ssl.kind !== 'found') return ssl.kind === 'none' ? NONE : ssl;
    // the ssl TLV starts with client (1 byte) and verify (4 bytes)
    if (ssl.end - ssl.start < 5) return { kind: 'error', log: null };
    if (q.kind === 'verify') return { kind: 'found', value: String(tlvs.readUInt32BE(ssl.start + 1)) };
    list = tlvs.subarray(ssl.start + 5, ssl.end);
  }
  if (q.kind === 'invalid') return { kind: 'error', log: `invalid PROXY protocol TLV "${name}"` };
  if (q.kind === 'unknown') return { kind: 'none', log: `unknown PROXY protocol TLV "${name}"` };
  if (q.kind !== 'type') return NONE;
  const found = lookupTlv(list, q.type);
  if (found.kind !== 'found') return found.kind === 'none' ? NONE : found;
  return { kind: 'found', value: list.toString('latin1', found.start, found.end) };
}

const EMPTY = Buffer.alloc(0);
const NONE: TlvResult = { kind: 'none' };
const BROKEN_TLV = { kind: 'error', log: 'broken PROXY protocol TLV' } as const;

/** ngx_proxy_protocol_lookup_tlv: the first TLV of `type`, as a range of `list`. */
function lookupTlv(list: Buffer, type: number): { kind: 'found'; start: number; end: number } | { kind: 'none' } | typeof BROKEN_TLV {
  let p = 0;
  while (p < list.length) {
    if (list.length - p < 3) return BROKEN_TLV;
    const t = list[p]!;
    const len = list.readUInt16BE(p + 1);
    p += 3;
    if (list.length - p < len) return BROKEN_TLV;
    if (t === type) return { kind: 'found', start: p, end: p + len };
    p += len;
  }
  return { kind: 'none' };
}
