// Fakes that drive the upstream core alone, through its port: a client that records what
// it is told, a peer session that records every get/free, a line protocol, and real
// loopback peers whose behaviour each test chooses (the socket pair).
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import {
  GetResult, PeerState, type BalancerRequest, type Peer, type PeerAddress, type PeerSession,
} from '../../../src/balancer/types.js';
import { PoolKeys, type UpstreamPeerConnection } from '../../../src/keepalive/session.js';
import type { ClientBodyWriter, UpstreamClient, UpstreamLogLevel } from '../../../src/upstream/client.js';
import { UpstreamConnection } from '../../../src/peer/connection.js';
import type { HeaderResult, UpstreamProtocol } from '../../../src/upstream/protocol.js';
import type { UpstreamTryState } from '../../../src/upstream/state.js';
import { mergeUpstreamConf, type UpstreamLocConf } from '../../../src/upstream/upstream-conf.js';
import { Upstream, type UpstreamPeers } from '../../../src/upstream/upstream.js';

/** What a peer does with a request: answer `STATUS\nbody` and close, reset, close at once, or say nothing. */
export type PeerBehaviour = { answer: number; body?: string } | 'reset' | 'close' | 'hang';

export interface FakePeer {
  readonly address: PeerAddress;
  /** Connections accepted, and requests read. */
  connections: number;
  requests: number;
  behaviour: PeerBehaviour;
  /** The behaviour from the next request on, taken as a request is read (no timer races the core's retry). */
  next: PeerBehaviour | null;
  close(): Promise<void>;
}

export async function fakePeer(behaviour: PeerBehaviour): Promise<FakePeer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    peer.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.once('data', () => {
      peer.requests++;
      const b = peer.behaviour;
      if (peer.next !== null) { peer.behaviour = peer.next; peer.next = null; }
      if (b === 'reset') s.resetAndDestroy();
      else if (b === 'close') s.end();
      else if (b !== 'hang') s.end(`${b.answer}\n${b.body ?? ''}`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const peer: FakePeer = {
    address: { name: `127.0.0.1:${port}`, host: '127.0.0.1', port, family: 4 },
    connections: 0,
    requests: 0,
    behaviour,
    next: null,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
  return peer;
}

/** A session over the peers in order, as round robin without weights: each free() costs a try. */
export class RecordingSession implements PeerSession {
  readonly tries: number;
  readonly gets: string[] = [];
  readonly frees: Array<[string, PeerState]> = [];
  private next = 0;
  /** A connection to hand out once, as the keep-alive cache would (then GetResult.Cached). */
  cached: UpstreamConnection | null = null;

  constructor(private readonly peers: readonly FakePeer[]) {
    this.tries = peers.length;
  }

  get(pc: UpstreamPeerConnection): GetResult {
    if (this.next >= this.peers.length) return GetResult.Busy;
    const p = this.peers[this.next];
    pc.address = p.address;
    pc.peer = { address: p.address } as Peer;
    this.gets.push(p.address.name);
    if (this.cached !== null) {
      pc.connection = this.cached;
      this.cached = null;
      return GetResult.Cached;
    }
    return GetResult.Ok;
  }

  free(pc: UpstreamPeerConnection, state: PeerState): void {
    this.frees.push([pc.address!.name, state]);
    pc.tries--;
    if (state !== PeerState.Ok) this.next++;
  }
}

export class FakeGroup implements UpstreamPeers {
  readonly name = 'backend';
  constructor(readonly session: RecordingSession) {}
  createSession(_request: BalancerRequest): PeerSession {
    return this.session;
  }
}

/** `NNN\n` is the head; the rest, to the close, the body. */
export class LineProtocol implements UpstreamProtocol {
  readonly name = 'line';
  aborted = 0;
  finalized: number[] = [];

  createRequest(): Buffer[] {
    return [Buffer.from('REQUEST\n')];
  }

  reinitRequest(): void {}

  processHeader(u: Upstream, data: Buffer): HeaderResult {
    const eol = data.indexOf(10);
    if (eol === -1) return 'again';
    const status = Number(data.subarray(0, eol).toString('latin1'));
    if (!(status >= 100 && status < 600)) { u.invalidReason = 'upstream sent no valid status'; return 'invalid'; }
    u.status = status;
    u.headersOut = [];
    u.contentLength = -1;
    u.headerConsumed = eol + 1;
    return 'ok';
  }

  inputFilterInit(): void {}

  inputFilter(u: Upstream, data: Buffer): void {
    u.sendToClient(data);
  }

  inputEof(): 'complete' | 'truncated' {
    return 'complete';
  }

  abortRequest(): void {
    this.aborted++;
  }

  finalizeRequest(_u: Upstream, rc: number): void {
    this.finalized.push(rc);
  }
}

/** How the client's response ended. */
export interface Outcome {
  /** The upstream's head went out with this status (the response is the upstream's). */
  readonly headerStatus: number | null;
  /** The core handed the request back with this status (an error page of the client's). */
  readonly finalized: number | null;
  readonly body: string;
  readonly cut: boolean;
}

class RecordingReply implements ClientBodyWriter {
  readonly chunks: Buffer[] = [];
  writableEnded = false;
  destroyed = false;
  cutShort = false;
  readonly writableLength = 0;
  constructor(private readonly done: () => void) {}
  write(chunk: Buffer): boolean { this.chunks.push(Buffer.from(chunk)); return true; }
  end(): void { this.writableEnded = true; this.done(); }
  once(): unknown { return this; }
  destroy(): unknown { this.destroyed = true; this.done(); return this; }
  flushHeaders(): void {}
  cut(): void { this.cutShort = true; this.done(); }
}

export class FakeClient implements UpstreamClient {
  method = 'GET';
  readonly remoteAddress = '127.0.0.1';
  aborted = false;
  onAbort: (() => void) | null = null;
  readonly body = null;
  readonly bodyStreamed = false;
  readonly headersOut: string[] = [];
  readonly sendTimeout = 5_000;
  readonly lines: string[] = [];
  readonly errorLog = { log: (level: UpstreamLogLevel, message: string): void => { this.lines.push(`${level}: ${message}`); } };
  states: UpstreamTryState[] = [];
  headerStatus: number | null = null;
  finalizedWith: number[] = [];
  readonly reply: RecordingReply;
  readonly ended: Promise<void>;

  constructor() {
    let resolve!: () => void;
    this.ended = new Promise((r) => { resolve = r; });
    this.reply = new RecordingReply(() => resolve());
    this.finish = resolve;
  }

  private readonly finish: () => void;

  streamBody(): never { throw new Error('not streamed in these tests'); }
  sendContinue(): void {}
  evaluate(): string { return ''; }
  addResponseHeader(name: string, value: string): void { this.headersOut.push(name, value); }
  localAddress(): null { return null; }
  readRate(): number { return 0; }
  log(level: UpstreamLogLevel, message: string, upstream?: string): void {
    this.lines.push(`${level}: ${message}${upstream !== undefined ? `, upstream: "${upstream}"` : ''}`);
  }
  addTryStates(states: UpstreamTryState[]): void { this.states = states; }
  hasErrorPage(): boolean { return false; }
  setLimitRate(): void {}
  setCharset(): void {}
  sendHeader(status: number): number { this.headerStatus = status; return 0; }
  closeAfter(): void {}
  finalize(status: number): void { this.finalizedWith.push(status); this.finish(); }
  redirect(): void { throw new Error('no X-Accel-Redirect in these tests'); }
  upgrade(): never { throw new Error('no upgrade in these tests'); }
  tunnelDone(): never { throw new Error('no upgrade in these tests'); }

  /** The client goes away, as the HTTP side reports it. */
  abort(): void {
    this.aborted = true;
    this.onAbort?.();
  }

  outcome(): Outcome {
    return {
      headerStatus: this.headerStatus,
      finalized: this.finalizedWith.length > 0 ? this.finalizedWith[0] : null,
      body: Buffer.concat(this.reply.chunks).toString('latin1'),
      cut: this.reply.cutShort,
    };
  }
}

/** The location's upstream conf with nginx's defaults, then `over`. */
export function upstreamConf(over: Partial<UpstreamLocConf> = {}): UpstreamLocConf {
  const conf: UpstreamLocConf = {};
  mergeUpstreamConf({}, conf);
  return Object.assign(conf, over);
}

export interface Run {
  readonly u: Upstream;
  readonly client: FakeClient;
  readonly session: RecordingSession;
  readonly protocol: LineProtocol;
}

/** A core over `peers`, started. */
export function startCore(peers: readonly FakePeer[], conf: UpstreamLocConf, method = 'GET'): Run {
  const client = new FakeClient();
  client.method = method;
  const session = new RecordingSession(peers);
  const protocol = new LineProtocol();
  const u = new Upstream(client, conf, new FakeGroup(session), protocol, new PoolKeys());
  return { u, client, session, protocol };
}
