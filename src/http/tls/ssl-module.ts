/**
 * ngx_http_ssl_module: TLS to clients, on node:tls.
 *
 *   ssl_certificate FILE | data:PEM   (several: one per key type; variables: built per handshake, cached)
 *   ssl_certificate_key FILE | data:PEM
 *   ssl_password_file FILE
 *   ssl_protocols, ssl_ciphers, ssl_prefer_server_ciphers, ssl_ecdh_curve, ssl_dhparam, ssl_conf_command
 *   ssl_session_cache off | none | [builtin[:size]] [shared:NAME:size]
 *   ssl_session_timeout, ssl_session_tickets, ssl_session_ticket_key FILE
 *   ssl_reject_handshake
 *   ssl_verify_client on | off | optional | optional_no_ca, ssl_verify_depth,
 *   ssl_client_certificate, ssl_trusted_certificate, ssl_crl
 *   ssl_buffer_size (accepted: node writes records as they come)
 *
 * Each server block with certificates (or ssl_reject_handshake) gets its
 * SecureContext as the config is merged (contexts.ts), as nginx builds an
 * SSL_CTX per server in its merge; handshakes choose one (acceptor.ts).
 * Certificates with variables are loaded on the first handshake that needs
 * them and kept (ssl_certificate_cache's role: one context per distinct
 * pair of names).
 *
 * Deliberate differences: `ssl_session_cache shared` shares resumption
 * across workers through session tickets whose key all workers of one master
 * derive from a secret the master made (nginx keeps both the session ids and
 * the ticket keys in shared memory); session ids stay per worker. Ticket keys
 * do not rotate by themselves. Only the first `ssl_session_ticket_key` can be
 * used (node takes one key): more than one is an [emerg]. OCSP stapling and
 * `ssl_early_data on` are [emerg]s (node:tls has neither).
 */
import { constants, createHmac, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { SecureContext, SecureContextOptions } from 'node:tls';
import type { ConfContext } from '../../config/conf-context.js';
import { Ctx, type DirectiveSpec, type HttpConfLevel, type HttpModule } from '../../config/module.js';
import type { ConfNode } from '../../config/parser.js';
import { inherit, setFlag, setNumber, setSec, setSize } from '../../config/slots.js';
import { parseSize } from '../../config/units.js';
import { httpCoreModule, type CoreSrvConf } from '../core-module.js';
import { buildContext, contextOptions, loadPair, protocolMask, Proto, readPasswords, TlsConfigError, type CertPair, type ContextSettings } from './contexts.js';
import { defineSslVariables } from './variables.js';
import { serverGroups } from './names.js';

const HTTP_SRV = Ctx.Http | Ctx.Server;

export const enum Verify { Off = 0, On = 1, Optional = 2, OptionalNoCa = 3 }

interface CacheSpec {
  /** off: nothing; none: nothing either (nginx tells the client sessions may be reused, and never does). */
  readonly builtin: number;
  readonly shared: { name: string; size: number } | null;
  readonly off: boolean;
}

/** Sessions by id, for one server block's builtin cache or one shared cache name (per worker). */
export class SessionStore {
  private readonly map = new Map<string, { data: Buffer; expires: number }>();
  constructor(private readonly capacity: number) {}

  set(id: Buffer, data: Buffer, timeoutMs: number): void {
    const key = id.toString('hex');
    this.map.delete(key);
    // Oldest first out, as nginx expires the oldest session when the cache is full.
    if (this.map.size >= this.capacity) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, { data, expires: Date.now() + timeoutMs });
  }

  get(id: Buffer): Buffer | null {
    const key = id.toString('hex');
    const e = this.map.get(key);
    if (e === undefined) return null;
    if (e.expires <= Date.now()) { this.map.delete(key); return null; }
    return e.data;
  }
}

export interface SslSrvConf {
  certificates?: string[];
  certificateKeys?: string[];
  passwordFile?: string;
  protocols?: number;
  ciphers?: string;
  preferServerCiphers?: boolean;
  ecdhCurve?: string;
  dhparam?: string;
  confCommands?: Array<[string, string]>;
  sessionCache?: CacheSpec;
  /** ms */
  sessionTimeout?: number;
  sessionTickets?: boolean;
  ticketKeyFiles?: string[];
  rejectHandshake?: boolean;
  verify?: Verify;
  verifyDepth?: number;
  clientCertificate?: string;
  trustedCertificate?: string;
  crl?: string;
  bufferSize?: number;
  earlyData?: boolean;
  /** Built at merge: the server's context (null: no certificates of its own and no rejection). */
  tls?: ServerTls | null;
}

/** What a handshake needs of a server block, made once. */
export class ServerTls {
  /** Emits newSession/resumeSession for node's TLSSocket (its `server` option). */
  readonly sessionEvents: EventEmitter | null;
  private readonly dynamic = new Map<string, SecureContext>();

  /**
   * With a session cache and `ssl_session_tickets off`: the context for clients
   * that will speak TLSv1.3, tickets on. OpenSSL resumes TLSv1.3 sessions
   * from its cache through "stateful" tickets, which node's session events
   * cannot serve; a TLSv1.3 client cannot tell a stateless ticket from a
   * stateful one, so it gets the stateless kind, and TLSv1.2 clients still
   * get none and resume by session id.
   */
  context13: SecureContext | null = null;
  /**
   * A shared cache's ticket key, rotated each session timeout as nginx 1.23.2+
   * rotates it in shared memory: every worker derives the same key for the same
   * period, so they rotate together without talking. (A ticket from the last
   * period no longer decrypts: node takes one key; the client then does a full
   * handshake.)
   */
  rotation: { readonly name: string; readonly periodMs: number; epoch: number } | null = null;
  /** ssl_ecdh_curve as group codes (for $ssl_curve). */
  readonly groups: readonly number[];

  constructor(
    /** null while certificates need variables (each handshake builds or finds its own), or none (reject only). */
    readonly context: SecureContext | null,
    readonly base: SecureContextOptions,
    readonly conf: SslSrvConf,
    private readonly dynamicPairs: ReadonlyArray<readonly [string, string]> | null,
    private readonly passwords: string[] | null,
    private readonly fullPath: (p: string) => string,
    store: SessionStore | null,
  ) {
    this.groups = serverGroups(conf.ecdhCurve ?? 'auto');
    if (store === null) { this.sessionEvents = null; return; }
    const ev = new EventEmitter();
    const timeout = conf.sessionTimeout!;
    ev.on('newSession', (id: Buffer, data: Buffer, done: () => void) => { store.set(id, data, timeout); done(); });
    ev.on('resumeSession', (id: Buffer, done: (err: Error | null, data: Buffer | null) => void) => done(null, store.get(id)));
    this.sessionEvents = ev;
  }

  get rejects(): boolean {
    return this.conf.rejectHandshake === true;
  }

  get needsServerName(): boolean {
    return this.dynamicPairs !== null;
  }

  /**
   * The context for a handshake with certificate names that use $ssl_server_name
   * (ngx_http_ssl_certificate): loaded once per distinct name, then kept. An
   * error (no such file) fails that handshake, logged by the caller.
   */
  contextFor(serverName: string, tls13: boolean): SecureContext {
    const rot = this.rotation;
    if (rot !== null) {
      const epoch = ticketEpoch(Date.now(), rot.periodMs);
      if (epoch !== rot.epoch) {
        rot.epoch = epoch;
        const keys = sharedTicketKeys(rot.name, epoch);
        for (const c of [this.context, this.context13]) (c?.context as { setTicketKeys?(k: Buffer): void } | undefined)?.setTicketKeys?.(keys);
      }
    }
    if (this.dynamicPairs === null) return tls13 && this.context13 !== null ? this.context13 : this.context!;
    let ctx = this.dynamic.get(serverName);
    if (ctx !== undefined) return ctx;
    const pairs: CertPair[] = this.dynamicPairs.map(([c, k]) => loadPair(expand(c, serverName), expand(k, serverName), this.passwords, this.fullPath));
    ctx = buildContext(this.base, pairs);
    // Bounded: a client can send any name; the oldest goes first.
    if (this.dynamic.size >= 1000) this.dynamic.delete(this.dynamic.keys().next().value!);
    this.dynamic.set(serverName, ctx);
    return ctx;
  }
}

const SERVER_NAME_VAR = /\$(?:\{ssl_server_name\}|ssl_server_name(?![A-Za-z0-9_]))/g;

function expand(text: string, serverName: string): string {
  return text.replace(SERVER_NAME_VAR, serverName);
}

/** Variables in a certificate name: only $ssl_server_name is known before the handshake ends. */
function checkCertVariables(cf: ConfContext, text: string): boolean {
  if (!text.includes('$')) return false;
  const rest = text.replace(SERVER_NAME_VAR, '');
  if (rest.includes('$')) {
    cf.error(`only $ssl_server_name can be used in "ssl_certificate" and "ssl_certificate_key" by weir: "${text}"`);
  }
  return true;
}

/** Per shared cache name, in this worker. */
const sharedStores = new Map<string, SessionStore>();

/**
 * The master's secret for shared caches' ticket keys: set once in the master
 * (see ensureTicketSecret), inherited by every worker it forks, so each
 * worker's contexts decrypt the others' tickets.
 */
const SECRET_ENV = 'WEIR_TLS_TICKET_SECRET';
/** When the first key's period began (ms), inherited as the secret is. */
const ANCHOR_ENV = 'WEIR_TLS_TICKET_ANCHOR';
export function ensureTicketSecret(): void {
  if (!process.env[SECRET_ENV]) process.env[SECRET_ENV] = randomBytes(32).toString('hex');
  if (!process.env[ANCHOR_ENV]) process.env[ANCHOR_ENV] = String(Date.now());
}

/**
 * The first generation of workers serves from `since`: the first key's period
 * starts there, the same instant for every worker. nginx times its first key
 * from the first handshake; the secret's making (the master reading its
 * config) comes seconds earlier on a busy machine, which would rotate the
 * first key early. The master calls this before it forks more workers and
 * tells the running ones (the 'serving' message).
 */
export function ticketPeriodsFrom(since: number): void {
  process.env[ANCHOR_ENV] = String(since);
}

/** The ticket key period a time falls in. */
function ticketEpoch(now: number, periodMs: number): number {
  ensureTicketSecret();
  return Math.floor((now - Number(process.env[ANCHOR_ENV])) / periodMs);
}

function sharedTicketKeys(name: string, epoch: number): Buffer {
  ensureTicketSecret();
  const secret = process.env[SECRET_ENV]!;
  const a = createHmac('sha256', secret).update(`ticket:${name}:${epoch}:1`).digest();
  const b = createHmac('sha256', secret).update(`ticket:${name}:${epoch}:2`).digest();
  return Buffer.concat([a, b]).subarray(0, 48);
}

function parseCache(cf: ConfContext, d: ConfNode): CacheSpec {
  let builtin = 0;
  let shared: CacheSpec['shared'] = null;
  let off = false;
  for (const a of d.args) {
    if (a === 'off' || a === 'none') {
      if (d.args.length > 1) cf.error(`invalid session cache "${a}"`);
      off = a === 'off';
      continue;
    }
    if (a === 'builtin') { builtin = 20480; continue; }
    if (a.startsWith('builtin:')) {
      const n = /^[0-9]+$/.test(a.slice(8)) ? Number(a.slice(8)) : 0;
      if (n === 0) cf.error(`invalid session cache "${a}"`);
      builtin = n;
      continue;
    }
    if (a.startsWith('shared:')) {
      const rest = a.slice(7);
      const colon = rest.lastIndexOf(':');
      const size = colon > 0 ? parseSize(rest.slice(colon + 1)) : null;
      if (colon <= 0 || size === null) cf.error(`invalid zone size "${rest}"`);
      if (size! < 8 * 4096) cf.error(`zone "${rest.slice(0, colon)}" is too small`);
      shared = { name: rest.slice(0, colon), size: size! };
      continue;
    }
    cf.error(`invalid session cache "${a}"`);
  }
  return { builtin, shared, off };
}

function confPath(cf: ConfContext, path: string): string {
  return isAbsolute(path) ? path : join(cf.paths.confPrefix, path);
}

function readTicketKeys(cf: ConfContext, files: readonly string[]): Buffer | null {
  if (files.length === 0) return null;
  if (files.length > 1) {
    cf.error('only one "ssl_session_ticket_key" can be used by weir: node:tls takes a single ticket key, so older keys cannot decrypt');
  }
  let buf: Buffer;
  try {
    buf = readFileSync(confPath(cf, files[0]!));
  } catch (e) {
    return cf.error(`open() "${confPath(cf, files[0]!)}" failed (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? '2: No such file or directory' : (e as Error).message})`);
  }
  if (buf.length === 80) cf.error(`"${files[0]}" is an 80-byte key: node:tls supports 48-byte session ticket keys only`);
  if (buf.length !== 48) cf.error(`"${files[0]}" must be 48 or 80 bytes`);
  // nginx's file: name, AES key, HMAC key; node's buffer: name, HMAC key, AES key.
  return Buffer.concat([buf.subarray(0, 16), buf.subarray(32, 48), buf.subarray(16, 32)]);
}

const push = (key: 'certificates' | 'certificateKeys' | 'ticketKeyFiles') => (cf: ConfContext, d: ConfNode): void => {
  const conf = cf.srv(sslModule);
  (conf[key] ??= []).push(d.args[0]!);
};

const VERIFY: Record<string, Verify> = { off: Verify.Off, on: Verify.On, optional: Verify.Optional, optional_no_ca: Verify.OptionalNoCa };

const unsupported = (name: string, why: string): DirectiveSpec => ({
  name, contexts: HTTP_SRV, args: [1, Infinity],
  set: (cf, d) => { if (d.args[0] !== 'off') cf.error(`"${name}" is not supported by weir: ${why}`); },
});

const directives: DirectiveSpec[] = [
  { name: 'ssl_certificate', contexts: HTTP_SRV, args: [1, 1], set: push('certificates') },
  { name: 'ssl_certificate_key', contexts: HTTP_SRV, args: [1, 1], set: push('certificateKeys') },
  {
    name: 'ssl_password_file', contexts: HTTP_SRV, args: [1, 1],
    set: (cf, d) => { const c = cf.srv(sslModule); if (c.passwordFile !== undefined) cf.duplicate(); c.passwordFile = d.args[0]; },
  },
  {
    name: 'ssl_protocols', contexts: HTTP_SRV, args: [1, Infinity],
    set(cf, d) {
      const c = cf.srv(sslModule);
      if (c.protocols !== undefined) cf.duplicate();
      c.protocols = protocolMask(d.args, (w) => cf.error(`invalid value "${w}"`));
    },
  },
  {
    name: 'ssl_ciphers', contexts: HTTP_SRV, args: [1, 1],
    set: (cf, d) => { const c = cf.srv(sslModule); if (c.ciphers !== undefined) cf.duplicate(); c.ciphers = d.args[0]; },
  },
  { name: 'ssl_prefer_server_ciphers', contexts: HTTP_SRV, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.srv(sslModule), 'preferServerCiphers') },
  {
    name: 'ssl_ecdh_curve', contexts: HTTP_SRV, args: [1, 1],
    set: (cf, d) => { const c = cf.srv(sslModule); if (c.ecdhCurve !== undefined) cf.duplicate(); c.ecdhCurve = d.args[0]; },
  },
  {
    name: 'ssl_dhparam', contexts: HTTP_SRV, args: [1, 1],
    set: (cf, d) => { const c = cf.srv(sslModule); if (c.dhparam !== undefined) cf.duplicate(); c.dhparam = d.args[0]; },
  },
  { name: 'ssl_conf_command', contexts: HTTP_SRV, args: [2, 2], set: (cf, d) => { (cf.srv(sslModule).confCommands ??= []).push([d.args[0]!, d.args[1]!]); } },
  {
    name: 'ssl_session_cache', contexts: HTTP_SRV, args: [1, 2],
    set: (cf, d) => { const c = cf.srv(sslModule); if (c.sessionCache !== undefined) cf.duplicate(); c.sessionCache = parseCache(cf, d); },
  },
  { name: 'ssl_session_timeout', contexts: HTTP_SRV, args: [1, 1], set: (cf, d) => setSec(cf, d, cf.srv(sslModule), 'sessionTimeout') },
  { name: 'ssl_session_tickets', contexts: HTTP_SRV, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.srv(sslModule), 'sessionTickets') },
  { name: 'ssl_session_ticket_key', contexts: HTTP_SRV, args: [1, 1], set: push('ticketKeyFiles') },
  { name: 'ssl_reject_handshake', contexts: HTTP_SRV, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.srv(sslModule), 'rejectHandshake') },
  {
    name: 'ssl_verify_client', contexts: HTTP_SRV, args: [1, 1],
    set(cf, d) {
      const c = cf.srv(sslModule);
      if (c.verify !== undefined) cf.duplicate();
      const v = VERIFY[d.args[0]!.toLowerCase()];
      if (v === undefined) cf.error(`invalid value "${d.args[0]}"`);
      c.verify = v;
    },
  },
  { name: 'ssl_verify_depth', contexts: HTTP_SRV, args: [1, 1], set: (cf, d) => setNumber(cf, d, cf.srv(sslModule), 'verifyDepth') },
  {
    name: 'ssl_client_certificate', contexts: HTTP_SRV, args: [1, 1],
    set: (cf, d) => { const c = cf.srv(sslModule); if (c.clientCertificate !== undefined) cf.duplicate(); c.clientCertificate = d.args[0]; },
  },
  {
    name: 'ssl_trusted_certificate', contexts: HTTP_SRV, args: [1, 1],
    set: (cf, d) => { const c = cf.srv(sslModule); if (c.trustedCertificate !== undefined) cf.duplicate(); c.trustedCertificate = d.args[0]; },
  },
  {
    name: 'ssl_crl', contexts: HTTP_SRV, args: [1, 1],
    set: (cf, d) => { const c = cf.srv(sslModule); if (c.crl !== undefined) cf.duplicate(); c.crl = d.args[0]; },
  },
  { name: 'ssl_buffer_size', contexts: HTTP_SRV, args: [1, 1], set: (cf, d) => setSize(cf, d, cf.srv(sslModule), 'bufferSize') },
  {
    name: 'ssl_early_data', contexts: HTTP_SRV, args: 'flag',
    set(cf, d) {
      setFlag(cf, d, cf.srv(sslModule), 'earlyData');
      if (cf.srv(sslModule).earlyData) cf.error('"ssl_early_data" is not supported by weir: node:tls has no TLSv1.3 early data');
    },
  },
  {
    name: 'ssl', contexts: HTTP_SRV, args: 'flag',
    set: (cf) => cf.error('the "ssl" directive is no longer supported, use the "listen ... ssl" directive instead'),
  },
  unsupported('ssl_stapling', 'node:tls has no OCSP stapling of its own yet'),
  unsupported('ssl_ocsp', 'client certificate OCSP checks are not built'),
  unsupported('ssl_certificate_compression', 'node:tls does not expose certificate compression'),
];

let sslIndex = -1;

/** The ssl conf of a server level (null before the module is registered). */
export function sslSrvConf(level: HttpConfLevel): SslSrvConf | null {
  return sslIndex < 0 ? null : (level.srv[sslIndex] as SslSrvConf);
}

function settings(c: SslSrvConf, ticketKeys: Buffer | null, label: string): ContextSettings {
  return {
    protocols: c.protocols!,
    ciphers: c.ciphers!,
    preferServerCiphers: c.preferServerCiphers!,
    ecdhCurve: c.ecdhCurve!,
    dhparam: c.dhparam!,
    confCommands: c.confCommands!,
    sessionTimeout: Math.max(1, Math.floor(c.sessionTimeout! / 1000)),
    sessionTickets: c.sessionTickets!,
    ticketKeys,
    clientCa: c.verify !== Verify.Off ? c.clientCertificate! : '',
    trustedCa: c.verify !== Verify.Off ? c.trustedCertificate! : '',
    crl: c.crl!,
    sessionIdContext: label,
  };
}

let serverSerial = 0;

export const sslModule: HttpModule<unknown, SslSrvConf, unknown> = {
  kind: 'http',
  name: 'ngx_http_ssl_module',
  directives,
  createSrv: () => ({}),
  initMain(_conf, cf) {
    sslIndex = cf.registry.indexOf(sslModule);
    defineSslVariables(cf);
  },
  mergeSrv(p, c, cf) {
    inherit(c, p, 'sessionTimeout', 300_000);
    inherit(c, p, 'preferServerCiphers', false);
    inherit(c, p, 'rejectHandshake', false);
    inherit(c, p, 'protocols', Proto['TLSv1.2'] | Proto['TLSv1.3']);
    inherit(c, p, 'bufferSize', 16384);
    inherit(c, p, 'verify', Verify.Off);
    inherit(c, p, 'verifyDepth', 1);
    c.certificates ??= p.certificates;
    c.certificateKeys ??= p.certificateKeys;
    inherit(c, p, 'passwordFile', '');
    inherit(c, p, 'dhparam', '');
    inherit(c, p, 'clientCertificate', '');
    inherit(c, p, 'trustedCertificate', '');
    inherit(c, p, 'crl', '');
    inherit(c, p, 'ecdhCurve', 'auto');
    inherit(c, p, 'ciphers', 'HIGH:!aNULL:!MD5');
    c.confCommands ??= p.confCommands ?? [];
    inherit(c, p, 'sessionCache', { builtin: 0, shared: null, off: false });
    inherit(c, p, 'sessionTickets', true);
    c.ticketKeyFiles ??= p.ticketKeyFiles ?? [];
    c.tls = null;
    const certs = c.certificates;
    if (certs) {
      const keys = c.certificateKeys;
      if (!keys || keys.length < certs.length) cf.error(`no "ssl_certificate_key" is defined for certificate "${certs[certs.length - 1]}"`);
    } else if (!c.rejectHandshake) {
      return;
    }
    if (c.verify !== Verify.Off && c.verify !== Verify.OptionalNoCa && c.clientCertificate === '' && c.trustedCertificate === '') {
      cf.error('no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client');
    }
    // nginx resolves TLS files against the config's directory (ngx_conf_full_name(..., 1)), not -p.
    const fullPath = (path: string): string => confPath(cf, path);
    try {
      const cache = c.sessionCache!;
      const fileKeys = readTicketKeys(cf, c.ticketKeyFiles);
      const rotating = fileKeys === null && cache.shared !== null && c.sessionTickets!;
      const period = Math.max(1000, c.sessionTimeout!);
      const ticketKeys = fileKeys ?? (rotating ? sharedTicketKeys(cache.shared!.name, ticketEpoch(Date.now(), period)) : null);
      let store: SessionStore | null = null;
      if (cache.shared !== null) {
        store = sharedStores.get(cache.shared.name) ?? null;
        // About 4000 sessions per megabyte, as nginx's shared cache holds.
        if (store === null) { store = new SessionStore(Math.max(1, Math.floor(cache.shared.size / 256))); sharedStores.set(cache.shared.name, store); }
      } else if (cache.builtin > 0) {
        store = new SessionStore(cache.builtin);
      }
      const label = `weir-${++serverSerial}`;
      const base = contextOptions(settings(c, ticketKeys, cache.shared !== null ? `weir-shared-${cache.shared.name}` : label), fullPath);
      const passwords = c.passwordFile !== '' ? readPasswords(c.passwordFile!, fullPath) : null;
      const pairs = (certs ?? []).map((cert, i) => [cert, c.certificateKeys![i]!] as const);
      const dynamic = pairs.some(([a, b]) => checkCertVariables(cf, a) || checkCertVariables(cf, b));
      const loaded = dynamic ? [] : pairs.map(([a, b]) => loadPair(a, b, passwords, fullPath));
      const context = dynamic ? null : buildContext(base, loaded);
      c.tls = new ServerTls(context, base, c, dynamic ? pairs : null, passwords, fullPath, store);
      if (rotating) c.tls.rotation = { name: cache.shared!.name, periodMs: period, epoch: ticketEpoch(Date.now(), period) };
      if (!dynamic && store !== null && !c.sessionTickets && (c.protocols! & Proto['TLSv1.3']) !== 0) {
        const with13 = { ...base, secureOptions: base.secureOptions! & ~constants.SSL_OP_NO_TICKET };
        c.tls.context13 = buildContext(with13, loaded);
      }
    } catch (e) {
      if (e instanceof TlsConfigError) cf.error(e.message);
      throw e;
    }
  },
  postConfiguration(cf) {
    // ngx_http_ssl_init: an ssl address's default server must have a certificate, or reject.
    const core = cf.main(httpCoreModule);
    const coreIndex = cf.registry.indexOf(httpCoreModule);
    const seen = new Map<string, { file: string; line: number; tls: boolean }>();
    for (const s of core.servers) {
      const srv = s.level.srv[coreIndex] as CoreSrvConf;
      const ssl = s.level.srv[sslIndex] as SslSrvConf;
      for (const l of srv.listens) {
        const prev = seen.get(l.key);
        if (prev === undefined || l.defaultServer) seen.set(l.key, { file: s.file, line: s.line, tls: ssl.tls !== null && ssl.tls !== undefined });
      }
    }
    for (const s of core.servers) {
      const srv = s.level.srv[coreIndex] as CoreSrvConf;
      for (const l of srv.listens) {
        if (!l.ssl) continue;
        const def = seen.get(l.key)!;
        if (!def.tls) cf.error(`no "ssl_certificate" is defined for the "listen ... ssl" directive in ${def.file}:${def.line}`);
      }
    }
  },
};
