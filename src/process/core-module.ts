/**
 * The main and events contexts (ngx_core_module, ngx_events_module,
 * ngx_event_core_module): process settings.
 *
 * Accepted as honest no-ops, each because Node/libuv already behaves so or the
 * knob has no meaning here:
 *   use epoll|... ........ libuv picks the kernel's best mechanism itself (epoll on Linux)
 *   multi_accept .......... libuv accepts every pending connection per wakeup
 *   accept_mutex .......... workers share the listening socket; the kernel wakes one
 *   pcre_jit .............. V8 compiles regular expressions itself
 *   timer_resolution ...... libuv's timers are already coarse-grained per loop
 *   worker_rlimit_nofile .. Node cannot raise RLIMIT_NOFILE: the limit is the shell's (`ulimit -n`); logged at notice
 *   worker_cpu_affinity ... not applied (use taskset on the master); logged at notice
 *   lock_file, accept_mutex_delay, worker_priority, debug_connection: not applicable
 *
 * `user` is checked as ngx_set_user checks it: only when running as root (else
 * a [warn], and the directive is ignored, even a second one), the user and
 * group must exist (getpwnam/getgrnam, the group defaulting to the user's
 * name); as root without `user`, nginx's compiled-in default must exist
 * (`nobody`, and the group configure would pick). Difference from nginx: weir
 * does not switch its workers to that user yet, nor chown the temp paths to it.
 */
import { cpus } from 'node:os';
import type { ConfContext } from '../config/conf-context.js';
import { Ctx, type CoreModule, type DirectiveSpec } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { parseErrorLogTarget } from '../observability/error-log-conf.js';
import { setFlag, setMsec, setNumber } from '../config/slots.js';
import { parseNumber } from '../config/units.js';
import type { ErrorLogTarget } from '../observability/error-log.js';
import { getgrnam, getpwnam } from './user-db.js';

export interface CoreConf {
  daemon?: boolean;
  masterProcess?: boolean;
  workerProcesses?: number;
  pid?: string;
  workerShutdownTimeout?: number;
  /** Set by `user` (as root only, as nginx) or by the default as root. */
  user?: { readonly name: string; readonly uid: number; readonly group: string; readonly gid: number };
  env: string[];
  errorLog: ErrorLogTarget[];
  /** True when the main context names no error_log: `-e` (or logs/error.log) is the log (ngx_log_open_default). */
  errorLogDefault: boolean;
  workerConnections?: number;
  workerRlimitNofile?: number;
  /** Notices to log once the error log is open. */
  notices: string[];
  eventsSeen: boolean;
}

/** nginx's NGX_USER default (auto/options). */
const DEFAULT_USER = 'nobody';

/** The group configure picks for the default user (auto/unix): `nobody` if it exists, else `nogroup` if it exists, else `nobody`. */
function defaultGroup(): string {
  if (getgrnam('nobody')) return 'nobody';
  return getgrnam('nogroup') ? 'nogroup' : 'nobody';
}

function isRoot(): boolean {
  return process.geteuid?.() === 0;
}

/** ngx_set_user. */
function setUser(cf: ConfContext, d: ConfNode): void {
  const conf = cf.core(coreModule);
  if (conf.user !== undefined) return cf.duplicate();
  if (!isRoot()) {
    cf.warn('the "user" directive makes sense only if the master process runs with super-user privileges, ignored');
    return;
  }
  const name = d.args[0];
  const pwd = getpwnam(name);
  if (!pwd) return cf.error(`getpwnam("${name}") failed`);
  const group = d.args[1] ?? name;
  const grp = getgrnam(group);
  if (!grp) return cf.error(`getgrnam("${group}") failed`);
  conf.user = { name, uid: pwd.uid, group, gid: grp.gid };
}

function noop(name: string, contexts: number, args: readonly [number, number]): DirectiveSpec {
  return { name, contexts, args, set: () => {} };
}

const directives: DirectiveSpec[] = [
  { name: 'daemon', contexts: Ctx.Main, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.core(coreModule), 'daemon') },
  { name: 'master_process', contexts: Ctx.Main, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.core(coreModule), 'masterProcess') },
  {
    name: 'worker_processes', contexts: Ctx.Main, args: [1, 1],
    set(cf, d) {
      const conf = cf.core(coreModule);
      if (conf.workerProcesses !== undefined) return cf.duplicate();
      if (d.args[0] === 'auto') { conf.workerProcesses = Math.max(1, cpus().length); return; }
      // ngx_set_worker_processes: ngx_atoi, so 0 is valid; anything else is "invalid value".
      const n = parseNumber(d.args[0]);
      if (n === null) return cf.invalid('invalid value');
      conf.workerProcesses = n;
    },
  },
  {
    name: 'pid', contexts: Ctx.Main, args: [1, 1],
    set(cf, d) {
      const conf = cf.core(coreModule);
      if (conf.pid !== undefined) return cf.duplicate();
      conf.pid = d.args[0] === 'off' ? '' : cf.fullPath(d.args[0]);
    },
  },
  { name: 'worker_shutdown_timeout', contexts: Ctx.Main, args: [1, 1], set: (cf, d) => setMsec(cf, d, cf.core(coreModule), 'workerShutdownTimeout') },
  { name: 'user', contexts: Ctx.Main, args: [1, 2], set: setUser },
  { name: 'env', contexts: Ctx.Main, args: [1, 1], set: (cf, d) => { cf.core(coreModule).env.push(d.args[0]); } },
  {
    name: 'error_log', contexts: Ctx.Main, args: [1, Infinity],
    set: (cf, d) => { cf.core(coreModule).errorLog.push(parseErrorLogTarget(cf, d)); },
  },
  {
    name: 'worker_rlimit_nofile', contexts: Ctx.Main, args: [1, 1],
    set(cf, d) {
      setNumber(cf, d, cf.core(coreModule), 'workerRlimitNofile');
      cf.core(coreModule).notices.push('"worker_rlimit_nofile" is not applied by weir: raise the limit with ulimit -n');
    },
  },
  {
    name: 'worker_cpu_affinity', contexts: Ctx.Main, args: [1, Infinity],
    set(cf) { cf.core(coreModule).notices.push('"worker_cpu_affinity" is not applied by weir: use taskset'); },
  },
  noop('pcre_jit', Ctx.Main, [1, 1]),
  noop('timer_resolution', Ctx.Main, [1, 1]),
  noop('lock_file', Ctx.Main, [1, 1]),
  noop('worker_priority', Ctx.Main, [1, 1]),
  {
    name: 'events', contexts: Ctx.Main, args: [0, 0], block: true,
    set(cf, d) {
      const conf = cf.core(coreModule);
      if (conf.eventsSeen) return cf.invalid('is duplicate');
      conf.eventsSeen = true;
      cf.child(Ctx.Events, null).walk(d.block!);
    },
  },
  {
    // ngx_event_connections logs `invalid number "x"` itself (not the slot's wording).
    name: 'worker_connections', contexts: Ctx.Events, args: [1, 1],
    set(cf, d) {
      const conf = cf.core(coreModule);
      if (conf.workerConnections !== undefined) return cf.duplicate();
      const n = parseNumber(d.args[0]);
      if (n === null) return cf.error(`invalid number "${d.args[0]}"`);
      conf.workerConnections = n;
    },
  },
  {
    name: 'use', contexts: Ctx.Events, args: [1, 1],
    set(cf, d) {
      const known = ['epoll', 'poll', 'select', 'kqueue', 'eventport', '/dev/poll'];
      if (!known.includes(d.args[0])) return cf.error(`invalid event type "${d.args[0]}"`);
    },
  },
  noop('multi_accept', Ctx.Events, [1, 1]),
  noop('accept_mutex', Ctx.Events, [1, 1]),
  noop('accept_mutex_delay', Ctx.Events, [1, 1]),
  noop('worker_aio_requests', Ctx.Events, [1, 1]),
  noop('debug_connection', Ctx.Events, [1, 1]),
];

export const coreModule: CoreModule<CoreConf> = {
  kind: 'core',
  name: 'core',
  directives,
  createConf: () => ({ env: [], errorLog: [], errorLogDefault: false, notices: [], eventsSeen: false }),
  initConf(conf, cf) {
    conf.daemon ??= true;
    conf.masterProcess ??= true;
    conf.workerProcesses ??= 1;
    conf.pid ??= cf.fullPath('logs/weir.pid');
    conf.workerShutdownTimeout ??= 0;
    conf.workerConnections ??= 512;
    if (conf.user === undefined && isRoot()) {
      // ngx_core_module_init_conf: errors with no position.
      const pwd = getpwnam(DEFAULT_USER);
      if (!pwd) return cf.error(`getpwnam("${DEFAULT_USER}") failed`, null);
      const group = defaultGroup();
      const grp = getgrnam(group);
      if (!grp) return cf.error(`getgrnam("${group}") failed`, null);
      conf.user = { name: DEFAULT_USER, uid: pwd.uid, group, gid: grp.gid };
    }
    // ngx_events_module's init_conf, after ngx_core_module's.
    if (!conf.eventsSeen) return cf.error('no "events" section in configuration', null);
    // Not registered as a file yet: the cycle opens the default (or -e) after the temp paths.
    // ngx_log_open_default: without a file among the error logs (none, or only
    // syslog), the default file is added at level error, last.
    if (!conf.errorLog.some((t) => t.syslog === undefined)) {
      conf.errorLogDefault = true;
      conf.errorLog.push({ path: cf.fullPath('logs/error.log'), level: 'error' });
    }
  },
};
