/**
 * auth_basic_user_file contents: read without blocking, parsed as nginx does.
 *
 * nginx opens and reads the file on every request (so an edit takes effect
 * at once, with no reload). weir does the same without blocking the event
 * loop: an asynchronous stat per request, and the contents read again only
 * when the file's identity, size or mtime changed (a small cache of the last
 * USER_FILE_CACHE paths). An edit that keeps size and mtime (to the
 * nanosecond the filesystem keeps) is missed until the next one.
 */
import { readFile, stat } from 'node:fs';

/** How a read failed, in nginx's words: the call that failed and the error. */
export interface UserFileError {
  readonly call: 'open()' | 'pread()';
  readonly err: NodeJS.ErrnoException;
}

export type UserFileResult = { readonly text: string } | { readonly error: UserFileError };

interface Entry {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly text: string;
}

const USER_FILE_CACHE = 32;
const cache = new Map<string, Entry>();

function remember(path: string, entry: Entry): void {
  cache.delete(path);
  cache.set(path, entry);
  if (cache.size > USER_FILE_CACHE) cache.delete(cache.keys().next().value!);
}

/** The file's text (latin1: one char per byte), or why it could not be read; `done` is always called later, never now. */
export function loadUserFile(path: string, done: (result: UserFileResult) => void): void {
  stat(path, { bigint: true }, (err, st) => {
    if (err) { cache.delete(path); done({ error: { call: 'open()', err } }); return; }
    if (st.isDirectory()) {
      // open(2) of a directory succeeds; nginx's read of it fails.
      const eisdir: NodeJS.ErrnoException = Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
      done({ error: { call: 'pread()', err: eisdir } });
      return;
    }
    const hit = cache.get(path);
    if (hit && hit.dev === Number(st.dev) && hit.ino === Number(st.ino) && hit.size === Number(st.size) && hit.mtimeNs === st.mtimeNs) {
      done({ text: hit.text });
      return;
    }
    readFile(path, (rerr, data) => {
      if (rerr) {
        cache.delete(path);
        done({ error: { call: rerr.code === 'EISDIR' ? 'pread()' : 'open()', err: rerr } });
        return;
      }
      const text = data.toString('latin1');
      remember(path, { dev: Number(st.dev), ino: Number(st.ino), size: Number(st.size), mtimeNs: st.mtimeNs, text });
      done({ text });
    });
  });
}

/**
 * The stored hash of `user` (ngx_http_auth_basic_handler's scan): lines
 * `user:hash[:anything]`; a line starting with `#` or CR is skipped, so is
 * any line whose start is not exactly `user:`; the hash ends at LF, CR, `:`
 * or the end of the file. The first matching line wins; null: no such user.
 */
export function findUserHash(text: string, user: string): string | null {
  const want = user + ':';
  const LF = 10;
  const CR = 13;
  let state = 0; // 0 login, 1 password, 2 skip
  let login = 0;
  let passwd = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (state === 0) {
      if (login === 0) {
        if (c === 0x23 || c === CR) { state = 2; continue; }
        if (c === LF) continue;
      }
      if (c !== want.charCodeAt(login)) { state = 2; continue; }
      if (login === user.length) { state = 1; passwd = i + 1; }
      login++;
    } else if (state === 1) {
      if (c === LF || c === CR || c === 0x3a) return text.slice(passwd, i);
    } else if (c === LF) {
      state = 0;
      login = 0;
    }
  }
  return state === 1 ? text.slice(passwd) : null;
}
