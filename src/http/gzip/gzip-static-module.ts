/**
 * ngx_http_gzip_static_module: FILE.gz served for FILE, as it is, with
 * `Content-Encoding: gzip`, to a client that may have it gzipped.
 *
 *   gzip_static on | always | off
 *
 * `on` asks ngx_http_gzip_ok (and marks the response for Vary whenever the
 * .gz exists); `always` serves the .gz to every client (gunzip can inflate
 * it for those that do not take gzip). Only GET and HEAD, not a URI ending
 * in '/'. A missing .gz (or one that cannot be opened, logged) leaves the
 * request to the handlers after it (static); a directory too; anything else
 * that is not a regular file is a 404. The answer is the static handler's
 * (static-module.ts's respondWithFile: conditional requests, ranges, ETag
 * and Last-Modified of the .gz file).
 *
 * It runs in the content phase just before the static handler (nginx runs
 * the content handlers of later modules first: index, then gzip_static,
 * then static). The file is opened asynchronously: the handler returns
 * PHASE_AGAIN and runs again with the result in its request ctx.
 *
 * Difference: a Range request to a gzip_static always location with gunzip
 * gets the range of the .gz file inflated as far as it goes (nginx applies
 * ranges after gunzip, which leaves a full 200).
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import type { ConfContext } from '../../config/conf-context.js';
import { HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../../config/module.js';
import type { ConfNode } from '../../config/parser.js';
import { inherit } from '../../config/slots.js';
import { errnoText } from '../../errno.js';
import { discardRequestBody } from '../body.js';
import { httpCoreModule, PHASE_AGAIN, PHASE_DONE, PHASE_NEXT, type PhaseHandler } from '../core-module.js';
import { resumePhases } from '../phases.js';
import type { HttpRequest } from '../request.js';
import { mapUriToPath, respondWithFile, staticHandler } from '../static-module.js';
import { GZIP_VARY, gzipCommonConf, gzipOk } from './gzip-ok.js';

type Mode = 'off' | 'on' | 'always';

export interface GzipStaticLocConf {
  mode?: Mode;
}

function setMode(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(gzipStaticModule);
  if (conf.mode !== undefined) return cf.duplicate();
  const v = d.args[0].toLowerCase();
  if (v !== 'on' && v !== 'off' && v !== 'always') return cf.error(`invalid value "${d.args[0]}"`);
  conf.mode = v;
}

const directives: DirectiveSpec[] = [
  { name: 'gzip_static', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: setMode },
];

/** What opening FILE.gz gave: a file to serve, or nothing (the request goes on). */
interface Opened {
  pending: boolean;
  fh: FileHandle | null;
  st: Stats | null;
  path: string;
}

let index = -1;

const handler: PhaseHandler = (r) => {
  const m = r.method;
  if (m !== 'GET' && m !== 'HEAD') return PHASE_NEXT;
  if (r.uri.endsWith('/')) return PHASE_NEXT;
  const mode = (r.loc.loc[index] as GzipStaticLocConf).mode!;
  if (mode === 'off') return PHASE_NEXT;
  const ok = mode === 'on' ? gzipOk(r, r.headersOut) : true;
  if (!ok && !gzipCommonConf(r).vary) return PHASE_NEXT;
  const opened = r.ctx[index] as Opened | undefined;
  if (opened === undefined) { openGz(r); return PHASE_AGAIN; }
  if (opened.pending) return PHASE_AGAIN;
  r.ctx[index] = undefined;
  const { fh, st, path } = opened;
  if (fh === null || st === null) return PHASE_NEXT;
  if (mode === 'on') {
    r.gzipFlags |= GZIP_VARY;
    if (!ok) { close(fh); return PHASE_NEXT; }
  }
  if (st.isDirectory()) { close(fh); return PHASE_NEXT; }
  if (!st.isFile()) {
    close(fh);
    r.log('crit', `"${path}" is not a regular file`);
    return 404;
  }
  discardRequestBody(r);
  respondWithFile(r, fh, st.size, Math.floor(st.mtimeMs / 1000), 'gzip');
  return PHASE_DONE;
};

function close(fh: FileHandle): void {
  fh.close().catch(() => {});
}

/** Opens FILE.gz and runs the handler again with what it found. */
function openGz(r: HttpRequest): void {
  const path = mapUriToPath(r).path + '.gz';
  const opened: Opened = { pending: true, fh: null, st: null, path };
  r.ctx[index] = opened;
  const done = (): void => {
    opened.pending = false;
    // The client went away, or the request moved on (its ctx is not this any more).
    if (r.ctx[index] !== opened || r.finalized || r.res.headersSent || r.res.destroyed) {
      if (opened.fh !== null) close(opened.fh);
      return;
    }
    resumePhases(r);
  };
  open(path, 'r').then(async (fh) => {
    opened.fh = fh;
    try {
      opened.st = await fh.stat();
    } catch (err) {
      r.log('crit', `fstat() "${path}" failed (${errnoText(err)})`);
      opened.fh = null;
      close(fh);
    }
  }, (err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return;
    r.log(code === 'EACCES' || code === 'ELOOP' || code === 'EMLINK' ? 'error' : 'crit', `open() "${path}" failed (${errnoText(err)})`);
  }).then(done, done);
}

export const gzipStaticModule: HttpModule<unknown, unknown, GzipStaticLocConf> = {
  kind: 'http',
  name: 'http_gzip_static',
  directives,
  createLoc: () => ({}),
  mergeLoc(p, c) {
    inherit(c, p, 'mode', 'off');
  },
  postConfiguration(cf) {
    index = cf.registry.indexOf(gzipStaticModule);
    const content = cf.main(httpCoreModule).content;
    // Before the static handler (registered by an earlier module), after index.
    const at = content.indexOf(staticHandler);
    content.splice(at === -1 ? content.length : at, 0, handler);
  },
};
