/**
 * proxy_bind / fastcgi_bind / memcached_bind (ngx_http_upstream_bind_set_slot,
 * ngx_http_upstream_set_local): the local address, and maybe port, of the
 * connections to the upstream. A value with variables is evaluated once per
 * request; empty means no bind, and one that is not an address is logged and
 * ignored, as nginx.
 */
import { isIP } from 'node:net';
import type { ConfContext } from '../config/conf-context.js';
import type { ConfNode } from '../config/parser.js';
import { httpCoreModule } from '../http/core-module.js';
import type { HttpRequest } from '../http/request.js';
import { toByteString } from '../http/uri.js';
import type { ComplexValue } from '../http/variables.js';
import type { LocalAddress } from '../peer/connection.js';

export type { LocalAddress } from '../peer/connection.js';

/** The directive: an address known at config time, or a value evaluated per request; null is `off`. */
export type LocalBind = LocalAddress | ComplexValue | null;

/** ngx_parse_addr_port for a bind: `addr`, `addr:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address. */
export function parseLocalAddress(text: string): LocalAddress | null {
  let host = text;
  let port = 0;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) return null;
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return null;
      port = portOf(rest.slice(1));
    }
  } else if (isIP(text) !== 6) {
    const colon = text.lastIndexOf(':');
    if (colon !== -1) {
      host = text.slice(0, colon);
      port = portOf(text.slice(colon + 1));
    }
  }
  if (port < 0 || isIP(host) === 0) return null;
  return { address: host, port };
}

function portOf(text: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) return -1;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : -1;
}

/** The `*_bind` directive's setter; stores into `conf.bind`. */
export function setBind(cf: ConfContext, d: ConfNode, conf: { bind?: LocalBind }): void {
  if (conf.bind !== undefined) return cf.duplicate();
  if (d.args.length === 1 && d.args[0] === 'off') { conf.bind = null; return; }
  if (d.args.length === 2) {
    if (d.args[1] !== 'transparent') return cf.error(`invalid parameter "${d.args[1]}"`);
    // IP_TRANSPARENT needs a socket option Node.js does not expose.
    return cf.error('transparent proxying is not supported on this platform');
  }
  let value: ComplexValue;
  try {
    value = cf.main(httpCoreModule).variables.compile(toByteString(d.args[0]), cf.position);
  } catch (e) {
    return cf.error((e as Error).message.replace(/ in \S+:\d+$/, ''));
  }
  if (value.constant === null) { conf.bind = value; return; }
  const addr = parseLocalAddress(d.args[0]);
  if (addr === null) return cf.error(`invalid address "${d.args[0]}"`);
  conf.bind = addr;
}

/** The local address for this request's upstream connections, or null. */
export function localAddressFor(r: HttpRequest, bind: LocalBind | undefined): LocalAddress | null {
  if (bind === undefined || bind === null) return null;
  if (!('evaluate' in bind)) return bind;
  const text = bind.evaluate(r);
  if (text === '') return null;
  const addr = parseLocalAddress(text);
  if (addr === null) r.log('error', `invalid local address "${text}"`);
  return addr;
}
