/**
 * Reading a request body (body.ts's two modes): the Reader both share
 * (listeners on the IncomingRequest, client_max_body_size for chunked bodies,
 * client_body_timeout, ending once), StreamReader for a sink with
 * backpressure, BufferedReader for memory or a temp file under
 * client_body_temp_path; and the `100 Continue` that starting to read sends.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoText } from '../errno.js';
import type { BodySink, BodyStream } from './body.js';
import { underPrefix } from './prefix.js';
import type { HttpRequest } from './request.js';

/** Bytes of the request head as sent (request line, header lines, the empty line). */
export function requestHeadLength(r: HttpRequest): number {
  return r.req.headLength;
}

/**
 * `100 Continue` as ngx_http_test_expect: HTTP/1.1 only, `Expect: 100-continue`
 * only, once, and as nginx whether or not a body follows: reading or
 * discarding the body tests the expectation first, and so does an upstream
 * that starts without reading one.
 */
export function sendContinue(r: HttpRequest): void {
  if (r.expectTested) return;
  r.expectTested = true;
  const expect = r.req.headers.expect;
  if (expect === undefined || r.req.httpVersionMajor !== 1 || r.req.httpVersionMinor < 1) return;
  if (expect.toLowerCase() !== '100-continue') return;
  if (r.res.headersSent || r.res.destroyed) return;
  r.res.writeContinue();
}

/**
 * The part shared by both modes: listeners on the IncomingRequest, the size
 * limit for chunked bodies, client_body_timeout, and ending exactly once.
 */
/**
 * A chunked body of many tiny chunks costs CPU per chunk, not per byte: past
 * this many pieces averaging under TINY_PIECE bytes the body is refused
 * (RELIABILITY R18; nginx has no such bound, Envoy does).
 */
const MAX_TINY_PIECES = 10_000;
const TINY_PIECE = 64;

abstract class Reader {
  protected received = 0;
  private pieces = 0;
  private timer: NodeJS.Timeout | null = null;
  private finished = false;
  /** We paused the client (sink full / file write pending): the body timeout is off. */
  protected holding = false;
  private readonly onDataBound = (chunk: Buffer): void => this.onData(chunk);
  private readonly onEndBound = (): void => this.onEnd();
  private readonly onCloseBound = (): void => this.onClose();

  constructor(protected readonly r: HttpRequest) {}

  start(): void {
    const r = this.r;
    r.bodyHandled = true;
    sendContinue(r);
    const req = r.req;
    req.on('data', this.onDataBound);
    req.once('end', this.onEndBound);
    req.once('close', this.onCloseBound);
    this.armTimer();
  }

  private armTimer(): void {
    const ms = this.r.locConf.clientBodyTimeout!;
    if (ms <= 0) return;
    if (this.timer) this.timer.refresh();
    else { this.timer = setTimeout(() => this.onTimeout(), ms); this.timer.unref(); }
  }

  private stopTimer(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
  }

  /** We stop reading because the consumer is full. */
  protected hold(): void {
    this.holding = true;
    this.stopTimer();
    this.r.req.pause();
  }

  /** The consumer has room again. */
  protected release(): void {
    if (!this.holding || this.finished) return;
    this.holding = false;
    this.armTimer();
    this.r.req.resume();
  }

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    this.received += chunk.length;
    const max = this.r.locConf.clientMaxBodySize!;
    if (this.r.chunked && max > 0 && this.received > max) {
      this.r.log('error', `client intended to send too large chunked body: ${this.received - chunk.length}+${chunk.length} bytes`);
      this.fail(413);
      return;
    }
    if (this.r.chunked && ++this.pieces > MAX_TINY_PIECES && this.received < this.pieces * TINY_PIECE) {
      this.r.log('info', `client sent too many tiny chunks: ${this.pieces} for ${this.received} bytes`);
      this.fail(400);
      return;
    }
    this.armTimer();
    this.chunk(chunk);
  }

  private onEnd(): void {
    if (this.finished) return;
    this.finished = true;
    this.detach();
    this.r.requestLength = requestHeadLength(this.r) + this.received;
    this.complete();
  }

  private onClose(): void {
    if (this.finished || this.r.req.complete) return;
    this.r.log('info', 'client prematurely closed connection while reading client request body');
    this.fail(400);
  }

  private onTimeout(): void {
    this.timer = null;
    if (this.finished || this.holding) return;
    this.r.log('info', 'client timed out (110: Connection timed out) while reading client request body');
    this.fail(408);
  }

  /**
   * Ends reading with an error status (0: aborted by the consumer, nobody is
   * told); the rest of the body is never read, so the connection closes.
   */
  protected fail(status: number): void {
    if (this.finished) return;
    this.finished = true;
    this.detach();
    const r = this.r;
    r.keepalive = false;
    r.requestLength = requestHeadLength(r) + this.received;
    if (status === 408 || status === 400) {
      // The client is silent or gone: nothing to drain; a response under way ends with the connection.
      if (r.res.headersSent) r.conn.socket.destroy();
    } else {
      // The connection still frames the rest of the body: drain it so the response can be written and the
      // connection closed cleanly (never parsed as a request either way).
      r.req.resume();
    }
    if (status !== 0) this.failed(status);
  }

  private detach(): void {
    this.stopTimer();
    const req = this.r.req;
    req.off('data', this.onDataBound);
    req.off('end', this.onEndBound);
    req.off('close', this.onCloseBound);
  }

  protected abstract chunk(chunk: Buffer): void;
  protected abstract complete(): void;
  protected abstract failed(status: number): void;
}

export class StreamReader extends Reader implements BodyStream {
  /** What $request_body shows: the body while it fits in client_body_buffer_size, as nginx's buffers keep it. */
  private kept: Buffer[] | null = [];
  private keptSize = 0;

  constructor(r: HttpRequest, private readonly sink: BodySink) {
    super(r);
  }

  /** Pieces decoded in this tick, sent on as one (nginx forwards a read's worth as one buffer, one chunk). */
  private pending: Buffer[] = [];

  override start(): void {
    super.start();
    // The preread body goes out with the request head, as nginx sends them in one chain.
    this.r.req.takeHeld();
    this.flushPending();
  }

  protected chunk(chunk: Buffer): void {
    if (this.kept !== null) {
      this.keptSize += chunk.length;
      if (this.keptSize <= this.r.locConf.clientBodyBufferSize!) this.kept.push(chunk);
      else this.kept = null;
    }
    if (this.pending.push(chunk) === 1) queueMicrotask(() => this.flushPending());
  }

  private flushPending(): void {
    const p = this.pending;
    if (p.length === 0) return;
    this.pending = [];
    if (!this.sink.write(p.length === 1 ? p[0] : Buffer.concat(p))) this.hold();
  }

  protected complete(): void {
    this.flushPending();
    if (this.kept !== null) this.r.streamedBody = this.kept;
    this.sink.end();
  }

  protected failed(status: number): void {
    this.pending = [];
    this.sink.error(status);
  }

  resume(): void {
    this.release();
  }

  abort(): void {
    this.pending = [];
    // The caller decided to stop: no error() callback; the unread rest closes the connection.
    this.fail(0);
  }
}

let tempSerial = 0;
const madeDirs = new Map<string, Promise<void>>();

function ensureDir(dir: string): Promise<void> {
  let p = madeDirs.get(dir);
  if (!p) {
    p = mkdir(dir, { recursive: true, mode: 0o700 }).then(() => {});
    p.catch(() => madeDirs.delete(dir));
    madeDirs.set(dir, p);
  }
  return p;
}

/** Opens a new temp file (ngx_create_temp_file): 10-digit names, retried on EEXIST. */
async function openTempFile(dir: string): Promise<{ path: string; ws: WriteStream }> {
  await ensureDir(dir);
  for (let attempt = 0; ; attempt++) {
    const path = join(dir, String((process.pid * 1000 + ++tempSerial) % 1e10).padStart(10, '0'));
    const ws = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => { ws.off('error', reject); resolve(); });
        ws.once('error', reject);
      });
      return { path, ws };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 100) throw err;
    }
  }
}

export class BufferedReader extends Reader {
  private buffers: Buffer[] = [];
  private size = 0;
  private file: { path: string; ws: WriteStream } | null = null;
  /** The temp file is being opened: chunks wait in `buffers`. */
  private opening = false;
  private ended = false;
  private removed = false;

  constructor(r: HttpRequest, private readonly done: (status: number) => void) {
    super(r);
    // client_body_in_file_only on: the file outlives the request (nginx's persistent temp file)
    r.res.once('close', () => { if (r.locConf.clientBodyInFileOnly !== 'on' || this.r.body?.file == null) this.removeFile(); });
  }

  protected chunk(chunk: Buffer): void {
    const lc = this.r.locConf;
    if (this.file) {
      if (!this.file.ws.write(chunk)) {
        this.hold();
        this.file.ws.once('drain', () => this.release());
      }
      return;
    }
    this.buffers.push(chunk);
    this.size += chunk.length;
    if (this.opening) return;
    if (lc.clientBodyInFileOnly !== 'off' || this.size > lc.clientBodyBufferSize! || this.r.contentLength > lc.clientBodyBufferSize!) {
      this.spill();
    }
  }

  private spill(): void {
    this.opening = true;
    this.hold();
    const lc = this.r.locConf;
    const dir = underPrefix(this.r.server.main, lc.clientBodyTempPath || 'client_body_temp');
    openTempFile(dir).then((file) => {
      this.opening = false;
      this.file = file;
      if (this.removed) { this.removeFile(); return; }
      for (const b of this.buffers) file.ws.write(b);
      this.buffers = [];
      if (this.ended) { this.finishFile(); return; }
      if (file.ws.writableNeedDrain) file.ws.once('drain', () => this.release());
      else this.release();
    }, (err: unknown) => {
      this.opening = false;
      this.r.log('crit', `open() "${dir}/..." failed (${errnoText(err)})`);
      this.fail(500);
    });
  }

  protected complete(): void {
    this.ended = true;
    if (this.opening) return;
    if (this.file) { this.finishFile(); return; }
    if (this.r.locConf.clientBodyInFileOnly !== 'off' && this.size > 0) { this.spill(); return; }
    this.r.body = { buffers: this.buffers, file: null, length: this.size };
    this.done(0);
  }

  private finishFile(): void {
    const file = this.file!;
    file.ws.end(() => {
      if (this.removed) { this.done(400); return; }
      this.r.body = { buffers: [], file: file.path, length: this.received };
      this.done(0);
    });
  }

  protected failed(status: number): void {
    this.buffers = [];
    this.removeFile();
    queueMicrotask(() => this.done(status));
  }

  private removeFile(): void {
    this.removed = true;
    const file = this.file;
    if (!file) return;
    this.file = null;
    file.ws.destroy();
    unlink(file.path).catch(() => {});
  }
}
