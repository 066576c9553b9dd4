/**
 * One client request (ngx_http_request_t): what was asked, which server and
 * location serve it, its per-request variables, and what was answered.
 *
 * The response is written through ServerReply (h1/reply.ts); `sendHeader` and
 * `finalize` are the only ways handlers answer, so that the status, the byte
 * counts and the log phase are kept in one place.
 */
import type { Socket } from 'node:net';
import type { IncomingRequest } from './h1/incoming.js';
import type { ClientReply } from './client-reply.js';
import type { PostponedOutput } from './subrequest.js';
import type { RangeParts } from './range-filter.js';
import type { HttpConfLevel } from '../config/module.js';
import type { ErrorLog, LogRequestContext } from '../observability/error-log.js';
import type { ContentHandler, CoreLocConf, CoreMainConf, CoreSrvConf, LocationEntry } from './core-module.js';
import { loopTimeMs } from './loop-clock.js';
import type { ProxyProtocol } from './proxy-protocol.js';

/**
 * What a request asks of its client connection: H1Connection, or for an
 * HTTP/2 stream its H2StreamConn (h2/stream.ts).
 */
export interface ClientConnection {
  /** lingering_close of the serving location. */
  lingeringClose: 'on' | 'off' | 'always';
  /** keepalive_timeout for the idle time after the exchange. */
  setKeepaliveTimeout(ms: number): void;
  /** The connection becomes a tunnel (101): the bytes that followed the request. */
  detach(): Buffer;
  /** A request is being served (a graceful stop lets it finish). */
  readonly busy: boolean;
  /** Ends the connection after what was written. */
  close(): void;
}

/** Per client connection (ngx_connection_t + ngx_http_connection_t). */
export interface ConnectionState {
  /** $connection: a serial number per worker. */
  readonly id: number;
  /** $connection_requests so far (incremented when a request starts). */
  requests: number;
  /** ms timestamp of accept, for keepalive_time. */
  readonly startTime: number;
  readonly socket: Socket;
  /** The HTTP/1 framing of this connection (an upgrade takes the socket from it), or an HTTP/2 stream's. */
  readonly h1: ClientConnection;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** A graceful shutdown asked this connection to close after the current response. */
  closing: boolean;
  /** socket.bytesWritten when the previous request was logged ($bytes_sent per request). */
  bytesBaseline: number;
  /** send_timeout in force (the location's, once known) and the sweep's view of progress. */
  sendTimeout: number;
  sendProgress: number;
  sendStalledSince: number;
  /** TCP_NODELAY as last set (tcp_nodelay of the location in force). */
  noDelay: boolean;
  /** c->proxy_protocol: the PROXY protocol header's addresses (null/absent: none). */
  proxyProtocol?: ProxyProtocol | null;
}

/** A chosen server with its level and runtime lookups (built by server.ts). */
export interface ServerRuntime {
  readonly level: HttpConfLevel;
  readonly core: CoreSrvConf;
  readonly main: CoreMainConf;
  /** The first server_name ($server_name). */
  readonly name: string;
  /**
   * Finds the location for a URI; sets r.captures for regex matches, and
   * r.autoRedirect to the location's name when $uri names it without its
   * trailing slash (nginx's auto_redirect), else null.
   */
  findLocation(r: HttpRequest, uri: string): HttpConfLevel;
  /** Finds a named `@location`. */
  findNamed(name: string): HttpConfLevel | null;
}

/** What a request-body reader yields (see body.ts). */
export interface RequestBody {
  /** In-memory parts, in order (empty when spilled to a file). */
  readonly buffers: Buffer[];
  /** Temp file holding the whole body when it exceeded client_body_buffer_size. */
  readonly file: string | null;
  readonly length: number;
}

export class HttpRequest {
  /** $uri: normalised, changed by rewrites and internal redirects. */
  uri: string;
  /** $args. */
  args: string;
  hasArgs: boolean;
  /** The target had %-escapes (proxy_pass with a URI part re-escapes). */
  quotedUri = false;
  /** $host. */
  host: string;
  /** $request_port: the port of the request line's authority, else of Host (nginx's r->port); 0 when none. */
  requestPort = 0;
  /** Current location level and its core conf. */
  loc!: HttpConfLevel;
  locConf!: CoreLocConf;
  locEntry: LocationEntry | undefined;
  /** The content handler in effect (the location's, kept when an `if` level has none). */
  contentHandler: ContentHandler | null = null;
  /** `set` variables, by index (VariableRegistry.declareSettable); a subrequest shares its parent's. */
  readonly variables: (string | undefined)[];
  /** The request this one is a subrequest of (nginx's r->parent), or null for the client's request. */
  readonly parent: HttpRequest | null;
  /** The client's request (nginx's r->main). */
  readonly main: HttpRequest;
  /** Subrequests this request may still start, nested (nginx's r->subrequests, 50 at most in depth). */
  subrequestsLeft = 51;
  /**
   * The client's address and port as the request sees them: the connection's,
   * or what realip found in a header (nginx changes c->sockaddr for the request).
   * A port of 0 is unknown ($remote_port empty).
   */
  remoteAddress: string;
  remotePort: number;
  /** A subrequest's answer to an error status of its own, before the error page (subrequest.ts). */
  onSubrequestError: ((sr: HttpRequest, status: number) => boolean) | null = null;
  /** A subrequest whose body is collected for its parent (nginx's subrequest_in_memory). */
  inMemory = false;
  /** Where this request's filtered body goes once subrequests share the response (subrequest.ts). */
  output: PostponedOutput | null = null;
  /** The method when it is not the client's: GET for a subrequest or an error page (nginx's r->method). */
  private methodName: string | null = null;
  /** The last regex match ($1..$9). */
  captures: RegExpExecArray | null = null;
  /** Set by findLocation: the Location of nginx's auto_redirect 301, or null. */
  autoRedirect: string | null = null;
  /** Set after an internal redirect (error_page, rewrite last, try_files, X-Accel-Redirect). */
  internal = false;
  /** Where the phase engine stands (nginx's r->phase_handler): the phase, and the handler in its list. */
  phase = 0;
  phaseHandler = 0;
  /** The access phase's remembered refusal under `satisfy any` (nginx's r->access_code). */
  accessCode = 0;
  /** Internal redirects and rewrite cycles left (nginx allows 10 each). */
  uriChangesLeft = 11;
  /** $status once the header is sent (or decided). */
  status = 0;
  /**
   * The status line after "HTTP/1.1 " when an upstream's is passed on
   * (nginx's headers_out.status_line); null: the table's text for status.
   */
  statusLine: string | null = null;
  /** A handler took the request (content phase started); used to detect double finalize. */
  finalized = false;
  /**
   * A Content-Type chosen before the content handler runs (X-Accel-Redirect
   * keeps the upstream's): nginx's r->headers_out.content_type, which
   * ngx_http_set_content_type leaves alone.
   */
  contentType: string | null = null;
  /** Extra response headers added by modules before the header is sent (add_header, sticky). */
  readonly headersOut: string[] = [];
  /**
   * The response's fields as the header filters edit them, then as sent
   * (nginx's r->headers_out, read by $sent_http_*); null before sendHeader.
   */
  responseHeaders: string[] | null = null;
  /**
   * Set by a header filter (add_trailer) when the response ends with trailer
   * fields: makes the body chunked and is called as it ends, for the fields
   * (nginx's expect_trailers and its trailers body filter).
   */
  trailers: ((r: HttpRequest) => string[]) | null = null;
  /** $limit_rate: the client's rate in bytes/s (0: none), once set or evaluated (limit_rate, X-Accel-Limit-Rate). */
  limitRate = 0;
  limitRateSet = false;
  /** An upstream's X-Accel-Charset: the charset the charset filter recodes to (r->headers_out.override_charset). */
  overrideCharset: string | null = null;
  /** The trailer fields as they are computed, then as sent ($sent_trailer_*). */
  responseTrailers: string[] | null = null;
  /** The body once read (proxy_request_buffering on), else null. */
  body: RequestBody | null = null;
  /** A body streamed on (request buffering off) that fit in client_body_buffer_size: $request_body's. */
  streamedBody: Buffer[] | null = null;
  /** Set when the request body was discarded or fully read by someone. */
  bodyHandled = false;
  /** Expect: 100-continue was answered or judged (nginx's expect_tested). */
  expectTested = false;
  /** Per-module request context (nginx's r->ctx), indexed by module. */
  readonly ctx: unknown[] = [];
  /** $bytes_sent, fixed in the log phase (-1 until then). */
  bytesSent = -1;
  /** Log phase handlers already ran. */
  logged = false;
  /** The client went away before the response was complete (499 in the log). */
  clientAborted = false;
  /** ns, from process.hrtime (the requestFinish channel's exact duration). */
  readonly startHr: bigint = process.hrtime.bigint();
  /** ms of the loop turn that made the request (nginx's r->start_sec/msec, from the cached time). */
  private readonly startLoopMs: number = loopTimeMs();
  readonly startMs: number = Date.now();
  /** $request_length once known: head bytes + body bytes. */
  requestLength = 0;
  /** The connection may stay open after this response (cleared by errors, shutdown). */
  keepalive = true;
  /** gzip_ok tested, gzip_ok, gzip_vary (gzip/gzip-ok.ts's GZIP_* bits); cleared by an internal redirect. */
  gzipFlags = 0;
  /** User-Agent's browser families (browser.ts), read on first use. */
  browser = 0;
  /** error_page: the status the redirected response is sent with (0: as the target decides). */
  errStatus = 0;
  errorPageDone = false;
  /** A header filter answered instead of the response (nginx's filter_finalize: the range filter's 416). */
  filterStatus = 0;
  /** The parts the range filter chose for a 'file' sender's 206 (range-filter.ts). */
  rangeParts: RangeParts | null = null;
  /** Validated Content-Length (-1: none) and chunked flag of the request. */
  contentLength = -1;
  chunked = false;
  /** The connection became a tunnel (101): it ends by either side closing, not as an abort. */
  tunnelled = false;
  /** An upgrade request (Connection: upgrade + Upgrade): a proxied 101 makes the connection a tunnel. */
  upgrade = false;
  /** rawHeaders indexes dropped by ignore_invalid_headers (never forwarded). */
  droppedHeaders: number[] | null = null;
  /** The body is being streamed to an upstream as it arrives (not replayable). */
  bodyStreamed = false;
  /** $uri as first parsed: a changed $uri means the request was rewritten. */
  readonly originalUri: string;
  /** Called once when the client goes away before the response is complete (the upstream cleanup). */
  onAbort: (() => void) | null = null;

  constructor(
    readonly req: IncomingRequest,
    readonly res: ClientReply,
    readonly conn: ConnectionState,
    public server: ServerRuntime,
    readonly errorLog: ErrorLog,
    /** $request_uri: the target as sent. */
    readonly requestUri: string,
    uri: string,
    args: string,
    hasArgs: boolean,
    host: string,
    parent: HttpRequest | null = null,
  ) {
    this.parent = parent;
    this.main = parent === null ? this : parent.main;
    this.remoteAddress = parent === null ? conn.remoteAddress : parent.remoteAddress;
    this.remotePort = parent === null ? conn.remotePort : parent.remotePort;
    this.variables = parent === null ? [] : parent.variables;
    this.uri = uri;
    this.originalUri = uri;
    this.args = args;
    this.hasArgs = hasArgs;
    this.host = host;
  }

  get method(): string {
    return this.methodName ?? this.req.method ?? 'GET';
  }

  set method(name: string) {
    this.methodName = name;
  }

  /** $request: the request line as sent. */
  get requestLine(): string {
    return this.req.requestLine;
  }

  /** The context nginx appends to error-log lines for this request. */
  logContext(upstream?: string): LogRequestContext {
    const host = this.req.headers.host;
    return {
      connection: this.conn.id,
      client: this.remoteAddress,
      server: this.server.name,
      request: this.requestLine,
      subrequest: this.parent === null ? undefined : this.uri,
      upstream,
      host: host === undefined ? undefined : host,
    };
  }

  /** Error-log a line with this request's context. */
  log(level: 'error' | 'warn' | 'info' | 'notice' | 'crit' | 'alert' | 'debug', message: string, upstream?: string): void {
    const log = this.locConf?.errorLogger ?? this.errorLog;
    if (log.enabled(level)) log.log(level, message, this.logContext(upstream));
  }

  /** The URI was changed by a rewrite (nginx's cleared valid_unparsed_uri). */
  uriChangedByRewrite(): boolean {
    // A subrequest never has the client's target as its own (nginx leaves valid_unparsed_uri unset).
    return this.parent !== null || this.uri !== this.originalUri;
  }

  /** $request_time: seconds.milliseconds between the loop turns that made and that read it (nginx's cached clock). */
  requestTime(): string {
    const ms = Math.max(0, loopTimeMs() - this.startLoopMs);
    return (ms / 1000).toFixed(3);
  }
}
