/*
 * A FastCGI response as the upstream core sees it: records -> CGI header ->
 * body, with nginx's rules for each phase.
 *
 * Mirrors how ngx_http_fastcgi_process_header() and the input filters use
 * ngx_http_fastcgi_process_record():
 * - while the header is being read only STDOUT and STDERR may come;
 *   END_REQUEST there is "upstream sent unexpected FastCGI record: 3" and an
 *   empty STDOUT is "upstream prematurely closed FastCGI stdout" (both 502);
 * - STDERR is logged ("FastCGI sent in stderr: ...") in both phases and never
 *   forwarded;
 * - after the header, STDOUT content is the body, an empty STDOUT just closes
 *   stdout, END_REQUEST ends the response; the connection may be kept only if
 *   nothing follows END_REQUEST's padding (fastcgi_keep_conn).
 *
 * Deliberate differences: see records.ts and cgi-header.ts.
 */

import { CgiHeaderParser, FCGI_DEFAULT_BUFFER_SIZE } from './cgi-header.js';
import { FcgiRecordDecoder, FcgiType, type FcgiRecordSink } from './records.js';

export const FcgiResponseMessages = {
  unexpectedRecord: (type: number): string => `upstream sent unexpected FastCGI record: ${type}`,
  stdoutClosed: 'upstream prematurely closed FastCGI stdout',
} as const;

/**
 * Receives the response, synchronously from feed(), in stream order: onHeader
 * once, then onBody views (into the fed chunks; never copies). onStderr may
 * come at any point before the end.
 */
export interface FcgiResponseSink {
  onHeader(header: CgiHeaderParser): void;
  onBody(view: Buffer): void;
  /** Trimmed STDERR record text; log FcgiMessages.stderr(text.toString()). */
  onStderr(text: Buffer): void;
}

export type FcgiResponseState = 'header' | 'body' | 'done' | 'invalid';

export interface FcgiResponseOptions {
  /** fastcgi_buffer_size: bound on the CGI header. */
  readonly bufferSize?: number;
}

/**
 * One per try.
 *
 *   const r = new FcgiResponseParser({ bufferSize: 4096 });
 *   socket.on('data', (chunk) => {
 *     switch (r.feed(chunk, sink)) {
 *       case 'invalid': fail(r.error); break;          // 502 before the header, else close
 *       case 'done': finish(r.keepalive); break;       // r.extraBytes > 0: dropped
 *     }
 *   });
 *   socket.on('end', () => { const e = r.finish(); if (e) fail(e); });
 */
export class FcgiResponseParser implements FcgiRecordSink {
  readonly header: CgiHeaderParser;
  /** END_REQUEST's appStatus and protocolStatus, once read. */
  appStatus = 0;
  protocolStatus = 0;

  private readonly decoder = new FcgiRecordDecoder();
  private out: FcgiResponseSink | null = null;
  private headerDone = false;

  constructor(opts: FcgiResponseOptions = {}) {
    this.header = new CgiHeaderParser(opts.bufferSize ?? FCGI_DEFAULT_BUFFER_SIZE);
  }

  get error(): string | null {
    return this.decoder.error;
  }

  get extraBytes(): number {
    return this.decoder.extraBytes;
  }

  get keepalive(): boolean {
    return this.headerDone && this.decoder.keepalive;
  }

  get state(): FcgiResponseState {
    const d = this.decoder.state;
    if (d === 'invalid') return 'invalid';
    if (d === 'end') return 'done';
    return this.headerDone ? 'body' : 'header';
  }

  feed(chunk: Buffer, sink: FcgiResponseSink): FcgiResponseState {
    this.out = sink;
    this.decoder.feed(chunk, this);
    this.out = null;
    return this.state;
  }

  /** Reject the response from outside (e.g. fastcgi_catch_stderr matched). */
  abort(message: string): void {
    this.decoder.abort(message);
  }

  /** The upstream closed: nginx's text if the response was not complete, else null. */
  finish(): string | null {
    return this.decoder.finish();
  }

  /* ----------------------------------------------- FcgiRecordSink, internal */

  onRecordHeader(type: number, contentLength: number): string | null {
    if (this.headerDone) return null;
    if (type === FcgiType.END_REQUEST) return FcgiResponseMessages.unexpectedRecord(type);
    if (type === FcgiType.STDOUT && contentLength === 0) return FcgiResponseMessages.stdoutClosed;
    return null;
  }

  onStdout(view: Buffer): void {
    const out = this.out!;
    if (this.headerDone) {
      if (view.length > 0) out.onBody(view);
      return;
    }
    const st = this.header.feed(view);
    if (st === 'again') return;
    if (st === 'invalid') {
      this.decoder.abort(this.header.error!);
      return;
    }
    this.headerDone = true;
    out.onHeader(this.header);
    if (this.header.bodyOffset < view.length) out.onBody(view.subarray(this.header.bodyOffset));
  }

  onStdoutEnd(): void {
    // after the header: the application closed stdout; END_REQUEST follows
  }

  onStderr(text: Buffer): void {
    this.out!.onStderr(text);
  }

  onEndRequest(appStatus: number, protocolStatus: number): void {
    this.appStatus = appStatus;
    this.protocolStatus = protocolStatus;
  }
}
