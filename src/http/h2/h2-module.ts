/**
 * ngx_http_v2_module's directives (nginx 1.25+ forms):
 *
 *   http2 on | off                         http, server   (off)
 *   http2_max_concurrent_streams N         http, server   (128)
 *   http2_body_preread_size SIZE           http, server   (64k)
 *   http2_recv_buffer_size SIZE            http           (256k)
 *   http2_chunk_size SIZE                  http, server, location (8k)
 *   http2_streams_index_size N             http, server   (32, a power of two)
 *
 * The directives nginx made obsolete (http2_max_field_size and the like:
 * large_client_header_buffers, keepalive_* replaced them; server push was
 * removed) are accepted with nginx's warning, as nginx does.
 *
 * What they drive is in session.ts: the settings node:http2 sends, the
 * stream limit, the DATA frame size of responses.
 */
import type { ConfContext } from '../../config/conf-context.js';
import { Ctx, HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpConfLevel, type HttpModule } from '../../config/module.js';
import type { ConfNode } from '../../config/parser.js';
import { inherit, setFlag, setNumber, setSize } from '../../config/slots.js';
import { httpCoreModule } from '../core-module.js';

const HTTP_SRV = Ctx.Http | Ctx.Server;

/** nginx's NGX_HTTP_V2_MAX_WINDOW and NGX_HTTP_V2_MAX_FRAME_SIZE. */
export const H2_MAX_WINDOW = 2 ** 31 - 1;
export const H2_MAX_FRAME_SIZE = 2 ** 24 - 1;

export interface H2MainConf {
  recvBufferSize?: number;
}

export interface H2SrvConf {
  enable?: boolean;
  maxConcurrentStreams?: number;
  bodyPrereadSize?: number;
  streamsIndexSize?: number;
}

export interface H2LocConf {
  chunkSize?: number;
}

function obsolete(name: string, instead: string | null): DirectiveSpec {
  return {
    name, contexts: HTTP_SRV, args: [1, 1],
    set: (cf) => cf.warn(instead === null ? `the "${name}" directive is obsolete, ignored` : `the "${name}" directive is obsolete, use the "${instead}" directive instead`),
  };
}

function setRecvBuffer(cf: ConfContext, d: ConfNode): void {
  const conf = cf.main(h2Module);
  setSize(cf, d, conf, 'recvBufferSize');
  // ngx_http_v2_recv_buffer_size: room for at least two state buffers
  if (conf.recvBufferSize !== undefined && conf.recvBufferSize <= 2 * 16) return cf.error('value is too small');
}

function setChunk(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(h2Module);
  setSize(cf, d, conf, 'chunkSize');
  if (conf.chunkSize === 0) return cf.error('the http2 chunk size cannot be zero');
  if (conf.chunkSize !== undefined && conf.chunkSize > H2_MAX_FRAME_SIZE) conf.chunkSize = H2_MAX_FRAME_SIZE;
}

function setPreread(cf: ConfContext, d: ConfNode): void {
  const conf = cf.srv(h2Module);
  setSize(cf, d, conf, 'bodyPrereadSize');
  if (conf.bodyPrereadSize !== undefined && conf.bodyPrereadSize > H2_MAX_WINDOW) return cf.error(`the maximum body preread buffer size is ${H2_MAX_WINDOW}`);
}

function setStreamsIndex(cf: ConfContext, d: ConfNode): void {
  const conf = cf.srv(h2Module);
  setNumber(cf, d, conf, 'streamsIndexSize');
  const n = conf.streamsIndexSize;
  if (n !== undefined && (n & (n - 1)) !== 0) return cf.error('the streams index size must be a power of two');
}

const directives: DirectiveSpec[] = [
  { name: 'http2', contexts: HTTP_SRV, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.srv(h2Module), 'enable') },
  { name: 'http2_max_concurrent_streams', contexts: HTTP_SRV, args: [1, 1], set: (cf, d) => setNumber(cf, d, cf.srv(h2Module), 'maxConcurrentStreams') },
  { name: 'http2_body_preread_size', contexts: HTTP_SRV, args: [1, 1], set: setPreread },
  { name: 'http2_recv_buffer_size', contexts: Ctx.Http, args: [1, 1], set: setRecvBuffer },
  { name: 'http2_chunk_size', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: setChunk },
  { name: 'http2_streams_index_size', contexts: HTTP_SRV, args: [1, 1], set: setStreamsIndex },
  obsolete('http2_idle_timeout', 'keepalive_timeout'),
  obsolete('http2_max_requests', 'keepalive_requests'),
  obsolete('http2_max_field_size', 'large_client_header_buffers'),
  obsolete('http2_max_header_size', 'large_client_header_buffers'),
  obsolete('http2_recv_timeout', 'client_header_timeout'),
  obsolete('http2_max_concurrent_pushes', null),
  obsolete('http2_push', null),
  obsolete('http2_push_preload', null),
];

let h2Index = -1;

export const h2Module: HttpModule<H2MainConf, H2SrvConf, H2LocConf> = {
  kind: 'http',
  name: 'http_v2',
  directives,
  createMain: () => ({}),
  createSrv: () => ({}),
  createLoc: () => ({}),
  initMain(conf, cf) {
    h2Index = cf.registry.indexOf(h2Module);
    conf.recvBufferSize ??= 256 * 1024;
    // $http2: "h2" over TLS, "h2c" in cleartext, empty for HTTP/1 (ngx_http_v2_variable)
    cf.main(httpCoreModule).variables.define('http2', (r) => {
      if (r.req.httpVersionMajor !== 2) return '';
      return (r.conn.socket as { encrypted?: boolean }).encrypted === true ? 'h2' : 'h2c';
    });
  },
  mergeSrv(p, c) {
    inherit(c, p, 'enable', false);
    inherit(c, p, 'maxConcurrentStreams', 128);
    inherit(c, p, 'bodyPrereadSize', 65536);
    inherit(c, p, 'streamsIndexSize', 32);
  },
  mergeLoc(p, c) {
    inherit(c, p, 'chunkSize', 8 * 1024);
  },
};

/** The http2 confs of a level (null when the module is not registered). */
export function h2SrvConf(level: HttpConfLevel): H2SrvConf | null {
  return h2Index < 0 ? null : (level.srv[h2Index] as H2SrvConf);
}

export function h2LocConf(level: HttpConfLevel): H2LocConf | null {
  return h2Index < 0 ? null : (level.loc[h2Index] as H2LocConf);
}

export function h2MainConf(level: HttpConfLevel): H2MainConf | null {
  return h2Index < 0 ? null : (level.main[h2Index] as H2MainConf);
}
