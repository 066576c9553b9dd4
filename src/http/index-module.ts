/**
 * ngx_http_index_module: a URI ending in '/' is served by the first `index`
 * file that exists in that directory, through an internal redirect to
 * `uri + name` (so the file is then found by location matching again, as
 * nginx does: `index index.php` reaches a `location ~ \.php$`).
 *
 * Kept from nginx:
 *   - only GET, HEAD and POST; other methods go on to the static handler (405);
 *   - an index starting with '/' is a URI redirected to without testing
 *     (nginx's "last element can be an absolute path");
 *   - when the first index is missing, the directory itself is tested once:
 *     missing directory → 404 with `"<dir>" is not found (2: ...)` (log_not_found),
 *     EACCES/ENOTDIR on an index file → 403/404 (`"<file>" is forbidden` / `is not found`);
 *   - default `index index.html`.
 * When no index file exists the handler declines (it waits on the stat calls
 * with PHASE_AGAIN, then runs again and passes on): autoindex may list the
 * directory, else the static handler answers 403 "directory index of ... is
 * forbidden" as nginx's core content phase does.
 */
import { stat } from 'node:fs/promises';
import { checkSymlinks } from './symlinks.js';
import type { ConfContext } from '../config/conf-context.js';
import { Ctx, type HttpModule } from '../config/module.js';
import { httpCoreModule, PHASE_AGAIN, PHASE_NEXT, type PhaseHandler } from './core-module.js';
import { errnoText } from '../errno.js';
import { finalize, internalRedirect, resumePhases } from './phases.js';
import type { HttpRequest } from './request.js';
import { mapUriToPath } from './static-module.js';
import type { ComplexValue } from './variables.js';

export interface IndexLocConf {
  indices?: ComplexValue[];
}

/** This module's index per http block (registries differ between configs). */
const moduleIndex = new WeakMap<object, number>();

function indexError(r: HttpRequest, file: string, err: unknown): number {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES') {
    r.log('error', `"${file}" is forbidden (${errnoText(err)})`);
    return 403;
  }
  if (r.locConf.logNotFound) r.log('error', `"${file}" is not found (${errnoText(err)})`);
  return 404;
}

async function findIndex(r: HttpRequest, indices: readonly ComplexValue[]): Promise<void> {
  const dir = mapUriToPath(r).path;
  let dirTested = false;
  for (const cv of indices) {
    const name = cv.evaluate(r);
    if (name === '') continue;
    if (name.startsWith('/')) { internalRedirect(r, name); return; }
    const file = dir + name;
    // disable_symlinks: a refused link in the file's path, or in the directory's, is a 403 without a log line (as nginx).
    if (await checkSymlinks(r, r.locConf.disableSymlinks!, file) !== null) { finalize(r, 403); return; }
    try {
      await stat(file);
    } catch (err) {
      if (r.res.destroyed) return;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR' || code === 'ENAMETOOLONG' || code === 'EACCES') { finalize(r, indexError(r, file, err)); return; }
      if (!dirTested) {
        dirTested = true;
        try {
          const st = await stat(dir);
          if (!st.isDirectory()) {
            r.log('error', `"${dir}" is not a directory`);
            finalize(r, 500);
            return;
          }
        } catch (derr) {
          if (r.res.destroyed) return;
          const dcode = (derr as NodeJS.ErrnoException).code;
          // EACCES on the directory: nginx goes on (searching is allowed, reading may not be).
          if (dcode !== 'EACCES') { finalize(r, indexError(r, dir, derr)); return; }
        }
      }
      if (code === 'ENOENT') continue;
      r.log('crit', `stat() "${file}" failed (${errnoText(err)})`);
      finalize(r, 500);
      return;
    }
    if (r.res.destroyed) return;
    internalRedirect(r, r.uri + name);
    return;
  }
  // no index file: the next content handler's turn (nginx's NGX_DECLINED)
  r.ctx[moduleIndex.get(r.server.main)!] = DECLINED;
  resumePhases(r);
}

/** r.ctx mark: the index search found nothing, the handler passes on when run again. */
const DECLINED = Symbol('index declined');

export const indexHandler: PhaseHandler = (r) => {
  if (!r.uri.endsWith('/')) return PHASE_NEXT;
  const m = r.method;
  if (m !== 'GET' && m !== 'HEAD' && m !== 'POST') return PHASE_NEXT;
  const index = moduleIndex.get(r.server.main)!;
  if (r.ctx[index] === DECLINED) { r.ctx[index] = undefined; return PHASE_NEXT; }
  const conf = r.loc.loc[index] as IndexLocConf;
  findIndex(r, conf.indices!).catch((err: unknown) => {
    r.log('alert', `index handler failed: ${(err as Error).stack ?? String(err)}`);
    finalize(r, 500);
  });
  return PHASE_AGAIN;
};

let defaultIndex: ComplexValue[] | null = null;

export const httpIndexModule: HttpModule<null, null, IndexLocConf> = {
  kind: 'http',
  name: 'http_index',
  directives: [
    {
      name: 'index', contexts: Ctx.Http | Ctx.Server | Ctx.Location, args: [1, Infinity],
      set(cf, d) {
        const conf = cf.loc(httpIndexModule);
        const vars = cf.main(httpCoreModule).variables;
        const list = (conf.indices ??= []);
        for (const name of d.args) {
          if (name === '') return cf.error(`index "" in "index" directive is invalid`);
          list.push(vars.compile(name, cf.position));
        }
      },
    },
  ],
  createLoc: () => ({}),
  mergeLoc(p, c, cf: ConfContext) {
    if (c.indices === undefined) {
      c.indices = p.indices ?? (defaultIndex ??= [cf.main(httpCoreModule).variables.compile('index.html')]);
    }
  },
  postConfiguration(cf) {
    const main = cf.main(httpCoreModule);
    moduleIndex.set(main, cf.registry.indexOf(httpIndexModule));
    main.content.push(indexHandler);
  },
};
