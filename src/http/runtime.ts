/**
 * The HTTP side of a worker: everything the `http { }` block configured,
 * started on the worker's listeners. The process layer (src/process/) calls
 * only this interface.
 */
import type { LoadedConfig } from '../config/loader.js';
import { coreConf } from '../config/loader.js';
import { ErrorLog } from '../observability/error-log.js';
import { httpBlockModule, httpCoreModule, type CoreMainConf } from './core-module.js';
import { upstreamModule, type UpstreamMainConf } from '../upstream/upstream-module.js';
import { upstreamStats, type UpstreamStats } from '../upstream/stats.js';
import { HttpServers } from './server.js';
import { sharedStateReady } from '../zone/shared-client.js';

export interface HttpRuntime {
  /** Binds/listens every `listen` of the config; resolves once all accept connections. */
  start(): Promise<void>;
  /**
   * Stops accepting; graceful: finishes in-flight requests, closes idle keep-alive
   * connections (and sends `Connection: close` on the next response of busy ones);
   * fast: destroys every connection. Resolves when nothing is left open.
   */
  stop(graceful: boolean): Promise<void>;
  /** USR1: reopen access logs. */
  reopenLogs(): void;
  /** Bound addresses, for tests and status. */
  addresses(): string[];
  /** The upstream groups' peers and keep-alive caches, now (upstream/stats.ts). */
  stats(): { readonly upstreams: UpstreamStats[] };
}

/**
 * `-t`'s last check (ngx_open_listening_sockets under test_config): the
 * listening sockets the config asks for can be bound; each is closed again.
 * An address in use is no error. Throws ConfigError in nginx's words.
 */
export async function testHttpListeners(loaded: LoadedConfig): Promise<void> {
  const level = coreConf(loaded, httpBlockModule).level;
  // The server-name warnings were the config's; the worker logs them when it builds its own.
  if (level) await new HttpServers(loaded.registry, level, new ErrorLog([])).testBind();
}

export function createHttpRuntime(loaded: LoadedConfig, log: ErrorLog): HttpRuntime {
  const level = coreConf(loaded, httpBlockModule).level;
  const servers = level ? new HttpServers(loaded.registry, level, log) : null;
  const main = level ? (level.main[loaded.registry.indexOf(httpCoreModule)] as CoreMainConf) : null;
  const groups = level ? (level.main[loaded.registry.indexOf(upstreamModule)] as UpstreamMainConf).groups : new Map<string, never>();
  // The balancers make their peer tables now, as nginx's init_upstream runs at config time, not at a first request.
  for (const g of groups.values()) g.init((lvl, msg) => log.log(lvl, msg));
  return {
    // The sticky sessions the master kept across a reload are here before the first request.
    start: async () => { await sharedStateReady(); await servers?.listen(); },
    stop: async (graceful) => {
      await servers?.stop(graceful);
      if (main) await Promise.all(main.stopHooks.map((h) => h(graceful)));
    },
    reopenLogs: () => { if (main) for (const h of main.reopenHooks) h(); },
    addresses: () => servers?.addresses() ?? [],
    stats: () => ({ upstreams: upstreamStats(groups.values()) }),
  };
}
