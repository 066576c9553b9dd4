/**
 * What an ssl port checks of each request before its phases run
 * (ngx_http_set_virtual_server's SNI rule, then ngx_http_process_request):
 *
 *  - 421: the Host names another server than the TLS server name did, and
 *    the server it names verifies client certificates (a certificate checked
 *    for one server must not open another);
 *  - 497: a plain HTTP request came to the ssl port;
 *  - 495: the client certificate did not verify (`optional_no_ca` lets an
 *    unknown issuer through), 496: `on` and no certificate was sent.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { HttpConfLevel } from '../../config/module.js';
import { tlsInfoOf } from './acceptor.js';
import { sslSrvConf, Verify } from './ssl-module.js';
import { clientVerify, isOptionalNoCaError } from './verify.js';

export interface TlsRefusal {
  readonly status: number;
  /** The info-level log line, nginx's words. */
  readonly reason: string;
  /** 421 is answered by the server the handshake chose (the Host's was never entered). */
  readonly chosen: unknown;
}

export function checkTlsRequest(socket: Socket, plainHttp: boolean, level: HttpConfLevel, host: string): TlsRefusal | null {
  if (plainHttp) return { status: 497, reason: 'client sent plain HTTP request to HTTPS port', chosen: null };
  const info = tlsInfoOf(socket);
  const ssl = sslSrvConf(level);
  if (info === undefined || ssl === null) return null;
  const verify = ssl.verify ?? Verify.Off;
  if (info.serverName !== null && info.serverName !== host && verify !== Verify.Off) {
    return { status: 421, reason: 'client attempted to request the server name different from the one that was negotiated', chosen: info.chosen };
  }
  if (verify === Verify.Off) return null;
  const v = clientVerify(socket as TLSSocket);
  if (v.failed && !(verify === Verify.OptionalNoCa && isOptionalNoCaError(v.code))) {
    return { status: 495, reason: `client SSL certificate verify error: (${v.text.slice(7)})`, chosen: null };
  }
  if (verify === Verify.On && !v.hasCert) return { status: 496, reason: 'client sent no required SSL certificate', chosen: null };
  return null;
}
