/**
 * A scripted memcached server for malformed-reply tests: each `get` line is
 * answered by `reply(key, conn)`, raw bytes (or null to close). Counts the
 * connections it accepted, so tests can prove keep-alive reuse.
 */
import { createServer, type Server, type Socket } from 'node:net';

export interface FakeMemcached {
  readonly port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Keys requested, in order. */
  readonly keys: string[];
  close(): Promise<void>;
}

export type MemcachedReply = (key: string, connId: number) => Buffer | string | null;

export async function startFakeMemcached(reply: MemcachedReply): Promise<FakeMemcached> {
  const sockets = new Set<Socket>();
  const fake = { port: 0, connections: 0, keys: [] as string[], close: async () => {} };
  const server: Server = createServer((sock) => {
    const id = ++fake.connections;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let lf: number;
      while ((lf = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, lf).replace(/\r$/, '');
        buf = buf.slice(lf + 1);
        const key = line.startsWith('get ') ? line.slice(4) : line;
        fake.keys.push(key);
        const out = reply(key, id);
        if (out === null) { sock.destroy(); return; }
        sock.write(out);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  fake.port = typeof a === 'object' && a ? a.port : 0;
  fake.close = () => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
  return fake;
}
