/**
 * ngx_http_try_files_module: `try_files file ... uri|@name|=code` in the
 * precontent phase. Each file argument is mapped like a URI (root/alias); an
 * argument ending in '/' must be a directory, others must not be one. The
 * first that exists becomes the request's $uri and the request goes on to the
 * content phase of the same location; if none does, the last argument is an
 * internal redirect (with its own args, if it has `?`), a named location, or a
 * status.
 *
 * Kept from nginx: with `alias` in a prefix location the location name is
 * taken off a tested name that starts with it and put back on the new $uri;
 * with `alias` in a regex location the found name is appended to the alias
 * when the file is served; stat errors other than "not found" are logged.
 * Difference: the tests use stat(2) rather than opening the file (nginx's
 * open_file_cache test_only does the same).
 */
import { stat } from 'node:fs/promises';
import { checkSymlinks } from './symlinks.js';
import type { HttpModule } from '../config/module.js';
import { httpCoreModule, PHASE_DONE, PHASE_NEXT, type PhaseHandler, type TryFiles } from './core-module.js';
import { errnoText } from '../errno.js';
import { continuePhases, finalize, internalRedirect, namedLocation } from './phases.js';
import type { HttpRequest } from './request.js';
import { mapUriToPath, markAddUriToAlias } from './static-module.js';

async function tryFiles(r: HttpRequest, tf: TryFiles): Promise<void> {
  for (const cv of tf.files) {
    let name = cv.evaluate(r);
    const testDir = cv.source.endsWith('/');
    if (testDir) name = name.slice(0, -1);
    const probe = mapUriToPath(r, '/');
    // The tested path: root + name; for a prefix alias the location name is cut off the name first.
    const alias = probe.alias;
    let stripped = name;
    if (alias && !alias.regex && r.locEntry && name.startsWith(r.uri.slice(0, alias.prefixLength))) {
      stripped = name.slice(alias.prefixLength);
    }
    const path = probe.path.slice(0, probe.rootLength) + (alias && !alias.regex ? stripped : name);
    let isDir: boolean;
    const links = await checkSymlinks(r, r.locConf.disableSymlinks!, testDir ? path + '/' : path);
    if (links !== null) {
      // nginx: any error but "not found" is logged at crit, and the next file is tried.
      if (r.res.destroyed) return;
      r.log('crit', `openat() "${path}" failed (${errnoText(links)})`);
      continue;
    }
    try {
      isDir = (await stat(path)).isDirectory();
    } catch (err) {
      if (r.res.destroyed) return;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ENAMETOOLONG') {
        r.log('error', `stat() "${path}" failed (${errnoText(err)})`);
      }
      continue;
    }
    if (r.res.destroyed) return;
    if (isDir !== testDir) continue;
    if (!alias) r.uri = name;
    else if (alias.regex) { if (!testDir) { r.uri = name; markAddUriToAlias(r); } }
    else r.uri = r.uri.slice(0, alias.prefixLength) + stripped;
    // The precontent handlers after try_files (mirror) still run, as nginx's declined handler lets them.
    continuePhases(r);
    return;
  }
  if (tf.fallback === null) { finalize(r, tf.fallbackCode); return; }
  const target = tf.fallback.evaluate(r);
  if (target.startsWith('@')) { namedLocation(r, target); return; }
  internalRedirect(r, target);
}

export const tryFilesHandler: PhaseHandler = (r) => {
  const tf = r.locConf.tryFiles;
  if (!tf) return PHASE_NEXT;
  tryFiles(r, tf).catch((err: unknown) => {
    r.log('alert', `try_files failed: ${(err as Error).stack ?? String(err)}`);
    finalize(r, 500);
  });
  return PHASE_DONE;
};

export const httpTryFilesModule: HttpModule<null, null, null> = {
  kind: 'http',
  name: 'http_try_files',
  directives: [],
  postConfiguration(cf) {
    cf.main(httpCoreModule).precontent.push(tryFilesHandler);
  },
};
