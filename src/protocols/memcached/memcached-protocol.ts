/**
 * The memcached protocol module's callbacks (ngx_http_memcached_create_request,
 * _reinit_request, _process_header, _filter_init, _filter) over the codec in
 * codec.ts: `get KEY\r\n` out, `VALUE KEY FLAGS LENGTH\r\n` + data +
 * `\r\nEND\r\n` in. The data is the body; a lone `END` is a 404 that nginx
 * intercepts (intercept_404) and answers with its own page; anything else in
 * the header is an invalid header (502, next upstream if allowed).
 *
 * Deliberate differences from nginx:
 *   - the codec parses the whole chunk it is fed, so body bytes that share a
 *     read with the VALUE line are held as views and flushed on the first
 *     inputFilter call (the core makes it even when nothing followed).
 *   - the 404 page is sent from here when no error_page covers 404 (the core
 *     has no intercept_404); with an error_page the core redirects as nginx,
 *     but then does not keep the connection (nginx does).
 */
import { contentTypeFor } from '../../http/mime.js';
import type { HttpRequest } from '../../http/request.js';
import { specialPage } from '../../http/special-response.js';
import type { Upstream, UpstreamProtocol } from '../../upstream/upstream.js';
import { MemcachedResponseParser, type MemcachedGetRequest, type MemcachedSink } from './codec.js';

export interface MemcachedProtocolOptions {
  readonly bufferSize: number;
  /** memcached_gzip_flag, 0 off. */
  readonly gzipFlag: number;
}

export class MemcachedProtocol implements UpstreamProtocol, MemcachedSink {
  readonly name = 'memcached';
  private parser: MemcachedResponseParser;
  private u: Upstream | null = null;
  /** Body views from the chunk that completed the header (flushed by the first inputFilter). */
  private pending: Buffer[] = [];
  private headerPhase = true;
  private first = true;
  /** The built-in 404 page, when we answer it ourselves. */
  private page: Buffer | null = null;

  constructor(private readonly r: HttpRequest, private readonly req: MemcachedGetRequest, private readonly opts: MemcachedProtocolOptions) {
    this.parser = this.newParser();
  }

  private newParser(): MemcachedResponseParser {
    return new MemcachedResponseParser({ key: this.req.escapedKey, bufferSize: this.opts.bufferSize, gzipFlag: this.opts.gzipFlag });
  }

  createRequest(): Buffer[] {
    return [this.req.request];
  }

  reinitRequest(): void {
    this.parser = this.newParser();
    this.pending = [];
    this.headerPhase = true;
    this.first = true;
    this.page = null;
  }

  // MemcachedSink
  onHeader(): void {}

  onData(view: Buffer): void {
    if (this.headerPhase) this.pending.push(view);
    else this.u!.sendToClient(view);
  }

  processHeader(u: Upstream, data: Buffer): 'again' | 'ok' | 'invalid' {
    this.u = u;
    const st = this.parser.feed(data, this);
    if (st === 'header') return 'again';
    if (st === 'invalid') {
      u.invalidReason = this.parser.error!;
      return 'invalid';
    }
    const p = this.parser;
    const r = this.r;
    u.status = p.status;
    u.statusLine = null;
    u.headerConsumed = data.length;
    if (p.status === 404) {
      r.log('info', p.notFoundMessage, u.upstreamUrl());
      this.page = specialPage(404, r.locConf.serverTokens!) ?? Buffer.alloc(0);
      u.headersOut = ['Content-Type', 'text/html'];
      u.contentLength = this.page.length;
      return 'ok';
    }
    // ngx_http_set_content_type: by the URI's extension, else default_type.
    const out = ['Content-Type', contentTypeFor(r.locConf, r.uri)];
    if (p.gzip) out.push('Content-Encoding', 'gzip');
    u.headersOut = out;
    u.contentLength = p.length;
    return 'ok';
  }

  inputFilterInit(): void {
    this.headerPhase = false;
  }

  inputFilter(u: Upstream, data: Buffer): void {
    if (this.first) {
      // The whole chunk was parsed with the header (`data` is empty): flush what it held.
      this.first = false;
      if (this.page) u.sendToClient(this.page);
      const pending = this.pending;
      this.pending = [];
      for (let i = 0; i < pending.length; i++) u.sendToClient(pending[i]);
    } else {
      this.parser.feed(data, this);
    }
    if (this.parser.state !== 'done') return;
    const p = this.parser;
    if (p.warning !== null) u.log('error', `${p.warning} while reading upstream`);
    u.bodyComplete(p.keepalive);
  }

  inputEof(): 'complete' | 'truncated' {
    return this.parser.finish() === null ? 'complete' : 'truncated';
  }

  abortRequest(): void {}

  finalizeRequest(): void {
    this.u = null;
    this.pending = [];
  }
}
