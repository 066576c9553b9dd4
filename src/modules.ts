/**
 * The built-in modules, in nginx's order: core first, then http. A module's
 * position decides the order its confs are created and merged.
 */
import type { Module } from './config/module.js';
import { coreModule } from './process/core-module.js';
import { httpBlockModule, httpCoreModule } from './http/core-module.js';
import { upstreamModule } from './upstream/upstream-module.js';
import { proxyModule } from './protocols/http/proxy-module.js';
import { httpIndexModule } from './http/index-module.js';
import { autoindexModule } from './http/autoindex-module.js';
import { httpStaticModule } from './http/static-module.js';
import { httpTryFilesModule } from './http/try-files.js';
import { mirrorModule } from './http/mirror-module.js';
import { accessModule } from './http/access-module.js';
import { authBasicModule } from './http/auth-basic-module.js';
import { authRequestModule } from './http/auth-request-module.js';
import { httpVariablesModule } from './http/variables-core.js';
import { rewriteModule } from './http/rewrite-module.js';
import { sslModule } from './http/tls/ssl-module.js';
import { h2Module } from './http/h2/h2-module.js';
import { geoModule } from './http/geo-module.js';
import { mapModule } from './http/map-module.js';
import { splitClientsModule } from './http/split-clients-module.js';
import { secureLinkModule } from './http/secure-link-module.js';
import { useridModule } from './http/userid-module.js';
import { headersModule } from './http/headers-module.js';
import { limitRateModule } from './http/limit-rate-module.js';
import { realipModule } from './http/realip-module.js';
import { additionModule } from './http/addition-module.js';
import { subFilterModule } from './http/sub-filter-module.js';
import { charsetModule } from './http/charset-module.js';
import { ssiModule } from './http/ssi/ssi-module.js';
import { limitReqModule } from './http/limit-req-module.js';
import { limitConnModule } from './http/limit-conn-module.js';
import { stubStatusModule } from './http/stub-status-module.js';
import { gzipCommonModule } from './http/gzip/gzip-ok.js';
import { gzipModule } from './http/gzip/gzip-module.js';
import { gunzipModule } from './http/gzip/gunzip-module.js';
import { gzipStaticModule } from './http/gzip/gzip-static-module.js';
import { accessLogModule } from './http/access-log-module.js';
import { memcachedModule } from './protocols/memcached/memcached-module.js';
import { fastcgiModule } from './protocols/fastcgi/fastcgi-module.js';

export const builtinModules: Module[] = [
  coreModule,
  httpBlockModule,
  httpCoreModule,
  upstreamModule,
  proxyModule,
  httpIndexModule,
  // content handlers run in push order: index, then autoindex, then static (nginx's reverse module order)
  autoindexModule,
  httpStaticModule,
  gzipStaticModule,
  httpTryFilesModule,
  // Precontent: try_files, then mirror (nginx's order, its list run backwards).
  mirrorModule,
  accessModule,
  // Access handlers run in the order pushed: allow/deny, auth_basic, auth_request (nginx runs its list backwards).
  authBasicModule,
  authRequestModule,
  httpVariablesModule,
  rewriteModule,
  sslModule,
  h2Module,
  geoModule,
  mapModule,
  splitClientsModule,
  secureLinkModule,
  headersModule,
  // After headers: its Set-Cookie follows add_header's fields, as nginx's filter chain runs them.
  useridModule,
  limitRateModule,
  realipModule,
  // After realip, limit_req before limit_conn: the order their preaccess handlers
  // run in nginx (it runs a phase's handlers last-registered first).
  limitReqModule,
  limitConnModule,
  stubStatusModule,
  // Body filters: their header filters run in this order, and so do the body
  // filters they add (nginx's gunzip, addition, sub, charset, ssi, postpone,
  // gzip). gzip is an encoder, after postpone.
  gzipCommonModule,
  gunzipModule,
  additionModule,
  subFilterModule,
  charsetModule,
  ssiModule,
  gzipModule,
  accessLogModule,
  memcachedModule,
  fastcgiModule,
];
