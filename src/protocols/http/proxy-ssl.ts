/**
 * The proxy_ssl_* directives (ngx_http_proxy_module's TLS half): their
 * slots, nginx's merge (ngx_http_proxy_merge_loc_conf, _merge_ssl,
 * _set_ssl) and the client SecureContext each https location gets.
 *
 *   proxy_ssl_session_reuse on|off (on)      proxy_ssl_protocols (TLSv1.2 TLSv1.3)
 *   proxy_ssl_ciphers (DEFAULT)              proxy_ssl_conf_command NAME VALUE
 *   proxy_ssl_name VALUE (variables)         proxy_ssl_server_name on|off (off)
 *   proxy_ssl_verify on|off (off)            proxy_ssl_verify_depth N (1)
 *   proxy_ssl_trusted_certificate FILE       proxy_ssl_crl FILE
 *   proxy_ssl_certificate / _key FILE | data:PEM | with variables
 *   proxy_ssl_password_file FILE             proxy_ssl_certificate_cache off | max=N [inactive=T] [valid=T]
 *
 * As nginx, a level that sets none of the context's directives (all but
 * proxy_ssl_name and proxy_ssl_server_name) shares its parent's context,
 * so locations under one server make one SecureContext and share its
 * sessions; the context is built only for a level that proxies to https
 * (or to a URL with variables, which may be https).
 *
 * proxy_ssl_conf_command takes only what node:tls has an option for (the
 * same table as ssl_conf_command, contexts.ts); `Certificate`,
 * `PrivateKey` and the rest are an [emerg] naming the reason.
 */
import type { SecureContext, SecureContextOptions } from 'node:tls';
import { isAbsolute, join } from 'node:path';
import type { ConfContext } from '../../config/conf-context.js';
import { HTTP_MAIN_SRV_LOC, type DirectiveSpec } from '../../config/module.js';
import { inherit, setFlag, setNumber } from '../../config/slots.js';
import { parseTime } from '../../config/units.js';
import { httpCoreModule } from '../../http/core-module.js';
import { buildContext, contextOptions, loadPair, protocolMask, Proto, readPasswords, TlsConfigError } from '../../http/tls/contexts.js';
import type { ComplexValue } from '../../http/variables.js';
import type { PeerAddress } from '../../balancer/types.js';

export interface CertCacheSpec {
  readonly max: number;
  /** ms */
  readonly inactive: number;
  /** ms */
  readonly valid: number;
}

/** What the handshakes of the levels sharing it use: built once (nginx's ngx_ssl_t of the level). */
export class UpstreamSslContext {
  /** The context with the static client certificate (if any). */
  context: SecureContext | null = null;
  /** The options, for contexts with a certificate chosen per request. */
  base: SecureContextOptions | null = null;
  /** proxy_ssl_session_reuse: the last session of each peer (nginx keeps it on the peer). */
  readonly sessions = new WeakMap<PeerAddress, Buffer>();
  /** Contexts of certificates with variables (proxy_ssl_certificate_cache). */
  readonly certCache = new Map<string, { context: SecureContext; loaded: number; used: number }>();
  /** Where relative certificate names with variables are found (the config's directory). */
  confPrefix = '';
  /** Keeps keep-alive connections of different contexts apart (PoolScope.tls). */
  readonly id = `ssl:${++contextSerial}`;
}

let contextSerial = 0;

export interface ProxySslConf {
  sessionReuse?: boolean;
  protocols?: number;
  ciphers?: string;
  name?: ComplexValue | null;
  serverName?: boolean;
  verify?: boolean;
  verifyDepth?: number;
  trustedCertificate?: string;
  crl?: string;
  /** null: none ("" or unset). */
  certificate?: ComplexValue | null;
  certificateKey?: ComplexValue | null;
  certificateCache?: CertCacheSpec | null;
  passwords?: string[] | null;
  confCommands?: Array<[string, string]> | null;
  /** The level's context holder, own or its parent's (nginx's preserved conf->upstream.ssl). */
  holder?: UpstreamSslContext;
  /** This level set one of the context's directives. */
  own?: boolean;
}

type Compile = (cf: ConfContext, text: string) => ComplexValue;

/** nginx resolves TLS files against the config's directory (ngx_conf_full_name(..., 1)). */
export function confPath(cf: ConfContext, path: string): string {
  return isAbsolute(path) ? path : join(cf.paths.confPrefix, path);
}

export function proxySslDirectives(get: (cf: ConfContext) => ProxySslConf, compile: Compile): DirectiveSpec[] {
  const own = (cf: ConfContext): ProxySslConf => { const c = get(cf); c.own = true; return c; };
  const str = (name: string, key: 'ciphers' | 'trustedCertificate' | 'crl'): DirectiveSpec => ({
    name, contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) { const c = own(cf); if (c[key] !== undefined) cf.duplicate(); c[key] = d.args[0]!; },
  });
  const value = (name: string, key: 'name' | 'certificate' | 'certificateKey', ctx: boolean): DirectiveSpec => ({
    name, contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) {
      const c = ctx ? own(cf) : get(cf);
      if (c[key] !== undefined) cf.duplicate();
      c[key] = compile(cf, d.args[0]!);
    },
  });
  return [
    { name: 'proxy_ssl_session_reuse', contexts: HTTP_MAIN_SRV_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, own(cf), 'sessionReuse') },
    {
      name: 'proxy_ssl_protocols', contexts: HTTP_MAIN_SRV_LOC, args: [1, Infinity],
      set(cf, d) {
        const c = own(cf);
        if (c.protocols !== undefined) cf.duplicate();
        c.protocols = protocolMask(d.args, (w) => cf.error(`invalid value "${w}"`));
      },
    },
    str('proxy_ssl_ciphers', 'ciphers'),
    value('proxy_ssl_name', 'name', false),
    { name: 'proxy_ssl_server_name', contexts: HTTP_MAIN_SRV_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, get(cf), 'serverName') },
    { name: 'proxy_ssl_verify', contexts: HTTP_MAIN_SRV_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, own(cf), 'verify') },
    { name: 'proxy_ssl_verify_depth', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setNumber(cf, d, own(cf), 'verifyDepth') },
    str('proxy_ssl_trusted_certificate', 'trustedCertificate'),
    str('proxy_ssl_crl', 'crl'),
    value('proxy_ssl_certificate', 'certificate', true),
    value('proxy_ssl_certificate_key', 'certificateKey', true),
    {
      name: 'proxy_ssl_certificate_cache', contexts: HTTP_MAIN_SRV_LOC, args: [1, 3],
      set(cf, d) { const c = get(cf); if (c.certificateCache !== undefined) cf.duplicate(); c.certificateCache = parseCertCache(cf, d.args, 'proxy_ssl_certificate_cache'); },
    },
    {
      name: 'proxy_ssl_password_file', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
      set(cf, d) {
        const c = own(cf);
        if (c.passwords !== undefined) cf.duplicate();
        // Read now, as nginx reads it at the directive (a FIFO is read once).
        try { c.passwords = readPasswords(d.args[0]!, (p) => confPath(cf, p)); } catch (e) {
          if (e instanceof TlsConfigError) cf.error(e.message);
          throw e;
        }
      },
    },
    {
      name: 'proxy_ssl_conf_command', contexts: HTTP_MAIN_SRV_LOC, args: [2, 2],
      set(cf, d) { (own(cf).confCommands ??= []).push([d.args[0]!, d.args[1]!]); },
    },
  ];
}

/** ngx_http_proxy_ssl_certificate_cache's parameters. */
function parseCertCache(cf: ConfContext, args: readonly string[], name: string): CertCacheSpec | null {
  let max = 0;
  let inactive = 10_000;
  let valid = 60_000;
  let off = false;
  for (const a of args) {
    let ok = true;
    if (a.startsWith('max=')) {
      max = /^\d+$/.test(a.slice(4)) ? Number(a.slice(4)) : 0;
      ok = max > 0;
    } else if (a.startsWith('inactive=')) {
      const t = parseTime(a.slice(9), false);
      ok = t !== null;
      if (t !== null) inactive = t;
    } else if (a.startsWith('valid=')) {
      const t = parseTime(a.slice(6), false);
      ok = t !== null;
      if (t !== null) valid = t;
    } else if (a === 'off') {
      off = true;
    } else ok = false;
    if (!ok) cf.error(`invalid parameter "${a}"`);
  }
  if (off) return null;
  if (max === 0) cf.error(`"${name}" must have the "max" parameter`);
  return { max, inactive, valid };
}

/** ngx_http_proxy_merge_loc_conf's TLS part; `ssl`: this level proxies to https (or a URL with variables). */
export function mergeProxySsl(p: ProxySslConf, c: ProxySslConf, cf: ConfContext, ssl: boolean): void {
  // ngx_http_proxy_merge_ssl: a level without its own settings shares its parent's context.
  if (!c.own) c.holder = (p.holder ??= new UpstreamSslContext());
  else c.holder = new UpstreamSslContext();
  inherit(c, p, 'sessionReuse', true);
  inherit(c, p, 'protocols', Proto['TLSv1.2'] | Proto['TLSv1.3']);
  inherit(c, p, 'ciphers', 'DEFAULT');
  if (c.name === undefined) c.name = p.name ?? null;
  inherit(c, p, 'serverName', false);
  inherit(c, p, 'verify', false);
  inherit(c, p, 'verifyDepth', 1);
  inherit(c, p, 'trustedCertificate', '');
  inherit(c, p, 'crl', '');
  if (c.certificate === undefined) c.certificate = p.certificate ?? null;
  if (c.certificateKey === undefined) c.certificateKey = p.certificateKey ?? null;
  if (c.certificateCache === undefined) c.certificateCache = p.certificateCache ?? null;
  if (c.passwords === undefined) c.passwords = p.passwords ?? null;
  if (c.confCommands === undefined) c.confCommands = p.confCommands ?? null;
  if (ssl && c.holder.base === null) buildSsl(c, cf);
}

/** ngx_http_proxy_set_ssl: the level's context, once. */
function buildSsl(c: ProxySslConf, cf: ConfContext): void {
  const holder = c.holder!;
  const cert = c.certificate ?? null;
  const hasCert = cert !== null && cert.source !== '';
  if (hasCert && c.certificateKey === null) {
    cf.error(`no "proxy_ssl_certificate_key" is defined for certificate "${cert.source}"`, null);
  }
  if (c.verify && c.trustedCertificate === '') cf.error('no proxy_ssl_trusted_certificate for proxy_ssl_verify', null);
  const fullPath = (path: string): string => confPath(cf, path);
  holder.confPrefix = cf.paths.confPrefix;
  try {
    const o = contextOptions({
      protocols: c.protocols!, ciphers: c.ciphers!, preferServerCiphers: false, ecdhCurve: 'auto', dhparam: '',
      confCommands: c.confCommands ?? [], sessionTimeout: 300, sessionTickets: true, ticketKeys: null,
      // The trusted CAs and CRLs are loaded only for verification, as nginx does.
      clientCa: '', trustedCa: c.verify ? c.trustedCertificate! : '', crl: c.verify ? c.crl! : '', sessionIdContext: '',
    }, fullPath);
    // Server-side settings contextOptions fills in mean nothing to a client.
    delete o.honorCipherOrder;
    delete o.sessionIdContext;
    delete o.sessionTimeout;
    holder.base = o;
    const key = c.certificateKey ?? null;
    const statik = hasCert && !cert.hasVariables && key !== null && !key.hasVariables;
    holder.context = buildContext(o, statik ? [loadPair(cert.source, key.source, c.passwords ?? null, fullPath)] : []);
  } catch (e) {
    if (e instanceof TlsConfigError) cf.error(e.message.replace('"ssl_protocols"', '"proxy_ssl_protocols"'), null);
    throw e;
  }
}

/** The http block's variable compiler, for the directive table. */
export function compileIn(cf: ConfContext, text: string): ComplexValue {
  return cf.main(httpCoreModule).variables.compile(text, cf.position);
}
