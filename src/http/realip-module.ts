/**
 * ngx_http_realip_module: the client address from a header that trusted
 * proxies set.
 *
 *   set_real_ip_from ADDRESS | CIDR | unix: | HOST ... http, server, location
 *   real_ip_header X-Real-IP | X-Forwarded-For | proxy_protocol | NAME
 *   real_ip_recursive on | off
 *
 * When the connection's address is trusted, the header's address (the last
 * of X-Forwarded-For; with real_ip_recursive the last one not trusted itself)
 * becomes $remote_addr (and $remote_port, 0 unless the header had one) for
 * the request and its subrequests: ip_hash, allow/deny, logs and
 * $proxy_add_x_forwarded_for see it. $realip_remote_addr and
 * $realip_remote_port keep the connection's. It runs as the request head is
 * read (the server's conf) and again before access (the location's), once.
 *
 * `real_ip_header proxy_protocol` takes the PROXY protocol header's source
 * address and port (a listener's `proxy_protocol`), trusted by the
 * connection's own address as any header is. A HOST is resolved once, as the config is read (nginx resolves it then too).
 */
import { lookup } from 'node:dns';
import type { ConfContext } from '../config/conf-context.js';
import { ConfigError } from '../config/errors.js';
import { HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { inherit, setFlag } from '../config/slots.js';
import { httpCoreModule, PHASE_NEXT } from './core-module.js';
import { cidrMatch, inet6Addr, inet6Ntop, inetAddr, INADDR_NONE, parseCidr, type SourceMatch } from './inet.js';
import type { HttpRequest } from './request.js';

export interface RealipLocConf {
  from?: SourceMatch[];
  /** Lower-cased header name; nginx's own names are matched as written. */
  header?: string;
  /** `X-Forwarded-For` as written: every line of it counts, the last first. */
  allLines?: boolean;
  /** `proxy_protocol` as written. */
  proxyProtocol?: boolean;
  recursive?: boolean;
}

/**
 * Per client request: realip ran, and what the connection said. Kept by the
 * request itself, not r.ctx: it must outlive internal redirects and reach
 * subrequests (nginx finds it through the request pool's cleanup).
 */
interface RealipCtx {
  readonly address: string;
  readonly port: number;
}

const applied = new WeakMap<HttpRequest, RealipCtx>();

function setFrom(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(realipModule);
  const from = (conf.from ??= []);
  const value = d.args[0]!;
  if (value === 'unix:') { from.push({ family: 'unix' }); return; }
  const cidr = parseCidr(value);
  if (cidr !== null) {
    if (cidr.lowBits) cf.warn(`low address bits of ${value} are meaningless`);
    from.push(cidr);
    return;
  }
  // A host name: its addresses, each trusted alone (ngx_inet_resolve_host at config time).
  const position = cf.position;
  cf.pendingTasks.push(async () => {
    const addrs = await new Promise<Array<{ address: string }> | null>((resolve) => {
      lookup(value, { all: true }, (err, list) => resolve(err ? null : list));
    });
    if (addrs === null || addrs.length === 0) throw new ConfigError(`host not found in set_real_ip_from "${value}"`, position);
    for (const a of addrs) from.push(parseCidr(a.address)!);
  });
}

function setHeader(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(realipModule);
  const value = d.args[0]!;
  // ngx_http_realip: its three names compared as written; any other is a header name.
  conf.header = value.toLowerCase();
  conf.allLines = value === 'X-Forwarded-For';
  conf.proxyProtocol = value === 'proxy_protocol';
}

const directives: DirectiveSpec[] = [
  { name: 'set_real_ip_from', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: setFrom },
  { name: 'real_ip_header', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: setHeader },
  { name: 'real_ip_recursive', contexts: HTTP_MAIN_SRV_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.loc(realipModule), 'recursive') },
];

/**
 * ngx_parse_addr_port: `addr`, `addr:port`, `[addr]` or `[addr]:port`, as the
 * address text $remote_addr shows (ngx_sock_ntop) and the port (0: none).
 */
export function parseAddrPort(text: string): { address: string; port: number } | null {
  const plain = addressText(text);
  if (plain !== null) return { address: plain, port: 0 };
  let host: string;
  let rest: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === text.length - 1) {
      const a = addressText(text.slice(1, -1));
      return a === null ? null : { address: a, port: 0 };
    }
    if (close < 0 || text[close + 1] !== ':') return null;
    host = text.slice(1, close);
    rest = text.slice(close + 2);
  } else {
    const colon = text.indexOf(':');
    if (colon < 0) return null;
    host = text.slice(0, colon);
    rest = text.slice(colon + 1);
  }
  if (!/^\d+$/.test(rest)) return null;
  const port = Number(rest);
  if (port < 1 || port > 65535) return null;
  const address = addressText(host);
  return address === null ? null : { address, port };
}

const bytes6 = new Uint8Array(16);

/** ngx_parse_addr then ngx_sock_ntop: an IPv4 or IPv6 address as nginx prints it; null otherwise. */
function addressText(text: string): string | null {
  const v4 = inetAddr(text);
  if (v4 !== INADDR_NONE) return `${v4 >>> 24}.${(v4 >>> 16) & 0xff}.${(v4 >>> 8) & 0xff}.${v4 & 0xff}`;
  return inet6Addr(text, bytes6) ? inet6Ntop(bytes6) : null;
}

/**
 * ngx_http_get_forwarded_addr: from the right of each header line (the last line
 * first), while the address in hand is trusted, take the next one; without
 * recursion only the rightmost of the last line.
 */
export function forwardedAddr(
  client: { address: string; port: number }, lines: readonly string[], from: readonly SourceMatch[], recursive: boolean,
): { address: string; port: number } | null {
  let addr = client;
  let found = false;
  for (let l = lines.length - 1; l >= 0; l--) {
    const line = lines[l]!;
    let end = line.length;
    let lineFound = false;
    for (;;) {
      if (!cidrMatch(addr.address, from)) return found || lineFound ? addr : null;
      while (end > 0 && (line[end - 1] === ' ' || line[end - 1] === ',')) end--;
      let start = end;
      while (start > 0 && line[start - 1] !== ' ' && line[start - 1] !== ',') start--;
      const next = parseAddrPort(line.slice(start, end));
      if (next === null) return found || lineFound ? addr : null;
      addr = next;
      lineFound = true;
      end = start;
      if (!recursive || start === 0) break;
    }
    found = true;
    if (!recursive) break;
  }
  return found ? addr : null;
}

/** Every line of a request header (lower-case name), in order. */
export function headerLines(r: HttpRequest, name: string): string[] {
  const raw = r.req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}

function handler(index: number) {
  return (r: HttpRequest): number => {
    const conf = r.loc.loc[index] as RealipLocConf;
    if (conf.from === undefined || applied.has(r.main)) return PHASE_NEXT;
    let lines: string[];
    const pp = conf.proxyProtocol ? r.conn.proxyProtocol ?? null : null;
    if (conf.proxyProtocol) {
      if (pp === null) return PHASE_NEXT;
      lines = [pp.srcAddr];
    } else {
      lines = headerLines(r, conf.header!);
      if (lines.length === 0) return PHASE_NEXT;
      // Any header but X-Forwarded-For: its first line (a list in it is still read from the right).
      if (!conf.allLines) lines = [lines[0]!];
    }
    const addr = forwardedAddr({ address: r.remoteAddress, port: r.remotePort }, lines, conf.from, conf.recursive!);
    if (addr === null) return PHASE_NEXT;
    applied.set(r.main, { address: r.remoteAddress, port: r.remotePort });
    r.remoteAddress = addr.address;
    // the header's source port, whatever the address text held (ngx_inet_set_port)
    r.remotePort = pp !== null ? pp.srcPort : addr.port;
    return PHASE_NEXT;
  };
}

export const realipModule: HttpModule<unknown, unknown, RealipLocConf> = {
  kind: 'http',
  name: 'http_realip',
  directives,
  createLoc: () => ({}),
  mergeLoc(p, c) {
    c.from ??= p.from;
    if (c.header === undefined) {
      c.header = p.header ?? 'x-real-ip';
      c.allLines = p.allLines ?? false;
      c.proxyProtocol = p.proxyProtocol ?? false;
    }
    inherit(c, p, 'recursive', false);
  },
  initMain(_conf, cf) {
    // Before references are resolved (they were compiled as the config was read).
    const core = cf.main(httpCoreModule);
    const original = (r: HttpRequest): RealipCtx | undefined => applied.get(r.main);
    core.variables.define('realip_remote_addr', (r) => original(r)?.address ?? r.conn.remoteAddress);
    core.variables.define('realip_remote_port', (r) => {
      const port = original(r)?.port ?? r.conn.remotePort;
      return port > 0 ? String(port) : '';
    });
  },
  postConfiguration(cf) {
    const core = cf.main(httpCoreModule);
    const index = cf.registry.indexOf(realipModule);
    core.postRead.push(handler(index));
    core.preaccess.push(handler(index));
  },
};
