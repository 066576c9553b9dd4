/**
 * Reads a config file and applies it: parse (with includes and -g), walk the
 * main context, then let each core module finish its conf (ngx_init_cycle's
 * config half). The result holds every module's conf; nothing is started here.
 */
import { ConfContext, ModuleRegistry, type ConfPaths } from './conf-context.js';
import { Ctx, type CoreModule, type Module } from './module.js';
import { parseConfigFile, parseConfigText, type ConfFile, type ParsedConfig } from './parser.js';

export interface LoadOptions {
  /** The config file (absolute, or relative to the current directory). */
  readonly file: string;
  /** nginx's -p. */
  readonly prefix: string;
  /** nginx's -g: directives prepended to the main context. */
  readonly globals?: string;
  readonly modules: readonly Module[];
}

export interface LoadedConfig {
  readonly registry: ModuleRegistry;
  readonly paths: ConfPaths;
  /** Every file read, in order (`-T`). */
  readonly files: readonly ConfFile[];
  readonly coreConfs: readonly unknown[];
  /** The root context, for modules that need the registry after loading. */
  readonly cf: ConfContext;
}

export function loadConfig(options: LoadOptions): LoadedConfig {
  return apply(parseConfigFile(options.file, options.globals), options.prefix, options.modules);
}

/** Applies config text that is not in a file (tests, the public API). */
export function loadConfigText(text: string, prefix: string, modules: readonly Module[]): LoadedConfig {
  return apply(parseConfigText(text, 'inline', prefix), prefix, modules);
}

function apply(parsed: ParsedConfig, prefix: string, modules: readonly Module[]): LoadedConfig {
  const registry = new ModuleRegistry(modules);
  const paths: ConfPaths = { prefix, confPrefix: parsed.confPrefix };
  const coreConfs = registry.core.map((m) => m.createConf());
  const cf = new ConfContext(registry, paths, coreConfs, Ctx.Main, null, new Map());
  cf.walk(parsed.root);
  for (const m of registry.core) m.initConf?.(coreConfs[registry.indexOf(m)], cf);
  return { registry, paths, files: parsed.files, coreConfs, cf };
}

/**
 * Finishes what loading started asynchronously (host names of upstream servers);
 * throws ConfigError like loading does. Run once before the config is used.
 */
export async function prepareConfig(loaded: LoadedConfig): Promise<void> {
  const tasks = loaded.cf.pendingTasks.splice(0);
  for (const task of tasks) await task();
}

export function coreConf<C>(loaded: LoadedConfig, m: CoreModule<C>): C {
  return loaded.coreConfs[loaded.registry.indexOf(m)] as C;
}
