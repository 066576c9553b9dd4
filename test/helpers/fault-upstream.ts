/**
 * A fault-injecting TCP upstream for the upstream-core tests: a tiny HTTP/1.1
 * server of our own (not node:http, so it can send any bytes) whose behaviour
 * per request is a Mode. It counts connections and requests, records every
 * request head and body it received, and can be stopped so that its port
 * refuses.
 *
 * Modes (per request, chosen by `mode` or by a function of the request index):
 *   ok          200 with a body naming the port (`port=NNN`), keep-alive
 *   status      `status` with `body` (e.g. 500 with the fixture's own page)
 *   refuse      the listener is closed: connect() gets ECONNREFUSED (use stop())
 *   reset       RST before any response byte
 *   reset-after-header   head (CL 100) then RST
 *   reset-mid-body       head (CL 100) + 10 body bytes then RST
 *   hang        accept, read, never answer
 *   trickle     the response one byte every `trickleMs`
 *   garbage     non-HTTP bytes then close
 *   raw         `raw` bytes as the whole response (each U-row), then close
 *               when `closeAfterRaw` (default) or keep the connection open
 *   close-idle  answer normally, then close the connection `closeIdleMs` later
 *   echo-id     200, body = the request's X-Request-Id header
 *   cl-short    CL 10, 3 bytes, FIN
 *   chunked-short  chunked, one chunk, no last-chunk, FIN
 */
import { createServer, type Server, type Socket } from 'node:net';

export type Mode =
  | 'ok' | 'status' | 'reset' | 'reset-after-header' | 'reset-mid-body' | 'hang' | 'trickle' | 'garbage' | 'raw'
  | 'close-idle' | 'echo-id' | 'cl-short' | 'chunked-short' | 'close-after-response';

export interface ReceivedRequest {
  /** 0-based over the fixture's lifetime. */
  readonly index: number;
  /** 0-based connection id on which it came. */
  readonly conn: number;
  readonly method: string;
  readonly target: string;
  readonly head: string;
  /** Lower-case names. */
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

export interface FaultOptions {
  /** Mode of every request, or per request index (over the fixture's lifetime). */
  mode?: Mode | ((index: number, req: ReceivedRequest) => Mode);
  /** For 'status'. */
  status?: number;
  body?: string;
  /** For 'raw': the exact response bytes. */
  raw?: string | Buffer;
  /** For 'raw': close after writing (default true). */
  closeAfterRaw?: boolean;
  trickleMs?: number;
  closeIdleMs?: number;
  /** Extra response header lines (each without CRLF), for ok/status/echo-id. */
  extraHeaders?: string[];
}

export interface FaultUpstream {
  readonly port: number;
  readonly addr: string;
  /** Accepted TCP connections. */
  readonly connections: number;
  /** Complete request heads received. */
  readonly requests: ReceivedRequest[];
  /** Connections currently open. */
  readonly open: number;
  opts: FaultOptions;
  /** Stop listening (new connects are refused) and destroy every connection. */
  stop(): Promise<void>;
  /** Listen again on the same port. */
  restart(): Promise<void>;
  /** Close every open connection now (FIN), as an upstream's idle timeout does. */
  closeIdle(): void;
  /** Forget the counts and recorded requests, and close open connections (same port, same options). */
  reset(): void;
  /** Resolves when `n` requests have been received (or rejects after ms). */
  waitRequests(n: number, ms?: number): Promise<void>;
}

function parseHead(head: string): { method: string; target: string; headers: Record<string, string> } {
  const lines = head.split('\r\n');
  const [method = '', target = ''] = lines[0].split(' ');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    if (c <= 0) continue;
    const k = l.slice(0, c).trim().toLowerCase();
    const v = l.slice(c + 1).trim();
    headers[k] = headers[k] !== undefined ? `${headers[k]}, ${v}` : v;
  }
  return { method, target, headers };
}

function decodeChunked(buf: Buffer): { body: Buffer; used: number } | null {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const le = buf.indexOf('\r\n', pos);
    if (le === -1) return null;
    const size = parseInt(buf.subarray(pos, le).toString('latin1'), 16);
    pos = le + 2;
    if (size === 0) {
      const end = buf.indexOf('\r\n\r\n', pos - 2);
      if (end === -1) return null;
      return { body: Buffer.concat(parts), used: end + 4 };
    }
    if (buf.length < pos + size + 2) return null;
    parts.push(buf.subarray(pos, pos + size));
    pos += size + 2;
  }
}

export async function startFaultUpstream(opts: FaultOptions = {}, fixedPort = 0): Promise<FaultUpstream> {
  const sockets = new Set<Socket>();
  const requests: ReceivedRequest[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  let connections = 0;
  let server: Server;
  let port = fixedPort;

  const notify = (): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (requests.length >= waiters[i].n) { waiters[i].resolve(); waiters.splice(i, 1); }
    }
  };

  const respond = (sock: Socket, req: ReceivedRequest): void => {
    const o = fx.opts;
    const m = o.mode === undefined ? 'ok' : typeof o.mode === 'function' ? o.mode(req.index, req) : o.mode;
    const extra = (o.extraHeaders ?? []).map((h) => `${h}\r\n`).join('');
    const simple = (status: number, body: string, more = ''): string =>
      `HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'X'}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}${more}\r\n${body}`;
    switch (m) {
      case 'ok': sock.write(simple(200, `port=${port}`)); return;
      case 'status': sock.write(simple(o.status ?? 500, o.body ?? `fixture ${o.status ?? 500} from ${port}`)); return;
      case 'echo-id': sock.write(simple(200, req.headers['x-request-id'] ?? '-')); return;
      case 'close-after-response': sock.end(simple(200, `port=${port}`)); return;
      case 'reset': sock.resetAndDestroy(); return;
      case 'reset-after-header':
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n', () => setTimeout(() => sock.resetAndDestroy(), 30));
        return;
      case 'reset-mid-body':
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n${'x'.repeat(10)}`, () => setTimeout(() => sock.resetAndDestroy(), 30));
        return;
      case 'hang': return;
      case 'trickle': {
        const bytes = Buffer.from(simple(200, `port=${port}`));
        let i = 0;
        const t = setInterval(() => {
          if (sock.destroyed || i >= bytes.length) { clearInterval(t); return; }
          sock.write(bytes.subarray(i, i + 1));
          i++;
        }, o.trickleMs ?? 20);
        sock.once('close', () => clearInterval(t));
        return;
      }
      case 'garbage': sock.end('SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02garbage'); return;
      case 'raw':
        if (o.closeAfterRaw === false) sock.write(o.raw ?? '');
        else sock.end(o.raw ?? '');
        return;
      case 'close-idle': {
        // An idle timeout: T ms after the last response, restarted by each response.
        sock.write(simple(200, `port=${port}`));
        const s = sock as Socket & { idleTimer?: NodeJS.Timeout };
        if (s.idleTimer) clearTimeout(s.idleTimer);
        else sock.once('close', () => clearTimeout(s.idleTimer));
        s.idleTimer = setTimeout(() => sock.end(), o.closeIdleMs ?? 50);
        return;
      }
      case 'cl-short':
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', () => setTimeout(() => sock.end(), 30));
        return;
      case 'chunked-short':
        sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', () => setTimeout(() => sock.end(), 30));
        return;
    }
  };

  const onConnection = (sock: Socket): void => {
    const connId = connections++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const he = buf.indexOf('\r\n\r\n');
        if (he === -1) return;
        const head = buf.subarray(0, he).toString('latin1');
        const p = parseHead(head);
        let body: Buffer = Buffer.alloc(0);
        let used = he + 4;
        if (p.headers['transfer-encoding']?.toLowerCase() === 'chunked') {
          const c = decodeChunked(buf.subarray(he + 4));
          if (!c) return;
          body = c.body;
          used += c.used;
        } else if (p.headers['content-length'] !== undefined) {
          const n = Number(p.headers['content-length']);
          if (buf.length < he + 4 + n) return;
          body = Buffer.from(buf.subarray(he + 4, he + 4 + n));
          used += n;
        }
        buf = buf.subarray(used);
        const req: ReceivedRequest = { index: requests.length, conn: connId, method: p.method, target: p.target, head, headers: p.headers, body };
        requests.push(req);
        notify();
        respond(sock, req);
        if (sock.destroyed) return;
      }
    });
  };

  const listen = (): Promise<void> => new Promise((resolve, reject) => {
    server = createServer(onConnection);
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const a = server.address();
      port = typeof a === 'object' && a ? a.port : port;
      resolve();
    });
  });
  await listen();

  const fx: FaultUpstream = {
    get port() { return port; },
    get addr() { return `127.0.0.1:${port}`; },
    get connections() { return connections; },
    get open() { return sockets.size; },
    requests,
    opts,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      for (const w of waiters.splice(0)) w.resolve();
    },
    restart: listen,
    closeIdle() { for (const s of sockets) s.end(); },
    reset() {
      for (const s of sockets) s.destroy();
      requests.length = 0;
      connections = 0;
    },
    waitRequests(n, ms = 3000) {
      if (requests.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`fixture :${port}: ${requests.length} of ${n} requests after ${ms} ms`)), ms);
        waiters.push({ n, resolve: () => { clearTimeout(t); resolve(); } });
      });
    },
  };
  return fx;
}

/** A port that refuses: listen on 0, note the port, close. */
export async function refusedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const a = s.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
