/**
 * The $ssl_* variables (ngx_http_ssl_vars, ngx_ssl_get_*). On a plain
 * connection each is not found (empty), as nginx's are.
 *
 * Formats follow OpenSSL's as nginx prints them: $ssl_protocol and
 * $ssl_cipher are OpenSSL's names, $ssl_session_id hex, $ssl_client_s_dn
 * RFC 2253 (most specific last... i.e. reversed), the _legacy ones
 * `/C=../CN=..`, dates as ASN1_TIME_print writes them.
 */
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ConfContext } from '../../config/conf-context.js';
import { httpCoreModule } from '../core-module.js';
import type { HttpRequest } from '../request.js';
import { tlsInfoOf } from './acceptor.js';
import { cipherName, groupName, negotiatedGroup } from './names.js';
import { isGrease } from './client-hello.js';
import { clientVerify, peerCertificate } from './verify.js';

function tlsSocket(r: HttpRequest): TLSSocket | undefined {
  const s = r.conn.socket as Socket & { encrypted?: boolean };
  return s.encrypted === true ? (s as TLSSocket) : undefined;
}

/** The session id of a DER-encoded SSL_SESSION (SEQUENCE { version, ssl_version, cipher, session_id ... }). */
export function sessionIdOf(der: Buffer): Buffer | null {
  let p = 0;
  const readLen = (): number => {
    let len = der[p++]!;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + der[p++]!;
    }
    return len;
  };
  if (der[p++] !== 0x30) return null;
  readLen();
  for (let field = 0; field < 4; field++) {
    const tag = der[p++];
    const len = readLen();
    if (p + len > der.length) return null;
    if (field === 3) return tag === 0x04 ? der.subarray(p, p + len) : null;
    p += len;
  }
  return null;
}

function rfc2253(dn: string): string {
  // node: one `key=value` per line, most general first; RFC 2253: most specific first, commas.
  return dn.split('\n').filter(Boolean).map(escape2253).reverse().join(',');
}

function escape2253(rdn: string): string {
  const eq = rdn.indexOf('=');
  const v = rdn.slice(eq + 1).replace(/([,+"\\<>;])/g, '\\$1').replace(/^([ #])/, '\\$1').replace(/ $/, '\\ ');
  return rdn.slice(0, eq + 1) + v;
}

function legacyDn(dn: string): string {
  return dn.split('\n').filter(Boolean).map((l) => `/${l}`).join('');
}

function certVar(get: (x: X509Certificate, s: TLSSocket) => string | undefined) {
  return (r: HttpRequest): string | undefined => {
    const s = tlsSocket(r);
    if (s === undefined) return undefined;
    const x = peerCertificate(s);
    return x === null ? '' : get(x, s);
  };
}

/** PEM_write_bio_X509's text: ends with a newline. */
function pem(x: X509Certificate): string {
  return x.toString();
}

/** ngx_escape_uri with NGX_ESCAPE_URI_COMPONENT, as $ssl_client_escaped_cert. */
function escapeComponent(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i]!;
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || ch === '-' || ch === '.' || ch === '_' || ch === '~') out += ch;
    else out += '%' + c.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

export function defineSslVariables(cf: ConfContext): void {
  const v = cf.main(httpCoreModule).variables;
  v.define('ssl_protocol', (r) => tlsSocket(r)?.getProtocol() ?? undefined);
  v.define('ssl_cipher', (r) => { const s = tlsSocket(r); return s === undefined ? undefined : s.getCipher()?.name ?? ''; });
  v.define('ssl_ciphers', (r) => {
    const s = tlsSocket(r);
    if (s === undefined) return undefined;
    const hello = tlsInfoOf(s)?.hello;
    return hello ? hello.cipherSuites.filter((c) => !isGrease(c) && c !== 0x00ff && c !== 0x5600).map(cipherName).join(':') : '';
  });
  v.define('ssl_curve', (r) => {
    const s = tlsSocket(r);
    if (s === undefined) return undefined;
    const info = tlsInfoOf(s);
    const hello = info?.hello;
    const cipher = s.getCipher()?.name ?? '';
    const tls13 = s.getProtocol() === 'TLSv1.3';
    // Only an (EC)DHE exchange has a group: every TLSv1.3 one, ECDHE- suites below it.
    if (!hello || !info.groups || (!tls13 && !cipher.startsWith('ECDHE'))) return '';
    const g = negotiatedGroup(info.groups, hello.groups, hello.keyShares, tls13, info.serverOrder);
    return g === null ? '' : groupName(g);
  });
  v.define('ssl_curves', (r) => {
    const s = tlsSocket(r);
    if (s === undefined) return undefined;
    const hello = tlsInfoOf(s)?.hello;
    return hello ? hello.groups.filter((g) => !isGrease(g)).map(groupName).join(':') : '';
  });
  v.define('ssl_session_id', (r) => {
    const s = tlsSocket(r);
    if (s === undefined) return undefined;
    const der = s.getSession();
    const id = der ? sessionIdOf(der) : null;
    return id ? id.toString('hex') : '';
  });
  v.define('ssl_session_reused', (r) => { const s = tlsSocket(r); return s === undefined ? undefined : s.isSessionReused() ? 'r' : '.'; });
  v.define('ssl_early_data', (r) => (tlsSocket(r) === undefined ? undefined : ''));
  v.define('ssl_server_name', (r) => {
    const s = tlsSocket(r);
    if (s === undefined) return undefined;
    return tlsInfoOf(s)?.hello?.serverName ?? '';
  });
  v.define('ssl_alpn_protocol', (r) => { const s = tlsSocket(r); if (s === undefined) return undefined; const p = s.alpnProtocol; return typeof p === 'string' ? p : ''; });
  v.define('ssl_client_verify', (r) => { const s = tlsSocket(r); return s === undefined ? undefined : clientVerify(s).text; });
  v.define('ssl_client_raw_cert', certVar((x) => pem(x)));
  // ngx_ssl_get_certificate: the last newline dropped, a tab after each other one
  v.define('ssl_client_cert', certVar((x) => pem(x).replace(/\n$/, '').replace(/\n/g, '\n\t')));
  v.define('ssl_client_escaped_cert', certVar((x) => escapeComponent(x.toString())));
  v.define('ssl_client_s_dn', certVar((x) => rfc2253(x.subject)));
  v.define('ssl_client_i_dn', certVar((x) => rfc2253(x.issuer)));
  v.define('ssl_client_s_dn_legacy', certVar((x) => legacyDn(x.subject)));
  v.define('ssl_client_i_dn_legacy', certVar((x) => legacyDn(x.issuer)));
  v.define('ssl_client_serial', certVar((x) => x.serialNumber.toUpperCase()));
  v.define('ssl_client_fingerprint', certVar((x) => x.fingerprint.replace(/:/g, '').toLowerCase()));
  v.define('ssl_client_v_start', certVar((x) => x.validFrom));
  v.define('ssl_client_v_end', certVar((x) => x.validTo));
  v.define('ssl_client_v_remain', certVar((x) => {
    const end = Date.parse(x.validTo);
    const days = Math.floor((end - Date.now()) / 86_400_000);
    return String(Math.max(0, days));
  }));
}
