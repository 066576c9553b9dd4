/**
 * One configuration generation as the process layer sees it (the config half of
 * nginx's ngx_cycle_t): the loaded config, its core conf, and the error log
 * targets with `-e` applied.
 *
 * `-e` works as in nginx (ngx_log_open_default): it is the error log used
 * before the config is read, and the default for a config that has no main
 * `error_log` of its own; a config that names one uses its own.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { coreConf, createTempPaths, readConfig, type LoadedConfig } from '../config/loader.js';
import type { Module } from '../config/module.js';
import type { ErrorLog, ErrorLogTarget } from '../observability/error-log.js';
import { coreModule, type CoreConf } from './core-module.js';
import { errnoText } from '../errno.js';

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
  /** The modules the config was read with (the entry point's list), for a reload to read it again. */
  readonly modules: readonly Module[];
  readonly loaded: LoadedConfig;
  readonly core: CoreConf;
  readonly errorLog: readonly ErrorLogTarget[];
}

export interface CycleHooks {
  /** Once every directive is read, before the core modules finish: where `-t` says "syntax is ok". */
  readonly parsed?: () => void;
  /** Each `[warn]` found while reading, as nginx logs it then (message with ` in file:line`). */
  readonly warning?: (message: string) => void;
}

/**
 * Reads and applies the config, upstream host names resolved, in nginx's
 * order (see readConfig); throws ConfigError as nginx would report it.
 * Nothing is opened or created: that is prepareCycle(), which the process
 * reading the config for the cycle runs (workers read it again without).
 */
export async function loadCycle(options: CycleOptions, modules: readonly Module[], hooks: CycleHooks = {}): Promise<Cycle> {
  const loaded = await readConfig(
    { file: options.file, prefix: options.prefix, globals: options.globals, modules, onWarning: hooks.warning },
    hooks.parsed,
  );
  const core = coreConf(loaded, coreModule);
  let errorLog: readonly ErrorLogTarget[] = core.errorLog;
  if (options.errorLog !== undefined && core.errorLogDefault) {
    // `-e` replaces the default file (the last target), not the syslog ones before it.
    errorLog = [...core.errorLog.slice(0, -1), { path: options.errorLog, level: 'error' }];
  }
  return { options, modules, loaded, core, errorLog };
}

/** Resolves `-e FILE` as nginx does: relative to the prefix; `stderr` stays. */
export function resolveErrorLogOption(value: string, prefix: string): string {
  if (value === 'stderr') return value;
  return isAbsolute(value) ? value : join(prefix, value);
}

/**
 * What ngx_init_cycle does with a config once it is read, in its order:
 * under `-t`, open (create) the pid file as ngx_create_pidfile does then;
 * create the temp directories (the last component only: a missing parent
 * fails, ngx_create_paths); then open (create) every log file for append,
 * the default error log (or `-e`) last when the config names none
 * (ngx_log_open_default). The first failure is thrown, without a position.
 *
 * The real pid file is written later by the master (see pid-file.ts); under
 * `-t`, testHttpListeners() comes next, as nginx opens the listening sockets.
 */
export function prepareCycle(cycle: Cycle, test: boolean): void {
  const pid = cycle.core.pid;
  // `pid off` (weir's): no file to test.
  if (test && pid) touch(pid, constants.O_RDWR | constants.O_CREAT);
  createTempPaths(cycle.loaded);
  const files = [...cycle.loaded.cycle.openFiles];
  if (cycle.core.errorLogDefault) {
    for (const t of cycle.errorLog) if (t.path !== 'stderr' && t.syslog === undefined && !files.includes(t.path)) files.push(t.path);
  }
  for (const file of files) touch(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT);
}

/** open(2) with `flags` (creating the file, mode 0644 before umask) and close: nginx's check that it can be opened. */
function touch(path: string, flags: number): void {
  try {
    closeSync(openSync(path, flags, 0o644));
  } catch (err) {
    throw new ConfigError(`open() "${path}" failed (${errnoText(err)})`);
  }
}

/**
 * HUP's first step, shared by the master and single-process mode: re-read and
 * test the config. A failure is logged as nginx does ([emerg], old config kept)
 * and gives null.
 */
export async function reloadCycle(current: Cycle, log: ErrorLog): Promise<Cycle | null> {
  log.log('notice', 'reconfiguring');
  try {
    const cycle = await loadCycle(current.options, current.modules, { warning: (message) => log.log('warn', message) });
    prepareCycle(cycle, false);
    return cycle;
  } catch (err) {
    log.log('emerg', (err as Error).message);
    return null;
  }
}
