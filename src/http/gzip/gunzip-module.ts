/**
 * ngx_http_gunzip_filter_module: a gzip response (Content-Encoding: gzip from
 * an upstream, memcached_gzip_flag, gzip_static always) inflated for a
 * client that may not have it gzipped (ngx_http_gzip_ok said no).
 *
 *   gunzip on|off; gunzip_buffers NUM SIZE
 *
 * It is a content filter (r.res.bodyFilters): nginx's gunzip filter runs
 * before addition, sub, charset and SSI, so they see the plain body; the
 * module sits before them in modules.ts, which orders the header filters
 * and so the body filters they add. Subrequests are inflated too (their
 * output never goes gzipped to the client: gzip_ok refuses them).
 *
 * The Content-Encoding goes, and the length and Accept-Ranges with it; the
 * ETag turns weak. Several gzip members one after another are inflated in
 * turn (node's Gunzip reads on after a member's end). A body that is not
 * gzip after all is logged (`inflate() failed: ...`) and cuts the response.
 *
 * gunzip_buffers is accepted without effect: nginx's output buffers for
 * inflate; here zlib's output goes on in node's chunks, under backpressure.
 */
import { createGunzip } from 'node:zlib';
import { HTTP_ANY_LOC, HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../../config/module.js';
import { inherit, setFlag } from '../../config/slots.js';
import { httpCoreModule } from '../core-module.js';
import { headerIndex, removeHeader } from '../header-list.js';
import type { HttpRequest } from '../request.js';
import { GZIP_VARY, gzipOk, weakenEtag } from './gzip-ok.js';
import { setBufs } from './gzip-module.js';
import { ZlibFilter } from './zlib-filter.js';

export interface GunzipLocConf {
  enable?: boolean;
  buffers?: { num: number; size: number };
}

const directives: DirectiveSpec[] = [
  { name: 'gunzip', contexts: HTTP_ANY_LOC, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.loc(gunzipModule), 'enable') },
  { name: 'gunzip_buffers', contexts: HTTP_MAIN_SRV_LOC, args: [2, 2], set: (cf, d) => setBufs(cf, d, cf.loc(gunzipModule)) },
];

function headerFilter(index: number) {
  return (r: HttpRequest, _status: number, headers: string[]): void => {
    const conf = r.loc.loc[index] as GunzipLocConf;
    if (!conf.enable) return;
    const ce = headerIndex(headers, 'content-encoding');
    if (ce === -1 || headers[ce + 1].toLowerCase() !== 'gzip') return;
    r.gzipFlags |= GZIP_VARY;
    if (gzipOk(r, headers)) return;
    headers.splice(ce, 2);
    removeHeader(headers, 'content-length');
    removeHeader(headers, 'accept-ranges');
    weakenEtag(headers);
    r.res.bodyFilters.add((next) => new ZlibFilter(r, next, () => createGunzip(), 'inflate'));
  };
}

export const gunzipModule: HttpModule<unknown, unknown, GunzipLocConf> = {
  kind: 'http',
  name: 'http_gunzip_filter',
  directives,
  createLoc: () => ({}),
  mergeLoc(p, c) {
    inherit(c, p, 'enable', false);
    inherit(c, p, 'buffers', { num: 32, size: 4096 });
  },
  postConfiguration(cf) {
    cf.main(httpCoreModule).headerFilters.push(headerFilter(cf.registry.indexOf(gunzipModule)));
  },
};
