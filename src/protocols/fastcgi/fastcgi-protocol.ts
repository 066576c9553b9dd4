/**
 * The FastCGI protocol module's callbacks (ngx_http_fastcgi_create_request,
 * _reinit_request, _process_header, _input_filter_init and the
 * non-buffered/buffered input filters) over the codecs in this directory:
 * BEGIN_REQUEST + PARAMS + STDIN out; STDOUT (CGI header, then body),
 * STDERR (logged, never forwarded) and END_REQUEST in.
 *
 * A connection is reusable only when fastcgi_keep_conn is on, END_REQUEST
 * (with its padding) arrived and nothing followed it (response.ts).
 *
 * Deliberate differences from nginx:
 *   - the parser consumes whole chunks, so body bytes sharing a read with
 *     the end of the CGI header are held as views and flushed by the first
 *     inputFilter call (the core makes it even when nothing followed).
 *   - fastcgi_catch_stderr is applied while the header is read (as nginx);
 *     the reason in the core's log line names the matched string.
 */
import { markUniqueField } from '../unique-headers.js';
import type { HttpRequest } from '../../http/request.js';
import type { ComplexValue } from '../../http/variables.js';
import type { Upstream, UpstreamProtocol } from '../../upstream/upstream.js';
import type { CgiHeaderParser } from './cgi-header.js';
import { encodeRequestHead, type FcgiParam } from './params.js';
import { encodeStdin, FCGI_STDIN_END, FcgiMessages } from './records.js';
import { FcgiResponseParser, type FcgiResponseSink } from './response.js';

/** One fastcgi_param. */
export interface FastcgiParamSpec {
  readonly name: string;
  readonly value: ComplexValue;
  readonly ifNotEmpty: boolean;
}

/** Compiled per location (lazily, once). */
/** The params a request is made with. */
export interface FastcgiParams {
  readonly list: readonly FastcgiParamSpec[];
  /** `HTTP_*` names among them: client headers with these names are not passed. */
  readonly httpNames: ReadonlySet<string>;
}

export interface FastcgiRequestTemplate {
  readonly params: FastcgiParams;
  /**
   * The params when the response may be stored (nginx's params_cache: no
   * client conditions or range, a revalidation's own); null without a cache.
   */
  readonly cacheParams: FastcgiParams | null;
  readonly passRequestHeaders: boolean;
  readonly keepConn: boolean;
  /** Lower-case response header names hidden from the client. */
  readonly hide: ReadonlySet<string>;
  readonly catchStderr: readonly string[];
  readonly bufferSize: number;
}

/** nginx's ngx_http_fastcgi_hide_headers, plus the framing and Server (see the header). */
export const FASTCGI_DEFAULT_HIDE = [
  'status', 'x-accel-expires', 'x-accel-redirect', 'x-accel-limit-rate', 'x-accel-buffering', 'x-accel-charset',
];
const ALWAYS_DROP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'trailer', 'upgrade']);

const enum Phase { Header = 0, Body = 1 }

export class FastcgiProtocol implements UpstreamProtocol, FcgiResponseSink {
  readonly name = 'fastcgi';
  private parser: FcgiResponseParser;
  private u: Upstream | null = null;
  private phase = Phase.Header;
  private pending: Buffer[] = [];
  private first = true;
  private caught: string | null = null;
  /** The CGI header was parsed (stderr after it is logged "while reading upstream", as nginx). */
  private headerSeen = false;
  /** Body bytes still expected when the application sent Content-Length (-1: none). */
  private rest = -1;
  private overflow = false;

  constructor(private readonly r: HttpRequest, private readonly t: FastcgiRequestTemplate) {
    this.parser = new FcgiResponseParser({ bufferSize: t.bufferSize });
  }

  createRequest(u: Upstream): Buffer[] {
    const r = this.r;
    const t = this.t;
    const params = t.cacheParams !== null && u.cache !== null && u.cache.cacheable ? t.cacheParams : t.params;
    return [encodeRequestHead(buildParams(r, params, t.passRequestHeaders), t.keepConn)];
  }

  /** The request body goes out as STDIN records (the core streams or replays it). */
  frameBody(chunk: Buffer): Buffer[] {
    return encodeStdin(chunk);
  }

  bodyEnd(): Buffer {
    return FCGI_STDIN_END;
  }

  reinitRequest(): void {
    this.parser = new FcgiResponseParser({ bufferSize: this.t.bufferSize });
    this.phase = Phase.Header;
    this.pending = [];
    this.first = true;
    this.caught = null;
    this.headerSeen = false;
    this.rest = -1;
    this.overflow = false;
  }

  // FcgiResponseSink

  onHeader(): void {
    this.headerSeen = true;
  }

  onBody(view: Buffer): void {
    if (this.rest >= 0) {
      if (this.rest === 0) { this.overflow = true; return; }
      if (view.length > this.rest) { this.overflow = true; view = view.subarray(0, this.rest); }
      this.rest -= view.length;
    }
    if (this.phase === Phase.Header) this.pending.push(view);
    else this.u!.sendToClient(view);
  }

  onStderr(text: Buffer): void {
    const u = this.u!;
    const s = text.toString('latin1');
    u.log('error', `${FcgiMessages.stderr(s)} ${this.headerSeen ? 'while reading upstream' : 'while reading response header from upstream'}`);
    if (!this.headerSeen && this.caught === null) {
      for (const needle of this.t.catchStderr) {
        if (s.includes(needle)) { this.caught = needle; break; }
      }
    }
  }

  processHeader(u: Upstream, data: Buffer): 'again' | 'ok' | 'invalid' {
    this.u = u;
    const st = this.parser.feed(data, this);
    if (this.caught !== null) {
      u.invalidReason = `FastCGI stderr matched fastcgi_catch_stderr "${this.caught}"`;
      return 'invalid';
    }
    if (st === 'header') return 'again';
    if (st === 'invalid') {
      u.invalidReason = this.parser.error ?? 'upstream sent invalid header';
      return 'invalid';
    }
    const h = this.parser.header;
    u.status = h.status;
    // A bare code takes nginx's own text (ngx_http_fastcgi_process_header).
    u.statusLine = h.statusLine.length > 3 ? h.statusLine : null;
    u.headerConsumed = data.length;
    u.headersOut = this.responseHeaders(h);
    return 'ok';
  }

  private responseHeaders(h: CgiHeaderParser): string[] {
    const out: string[] = [];
    const hide = this.t.hide;
    let length = -1;
    let unique = 0;
    for (let i = 0; i < h.headers.length; i++) {
      const { name, value } = h.headers[i];
      const lname = name.toLowerCase();
      const seen = markUniqueField(this.r, unique, lname, `${name}: ${value}`, () => {
        const first = h.headers.find((f) => f.name.toLowerCase() === lname)!;
        return `${first.name}: ${first.value}`;
      });
      if (seen === -1) continue;
      unique = seen;
      if (lname === 'content-length') {
        const n = /^[0-9]{1,15}$/.test(value) ? Number(value) : -1;
        if (n >= 0) length = n;
        continue;
      }
      // The control headers the core acts on (and the client never sees by default).
      this.u!.control.take(lname, value);
      if (hide.has(lname) || ALWAYS_DROP.has(lname)) continue;
      out.push(name, value);
    }
    this.rest = length;
    this.u!.contentLength = length;
    // Content-Length applies to bytes already parsed with the header.
    if (length >= 0 && this.pending.length > 0) {
      const views = this.pending;
      this.pending = [];
      for (let i = 0; i < views.length; i++) this.trimPending(views[i]);
    }
    return out;
  }

  private trimPending(view: Buffer): void {
    if (this.rest === 0) { this.overflow = true; return; }
    if (view.length > this.rest) { this.overflow = true; view = view.subarray(0, this.rest); }
    this.rest -= view.length;
    this.pending.push(view);
  }

  inputFilterInit(): void {
    this.phase = Phase.Body;
  }

  inputFilter(u: Upstream, data: Buffer): void {
    if (this.first) {
      // The whole chunk was parsed with the header (`data` is empty): flush what it held.
      this.first = false;
      const pending = this.pending;
      this.pending = [];
      for (let i = 0; i < pending.length; i++) u.sendToClient(pending[i]);
    } else {
      this.parser.feed(data, this);
    }
    const st = this.parser.state;
    if (st === 'body') return;
    if (st === 'invalid') { u.bodyInvalid(this.parser.error ?? 'upstream sent invalid FastCGI record'); return; }
    // END_REQUEST
    if (this.rest > 0) { u.bodyInvalid('upstream prematurely closed connection'); return; }
    if (this.overflow) u.log('warn', 'upstream sent more data than specified in "Content-Length" header while reading upstream');
    u.bodyComplete(this.t.keepConn && this.parser.keepalive && !this.overflow);
  }

  inputEof(): 'complete' | 'truncated' {
    return this.parser.finish() === null && this.parser.state === 'done' ? 'complete' : 'truncated';
  }

  abortRequest(): void {}

  finalizeRequest(): void {
    this.u = null;
    this.pending = [];
  }
}

/** fastcgi_param values, then the client headers as HTTP_* (ngx_http_fastcgi_create_request). */
function buildParams(r: HttpRequest, params: FastcgiParams, passRequestHeaders: boolean): FcgiParam[] {
  const out: FcgiParam[] = [];
  for (let i = 0; i < params.list.length; i++) {
    const p = params.list[i];
    const v = p.value.evaluate(r);
    if (v === '' && p.ifNotEmpty) continue;
    out.push({ name: p.name, value: v });
  }
  if (!passRequestHeaders) return out;
  const raw = r.req.rawHeaders;
  const dropped = r.droppedHeaders;
  // Same-name headers are joined into one param (nginx 1.23+): "; " for Cookie, ", " otherwise.
  let names: string[] | null = null;
  let values: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (dropped !== null && dropped.includes(i)) continue;
    const name = cgiName(raw[i]);
    if (params.httpNames.has(name)) continue;
    names ??= [];
    values ??= [];
    const j = names.indexOf(name);
    if (j === -1) { names.push(name); values.push(raw[i + 1]); continue; }
    values[j] += (name === 'HTTP_COOKIE' ? '; ' : ', ') + raw[i + 1];
  }
  if (names !== null) for (let i = 0; i < names.length; i++) out.push({ name: names[i], value: values![i] });
  return out;
}

/** `User-Agent` → `HTTP_USER_AGENT`: letters upper-cased, `-` → `_`, other bytes kept. */
export function cgiName(header: string): string {
  let s = 'HTTP_';
  for (let i = 0; i < header.length; i++) {
    const c = header.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) s += String.fromCharCode(c - 0x20);
    else if (c === 0x2d) s += '_';
    else s += header[i];
  }
  return s;
}
