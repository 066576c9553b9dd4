/**
 * How a connection that failed or closed reads in the error log, in
 * nginx's words for each stage (ngx_event_connect_peer, the send and
 * receive handlers, the event pipe), and which failures are this
 * process's own rather than the peer's.
 */
import { strerror } from '../process/errno.js';
import { STAGE_TEXT, Stage } from './stage.js';
import type { UpstreamLogLevel } from './client.js';

export interface FailureLine {
  readonly level: UpstreamLogLevel;
  readonly message: string;
}

/** Errors of this process, not of the peer (RELIABILITY F11: never mark the upstream failed). */
const LOCAL_FAILURES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'EADDRNOTAVAIL', 'ENOBUFS', 'ENOMEM']);

/** The connect() errors nginx logs at error level rather than crit (ngx_event_connect_peer). */
const UNIX_CONNECT_ERRORS: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EAGAIN', 'ECONNRESET', 'ENETDOWN', 'ENETUNREACH', 'EHOSTDOWN', 'EHOSTUNREACH']);

/** The errno as nginx prints it, positive (`111`), or `fallback` when node gave none. */
function errnoCode(err: NodeJS.ErrnoException | null, fallback: number): number {
  return err?.errno !== undefined ? -err.errno : fallback;
}

/**
 * Our own limits (file descriptors, ports) while connecting: nginx's
 * socket() failure, a 500 that charges no peer and tries no other.
 */
export function localFailure(err: NodeJS.ErrnoException | null): FailureLine | null {
  if (err === null || !LOCAL_FAILURES.has(err.code ?? '')) return null;
  return { level: 'alert', message: `socket() failed (${errnoCode(err, 24)}: ${strerror(err)}) while connecting to upstream` };
}

/**
 * The body was cut: a reset is a failed read (readv() through nginx's
 * buffering event pipe, recv() without), a FIN before the end a premature close.
 */
export function bodyCutLine(err: NodeJS.ErrnoException | null, buffering: boolean): string {
  if (err === null) return 'upstream prematurely closed connection while reading upstream';
  return `${buffering ? 'readv()' : 'recv()'} failed (${errnoCode(err, 104)}: ${strerror(err)}) while reading upstream`;
}

/** A try's connection failed before the response head was complete; `unixPath` when the peer is a unix socket. */
export function tryFailureLine(stage: Stage, err: NodeJS.ErrnoException | null, unixPath: string | null): FailureLine {
  if (stage === Stage.Connecting && unixPath !== null) {
    // A unix socket's connect() fails at once: the peer's name, and crit unless it merely refuses (or is full).
    const level = UNIX_CONNECT_ERRORS.has(err?.code ?? 'ECONNREFUSED') ? 'error' : 'crit';
    return { level, message: `connect() to ${unixPath} failed (${errnoCode(err, 111)}: ${strerror(err)}) while connecting to upstream` };
  }
  if (stage === Stage.Connecting) {
    return { level: 'error', message: `connect() failed (${errnoCode(err, 111)}: ${strerror(err)}) while connecting to upstream` };
  }
  if (err !== null) {
    const call = stage === Stage.Sending ? 'writev()' : 'recv()';
    return { level: 'error', message: `${call} failed (${errnoCode(err, 104)}: ${strerror(err)}) ${STAGE_TEXT[stage]}` };
  }
  return { level: 'error', message: `upstream prematurely closed connection ${STAGE_TEXT[stage]}` };
}
