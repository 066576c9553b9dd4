/**
 * The cache's variables (nginx defines them in ngx_http_upstream_module):
 * $upstream_cache_status, and $upstream_cache_last_modified /
 * $upstream_cache_etag, which hold the stored validators only while a
 * request revalidates an expired entry (proxy_cache_revalidate): the proxy
 * sends them as If-Modified-Since and If-None-Match.
 */
import type { VariableRegistry } from '../variables.js';
import { cacheStatusOf, revalidationOf } from './http-cache.js';

const defined = new WeakSet<VariableRegistry>();

export function defineCacheVariables(v: VariableRegistry): void {
  if (defined.has(v)) return;
  defined.add(v);
  v.define('upstream_cache_status', (r) => cacheStatusOf(r));
  v.define('upstream_cache_last_modified', (r) => revalidationOf(r)?.lastModified ?? undefined);
  v.define('upstream_cache_etag', (r) => revalidationOf(r)?.etag ?? undefined);
}
