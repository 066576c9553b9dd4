/**
 * `(2: No such file or directory)`: how nginx prints an errno after a failed
 * system call (ngx_log_errno). Node gives the code name (`ENOENT`) and a
 * negative errno; strerror's text is not exposed, so the common ones are
 * tabled here and the rest print Node's code.
 */
import { constants } from 'node:os';

const STRERROR: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EIO: 'Input/output error',
  EBADF: 'Bad file descriptor',
  EACCES: 'Permission denied',
  ELOOP: 'Too many levels of symbolic links',
  EEXIST: 'File exists',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  EMFILE: 'Too many open files',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  ECONNREFUSED: 'Connection refused',
  ENFILE: 'Too many open files in system',
  ECONNRESET: 'Connection reset by peer',
  EPIPE: 'Broken pipe',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
};

/**
 * strerror's text alone (`Connection refused`), for lines that print the
 * number themselves; a failure node gave no error for (a close during
 * connect) reads as a refusal, as the kernel reports it to nginx.
 */
export function strerror(err: NodeJS.ErrnoException | null): string {
  if (err === null) return 'Connection refused';
  return (err.code !== undefined ? STRERROR[err.code] : undefined) ?? err.message;
}

/** `2: No such file or directory` for an error from node:fs / node:net / process.kill. */
export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const errnos = constants.errno as Readonly<Record<string, number>>;
  const num = code !== undefined ? errnos[code] : undefined;
  if (code !== undefined && num !== undefined) return `${num}: ${STRERROR[code] ?? code}`;
  return e instanceof Error ? e.message : String(err);
}
