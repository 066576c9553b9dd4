/**
 * ngx_http_memcached_module's directives and content handler: `memcached_pass`
 * sends `get $memcached_key` to a memcached server (or an upstream block) and
 * returns the value as the response body. The per-request work is the
 * Upstream core driving a MemcachedProtocol.
 *
 * Directive table (nginx's list):
 *   memcached_pass ADDRESS|UPSTREAM ........ location, if in location; with variables,
 *                                            found per request (resolved-upstream.ts)
 *   memcached_connect_timeout, memcached_send_timeout, memcached_read_timeout (60s)
 *   memcached_buffer_size (4k), memcached_socket_keepalive
 *   memcached_next_upstream error|timeout|invalid_response|not_found|off
 *     (default error timeout; nginx's words, not proxy's), _tries, _timeout
 *   memcached_gzip_flag FLAG ................ flags & FLAG → Content-Encoding: gzip
 * Variable: $memcached_key (empty until `set`; empty → 500 as nginx).
 *
 * Deliberate differences from nginx:
 *   - memcached_bind is not supported (an [emerg] "unknown directive").
 */
import type { ConfContext } from '../../config/conf-context.js';
import { Ctx, HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../../config/module.js';
import { inherit, setBitmask, setNumber } from '../../config/slots.js';
import { FT } from '../../upstream/failure.js';
import { discardRequestBody } from '../../http/body.js';
import { httpCoreModule, type ContentHandler, type CoreLocConf } from '../../http/core-module.js';
import { finalize } from '../../http/phases.js';
import type { HttpRequest } from '../../http/request.js';
import type { ComplexValue } from '../../http/variables.js';
import { mergeUpstreamConf, upstreamDirectives, type UpstreamLocConf } from '../../upstream/upstream-conf.js';
import { passTarget, withPassTarget, type PassTarget } from '../resolved-upstream.js';
import { upstreamFor } from '../../http/upstream-client.js';
import { PoolKeys } from '../../keepalive/session.js';
import { createGetRequest, MEMCACHED_KEY_NOT_SET } from './codec.js';
import { MemcachedProtocol } from './memcached-protocol.js';

export interface MemcachedLocConf {
  readonly upstream: UpstreamLocConf;
  target?: PassTarget;
  gzipFlag?: number;
  /** `$memcached_key`, compiled once per level that has memcached_pass. */
  key?: ComplexValue;
  /** What the core gets: 404 always intercepted (nginx's intercept_404), no body sent. */
  coreConf?: UpstreamLocConf;
  /** The location's keep-alive pool scope (`keepalive ... local`). */
  poolKeys?: PoolKeys;
}

const NEXT_UPSTREAM_WORDS: Readonly<Record<string, number>> = {
  error: FT.error,
  timeout: FT.timeout,
  invalid_response: FT.invalid_header,
  not_found: FT.http_404,
  off: FT.off,
};

/** The shared upstream directives nginx's memcached module has. */
const SHARED = new Set([
  'connect_timeout', 'send_timeout', 'read_timeout', 'buffer_size', 'socket_keepalive',
  'next_upstream_tries', 'next_upstream_timeout',
].map((n) => `memcached_${n}`));

function loc(cf: ConfContext): MemcachedLocConf {
  return cf.loc(memcachedModule);
}

let memcachedIndex = -1;
let locationSerial = 0;

const memcachedHandler: ContentHandler = {
  name: 'memcached',
  handle(r: HttpRequest): void {
    const conf = r.loc.loc[memcachedIndex] as MemcachedLocConf;
    if (r.method !== 'GET' && r.method !== 'HEAD') { finalize(r, 405); return; }
    discardRequestBody(r);
    const key = conf.key!.evaluate(r);
    if (key === '') {
      r.log('alert', MEMCACHED_KEY_NOT_SET);
      finalize(r, 500);
      return;
    }
    const protocol = new MemcachedProtocol(r, createGetRequest(key), {
      bufferSize: conf.upstream.bufferSize!,
      gzipFlag: conf.gzipFlag!,
    });
    withPassTarget(r, conf.target!, (group) => upstreamFor(r, conf.coreConf!, group, protocol, conf.poolKeys!).start());
  },
};

const directives: DirectiveSpec[] = [
  ...upstreamDirectives('memcached_', (cf) => loc(cf).upstream).filter((d) => SHARED.has(d.name)),
  {
    name: 'memcached_pass', contexts: Ctx.Location | Ctx.LocationIf, args: [1, 1],
    set(cf, d) {
      const c = loc(cf);
      const core = cf.loc(httpCoreModule) as CoreLocConf;
      if (c.target || core.handler) return cf.duplicate();
      const target = passTarget(cf, d.args[0]);
      if (typeof target === 'string') return cf.error(target);
      c.target = target;
      c.key = cf.main(httpCoreModule).variables.compile('$memcached_key', cf.position);
      core.handler = memcachedHandler;
    },
  },
  {
    // nginx's ngx_http_memcached_next_upstream_masks: its own words for the same bits.
    name: 'memcached_next_upstream', contexts: HTTP_MAIN_SRV_LOC, args: [1, Infinity],
    set(cf, d) {
      const c = loc(cf).upstream;
      setBitmask(cf, d, c, 'nextUpstream', NEXT_UPSTREAM_WORDS);
      if (c.nextUpstream! & FT.off) {
        if (d.args.length > 1) cf.error(`invalid value "off" in "${d.name}" directive`);
        c.nextUpstream = FT.off;
      }
    },
  },
  {
    name: 'memcached_gzip_flag', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) { setNumber(cf, d, loc(cf), 'gzipFlag'); },
  },
];

export const memcachedModule: HttpModule<undefined, undefined, MemcachedLocConf> = {
  kind: 'http',
  name: 'http_memcached',
  directives,
  createLoc: () => ({ upstream: {} }),
  initMain(_main, cf) {
    const v = cf.main(httpCoreModule).variables;
    // Empty until `set $memcached_key`; `set` overrides it per request.
    if (!v.has('memcached_key')) v.define('memcached_key', () => undefined);
  },
  mergeLoc(p, c) {
    mergeUpstreamConf(p.upstream, c.upstream);
    inherit(c, p, 'gzipFlag', 0);
    c.poolKeys = new PoolKeys({ tag: `memcached:${++locationSerial}`, tls: '' });
    // Fixed, as nginx's memcached module sets them: a value has no Accept-Ranges, yet its ranges are answered.
    c.coreConf = { ...c.upstream, interceptErrors: true, passRequestBody: false, forceRanges: true };
  },
  postConfiguration(cf) {
    memcachedIndex = cf.registry.indexOf(memcachedModule);
  },
};
