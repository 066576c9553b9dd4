/**
 * HTTP/2 with prior knowledge on a cleartext listener (nginx 1.25's
 * ngx_http_wait_request_handler with http2 on): the first bytes are
 * compared with the client connection preface; all of it is HTTP/2, a
 * difference at any byte is HTTP/1 (the bytes are handed on unchanged), and
 * a short read that still matches waits for more.
 *
 * The wait is bounded by client_header_timeout; a client that sends nothing
 * is closed silently, as nginx does.
 */
import type { Socket } from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Calls `done(true)` for HTTP/2, `done(false)` for anything else; the socket is paused, its bytes unshifted. */
export function sniffPreface(socket: Socket, timeoutMs: number, done: (h2: boolean) => void): void {
  let data: Buffer | null = null;
  const onTimeout = (): void => { cleanup(); socket.destroy(); };
  const onError = (): void => { /* 'close' follows */ };
  const onClose = (): void => { cleanup(); };
  const cleanup = (): void => {
    socket.off('data', onData);
    socket.off('timeout', onTimeout);
    socket.off('error', onError);
    socket.off('close', onClose);
    socket.setTimeout(0);
  };
  const onData = (chunk: Buffer): void => {
    data = data === null ? chunk : Buffer.concat([data, chunk]);
    const n = Math.min(data.length, PREFACE.length);
    const matches = data.compare(PREFACE, 0, n, 0, n) === 0;
    if (matches && n < PREFACE.length) return;
    cleanup();
    socket.pause();
    socket.unshift(data);
    done(matches);
  };
  socket.setTimeout(timeoutMs);
  socket.on('data', onData);
  socket.on('timeout', onTimeout);
  socket.on('error', onError);
  socket.on('close', onClose);
}
