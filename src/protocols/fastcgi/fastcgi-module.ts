/**
 * ngx_http_fastcgi_module's directives, variables and content handler:
 * `fastcgi_pass` runs the request through a FastCGI application (php-fpm)
 * with the Upstream core driving a FastcgiProtocol.
 *
 * Directive table (beyond the shared upstream ones in upstream-conf.ts,
 * all of which exist with the `fastcgi_` prefix):
 *   fastcgi_pass ADDRESS|UPSTREAM|unix:PATH ... location, if in location; with variables,
 *                                               found per request (resolved-upstream.ts)
 *   fastcgi_param NAME VALUE [if_not_empty] ... a level with any fastcgi_param
 *                                               replaces the parent's whole list
 *   fastcgi_index NAME ........................ appended to $fastcgi_script_name ending in /
 *   fastcgi_split_path_info REGEX ............. two captures: script name, path info
 *   fastcgi_keep_conn on|off (off) ............ KEEP_CONN flag; reuse after END_REQUEST
 *   fastcgi_catch_stderr STRING ............... stderr holding STRING → invalid header
 *   fastcgi_cache_path, fastcgi_cache* ........ the HTTP cache (src/http/cache/), as proxy_cache*
 *                                               but with no default key and no convert_head
 * Variables: $fastcgi_script_name, $fastcgi_path_info.
 *
 * When the response may be stored, the params get nginx's ngx_http_fastcgi_cache_headers: the
 * client's conditions and ranges are not passed (the whole response is what
 * is stored) and a revalidation sends its own If-Modified-Since and
 * If-None-Match.
 *
 * Deliberate differences from nginx:
 *   - fastcgi_store* is not supported ([emerg] unknown directive);
 *   - the regex of fastcgi_split_path_info is a JavaScript RegExp (PCRE
 *     syntax differences apply: see the rewrite module).
 */
import type { ConfContext } from '../../config/conf-context.js';
import { Ctx, HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../../config/module.js';
import { inherit, setFlag } from '../../config/slots.js';
import { readRequestBody } from '../../http/body.js';
import { httpCoreModule, type ContentHandler, type CoreLocConf } from '../../http/core-module.js';
import { finalize } from '../../http/phases.js';
import type { HttpRequest } from '../../http/request.js';
import { mergeUpstreamConf, upstreamDirectives, type UpstreamLocConf } from '../../upstream/upstream-conf.js';
import type { UpstreamGroup } from '../../upstream/upstream-module.js';
import { passTarget, withPassTarget, type PassTarget } from '../resolved-upstream.js';
import { upstreamFor } from '../../http/upstream-client.js';
import { PoolKeys } from '../../keepalive/session.js';
import { FASTCGI_DEFAULT_HIDE, FastcgiProtocol, type FastcgiParams, type FastcgiParamSpec, type FastcgiRequestTemplate } from './fastcgi-protocol.js';
import { compileNginxRegex } from '../../http/pcre.js';
import { cacheDirectives, mergeCacheConf, type CacheLocConf, type CacheProtocol } from '../../http/cache/cache-conf.js';
import { HttpCache } from '../../http/cache/http-cache.js';
import type { VariableRegistry } from '../../http/variables.js';

export interface FastcgiLocConf {
  readonly upstream: UpstreamLocConf;
  readonly cache: CacheLocConf;
  target?: PassTarget;
  params?: FastcgiParamSpec[];
  index?: string;
  splitPathInfo?: RegExp | null;
  keepConn?: boolean;
  catchStderr?: string[];
  /** The location's keep-alive pool scope (`keepalive ... local`). */
  poolKeys?: PoolKeys;
  template?: FastcgiRequestTemplate;
  /** CACHE_PARAMS of this config (set at merge). */
  cacheParams?: readonly FastcgiParamSpec[];
}

function loc(cf: ConfContext): FastcgiLocConf {
  return cf.loc(fastcgiModule);
}

let fastcgiIndex = -1;
let locationSerial = 0;

const FASTCGI_CACHE: CacheProtocol = { prefix: 'fastcgi_', convertHead: false };

/**
 * ngx_http_fastcgi_cache_headers: the params a cache adds unless the level
 * sets them (each only when not empty). Every `HTTP_*` param hides the
 * client header of that name.
 */
const CACHE_PARAMS: ReadonlyArray<readonly [string, string]> = [
  ['HTTP_IF_MODIFIED_SINCE', '$upstream_cache_last_modified'],
  ['HTTP_IF_UNMODIFIED_SINCE', ''],
  ['HTTP_IF_NONE_MATCH', '$upstream_cache_etag'],
  ['HTTP_IF_MATCH', ''],
  ['HTTP_RANGE', ''],
  ['HTTP_IF_RANGE', ''],
];
/** CACHE_PARAMS compiled once per http block. */
const cacheParams = new WeakMap<VariableRegistry, FastcgiParamSpec[]>();

function confOf(r: HttpRequest): FastcgiLocConf {
  return r.loc.loc[fastcgiIndex] as FastcgiLocConf;
}

function fastcgiParams(list: readonly FastcgiParamSpec[]): FastcgiParams {
  const httpNames = new Set<string>();
  for (const p of list) if (p.name.startsWith('HTTP_')) httpNames.add(p.name);
  return { list, httpNames };
}

function template(c: FastcgiLocConf): FastcgiRequestTemplate {
  if (c.template) return c.template;
  let cached: FastcgiParams | null = null;
  if (c.cache.zone !== null) {
    const list = c.params!.slice();
    for (const p of c.cacheParams!) if (!list.some((q) => q.name === p.name)) list.push(p);
    cached = fastcgiParams(list);
  }
  const hide = new Set(FASTCGI_DEFAULT_HIDE);
  for (const h of c.upstream.hideHeaders!) hide.add(h);
  for (const h of c.upstream.passHeaders!) hide.delete(h);
  c.template = {
    params: fastcgiParams(c.params!),
    cacheParams: cached,
    passRequestHeaders: c.upstream.passRequestHeaders!,
    keepConn: c.keepConn!,
    hide,
    catchStderr: c.catchStderr!,
    bufferSize: c.upstream.bufferSize!,
  };
  return c.template;
}

const fastcgiHandler: ContentHandler = {
  name: 'fastcgi',
  handle(r: HttpRequest): void {
    const conf = confOf(r);
    withPassTarget(r, conf.target!, (group) => fastcgi(r, conf, group));
  },
};

/** Starts the upstream once the group is known. */
function fastcgi(r: HttpRequest, conf: FastcgiLocConf, group: UpstreamGroup): void {
  const t = template(conf);
  const u = upstreamFor(r, conf.upstream, group, new FastcgiProtocol(r, t), conf.poolKeys!);
  if (conf.cache.zone !== null) u.cache = new HttpCache(r, { conf: conf.cache, tempPath: conf.upstream.tempPath! });
  const hasBody = conf.upstream.passRequestBody && (r.contentLength > 0 || r.chunked);
  if (!hasBody) { u.start(); return; }
  // FastCGI frames the body itself (STDIN records), so a length is never needed.
  if (!conf.upstream.requestBuffering) { u.start(true); return; }
  readRequestBody(r, (status) => {
    if (status !== 0) { finalize(r, status); return; }
    u.start();
  });
}

/** ngx_http_fastcgi_split: script name and path info of the current URI. */
function split(r: HttpRequest, c: FastcgiLocConf): [string, string] {
  const re = c.splitPathInfo;
  if (!re) return [r.uri, ''];
  const m = re.exec(r.uri);
  if (!m) return [r.uri, ''];
  return [m[1] ?? '', m[2] ?? ''];
}

const directives: DirectiveSpec[] = [
  ...upstreamDirectives('fastcgi_', (cf) => loc(cf).upstream),
  ...cacheDirectives(FASTCGI_CACHE, (cf) => loc(cf).cache),
  {
    name: 'fastcgi_pass', contexts: Ctx.Location | Ctx.LocationIf, args: [1, 1],
    set(cf, d) {
      const c = loc(cf);
      const core = cf.loc(httpCoreModule) as CoreLocConf;
      if (c.target || core.handler) return cf.duplicate();
      const target = passTarget(cf, d.args[0]);
      if (typeof target === 'string') return cf.error(target);
      c.target = target;
      core.handler = fastcgiHandler;
    },
  },
  {
    name: 'fastcgi_param', contexts: HTTP_MAIN_SRV_LOC, args: [2, 3],
    set(cf, d) {
      if (d.args.length === 3 && d.args[2] !== 'if_not_empty') return cf.invalid(`invalid parameter "${d.args[2]}"`);
      const vars = cf.main(httpCoreModule).variables;
      (loc(cf).params ??= []).push({
        name: d.args[0],
        value: vars.compile(d.args[1], cf.position),
        ifNotEmpty: d.args.length === 3,
      });
    },
  },
  {
    name: 'fastcgi_index', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) { if (loc(cf).index !== undefined) return cf.duplicate(); loc(cf).index = d.args[0]; },
  },
  {
    name: 'fastcgi_split_path_info', contexts: Ctx.Location, args: [1, 1],
    set(cf, d) {
      let re: RegExp;
      try { re = compileNginxRegex(d.args[0], false); } catch (err) { return cf.error((err as Error).message); }
      const captures = new RegExp(`${re.source}|`, re.flags).exec('')!.length - 1;
      if (captures !== 2) return cf.error(`pattern "${d.args[0]}" must have 2 captures`);
      loc(cf).splitPathInfo = re;
    },
  },
  { name: 'fastcgi_keep_conn', contexts: HTTP_MAIN_SRV_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, loc(cf), 'keepConn') },
  {
    name: 'fastcgi_catch_stderr', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) { (loc(cf).catchStderr ??= []).push(d.args[0]); },
  },
];

export const fastcgiModule: HttpModule<undefined, undefined, FastcgiLocConf> = {
  kind: 'http',
  name: 'http_fastcgi',
  directives,
  createLoc: () => ({ upstream: {}, cache: {} }),
  initMain(_main, cf) {
    const v = cf.main(httpCoreModule).variables;
    cacheParams.set(v, CACHE_PARAMS.map(([name, value]) => ({ name, value: v.compile(value), ifNotEmpty: true })));
    v.define('fastcgi_script_name', (r) => {
      const c = confOf(r);
      const [script] = split(r, c);
      return c.index && script.endsWith('/') ? script + c.index : script;
    });
    v.define('fastcgi_path_info', (r) => split(r, confOf(r))[1]);
  },
  mergeLoc(p, c, cf) {
    mergeUpstreamConf(p.upstream, c.upstream, cf.fullPath('fastcgi_temp'));
    mergeCacheConf(cf, FASTCGI_CACHE, p.cache, c.cache, null);
    c.cacheParams = cacheParams.get(cf.main(httpCoreModule).variables)!;
    // ngx_conf_merge_path_value: the default is registered with the cycle once a level needs it.
    if (c.upstream.tempPath) cf.cycle.addTempPath(c.upstream.tempPath);
    inherit(c, p, 'params', []);
    inherit(c, p, 'index', '');
    if (c.splitPathInfo === undefined) c.splitPathInfo = p.splitPathInfo ?? null;
    inherit(c, p, 'keepConn', false);
    inherit(c, p, 'catchStderr', []);
    c.poolKeys = new PoolKeys({ tag: `fastcgi:${++locationSerial}`, tls: '' });
  },
  postConfiguration(cf) {
    fastcgiIndex = cf.registry.indexOf(fastcgiModule);
  },
};
