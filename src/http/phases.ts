/**
 * The request's path through the server (ngx_http_core_run_phases and
 * ngx_http_finalize_request): server rewrite → find location → rewrite →
 * access → precontent (try_files) → content, then the response header, error
 * pages and the log phase.
 *
 * Handlers are registered by modules in the http main conf (CoreMainConf) at
 * postconfiguration, so the per-request path has no lookups by name.
 *
 * Body filters: a header filter may add body filters (body-filters.ts);
 * the chain is built as the header goes, and a subrequest's output takes its
 * place in the client's response (subrequest.ts). Otherwise the response goes
 * to ServerReply (h1/reply.ts) as it is.
 */
import type { HttpConfLevel } from '../config/module.js';
import { channels } from '../observability/diagnostics.js';
import { BROWSER_MSIE6, BROWSER_SAFARI, browserOf } from './browser.js';
import {
  KEEPALIVE_DISABLE_MSIE6, KEEPALIVE_DISABLE_SAFARI, PHASE_AGAIN, PHASE_DONE, PHASE_NEXT, PHASE_OK, PHASE_RELOCATE,
  type CoreLocConf, type CoreMainConf, type PhaseHandler,
} from './core-module.js';
import type { HttpRequest } from './request.js';
import { sendHeader, setLocationHeader } from './header-filter.js';
import { specialPage } from './special-response.js';
import { parseComplexUri } from './uri.js';

export const enum Phase {
  PostRead = 0,
  ServerRewrite = 1,
  FindConfig = 2,
  Rewrite = 3,
  Preaccess = 4,
  Access = 5,
  Precontent = 6,
  Content = 7,
}

let coreIndex = -1;

/**
 * Makes `level` the request's location as it is: the server level before a
 * location is found, and the early errors. enterLocation is what a matched
 * location, an `if` block or a named location goes through.
 */
export function setLocation(r: HttpRequest, level: HttpConfLevel): void {
  r.loc = level;
  r.locConf = level.loc[coreIndex] as CoreLocConf;
  if (r.locConf.entry) r.locEntry = r.locConf.entry;
  // An `if` level without a handler keeps its location's (ngx_http_update_location_config).
  if (r.locConf.handler) r.contentHandler = r.locConf.handler;
  const conn = r.conn;
  conn.sendTimeout = r.locConf.sendTimeout!;
  conn.h1.lingeringClose = r.locConf.lingeringClose!;
  // One setsockopt only when the location's tcp_nodelay differs from the socket's.
  if (conn.noDelay !== r.locConf.tcpNodelay) {
    conn.noDelay = r.locConf.tcpNodelay!;
    conn.socket.setNoDelay(conn.noDelay);
  }
}

/**
 * ngx_http_update_location_config: makes `level` the request's location; a
 * method its limit_except does not name takes the limit_except level (whose
 * content handler, when it has none, stays the location's); keep-alive is
 * dropped for good when keepalive_disable names the client's browser (msie6:
 * for POST only). Runs for each location the request enters.
 */
export function enterLocation(r: HttpRequest, level: HttpConfLevel): void {
  setLocation(r, level);
  const lmt = r.locConf.limitExcept;
  if (lmt && !lmt.allowed.has(r.method)) setLocation(r, lmt.level);
  if (!r.keepalive) return;
  const disable = r.locConf.keepaliveDisable;
  if ((disable & KEEPALIVE_DISABLE_MSIE6) && r.method === 'POST' && (browserOf(r) & BROWSER_MSIE6)) {
    // MSIE may wait for a while after the answer to a POST on a keep-alive connection.
    r.keepalive = false;
  } else if ((disable & KEEPALIVE_DISABLE_SAFARI) && (browserOf(r) & BROWSER_SAFARI)) {
    // Safari may send a POST on a keep-alive connection the server closed, and stall.
    r.keepalive = false;
  }
}

/** Called once per runtime (the core module's index is fixed per registry). */
export function bindCoreIndex(index: number): void {
  coreIndex = index;
}

function main(r: HttpRequest): CoreMainConf {
  return r.server.main;
}

/**
 * Runs a phase's handlers from r.phaseHandler on. PHASE_AGAIN leaves the
 * index on the waiting handler, for resumePhases; a list run through resets
 * it for the next phase. Other exits leave it alone: the request has gone
 * elsewhere (and a nested run, after an internal redirect, owns it now).
 */
function runList(r: HttpRequest, list: readonly PhaseHandler[]): number {
  for (let i = r.phaseHandler; i < list.length; i++) {
    r.phaseHandler = i;
    const rc = list[i](r);
    if (rc !== PHASE_NEXT) return rc;
  }
  r.phaseHandler = 0;
  return PHASE_NEXT;
}

/**
 * The access phase with its post-access step (ngx_http_core_access_phase,
 * ngx_http_core_post_access_phase). `satisfy all`: every handler must let the
 * request on, the first refusal ends it. `satisfy any`: the first handler that
 * allows (PHASE_OK) ends the phase; a refusal (401, 403, 407) is remembered
 * and returned only when none allowed (a 401 or 407 is kept over a later 403).
 */
function runAccess(r: HttpRequest, list: readonly PhaseHandler[]): number {
  // A subrequest is not access-checked: its parent was (ngx_http_core_access_phase).
  if (r !== r.main) return PHASE_NEXT;
  const any = r.locConf.satisfy === 'any';
  for (let i = r.phaseHandler; i < list.length; i++) {
    r.phaseHandler = i;
    const rc = list[i](r);
    if (rc === PHASE_NEXT) continue;
    if (rc === PHASE_OK) {
      if (!any) continue;
      r.accessCode = 0;
      // The challenges of handlers that refused go: the request is allowed.
      removeChallenges(r);
      break;
    }
    if (any && (rc === 403 || rc === 401 || rc === 407)) {
      if (r.accessCode !== 401 && r.accessCode !== 407) r.accessCode = rc;
      continue;
    }
    return rc;
  }
  r.phaseHandler = 0;
  const code = r.accessCode;
  r.accessCode = 0;
  if (code === 403) r.log('error', 'access forbidden by rule');
  return code;
}

function removeChallenges(r: HttpRequest): void {
  const h = r.headersOut;
  for (let i = h.length - 2; i >= 0; i -= 2) {
    if (h[i].length === 16 && h[i].toLowerCase() === 'www-authenticate') h.splice(i, 2);
  }
}

/**
 * The access phase's refusal (ngx_http_core_auth_delay): a 401 or 407 waits
 * auth_delay first, so that a guess costs time whatever it was; the wait
 * ends with the client if it goes away.
 */
function finalizeAccess(r: HttpRequest, code: number): void {
  const delay = r.locConf.authDelay ?? 0;
  if ((code !== 401 && code !== 407) || delay === 0) { finalize(r, code); return; }
  r.log('info', 'delaying unauthorized request');
  const res = r.res;
  const onClose = (): void => clearTimeout(timer);
  const timer = setTimeout(() => {
    res.off('close', onClose);
    if (!res.destroyed && !res.headersSent) finalize(r, code);
  }, delay);
  res.once('close', onClose);
}

/** Runs the phases from the start of `phase` on; any handler may end the run. */
export function runPhases(r: HttpRequest, phase: Phase): void {
  r.phaseHandler = 0;
  r.accessCode = 0;
  run(r, phase);
}

/**
 * Goes on after a handler returned PHASE_AGAIN: that handler runs again
 * (ngx_http_core_run_phases from r->phase_handler). Nothing happens once the
 * request has been finalized meanwhile (the client went away, say).
 */
export function resumePhases(r: HttpRequest): void {
  if (r.finalized || r.res.headersSent || r.res.destroyed) return;
  // Called from a timer or an I/O callback: nothing above it would catch a throw.
  try {
    run(r, r.phase);
  } catch (err) {
    r.log('alert', `request processing failed: ${(err as Error).stack ?? err}`);
    if (!r.res.headersSent) sendSpecial(r, 500, null);
    else r.res.destroy();
  }
}

/**
 * Goes on with the handler after the one that waited (nginx's r->phase_handler++
 * and a run of the phases): for a handler that finished its work
 * asynchronously and declines the rest, as try_files does once it found a file.
 */
export function continuePhases(r: HttpRequest): void {
  r.phaseHandler++;
  resumePhases(r);
}

function run(r: HttpRequest, phase: Phase): void {
  for (;;) {
    r.phase = phase;
    switch (phase) {
      case Phase.PostRead: {
        // Only the client's request passes here: an internal redirect starts at server rewrite.
        if (r.phaseHandler === 0) setLocation(r, r.server.level);
        const rc = runList(r, main(r).postRead);
        if (rc === PHASE_AGAIN) return;
        if (rc >= 100) { finalize(r, rc); return; }
        phase = Phase.ServerRewrite;
        continue;
      }
      case Phase.ServerRewrite: {
        if (r.phaseHandler === 0) setLocation(r, r.server.level);
        const rc = runList(r, main(r).serverRewrite);
        if (rc === PHASE_DONE || rc === PHASE_AGAIN) return;
        if (rc >= 100) { finalize(r, rc); return; }
        phase = Phase.FindConfig;
        continue;
      }
      case Phase.FindConfig: {
        r.contentHandler = null;
        enterLocation(r, r.server.findLocation(r, r.uri));
        const lc = r.locConf;
        if (lc.internal && !r.internal) { finalize(r, 404); return; }
        const cl = r.req.headers['content-length'];
        if (cl !== undefined && lc.clientMaxBodySize! > 0 && Number(cl) > lc.clientMaxBodySize!) {
          r.log('error', `client intended to send too large body: ${cl} bytes`);
          // no 100 Continue before the 413 (nginx sets expect_tested)
          r.expectTested = true;
          finalize(r, 413);
          return;
        }
        if (r.autoRedirect !== null) {
          // auto_redirect: `/dir` for a proxied `location /dir/` (nginx's NGX_DONE)
          setLocationHeader(r, r.args !== '' ? `${r.autoRedirect}?${r.args}` : r.autoRedirect);
          finalize(r, 301);
          return;
        }
        phase = Phase.Rewrite;
        continue;
      }
      case Phase.Rewrite: {
        const rc = runList(r, main(r).rewrite);
        if (rc === PHASE_DONE || rc === PHASE_AGAIN) return;
        if (rc >= 100) { finalize(r, rc); return; }
        if (rc === PHASE_RELOCATE) {
          r.phaseHandler = 0;
          if (--r.uriChangesLeft === 0) {
            r.log('error', `rewrite or internal redirection cycle while processing "${r.uri}"`);
            finalize(r, 500);
            return;
          }
          phase = Phase.FindConfig;
          continue;
        }
        phase = Phase.Preaccess;
        continue;
      }
      case Phase.Preaccess: {
        const rc = runList(r, main(r).preaccess);
        if (rc === PHASE_DONE || rc === PHASE_AGAIN) return;
        if (rc >= 100) { finalize(r, rc); return; }
        phase = Phase.Access;
        continue;
      }
      case Phase.Access: {
        const rc = runAccess(r, main(r).access);
        if (rc === PHASE_DONE || rc === PHASE_AGAIN) return;
        if (rc >= 100) { finalizeAccess(r, rc); return; }
        phase = Phase.Precontent;
        continue;
      }
      case Phase.Precontent: {
        const rc = runList(r, main(r).precontent);
        if (rc === PHASE_DONE || rc === PHASE_AGAIN) return;
        if (rc >= 100) { finalize(r, rc); return; }
        phase = Phase.Content;
        continue;
      }
      case Phase.Content: {
        const handler = r.contentHandler;
        if (handler) { handler.handle(r); return; }
        const rc = runList(r, main(r).content);
        if (rc === PHASE_DONE || rc === PHASE_AGAIN) return;
        finalize(r, rc >= 100 ? rc : 404);
        return;
      }
    }
  }
}

/**
 * Internal redirect to a URI (error_page, try_files fallback, X-Accel-Redirect,
 * `rewrite ... last` at the end of the rewrite phase is PHASE_RELOCATE instead).
 */
export function internalRedirect(r: HttpRequest, target: string): void {
  const parsed = parseComplexUri(target, r.server.core.mergeSlashes!);
  if (parsed.status !== 0) { finalize(r, 400); return; }
  internalRedirectTo(r, parsed.uri, parsed.hasArgs ? parsed.args : null);
}

/** ngx_http_internal_redirect: to `uri` as it is (decoded), with `args` when given. */
export function internalRedirectTo(r: HttpRequest, uri: string, args: string | null): void {
  if (--r.uriChangesLeft === 0) {
    r.log('error', `rewrite or internal redirection cycle while internally redirecting to "${uri}"`);
    finalize(r, 500);
    return;
  }
  r.uri = uri;
  if (args !== null) { r.args = args; r.hasArgs = true; }
  r.internal = true;
  r.ctx.length = 0;
  r.gzipFlags = 0;
  r.captures = null;
  runPhases(r, Phase.ServerRewrite);
}

/** Jump to a named location (`@name`): runs from its rewrite phase. */
export function namedLocation(r: HttpRequest, name: string): void {
  const level = r.server.findNamed(name);
  if (!level) {
    r.log('error', `could not find named location "${name}"`);
    finalize(r, 500);
    return;
  }
  if (--r.uriChangesLeft === 0) { finalize(r, 500); return; }
  r.internal = true;
  r.ctx.length = 0;
  r.contentHandler = null;
  enterLocation(r, level);
  runPhases(r, Phase.Rewrite);
}

/** Statuses after which nginx closes the connection (ngx_http_special_response_handler). */
function closesConnection(status: number): boolean {
  return status === 400 || status === 413 || status === 414 || status === 500 || status === 501 || status === 408;
}

/**
 * Ends the request with a status (nginx's ngx_http_finalize_request with a code):
 * error_page redirect, or the built-in page, or a closed connection (444).
 * A response already under way is cut (the client sees the truncation).
 */
export function finalize(r: HttpRequest, status: number): void {
  const res = r.res;
  if (res.headersSent || res.writableEnded) {
    if (!res.writableEnded) res.destroy();
    return;
  }
  if (status === 444 || status === 499) {
    r.status = status;
    r.conn.socket.destroy();
    return;
  }
  const onError = r.onSubrequestError;
  if (onError !== null && status >= 300) {
    r.onSubrequestError = null;
    r.status = status;
    if (onError(r, status)) return;
  }
  const pages = r.locConf.errorPages;
  if (pages && pages.length > 0 && status >= 300 && (!r.errorPageDone || r.locConf.recursiveErrorPages)) {
    for (const page of pages) {
      if (!page.codes.includes(status)) continue;
      r.errorPageDone = true;
      const target = page.uri.evaluate(r);
      const overwrite = page.overwrite;
      r.errStatus = overwrite > 0 ? overwrite : overwrite === -1 ? 0 : status;
      if (target.startsWith('@')) { namedLocation(r, target); return; }
      if (target.startsWith('/')) {
        // An error page is fetched with GET (HEAD stays HEAD), as nginx does.
        if (r.method !== 'HEAD') r.method = 'GET';
        internalRedirect(r, target);
        return;
      }
      const code = overwrite === 301 || overwrite === 303 || overwrite === 307 || overwrite === 308 ? overwrite : 302;
      sendSpecial(r, code, target);
      return;
    }
  }
  sendSpecial(r, status, null);
}

/**
 * The built-in response for a status (redirect or error page); a `location`
 * replaces any Location the response already had (an error_page redirect
 * after a `return 302 first`, as ngx_http_send_error_page clears it).
 */
export function sendSpecial(r: HttpRequest, status: number, location: string | null): void {
  const lc = r.locConf;
  const page = status >= 300 ? specialPage(status, lc.serverTokens!) : null;
  const sendStatus = status >= 494 && status <= 497 ? 400 : status;
  // ngx_http_special_response_handler: r->err_status = error (494..497 go out as 400)
  r.errStatus = sendStatus;
  if (closesConnection(sendStatus)) r.keepalive = false;
  const headers: string[] = [];
  if (page) headers.push('Content-Type', 'text/html');
  if (location !== null) setLocationHeader(r, location);
  const length = page && status !== 204 ? page.length : 0;
  if (!sendHeader(r, sendStatus, headers, length)) return;
  if (page && r.method !== 'HEAD' && status !== 204) r.res.end(page);
  else r.res.end();
}

/** Runs the log phase once (response finished, or the connection closed first). */
export function logRequest(r: HttpRequest): void {
  if (r.logged) return;
  r.logged = true;
  const handlers = r.server.main.log;
  for (let i = 0; i < handlers.length; i++) {
    try {
      handlers[i](r);
    } catch (err) {
      r.log('alert', `log handler failed: ${(err as Error).message}`);
    }
  }
  if (channels.requestFinish.hasSubscribers && r === r.main) {
    const ms = Number(process.hrtime.bigint() - r.startHr) / 1e6;
    channels.requestFinish.publish({ method: r.method, uri: r.uri, status: r.status, bytesSent: r.bytesSent, ms });
  }
}

