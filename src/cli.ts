/**
 * The `weir` command: nginx's command line (ngx_get_options, ngx_process_options
 * and main() in src/core/nginx.c).
 *
 *   -?, -h          version and usage
 *   -v, -V          version; -V adds build details and `configure arguments:`
 *   -t, -T          test the config (-T also dumps every file read, to stdout)
 *   -q              no non-error output while testing
 *   -s SIGNAL       stop | quit | reopen | reload, sent to the pid in the pid file
 *   -p PREFIX       prefix (default: the package root, the directory above bin/)
 *   -e FILE|stderr  error log before the config is read, and its default
 *   -c FILE         config (default conf/weir.conf); relative to the prefix
 *   -g DIRECTIVES   directives prepended to the main context
 *
 * As in nginx, flags may be grouped (`-tq`), a value may be attached (`-cFILE`)
 * or follow as the next argument, a relative `-c` is relative to the prefix
 * (ngx_conf_full_name with the prefix, not the working directory), and a
 * relative `-p` is relative to the working directory. Messages go to stderr in
 * nginx's words with `weir:` for `nginx:`.
 *
 * Difference from nginx: `-p` is made absolute at once, so printed paths are
 * absolute.
 */
import { builtinModules } from './modules.js';
import { appendFileSync, existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeErrorLogs, ErrorLog, errorLogLine, type LogLevel } from './observability/error-log.js';
import { testHttpListeners } from './http/runtime.js';
import { loadCycle, prepareCycle, resolveErrorLogOption, type Cycle, type CycleOptions } from './process/cycle.js';
import { daemonize, isDaemonChild, reportToTerminal } from './process/daemon.js';
import { Master } from './process/master.js';
import { isSignalName, signalProcess, type SignalName } from './process/signals.js';
import { SingleProcess } from './process/single.js';
import { configureArguments, isProvided, WEIR_VER_BUILD } from './version.js';
import { ignoreStdioErrors } from './observability/stdio.js';

export interface CliOptions {
  help: boolean;
  version: boolean;
  configure: boolean;
  test: boolean;
  dump: boolean;
  quiet: boolean;
  prefix?: string;
  errorLog?: string;
  conf?: string;
  globals?: string;
  signal?: SignalName;
}

export type ParseResult =
  | { readonly ok: true; readonly options: CliOptions }
  | { readonly ok: false; readonly message: string };

/** Parses the arguments after the script name exactly as ngx_get_options does. */
export function parseArgs(argv: readonly string[]): ParseResult {
  const o: CliOptions = { help: false, version: false, configure: false, test: false, dump: false, quiet: false };
  const fail = (message: string): ParseResult => ({ ok: false, message });
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg[0] !== '-') return fail(`invalid option: "${arg}"`);
    let p = 1;
    next: while (p < arg.length) {
      const c = arg[p++];
      // The value of -p/-e/-c/-g/-s: the rest of this argument, or the next one.
      const value = (): string | undefined => {
        if (p < arg.length) return arg.slice(p);
        i++;
        return i < argv.length ? argv[i] : undefined;
      };
      switch (c) {
        case '?': case 'h': o.version = true; o.help = true; break;
        case 'v': o.version = true; break;
        case 'V': o.version = true; o.configure = true; break;
        case 't': o.test = true; break;
        case 'T': o.test = true; o.dump = true; break;
        case 'q': o.quiet = true; break;
        case 'p': {
          const v = value();
          if (v === undefined) return fail('option "-p" requires directory name');
          o.prefix = v;
          break next;
        }
        case 'e': {
          const v = value();
          if (v === undefined) return fail('option "-e" requires file name');
          o.errorLog = v;
          break next;
        }
        case 'c': {
          const v = value();
          if (v === undefined) return fail('option "-c" requires file name');
          o.conf = v;
          break next;
        }
        case 'g': {
          const v = value();
          if (v === undefined) return fail('option "-g" requires parameter');
          o.globals = v;
          break next;
        }
        case 's': {
          const v = value();
          if (v === undefined) return fail('option "-s" requires parameter');
          if (!isSignalName(v)) return fail(`invalid option: "-s ${v}"`);
          o.signal = v;
          break next;
        }
        default:
          return fail(`invalid option: "${c}"`);
      }
    }
  }
  return { ok: true, options: o };
}

/** The directory above bin/ (and above dist/): nginx's compiled-in NGX_PREFIX. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_CONF = 'conf/weir.conf';
export const DEFAULT_ERROR_LOG = 'logs/error.log';

export interface ResolvedPaths {
  readonly prefix: string;
  readonly file: string;
  readonly errorLog?: string;
}

/** ngx_process_options: the prefix, then the config file and -e relative to it. */
export function resolvePaths(o: CliOptions, root = PACKAGE_ROOT, cwd = process.cwd()): ResolvedPaths {
  const prefix = o.prefix !== undefined ? resolve(cwd, o.prefix) : root;
  const conf = o.conf ?? DEFAULT_CONF;
  const file = isAbsolute(conf) ? conf : join(prefix, conf);
  const errorLog = o.errorLog !== undefined ? resolveErrorLogOption(o.errorLog, prefix) : undefined;
  return { prefix, file, errorLog };
}

export function versionText(o: Pick<CliOptions, 'help' | 'configure'>, prefix = PACKAGE_ROOT): string {
  let out = `weir version: ${WEIR_VER_BUILD}\n`;
  if (o.help) {
    out +=
      'Usage: weir [-?hvVtTq] [-s signal] [-p prefix]\n' +
      '            [-e filename] [-c filename] [-g directives]\n\n' +
      'Options:\n' +
      '  -?,-h         : this help\n' +
      '  -v            : show version and exit\n' +
      '  -V            : show version and configure options then exit\n' +
      '  -t            : test configuration and exit\n' +
      '  -T            : test configuration, dump it and exit\n' +
      '  -q            : suppress non-error messages during configuration testing\n' +
      '  -s signal     : send signal to a master process: stop, quit, reopen, reload\n' +
      `  -p prefix     : set prefix path (default: ${prefix}/)\n` +
      `  -e filename   : set error log file (default: ${DEFAULT_ERROR_LOG})\n` +
      `  -c filename   : set configuration file (default: ${DEFAULT_CONF})\n` +
      '  -g directives : set global directives out of configuration file\n\n';
  }
  if (o.configure) {
    out += `built by Node.js ${process.version} (V8 ${process.versions.v8})\n`;
    if (isProvided('http_ssl_module')) {
      out += `built with OpenSSL ${process.versions.openssl}\n`;
      out += 'TLS SNI support enabled\n';
    }
    out += `configure arguments:${configureArguments(prefix)}\n`;
  }
  return out;
}

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIo: CliIo = {
  stdout: (t) => { process.stdout.write(t); },
  stderr: (t) => { process.stderr.write(t); },
};

/**
 * Runs the command. Resolves the exit code, or 'running' when a master or
 * single process now serves (it exits the process itself when stopped).
 */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number | 'running'> {
  const parsed = parseArgs(argv);
  if (!parsed.ok) {
    io.stderr(`weir: ${parsed.message}\n`);
    return 1;
  }
  const o = parsed.options;
  if (o.version) {
    io.stderr(versionText(o));
    if (!o.test) return 0;
  }

  const paths = resolvePaths(o);
  const options: CycleOptions = { file: paths.file, prefix: paths.prefix, globals: o.globals, errorLog: paths.errorLog };
  const emerg = (message: string): void => io.stderr(`weir: [emerg] ${message}\n`);
  const initLog = paths.errorLog ?? join(paths.prefix, DEFAULT_ERROR_LOG);
  // What the config says while it is read goes where nginx's init log sends it: stderr and -e.
  const report = (level: LogLevel, message: string): void => {
    io.stderr(`weir: [${level}] ${message}\n`);
    writeInitLog(initLog, level, message);
  };

  let cycle: Cycle;
  try {
    cycle = await loadCycle(options, builtinModules, {
      parsed: () => { if (o.test && !o.quiet) io.stderr(`weir: the configuration file ${paths.file} syntax is ok\n`); },
      // The daemon reads the config again: its terminal has reported these already.
      warning: (message) => { if (!isDaemonChild()) report('warn', message); },
    });
    // -s stops here, as nginx's signaller does: nothing is opened or created.
    if (!o.signal) prepareCycle(cycle, o.test);
    if (o.test && !o.signal) await testHttpListeners(cycle.loaded);
  } catch (err) {
    report('emerg', (err as Error).message);
    if (o.test) io.stderr(`weir: configuration file ${paths.file} test failed\n`);
    return 1;
  }

  if (o.test) {
    if (!o.quiet) io.stderr(`weir: configuration file ${paths.file} test is successful\n`);
    if (o.dump) {
      for (const f of cycle.loaded.files) io.stdout(`# configuration file ${f.path}:\n${f.text}\n`);
    }
    return 0;
  }

  if (o.signal) {
    const r = signalProcess(cycle.core.pid ?? '', o.signal);
    if (r.code !== 0) io.stderr(`weir: [${r.level}] ${r.message}\n`);
    return r.code;
  }

  if (cycle.core.daemon && !isDaemonChild()) return daemonize();

  const log = new ErrorLog(cycle.errorLog);
  log.log('notice', WEIR_VER_BUILD);
  log.log('notice', `built by Node.js ${process.version}`);
  for (const notice of cycle.core.notices) log.log('notice', notice);

  const proc = cycle.core.masterProcess ? new Master(cycle, log) : new SingleProcess(cycle, log);
  const result = await proc.start();
  if (!result.ok) {
    emerg(result.message);
    await reportToTerminal(false, result.message);
    await closeErrorLogs();
    return 1;
  }
  await reportToTerminal(true);
  return 'running';
}

/**
 * nginx's init log (ngx_log_init): before the config is read, messages go to
 * stderr and to `-e` (or the default error log), appended. Skipped when that
 * is stderr or cannot be opened, where nginx would add an [alert] about it.
 */
function writeInitLog(path: string, level: LogLevel, message: string): void {
  if (path === 'stderr' || !existsSync(dirname(path))) return;
  try {
    appendFileSync(path, errorLogLine(level, message));
  } catch {
    // Not writable: stderr has the message.
  }
}

/** bin/weir's entry. */
export async function run(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  ignoreStdioErrors();
  const code = await main(argv);
  if (code !== 'running') process.exit(code);
}
