/**
 * The built-in variables of ngx_http_variables.c (ngx_http_core_variables), and
 * the named regex captures of locations and server names.
 *
 * Table first: BUILTIN_VARIABLES lists every name with its getter; prefix
 * families (`http_`, `sent_http_`, `cookie_`, `arg_`) follow. They are defined on
 * the http block's VariableRegistry in this module's initMain, which runs after
 * the block is read and before references are resolved: a name that `set` or
 * `map` already claimed keeps its user definition (nginx reports those as
 * duplicates; rewrite-module and map-module check BUILTIN_VARIABLE_NAMES first).
 *
 * Values are byte strings (one char per byte), as $uri is (see uri.ts): header
 * values come from the request parser decoded as latin1, which is the same thing.
 *
 * Byte counts ($bytes_sent, $body_bytes_sent) count what was written to the
 * socket, as nginx's c->sent: the socket's bytesWritten minus what the previous
 * requests of the connection wrote. A log-phase hook (registered first, before
 * access_log's) snapshots the count, so that every later reader sees the same
 * number. The header size is the ServerReply's serialized head.
 *
 * Deliberate differences:
 *   - $request_length is r.requestLength when the body reader filled it, else the
 *     request head as re-serialised from rawHeaders (Node does not keep the raw
 *     bytes): exact for well-formed requests, which are the only ones that get
 *     this far, except for optional whitespace around header values.
 *   - $realpath_root calls realpathSync: nginx's realpath() blocks the worker too;
 *     it runs only when a config uses the variable.
 *   - $http_NAME joins repeated headers with ", " (Cookie with "; "), as nginx
 *     since 1.23, reading rawHeaders; headers the validator dropped are skipped.
 *   - $nginx_version reports the nginx version weir follows (1.31.0).
 */
import { basicCredentials } from './basic-credentials.js';
import { mapUriToPath } from './static-module.js';
import { realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ConfContext } from '../config/conf-context.js';
import type { HttpModule } from '../config/module.js';
import { NGINX_COMPAT } from '../version.js';
import { httpCoreModule, PHASE_NEXT, type CoreMainConf, type LocationEntry } from './core-module.js';
import type { HttpRequest } from './request.js';
import { joinedHeader } from './header-list.js';
import { pcreGroupNames } from './pcre.js';
import { parseSize } from '../config/units.js';
import type { VariableGetter, VariableRegistry } from './variables.js';
import { MONTHS, pad2 } from '../time-format.js';
import { defineProxyProtocolVariables } from './proxy-protocol-variables.js';

export const NGINX_VERSION = `${NGINX_COMPAT}.0`;


function tzOffset(d: Date, sep: string): string {
  const off = -d.getTimezoneOffset();
  const a = Math.abs(off);
  return `${off < 0 ? '-' : '+'}${pad2(Math.floor(a / 60))}${sep}${pad2(a % 60)}`;
}

/** `21/Nov/2026:10:00:00 +0000` (nginx's ngx_cached_http_log_time). */
export function formatTimeLocal(d: Date): string {
  return `${pad2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${tzOffset(d, '')}`;
}

/** `2026-11-21T10:00:00+00:00` (ngx_cached_http_log_iso8601). */
export function formatTimeIso8601(d: Date): string {
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}${tzOffset(d, ':')}`;
}

/** `1700000000.123`. */
export function formatMsec(ms: number): string {
  const s = Math.floor(ms / 1000);
  const m = ms - s * 1000;
  return `${s}.${m < 10 ? '00' : m < 100 ? '0' : ''}${m}`;
}

// nginx caches its time strings once per second; so do we.
let cachedSecond = -1;
let cachedLocal = '';
let cachedIso = '';
function refreshTime(): void {
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  if (sec === cachedSecond) return;
  cachedSecond = sec;
  const d = new Date(sec * 1000);
  cachedLocal = formatTimeLocal(d);
  cachedIso = formatTimeIso8601(d);
}

// --- byte counts -------------------------------------------------------------

function socketBytes(r: HttpRequest): number {
  return r.conn.socket.bytesWritten ?? 0;
}

/** $bytes_sent. */
export function bytesSent(r: HttpRequest): number {
  if (r.bytesSent >= 0) return r.bytesSent;
  return socketBytes(r) - r.conn.bytesBaseline;
}

/** $body_bytes_sent: never negative (a head cut short counts as no body). */
export function bodyBytesSent(r: HttpRequest): number {
  const n = bytesSent(r) - r.res.headerLength;
  return n > 0 ? n : 0;
}

/** Log-phase hook: fixes this request's byte count and moves the connection's baseline. */
function snapshotBytes(r: HttpRequest): void {
  if (r.bytesSent >= 0) return;
  const total = socketBytes(r);
  r.bytesSent = total - r.conn.bytesBaseline;
  r.conn.bytesBaseline = total;
}

// --- request head helpers ------------------------------------------------------

const headerNameCache = new Map<string, string>();
/** `x_forwarded_for` → `x-forwarded-for`, once per distinct name. */
function headerName(suffix: string): string {
  let n = headerNameCache.get(suffix);
  if (n === undefined) {
    n = suffix.toLowerCase().replace(/_/g, '-');
    if (headerNameCache.size < 4096) headerNameCache.set(suffix, n);
  }
  return n;
}

/** A request header by lower-case name, repeated ones joined as nginx joins them. */
export function requestHeader(r: HttpRequest, name: string): string | undefined {
  const parsed = r.req.headers[name];
  if (parsed === undefined) return undefined;
  const sep = name === 'cookie' ? '; ' : ', ';
  const out = joinedHeader(r.req.rawHeaders, name, sep);
  return out ?? (Array.isArray(parsed) ? parsed.join(sep) : parsed);
}

/** An argument of the query string, compared case-insensitively, undecoded (ngx_http_arg). */
export function queryArg(args: string, name: string): string | undefined {
  if (args.length === 0) return undefined;
  const n = name.length;
  let start = 0;
  while (start <= args.length) {
    let end = args.indexOf('&', start);
    if (end === -1) end = args.length;
    if (end - start > n && args.charCodeAt(start + n) === 0x3d
      && args.slice(start, start + n).toLowerCase() === name.toLowerCase()) {
      return args.slice(start + n + 1, end);
    }
    if (end - start === n && args.slice(start, end).toLowerCase() === name.toLowerCase()) return '';
    start = end + 1;
  }
  return undefined;
}

/** A cookie from the Cookie header(s), name compared case-insensitively (ngx_http_parse_multi_header_lines). */
export function cookieValue(header: string, name: string): string | undefined {
  const lname = name.toLowerCase();
  let i = 0;
  while (i < header.length) {
    while (i < header.length && (header[i] === ' ' || header[i] === ';' || header[i] === ',' || header[i] === '\t')) i++;
    let end = header.indexOf(';', i);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', i);
    if (eq !== -1 && eq < end && eq - i === name.length && header.slice(i, eq).toLowerCase() === lname) {
      return header.slice(eq + 1, end).trimEnd();
    }
    i = end + 1;
  }
  return undefined;
}

/**
 * A Set-Cookie value's NAME, as ngx_http_parse_set_cookie_lines: the field
 * must start with NAME (any case), then spaces, `=`, spaces; the value runs
 * to the first `;`. undefined when the field is not NAME's cookie.
 */
export function setCookieValue(field: string, name: string): string | undefined {
  const n = name.length;
  if (n >= field.length || field.slice(0, n).toLowerCase() !== name.toLowerCase()) return undefined;
  let i = n;
  while (i < field.length && field.charCodeAt(i) === 0x20) i++;
  if (field.charCodeAt(i) !== 0x3d) return undefined;
  i++;
  while (i < field.length && field.charCodeAt(i) === 0x20) i++;
  const end = field.indexOf(';', i);
  return field.slice(i, end === -1 ? field.length : end);
}

/**
 * $sent_http_NAME: the response's fields as the header filters have them so
 * far, then as sent; repeats joined with ", ". Transfer-Encoding is the
 * writer's to add, so it is read from the reply.
 */
export function sentHeader(r: HttpRequest, name: string): string | undefined {
  if (name === 'transfer-encoding') return r.res.chunked ? 'chunked' : undefined;
  return r.responseHeaders === null ? undefined : joinedHeader(r.responseHeaders, name);
}

function stripMapped(addr: string): string {
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

function requestLength(r: HttpRequest): number {
  if (r.requestLength > 0) return r.requestLength;
  return r.req.headLength + (r.body ? r.body.length : 0);
}

// --- paths ---------------------------------------------------------------------

/** $document_root: where the location's root (or alias) points, as the static module maps it. */
export function documentRoot(r: HttpRequest): string {
  const m = mapUriToPath(r);
  return m.path.slice(0, m.rootLength);
}

/** $request_filename (ngx_http_map_uri_to_path): the static module's own mapping, so the two never drift. */
export function requestFilename(r: HttpRequest): string {
  return mapUriToPath(r).path;
}

/** $remote_user: the user of Basic credentials, parsed as auth_basic parses them (ngx_http_auth_basic_user). */
function remoteUser(r: HttpRequest): string | undefined {
  return basicCredentials(r)?.user;
}

const requestIds = new WeakMap<HttpRequest, string>();

function isTls(r: HttpRequest): boolean {
  return (r.conn.socket as unknown as { encrypted?: boolean }).encrypted === true;
}

function binaryAddr(addr: string): string {
  const a = stripMapped(addr);
  if (a.includes('.')) return String.fromCharCode(...a.split('.').map(Number));
  if (!a.includes(':')) return '';
  const [head, tail = ''] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = a.includes('::') && tail ? tail.split(':') : [];
  const groups = a.includes('::') ? [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t] : h;
  let out = '';
  for (const g of groups) { const v = parseInt(g, 16) || 0; out += String.fromCharCode(v >> 8, v & 0xff); }
  return out;
}

const HOSTNAME = hostname();

/**
 * The built-in variables. Undefined means nginx's not_found (an access log
 * writes `-`); an empty string is a found, empty value.
 */
export const BUILTIN_VARIABLES: ReadonlyArray<readonly [string, VariableGetter]> = [
  ['uri', (r) => r.uri],
  ['document_uri', (r) => r.uri],
  ['request_uri', (r) => r.requestUri],
  ['args', (r) => (r.hasArgs || r.args.length > 0 ? r.args : undefined)],
  ['query_string', (r) => (r.hasArgs || r.args.length > 0 ? r.args : undefined)],
  ['is_args', (r) => (r.args.length > 0 ? '?' : '')],
  ['request_port', (r) => (r.requestPort > 0 ? String(r.requestPort) : '')],
  ['is_request_port', (r) => (r.requestPort > 0 ? ':' : '')],
  ['host', (r) => r.host || r.server.name],
  ['hostname', () => HOSTNAME],
  ['server_name', (r) => r.server.name],
  ['server_addr', (r) => stripMapped(r.conn.localAddress)],
  ['server_port', (r) => String(r.conn.localPort)],
  ['server_protocol', (r) => (r.req.httpVersionMajor === 0 ? '' : `HTTP/${r.req.httpVersion}`)],
  ['remote_addr', (r) => r.remoteAddress],
  ['binary_remote_addr', (r) => binaryAddr(r.remoteAddress)],
  ['remote_port', (r) => (r.remotePort > 0 ? String(r.remotePort) : '')],
  ['remote_user', remoteUser],
  ['scheme', (r) => (isTls(r) ? 'https' : 'http')],
  ['https', (r) => (isTls(r) ? 'on' : '')],
  ['request', (r) => r.requestLine],
  ['request_method', (r) => r.main.method],
  ['request_length', (r) => String(requestLength(r))],
  ['request_time', (r) => r.requestTime()],
  ['request_body', (r) => {
    const b = r.body;
    const buffers = b !== null ? (b.file === null ? b.buffers : null) : r.streamedBody;
    if (buffers === null) return undefined;
    return buffers.length === 1 ? buffers[0].toString('latin1') : Buffer.concat(buffers).toString('latin1');
  }],
  ['request_body_file', (r) => r.body?.file ?? undefined],
  ['request_id', (r) => {
    let id = requestIds.get(r);
    if (id === undefined) { id = randomBytes(16).toString('hex'); requestIds.set(r, id); }
    return id;
  }],
  ['pipe', (r) => (r.req.pipelined ? 'p' : '.')],
  ['request_completion', (r) => (r.res.writableFinished ? 'OK' : '')],
  ['content_length', (r) => r.req.headers['content-length']],
  ['content_type', (r) => requestHeader(r, 'content-type')],
  ['status', (r) => {
    const s = r.status;
    return s < 10 ? `00${s}` : s < 100 ? `0${s}` : String(s);
  }],
  ['body_bytes_sent', (r) => String(bodyBytesSent(r))],
  ['bytes_sent', (r) => String(bytesSent(r))],
  ['msec', () => formatMsec(Date.now())],
  ['time_local', () => { refreshTime(); return cachedLocal; }],
  ['time_iso8601', () => { refreshTime(); return cachedIso; }],
  ['connection', (r) => String(r.conn.id)],
  ['connection_requests', (r) => String(r.conn.requests)],
  ['connection_time', (r) => ((Date.now() - r.conn.startTime) / 1000).toFixed(3)],
  ['pid', () => String(process.pid)],
  ['nginx_version', () => NGINX_VERSION],
  ['limit_rate', (r) => String(r.limitRate)],
  ['document_root', documentRoot],
  ['realpath_root', (r) => {
    try { return realpathSync(documentRoot(r)); } catch { return undefined; }
  }],
  ['request_filename', requestFilename],
];

export const BUILTIN_VARIABLE_NAMES: ReadonlySet<string> = new Set(BUILTIN_VARIABLES.map(([n]) => n));

/**
 * The built-ins `set` may assign, with what assigning does (nginx's
 * NGX_HTTP_VAR_CHANGEABLE ones with a set_handler).
 */
export const BUILTIN_SETTERS: ReadonlyMap<string, (r: HttpRequest, value: string) => void> = new Map([
  // A value set is the query a proxy passes on (nginx looks at r->args.len).
  ['args', (r: HttpRequest, v: string) => { r.args = v; r.hasArgs = v !== ''; }],
  ['limit_rate', (r: HttpRequest, v: string) => {
    const n = parseSize(v);
    if (n === null) { r.log('error', `invalid $limit_rate "${v}"`); return; }
    r.limitRate = n;
    r.limitRateSet = true;
  }],
]);

export const PREFIX_VARIABLES: ReadonlyArray<readonly [string, VariableGetter]> = [
  ['http_', (r, name) => requestHeader(r, headerName(name))],
  ['sent_http_', (r, name) => sentHeader(r, headerName(name))],
  ['sent_trailer_', (r, name) => r.responseTrailers === null ? undefined : joinedHeader(r.responseTrailers, headerName(name))],
  ['cookie_', (r, name) => {
    const h = requestHeader(r, 'cookie');
    return h === undefined ? undefined : cookieValue(h, name);
  }],
  ['arg_', (r, name) => queryArg(r.args, name)],
];

/** Defines the built-ins on a registry, leaving names user directives already own. */
export function defineBuiltinVariables(vars: VariableRegistry): void {
  for (const [name, get] of BUILTIN_VARIABLES) if (!vars.has(name)) vars.define(name, get);
  for (const [prefix, get] of PREFIX_VARIABLES) vars.definePrefix(prefix, get);
  defineProxyProtocolVariables(vars);
}

interface VariablesMainConf {
  /** server_name regexes' named groups → their `set` slots (copied per request). */
  serverCaptureSlots: Array<[string, number]>;
}

/**
 * Copies the named groups of a server_name regex match into their variables:
 * server.ts keeps only r.captures, and this runs first in the server rewrite phase.
 */
function serverCaptureHandler(slots: ReadonlyArray<[string, number]>) {
  return (r: HttpRequest): number => {
    const groups = r.captures?.groups;
    if (groups) {
      for (let i = 0; i < slots.length; i++) {
        const v = groups[slots[i][0]];
        if (v !== undefined) r.variables[slots[i][1]] = v;
      }
    }
    return PHASE_NEXT;
  };
}

function declareLocationCaptures(vars: VariableRegistry, entries: readonly LocationEntry[]): void {
  for (const e of entries) {
    if (e.modifier === '~' || e.modifier === '~*') for (const n of pcreGroupNames(e.name)) vars.declareSettable(n);
    declareLocationCaptures(vars, e.children);
  }
}

export const httpVariablesModule: HttpModule<VariablesMainConf> = {
  kind: 'http',
  name: 'http_variables',
  directives: [],
  createMain: () => ({ serverCaptureSlots: [] }),
  initMain(conf, cf: ConfContext) {
    const core: CoreMainConf = cf.main(httpCoreModule);
    const vars = core.variables;
    // Named captures must exist before references are resolved; server.ts later
    // asks for the same names and gets the same slots.
    const slots = new Map<string, number>();
    for (const s of core.servers) {
      declareLocationCaptures(vars, s.locations);
      const srv = s.level.srv[cf.registry.indexOf(httpCoreModule)] as { serverNames: { name: string }[] };
      for (const n of srv.serverNames) {
        if (!n.name.startsWith('~')) continue;
        for (const g of pcreGroupNames(n.name)) slots.set(g, vars.declareSettable(g));
      }
    }
    conf.serverCaptureSlots = [...slots];
    defineBuiltinVariables(vars);
  },
  postConfiguration(cf) {
    const core = cf.main(httpCoreModule);
    const conf = cf.main(httpVariablesModule);
    if (conf.serverCaptureSlots.length) core.serverRewrite.unshift(serverCaptureHandler(conf.serverCaptureSlots));
    core.log.unshift(snapshotBytes);
  },
};
