/**
 * ngx_http_geo_module: `geo [$address] $variable { ... }` (http context).
 *
 * The variable's value depends on the client address ($remote_addr as realip
 * left it), or on the address a variable holds. Inside the block:
 *
 *   default VALUE;              the value when nothing matches
 *   CIDR VALUE;  delete CIDR;   networks, IPv4 and IPv6 (the longest match wins)
 *   ranges;                     first: entries are `A.B.C.D-E.F.G.H VALUE` (IPv4 only)
 *   proxy CIDR;                 trusted proxies: the address is then taken from
 *   proxy_recursive;            X-Forwarded-For, as realip does
 *   volatile;                   not cached for the request
 *   include FILE;               (expanded by the parser)
 *
 * Values are plain strings (no variables), as nginx's. A client on a unix
 * socket, and an address that does not parse, look up 255.255.255.255 (nginx's
 * INADDR_NONE), which a CIDR entry may name; in `ranges` it gets the default.
 *
 * CIDR entries live in two binary radix trees (ngx_radix_tree.c), so insert,
 * delete and longest-prefix lookup behave as nginx's, warnings included; ranges
 * are kept as nginx keeps them, one sorted list per /16, built by the same
 * insert and split rules (and the same "overlaps" error).
 *
 * Deliberate difference: nginx's binary geo base (`include`d ranges of more
 * than 100000 entries written as FILE.bin, and read back instead of FILE when
 * newer) is not produced nor read: its layout is nginx's in-memory structs
 * (pointer size, endianness, CRC of raw memory), which weir does not share.
 * The text file is always parsed; the answers are the same.
 */
import type { ConfContext } from '../config/conf-context.js';
import { Ctx, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { httpCoreModule } from './core-module.js';
import { inet6Addr, inetAddr, INADDR_NONE, isV4Mapped, parseCidr, type Cidr } from './inet.js';
import { forwardedAddr, headerLines } from './realip-module.js';
import type { HttpRequest } from './request.js';
import { toByteString } from './uri.js';
import { BUILTIN_VARIABLE_NAMES } from './variables-core.js';
import type { ComplexValue } from './variables.js';

/** A node of a binary radix tree; value undefined: no value here (NGX_RADIX_NO_VALUE). */
interface RadixNode {
  left: RadixNode | null;
  right: RadixNode | null;
  parent: RadixNode | null;
  value: string | undefined;
}

const newNode = (parent: RadixNode | null): RadixNode => ({ left: null, right: null, parent, value: undefined });

/**
 * ngx_radix32tree / ngx_radix128tree over a key given bit by bit: IPv4 as an
 * unsigned number, IPv6 as 16 bytes. A key's prefix of `bits` bits addresses a node.
 */
export class RadixTree {
  readonly root: RadixNode = newNode(null);

  constructor(private readonly width: 32 | 128) {}

  private static bit(key: number | Uint8Array, i: number): number {
    return typeof key === 'number' ? (key >>> (31 - i)) & 1 : (key[i >> 3]! >> (7 - (i & 7))) & 1;
  }

  /** False when the prefix already has a value (nginx's NGX_BUSY). */
  insert(key: number | Uint8Array, bits: number, value: string): boolean {
    let node = this.root;
    for (let i = 0; i < bits; i++) {
      const right = RadixTree.bit(key, i) === 1;
      let next = right ? node.right : node.left;
      if (next === null) {
        next = newNode(node);
        if (right) node.right = next; else node.left = next;
      }
      node = next;
    }
    if (node.value !== undefined) return false;
    node.value = value;
    return true;
  }

  /** The value at exactly this prefix, if any. */
  get(key: number | Uint8Array, bits: number): string | undefined {
    return this.walk(key, bits)?.value;
  }

  /** False when the prefix has no value to delete (nginx's NGX_ERROR). */
  delete(key: number | Uint8Array, bits: number): boolean {
    const found = this.walk(key, bits);
    if (found === null || found.value === undefined) return false;
    let node: RadixNode = found;
    if (node.left !== null || node.right !== null) {
      node.value = undefined;
      return true;
    }
    // A leaf goes, and so does each parent left empty by it.
    for (;;) {
      const parent: RadixNode | null = node.parent;
      if (parent === null) { node.value = undefined; return true; }
      if (parent.right === node) parent.right = null; else parent.left = null;
      node = parent;
      if (node.left !== null || node.right !== null || node.value !== undefined || node.parent === null) return true;
    }
  }

  /** The value of the longest prefix of the key that has one. */
  find(key: number | Uint8Array): string | undefined {
    let value: string | undefined;
    let node: RadixNode | null = this.root;
    for (let i = 0; node !== null; i++) {
      if (node.value !== undefined) value = node.value;
      if (i === this.width) break;
      node = RadixTree.bit(key, i) === 1 ? node.right : node.left;
    }
    return value;
  }

  private walk(key: number | Uint8Array, bits: number): RadixNode | null {
    let node: RadixNode | null = this.root;
    for (let i = 0; i < bits && node !== null; i++) node = RadixTree.bit(key, i) === 1 ? node.right : node.left;
    return node;
  }
}

/** One range of a /16 bucket: low 16 bits start..end inclusive. */
interface GeoRange {
  start: number;
  end: number;
  value: string;
}

/** How many leading one bits a mask has (a CIDR's prefix length). */
function maskBits(c: Cidr): number {
  if (c.family === 4) {
    let n = 0;
    for (let m = c.mask; (m & 0x80000000) !== 0; m = (m << 1) >>> 0) n++;
    return n;
  }
  let n = 0;
  for (let i = 0; i < 16; i++) {
    const b = c.mask[i]!;
    if (b === 0xff) { n += 8; continue; }
    for (let m = b; (m & 0x80) !== 0; m = (m << 1) & 0xff) n++;
    break;
  }
  return n;
}

const NONE_CIDR: Cidr = { family: 4, addr: 0xffffffff, mask: 0xffffffff, lowBits: false };
const ZERO6 = new Uint8Array(16);

/** One compiled `geo` block. */
export class CompiledGeo {
  /** CIDR mode: the trees (ranges mode: null). */
  tree: RadixTree | null = null;
  tree6: RadixTree | null = null;
  /** Ranges mode: 65536 buckets by the high 16 bits. */
  low: (GeoRange[] | undefined)[] | null = null;
  ranges = false;
  rangeDefault: string | undefined;
  proxies: Cidr[] | null = null;
  proxyRecursive = false;
  volatile = false;

  /** The source variable (`$remote_addr`-like), or null for the client address. */
  constructor(readonly source: ComplexValue | null) {}

  /** The address to look up, as text ('' when none: nginx's lookup of INADDR_NONE). */
  private address(r: HttpRequest): string {
    let text: string;
    if (this.source === null) {
      text = r.remoteAddress;
    } else {
      text = this.source.evaluate(r);
      // ngx_parse_addr fails: the lookup of INADDR_NONE, proxies not consulted.
      if (inetAddr(text) === INADDR_NONE && !inet6Addr(text, scratch6)) return '';
    }
    if (this.proxies !== null) {
      const lines = headerLines(r, 'x-forwarded-for');
      if (lines.length > 0) {
        const a = forwardedAddr({ address: text, port: 0 }, lines, this.proxies, this.proxyRecursive);
        if (a !== null) text = a.address;
      }
    }
    return text;
  }

  /** The value for the request (ngx_http_geo_cidr_variable / ngx_http_geo_range_variable). */
  find(r: HttpRequest): string {
    const text = this.address(r);
    let v4 = text.indexOf(':') < 0 ? inetAddr(text) : INADDR_NONE;
    let v6 = false;
    if (v4 === INADDR_NONE && text !== 'unix:' && text !== '' && inet6Addr(text, scratch6)) {
      if (isV4Mapped(scratch6)) v4 = ((scratch6[12]! << 24) | (scratch6[13]! << 16) | (scratch6[14]! << 8) | scratch6[15]!) >>> 0;
      else v6 = true;
    }
    // INADDR_NONE is -1 from the parser; as a key it is 255.255.255.255.
    const key = v4 === INADDR_NONE ? 0xffffffff : v4;
    if (!this.ranges) return (v6 ? this.tree6!.find(scratch6) : this.tree!.find(key)) ?? '';
    if (v6) return this.rangeDefault ?? '';
    const bucket = this.low?.[key >>> 16];
    if (bucket !== undefined) {
      const n = key & 0xffff;
      for (let i = 0; i < bucket.length; i++) {
        const range = bucket[i]!;
        if (n >= range.start && n <= range.end) return range.value;
      }
    }
    return this.rangeDefault ?? '';
  }
}

const scratch6 = new Uint8Array(16);

/** ngx_http_geo_cidr_value: 255.255.255.255 is allowed here (the unix and no-address key). */
function cidrValue(cf: ConfContext, net: string): Cidr {
  if (net === '255.255.255.255') return NONE_CIDR;
  const cidr = parseCidr(net);
  if (cidr === null) return cf.error(`invalid network "${net}"`);
  if (cidr.lowBits) cf.warn(`low address bits of ${net} are meaningless`);
  return cidr;
}

function ensureTrees(geo: CompiledGeo): void {
  geo.tree ??= new RadixTree(32);
  geo.tree6 ??= new RadixTree(128);
}

/** ngx_http_geo_cidr_add: a duplicate network is replaced, with a warning. */
function cidrAdd(cf: ConfContext, geo: CompiledGeo, cidr: Cidr, value: string, net: string): void {
  const tree = cidr.family === 4 ? geo.tree! : geo.tree6!;
  const bits = maskBits(cidr);
  if (tree.insert(cidr.addr, bits, value)) return;
  // nginx names the value its lookup of the address finds (a longer network's, if one holds it).
  const old = tree.find(cidr.addr);
  cf.warn(`duplicate network "${net}", value: "${value}", old value: "${old ?? ''}"`);
  tree.delete(cidr.addr, bits);
  tree.insert(cidr.addr, bits, value);
}

function cidrEntry(cf: ConfContext, geo: CompiledGeo, key: string, arg: string): void {
  ensureTrees(geo);
  if (key === 'default') {
    cidrAdd(cf, geo, { family: 4, addr: 0, mask: 0, lowBits: false }, arg, key);
    cidrAdd(cf, geo, { family: 6, addr: ZERO6, mask: ZERO6, lowBits: false }, arg, key);
    return;
  }
  const del = key === 'delete';
  const net = del ? arg : key;
  const cidr = cidrValue(cf, net);
  if (!del) return cidrAdd(cf, geo, cidr, arg, net);
  const tree = cidr.family === 4 ? geo.tree! : geo.tree6!;
  if (!tree.delete(cidr.addr, maskBits(cidr))) cf.warn(`no network "${net}" to delete`);
}

/** `A.B.C.D-E.F.G.H` as two unsigned numbers, or null (ngx_http_geo_range's checks). */
function parseRange(net: string): [number, number] | null {
  const dash = net.indexOf('-');
  if (dash < 0) return null;
  const start = inetAddr(net, 0, dash);
  if (start === INADDR_NONE) return null;
  const end = inetAddr(net, dash + 1);
  if (end === INADDR_NONE) return null;
  return start > end ? null : [start, end];
}

const dotted = (h: number, n: number): string => `${h >> 8}.${h & 0xff}.${n >> 8}.${n & 0xff}`;

/**
 * ngx_http_geo_add_range: per /16 of [start, end], the piece goes after, into
 * (splitting), or at either end of an existing range; the same piece again
 * replaces the value (a warning); any other overlap is an error.
 */
function addRange(cf: ConfContext, low: (GeoRange[] | undefined)[], start: number, end: number, value: string, net: string): void {
  for (let n = start; n <= end; n = (n + 0x10000) - ((n + 0x10000) % 0x10000)) {
    const h = Math.floor(n / 0x10000);
    let s = n === start ? n % 0x10000 : 0;
    let e = Math.floor(n / 0x10000) * 0x10000 + 0xffff > end ? end % 0x10000 : 0xffff;
    const a = (low[h] ??= []);
    let i = a.length;
    let placed = false;
    while (i) {
      i--;
      const range = a[i]!;
      if (e < range.start) continue;
      if (s > range.end) {
        a.splice(i + 1, 0, { start: s, end: e, value });
        placed = true;
        break;
      }
      if (s === range.start && e === range.end) {
        cf.warn(`duplicate range "${net}", value: "${value}", old value: "${range.value}"`);
        range.value = value;
        placed = true;
        break;
      }
      if (s > range.start && e < range.end) {
        a.splice(i + 1, 0, { start: s, end: e, value }, { start: e + 1, end: range.end, value: range.value });
        range.end = s - 1;
        placed = true;
        break;
      }
      if (s === range.start && e < range.end) {
        a.splice(i, 0, { start: s, end: e, value });
        range.start = e + 1;
        placed = true;
        break;
      }
      if (s > range.start && e === range.end) {
        a.splice(i + 1, 0, { start: s, end: e, value });
        range.end = s - 1;
        placed = true;
        break;
      }
      s = range.start;
      e = range.end;
      return cf.error(`range "${net}" overlaps "${dotted(h, s)}-${dotted(h, e)}"`);
    }
    if (!placed) a.unshift({ start: s, end: e, value });
    if (h === 0xffff) break;
  }
}

/** ngx_http_geo_delete_range: only a piece that is exactly a range goes; true when some piece was missing. */
function deleteRange(low: (GeoRange[] | undefined)[], start: number, end: number): boolean {
  let warn = false;
  for (let n = start; n <= end; n = (n + 0x10000) - ((n + 0x10000) % 0x10000)) {
    const h = Math.floor(n / 0x10000);
    const s = n === start ? n % 0x10000 : 0;
    const e = h * 0x10000 + 0xffff > end ? end % 0x10000 : 0xffff;
    const a = low[h];
    if (a === undefined || a.length === 0) {
      warn = true;
    } else {
      for (let i = 0; i < a.length; i++) {
        if (a[i]!.start === s && a[i]!.end === e) { a.splice(i, 1); break; }
        if (i === a.length - 1) warn = true;
      }
    }
    if (h === 0xffff) break;
  }
  return warn;
}

function rangeEntry(cf: ConfContext, geo: CompiledGeo, key: string, arg: string): void {
  if (key === 'default') {
    if (geo.rangeDefault !== undefined) {
      cf.warn(`duplicate default geo range value: "${arg}", old value: "${geo.rangeDefault}"`);
    }
    geo.rangeDefault = arg;
    return;
  }
  const low = (geo.low ??= new Array<GeoRange[] | undefined>(0x10000));
  const del = key === 'delete';
  const net = del ? arg : key;
  const range = parseRange(net);
  if (range === null) return cf.error(`invalid range "${net}"`);
  if (del) {
    if (deleteRange(low, range[0], range[1])) cf.warn(`no address range "${net}" to delete`);
    return;
  }
  addRange(cf, low, range[0], range[1], arg, net);
}

function variableName(cf: ConfContext, text: string): string {
  if (text[0] !== '$') return cf.error(`invalid variable name "${text}"`);
  return text.slice(1);
}

function parseGeo(cf: ConfContext, d: ConfNode): void {
  const core = cf.main(httpCoreModule);
  let source: ComplexValue | null = null;
  let target = d.args[0]!;
  if (d.args.length === 2) {
    variableName(cf, target);
    source = core.variables.compile(toByteString(target), { file: d.file, line: d.line });
    target = d.args[1]!;
  }
  const name = variableName(cf, target);
  if (BUILTIN_VARIABLE_NAMES.has(name)) return cf.error(`the duplicate "${name}" variable`);
  const geo = new CompiledGeo(source);

  for (const n of d.block!) {
    if (n.block) return cf.error('unexpected "{"', n);
    cf.node = n;
    if (n.args.length === 0) {
      if (n.name === 'ranges') {
        if (geo.tree !== null) return cf.error('the "ranges" directive must be the first directive inside "geo" block');
        geo.ranges = true;
        continue;
      }
      if (n.name === 'proxy_recursive') { geo.proxyRecursive = true; continue; }
      if (n.name === 'volatile') { geo.volatile = true; continue; }
    }
    if (n.args.length !== 1) return cf.error('invalid number of the geo parameters');
    const key = toByteString(n.name);
    const arg = toByteString(n.args[0]!);
    if (key === 'proxy') { (geo.proxies ??= []).push(cidrValue(cf, arg)); continue; }
    if (geo.ranges) rangeEntry(cf, geo, key, arg);
    else cidrEntry(cf, geo, key, arg);
  }
  cf.node = d;

  if (geo.ranges) {
    // Empty buckets (all deleted) are no buckets.
    if (geo.low !== null) for (let i = 0; i < 0x10000; i++) if (geo.low[i]?.length === 0) geo.low[i] = undefined;
  } else {
    ensureTrees(geo);
    // The empty value under everything; an explicit default keeps its own (NGX_BUSY is fine).
    geo.tree!.insert(0, 0, '');
    geo.tree6!.insert(ZERO6, 0, '');
  }

  if (geo.volatile) {
    core.variables.define(name, (r) => geo.find(r));
    return;
  }
  const slot = core.variables.allocateSlot();
  core.variables.define(name, (r) => {
    let v = r.variables[slot];
    if (v === undefined) { v = geo.find(r); r.variables[slot] = v; }
    return v;
  });
}

const directives: DirectiveSpec[] = [
  { name: 'geo', contexts: Ctx.Http, args: [1, 2], block: true, set: parseGeo },
];

export const geoModule: HttpModule = {
  kind: 'http',
  name: 'http_geo',
  directives,
};
