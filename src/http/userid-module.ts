/**
 * ngx_http_userid_filter_module: a cookie that identifies the client.
 *
 *   userid on | v1 | log | off       http, server, location
 *   userid_name NAME                 (uid)
 *   userid_domain NAME | none        ; domain=NAME
 *   userid_path PATH                 (; path=/)
 *   userid_expires TIME | max | off  max: Thu, 31-Dec-37 23:55:55 GMT
 *   userid_flags off | secure | httponly | samesite=strict|lax|none ...
 *   userid_p3p STRING | none         a P3P header with the cookie
 *   userid_service NUMBER            the first 4 bytes (default: the server's IPv4
 *                                    address, the last 4 bytes of an IPv6 one, 0 on unix)
 *   userid_mark LETTER | DIGIT | = | off
 *
 * The cookie is 16 bytes in base64, as nginx builds them: service, time,
 * a per-worker start value ((µs/20) << 16 | pid) and a sequence, each four
 * bytes in network order (`on`), or in the host's order (`v1`, whose sequence
 * starts at 1 rather than 0x03030302 and whose service defaults to 0).
 * $uid_got is the client's cookie, $uid_set the one being sent, both as
 * NAME=XXXXXXXX... (each 4 bytes read in the host's order, as nginx prints
 * its uint32_t words). Setting $uid_reset (map or set) to anything but "" or
 * "0" sends a new cookie; "log" also logs the old one at notice level.
 *
 * `log` reads the client's cookie but sends none. With userid_mark, a client
 * cookie without the mark at its 23rd character is sent again, marked.
 *
 * The filter adds Set-Cookie (and P3P) to every response of a main request,
 * after add_header's fields, as nginx's filter chain orders them.
 */
import { endianness } from 'node:os';
import type { ConfContext } from '../config/conf-context.js';
import { HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { inherit, setEnum, setNumber, setString } from '../config/slots.js';
import { parseTime } from '../config/units.js';
import { cookieTime } from '../time-format.js';
import { httpCoreModule } from './core-module.js';
import { inet6Addr, inetAddr, INADDR_NONE } from './inet.js';
import { decodeBase64, encodeBase64 } from './ngx-base64.js';
import { headerLines } from './realip-module.js';
import type { HttpRequest } from './request.js';
import { toByteString } from './uri.js';
import type { VariableGetter } from './variables.js';

type UseridMode = 'off' | 'log' | 'v1' | 'on';
const MODES: readonly UseridMode[] = ['off', 'log', 'v1', 'on'];

const FLAG_SECURE = 0x04;
const FLAG_HTTPONLY = 0x08;
const FLAG_SAMESITE = 0x10;
const FLAG_STRICT = 0x20;
const FLAG_LAX = 0x40;
const FLAG_NONE = 0x80;

/** ngx_http_userid_flags: the samesite words share a bit, so a second one is a "duplicate value". */
const FLAGS: ReadonlyMap<string, number> = new Map([
  ['off', 0x02],
  ['secure', FLAG_SECURE],
  ['httponly', FLAG_HTTPONLY],
  ['samesite=strict', FLAG_SAMESITE | FLAG_STRICT],
  ['samesite=lax', FLAG_SAMESITE | FLAG_LAX],
  ['samesite=none', FLAG_SAMESITE | FLAG_NONE],
]);

/** 31 Dec 2037 23:55:55 GMT, what `userid_expires max` means. */
const MAX_EXPIRES = 2145916555;

export interface UseridLocConf {
  enable?: UseridMode;
  /** 0: unset (ngx_conf_merge_bitmask_value). */
  flags: number;
  service?: number;
  name?: string;
  /** `; domain=NAME`, or '' for none. */
  domain?: string;
  /** `; path=PATH`. */
  path?: string;
  p3p?: string;
  /** Seconds; 0: no expires. */
  expires?: number;
  /** The mark character, '' for none. */
  mark?: string;
}

/** Per main request (nginx's module ctx, cleared by internal redirects as r.ctx is). */
interface UseridCtx {
  /** The client's cookie decoded; all zero when none or invalid. */
  readonly got: Uint8Array;
  /** The cookie to send; all zero until made. */
  readonly set: Uint8Array;
  /** The client's cookie value as sent. */
  cookie: string;
  reset: boolean;
}

const LE = endianness() === 'LE';

/** nginx's uid[3] != 0: the last word of the 16 bytes. */
const hasUid = (b: Uint8Array): boolean => (b[12]! | b[13]! | b[14]! | b[15]!) !== 0;

const hex8 = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');

/** NAME=%08XD%08XD%08XD%08XD over the four host-order words. */
function uidText(name: string, b: Uint8Array): string {
  const view = new DataView(b.buffer, b.byteOffset, 16);
  return `${name}=${hex8(view.getUint32(0, LE))}${hex8(view.getUint32(4, LE))}${hex8(view.getUint32(8, LE))}${hex8(view.getUint32(12, LE))}`;
}

/**
 * ngx_http_parse_cookie_lines: in each Cookie line in turn, a cookie whose
 * name is NAME (any case), spaces, `=`, spaces; its value runs to the next `;`.
 * Returns [line, value] or null.
 */
export function findCookie(lines: readonly string[], name: string): [string, string] | null {
  const lname = name.toLowerCase();
  for (const line of lines) {
    if (name.length > line.length) continue;
    let start = 0;
    const end = line.length;
    while (start < end) {
      if (line.slice(start, start + name.length).toLowerCase() === lname) {
        let p = start + name.length;
        while (p < end && line.charCodeAt(p) === 0x20) p++;
        if (p < end && line.charCodeAt(p) === 0x3d) {
          p++;
          while (p < end && line.charCodeAt(p) === 0x20) p++;
          let last = line.indexOf(';', p);
          if (last < 0) last = end;
          return [line, line.slice(p, last)];
        }
        start = p;
      }
      while (start < end && line.charCodeAt(start++) !== 0x3b) { /* to the next cookie */ }
      while (start < end && line.charCodeAt(start) === 0x20) start++;
    }
  }
  return null;
}

/** Per worker, as ngx_http_userid_init_worker and the module's sequencers. */
let startValue = -1;
let sequencerV1 = 1;
let sequencerV2 = 0x03030302;

function workerStart(): number {
  if (startValue < 0) {
    // gettimeofday's tv_usec, near enough: only its spread matters.
    const usec = (Date.now() % 1000) * 1000 + Number(process.hrtime.bigint() % 1000n);
    startValue = ((Math.floor(usec / 20) << 16) | process.pid) >>> 0;
  }
  return startValue;
}

let moduleIndex = -1;

/** Per config: $uid_reset's getter, bound once the config is read (a map or `set` may own it). */
interface UseridMainConf {
  reset: { get: VariableGetter; data: string } | null;
}

function getCtx(r: HttpRequest, conf: UseridLocConf): UseridCtx {
  const existing = r.ctx[moduleIndex] as UseridCtx | undefined;
  if (existing !== undefined) return existing;
  const ctx: UseridCtx = { got: new Uint8Array(16), set: new Uint8Array(16), cookie: '', reset: false };
  r.ctx[moduleIndex] = ctx;
  const found = findCookie(headerLines(r, 'cookie'), conf.name!);
  if (found === null) return ctx;
  ctx.cookie = found[1];
  if (ctx.cookie.length < 22) {
    r.log('error', `client sent too short userid cookie "${found[0]}"`);
    return ctx;
  }
  // 22 characters: a mark may follow, and many clients' cookies carry garbage for the "==".
  if (decodeBase64(ctx.cookie.slice(0, 22), ctx.got) < 0) {
    ctx.got.fill(0);
    r.log('error', `client sent invalid userid cookie "${found[0]}"`);
  }
  return ctx;
}

/** ngx_http_userid_create_uid: decides the cookie to send, if any. */
function createUid(r: HttpRequest, ctx: UseridCtx, conf: UseridLocConf, main: UseridMainConf): void {
  if (hasUid(ctx.set)) return;
  if (hasUid(ctx.got)) {
    // Not found counts as "" (nginx fails the request: its own getter always finds it).
    const reset = main.reset === null ? '' : main.reset.get(r, main.reset.data) ?? '';
    if (reset === '' || reset === '0') {
      const mark = conf.mark!;
      if (mark === '' || (ctx.cookie.length > 23 && ctx.cookie[22] === mark && ctx.cookie[23] === '=')) return;
      ctx.set.set(ctx.got);
      return;
    }
    ctx.reset = true;
    if (reset === 'log') r.log('notice', `userid cookie "${uidText(conf.name!, ctx.got)}" was reset`);
  }
  const view = new DataView(ctx.set.buffer, ctx.set.byteOffset, 16);
  const now = Math.floor(Date.now() / 1000) >>> 0;
  if (conf.enable === 'v1') {
    view.setUint32(0, conf.service === undefined ? 0 : conf.service >>> 0, LE);
    view.setUint32(4, now, LE);
    view.setUint32(8, workerStart(), LE);
    view.setUint32(12, sequencerV1, LE);
    sequencerV1 = (sequencerV1 + 0x100) >>> 0;
    return;
  }
  if (conf.service === undefined) localAddressBytes(r.conn.localAddress, ctx.set);
  else view.setUint32(0, conf.service >>> 0, false);
  view.setUint32(4, now, false);
  view.setUint32(8, workerStart(), false);
  view.setUint32(12, sequencerV2, false);
  sequencerV2 = (sequencerV2 + 0x100) >>> 0;
  if (sequencerV2 < 0x03030302) sequencerV2 = 0x03030302;
}

const local6 = new Uint8Array(16);

/** The server's address as the cookie's first 4 bytes: IPv4 as is, IPv6's last 4, unix 0. */
function localAddressBytes(address: string, out: Uint8Array): void {
  const v4 = address.indexOf(':') < 0 ? inetAddr(address) : INADDR_NONE;
  if (v4 !== INADDR_NONE) {
    out[0] = v4 >>> 24; out[1] = (v4 >>> 16) & 0xff; out[2] = (v4 >>> 8) & 0xff; out[3] = v4 & 0xff;
    return;
  }
  if (address !== 'unix:' && inet6Addr(address, local6)) {
    out[0] = local6[12]!; out[1] = local6[13]!; out[2] = local6[14]!; out[3] = local6[15]!;
    return;
  }
  out[0] = out[1] = out[2] = out[3] = 0;
}

/** ngx_http_userid_set_uid: Set-Cookie (and P3P) for the cookie createUid chose. */
function setUid(r: HttpRequest, ctx: UseridCtx, conf: UseridLocConf, main: UseridMainConf, headers: string[]): void {
  createUid(r, ctx, conf, main);
  if (!hasUid(ctx.set)) return;
  let cookie = conf.name! + '=';
  if (!hasUid(ctx.got) || ctx.reset) {
    const b64 = encodeBase64(ctx.set);
    cookie += conf.mark ? b64.slice(0, 22) + conf.mark + '=' : b64;
  } else {
    cookie += ctx.cookie.slice(0, 22) + conf.mark + '=';
  }
  if (conf.expires === MAX_EXPIRES) cookie += '; expires=Thu, 31-Dec-37 23:55:55 GMT';
  else if (conf.expires) cookie += '; expires=' + cookieTime(Math.floor(Date.now() / 1000) + conf.expires);
  cookie += conf.domain! + conf.path!;
  const f = conf.flags;
  if (f & FLAG_SECURE) cookie += '; secure';
  if (f & FLAG_HTTPONLY) cookie += '; httponly';
  if (f & FLAG_STRICT) cookie += '; samesite=strict';
  if (f & FLAG_LAX) cookie += '; samesite=lax';
  if (f & FLAG_NONE) cookie += '; samesite=none';
  headers.push('Set-Cookie', cookie);
  if (conf.p3p) headers.push('P3P', conf.p3p);
}

function setExpires(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(useridModule);
  if (conf.expires !== undefined) return cf.duplicate();
  const v = d.args[0]!;
  if (v === 'max') { conf.expires = MAX_EXPIRES; return; }
  if (v === 'off') { conf.expires = 0; return; }
  const ms = parseTime(v, false);
  if (ms === null) return cf.invalid('invalid value');
  conf.expires = Math.floor(ms / 1000);
}

function setMark(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(useridModule);
  if (conf.mark !== undefined) return cf.duplicate();
  const v = d.args[0]!;
  if (v === 'off') { conf.mark = ''; return; }
  if (!/^[0-9A-Za-z=]$/.test(v)) return cf.invalid('value must be "off" or a single letter, digit or "="');
  conf.mark = v;
}

/** ngx_conf_set_bitmask_slot: words OR in, a word whose bits are already in is warned about. */
function setFlags(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(useridModule);
  for (const word of d.args) {
    const bit = FLAGS.get(word.toLowerCase());
    if (bit === undefined) return cf.error(`invalid value "${word}"`);
    if (conf.flags & bit) cf.warn(`duplicate value "${word}"`);
    else conf.flags |= bit;
  }
}

const directives: DirectiveSpec[] = [
  { name: 'userid', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setEnum(cf, d, cf.loc(useridModule), 'enable', MODES) },
  { name: 'userid_service', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setNumber(cf, d, cf.loc(useridModule), 'service') },
  { name: 'userid_name', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setString(cf, d, cf.loc(useridModule), 'name') },
  {
    name: 'userid_domain', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) {
      const conf = cf.loc(useridModule);
      if (conf.domain !== undefined) return cf.duplicate();
      conf.domain = d.args[0] === 'none' ? '' : '; domain=' + toByteString(d.args[0]!);
    },
  },
  {
    name: 'userid_path', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) {
      const conf = cf.loc(useridModule);
      if (conf.path !== undefined) return cf.duplicate();
      conf.path = '; path=' + toByteString(d.args[0]!);
    },
  },
  { name: 'userid_expires', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: setExpires },
  { name: 'userid_flags', contexts: HTTP_MAIN_SRV_LOC, args: [1, 3], set: setFlags },
  {
    name: 'userid_p3p', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) {
      const conf = cf.loc(useridModule);
      if (conf.p3p !== undefined) return cf.duplicate();
      conf.p3p = d.args[0] === 'none' ? '' : toByteString(d.args[0]!);
    },
  },
  { name: 'userid_mark', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: setMark },
];

function headerFilter(main: UseridMainConf) {
  return (r: HttpRequest, _status: number, headers: string[]): void => {
    if (r !== r.main) return;
    const conf = r.loc.loc[moduleIndex] as UseridLocConf;
    if (conf.enable !== 'on' && conf.enable !== 'v1') return;
    setUid(r, getCtx(r, conf), conf, main, headers);
  };
}

export const useridModule: HttpModule<UseridMainConf, unknown, UseridLocConf> = {
  kind: 'http',
  name: 'http_userid_filter',
  directives,
  createMain: () => ({ reset: null }),
  createLoc: () => ({ flags: 0 }),
  mergeLoc(p, c) {
    inherit(c, p, 'enable', 'off');
    if (c.flags === 0) c.flags = p.flags === 0 ? 0x01 | 0x02 : p.flags;
    inherit(c, p, 'name', 'uid');
    c.name = toByteString(c.name!);
    inherit(c, p, 'domain', '');
    inherit(c, p, 'path', '; path=/');
    inherit(c, p, 'p3p', '');
    if (c.service === undefined) c.service = p.service;
    inherit(c, p, 'expires', 0);
    inherit(c, p, 'mark', '');
  },
  initMain(main, cf) {
    moduleIndex = cf.registry.indexOf(useridModule);
    const vars = cf.main(httpCoreModule).variables;
    vars.define('uid_got', (r) => {
      const m = r.main;
      const conf = m.loc.loc[moduleIndex] as UseridLocConf;
      if (conf.enable === 'off') return undefined;
      const ctx = getCtx(m, conf);
      return hasUid(ctx.got) ? uidText(conf.name!, ctx.got) : undefined;
    });
    vars.define('uid_set', (r) => {
      const m = r.main;
      const conf = m.loc.loc[moduleIndex] as UseridLocConf;
      if (conf.enable !== 'on' && conf.enable !== 'v1') return undefined;
      const ctx = getCtx(m, conf);
      createUid(m, ctx, conf, main);
      return hasUid(ctx.set) ? uidText(conf.name!, ctx.set) : undefined;
    });
    // Changeable: a map or set of the config may own it (and then reads it).
    if (!vars.has('uid_reset')) vars.define('uid_reset', () => '');
  },
  postConfiguration(cf) {
    const core = cf.main(httpCoreModule);
    const main = cf.main(useridModule);
    main.reset = core.variables.lookup('uid_reset');
    core.headerFilters.push(headerFilter(main));
  },
};
