/**
 * ngx_http_auth_request_module: access decided by a subrequest.
 *
 *   auth_request URI | off;              http, server, location
 *   auth_request_set $variable VALUE;    http, server, location
 *
 * An access phase handler. It starts a header-only subrequest to URI (the
 * client's method becomes GET, its headers go along, its body does not: the
 * subrequest gets an empty one, whatever was read) and returns PHASE_AGAIN;
 * when the subrequest is done the access phase resumes at this handler,
 * which answers from the subrequest's status: 2xx allows, 401 refuses with
 * the subrequest's WWW-Authenticate fields, 403 refuses, anything else is
 * 500 with `auth request unexpected status: N`. First, each
 * auth_request_set variable is set from VALUE evaluated in the subrequest
 * ($upstream_http_*, $sent_http_* are its), before the answer, so that the
 * values survive an internal redirect; `$args` and `$limit_rate` are set
 * through their setters, as `set` does.
 *
 * Deliberate difference: the WWW-Authenticate fields copied on 401 are all
 * of the subrequest's response fields of that name; nginx copies the one
 * auth_basic set or the upstream's, not one add_header made.
 */
import type { ConfContext } from '../config/conf-context.js';
import { HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { httpCoreModule, PHASE_AGAIN, PHASE_NEXT, PHASE_OK, type PhaseHandler } from './core-module.js';
import { resumePhases } from './phases.js';
import type { HttpRequest, RequestBody } from './request.js';
import { startSubrequest } from './subrequest.js';
import { toByteString } from './uri.js';
import { BUILTIN_SETTERS, BUILTIN_VARIABLE_NAMES } from './variables-core.js';
import type { ComplexValue } from './variables.js';

interface AuthRequestVariable {
  /** Slot in r.variables; -1 for a built-in with a setter. */
  readonly index: number;
  readonly setter: ((r: HttpRequest, value: string) => void) | null;
  readonly value: ComplexValue;
}

export interface AuthRequestLocConf {
  /** '' is off; undefined while unset. */
  uri?: string;
  vars?: AuthRequestVariable[] | null;
}

interface AuthRequestCtx {
  readonly sr: HttpRequest;
  done: boolean;
  status: number;
}

const EMPTY_BODY: RequestBody = { buffers: [], file: null, length: 0 };

function setUri(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(authRequestModule);
  if (conf.uri !== undefined) return cf.duplicate();
  conf.uri = d.args[0] === 'off' ? '' : toByteString(d.args[0]);
}

function setVariable(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(authRequestModule);
  const target = d.args[0];
  if (target.length < 2 || target[0] !== '$') return cf.error(`invalid variable name "${target}"`);
  const name = target.slice(1);
  const setter = BUILTIN_SETTERS.get(name) ?? null;
  // ngx_http_add_variable(CHANGEABLE): a built-in that cannot change is taken.
  if (BUILTIN_VARIABLE_NAMES.has(name) && setter === null) return cf.error(`the duplicate "${name}" variable`);
  const vars = cf.main(httpCoreModule).variables;
  let value: ComplexValue;
  try {
    value = vars.compile(toByteString(d.args[1]), cf.position);
  } catch (e) {
    return cf.error((e as Error).message.replace(/ in \S+:\d+$/, ''));
  }
  const index = setter !== null ? -1 : vars.declareSettable(name);
  (conf.vars ??= []).push({ index, setter, value });
}

const directives: DirectiveSpec[] = [
  { name: 'auth_request', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: setUri },
  { name: 'auth_request_set', contexts: HTTP_MAIN_SRV_LOC, args: [2, 2], set: setVariable },
];

function setVariables(r: HttpRequest, vars: readonly AuthRequestVariable[], sr: HttpRequest): void {
  for (let i = 0; i < vars.length; i++) {
    const v = vars[i];
    const value = v.value.evaluate(sr);
    if (v.setter !== null) v.setter(r, value);
    else r.variables[v.index] = value;
  }
}

/** The subrequest's challenges (nginx's chain of www_authenticate fields). */
function copyChallenges(r: HttpRequest, sr: HttpRequest): void {
  const h = sr.responseHeaders;
  if (h === null) return;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i].length === 16 && h[i].toLowerCase() === 'www-authenticate') r.headersOut.push('WWW-Authenticate', h[i + 1]);
  }
}

function handler(index: number): PhaseHandler {
  return (r: HttpRequest): number => {
    const conf = r.loc.loc[index] as AuthRequestLocConf;
    if (!conf.uri) return PHASE_NEXT;
    const ctx = r.ctx[index] as AuthRequestCtx | undefined;
    if (ctx !== undefined) {
      if (!ctx.done) return PHASE_AGAIN;
      if (conf.vars) setVariables(r, conf.vars, ctx.sr);
      const status = ctx.status;
      if (status === 403) return 403;
      if (status === 401) { copyChallenges(r, ctx.sr); return 401; }
      if (status >= 200 && status < 300) return PHASE_OK;
      r.log('error', `auth request unexpected status: ${status}`);
      return 500;
    }
    const wait: { ctx: AuthRequestCtx | null } = { ctx: null };
    const sr = startSubrequest(r, conf.uri, '', {
      headerOnly: true,
      done: (sub) => {
        const c = wait.ctx!;
        c.done = true;
        c.status = sub.status;
        // The parent goes on after the subrequest's own finalizing, as nginx posts it.
        queueMicrotask(() => { if (r.ctx[index] === c) resumePhases(r); });
      },
    });
    if (sr === null) return 500;
    // Never the client's body, read or not (nginx gives it a fake empty one).
    sr.body = EMPTY_BODY;
    wait.ctx = { sr, done: false, status: 0 };
    r.ctx[index] = wait.ctx;
    return PHASE_AGAIN;
  };
}

export const authRequestModule: HttpModule<unknown, unknown, AuthRequestLocConf> = {
  kind: 'http',
  name: 'http_auth_request',
  directives,
  createLoc: () => ({}),
  mergeLoc(p, c) {
    if (c.uri === undefined) c.uri = p.uri ?? '';
    if (c.vars === undefined) c.vars = p.vars ?? null;
  },
  postConfiguration(cf) {
    cf.main(httpCoreModule).access.push(handler(cf.registry.indexOf(authRequestModule)));
  },
};
