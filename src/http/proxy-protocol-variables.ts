/**
 * The PROXY protocol variables (ngx_http_variables.c): $proxy_protocol_addr,
 * $proxy_protocol_port, $proxy_protocol_server_addr,
 * $proxy_protocol_server_port and the `$proxy_protocol_tlv_` family (a name
 * of nginx's table, `0xHH`, `ssl_verify`, `ssl_NAME`, `ssl_0xHH`). All are
 * not found on a connection without a header (an empty value), as nginx's.
 *
 * Difference: where nginx's TLV getter fails (a broken TLV list, an invalid
 * `0x` name) the variable is not found, with nginx's error line logged;
 * nginx would fail the expression using it.
 */
import type { HttpRequest } from './request.js';
import { getTlv, tlvQuery, type ProxyProtocol, type TlvQuery } from './proxy-protocol.js';
import type { VariableRegistry } from './variables.js';

function pp(r: HttpRequest): ProxyProtocol | null {
  return r.conn.proxyProtocol ?? null;
}

/** ngx_http_variable_proxy_protocol_port: 0 is an empty (found) value. */
function portText(port: number | undefined): string | undefined {
  if (port === undefined) return undefined;
  return port > 0 ? String(port) : '';
}

/** Each TLV name is parsed once, at its first use. */
const queries = new Map<string, TlvQuery>();

function tlv(r: HttpRequest, name: string): string | undefined {
  const header = pp(r);
  if (header === null) return undefined;
  let q = queries.get(name);
  if (q === undefined) { q = tlvQuery(name); queries.set(name, q); }
  const res = getTlv(header, name, q);
  if (res.kind === 'found') return res.value;
  if (res.log != null) r.log('error', res.log);
  return undefined;
}

const VARIABLES: ReadonlyArray<readonly [string, (r: HttpRequest) => string | undefined]> = [
  ['proxy_protocol_addr', (r) => pp(r)?.srcAddr],
  ['proxy_protocol_port', (r) => portText(pp(r)?.srcPort)],
  ['proxy_protocol_server_addr', (r) => pp(r)?.dstAddr],
  ['proxy_protocol_server_port', (r) => portText(pp(r)?.dstPort)],
];

/** Defines them on a registry, leaving names user directives already own (as defineBuiltinVariables). */
export function defineProxyProtocolVariables(vars: VariableRegistry): void {
  for (const [name, get] of VARIABLES) if (!vars.has(name)) vars.define(name, get);
  vars.definePrefix('proxy_protocol_tlv_', tlv);
}
