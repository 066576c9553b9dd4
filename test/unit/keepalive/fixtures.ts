// Real sockets for the keep-alive tests: a peer (net server on 127.0.0.1, port 0) that hands
// back the server side of each connection, and an owner that stands in for the upstream core.
import { createServer, type Server, type Socket } from 'node:net';
import type { PeerAddress } from '../../../src/balancer/types.js';
import { UpstreamConnection, type ConnectionOwner } from '../../../src/peer/connection.js';

export interface Pair {
  /** Our side, as the core would hold it. */
  conn: UpstreamConnection;
  /** The peer's side. */
  remote: Socket;
}

export interface TestPeer {
  address: PeerAddress;
  /** Every server-side socket accepted so far. */
  remotes: Socket[];
  connect(): Promise<Pair>;
  connectMany(n: number): Promise<Pair[]>;
  close(): Promise<void>;
}

/** Owner the core would be: records what arrives. */
export class RecordingOwner implements ConnectionOwner {
  events: string[] = [];
  onData(_c: UpstreamConnection, chunk: Buffer): void { this.events.push(`data:${chunk.length}`); }
  onEnd(): void { this.events.push('end'); }
  onError(_c: UpstreamConnection, err: NodeJS.ErrnoException): void { this.events.push(`error:${err.code}`); }
  onClose(): void { this.events.push('close'); }
  onDrain(): void { this.events.push('drain'); }
}

export const coreOwner = new RecordingOwner();

export async function startPeer(): Promise<TestPeer> {
  const remotes: Socket[] = [];
  const waiting = new Map<number, (s: Socket) => void>();
  const early = new Map<number, Socket>();
  const server: Server = createServer((s) => {
    s.on('error', () => {});
    remotes.push(s);
    const port = s.remotePort!;
    const w = waiting.get(port);
    if (w) { waiting.delete(port); w(s); } else early.set(port, s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const address: PeerAddress = { name: `127.0.0.1:${port}`, host: '127.0.0.1', port, family: 4 };

  const connect = (): Promise<Pair> => new Promise((resolve, reject) => {
    const conn = UpstreamConnection.connect(address, null, (c) => {
      const local = c.socket.localPort!;
      const s = early.get(local);
      if (s) { early.delete(local); resolve({ conn: c, remote: s }); } else waiting.set(local, (r) => resolve({ conn: c, remote: r }));
    });
    conn.owner = coreOwner;
    conn.socket.once('error', reject);
  });

  return {
    address,
    remotes,
    connect,
    async connectMany(n) {
      const out: Pair[] = [];
      for (let i = 0; i < n; i++) out.push(await connect());
      return out;
    },
    async close() {
      for (const s of remotes) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Waits (polling each loop turn) until cond() holds; fails after `ms`. */
export async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Resolves when the socket has closed (at once if it already has). */
export function closed(pair: Pair): Promise<void> {
  if (pair.conn.closed) return Promise.resolve();
  return new Promise((r) => pair.conn.socket.once('close', () => r()));
}

/** Counts of the resource kinds a leak would show (refed timers, sockets, servers). */
export function resourceCounts(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of process.getActiveResourcesInfo()) {
    if (k === 'Timeout' || k === 'TCPSocketWrap' || k === 'TCPServerWrap') out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
