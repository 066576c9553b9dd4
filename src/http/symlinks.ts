/**
 * `disable_symlinks off | on | if_not_owner [from=part]` (ngx_http_disable_symlinks,
 * ngx_http_set_disable_symlinks, and the openat() walk of ngx_open_file_wrapper).
 *
 * Before a file is opened or tested (static, index, try_files, `if -f`...),
 * every component of its path after the `from=` part is looked at: with `on`
 * a symbolic link anywhere refuses the file, with `if_not_owner` a link
 * whose owner is not its target's. A refusal is ELOOP, as nginx's openat()
 * with O_NOFOLLOW gives: 403 for static and index, "not found, next" for
 * try_files, false for `-f`. `from=` (variables allowed, usually
 * $document_root) names a leading part that is not checked; a path equal to
 * it is not checked at all.
 *
 * Difference: nginx opens each component relative to the previous one's
 * descriptor (openat), so the check and the open are one and cannot race.
 * Node has no openat, so weir lstat()s each prefix of the path and then opens
 * the path: a link swapped in between the two is not seen. Errors other than
 * a refused link (a missing component, a file used as a directory) are left to
 * the open or stat that follows, which reports them as without the option.
 */
import { lstatSync, statSync, type Stats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import type { HttpRequest } from './request.js';
import type { ComplexValue } from './variables.js';

export interface DisableSymlinks {
  readonly mode: 'off' | 'on' | 'if_not_owner';
  readonly from: ComplexValue | null;
}

export const SYMLINKS_OFF: DisableSymlinks = { mode: 'off', from: null };

/** The setter's parse, with nginx's [emerg] texts; `compile` makes the from= value. */
export function parseDisableSymlinks(
  args: readonly string[], compile: (text: string) => ComplexValue, error: (message: string) => never,
): DisableSymlinks {
  let mode: DisableSymlinks['mode'] | undefined;
  let from: ComplexValue | null | undefined;
  for (const a of args) {
    if (a === 'off' || a === 'on' || a === 'if_not_owner') { mode = a; continue; }
    if (a.startsWith('from=')) { from = compile(a.slice(5)); continue; }
    return error(`invalid parameter "${a}"`);
  }
  if (mode === undefined) return error('"disable_symlinks" must have "off", "on" or "if_not_owner" parameter');
  if (args.length === 1) return { mode, from: null };
  if (from === undefined) return error(`duplicate parameters "${args[0]} ${args[1]}"`);
  if (mode === 'off') return error('"from=" cannot be used with "off" parameter');
  return { mode, from };
}

/** Where the checked part of `path` starts (ngx_http_set_disable_symlinks); -1: nothing to check. */
function checkFrom(r: HttpRequest, conf: DisableSymlinks, path: string): number {
  if (conf.from === null) return 0;
  const from = conf.from.evaluate(r);
  if (from.length === 0 || from.length > path.length || !path.startsWith(from)) return 0;
  if (from.length === path.length) return -1;
  if (path.charCodeAt(from.length) === 0x2f) return from.length;
  if (path.charCodeAt(from.length - 1) === 0x2f) return from.length - 1;
  return 0;
}

/** The ends of the prefixes to look at: each component after `start` (`//` and a trailing `/` add none). */
function prefixEnds(path: string, start: number): number[] {
  const ends: number[] = [];
  let i = start;
  while (i < path.length) {
    while (i < path.length && path.charCodeAt(i) === 0x2f) i++;
    if (i >= path.length) break;
    let j = path.indexOf('/', i);
    if (j === -1) j = path.length;
    ends.push(j);
    i = j;
  }
  return ends;
}

function refused(path: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`ELOOP: too many symbolic links encountered, open '${path}'`);
  e.code = 'ELOOP';
  e.errno = -40;
  return e;
}

/** Whether an lstat result is a link `conf` refuses (for if_not_owner, `target` gives its target's stat). */
function refuses(conf: DisableSymlinks, st: Stats | undefined, target: () => Stats | undefined): boolean {
  if (st === undefined || !st.isSymbolicLink()) return false;
  if (conf.mode === 'on') return true;
  const t = target();
  return t !== undefined && t.uid !== st.uid;
}

/** null when `path` may be opened; an ELOOP error when a link is refused. */
export async function checkSymlinks(r: HttpRequest, conf: DisableSymlinks, path: string): Promise<NodeJS.ErrnoException | null> {
  if (conf.mode === 'off') return null;
  const start = checkFrom(r, conf, path);
  if (start < 0) return null;
  for (const end of prefixEnds(path, start)) {
    const prefix = path.slice(0, end);
    let st: Stats;
    try {
      st = await lstat(prefix);
    } catch {
      return null; // the open that follows reports it
    }
    if (!st.isSymbolicLink()) continue;
    if (conf.mode === 'on') return refused(path);
    let target: Stats | undefined;
    try { target = await stat(prefix); } catch { return null; }
    if (target.uid !== st.uid) return refused(path);
  }
  return null;
}

/** checkSymlinks for the synchronous tests of the rewrite module (`-f`, `-d`, `-e`, `-x`). */
export function checkSymlinksSync(r: HttpRequest, conf: DisableSymlinks, path: string): NodeJS.ErrnoException | null {
  if (conf.mode === 'off') return null;
  const start = checkFrom(r, conf, path);
  if (start < 0) return null;
  for (const end of prefixEnds(path, start)) {
    const prefix = path.slice(0, end);
    let st: Stats | undefined;
    try { st = lstatSync(prefix, { throwIfNoEntry: false }); } catch { return null; }
    if (st === undefined) return null;
    if (refuses(conf, st, () => { try { return statSync(prefix, { throwIfNoEntry: false }); } catch { return undefined; } })) return refused(path);
  }
  return null;
}
