/**
 * ngx_http_auth_basic_module: HTTP Basic authentication against a file.
 *
 *   auth_basic           STRING | off;   http, server, location, limit_except
 *   auth_basic_user_file FILE;           http, server, location, limit_except
 *
 * Both take variables. A realm that evaluates to `off` turns the check off.
 * The file (relative to the config's directory) holds `user:hash` lines in
 * the formats of crypt.ts; see user-file.ts for how it is read and scanned.
 * An access phase handler: no credentials, an unknown user or a wrong
 * password is 401 with `WWW-Authenticate: Basic realm="..."`; a missing file
 * is 403 (`open() ... failed` at error), any other failure to read it 500
 * (at crit), as nginx answers.
 *
 * The file is read asynchronously: the handler returns PHASE_AGAIN and runs
 * again, with the contents in its request ctx, once they are in.
 * Deliberate difference: Proxy-Authenticate / 407 for CONNECT requests
 * (ngx_http_proxy_auth) do not apply: weir does not serve CONNECT.
 */
import type { ConfContext } from '../config/conf-context.js';
import { Ctx, HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { errnoText } from '../errno.js';
import { basicCredentials } from './basic-credentials.js';
import { httpCoreModule, PHASE_AGAIN, PHASE_NEXT, PHASE_OK, type PhaseHandler } from './core-module.js';
import { crypt } from './crypt.js';
import { resumePhases } from './phases.js';
import type { HttpRequest } from './request.js';
import { findUserHash, loadUserFile, type UserFileResult } from './user-file.js';
import { toByteString } from './uri.js';
import type { ComplexValue } from './variables.js';

export interface AuthBasicLocConf {
  /** undefined: unset; null: none at any level. */
  realm?: ComplexValue | null;
  userFile?: ComplexValue | null;
  /** The config's directory with its slash: what a relative user file is taken from. */
  prefix?: string;
}

/** Per request while the file is read, then its contents. */
interface AuthBasicCtx {
  readonly path: string;
  result: UserFileResult | null;
}

function compile(cf: ConfContext, text: string): ComplexValue {
  try {
    return cf.main(httpCoreModule).variables.compile(toByteString(text), cf.position);
  } catch (e) {
    return cf.error((e as Error).message.replace(/ in \S+:\d+$/, ''));
  }
}

function setRealm(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(authBasicModule);
  if (conf.realm !== undefined) return cf.duplicate();
  conf.realm = compile(cf, d.args[0]);
}

function setUserFile(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(authBasicModule);
  if (conf.userFile !== undefined) return cf.duplicate();
  conf.userFile = compile(cf, d.args[0]);
  const dir = cf.paths.confPrefix;
  conf.prefix = dir.endsWith('/') ? dir : dir + '/';
}

const directives: DirectiveSpec[] = [
  { name: 'auth_basic', contexts: HTTP_MAIN_SRV_LOC | Ctx.LimitExcept, args: [1, 1], set: setRealm },
  { name: 'auth_basic_user_file', contexts: HTTP_MAIN_SRV_LOC | Ctx.LimitExcept, args: [1, 1], set: setUserFile },
];

/** ngx_http_auth_basic_set_realm: the challenge, and 401. */
function challenge(r: HttpRequest, realm: string): number {
  r.headersOut.push('WWW-Authenticate', `Basic realm="${realm}"`);
  return 401;
}

function handler(index: number): PhaseHandler {
  return (r: HttpRequest): number => {
    const conf = r.loc.loc[index] as AuthBasicLocConf;
    if (!conf.realm || !conf.userFile) return PHASE_NEXT;
    const realm = conf.realm.evaluate(r);
    if (realm === 'off') return PHASE_NEXT;
    const creds = basicCredentials(r);
    if (creds === null) {
      r.log('info', 'no user/password was provided for basic authentication');
      return challenge(r, realm);
    }
    const file = conf.userFile.evaluate(r);
    const path = file.startsWith('/') ? file : conf.prefix + file;
    const ctx = r.ctx[index] as AuthBasicCtx | undefined;
    if (ctx === undefined || ctx.path !== path) {
      const wait: AuthBasicCtx = { path, result: null };
      r.ctx[index] = wait;
      loadUserFile(path, (result) => {
        // A request that went elsewhere meanwhile (its ctx was cleared) is not resumed.
        if (r.ctx[index] !== wait) return;
        wait.result = result;
        resumePhases(r);
      });
      return PHASE_AGAIN;
    }
    if (ctx.result === null) return PHASE_AGAIN;
    // Read once per run of the handler: a later run (another location) reads again.
    r.ctx[index] = undefined;
    const result = ctx.result;
    if ('error' in result) {
      const { call, err } = result.error;
      const missing = call === 'open()' && err.code === 'ENOENT';
      r.log(missing ? 'error' : 'crit', `${call} "${path}" failed (${errnoText(err)})`);
      return missing ? 403 : 500;
    }
    const hash = findUserHash(result.text, creds.user);
    if (hash === null) {
      r.log('error', `user "${creds.user}" was not found in "${path}"`);
      return challenge(r, realm);
    }
    if (crypt(creds.password, hash) === hash) return PHASE_OK;
    r.log('error', `user "${creds.user}": password mismatch`);
    return challenge(r, realm);
  };
}

export const authBasicModule: HttpModule<unknown, unknown, AuthBasicLocConf> = {
  kind: 'http',
  name: 'http_auth_basic',
  directives,
  createLoc: () => ({}),
  mergeLoc(p, c) {
    if (c.realm === undefined) c.realm = p.realm ?? null;
    if (c.userFile === undefined) {
      c.userFile = p.userFile ?? null;
      c.prefix = p.prefix;
    }
  },
  postConfiguration(cf) {
    cf.main(httpCoreModule).access.push(handler(cf.registry.indexOf(authBasicModule)));
  },
};
