/**
 * The `error_log` directive's arguments (ngx_log_set_log), for the main
 * context (process/core-module.ts) and http's server and location levels
 * (http/core-module.ts): a file, `stderr` or `syslog:`, and its level.
 */
import type { ConfContext } from '../config/conf-context.js';
import type { ConfNode } from '../config/parser.js';
import { isLogLevel, type ErrorLogTarget, type LogLevel } from './error-log.js';
import { parseSyslog } from './syslog.js';

/**
 * Parses `error_log file [level ...]` (all contexts share this syntax;
 * ngx_log_set_log and ngx_log_set_levels). The file is a path, `stderr` or
 * `syslog:...`; `memory:` needs a debug build of nginx, which weir is not.
 * The `debug_*` levels select debug subsystems in nginx; weir has none, so
 * any of them means `debug`, as it lets every level through in nginx.
 */
export function parseErrorLogTarget(cf: ConfContext, node: ConfNode): ErrorLogTarget {
  const file = node.args[0];
  let level: LogLevel | undefined;
  let debugBits = false;
  for (const word of node.args.slice(1)) {
    if (isLogLevel(word)) {
      if (level !== undefined || debugBits) return cf.error(`duplicate log level "${word}"`);
      level = word;
    } else if (DEBUG_LEVELS.includes(word)) {
      // nginx: debug subsystems go with no level at all.
      if (level !== undefined) return cf.error(`invalid log level "${word}"`);
      debugBits = true;
    } else {
      return cf.error(`invalid log level "${word}"`);
    }
  }
  const lvl: LogLevel = debugBits ? 'debug' : level ?? 'error';
  if (file.startsWith('memory:')) return cf.error('weir was built without debug support');
  if (file.startsWith('syslog:')) return { path: file, level: lvl, syslog: parseSyslog(cf, file) };
  if (file === 'stderr') return { path: 'stderr', level: lvl };
  const path = cf.fullPath(file);
  cf.cycle.openFile(path);
  return { path, level: lvl };
}

/** nginx's debug_levels[] (ngx_log.c). */
const DEBUG_LEVELS = ['debug_core', 'debug_alloc', 'debug_mutex', 'debug_event', 'debug_http', 'debug_mail', 'debug_stream'];
