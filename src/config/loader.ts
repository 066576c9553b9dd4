/**
 * Reads a config file and applies it: each directive of the main context (-g
 * first) is handled as it is read, then each core module finishes its conf
 * (ngx_init_cycle's config half). The result holds every module's conf and
 * what the directives registered for the cycle (files, temp paths); nothing is
 * opened or started here (createTempPaths makes the temp directories when a
 * process is about to serve).
 */
import { mkdirSync } from 'node:fs';
import { ConfContext, ConfCycle, ModuleRegistry, type ConfPaths } from './conf-context.js';
import { ConfigError } from './errors.js';
import { errnoText } from '../errno.js';
import { Ctx, type CoreModule, type Module } from './module.js';
import { readConfigFile, readConfigText, type ConfFile, type ConfSource } from './parser.js';

export interface LoadOptions {
  /** The config file (absolute, or relative to the current directory). */
  readonly file: string;
  /** nginx's -p. */
  readonly prefix: string;
  /** nginx's -g: directives prepended to the main context. */
  readonly globals?: string;
  readonly modules: readonly Module[];
  /** Receives each `[warn]` as it is found (nginx logs them while reading); default: dropped. */
  readonly onWarning?: (message: string) => void;
}

export interface LoadedConfig {
  readonly registry: ModuleRegistry;
  readonly paths: ConfPaths;
  /** Every file read, in order (`-T`). */
  readonly files: readonly ConfFile[];
  readonly coreConfs: readonly unknown[];
  /** The root context, for modules that need the registry after loading. */
  readonly cf: ConfContext;
  /** What the directives registered for the cycle: files to open, temp directories to create. */
  readonly cycle: ConfCycle;
}

/** Reads and applies a config file; upstream host names are left for prepareConfig(). */
export function loadConfig(options: LoadOptions): LoadedConfig {
  const source = readConfigFile(options.file, options.globals);
  const loaded = begin(source, options);
  loaded.cf.walk(source.directives);
  finish(loaded);
  return loaded;
}

/** Applies config text that is not in a file (tests, the public API). */
export function loadConfigText(text: string, prefix: string, modules: readonly Module[]): LoadedConfig {
  const source = readConfigText(text, 'inline', prefix);
  const loaded = begin(source, { prefix, modules });
  loaded.cf.walk(source.directives);
  finish(loaded);
  return loaded;
}

/**
 * ngx_init_cycle's config half in nginx's order, for the command line and
 * reloads: every directive (upstream host names resolved as nginx resolves
 * them while reading), then `parsed()` (where `-t` says "syntax is ok"), then
 * the core modules' init_conf. The first error in that order is thrown.
 */
export async function readConfig(options: LoadOptions, parsed?: () => void): Promise<LoadedConfig> {
  const source = readConfigFile(options.file, options.globals);
  const loaded = begin(source, options);
  try {
    loaded.cf.walk(source.directives);
  } catch (err) {
    // What was queued came before this error in the file: nginx would have stopped there first.
    await prepareConfig(loaded);
    throw err;
  }
  await prepareConfig(loaded);
  parsed?.();
  finish(loaded);
  return loaded;
}

function begin(source: ConfSource, options: Pick<LoadOptions, 'prefix' | 'modules' | 'onWarning'>): LoadedConfig {
  const registry = new ModuleRegistry(options.modules);
  const paths: ConfPaths = { prefix: options.prefix, confPrefix: source.confPrefix };
  const coreConfs = registry.core.map((m) => m.createConf());
  const cycle = new ConfCycle(options.onWarning);
  const cf = new ConfContext(registry, paths, coreConfs, Ctx.Main, null, new Map(), cycle);
  return { registry, paths, files: source.files, coreConfs, cf, cycle };
}

function finish(loaded: LoadedConfig): void {
  for (const m of loaded.registry.core) m.initConf?.(loaded.coreConfs[loaded.registry.indexOf(m)], loaded.cf);
}

/**
 * Finishes what loading started asynchronously (host names of upstream servers);
 * throws ConfigError like loading does. Run once before the config is used.
 * The tasks run together; the error thrown is the one queued first, which is
 * the one nginx, resolving as it reads, reports.
 */
export async function prepareConfig(loaded: LoadedConfig): Promise<void> {
  const tasks = loaded.cycle.pendingTasks.splice(0);
  const results = await Promise.allSettled(tasks.map((task) => task()));
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

/**
 * ngx_create_paths: the temp directories the config uses (proxy_temp,
 * client_body_temp, the caches' ...), the last component only, so a missing
 * parent is an error as in nginx. Throws ConfigError without a position.
 */
export function createTempPaths(loaded: LoadedConfig): void {
  for (const dir of loaded.cycle.tempPaths) {
    try {
      mkdirSync(dir, 0o700);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigError(`mkdir() "${dir}" failed (${errnoText(err)})`);
    }
  }
}

export function coreConf<C>(loaded: LoadedConfig, m: CoreModule<C>): C {
  return loaded.coreConfs[loaded.registry.indexOf(m)] as C;
}
