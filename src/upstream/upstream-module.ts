/**
 * `upstream` blocks (ngx_http_upstream_module's config half): servers, the
 * balancing directive, the keep-alive cache settings, and the implicit groups
 * that `proxy_pass http://host:port` creates (ngx_http_upstream_add).
 *
 * A group named in proxy_pass may be defined later in the file (nginx matches
 * by name at the end). Host names are resolved once at start-up, every address
 * becoming a peer. A name that needs DNS is queued as a pending task where
 * nginx resolves it: a `server` line at its directive, an implicit group's
 * host at the end of the http block (ngx_http_upstream_init_round_robin); the
 * loader runs the tasks, and reports the first failure in that order.
 *
 * Keep-alive: on by default for upstream blocks (`keepalive 32`, nginx 1.29.7+),
 * and for implicit groups too, as nginx 1.31 does.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { builtinBalancers, defaultBalancer } from '../balancer/registry.js';
import { parseServerParameters } from '../balancer/server-params.js';
import type {
  BalancerModule, BalancerRequest, BalancerSupports, PeerAddress, PeerFactory, PeerSession, UpstreamGroupConf, UpstreamServerConf,
} from '../balancer/types.js';
import { dataKey, type ConfContext } from '../config/conf-context.js';
import { ConfigError, atPosition } from '../config/errors.js';
import { Ctx, type DirectiveSpec, type HttpModule } from '../config/module.js';
import { httpCoreModule } from '../http/core-module.js';
import { KeepaliveCache } from '../keepalive/cache.js';
import { RoundRobinSession, RoundRobinUpstream, type RoundRobinPeer } from '../balancer/round-robin.js';
import { finishShmZones, sharedZone, type ShmZone } from '../zone/shm-zone.js';
import { parseSize } from '../config/units.js';
import { sharedCounters, stickyStore } from '../zone/shared-client.js';
import { parseStickyArgs, StickySession, StickyTable, type StickyOptions } from '../balancer/sticky.js';
import type { ErrorLog } from '../observability/error-log.js';
import { defineUpstreamVariables } from './state.js';
import {
  applyKeepaliveDirective, KEEPALIVE_DIRECTIVES, resolveKeepalive, type KeepaliveDirectives, type KeepaliveSettings,
} from '../keepalive/directives.js';
import { KeepalivePeerSession, PoolKeys } from '../keepalive/session.js';

/**
 * How long a worker's peer connection changes wait (netted) before they go to
 * the other workers: a request shorter than this is never seen by them, and
 * one message carries a window's worth of changes (docs/design.md, "Replicated zones").
 */
const PEER_COUNTS_DELAY = 2;

/** A `server` line before its name is resolved. */
interface PendingServer {
  params: ReturnType<typeof parseServerParameters>;
  file: string;
  line: number;
  /** Index in the group's slots, reserved until the name resolves. */
  slot?: number;
}

export class UpstreamGroup {
  /** In config order; a slot stays null until its host name is resolved. */
  readonly slots: (UpstreamServerConf | null)[] = [];
  balancer: BalancerModule = defaultBalancer;
  balancerOptions: unknown = undefined;
  balancerDirective = '';
  /** The keepalive* directives as written in the block. */
  readonly keepaliveDirectives: KeepaliveDirectives = {};
  keepalive: KeepaliveSettings | null = null;
  private readonly sharedKeys = new PoolKeys();
  private readonly sharedTlsKeys = new Map<string, PoolKeys>();
  /** Defined by an `upstream` block (false: made by proxy_pass host:port). */
  defined = false;
  file = '';
  line = 0;
  zone = '';
  /** The `zone` directive's shared zone (nginx's uscf->shm_zone). */
  zoneShm: ShmZone | null = null;
  /** For `proxy_pass http://name` with no `upstream name {}`: the port the URL implies. */
  implicitDefaultPort = 80;
  /** A `server` that is not `backup` was given (round robin needs one: "no servers in upstream"). */
  hasPrimary = false;
  /** `sticky` in the block, and its table once initialised. */
  sticky: StickyOptions | null = null;
  private stickyTable: StickyTable | null = null;
  private factory: PeerFactory | null = null;
  cache: KeepaliveCache | null = null;

  constructor(readonly name: string, readonly implicitPort: number) {}

  get servers(): UpstreamServerConf[] {
    return this.slots.filter((s): s is UpstreamServerConf => s !== null);
  }

  get conf(): UpstreamGroupConf {
    return { name: this.name, servers: this.servers, implicit: !this.defined };
  }

  /** Builds the peer table and the cache (once per worker: each process loads its own config). */
  init(log: (level: 'warn' | 'error' | 'info', msg: string) => void): void {
    if (this.factory) return;
    this.factory = this.balancer.initUpstream(this.conf, this.balancerOptions, { now: Date.now, random: Math.random });
    const peers = [...this.factory.peers, ...this.factory.backupPeers] as RoundRobinPeer[];
    // A zone shares the peers' connection counts between workers (docs/design.md, "Replicated zones").
    if (this.zoneShm !== null && this.factory instanceof RoundRobinUpstream) {
      this.factory.connsObserver = sharedCounters(`peers:${this.zoneShm.id}:${this.name}`, peers.length, 0, (slot, delta) => {
        const p = peers[slot];
        if (p !== undefined) p.conns += delta;
      }, PEER_COUNTS_DELAY);
    }
    if (this.sticky) {
      const o = this.sticky;
      const store = o.kind === 'learn' ? stickyStore(o.zone.name, o.zone.size) : undefined;
      this.stickyTable = new StickyTable(o, peers, Date.now, store);
    }
    this.keepalive = resolveKeepalive(this.keepaliveDirectives, { implicit: !this.defined });
    if (this.keepalive) {
      this.cache = new KeepaliveCache({
        max: this.keepalive.max,
        requests: this.keepalive.requests,
        time: this.keepalive.time,
        timeout: this.keepalive.timeout,
        upstreamName: this.name,
        log,
      });
    }
  }

  /** The balancer made its peer table (at runtime creation, or a first request). */
  get initialised(): boolean {
    return this.factory !== null;
  }

  get peers(): PeerFactory {
    if (!this.factory) throw new Error(`upstream "${this.name}" is not initialised`);
    return this.factory;
  }

  /**
   * nginx's init_peer: a per-request session, wrapped by the keep-alive cache.
   * `localKeys` scope the cache to one location (`keepalive ... local`, the default).
   */
  createSession(request: BalancerRequest, localKeys: PoolKeys, log: ErrorLog): PeerSession {
    if (!this.factory) this.init((level, msg) => log.log(level, msg));
    let inner = this.peers.createSession(request);
    if (this.stickyTable) {
      // Sticky binds through the round-robin table, which every built-in balancer uses.
      if (inner instanceof RoundRobinSession) inner = new StickySession(inner, this.stickyTable, request);
      else log.log('error', `"sticky" in upstream "${this.name}" needs a balancer built on round robin`);
    }
    if (!this.cache) return inner;
    return new KeepalivePeerSession(inner, this.cache, this.keepalive!.local ? localKeys : this.sharedKeysFor(localKeys.scope.tls));
  }

  /** Shared by every location, but never across TLS settings (nor between TLS and plain TCP). */
  private sharedKeysFor(tls: string): PoolKeys {
    if (tls === '') return this.sharedKeys;
    let keys = this.sharedTlsKeys.get(tls);
    if (keys === undefined) { keys = new PoolKeys({ tag: '', tls }); this.sharedTlsKeys.set(tls, keys); }
    return keys;
  }
}

export interface UpstreamMainConf {
  readonly groups: Map<string, UpstreamGroup>;
  /** Host names of implicit groups, queued at the end of the http block (DNS). */
  readonly unresolved: Array<() => Promise<void>>;
}

const GROUP_KEY = dataKey<UpstreamGroup>('upstream');

/** Parses `host:port`, `[v6]:port`, `unix:/path` of a `server` line or proxy_pass. */
export function splitAddress(text: string, defaultPort: number): { host: string; port: number; path?: string } | string {
  if (text.startsWith('unix:')) return { host: '', port: 0, path: text.slice(5) };
  let host: string;
  let portText = '';
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end === -1) return `invalid host in upstream "${text}"`;
    host = text.slice(1, end);
    if (text[end + 1] === ':') portText = text.slice(end + 2);
    else if (end + 1 !== text.length) return `invalid host in upstream "${text}"`;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) host = text;
    else { host = text.slice(0, colon); portText = text.slice(colon + 1); }
  }
  if (host === '') return `no host in upstream "${text}"`;
  let port = defaultPort;
  if (portText !== '') {
    port = Number(portText);
    if (!/^[0-9]+$/.test(portText) || port < 1 || port > 65535) return `invalid port in upstream "${text}"`;
  }
  return { host, port };
}

export function peerAddress(host: string, port: number): PeerAddress {
  const family = isIP(host) === 6 ? 6 : 4;
  return { name: family === 6 ? `[${host}]:${port}` : `${host}:${port}`, host, port, family };
}

export function unixAddress(path: string): PeerAddress {
  return { name: `unix:${path}`, path, family: 0 };
}

/** Addresses known without DNS: IP literals, `localhost`, unix sockets. */
function staticAddresses(host: string, port: number, path: string | undefined): PeerAddress[] | null {
  if (path !== undefined) return [unixAddress(path)];
  if (isIP(host)) return [peerAddress(host, port)];
  if (host === 'localhost') return [peerAddress('127.0.0.1', port)];
  return null;
}

function addServer(group: UpstreamGroup, server: PendingServer, addresses: PeerAddress[]): void {
  const { address: _address, ...params } = server.params;
  const conf: UpstreamServerConf = { ...params, addresses, file: server.file, line: server.line };
  if (server.slot !== undefined) group.slots[server.slot] = conf;
  else group.slots.push(conf);
}

/**
 * Adds a server now when its address needs no DNS; else reserves its place
 * and returns the lookup that fills it, for the caller to queue.
 */
function placeServer(group: UpstreamGroup, server: PendingServer, host: string, port: number, path: string | undefined): (() => Promise<void>) | null {
  const known = staticAddresses(host, port, path);
  if (known) { addServer(group, server, known); return null; }
  server.slot = group.slots.length;
  group.slots.push(null);
  return () => resolveServer(group, server);
}

function getGroup(main: UpstreamMainConf, name: string, port: number): UpstreamGroup {
  const key = port ? `${name}:${port}` : name;
  let g = main.groups.get(key);
  if (!g) { g = new UpstreamGroup(name, port); main.groups.set(key, g); }
  return g;
}

/**
 * Finds or creates the group a `proxy_pass`/`memcached_pass`/`fastcgi_pass` names
 * (ngx_http_upstream_add). `port` 0 means the URL had none: an `upstream` block of
 * that name wins; without a block, the host is used with `defaultPort`.
 */
export function addUpstreamReference(cf: ConfContext, host: string, port: number, defaultPort: number, path?: string): UpstreamGroup {
  const main = cf.main(upstreamModule);
  if (path !== undefined) {
    const g = getGroup(main, `unix:${path}`, 0);
    if (g.slots.length === 0) addServer(g, implicitServer(cf, `unix:${path}`), [unixAddress(path)]);
    return g;
  }
  if (port === 0) {
    const g = getGroup(main, host, 0);
    if (!g.file) { g.file = cf.node?.file ?? ''; g.line = cf.node?.line ?? 0; }
    g.implicitDefaultPort = defaultPort;
    return g;
  }
  const g = getGroup(main, host, port);
  if (g.slots.length === 0) {
    const dns = placeServer(g, implicitServer(cf, `${host}:${port}`), host, port, undefined);
    if (dns) main.unresolved.push(dns);
  }
  return g;
}

function implicitServer(cf: ConfContext, address: string): PendingServer {
  return { params: parseServerParameters([address]), file: cf.node?.file ?? '', line: cf.node?.line ?? 0 };
}

function group(cf: ConfContext): UpstreamGroup {
  return cf.get(GROUP_KEY)!;
}

function keepaliveDirective(name: (typeof KEEPALIVE_DIRECTIVES)[number]): DirectiveSpec {
  return {
    name, contexts: Ctx.Upstream, args: [1, 2],
    set(cf, d) {
      try { applyKeepaliveDirective(group(cf).keepaliveDirectives, name, d.args); } catch (e) { throw atPosition(e, cf.position!); }
    },
  };
}

function balancerDirective(module: BalancerModule<unknown>): DirectiveSpec {
  const name = module.name;
  return {
    name, contexts: Ctx.Upstream, args: [0, Infinity],
    set(cf, d) {
      const g = group(cf);
      // nginx warns and takes the later one.
      if (g.balancerDirective) cf.warn('load balancing method redefined');
      const vars = cf.main(httpCoreModule).variables;
      try {
        g.balancerOptions = module.parseArgs
          ? module.parseArgs(d.args, (text) => vars.compile(text, cf.position))
          : (d.args.length ? (() => { throw new Error(`invalid number of arguments in "${name}" directive`); })() : undefined);
      } catch (e) {
        throw atPosition(e, cf.position!);
      }
      g.balancer = module;
      g.balancerDirective = name;
    },
  };
}

const staticDirectives: DirectiveSpec[] = [
  {
    name: 'upstream', contexts: Ctx.Http, args: [1, 1], block: true,
    set(cf, d) {
      const main = cf.main(upstreamModule);
      const name = d.args[0];
      const g = getGroup(main, name, 0);
      if (g.defined) return cf.error(`duplicate upstream "${name}"`);
      g.defined = true;
      g.file = d.file;
      g.line = d.line;
      cf.child(Ctx.Upstream, cf.level, [GROUP_KEY, g]).walk(d.block!);
      if (g.slots.length === 0) {
        return cf.error(`no servers are inside upstream`);
      }
    },
  },
  {
    name: 'server', contexts: Ctx.Upstream, args: [1, Infinity],
    set(cf, d) {
      const g = group(cf);
      let params;
      try { params = parseServerParameters(d.args); } catch (e) { throw atPosition(e, cf.position!); }
      // Recorded by the parser, but no balancer ramps weights yet: refuse rather than ignore.
      if (params.slowStart > 0) return cf.error('the "slow_start" parameter of "server" is not supported by weir yet');
      // The parameters the balancer chosen so far takes (nginx's uscf->flags, set by `hash`, `ip_hash`, ...).
      const supports = g.balancer.supports;
      if (supports !== undefined) {
        const refused = d.args.slice(1).find((a) => !supportsParameter(supports, a));
        if (refused !== undefined) return cf.error(`balancing method does not support parameter "${refused}"`);
      }
      if (!params.backup) g.hasPrimary = true;
      const addr = splitAddress(params.address, 80);
      if (typeof addr === 'string') return cf.error(addr);
      const server: PendingServer = { params, file: d.file, line: d.line };
      const dns = placeServer(g, server, addr.host, addr.port, addr.path);
      // ngx_parse_url resolves the name in the directive's handler.
      if (dns) cf.pendingTasks.push(dns);
    },
  },
  ...KEEPALIVE_DIRECTIVES.map(keepaliveDirective),
  {
    name: 'sticky', contexts: Ctx.Upstream, args: [1, Infinity],
    set(cf, d) {
      const g = group(cf);
      if (g.sticky) return cf.duplicate();
      const vars = cf.main(httpCoreModule).variables;
      try { g.sticky = parseStickyArgs(d.args, (text) => vars.compile(text, cf.position)); } catch (e) { throw atPosition(e, cf.position!); }
      if (g.sticky.kind === 'learn') {
        // ngx_shared_memory_add with the sticky module's tag; one upstream per zone.
        const z = sharedZone(cf, g.sticky.zone.name, g.sticky.zone.size, 'sticky');
        if (z.data !== null) return cf.error(`sticky zone "${z.name}" is already used in upstream "${String(z.data)}"`);
        z.data = g.name;
      }
    },
  },
  {
    // ngx_http_upstream_zone: several upstreams may share one zone.
    name: 'zone', contexts: Ctx.Upstream, args: [1, 2],
    set(cf, d) {
      const g = group(cf);
      const name = d.args[0];
      if (name === '') return cf.error(`invalid zone name "${name}"`);
      let size = 0;
      if (d.args.length === 2) {
        const s = parseSize(d.args[1]);
        if (s === null) return cf.error(`invalid zone size "${d.args[1]}"`);
        if (s < 8 * 4096) return cf.error(`zone "${name}" is too small`);
        size = s;
      }
      g.zone = name;
      g.zoneShm = sharedZone(cf, name, size, 'upstream');
    },
  },
];

export const upstreamModule: HttpModule<UpstreamMainConf, undefined, undefined> = {
  kind: 'http',
  name: 'http_upstream',
  directives: [...staticDirectives, ...[...builtinBalancers.values()].map(balancerDirective)],
  createMain: () => ({ groups: new Map(), unresolved: [] }),
  initMain(main, cf) {
    defineUpstreamVariables(cf.main(httpCoreModule).variables);
    // Every zone was named with its size somewhere ("zero size shared memory zone" otherwise).
    finishShmZones(cf);
    // ngx_http_upstream_init_round_robin's check, at config time as in nginx (not at the first request).
    for (const g of main.groups.values()) {
      if (g.defined && g.slots.length > 0 && !g.hasPrimary) throw new ConfigError(`no servers in upstream "${g.name}"`, { file: g.file, line: g.line });
    }
    // proxy_pass http://name without a port and no `upstream name {}`: the host itself.
    for (const [key, g] of [...main.groups]) {
      if (g.defined || g.implicitPort !== 0 || key.startsWith('unix:')) continue;
      const defaultPort = g.implicitDefaultPort;
      const server = implicitServer(cf, `${g.name}:${defaultPort}`);
      (server as { file: string }).file = g.file;
      (server as { line: number }).line = g.line;
      const dns = placeServer(g, server, g.name, defaultPort, undefined);
      if (dns) main.unresolved.push(dns);
    }
    cf.pendingTasks.push(...main.unresolved.splice(0));
    // Idle upstream connections close with the worker.
    cf.main(httpCoreModule).stopHooks.push(() => { for (const g of main.groups.values()) g.cache?.closeAll(); });
  },
};

/** Whether a `server` parameter is one the balancer takes (ngx_http_upstream_server's flag checks). */
function supportsParameter(s: BalancerSupports, arg: string): boolean {
  if (arg.startsWith('weight=')) return s.weight;
  if (arg.startsWith('max_conns=')) return s.maxConns;
  if (arg.startsWith('max_fails=')) return s.maxFails;
  if (arg.startsWith('fail_timeout=')) return s.failTimeout;
  if (arg === 'down') return s.down;
  if (arg === 'backup') return s.backup;
  return true;
}

/** A group for an address found at run time (proxy_pass with variables): implicit, so no keep-alive cache. */
export function implicitGroup(name: string, addresses: PeerAddress[]): UpstreamGroup {
  const g = new UpstreamGroup(name, 0);
  const { address: _address, ...params } = parseServerParameters([name]);
  g.slots.push({ ...params, addresses });
  return g;
}

/** Resolves the host name of a `server` line or an implicit group into its reserved slot. */
async function resolveServer(group: UpstreamGroup, server: PendingServer): Promise<void> {
  const addr = splitAddress(server.params.address, 80) as { host: string; port: number };
  let found;
  try {
    found = await lookup(addr.host, { all: true });
  } catch {
    throw new ConfigError(`host not found in upstream "${server.params.address}"`, { file: server.file, line: server.line });
  }
  const seen = new Set<string>();
  const addresses: PeerAddress[] = [];
  for (const a of found) {
    const p = peerAddress(a.address, addr.port);
    if (!seen.has(p.name)) { seen.add(p.name); addresses.push(p); }
  }
  addServer(group, server, addresses);
}

/**
 * A balancer of the user's own as a module of one weir instance
 * (`startWeir({ modules: [balancerModule(mine)] })`): its name is a directive
 * of `upstream { }`, as a built-in balancer's is.
 */
export function balancerModule<Options>(balancer: BalancerModule<Options>): HttpModule {
  if (balancer.name.length === 0) throw new Error('a balancer needs a directive name');
  if (builtinBalancers.has(balancer.name)) throw new Error(`"${balancer.name}" is a built-in balancer`);
  return { kind: 'http', name: `upstream_${balancer.name}`, directives: [balancerDirective(balancer as BalancerModule<unknown>)] };
}
