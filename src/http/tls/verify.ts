/**
 * The client certificate's verification result, as nginx reads it after the
 * handshake (SSL_get_verify_result in ngx_http_process_request): the
 * handshake itself never fails for a bad certificate; the request gets 495
 * or 496, or $ssl_client_verify says what happened (`optional`).
 *
 * ssl_verify_depth: node cannot set OpenSSL's verify depth, so the verified
 * chain's length is checked here, with OpenSSL's rule (at most depth
 * intermediates between the leaf and the trust anchor): a longer one is
 * "certificate chain too long", as OpenSSL reports it.
 */
import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';

export interface VerifyResult {
  /** $ssl_client_verify: NONE, SUCCESS or FAILED:reason. */
  readonly text: string;
  readonly hasCert: boolean;
  /** The verification failed (reason in text). */
  readonly failed: boolean;
  /** OpenSSL's code name (node's verifyError().code), '' when verified. */
  readonly code: string;
}

const results = new WeakMap<TLSSocket, VerifyResult>();
const certs = new WeakMap<TLSSocket, X509Certificate | null>();

/** node keeps the handshake's verification error on the native handle (what onServerSocketSecure reads). */
interface VerifyHandle { verifyError(): (Error & { code?: string }) | null }

/** Set by the acceptor per connection: the verify depth of the server the handshake chose. */
const depths = new WeakMap<TLSSocket, number>();
export function setVerifyDepth(s: TLSSocket, depth: number): void {
  depths.set(s, depth);
}

export function peerCertificate(s: TLSSocket): X509Certificate | null {
  let x = certs.get(s);
  if (x === undefined) {
    x = s.getPeerX509Certificate() ?? null;
    certs.set(s, x);
  }
  return x;
}

/** OpenSSL's codes that `optional_no_ca` lets through (ngx_ssl_verify_error_optional). */
const OPTIONAL_NO_CA = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

export function isOptionalNoCaError(code: string): boolean {
  return OPTIONAL_NO_CA.has(code);
}

/** Certificates in the verified chain, leaf to anchor. */
export function chainLength(s: TLSSocket): number {
  let c: DetailedPeerCertificate | null = s.getPeerCertificate(true);
  let n = 0;
  const seen = new Set<DetailedPeerCertificate>();
  while (c && c.raw && !seen.has(c) && n < 100) {
    seen.add(c);
    n++;
    c = c.issuerCertificate && c.issuerCertificate !== c ? c.issuerCertificate : null;
  }
  return n;
}

export function clientVerify(s: TLSSocket): VerifyResult {
  let r = results.get(s);
  if (r !== undefined) return r;
  const cert = peerCertificate(s);
  if (cert === null) {
    r = { text: 'NONE', hasCert: false, failed: false, code: '' };
  } else {
    const handle = (s as unknown as { ssl: VerifyHandle | null }).ssl;
    const err = handle?.verifyError() ?? null;
    if (err !== null) {
      r = { text: `FAILED:${err.message}`, hasCert: true, failed: true, code: err.code ?? '' };
    } else if (chainLength(s) > (depths.get(s) ?? 1) + 2) {
      r = { text: 'FAILED:certificate chain too long', hasCert: true, failed: true, code: 'CERT_CHAIN_TOO_LONG' };
    } else {
      r = { text: 'SUCCESS', hasCert: true, failed: false, code: '' };
    }
  }
  results.set(s, r);
  return r;
}
