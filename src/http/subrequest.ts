/**
 * Subrequests (ngx_http_subrequest) and the order of their output (the
 * postpone filter, ngx_http_postpone_filter_module.c).
 *
 * A subrequest runs a location of the parent's server (proxied, static,
 * return...) with its own $uri and $args, method GET, the client's headers
 * and body, and the parent's variables (nginx shares r->variables). Its head
 * goes nowhere; its body takes its place in the parent's output: what the
 * parent writes after starting it waits until it is complete, and so on down
 * the tree (PostponedOutput). An in-memory subrequest's body is collected
 * instead, up to subrequest_output_buffer_size, and handed to `done`.
 *
 * Subrequests run at once, side by side (nginx posts them to run after the
 * current handler); only the output waits. They are not access-logged
 * (log_subrequest off); when the client goes away each gets 'close' and its
 * onAbort, as the main request does. An error that cuts a subrequest's
 * response cuts the client's (ngx_http_terminate_request).
 */
import { EventEmitter } from 'node:events';
import { BodyFilterChain } from './body-filters.js';
import type { BodyWriter, ClientReply, ConnectionReply } from './client-reply.js';
import { logRequest, Phase, runPhases, sendSpecial } from './phases.js';
import { HttpRequest } from './request.js';

export interface SubrequestOptions {
  /** Collect the body (nginx's NGX_HTTP_SUBREQUEST_IN_MEMORY) and hand it to `done`. */
  inMemory?: boolean;
  /** Once the subrequest's response is complete: its body when in memory, else null. */
  done?: (sr: HttpRequest, body: Buffer | null) => void;
  /**
   * When the subrequest ends with an error status of its own, before its error page
   * (nginx's post_subrequest handler): true when it answered instead.
   */
  onError?: (sr: HttpRequest, status: number) => boolean;
  /**
   * Only the status and headers matter (nginx's sr->header_only): the body is
   * dropped, nothing waits for it in the output, and a failure of it does not
   * cut the client's response. `done` gets null.
   */
  headerOnly?: boolean;
  /**
   * Fire and forget (NGX_HTTP_SUBREQUEST_BACKGROUND, with headerOnly): the
   * client's response finishing or its connection closing does not end it,
   * and the client's exchange is over only once it is (ClientReply.hold).
   */
  background?: boolean;
  /**
   * The output goes after all of the parent's own, once that ends, rather
   * than after what the parent wrote so far (add_after_body: what the
   * filters below it still hold comes first).
   */
  atEnd?: boolean;
}

/**
 * Starts a subrequest of `r` to `uri` (decoded, as $uri) with `args` ('' for none).
 * Returns null, with nginx's error logged, when `r` may start no more.
 */
export function startSubrequest(r: HttpRequest, uri: string, args: string, options: SubrequestOptions = {}): HttpRequest | null {
  if (r.subrequestsLeft <= 1) {
    r.log('error', `subrequests cycle while processing "${uri}"`);
    return null;
  }
  if (r.inMemory) {
    r.log('error', `nested in-memory subrequest "${uri}"`);
    return null;
  }
  const headerOnly = options.headerOnly === true || options.background === true;
  const out = options.inMemory === true || headerOnly ? null : options.atEnd === true ? outputOf(r).childAtEnd() : outputOf(r).child();
  const res = new SubrequestReply(r.main.res, out, headerOnly, options.background === true);
  if (options.background === true) r.main.res.hold();
  const sr = new HttpRequest(r.req, res, r.conn, r.server, r.errorLog, r.requestUri, uri, args, args !== '', r.host, r);
  sr.method = 'GET';
  sr.internal = true;
  sr.subrequestsLeft = r.subrequestsLeft - 1;
  sr.requestPort = r.requestPort;
  sr.inMemory = options.inMemory === true;
  sr.output = out;
  sr.body = r.body;
  sr.bodyHandled = true;
  sr.expectTested = true;
  res.request = sr;
  res.done = options.done ?? null;
  sr.onSubrequestError = options.onError ?? null;
  queueMicrotask(() => run(sr));
  return sr;
}

function run(sr: HttpRequest): void {
  if (sr.res.destroyed) return;
  try {
    runPhases(sr, Phase.ServerRewrite);
  } catch (err) {
    sr.log('alert', `subrequest processing failed: ${(err as Error).stack ?? err}`);
    if (!sr.res.headersSent) sendSpecial(sr, 500, null);
    else sr.res.destroy();
  }
}

/**
 * Where a body filter of `r` writes: for the client's request, the start of
 * the postponed output over its reply; for a subrequest, its reply's own
 * writer (its place in the output, or its collected body), which also tells
 * the parent when it is done.
 */
export function filteredOutput(r: HttpRequest): BodyWriter {
  return r === r.main ? outputOf(r) : (r.res as SubrequestReply).unfiltered();
}

/** A body filter the header filters added may change the body's length (it is then not known ahead). */
export function bodyLengthChanges(r: HttpRequest): boolean {
  const res = r.res;
  return res.bodyFilters.changesLength || (r === r.main && (res as ConnectionReply).encoders.size > 0);
}

/**
 * Builds the response's body filter chains as its header goes (the header
 * filters have added their filters); true when a filter may change the
 * body's length.
 */
export function buildBodyFilters(r: HttpRequest): boolean {
  const res = r.res;
  const encoders = r === r.main ? (res as ConnectionReply).encoders : null;
  if (res.bodyFilters.size === 0 && (encoders === null || encoders.size === 0)) return false;
  if (encoders !== null) (res as ConnectionReply).unfiltered();
  if (res.bodyFilters.size > 0) res.bodyFilters.build(filteredOutput(r));
  return bodyLengthChanges(r);
}

function outputOf(r: HttpRequest): PostponedOutput {
  if (r.output === null) {
    const res = r.res as ConnectionReply;
    r.output = postponedOutput(res.unfiltered(), () => res.writableLength < res.socket.writableHighWaterMark);
  }
  return r.output;
}

/**
 * The top of a postponed output over `sink`, which is ended once every part
 * is written; `writable` tells a writer whether the client takes more now.
 */
export function postponedOutput(sink: BodyWriter, writable: () => boolean): PostponedOutput {
  return new PostponedOutput(new OutputRoot(sink, writable));
}

/** The client's response under the postponed output: writes what is complete, in order. */
class OutputRoot {
  top: PostponedOutput | null = null;
  private flushing = false;
  private again = false;
  private ended = false;

  constructor(private readonly sink: BodyWriter, readonly writable: () => boolean) {}

  flush(): void {
    // A write may come from inside a write (a filter passing on): the loop takes it.
    if (this.flushing) { this.again = true; return; }
    this.flushing = true;
    do {
      this.again = false;
      if (this.top!.drainTo(this.sink) && !this.ended) {
        this.ended = true;
        this.sink.end();
      }
    } while (this.again);
    this.flushing = false;
  }
}

/** One request's output in order: its own bytes and its subrequests' places (nginx's r->postponed). */
export class PostponedOutput implements BodyWriter {
  private readonly parts: Array<Buffer | PostponedOutput> = [];
  /** Places (childAtEnd) that go in as this output ends. */
  private atEnd: PostponedOutput[] | null = null;
  private ended = false;

  constructor(private readonly root: OutputRoot) {
    root.top ??= this;
  }

  /** A place for a subrequest's output, after what this request wrote so far. */
  child(): PostponedOutput {
    const c = new PostponedOutput(this.root);
    this.parts.push(c);
    return c;
  }

  /** A place for a subrequest's output after all of this request's own, put in as it ends. */
  childAtEnd(): PostponedOutput {
    if (this.ended) return this.child();
    const c = new PostponedOutput(this.root);
    (this.atEnd ??= []).push(c);
    return c;
  }

  write(chunk: Buffer): boolean {
    if (chunk.length > 0) this.parts.push(chunk);
    this.root.flush();
    return this.root.writable();
  }

  end(): void {
    if (this.atEnd !== null) for (const c of this.atEnd) this.parts.push(c);
    this.atEnd = null;
    this.ended = true;
    this.root.flush();
  }

  /** Writes what can go now; true once this request's output all went and it ended. */
  drainTo(sink: BodyWriter): boolean {
    const parts = this.parts;
    while (parts.length > 0) {
      const p = parts[0]!;
      if (p instanceof PostponedOutput) {
        if (!p.drainTo(sink)) return false;
      } else {
        sink.write(p);
      }
      parts.shift();
    }
    return this.ended;
  }
}

/**
 * A subrequest's side of ClientReply: the head is kept, not sent; the body
 * goes to its place in the output (or is collected, in memory).
 */
export class SubrequestReply extends EventEmitter implements ClientReply {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  destroyed = false;
  useChunkedEncodingByDefault = true;
  readonly headerLength = 0;
  readonly chunked = false;
  trailers: (() => readonly string[]) | null = null;
  readonly bodyFilters = new BodyFilterChain();
  /** Set by startSubrequest. */
  request: HttpRequest | null = null;
  done: ((sr: HttpRequest, body: Buffer | null) => void) | null = null;
  private collected: Buffer[] | null;
  private collectedSize = 0;
  private ending = false;
  private readonly onClientClose = (): void => this.clientGone();
  private readonly background: boolean;
  private waitingDrain = false;
  private readonly onClientDrain = (): void => { this.waitingDrain = false; this.emit('drain'); };

  constructor(
    private readonly client: ClientReply,
    private readonly out: PostponedOutput | null,
    /** Only the head counts (SubrequestOptions.headerOnly): the body is dropped, a cut ends only this reply. */
    readonly headerOnly = false,
    background = false,
  ) {
    super();
    this.collected = out === null && !headerOnly ? [] : null;
    this.background = background;
    if (!background) client.on('close', this.onClientClose);
  }

  get shouldKeepAlive(): boolean {
    return this.client.shouldKeepAlive;
  }

  get writableLength(): number {
    return this.client.writableLength;
  }

  get socket(): ClientReply['socket'] {
    return this.client.socket;
  }

  writeHead(status: number): this {
    this.statusCode = status;
    this.headersSent = true;
    return this;
  }

  write(chunk: Buffer | string): boolean {
    if (this.writableEnded || this.destroyed) return false;
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    const filter = this.bodyFilters.head;
    const more = filter !== null ? filter.write(buf) : this.writeOut(buf);
    if (!more && !this.waitingDrain) {
      this.waitingDrain = true;
      this.client.once('drain', this.onClientDrain);
    }
    return more;
  }

  /** The writer a body filter passes its output to. */
  unfiltered(): BodyWriter {
    return { write: (chunk) => this.writeOut(chunk), end: () => this.endOut() };
  }

  private writeOut(chunk: Buffer): boolean {
    if (this.destroyed) return false;
    if (this.request!.method === 'HEAD' || chunk.length === 0 || this.headerOnly) return true;
    if (this.out !== null) return this.out.write(chunk);
    const limit = this.request!.locConf.subrequestOutputBufferSize!;
    this.collectedSize += chunk.length;
    if (this.collectedSize > limit) {
      this.request!.log('error', 'too big subrequest response');
      this.destroy();
      return false;
    }
    this.collected!.push(chunk);
    return true;
  }

  end(chunk?: Buffer | string): this {
    if (this.writableEnded || this.destroyed) return this;
    if (chunk !== undefined && chunk.length > 0) this.write(chunk);
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.writableEnded = true;
    const filter = this.bodyFilters.head;
    if (filter !== null) filter.end();
    else this.endOut();
    return this;
  }

  private endOut(): void {
    if (this.destroyed || this.ending) return;
    this.ending = true;
    this.writableEnded = true;
    this.client.off('close', this.onClientClose);
    this.client.off('drain', this.onClientDrain);
    const body = this.collected === null ? null : Buffer.concat(this.collected);
    this.collected = null;
    this.writableFinished = true;
    const sr = this.request!;
    // log_subrequest (nginx logs a subrequest as it is finalized).
    if (sr.locConf.logSubrequest) logRequest(sr);
    // The parent learns of it before its later output is let through.
    this.done?.(sr, body);
    this.out?.end();
    this.emit('finish');
    this.emit('close');
    // Last: the client's exchange may end with it.
    if (this.background) this.client.release();
  }

  /** Cuts the client's response: a subrequest cannot fail on its own once output began. */
  cut(): void {
    if (this.writableEnded || this.destroyed) return;
    if (this.headerOnly) this.destroy();
    else this.client.cut();
  }

  destroy(): this {
    if (this.destroyed) return this;
    // A header-only subrequest's body is nobody's: cutting it ends it, as complete.
    if (this.headerOnly && !this.writableEnded) {
      this.end();
      return this;
    }
    this.destroyed = true;
    this.client.off('close', this.onClientClose);
    this.emit('close');
    this.client.destroy();
    return this;
  }

  private clientGone(): void {
    if (this.writableFinished || this.destroyed) return;
    this.destroyed = true;
    const sr = this.request;
    if (sr !== null) {
      sr.clientAborted = true;
      sr.onAbort?.();
    }
    this.emit('close');
  }

  flushHeaders(): void {}
  hold(): void { this.client.hold(); }
  release(): void { this.client.release(); }
  limitRate(): void {}
  writeContinue(): void {}
  writeEarlyHints(): void {}
}
