/**
 * One request's TLS to its upstream (the per-request half of
 * ngx_http_upstream_ssl_init_connection, _ssl_name, _ssl_certificate and
 * _ssl_handshake): the name to send and check, the client certificate
 * when it has variables, the session to resume, and the verdict on the
 * peer's certificate once the handshake is done.
 *
 * Differences from nginx, on purpose: sessions are kept per location
 * context and peer (nginx keeps one per peer, whichever location saved
 * it), so a session made under one location's verification settings is
 * never resumed, unverified, under another's.
 */
import { isIP } from 'node:net';
import type { SecureContext, TLSSocket } from 'node:tls';
import type { PeerAddress } from '../../balancer/types.js';
import type { HttpRequest } from '../../http/request.js';
import { buildContext, loadPair, TlsConfigError } from '../../http/tls/contexts.js';
import { chainLength } from '../../http/tls/verify.js';
import type { TlsParams, UpstreamTls } from '../../upstream/tls.js';
import { type ProxySslConf, type UpstreamSslContext } from './proxy-ssl.js';
import { isAbsolute, join } from 'node:path';

/** OpenSSL's X509_V_ERR_* numbers for the codes node names (nginx logs "(20:unable to get local issuer certificate)"). */
const VERIFY_CODES: Readonly<Record<string, number>> = {
  UNABLE_TO_GET_ISSUER_CERT: 2, UNABLE_TO_GET_CRL: 3, UNABLE_TO_DECRYPT_CERT_SIGNATURE: 4,
  UNABLE_TO_DECRYPT_CRL_SIGNATURE: 5, UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: 6, CERT_SIGNATURE_FAILURE: 7,
  CRL_SIGNATURE_FAILURE: 8, CERT_NOT_YET_VALID: 9, CERT_HAS_EXPIRED: 10, CRL_NOT_YET_VALID: 11, CRL_HAS_EXPIRED: 12,
  ERROR_IN_CERT_NOT_BEFORE_FIELD: 13, ERROR_IN_CERT_NOT_AFTER_FIELD: 14, ERROR_IN_CRL_LAST_UPDATE_FIELD: 15,
  ERROR_IN_CRL_NEXT_UPDATE_FIELD: 16, OUT_OF_MEM: 17, DEPTH_ZERO_SELF_SIGNED_CERT: 18, SELF_SIGNED_CERT_IN_CHAIN: 19,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 20, UNABLE_TO_VERIFY_LEAF_SIGNATURE: 21, CERT_CHAIN_TOO_LONG: 22, CERT_REVOKED: 23,
  INVALID_CA: 24, PATH_LENGTH_EXCEEDED: 25, INVALID_PURPOSE: 26, CERT_UNTRUSTED: 27, CERT_REJECTED: 28,
  UNABLE_TO_GET_CRL_ISSUER: 33, HOSTNAME_MISMATCH: 62,
};

interface VerifyHandle { verifyError(): (Error & { code?: string }) | null }

/** The name as nginx uses it: any port cut off (it may come from $proxy_host or $http_host). */
function stripPort(name: string): string {
  let from = 0;
  if (name.startsWith('[')) {
    const close = name.indexOf(']');
    if (close !== -1) from = close;
  }
  const colon = name.indexOf(':', from);
  return colon === -1 ? name : name.slice(0, colon);
}

export class ProxyTlsTry implements UpstreamTls {
  /** The name checked against the certificate (nginx's u->ssl_name after ngx_http_upstream_ssl_name). */
  private name = '';

  constructor(
    private readonly r: HttpRequest,
    private readonly conf: ProxySslConf,
    /** The URL's host, the default of proxy_ssl_name. */
    private readonly host: string,
  ) {}

  params(address: PeerAddress): TlsParams | null {
    const c = this.conf;
    const holder = c.holder!;
    let servername: string | null = null;
    if (c.serverName || c.verify) {
      this.name = stripPort(c.name ? c.name.evaluate(this.r) : this.host);
      // RFC 6066: no literal addresses in SNI.
      if (c.serverName && this.name !== '' && !this.name.startsWith('[') && isIP(this.name) === 0) servername = this.name;
    }
    const context = this.context(holder);
    if (context === null) return null;
    const reuse = c.sessionReuse === true;
    return {
      context,
      servername,
      session: reuse ? holder.sessions.get(address) ?? null : null,
      saveSession: reuse ? (s: Buffer) => { holder.sessions.set(address, s); } : null,
    };
  }

  /** The static context, or one with the certificate this request names (variables). */
  private context(holder: UpstreamSslContext): SecureContext | null {
    const c = this.conf;
    const cert = c.certificate ?? null;
    const key = c.certificateKey ?? null;
    if (cert === null || key === null || (!cert.hasVariables && !key.hasVariables)) return holder.context;
    const certName = cert.evaluate(this.r);
    if (certName === '') return holder.context;
    const keyName = key.evaluate(this.r);
    const spec = c.certificateCache ?? null;
    const id = `${certName}\0${keyName}`;
    const now = Date.now();
    if (spec !== null) {
      const hit = holder.certCache.get(id);
      if (hit !== undefined && now - hit.used < spec.inactive && now - hit.loaded < spec.valid) {
        hit.used = now;
        // Most recently used last: the first is the one a full cache drops.
        holder.certCache.delete(id);
        holder.certCache.set(id, hit);
        return hit.context;
      }
      holder.certCache.delete(id);
    }
    let context: SecureContext;
    try {
      const full = (p: string): string => (isAbsolute(p) ? p : join(holder.confPrefix, p));
      context = buildContext(holder.base!, [loadPair(certName, keyName, c.passwords ?? null, full)]);
    } catch (e) {
      if (!(e instanceof TlsConfigError)) throw e;
      this.r.log('error', `${e.message} while connecting to upstream`);
      return null;
    }
    if (spec !== null) {
      for (const [k, v] of holder.certCache) if (now - v.used >= spec.inactive) holder.certCache.delete(k);
      while (holder.certCache.size >= spec.max) holder.certCache.delete(holder.certCache.keys().next().value!);
      holder.certCache.set(id, { context, loaded: now, used: now });
    }
    return context;
  }

  verify(socket: TLSSocket): string | null {
    const c = this.conf;
    if (!c.verify) return null;
    const err = (socket as unknown as { ssl: VerifyHandle | null }).ssl?.verifyError() ?? null;
    if (err !== null) {
      const code = err.code ?? '';
      return `upstream SSL certificate verify error: (${VERIFY_CODES[code] ?? 1}:${err.message})`;
    }
    // node cannot set OpenSSL's verify depth: the verified chain's length is checked (verify.ts's rule).
    if (chainLength(socket) > c.verifyDepth! + 2) return 'upstream SSL certificate verify error: (22:certificate chain too long)';
    const cert = socket.getPeerX509Certificate();
    if (cert === undefined || this.name === '' || cert.checkHost(this.name) === undefined) {
      return `upstream SSL certificate does not match "${this.name}"`;
    }
    return null;
  }
}
