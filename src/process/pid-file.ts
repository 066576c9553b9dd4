/**
 * The pid file (ngx_create_pidfile, ngx_delete_pidfile, and the reading half of
 * ngx_signal_process).
 *
 * Differences from nginx, both deliberate:
 * - The file is written to a temporary name and renamed into place, so a reader
 *   polling for it (`-s`, a supervisor, a test) never sees it empty or half
 *   written; nginx truncates and writes in place.
 * - The master writes it only once every worker reports that its listeners
 *   accept connections (nginx writes it before forking workers), so its
 *   appearance means "ready"; and it is removed at exit only if it still holds
 *   this process's pid, so that a second instance started by mistake on the
 *   same file does not delete the running one's.
 */
import { readFileSync, renameSync, unlinkSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { errnoText } from '../errno.js';

export function writePidFile(path: string, pid = process.pid): void {
  const tmp = `${path}.${pid}.tmp`;
  try {
    writeFileSync(tmp, `${pid}\n`, { mode: 0o644 });
    renameSync(tmp, path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* it was never created */ }
    throw new Error(`open() "${path}" failed (${errnoText(err)})`);
  }
}

/** Removes the pid file if it still names `pid`; returns an error message for the log, or null. */
export function deletePidFile(path: string, pid = process.pid): string | null {
  try {
    if (readFileSync(path, 'utf8').trim() !== String(pid)) return null;
    unlinkSync(path);
    return null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return `unlink() "${path}" failed (${errnoText(err)})`;
  }
}

/** nginx's NGX_INT64_LEN + 2: a pid file longer than this is read only this far. */
const PID_READ_MAX = 22;

export class PidFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PidFileError';
  }
}

/** Reads the master's pid as ngx_signal_process does: trailing CR/LF stripped, digits only. */
export function readPidFile(path: string): number {
  let text: string;
  try {
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(PID_READ_MAX);
      const n = readSync(fd, buf, 0, PID_READ_MAX, 0);
      text = buf.subarray(0, n).toString('latin1');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new PidFileError(`open() "${path}" failed (${errnoText(err)})`);
  }
  text = text.replace(/[\r\n]+$/, '');
  const pid = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new PidFileError(`invalid PID number "${text}" in "${path}"`);
  }
  return pid;
}
