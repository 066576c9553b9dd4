/**
 * The socket a request on an HTTP/2 stream sees as r.conn.socket: nginx's
 * "fake connection" of a stream (ngx_http_v2_create_stream's fc).
 *
 * It is an object whose prototype is the session's real socket, so what
 * describes the connection (addresses, `encrypted`, the TLS session and its
 * certificates, ALPN) reads through to it, while what acts on or measures
 * the connection is the stream's own:
 *   - destroy()/destroySoon(): RST_STREAM, never the session's socket;
 *   - bytesWritten, writableLength, writableHighWaterMark, writableNeedDrain:
 *     the stream's, so $bytes_sent and send_timeout's sweep count per stream
 *     (a stream whose flow-control window never opens keeps its bytes
 *     pending and is reset after send_timeout);
 *   - cork/uncork/setNoDelay/setTimeout: nothing (the session owns the socket);
 *   - events: its own emitter ('close' once the stream closed).
 */
import type { Socket } from 'node:net';
import { constants, type ServerHttp2Stream } from 'node:http2';

/** What the facade reads of the stream's reply (the head and body bytes it handed on). */
export interface StreamCounters {
  readonly headerLength: number;
  readonly bodyBytes: number;
}

export function streamSocket(real: Socket, stream: ServerHttp2Stream, counters: () => StreamCounters | null): Socket {
  const reset = (): void => { if (!stream.destroyed) stream.close(constants.NGHTTP2_INTERNAL_ERROR); };
  const self = Object.create(real, {
    // An emitter of its own: listeners must not land on the session's socket.
    _events: { value: Object.create(null), writable: true },
    _eventsCount: { value: 0, writable: true },
    _maxListeners: { value: undefined, writable: true },
    destroy: { value: () => { reset(); return self; } },
    destroySoon: { value: () => { reset(); } },
    end: { value: () => { reset(); return self; } },
    cork: { value: () => {} },
    uncork: { value: () => {} },
    setNoDelay: { value: () => self },
    setTimeout: { value: () => self },
    setKeepAlive: { value: () => self },
    pause: { value: () => self },
    resume: { value: () => self },
    destroyed: { get: () => stream.destroyed },
    writableLength: { get: () => stream.writableLength },
    writableHighWaterMark: { get: () => stream.writableHighWaterMark },
    writableNeedDrain: { get: () => stream.writableNeedDrain },
    bytesWritten: {
      get: () => {
        const c = counters();
        return c === null ? 0 : c.headerLength + c.bodyBytes - stream.writableLength;
      },
    },
  }) as Socket;
  stream.once('close', () => self.emit('close', false));
  return self;
}
