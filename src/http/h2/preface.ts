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
import { Duplex } from 'node:stream';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Calls `done(true, bytes)` for HTTP/2, `done(false, bytes)` for anything
 * else, with the bytes read so far; the socket is paused.
 */
export function sniffPreface(socket: Socket, timeoutMs: number, done: (h2: boolean, data: Buffer) => void): void {
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
    done(matches, data);
  };
  socket.setTimeout(timeoutMs);
  socket.on('data', onData);
  socket.on('timeout', onTimeout);
  socket.on('error', onError);
  socket.on('close', onClose);
}

/** An empty SETTINGS frame. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

/** The client's first frame is not its SETTINGS (type 4 without ACK). */
function settingsMissing(frame: Buffer): boolean {
  return frame[3] !== 4 || (frame[4]! & 1) !== 0;
}

/**
 * The transport an HTTP/2 session reads, given the bytes sniffed so far
 * (the preface and what followed it).
 *
 * nginx accepts a connection whose first frame after the preface is not
 * the client's SETTINGS (nginx-tests' client sends its ACK of the server's
 * SETTINGS first); nghttp2 would end it with PROTOCOL_ERROR. So when the
 * first frame is something else, an empty SETTINGS frame is put before it:
 * what nghttp2 then sees is what nginx assumes. When the first frame header
 * came with the preface (every common client sends them together) the
 * socket itself is the transport, its bytes unshifted; otherwise a small
 * JS bridge reads until the frame header is known and passes the rest on.
 */
export function h2Transport(socket: Socket, data: Buffer): Socket | Duplex {
  const n = PREFACE.length;
  if (data.length < n || data.compare(PREFACE, 0, n, 0, n) !== 0) {
    // not a preface (a TLS client that chose h2 and sent something else): nghttp2 answers it
    socket.unshift(data);
    return socket;
  }
  const rest = data.subarray(n);
  if (rest.length >= 9) {
    socket.unshift(settingsMissing(rest) ? Buffer.concat([PREFACE, EMPTY_SETTINGS, rest]) : data);
    return socket;
  }
  let pending: Buffer | null = rest;
  const bridge = new Duplex({
    read() { socket.resume(); },
    write(chunk: Buffer, _enc, cb) { socket.write(chunk, cb); },
    final(cb) { socket.end(); cb(); },
    destroy(err, cb) { socket.destroy(); cb(err); },
  });
  const onData = (chunk: Buffer): void => {
    if (pending !== null) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      if (pending.length < 9) return;
      chunk = settingsMissing(pending) ? Buffer.concat([EMPTY_SETTINGS, pending]) : pending;
      pending = null;
    }
    if (!bridge.push(chunk)) socket.pause();
  };
  bridge.push(PREFACE);
  socket.on('data', onData);
  socket.once('end', () => bridge.push(null));
  socket.once('close', () => bridge.destroy());
  socket.on('error', () => { /* 'close' follows */ });
  socket.resume();
  return bridge;
}
