/**
 * The `listen` directive's address and parameters (ngx_http_core_listen,
 * ngx_parse_url for the address part).
 *
 * `ssl` makes the address a TLS one (src/http/tls/); `http2` (deprecated by
 * nginx 1.25 for the `http2` directive) makes it speak HTTP/2 (src/http/h2/).
 * `proxy_protocol`: connections start with a PROXY protocol header
 * (proxy-protocol-reader.ts). Differences: `quic` is rejected with a
 * clear [emerg] (not supported yet) rather than ignored. `deferred`, `bind`,
 * `fastopen`, `rcvbuf`, `sndbuf`, `accept_filter`, `so_keepalive`, `setfib`
 * are accepted: Node cannot set them per socket; `bind` is what Node does anyway.
 */

export interface ListenAddress {
  /** Key that identifies the socket: `127.0.0.1:8080`, `[::]:80`, `*:80`, `unix:/path`. */
  readonly key: string;
  readonly host: string | null;
  readonly port: number;
  readonly path: string | null;
  /** The last port of a range (`80-90`, nginx 1.27.3+), or 0. */
  readonly lastPort?: number;
}

export interface ListenConf extends ListenAddress {
  defaultServer: boolean;
  backlog: number;
  reuseport: boolean;
  ipv6only: boolean;
  /** `ssl`: connections speak TLS first (one listening socket's setting, as nginx's addr opt). */
  ssl: boolean;
  /** `http2`: the older form of `http2 on` for every server of the address. */
  http2?: boolean;
  /** `proxy_protocol`: a PROXY protocol header comes first (any listen of the address sets it, as nginx's addr opt). */
  proxyProtocol?: boolean;
}

/** Parses `127.0.0.1:80`, `80`, `*:80`, `[::1]:80`, `[::]`, `localhost:80`, `unix:/path`. */
export function parseListenAddress(text: string): ListenAddress | string {
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (!path) return `no path in the unix domain socket "${text}"`;
    return { key: text, host: null, port: 0, path };
  }
  let host: string | null = null;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end === -1) return `invalid IPv6 address in "${text}"`;
    host = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest === '') portText = '80';
    else if (rest.startsWith(':')) portText = rest.slice(1);
    else return `invalid host in "${text}"`;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) {
      if (/^[0-9]+(-|$)/.test(text)) portText = text;
      else { host = text; portText = '80'; }
    } else {
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
    }
  }
  // a port range, `first-last` (ngx_parse_inet_url with u->listen)
  let lastPort = 0;
  const dash = portText.indexOf('-');
  if (dash >= 0) {
    const lastText = portText.slice(dash + 1);
    lastPort = /^[0-9]+$/.test(lastText) ? Number(lastText) : 0;
    if (lastPort < 1 || lastPort > 65535) return `invalid port in "${text}"`;
    portText = portText.slice(0, dash);
  }
  if (!/^[0-9]+$/.test(portText)) return `invalid port in "${text}"`;
  const port = Number(portText);
  if (port < 1 || port > 65535) return `invalid port in "${text}"`;
  if (lastPort !== 0 && port > lastPort) return `invalid port range in "${text}"`;
  if (host === '*' || host === '') host = null;
  if (host === 'localhost') host = '127.0.0.1';
  return { ...withPort(host, port), lastPort };
}

function withPort(host: string | null, port: number): ListenAddress {
  const shown = host === null ? '*' : host.includes(':') ? `[${host}]` : host;
  return { key: `${shown}:${port}`, host, port, path: null };
}

/** A listen address for each port of its range (one for a single port, as nginx's ngx_http_add_listen per port). */
export function expandPorts(conf: ListenConf): ListenConf[] {
  const last = conf.lastPort ?? 0;
  if (last === 0 || conf.path !== null) return [conf];
  const out: ListenConf[] = [];
  for (let p = conf.port; p <= last; p++) out.push({ ...conf, ...withPort(conf.host, p), lastPort: 0 });
  return out;
}

/** The address as nginx prints a socket (ngx_sock_ntop): the IPv4 wildcard is 0.0.0.0. */
export function listenText(key: string): string {
  return key.startsWith('*:') ? `0.0.0.0${key.slice(1)}` : key;
}

const ACCEPTED_NOOP = /^(deferred|bind|fastopen=\d+|rcvbuf=\S+|sndbuf=\S+|accept_filter=\S+|so_keepalive=\S+|setfib=\S+)$/;
const UNSUPPORTED = /^(http3|quic)$/;

/** Parses the parameters after the address; returns an error string on failure. */
export function parseListenParams(address: ListenAddress, params: readonly string[]): ListenConf | string {
  const conf: ListenConf = { ...address, defaultServer: false, backlog: 511, reuseport: false, ipv6only: true, ssl: false };
  for (const p of params) {
    if (p === 'default_server' || p === 'default') conf.defaultServer = true;
    else if (p === 'reuseport') conf.reuseport = true;
    else if (p === 'ssl') conf.ssl = true;
    else if (p === 'http2') conf.http2 = true;
    else if (p === 'proxy_protocol') conf.proxyProtocol = true;
    else if (p.startsWith('backlog=')) {
      const n = Number(p.slice(8));
      if (!/^[0-9]+$/.test(p.slice(8)) || n === 0) return `invalid backlog "${p.slice(8)}"`;
      conf.backlog = n;
    } else if (p === 'ipv6only=on') conf.ipv6only = true;
    else if (p === 'ipv6only=off') conf.ipv6only = false;
    else if (UNSUPPORTED.test(p)) return `the "${p}" parameter of "listen" is not supported by weir yet`;
    else if (!ACCEPTED_NOOP.test(p)) return `invalid parameter "${p}"`;
  }
  return conf;
}
