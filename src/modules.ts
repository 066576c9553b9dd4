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
import { httpStaticModule } from './http/static-module.js';
import { httpTryFilesModule } from './http/try-files.js';
import { accessModule } from './http/access-module.js';
import { httpVariablesModule } from './http/variables-core.js';
import { rewriteModule } from './http/rewrite-module.js';
import { mapModule } from './http/map-module.js';
import { headersModule } from './http/headers-module.js';
import { limitRateModule } from './http/limit-rate-module.js';
import { realipModule } from './http/realip-module.js';
import { additionModule } from './http/addition-module.js';
import { subFilterModule } from './http/sub-filter-module.js';
import { charsetModule } from './http/charset-module.js';
import { ssiModule } from './http/ssi/ssi-module.js';
import { accessLogModule } from './observability/access-log.js';
import { memcachedModule } from './protocols/memcached/memcached-module.js';
import { fastcgiModule } from './protocols/fastcgi/fastcgi-module.js';

export const builtinModules: Module[] = [
  coreModule,
  httpBlockModule,
  httpCoreModule,
  upstreamModule,
  proxyModule,
  httpIndexModule,
  httpStaticModule,
  httpTryFilesModule,
  accessModule,
  httpVariablesModule,
  rewriteModule,
  mapModule,
  headersModule,
  limitRateModule,
  realipModule,
  // Body filters: their header filters run in this order, and so do the body
  // filters they add (nginx's ... gunzip, addition, sub, charset, ssi, postpone,
  // gzip). gunzip goes before addition; gzip is an encoder, after postpone.
  additionModule,
  subFilterModule,
  charsetModule,
  ssiModule,
  accessLogModule,
  memcachedModule,
  fastcgiModule,
];
