/**
 * The response Content-Type of a file (ngx_http_set_exten + ngx_http_set_content_type).
 *
 * The extension is taken from the request's $uri (after try_files changed it),
 * not from the file path, as nginx does: `alias` and `root` never change it.
 * `types {}` maps extensions (stored lower-cased by the core module) to types;
 * a miss gives `default_type`.
 *
 * Difference: nginx looks the extension up as written first and lower-cases it
 * only on a miss; the table is lower-cased at config time here, so both paths
 * are one lookup. The charset module (`charset`) is not applied here.
 */
import type { CoreLocConf } from './core-module.js';
import type { HttpRequest } from './request.js';

/** The extension of a URI: after the last '.' that follows the last '/'; '' when none. */
export function uriExtension(uri: string): string {
  for (let i = uri.length - 1; i >= 0; i--) {
    const c = uri.charCodeAt(i);
    if (c === 0x2e /* . */) return uri.slice(i + 1);
    if (c === 0x2f /* / */) return '';
  }
  return '';
}

/** The type a response made here gets: one already chosen, else the one of $uri. */
export function responseContentType(r: HttpRequest): string {
  return r.contentType ?? contentTypeFor(r.locConf, r.uri);
}

export function contentTypeFor(lc: CoreLocConf, uri: string): string {
  const ext = uriExtension(uri);
  if (ext !== '' && lc.types) {
    const t = lc.types.get(ext) ?? lc.types.get(ext.toLowerCase());
    if (t !== undefined) return t;
  }
  return lc.defaultType ?? 'text/plain';
}
