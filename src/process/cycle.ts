/**
 * One configuration generation as the process layer sees it (the config half of
 * nginx's ngx_cycle_t): the loaded config, its core conf, and the error log
 * targets with `-e` applied.
 *
 * `-e` works as in nginx (ngx_log_open_default): it is the error log used
 * before the config is read, and the default for a config that has no main
 * `error_log` of its own; a config that names one uses its own.
 */
import { closeSync, openSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { coreConf, loadConfig, prepareConfig, type LoadedConfig } from '../config/loader.js';
import { parseConfigFile } from '../config/parser.js';
import { builtinModules } from '../modules.js';
import type { ErrorLog, ErrorLogTarget } from '../observability/error-log.js';
import { coreModule, type CoreConf } from './core-module.js';
import { errnoText } from './errno.js';

/** Everything needed to load the config again (workers, reloads): nginx's -c, -p, -g, -e. */
export interface CycleOptions {
  /** Absolute path of the main config file. */
  readonly file: string;
  /** Absolute prefix. */
  readonly prefix: string;
  readonly globals?: string;
  /** `-e`: `stderr` or an absolute path. */
  readonly errorLog?: string;
}

export interface Cycle {
  readonly options: CycleOptions;
  readonly loaded: LoadedConfig;
  readonly core: CoreConf;
  readonly errorLog: readonly ErrorLogTarget[];
}

/**
 * Reads and applies the config, then resolves what needs DNS (upstream server
 * names); throws ConfigError as nginx would report it.
 */
export async function loadCycle(options: CycleOptions): Promise<Cycle> {
  const loaded = loadConfig({ file: options.file, prefix: options.prefix, globals: options.globals, modules: builtinModules });
  await prepareConfig(loaded);
  const core = coreConf(loaded, coreModule);
  let errorLog: readonly ErrorLogTarget[] = core.errorLog;
  if (options.errorLog !== undefined && !hasMainErrorLog(options)) {
    errorLog = [{ path: options.errorLog, level: 'error' }];
  }
  return { options, loaded, core, errorLog };
}

/**
 * Whether the main context names an error_log. The core module fills in its
 * default when none is given, so the tree is read again to tell an explicit
 * `error_log logs/error.log;` from the default (config files are small).
 */
function hasMainErrorLog(options: CycleOptions): boolean {
  return parseConfigFile(options.file, options.globals).root.some((n) => n.name === 'error_log');
}

/** Resolves `-e FILE` as nginx does: relative to the prefix; `stderr` stays. */
export function resolveErrorLogOption(value: string, prefix: string): string {
  if (value === 'stderr') return value;
  return isAbsolute(value) ? value : join(prefix, value);
}

/** Opens (creates) every error log file now, so that a bad path fails start-up as nginx's does. */
export function checkErrorLogs(targets: readonly ErrorLogTarget[]): void {
  for (const t of targets) {
    if (t.path === 'stderr') continue;
    try {
      closeSync(openSync(t.path, 'a'));
    } catch (err) {
      throw new ConfigError(`open() "${t.path}" failed (${errnoText(err)})`);
    }
  }
}

/**
 * HUP's first step, shared by the master and single-process mode: re-read and
 * test the config. A failure is logged as nginx does ([emerg], old config kept)
 * and gives null.
 */
export async function reloadCycle(options: CycleOptions, log: ErrorLog): Promise<Cycle | null> {
  log.log('notice', 'reconfiguring');
  try {
    const cycle = await loadCycle(options);
    checkErrorLogs(cycle.errorLog);
    return cycle;
  } catch (err) {
    log.log('emerg', (err as Error).message);
    return null;
  }
}
