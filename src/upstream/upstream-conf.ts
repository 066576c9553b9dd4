/**
 * The settings every upstream protocol shares (ngx_http_upstream_conf_t),
 * declared once and instantiated per protocol prefix: `proxy_`, `memcached_`,
 * `fastcgi_` each get their own connect/send/read timeouts, next_upstream
 * rules, buffers and header lists, exactly as nginx's modules each embed one
 * ngx_http_upstream_conf_t in their location conf.
 */
import type { ConfContext } from '../config/conf-context.js';
import { HTTP_ANY_LOC, HTTP_MAIN_SRV_LOC, type DirectiveSpec } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { inherit, setBitmask, setFlag, setMsec, setNumber, setSize } from '../config/slots.js';
import { parseSize } from '../config/units.js';
import { FT, NEXT_UPSTREAM_WORDS } from './failure.js';
import { compileSizeValue, type SizeValue } from '../http/size-value.js';
import { setBind, type LocalBind } from './local-address.js';

export interface UpstreamLocConf {
  connectTimeout?: number;
  sendTimeout?: number;
  readTimeout?: number;
  nextUpstream?: number;
  nextUpstreamTries?: number;
  nextUpstreamTimeout?: number;
  bufferSize?: number;
  buffering?: boolean;
  buffers?: { num: number; size: number };
  busyBuffersSize?: number;
  maxTempFileSize?: number;
  /** proxy_temp_path (fastcgi_temp_path): where response spool files go; '' = never spool. */
  tempPath?: string;
  tempFileWriteSize?: number;
  requestBuffering?: boolean;
  ignoreClientAbort?: boolean;
  interceptErrors?: boolean;
  /** Lower-case names hidden from the client, beyond the protocol's defaults. */
  hideHeaders?: string[];
  /** Lower-case names passed although hidden by default. */
  passHeaders?: string[];
  ignoreHeaders?: number;
  /** proxy_limit_rate (bytes/s, 0: none), maybe with variables. */
  limitRate?: SizeValue;
  socketKeepalive?: boolean;
  /** *_bind: the local address of upstream connections (null: off). */
  bind?: LocalBind;
  passRequestHeaders?: boolean;
  passRequestBody?: boolean;
  /** *_force_ranges: a client's Range is answered from the response whatever its Accept-Ranges. */
  forceRanges?: boolean;
}

/** proxy_ignore_headers words (bits of a separate mask). */
export const IGNORE_HEADERS: Readonly<Record<string, number>> = {
  'X-Accel-Redirect': 1 << 0,
  'X-Accel-Expires': 1 << 1,
  'X-Accel-Limit-Rate': 1 << 2,
  'X-Accel-Buffering': 1 << 3,
  'X-Accel-Charset': 1 << 4,
  Expires: 1 << 5,
  'Cache-Control': 1 << 6,
  'Set-Cookie': 1 << 7,
  Vary: 1 << 8,
};

/**
 * The shared directives for one protocol. `get` returns that protocol's
 * UpstreamLocConf for the current level.
 */
export function upstreamDirectives(prefix: string, get: (cf: ConfContext) => UpstreamLocConf): DirectiveSpec[] {
  const d = (name: string, contexts: number, args: readonly [number, number] | 'flag', set: (cf: ConfContext, n: ConfNode) => void): DirectiveSpec =>
    ({ name: prefix + name, contexts, args, set });
  return [
    d('connect_timeout', HTTP_MAIN_SRV_LOC, [1, 1], (cf, n) => setMsec(cf, n, get(cf), 'connectTimeout')),
    d('send_timeout', HTTP_MAIN_SRV_LOC, [1, 1], (cf, n) => setMsec(cf, n, get(cf), 'sendTimeout')),
    d('read_timeout', HTTP_MAIN_SRV_LOC, [1, 1], (cf, n) => setMsec(cf, n, get(cf), 'readTimeout')),
    d('next_upstream', HTTP_MAIN_SRV_LOC, [1, Infinity], (cf, n) => {
      setBitmask(cf, n, get(cf), 'nextUpstream', NEXT_UPSTREAM_WORDS);
      const c = get(cf);
      if (c.nextUpstream! & FT.off) {
        if (n.args.length > 1) cf.error(`invalid value "off" in "${n.name}" directive`);
        c.nextUpstream = FT.off;
      }
    }),
    d('next_upstream_tries', HTTP_MAIN_SRV_LOC, [1, 1], (cf, n) => setNumber(cf, n, get(cf), 'nextUpstreamTries')),
    d('next_upstream_timeout', HTTP_MAIN_SRV_LOC, [1, 1], (cf, n) => setMsec(cf, n, get(cf), 'nextUpstreamTimeout')),
    d('buffer_size', HTTP_MAIN_SRV_LOC, [1, 1], (cf, n) => setSize(cf, n, get(cf), 'bufferSize')),
    d('buffering', HTTP_MAIN_SRV_LOC, 'flag', (cf, n) => setFlag(cf, n, get(cf), 'buffering')),
    d('buffers', HTTP_MAIN_SRV_LOC, [2, 2], (cf, n) => {
      const c = get(cf);
      if (c.buffers) cf.duplicate();
      const num = Number(n.args[0]);
      const size = parseSize(n.args[1]);
      if (!/^[0-9]+$/.test(n.args[0]) || num < 2 || size === null || size === 0) cf.invalid('invalid value');
      c.buffers = { num, size: size! };
    }),
    d('busy_buffers_size', HTTP_MAIN_SRV_LOC, [1, 1], (cf, n) => setSize(cf, n, get(cf), 'busyBuffersSize')),
    // A size slot in nginx (ngx_conf_set_size_slot, through current sources): no `g`.
    d('max_temp_file_size', HTTP_MAIN_SRV_LOC, [1, 1], (cf, n) => setSize(cf, n, get(cf), 'maxTempFileSize')),
    d('temp_file_write_size', HTTP_MAIN_SRV_LOC, [1, 1], (cf, n) => setSize(cf, n, get(cf), 'tempFileWriteSize')),
    // The levels arguments are accepted: spool files are unlinked once open, so no tree is needed.
    d('temp_path', HTTP_MAIN_SRV_LOC, [1, 4], (cf, n) => {
      const c = get(cf);
      if (c.tempPath !== undefined) cf.duplicate();
      c.tempPath = cf.fullPath(n.args[0]);
      cf.cycle.addTempPath(c.tempPath);
    }),
    d('request_buffering', HTTP_MAIN_SRV_LOC, 'flag', (cf, n) => setFlag(cf, n, get(cf), 'requestBuffering')),
    d('ignore_client_abort', HTTP_MAIN_SRV_LOC, 'flag', (cf, n) => setFlag(cf, n, get(cf), 'ignoreClientAbort')),
    d('intercept_errors', HTTP_MAIN_SRV_LOC, 'flag', (cf, n) => setFlag(cf, n, get(cf), 'interceptErrors')),
    d('hide_header', HTTP_MAIN_SRV_LOC, [1, 1], (cf, n) => { (get(cf).hideHeaders ??= []).push(n.args[0].toLowerCase()); }),
    d('pass_header', HTTP_MAIN_SRV_LOC, [1, 1], (cf, n) => { (get(cf).passHeaders ??= []).push(n.args[0].toLowerCase()); }),
    d('ignore_headers', HTTP_MAIN_SRV_LOC, [1, Infinity], (cf, n) => setBitmask(cf, n, get(cf), 'ignoreHeaders', IGNORE_HEADERS)),
    d('limit_rate', HTTP_MAIN_SRV_LOC, [1, 1], (cf, n) => {
      const c = get(cf);
      if (c.limitRate !== undefined) return cf.duplicate();
      c.limitRate = compileSizeValue(cf, n.args[0]);
    }),
    d('socket_keepalive', HTTP_MAIN_SRV_LOC, 'flag', (cf, n) => setFlag(cf, n, get(cf), 'socketKeepalive')),
    d('bind', HTTP_MAIN_SRV_LOC, [1, 2], (cf, n) => setBind(cf, n, get(cf))),
    d('pass_request_headers', HTTP_ANY_LOC, 'flag', (cf, n) => setFlag(cf, n, get(cf), 'passRequestHeaders')),
    d('pass_request_body', HTTP_ANY_LOC, 'flag', (cf, n) => setFlag(cf, n, get(cf), 'passRequestBody')),
    d('force_ranges', HTTP_MAIN_SRV_LOC, 'flag', (cf, n) => setFlag(cf, n, get(cf), 'forceRanges')),
  ];
}

/**
 * Merges with nginx's defaults (ngx_http_proxy_merge_loc_conf's upstream part).
 * `defaultTempPath` is the module's `*_temp` directory under the prefix ('' for
 * protocols whose responses are never spooled).
 */
export function mergeUpstreamConf(p: UpstreamLocConf, c: UpstreamLocConf, defaultTempPath = ''): void {
  inherit(c, p, 'tempPath', defaultTempPath);
  inherit(c, p, 'connectTimeout', 60_000);
  inherit(c, p, 'sendTimeout', 60_000);
  inherit(c, p, 'readTimeout', 60_000);
  inherit(c, p, 'nextUpstream', FT.error | FT.timeout);
  inherit(c, p, 'nextUpstreamTries', 0);
  inherit(c, p, 'nextUpstreamTimeout', 0);
  inherit(c, p, 'bufferSize', 4096);
  inherit(c, p, 'buffering', true);
  inherit(c, p, 'buffers', { num: 8, size: 4096 });
  inherit(c, p, 'busyBuffersSize', 8192);
  inherit(c, p, 'maxTempFileSize', 1024 * 1024 * 1024);
  inherit(c, p, 'tempFileWriteSize', 8192);
  inherit(c, p, 'requestBuffering', true);
  inherit(c, p, 'ignoreClientAbort', false);
  inherit(c, p, 'interceptErrors', false);
  inherit(c, p, 'hideHeaders', []);
  inherit(c, p, 'passHeaders', []);
  inherit(c, p, 'ignoreHeaders', 0);
  inherit(c, p, 'limitRate', 0);
  inherit(c, p, 'socketKeepalive', false);
  if (c.bind === undefined) c.bind = p.bind ?? null;
  inherit(c, p, 'passRequestHeaders', true);
  inherit(c, p, 'passRequestBody', true);
  inherit(c, p, 'forceRanges', false);
  // `off` alone means no retries at all.
  if (c.nextUpstream === FT.off) c.nextUpstream = 0;
}
