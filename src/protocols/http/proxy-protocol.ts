/**
 * The HTTP proxy protocol module's callbacks (ngx_http_proxy_create_request,
 * _reinit_request, _process_status_line/_process_header, _input_filter_init,
 * the non-buffered filters): builds the upstream request from parsed fields
 * (never raw client bytes), parses the response strictly, strips hop-by-hop
 * headers both ways and regenerates framing.
 *
 * Differences from nginx: headers the client names in its Connection header
 * are dropped before proxy_set_header adds its own (RELIABILITY R29); header
 * values computed from variables that contain CR, LF or NUL are not sent
 * (the header is dropped and an error logged: C1).
 */
import type { HttpRequest } from '../../http/request.js';
import type { ComplexValue } from '../../http/variables.js';
import type { HeaderResult, Upstream, UpstreamProtocol } from '../../upstream/upstream.js';
import { BodyReader } from './body-framing.js';
import { ResponseHeadParser, type ResponseHead } from './response-parser.js';
import { escapeUri, EscapeType } from '../../http/uri.js';
import { rewriteSetCookie, type CookieRewriter } from './cookie-rewrite.js';
import { rewriteValue, type RewriteRule } from './proxy-rewrite.js';
import { isUniqueUpstreamField, markUniqueField } from '../unique-headers.js';

/** Compiled per location at config time. */
/** The header fields a request is made with. */
export interface ProxyHeaders {
  /** proxy_set_header pairs in order (an empty value removes the header). */
  readonly set: ReadonlyArray<readonly [string, ComplexValue]>;
  /** Lower-case names that client headers may not supply (set by us, or hop-by-hop). */
  readonly skipClient: ReadonlySet<string>;
}

export interface ProxyRequestTemplate {
  /** proxy_method, or null for the client's method. */
  readonly method: ComplexValue | null;
  readonly httpVersion: '1.0' | '1.1';
  readonly headers: ProxyHeaders;
  /**
   * The headers when the response may be stored (nginx's headers_cache: no
   * client conditions or range, a revalidation's own); null without a cache.
   */
  readonly cacheHeaders: ProxyHeaders | null;
  readonly passRequestHeaders: boolean;
  readonly setBody: ComplexValue | null;
  /** Lower-case response header names hidden from the client. */
  readonly hideResponseHeaders: ReadonlySet<string>;
  /** proxy_set_header sets Connection: no `Connection: close` for HTTP/1.0 upstreams then. */
  readonly setsConnection: boolean;
  /** proxy_set_header passes Upgrade to the upstream (nginx's WebSocket recipe): a 101 may be tunnelled. */
  readonly passUpgrade: boolean;
  /** proxy_redirect's rules, or null (off, or none at any level). */
  readonly redirects: readonly RewriteRule[] | null;
  /** proxy_cookie_domain / _path / _flags, or null when none applies. */
  readonly cookies: CookieRewriter | null;
}

/** Where to send, decided per request (proxy_pass with variables may change it). */
export interface ProxyTarget {
  /** The request target to send: path and query. */
  readonly uri: string;
  /** The method sent instead of the client's and proxy_method (the cache's GET for a HEAD: nginx's u->method). */
  method?: string;
}

const HOP_BY_HOP_RESPONSE = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'content-length', 'te', 'trailer', 'upgrade',
]);

function hasBadByte(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0x00) return true;
  }
  return false;
}

const kUpstreamHead = Symbol('weir.upstreamHead');
type WithHead = HttpRequest & { [kUpstreamHead]?: ResponseHead; [kUpstreamTrailers]?: BodyReader };
const kUpstreamTrailers = Symbol('weir.upstreamTrailers');

/** The last upstream response head of the request ($upstream_http_NAME). */
export function lastUpstreamHead(r: HttpRequest): ResponseHead | undefined {
  return (r as WithHead)[kUpstreamHead];
}

/**
 * $upstream_http_NAME of a head: repeats joined with ", ", as nginx 1.23+;
 * a field that may appear once gives its first value (repeats were ignored).
 */
export function upstreamField(head: ResponseHead, lname: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < head.lowerNames.length; i++) {
    if (head.lowerNames[i] !== lname) continue;
    if (out === undefined) { out = head.values[i]; if (isUniqueUpstreamField(lname)) break; }
    else out += ', ' + head.values[i];
  }
  return out;
}

/** "Name: value" of the first field named `lname`. */
function firstField(head: ResponseHead, lname: string): string {
  const i = head.lowerNames.indexOf(lname);
  return `${head.names[i]}: ${head.values[i]}`;
}

export function lastUpstreamTrailer(r: HttpRequest, lname: string): string | undefined {
  return (r as WithHead)[kUpstreamTrailers]?.trailer(lname);
}

export class ProxyProtocol implements UpstreamProtocol {
  readonly name = 'http';
  private readonly parser: ResponseHeadParser;
  private reader: BodyReader | null = null;

  constructor(private readonly r: HttpRequest, private readonly t: ProxyRequestTemplate, private readonly target: ProxyTarget, bufferSize: number) {
    this.parser = new ResponseHeadParser(bufferSize);
  }

  get uri(): string {
    return escapeTargetControls(this.target.uri);
  }

  createRequest(u: Upstream): Buffer[] {
    const r = this.r;
    const t = this.t;
    const method = this.target.method ?? (t.method ? t.method.evaluate(r) : r.method);
    let head = `${method} ${this.uri} HTTP/${t.httpVersion}\r\n`;
    const headers = t.cacheHeaders !== null && u.cache !== null && u.cache.cacheable ? t.cacheHeaders : t.headers;
    for (const [name, value] of headers.set) {
      const v = value.evaluate(r);
      if (v === '') continue;
      if (hasBadByte(v)) {
        r.log('error', `header "${name}" value contains CR, LF or NUL, not sent`);
        continue;
      }
      head += `${name}: ${v}\r\n`;
    }
    if (t.passRequestHeaders) head += clientHeaders(r, headers.skipClient);
    let body: Buffer | null = null;
    if (t.setBody) {
      body = Buffer.from(t.setBody.evaluate(r), 'latin1');
      head += `Content-Length: ${body.length}\r\n`;
    } else if (r.body && u.conf.passRequestBody) {
      head += `Content-Length: ${r.body.length}\r\n`;
    } else if (u.conf.passRequestBody && (r.contentLength > 0 || r.chunked)) {
      // Unbuffered body: the body module streams it after the head.
      head += r.contentLength >= 0 ? `Content-Length: ${r.contentLength}\r\n` : 'Transfer-Encoding: chunked\r\n';
    }
    if (t.httpVersion === '1.0' && !t.setsConnection) head += 'Connection: close\r\n';
    head += '\r\n';
    const bufs: Buffer[] = [Buffer.from(head, 'latin1')];
    if (body) bufs.push(body);
    return bufs;
  }

  reinitRequest(): void {
    this.parser.reset();
    this.reader = null;
  }

  processHeader(u: Upstream, data: Buffer): HeaderResult {
    const r = this.r;
    let chunk = data;
    let consumedBefore = 0;
    for (;;) {
      const rc = this.parser.feed(chunk);
      if (rc === 'again') return 'again';
      if (rc === 'invalid') { u.invalidReason = this.parser.reason; return 'invalid'; }
      if (rc === 'interim') {
        const head = this.parser.head!;
        if (head.statusCode === 103 && r.req.httpVersionMajor === 1 && r.req.httpVersionMinor >= 1) forwardEarlyHints(r, head);
        consumedBefore += this.parser.consumed;
        chunk = chunk.subarray(this.parser.consumed);
        // The parser starts the next head itself, and keeps counting 1xx heads for the cap (U6).
        continue;
      }
      break;
    }
    const head = this.parser.head!;
    const upgrading = head.upgrade && r.upgrade && this.t.passUpgrade;
    if (head.upgrade && !upgrading) {
      // A 101 the client did not ask for (U7), or a location that does not forward Upgrade.
      u.invalidReason = 'upstream sent "101 Switching Protocols" to a request that did not ask to upgrade';
      return 'refused';
    }
    u.headerConsumed = consumedBefore + this.parser.consumed;
    u.status = head.statusCode;
    u.statusLine = head.statusLine;
    (r as WithHead)[kUpstreamHead] = head;
    const hidden = this.t.hideResponseHeaders;
    u.locationRewritten = false;
    const out: string[] = [];
    const tokens = head.connectionTokens;
    let unique = 0;
    for (let i = 0; i < head.names.length; i++) {
      const lname = head.lowerNames[i];
      const seen = markUniqueField(r, unique, lname, `${head.names[i]}: ${head.values[i]}`, () => firstField(head, lname));
      if (seen === -1) continue;
      unique = seen;
      u.control.take(lname, head.values[i]);
      if (hidden.has(lname)) continue;
      // A 101's own Connection goes: the header filter writes `Connection: upgrade`.
      if (HOP_BY_HOP_RESPONSE.has(lname) && !(upgrading && lname === 'upgrade')) continue;
      if (tokens.length > 0 && tokens.includes(lname) && !(upgrading && lname === 'upgrade')) continue;
      let value = head.values[i];
      if (this.t.redirects !== null && lname === 'location') {
        const v = rewriteValue(r, value, 0, this.t.redirects);
        // Only a rewritten Location is nginx's r->headers_out.location, made absolute if relative.
        if (v !== null) { value = v; u.locationRewritten = true; }
      } else if (this.t.redirects !== null && lname === 'refresh') {
        value = rewriteRefresh(r, value, this.t.redirects) ?? value;
      } else if (this.t.cookies !== null && lname === 'set-cookie') {
        value = rewriteSetCookie(r, value, this.t.cookies) ?? value;
      }
      out.push(head.names[i], value);
    }
    u.headersOut = out;
    this.reader = BodyReader.forHead(head, (this.target.method ?? r.method) === 'HEAD');
    // No body to come (HEAD, 204, 304, a length of 0): reusable already, as nginx's u->keepalive.
    if (this.reader.done) u.keepalive = !head.connectionClose;
    u.contentLength = head.contentLength >= 0 && !head.chunked ? head.contentLength : this.reader.done ? 0 : -1;
    if (r.method === 'HEAD' && head.contentLength >= 0) u.contentLength = head.contentLength;
    return 'ok';
  }

  inputFilterInit(): void {}

  inputFilter(u: Upstream, data: Buffer): void {
    const reader = this.reader!;
    const rc = reader.feed(data);
    const views = reader.views;
    for (let i = 0; i < views.length; i++) u.sendToClient(views[i]);
    if (rc === 'again') return;
    if (rc === 'invalid') { u.bodyInvalid(reader.reason); return; }
    if (reader.sawExtra) u.log('warn', `${reader.extraReason} while reading upstream`);
    if (reader.chunked) (this.r as WithHead)[kUpstreamTrailers] = reader;
    const head = this.parser.head!;
    u.bodyComplete(reader.reusable && !reader.sawExtra && !head.connectionClose);
  }

  inputEof(): 'complete' | 'truncated' {
    const rc = this.reader ? this.reader.eof() : 'truncated';
    return rc === 'done' ? 'complete' : 'truncated';
  }

  abortRequest(): void {}

  finalizeRequest(): void {}
}

const TARGET_CONTROL = /[\x00-\x20\x7f]/;

/**
 * The request target as it goes on the wire: a URI from variables (`$uri` is
 * decoded, so `%0d%0a` is a CR LF there) may hold CTLs or spaces, which would
 * end the request line early (RELIABILITY C1; nginx sends them as they are):
 * they go as %XX, which the upstream decodes back to what the client sent.
 */
function escapeTargetControls(uri: string): string {
  if (!TARGET_CONTROL.test(uri)) return uri;
  let out = '';
  for (let i = 0; i < uri.length; i++) {
    const c = uri.charCodeAt(i);
    out += c <= 0x20 || c === 0x7f ? '%' + (c < 16 ? '0' : '') + c.toString(16).toUpperCase() : uri[i];
  }
  return out;
}

/** proxy_redirect rewrites what follows the first `url=` (in any case) of a Refresh field, as nginx does. */
function rewriteRefresh(r: HttpRequest, value: string, rules: readonly RewriteRule[]): string | null {
  const at = value.search(/url=/i);
  return at === -1 ? null : rewriteValue(r, value, at + 4, rules);
}

/** Client header lines to forward, as received (names and values are latin1 strings from the request parser). */
function clientHeaders(r: HttpRequest, skip: ReadonlySet<string>): string {
  const raw = r.req.rawHeaders;
  const dropped = r.droppedHeaders;
  // Headers the client declared hop-by-hop in its Connection header (R29).
  let nominated: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length !== 10 || raw[i].toLowerCase() !== 'connection') continue;
    for (const token of raw[i + 1].toLowerCase().split(',')) (nominated ??= []).push(token.trim());
  }
  let out = '';
  for (let i = 0; i < raw.length; i += 2) {
    if (dropped !== null && dropped.includes(i)) continue;
    const lname = raw[i].toLowerCase();
    if (skip.has(lname)) continue;
    if (nominated !== null && nominated.includes(lname)) continue;
    out += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return out;
}

function forwardEarlyHints(r: HttpRequest, head: ResponseHead): void {
  const links: string[] = [];
  for (let i = 0; i < head.lowerNames.length; i++) if (head.lowerNames[i] === 'link') links.push(head.values[i]);
  if (links.length > 0 && !r.res.headersSent) {
    try { r.res.writeEarlyHints({ link: links }); } catch { /* client gone */ }
  }
}

/** The URI to send for a proxy_pass with a URI part (location prefix replaced), escaped as nginx does. */
export function replacePrefix(r: HttpRequest, locationName: string, passUri: string): string {
  const rest = r.uri.startsWith(locationName) ? r.uri.slice(locationName.length) : r.uri;
  const path = passUri + escapeUri(rest, EscapeType.Uri);
  return r.hasArgs ? `${path}?${r.args}` : path;
}

/** The URI to send for a proxy_pass without a URI part. */
export function unchangedUri(r: HttpRequest): string {
  if (!r.internal && !r.uriChangedByRewrite()) return r.requestUri;
  const path = escapeUri(r.uri, EscapeType.Uri);
  return r.hasArgs ? `${path}?${r.args}` : path;
}
