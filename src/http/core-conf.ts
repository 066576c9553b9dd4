/**
 * The conf types of ngx_http_core_module (core-module.ts): the http main,
 * server and location levels as the runtime reads them, the structure kept
 * for it (servers, locations, error pages, try_files), and the phase
 * handler contract.
 */
import type { HttpConfLevel } from '../config/module.js';
import type { ErrorLog, ErrorLogTarget } from '../observability/error-log.js';
import type { ListenConf } from './listen.js';
import type { HttpRequest } from './request.js';
import type { DisableSymlinks } from './symlinks.js';
import type { ComplexValue, VariableRegistry } from './variables.js';

/** Takes over a request in the content phase (proxy_pass, memcached_pass, static, ...). */
export interface ContentHandler {
  readonly name: string;
  /** Runs once per request that reaches the content phase of the location; must finalize it. */
  handle(r: HttpRequest): void;
}

export type LocationModifier = '' | '=' | '^~' | '~' | '~*' | '@';

export interface LocationEntry {
  readonly modifier: LocationModifier;
  readonly name: string;
  readonly level: HttpConfLevel;
  readonly children: LocationEntry[];
  readonly file: string;
  readonly line: number;
}

export interface ServerEntry {
  readonly level: HttpConfLevel;
  readonly locations: LocationEntry[];
  readonly file: string;
  readonly line: number;
}

export interface ErrorPage {
  readonly codes: readonly number[];
  /** `=code` (0: keep the original status; -1: `=` alone, take the status of the redirect target). */
  readonly overwrite: number;
  readonly uri: ComplexValue;
}

export interface TryFiles {
  readonly files: readonly ComplexValue[];
  /** The last argument: a uri, `@name`, or `=code`. */
  readonly fallback: ComplexValue | null;
  readonly fallbackCode: number;
}

/**
 * A phase handler (nginx's phase engine checkers + handlers), run in module order:
 * returns PHASE_NEXT to go on, PHASE_DONE when it took the request over (it will
 * finalize it), PHASE_RELOCATE when it changed r.uri (find the location again),
 * PHASE_AGAIN when it waits (a subrequest, a delay) and will call
 * resumePhases(r), which runs it again (nginx's NGX_AGAIN: the handler finds
 * its answer in r.ctx), or an HTTP status (>= 100) to finalize the request with.
 */
export type PhaseHandler = (r: HttpRequest) => number;
export const PHASE_NEXT = 0;
export const PHASE_DONE = -1;
export const PHASE_RELOCATE = -2;
/** Access phase only (nginx's NGX_OK there): allowed; under `satisfy any` the rest of the phase is skipped. */
export const PHASE_OK = -3;
export const PHASE_AGAIN = -4;

/** keepalive_disable's bits (NGX_HTTP_KEEPALIVE_DISABLE_*); SET is part of the default only (NGX_CONF_BITMASK_SET). */
export const KEEPALIVE_DISABLE_SET = 0x1;
export const KEEPALIVE_DISABLE_NONE = 0x2;
export const KEEPALIVE_DISABLE_MSIE6 = 0x4;
export const KEEPALIVE_DISABLE_SAFARI = 0x8;
/** A location's `limit_except`: requests with other methods use `level`. */
export interface LimitExcept {
  /** The methods named (GET brings HEAD), uppercase. */
  readonly allowed: ReadonlySet<string>;
  readonly level: HttpConfLevel;
}

/**
 * Adds response headers before they are sent (add_header, expires, ...).
 * `contentLength` is the length the response was started with (-1: unknown;
 * nginx's headers_out.content_length_n); a filter that changes the body adds
 * a body filter, which makes it unknown.
 */
export type HeaderFilter = (r: HttpRequest, status: number, headers: string[], contentLength: number) => void;

export interface CoreMainConf {
  readonly servers: ServerEntry[];
  readonly variables: VariableRegistry;
  /** Once, as the request head is read, with the server's conf (realip). */
  readonly postRead: PhaseHandler[];
  readonly serverRewrite: PhaseHandler[];
  readonly rewrite: PhaseHandler[];
  /** Before access, in the location (realip again, for its location conf). */
  readonly preaccess: PhaseHandler[];
  readonly access: PhaseHandler[];
  /** try_files and the like: after access, before content. */
  readonly precontent: PhaseHandler[];
  /** Content handlers for locations without their own (index, static). */
  readonly content: PhaseHandler[];
  readonly headerFilters: HeaderFilter[];
  readonly log: ((r: HttpRequest) => void)[];
  /** Run when the worker stops (close upstream connections, flush logs). */
  readonly stopHooks: ((graceful: boolean) => Promise<void> | void)[];
  /** USR1 (reopen access logs). */
  readonly reopenHooks: (() => void)[];
  /** Listen keys some server names `default_server` on. */
  readonly defaultListens: Set<string>;
}

export interface CoreSrvConf {
  readonly listens: ListenConf[];
  readonly serverNames: { name: string; file: string; line: number }[];
  listenSeen: boolean;
  clientHeaderTimeout?: number;
  clientHeaderBufferSize?: number;
  largeClientHeaderBuffers?: { num: number; size: number };
  /** max_headers: header lines a request may have (nginx 1.29+, default 1000). */
  maxHeaders?: number;
  /** connection_pool_size, request_pool_size: checked as nginx does; JS has no pools to size. */
  connectionPoolSize?: number;
  requestPoolSize?: number;
  underscoresInHeaders?: boolean;
  ignoreInvalidHeaders?: boolean;
  mergeSlashes?: boolean;
}

export interface CoreLocConf {
  /** Set for location levels: the entry that made this level. */
  entry?: LocationEntry;
  /** Extra levels (if-blocks, limit_except) merged with this one as parent. */
  readonly nestedLevels: HttpConfLevel[];
  internal?: boolean;
  root?: ComplexValue;
  alias?: ComplexValue;
  clientMaxBodySize?: number;
  clientBodyBufferSize?: number;
  /** An in-memory subrequest's body at most (subrequest_output_buffer_size; nginx: a page). */
  subrequestOutputBufferSize?: number;
  /** max_ranges: how many ranges a request may ask for (Infinity: any). */
  maxRanges?: number;
  clientBodyTimeout?: number;
  clientBodyTempPath?: string;
  /** client_body_in_file_only: `on` keeps the file after the request, `clean` removes it. */
  clientBodyInFileOnly?: 'off' | 'on' | 'clean';
  keepaliveTimeout?: number;
  keepaliveHeaderTimeout?: number;
  keepaliveRequests?: number;
  keepaliveTime?: number;
  sendTimeout?: number;
  lingeringClose?: 'on' | 'off' | 'always';
  lingeringTime?: number;
  lingeringTimeout?: number;
  serverTokens?: 'on' | 'off' | 'build';
  disableSymlinks?: DisableSymlinks;
  defaultType?: string;
  types?: Map<string, string>;
  errorPages?: ErrorPage[];
  recursiveErrorPages?: boolean;
  tryFiles?: TryFiles;
  absoluteRedirect?: boolean;
  serverNameInRedirect?: boolean;
  portInRedirect?: boolean;
  tcpNodelay?: boolean;
  logNotFound?: boolean;
  logSubrequest?: boolean;
  etag?: boolean;
  ifModifiedSince?: 'off' | 'exact' | 'before';
  chunkedTransferEncoding?: boolean;
  msiePadding?: boolean;
  errorLog?: ErrorLogTarget[];
  /** The log for `errorLog` when this level (or a parent) has its own error_log; built at postconfiguration. */
  errorLogger?: ErrorLog;
  /** nginx `resolver` addresses (used by proxy_pass with variables). */
  resolver?: string[];
  resolverTimeout?: number;
  /** The content handler of this location (not inherited, as nginx's clcf->handler). */
  handler?: ContentHandler;
  /** keepalive_disable bits (KEEPALIVE_DISABLE_*); 0 while unset. */
  keepaliveDisable: number;
  satisfy?: 'all' | 'any';
  /** auth_delay: a 401 (407) of the access phase waits this long (ms) before it is sent. */
  authDelay?: number;
  /** This location's limit_except (not inherited, as nginx's clcf->limit_except). */
  limitExcept?: LimitExcept;
}
