/**
 * ngx_http_proxy_module's directives and content handler: `proxy_pass` and
 * the request/response settings around it. The per-request work is the
 * Upstream core driving a ProxyProtocol.
 *
 * Directive table (beyond the shared upstream ones in upstream-conf.ts):
 *   proxy_pass URL ................ location, if in location, limit_except
 *   proxy_set_header NAME VALUE ... inherited as a whole list, as nginx
 *   proxy_method, proxy_http_version (default 1.1), proxy_set_body,
 *   proxy_redirect default|off|FROM TO (the rules: proxy-rewrite.ts)
 *   proxy_cookie_domain, proxy_cookie_path, proxy_cookie_flags (cookie-rewrite.ts)
 *
 *   proxy_pass https://... and proxy_ssl_* (proxy-ssl.ts; the handshake is the core's connect)
 *
 * The cache (proxy_cache_path, proxy_cache*: src/http/cache/) hooks into the
 * upstream core through its cache port; when the response may be stored,
 * the client's conditional and Range fields are not passed (the whole
 * response is what is stored), as nginx's ngx_http_proxy_cache_headers; a
 * request the cache will not store (min_uses not reached, a range past
 * proxy_cache_max_range_offset) passes them.
 *
 * Not supported yet (an [emerg] "unknown directive", never ignored):
 *   proxy_store*.
 */
import type { ConfContext } from '../../config/conf-context.js';
import { Ctx, HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../../config/module.js';
import { inherit } from '../../config/slots.js';
import { httpCoreModule, type ContentHandler, type CoreLocConf } from '../../http/core-module.js';
import { readRequestBody } from '../../http/body.js';
import type { HttpRequest } from '../../http/request.js';
import { ComplexValue, type VariableRegistry } from '../../http/variables.js';
import { toByteString } from '../../http/uri.js';
import { finalize } from '../../http/phases.js';
import { setCookieValue } from '../../http/variables-core.js';
import { mergeUpstreamConf, upstreamDirectives, type UpstreamLocConf } from '../../upstream/upstream-conf.js';
import {
  addUpstreamReference, splitAddress, upstreamModule, type UpstreamGroup, type UpstreamMainConf,
} from '../../upstream/upstream-module.js';
import { resolveUpstream } from '../resolved-upstream.js';
import { upstreamFor } from '../../http/upstream-client.js';
import { PoolKeys } from '../../keepalive/session.js';
import type { CookieFlagsRule } from './cookie-rewrite.js';
import { compileConfRegex } from '../../http/conf-regex.js';
import { compileRewriteRule, compileValue, type RewriteRule } from './proxy-rewrite.js';
import { compileIn, mergeProxySsl, proxySslDirectives, type ProxySslConf } from './proxy-ssl.js';
import { ProxyTlsTry } from './proxy-ssl-try.js';
import { cacheDirectives, mergeCacheConf, type CacheLocConf, type CacheProtocol } from '../../http/cache/cache-conf.js';
import { defineCacheVariables } from '../../http/cache/cache-variables.js';
import { HttpCache } from '../../http/cache/http-cache.js';
import { lastUpstreamHead, lastUpstreamTrailer, ProxyProtocol, upstreamField, replacePrefix, unchangedUri, type ProxyHeaders, type ProxyRequestTemplate } from './proxy-protocol.js';

interface ProxyPass {
  /** The URL as written (proxy_redirect default's FROM). */
  readonly text: string;
  /** Static target: the group; null when the URL has variables. */
  readonly group: UpstreamGroup | null;
  /** The URL with variables, evaluated per request. */
  readonly url: ComplexValue | null;
  /** The URI part of a static URL (null: none given). */
  readonly uri: string | null;
  /** $proxy_host and $proxy_port. */
  readonly host: string;
  readonly port: string;
  /** https:// (static URLs; a URL with variables says per request). */
  readonly ssl: boolean;
  /** The URL's host as the upstream names it: proxy_ssl_name's default (nginx's uscf->host). */
  readonly sslHost: string;
  /** The location's name, for prefix replacement. */
  readonly locationName: string;
  readonly locationIsRegex: boolean;
  /** The http block's upstreams, where an evaluated URL's host is looked for. */
  readonly ups: UpstreamMainConf;
}

export interface ProxyLocConf {
  readonly upstream: UpstreamLocConf;
  readonly ssl: ProxySslConf;
  readonly cache: CacheLocConf;
  pass?: ProxyPass;
  setHeaders?: Array<[string, ComplexValue]>;
  method?: ComplexValue | null;
  httpVersion?: '1.0' | '1.1';
  setBody?: ComplexValue | null;
  /** false: `proxy_redirect off` (nginx's plcf->redirect). */
  redirect?: boolean;
  /** The rules (nginx's plcf->redirects); after merging, null: nothing to rewrite. */
  redirects?: RewriteRule[] | null;
  /** null: `off` (or unset at every level). */
  cookieDomain?: RewriteRule[] | null;
  cookiePath?: RewriteRule[] | null;
  cookieFlags?: CookieFlagsRule[] | null;
  /** Compiled at postconfiguration. */
  template?: ProxyRequestTemplate;
  /** This location's keep-alive pool scope (`keepalive ... local`). */
  poolKeys?: PoolKeys;
  /** The same for https: connections of one TLS context only. */
  tlsPoolKeys?: PoolKeys;
}

const DEFAULT_HIDE = ['date', 'server', 'x-pad', 'x-accel-expires', 'x-accel-redirect', 'x-accel-limit-rate', 'x-accel-buffering', 'x-accel-charset'];
const CACHE_SKIP_CLIENT = ['if-modified-since', 'if-unmodified-since', 'if-none-match', 'if-match', 'range', 'if-range'];
const ALWAYS_SKIP_CLIENT = ['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade', 'expect', 'transfer-encoding', 'content-length', 'trailer'];

function vars(cf: ConfContext): VariableRegistry {
  return cf.main(httpCoreModule).variables;
}

function loc(cf: ConfContext): ProxyLocConf {
  return cf.loc(proxyModule);
}

const PROXY_CACHE: CacheProtocol = { prefix: 'proxy_', convertHead: true };

const kProxyPass = Symbol('weir.proxyPass');
type WithPass = HttpRequest & { [kProxyPass]?: ProxyPass; [kDynamicHost]?: string; [kDynamicSsl]?: boolean };

const proxyHandler: ContentHandler = {
  name: 'proxy',
  handle(r: HttpRequest): void {
    const conf = r.loc.loc[proxyIndex] as ProxyLocConf;
    const pass = conf.pass!;
    (r as WithPass)[kProxyPass] = pass;
    if (pass.group === null) {
      resolveDynamic(r, pass, (resolved) => {
        if (typeof resolved === 'number') finalize(r, resolved);
        else proxy(r, conf, resolved.group, resolved.uri, (r as WithPass)[kDynamicSsl] ? resolved.host : null);
      });
      return;
    }
    let uri: string;
    // A subrequest's location part is replaced unless a rewrite changed its URI (nginx's valid_location).
    const changed = r.parent !== null ? r.uri !== r.originalUri : r.uriChangedByRewrite();
    if (pass.uri !== null && !pass.locationIsRegex && !changed) {
      uri = replacePrefix(r, pass.locationName, pass.uri);
    } else {
      uri = unchangedUri(r);
    }
    proxy(r, conf, pass.group, uri, pass.ssl ? pass.sslHost : null);
  },
};

/** Starts the upstream for a request whose target is known. */
function proxy(r: HttpRequest, conf: ProxyLocConf, group: UpstreamGroup, uri: string, sslHost: string | null): void {
  const target: { uri: string; method?: string } = { uri };
  const protocol = new ProxyProtocol(r, conf.template!, target, conf.upstream.bufferSize!);
  const u = upstreamFor(r, conf.upstream, group, protocol, sslHost !== null ? conf.tlsPoolKeys! : conf.poolKeys!);
  if (sslHost !== null) u.tls = new ProxyTlsTry(r, conf.ssl, sslHost);
  if (conf.cache.zone !== null) {
    u.cache = new HttpCache(r, {
      conf: conf.cache, tempPath: conf.upstream.tempPath!,
      convertHead: () => { target.method = 'GET'; },
    });
  }
  const hasBody = conf.upstream.passRequestBody && (r.contentLength > 0 || r.chunked) && conf.setBody === null;
  if (hasBody && !conf.upstream.requestBuffering && (r.contentLength >= 0 || conf.httpVersion === '1.1')) {
    u.start(true, r.contentLength < 0);
    return;
  }
  if (hasBody) {
    readRequestBody(r, (status) => {
      if (status !== 0) { finalize(r, status); return; }
      u.start();
    });
    return;
  }
  u.start();
}

/**
 * proxy_pass with variables: the URL evaluated for this request, its host
 * found as resolved-upstream.ts says.
 */
function resolveDynamic(r: HttpRequest, pass: ProxyPass, done: (result: { group: UpstreamGroup; uri: string; host: string } | number) => void): void {
  const url = pass.url!.evaluate(r);
  const ssl = /^https:\/\//i.test(url);
  if (!ssl && !/^http:\/\//i.test(url)) {
    r.log('error', `invalid URL prefix in "${url}"`);
    done(500);
    return;
  }
  const { hostPart: hostPort, uri: given } = splitUrlRest(url.slice(ssl ? 8 : 7));
  const uri = given === null || given === '' ? unchangedUri(r) : given;
  (r as WithPass)[kDynamicHost] = hostPort;
  (r as WithPass)[kDynamicSsl] = ssl;
  const addr = splitAddress(hostPort, ssl ? 443 : 80);
  if (typeof addr === 'string' || addr.path === '') {
    r.log('error', `invalid host in "${url}"`);
    done(502);
    return;
  }
  const host = addr.path !== undefined ? 'localhost' : addr.host;
  resolveUpstream(r, pass.ups, hostPort, addr, (group) => done(typeof group === 'number' ? group : { group, uri, host }));
}

const kDynamicHost = Symbol('weir.proxyDynamicHost');
const kDynamicSsl = Symbol('weir.proxyDynamicSsl');

/** $proxy_host: from the static URL, or the one evaluated for this request. */
function proxyHost(r: HttpRequest): string | undefined {
  const pass = (r as WithPass)[kProxyPass];
  if (!pass) return undefined;
  if (pass.group !== null) return pass.host;
  const hp = (r as WithPass)[kDynamicHost];
  if (hp === undefined) return undefined;
  if (hp.startsWith('unix:')) return 'localhost';
  const defaultPort = (r as WithPass)[kDynamicSsl] ? ':443' : ':80';
  return hp.endsWith(defaultPort) ? hp.slice(0, -defaultPort.length) : hp;
}

function proxyPort(r: HttpRequest): string | undefined {
  const pass = (r as WithPass)[kProxyPass];
  if (!pass) return undefined;
  if (pass.group !== null) return pass.port;
  const hp = (r as WithPass)[kDynamicHost];
  if (hp === undefined) return undefined;
  if (hp.startsWith('unix:')) return '';
  const colon = hp.lastIndexOf(':');
  return colon > hp.lastIndexOf(']') && colon !== -1 ? hp.slice(colon + 1) : (r as WithPass)[kDynamicSsl] ? '443' : '80';
}

/** The client's X-Forwarded-For, unless the client declared it hop-by-hop (R29). */
function clientForwardedFor(r: HttpRequest): string | undefined {
  const xff = r.req.headers['x-forwarded-for'];
  if (xff === undefined) return undefined;
  const connection = r.req.headers.connection;
  if (connection && connection.toLowerCase().split(',').some((t) => t.trim() === 'x-forwarded-for')) return undefined;
  return Array.isArray(xff) ? xff.join(', ') : xff;
}


let proxyIndex = -1;
let locationSerial = 0;

/**
 * What follows `http://`: the host part and the URI (null when there is none),
 * as ngx_parse_url splits them: the host ends at `/` or `?`, a unix socket's
 * path at the next `:` (`unix:/tmp/s:/uri`).
 */
function splitUrlRest(rest: string): { hostPart: string; uri: string | null } {
  if (rest.startsWith('unix:')) {
    const colon = rest.indexOf(':', 5);
    return colon === -1 ? { hostPart: rest, uri: null } : { hostPart: rest.slice(0, colon), uri: rest.slice(colon + 1) };
  }
  const end = rest.search(/[/?]/);
  return end === -1 ? { hostPart: rest, uri: null } : { hostPart: rest.slice(0, end), uri: rest.slice(end) };
}

function parseProxyPass(cf: ConfContext, text: string): ProxyPass {
  const core = cf.loc(httpCoreModule) as CoreLocConf;
  const entry = core.entry;
  const locationName = entry?.name ?? '';
  const inIf = cf.ctx === Ctx.LocationIf;
  const locationIsRegex = entry?.modifier === '~' || entry?.modifier === '~*' || entry?.modifier === '@' || inIf;
  if (text.includes('$')) {
    return {
      text, group: null, url: vars(cf).compile(text, cf.position), uri: null, host: '', port: '', ssl: false, sslHost: '', locationName, locationIsRegex,
      ups: cf.main(upstreamModule),
    };
  }
  let rest: string;
  const ssl = /^https:\/\//i.test(text);
  if (/^http:\/\//i.test(text)) rest = text.slice(7);
  else if (ssl) rest = text.slice(8);
  else return cf.error(`invalid URL prefix in "${text}"`);
  const defaultPort = ssl ? 443 : 80;
  const { hostPart, uri } = splitUrlRest(rest);
  if (uri !== null && locationIsRegex) {
    return cf.error(`"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block`);
  }
  const addr = splitAddress(hostPart, 0);
  if (typeof addr === 'string') return cf.error(addr.replace('upstream', `"${text}"`));
  const group = addUpstreamReference(cf, addr.host, addr.port, defaultPort, addr.path);
  const port = addr.path !== undefined ? '' : String(addr.port || defaultPort);
  // As the URL names it (an IPv6 literal keeps its brackets), with a port other than the scheme's.
  const name = hostPart.startsWith('[') ? `[${addr.host}]` : addr.host;
  const host = addr.path !== undefined ? 'localhost' : addr.port && addr.port !== defaultPort ? `${name}:${addr.port}` : name;
  const sslHost = addr.path !== undefined ? 'localhost' : name;
  return { text, group, url: null, uri, host, port, ssl, sslHost, locationName, locationIsRegex, ups: cf.main(upstreamModule) };
}

/**
 * proxy_cookie_domain and proxy_cookie_path: `off` (only as the level's one
 * setting) or FROM TO rules in order.
 */
function cookieRuleDirective(name: string, key: 'cookieDomain' | 'cookiePath'): DirectiveSpec {
  return {
    name, contexts: HTTP_MAIN_SRV_LOC, args: [1, 2],
    set(cf, d) {
      const c = loc(cf);
      if (c[key] === null) return cf.duplicate();
      if (d.args.length === 1) {
        if (d.args[0] !== 'off') return cf.error(`invalid parameter "${d.args[0]}"`);
        if (c[key] !== undefined) return cf.duplicate();
        c[key] = null;
        return;
      }
      (c[key] ??= []).push(compileRewriteRule(cf, vars(cf), d.args[0], d.args[1], key === 'cookieDomain'));
    },
  };
}

/**
 * proxy_redirect's implicit or explicit `default`: the proxy_pass URL (with
 * "/" when it has no URI part) becomes the location's name (or "/").
 */
function defaultRedirect(pass: ProxyPass): RewriteRule {
  // Constant strings, not compiled: a `$` in a location's name is literal here.
  const constant = (text: string): ComplexValue => new ComplexValue(text, [toByteString(text)], []);
  const withUri = pass.uri !== null && pass.uri !== '';
  return {
    kind: 'prefix',
    pattern: constant(withUri ? pass.text : `${pass.text}/`),
    replacement: constant(withUri ? pass.locationName : '/'),
  };
}

const directives: DirectiveSpec[] = [
  ...upstreamDirectives('proxy_', (cf) => loc(cf).upstream),
  ...proxySslDirectives((cf) => loc(cf).ssl, compileIn),
  ...cacheDirectives(PROXY_CACHE, (cf) => loc(cf).cache),
  {
    name: 'proxy_pass', contexts: Ctx.Location | Ctx.LocationIf | Ctx.LimitExcept, args: [1, 1],
    set(cf, d) {
      const c = loc(cf);
      const core = cf.loc(httpCoreModule) as CoreLocConf;
      if (c.pass || core.handler) return cf.duplicate();
      c.pass = parseProxyPass(cf, d.args[0]);
      core.handler = proxyHandler;
    },
  },
  {
    name: 'proxy_set_header', contexts: HTTP_MAIN_SRV_LOC, args: [2, 2],
    set(cf, d) { (loc(cf).setHeaders ??= []).push([d.args[0], vars(cf).compile(d.args[1], cf.position)]); },
  },
  {
    name: 'proxy_method', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) { if (loc(cf).method) return cf.duplicate(); loc(cf).method = vars(cf).compile(d.args[0], cf.position); },
  },
  {
    name: 'proxy_http_version', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) {
      const v = d.args[0];
      if (v !== '1.0' && v !== '1.1') return cf.invalid(`invalid value "${v}"`);
      if (loc(cf).httpVersion) return cf.duplicate();
      loc(cf).httpVersion = v;
    },
  },
  {
    name: 'proxy_set_body', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) { if (loc(cf).setBody) return cf.duplicate(); loc(cf).setBody = vars(cf).compile(d.args[0], cf.position); },
  },
  {
    name: 'proxy_redirect', contexts: HTTP_MAIN_SRV_LOC, args: [1, 2],
    set(cf, d) {
      const c = loc(cf);
      if (c.redirect === false) return cf.duplicate();
      c.redirect = true;
      const [from, to] = d.args;
      if (d.args.length === 1) {
        if (from === 'off') {
          if (c.redirects) return cf.duplicate();
          c.redirect = false;
          return;
        }
        if (from !== 'default') return cf.error(`invalid parameter "${from}"`);
        // The level's own proxy_pass, as nginx reads plcf->url before any merge.
        if (c.pass?.group === null) {
          return cf.error('"proxy_redirect default" cannot be used with "proxy_pass" directive with variables');
        }
        if (!c.pass) return cf.error('"proxy_redirect default" should be placed after the "proxy_pass" directive');
        (c.redirects ??= []).push(defaultRedirect(c.pass));
        return;
      }
      (c.redirects ??= []).push(compileRewriteRule(cf, vars(cf), from, to, false));
    },
  },
  cookieRuleDirective('proxy_cookie_domain', 'cookieDomain'),
  cookieRuleDirective('proxy_cookie_path', 'cookiePath'),
  {
    name: 'proxy_cookie_flags', contexts: HTTP_MAIN_SRV_LOC, args: [1, 4],
    set(cf, d) {
      const c = loc(cf);
      if (c.cookieFlags === null) return cf.duplicate();
      const [name, ...flags] = d.args;
      if (flags.length === 0) {
        if (name !== 'off') return cf.error(`invalid parameter "${name}"`);
        if (c.cookieFlags !== undefined) return cf.duplicate();
        c.cookieFlags = null;
        return;
      }
      // `~` makes a caseless regex of the rest (a `*` after it is the regex's, as in nginx).
      const cookie = name.startsWith('~') ? compileConfRegex(cf, vars(cf), name.slice(1), true) : compileValue(cf, vars(cf), name);
      (c.cookieFlags ??= []).push({ cookie, flags: flags.map((f) => compileValue(cf, vars(cf), f)) });
    },
  },
  { name: 'proxy_headers_hash_max_size', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: () => {} },
  { name: 'proxy_headers_hash_bucket_size', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: () => {} },
];

export const proxyModule: HttpModule<undefined, undefined, ProxyLocConf> = {
  kind: 'http',
  name: 'http_proxy',
  directives,
  createLoc: () => ({ upstream: {}, ssl: {}, cache: {} }),
  initMain(_main, cf) {
    const v = vars(cf);
    proxyHostValue.set(v, v.compile('$proxy_host'));
    v.define('proxy_host', proxyHost);
    v.define('proxy_port', proxyPort);
    defineCacheVariables(v);
    cacheKeyValue.set(v, v.compile('$scheme$proxy_host$request_uri'));
    revalidationValues.set(v, [v.compile('$upstream_cache_last_modified'), v.compile('$upstream_cache_etag')]);
    v.define('proxy_add_x_forwarded_for', (r) => {
      const xff = clientForwardedFor(r);
      return xff ? `${xff}, ${r.remoteAddress}` : r.remoteAddress;
    });
    v.definePrefix('upstream_http_', (r, name) => {
      const head = lastUpstreamHead(r);
      if (!head) return undefined;
      return upstreamField(head, name.toLowerCase().replace(/_/g, '-'));
    });
    v.definePrefix('upstream_trailer_', (r, name) => lastUpstreamTrailer(r, name.toLowerCase().replace(/_/g, '-')));
    v.definePrefix('upstream_cookie_', (r, name) => {
      const head = lastUpstreamHead(r);
      if (!head) return undefined;
      for (let i = 0; i < head.lowerNames.length; i++) {
        if (head.lowerNames[i] !== 'set-cookie') continue;
        const v0 = setCookieValue(head.values[i], name);
        if (v0 !== undefined) return v0;
      }
      return undefined;
    });
  },
  mergeLoc(p, c, cf) {
    mergeUpstreamConf(p.upstream, c.upstream, cf.fullPath('proxy_temp'));
    mergeCacheConf(cf, PROXY_CACHE, p.cache, c.cache, cacheKeyValue.get(vars(cf))!);
    // ngx_conf_merge_path_value: the default is registered with the cycle once a level needs it.
    if (c.upstream.tempPath) cf.cycle.addTempPath(c.upstream.tempPath);
    // `if` blocks proxy with their location's proxy_pass (nginx merges it into "noname" levels).
    // Harmless for nested locations: only a level whose handler is proxy's uses it.
    const ownPass = c.pass;
    if (c.pass === undefined) c.pass = p.pass;
    // The context is built where https may be used: a static https URL or one with variables.
    mergeProxySsl(p.ssl, c.ssl, cf, c.pass !== undefined && (c.pass.ssl || c.pass.group === null));
    inherit(c, p, 'setHeaders', []);
    if (c.method === undefined) c.method = p.method ?? null;
    inherit(c, p, 'httpVersion', '1.1');
    if (c.setBody === undefined) c.setBody = p.setBody ?? null;
    // ngx_conf_merge_value(redirect, 1); the rules are the level's own, else
    // inherited, else the default for the level's own static proxy_pass.
    c.redirect ??= p.redirect ?? true;
    if (!c.redirect) c.redirects = null;
    else c.redirects ??= p.redirects ?? (ownPass?.group ? [defaultRedirect(ownPass)] : null);
    if (c.cookieDomain === undefined) c.cookieDomain = p.cookieDomain ?? null;
    if (c.cookiePath === undefined) c.cookiePath = p.cookiePath ?? null;
    if (c.cookieFlags === undefined) c.cookieFlags = p.cookieFlags ?? null;
  },
  postConfiguration(cf) {
    proxyIndex = cf.registry.indexOf(proxyModule);
    const main = cf.main(httpCoreModule);
    const visit = (level: import('../../config/module.js').HttpConfLevel): void => {
      const c = level.loc[proxyIndex] as ProxyLocConf;
      c.template = compileTemplate(cf, c);
      const tag = `proxy:${++locationSerial}`;
      c.poolKeys = new PoolKeys({ tag, tls: '' });
      c.tlsPoolKeys = new PoolKeys({ tag, tls: c.ssl.holder?.id ?? 'ssl' });
      const core = level.loc[cf.registry.indexOf(httpCoreModule)] as CoreLocConf;
      for (const nested of core.nestedLevels) visit(nested);
    };
    for (const server of main.servers) {
      visit(server.level);
      const walk = (entries: typeof server.locations): void => {
        for (const e of entries) { visit(e.level); walk(e.children); }
      };
      walk(server.locations);
    }
  },
};

/** `$proxy_host`, compiled once per http block (before variables are resolved). */
const proxyHostValue = new WeakMap<VariableRegistry, ComplexValue>();
/** proxy_cache_key's default, compiled once per http block. */
const cacheKeyValue = new WeakMap<VariableRegistry, ComplexValue>();
/** What a revalidation sends (If-Modified-Since, If-None-Match), compiled once per http block. */
const revalidationValues = new WeakMap<VariableRegistry, [ComplexValue, ComplexValue]>();
function hostValue(cf: ConfContext): ComplexValue {
  return proxyHostValue.get(vars(cf))!;
}

/** Fields set (in order), and the client's fields that may not pass: those, hop-by-hop ones and `skip`. */
function proxyHeaders(set: Array<readonly [string, ComplexValue]>, skip: readonly string[]): ProxyHeaders {
  const skipClient = new Set(ALWAYS_SKIP_CLIENT);
  for (const h of skip) skipClient.add(h);
  for (const [name] of set) skipClient.add(name.toLowerCase());
  skipClient.add('host');
  return { set, skipClient };
}

function compileTemplate(cf: ConfContext, c: ProxyLocConf): ProxyRequestTemplate {
  // nginx's defaults (ngx_http_proxy_headers) apply under whatever the user set.
  const setHeaders = c.setHeaders!.slice();
  if (!setHeaders.some(([n]) => n.toLowerCase() === 'host')) setHeaders.unshift(['Host', hostValue(cf)]);
  const headers = proxyHeaders(setHeaders, []);
  let cacheHeaders: ProxyHeaders | null = null;
  if (c.cache.zone !== null) {
    // ngx_http_proxy_cache_headers: what is stored is the whole response, so
    // the client's conditions and ranges stay here; a revalidation asks its own.
    const cacheSet = setHeaders.slice();
    const own = (name: string): boolean => setHeaders.some(([n]) => n.toLowerCase() === name);
    const [lastModified, etag] = revalidationValues.get(vars(cf))!;
    if (!own('if-modified-since')) cacheSet.push(['If-Modified-Since', lastModified]);
    if (!own('if-none-match')) cacheSet.push(['If-None-Match', etag]);
    cacheHeaders = proxyHeaders(cacheSet, CACHE_SKIP_CLIENT);
  }
  const hide = new Set(DEFAULT_HIDE);
  for (const h of c.upstream.hideHeaders!) hide.add(h);
  for (const h of c.upstream.passHeaders!) hide.delete(h);
  return {
    method: c.method ?? null,
    httpVersion: c.httpVersion!,
    headers,
    cacheHeaders,
    passRequestHeaders: c.upstream.passRequestHeaders!,
    setBody: c.setBody ?? null,
    hideResponseHeaders: hide,
    passUpgrade: setHeaders.some(([n]) => n.toLowerCase() === 'upgrade'),
    setsConnection: setHeaders.some(([n]) => n.toLowerCase() === 'connection'),
    redirects: c.redirects ?? null,
    cookies: c.cookieDomain || c.cookiePath || c.cookieFlags
      ? { domain: c.cookieDomain ?? null, path: c.cookiePath ?? null, flags: c.cookieFlags ?? null }
      : null,
  };
}

