/**
 * weir's public TypeScript API.
 *
 * Everything the config can do goes through the same modules the CLI uses:
 * load a config (text or file), prepare it (DNS of upstream servers), start
 * the HTTP runtime. Users extend weir with their own modules (directives, a
 * protocol plugged into the upstream core) and their own balancers, against
 * the typed contracts exported here.
 *
 *   import { startWeir } from 'weir';
 *   const weir = await startWeir({ config: 'events {} http { ... }' });
 *   ...
 *   await weir.stop();
 */
import { createTempPaths, loadConfig, loadConfigText, prepareConfig, type LoadedConfig } from './config/loader.js';
import type { Module } from './config/module.js';
import { createHttpRuntime, type HttpRuntime } from './http/runtime.js';
import { builtinModules } from './modules.js';
import { ErrorLog, type ErrorLogTarget } from './observability/error-log.js';
import type { UpstreamStats } from './upstream/stats.js';

export { WEIR_VERSION } from './version.js';

// Config language and modules.
export { loadConfig, loadConfigText, prepareConfig, readConfig, coreConf, type LoadedConfig, type LoadOptions } from './config/loader.js';
export {
  parseConfigFile, parseConfigText, readConfigFile, readConfigText, type ConfNode, type ConfSource, type ConfTreeNode, type ParsedConfig,
} from './config/parser.js';
export { ConfigError } from './config/errors.js';
export { WeirError, WeirErrorCode, type WeirErrorOptions, type WeirErrorSource } from './errors.js';
export { channels as diagnosticsChannels, type UpstreamEvent } from './observability/diagnostics.js';
export { ConfContext, ConfCycle, dataKey, type DataKey } from './config/conf-context.js';
export { Ctx, type ArgSpec, type CoreModule, type DirectiveSpec, type HttpModule, type HttpConfLevel, type Module } from './config/module.js';
export * as slots from './config/slots.js';
export { parseFlag, parseNumber, parseOffset, parseSize, parseTime } from './config/units.js';
export { builtinModules } from './modules.js';

// The HTTP side.
export { createHttpRuntime, type HttpRuntime } from './http/runtime.js';
export {
  httpCoreModule, PHASE_AGAIN, PHASE_DONE, PHASE_NEXT, PHASE_RELOCATE,
  type ContentHandler, type CoreLocConf, type CoreMainConf, type PhaseHandler,
} from './http/core-module.js';
export { HttpRequest } from './http/request.js';
export { finalize, resumePhases } from './http/phases.js';
export { sendHeader } from './http/header-filter.js';
export { readRequestBody, streamRequestBody, discardRequestBody, type BodySink, type BodyStream } from './http/body.js';
export { ComplexValue, VariableRegistry, type VariableGetter } from './http/variables.js';

// The upstream core and its plug-ins.
export { Upstream, type UpstreamProtocol, type HeaderResult, type UpstreamPeers } from './upstream/upstream.js';
export type { UpstreamClient, ClientBody, ClientBodySink, ClientBodyStream, ClientBodyWriter, UpstreamLogLevel } from './upstream/client.js';
export { HttpUpstreamClient, upstreamFor } from './http/upstream-client.js';
export { UpstreamConnection, type ConnectionOwner } from './peer/connection.js';
export { upstreamDirectives, mergeUpstreamConf, type UpstreamLocConf } from './upstream/upstream-conf.js';
export { upstreamModule, addUpstreamReference, UpstreamGroup } from './upstream/upstream-module.js';
export { FT, NEXT_UPSTREAM_WORDS } from './upstream/failure.js';
export type { PeerStats, PeerStatus, UpstreamStats } from './upstream/stats.js';
export * from './api/balancer.js';
export { KeepaliveCache, type KeepaliveStats } from './keepalive/cache.js';
export { PoolKeys, SHARED_SCOPE, type PoolScope } from './keepalive/session.js';
export { ErrorLog, type ErrorLogTarget, type LogLevel } from './observability/error-log.js';

export interface StartOptions {
  /** Config text (nginx syntax). Exactly one of `config` and `file`. */
  readonly config?: string;
  /** A config file path. */
  readonly file?: string;
  /** nginx's -p: relative paths in the config resolve against it (default: the current directory). */
  readonly prefix?: string;
  /** Modules beyond the built-in ones (yours are appended after them). */
  readonly modules?: readonly Module[];
  /** Where the error log goes (default: stderr at `warn`). */
  readonly errorLog?: readonly ErrorLogTarget[];
}

export interface RunningWeir {
  readonly config: LoadedConfig;
  readonly runtime: HttpRuntime;
  /** The addresses the listeners are bound to. */
  addresses(): string[];
  /** Each upstream's peers (state, active connections, fails) and keep-alive cache counters, now. */
  stats(): { readonly upstreams: UpstreamStats[] };
  /** Graceful by default: in-flight requests finish. */
  stop(graceful?: boolean): Promise<void>;
}

/** Loads a config and serves it in this process (what `weir -g 'master_process off;'` does). */
export async function startWeir(options: StartOptions): Promise<RunningWeir> {
  const prefix = options.prefix ?? process.cwd();
  const modules = [...builtinModules, ...(options.modules ?? [])];
  let config: LoadedConfig;
  if (options.config !== undefined && options.file === undefined) config = loadConfigText(options.config, prefix, modules);
  else if (options.file !== undefined && options.config === undefined) config = loadConfig({ file: options.file, prefix, modules });
  else throw new TypeError('startWeir needs exactly one of `config` and `file`');
  await prepareConfig(config);
  createTempPaths(config);
  const runtime = createHttpRuntime(config, new ErrorLog(options.errorLog ?? [{ path: 'stderr', level: 'warn' }]));
  await runtime.start();
  return {
    config,
    runtime,
    addresses: () => runtime.addresses(),
    stats: () => runtime.stats(),
    stop: (graceful = true) => runtime.stop(graceful),
  };
}
