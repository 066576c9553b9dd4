/**
 * ngx_http_mirror_module: copies of the client's request to other locations.
 *
 *   mirror URI | off;               http, server, location (repeatable)
 *   mirror_request_body on | off;   http, server, location (default on)
 *
 * A precontent phase handler of the client's request (not of subrequests):
 * for each URI, a background subrequest with the client's method, headers
 * and $args. Its response is dropped and the client's response waits for
 * nothing: it goes as if there were no mirror, and a failing mirror (refused,
 * timed out, cut) changes nothing in it. The client's connection, though, is
 * kept (no next request, no close) until its mirrors end, as nginx's is
 * (reply-lifecycle.ts). With mirror_request_body on (the
 * default) the client's body is read first (the handler returns PHASE_AGAIN
 * and runs again once it is in), so that the mirrors get it too; off: the
 * mirrors get none and the body is left to the location's own handler.
 * Runs again after an internal redirect (each location the request enters
 * mirrors it), as nginx's does.
 */
import type { ConfContext } from '../config/conf-context.js';
import { HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { inherit, setFlag } from '../config/slots.js';
import { readRequestBody } from './body.js';
import { httpCoreModule, PHASE_AGAIN, PHASE_NEXT, type PhaseHandler } from './core-module.js';
import { resumePhases } from './phases.js';
import type { HttpRequest } from './request.js';
import { startSubrequest } from './subrequest.js';
import { toByteString } from './uri.js';

export interface MirrorLocConf {
  /** undefined: unset; null: `off` (or none at any level). */
  mirror?: string[] | null;
  requestBody?: boolean;
}

/** Per request with mirror_request_body: PHASE_AGAIN while the body is read, then the answer. */
interface MirrorCtx {
  status: number;
}

function setMirror(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(mirrorModule);
  const value = d.args[0];
  if (value === 'off') {
    if (conf.mirror !== undefined) return cf.duplicate();
    conf.mirror = null;
    return;
  }
  if (conf.mirror === null) return cf.duplicate();
  (conf.mirror ??= []).push(toByteString(value));
}

const directives: DirectiveSpec[] = [
  { name: 'mirror', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: setMirror },
  {
    name: 'mirror_request_body', contexts: HTTP_MAIN_SRV_LOC, args: 'flag',
    set: (cf, d) => setFlag(cf, d, cf.loc(mirrorModule), 'requestBody'),
  },
];

function startMirrors(r: HttpRequest, uris: readonly string[]): number {
  for (let i = 0; i < uris.length; i++) {
    const sr = startSubrequest(r, uris[i], r.args, { background: true });
    if (sr === null) return 500;
    sr.method = r.method;
  }
  return PHASE_NEXT;
}

function handler(index: number): PhaseHandler {
  return (r: HttpRequest): number => {
    if (r !== r.main) return PHASE_NEXT;
    const conf = r.loc.loc[index] as MirrorLocConf;
    const uris = conf.mirror;
    if (!uris) return PHASE_NEXT;
    if (!conf.requestBody) return startMirrors(r, uris);
    const ctx = r.ctx[index] as MirrorCtx | undefined;
    if (ctx !== undefined) return ctx.status;
    const wait: MirrorCtx = { status: PHASE_AGAIN };
    r.ctx[index] = wait;
    readRequestBody(r, (status) => {
      if (r.ctx[index] !== wait) return;
      wait.status = status !== 0 ? status : startMirrors(r, uris);
      resumePhases(r);
    });
    return PHASE_AGAIN;
  };
}

export const mirrorModule: HttpModule<unknown, unknown, MirrorLocConf> = {
  kind: 'http',
  name: 'http_mirror',
  directives,
  createLoc: () => ({}),
  mergeLoc(p, c) {
    if (c.mirror === undefined) c.mirror = p.mirror ?? null;
    inherit(c, p, 'requestBody', true);
  },
  postConfiguration(cf) {
    cf.main(httpCoreModule).precontent.push(handler(cf.registry.indexOf(mirrorModule)));
  },
};
