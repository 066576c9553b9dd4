/**
 * A scripted FastCGI application for framing tests: reads BEGIN_REQUEST,
 * PARAMS and STDIN of each request (several per connection when the peer
 * keeps it), then hands them to `respond`, which writes raw bytes. Helpers
 * build records, including broken ones. Counts accepted connections.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { decodeParams } from '../../src/protocols/fastcgi/params.js';

export interface FcgiRequest {
  readonly keepConn: boolean;
  readonly params: Map<string, string>;
  readonly stdin: Buffer;
  readonly connId: number;
}

export interface FakeFastcgi {
  readonly port: number;
  connections: number;
  readonly requests: FcgiRequest[];
  /** STDIN content bytes received so far, over all requests (grows while a body streams in). */
  stdinBytes: number;
  close(): Promise<void>;
}

export type FcgiResponder = (req: FcgiRequest, sock: Socket) => void;

/** One record; `opts` can break it (version, type, request id, padding). */
export function record(type: number, content: Buffer | string, opts: { version?: number; id?: number; padding?: number } = {}): Buffer {
  const body = typeof content === 'string' ? Buffer.from(content, 'latin1') : content;
  const pad = opts.padding ?? ((8 - (body.length & 7)) & 7);
  const h = Buffer.alloc(8);
  h[0] = opts.version ?? 1;
  h[1] = type;
  h.writeUInt16BE(opts.id ?? 1, 2);
  h.writeUInt16BE(body.length, 4);
  h[6] = pad;
  return Buffer.concat([h, body, Buffer.alloc(pad)]);
}

export const STDOUT = 6;
export const STDERR = 7;
export const END_REQUEST = 3;

/** STDOUT records (split at 32 KB, as a real application would for big output). */
export function stdout(text: Buffer | string): Buffer {
  const b = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  if (b.length <= 32768) return record(STDOUT, b);
  const parts: Buffer[] = [];
  for (let off = 0; off < b.length; off += 32768) parts.push(record(STDOUT, b.subarray(off, off + 32768)));
  return Buffer.concat(parts);
}
export function stderr(text: string): Buffer { return record(STDERR, text); }
export function endRequest(appStatus = 0): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(appStatus, 0);
  return Buffer.concat([record(STDOUT, ''), record(END_REQUEST, b)]);
}
/** A complete response: CGI header + body in one STDOUT record, then the end. */
export function response(head: string, body: string | Buffer = ''): Buffer {
  return Buffer.concat([stdout(Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), typeof body === 'string' ? Buffer.from(body) : body])), endRequest()]);
}

export async function startFakeFastcgi(respond: FcgiResponder): Promise<FakeFastcgi> {
  const sockets = new Set<Socket>();
  const fake = { port: 0, connections: 0, requests: [] as FcgiRequest[], stdinBytes: 0, close: async () => {} };
  const server: Server = createServer((sock) => {
    const connId = ++fake.connections;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    let keepConn = false;
    let params: Buffer[] = [];
    let stdin: Buffer[] = [];
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8) {
        const len = buf.readUInt16BE(4);
        const total = 8 + len + buf[6];
        if (buf.length < total) return;
        const type = buf[1];
        const content = buf.subarray(8, 8 + len);
        buf = buf.subarray(total);
        if (type === 1) { keepConn = (content[2] & 1) === 1; params = []; stdin = []; }
        else if (type === 4) { if (len > 0) params.push(Buffer.from(content)); }
        else if (type === 5) {
          if (len > 0) { stdin.push(Buffer.from(content)); fake.stdinBytes += len; continue; }
          const pairs = decodeParams(Buffer.concat(params)) ?? [];
          const map = new Map<string, string>();
          for (const [k, v] of pairs) map.set(k.toString('latin1'), v.toString('latin1'));
          const req = { keepConn, params: map, stdin: Buffer.concat(stdin), connId };
          fake.requests.push(req);
          respond(req, sock);
        }
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
