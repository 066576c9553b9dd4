/**
 * A server block's TLS settings turned into node:tls SecureContexts, once,
 * as the config is read (ngx_ssl_create, ngx_ssl_certificates,
 * ngx_ssl_ciphers, ngx_ssl_dhparam, ngx_ssl_ecdh_curve,
 * ngx_ssl_conf_commands...). A handshake only picks a prebuilt context.
 *
 * What node cannot do is an error here, worded as nginx words its own
 * OpenSSL failures, never a silent skip: `ssl_conf_command` accepts only the
 * commands node has an option for; 80-byte session ticket keys and
 * decryption-only keys have no node API.
 */
import { constants, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import cluster from 'node:cluster';
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';

/** ssl_protocols bits (ngx_http_ssl_protocols). */
export const Proto = { SSLv2: 1, SSLv3: 2, TLSv1: 4, 'TLSv1.1': 8, 'TLSv1.2': 16, 'TLSv1.3': 32 } as const;

/** `ssl_protocols` / `proxy_ssl_protocols` words as a Proto mask; an unknown word is named, as nginx's ngx_conf_set_bitmask_slot. */
export function protocolMask(words: readonly string[], invalid: (word: string) => never): number {
  let mask = 0;
  for (const w of words) {
    const bit = (Proto as Record<string, number>)[w];
    if (bit === undefined) invalid(w);
    mask |= bit;
  }
  return mask;
}
const TLS_ORDER = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
const NO_PROTO: Record<(typeof TLS_ORDER)[number], number> = {
  TLSv1: constants.SSL_OP_NO_TLSv1,
  'TLSv1.1': constants.SSL_OP_NO_TLSv1_1,
  'TLSv1.2': constants.SSL_OP_NO_TLSv1_2,
  'TLSv1.3': constants.SSL_OP_NO_TLSv1_3,
};

/** Everything but the certificates, as merged (one per server block). */
export interface ContextSettings {
  readonly protocols: number;
  readonly ciphers: string;
  readonly preferServerCiphers: boolean;
  readonly ecdhCurve: string;
  readonly dhparam: string;
  readonly confCommands: ReadonlyArray<readonly [string, string]>;
  /** seconds */
  readonly sessionTimeout: number;
  readonly sessionTickets: boolean;
  /** 48-byte keys, the first encrypts. */
  readonly ticketKeys: Buffer | null;
  /** Client certificates: the CA list sent to clients and trusted. */
  readonly clientCa: string;
  readonly trustedCa: string;
  readonly crl: string;
  /** A label that keeps sessions of one server block apart from another's (ngx_http_ssl_sess_id_ctx + certificates). */
  readonly sessionIdContext: string;
}

/** A certificate and its key, loaded. */
export interface CertPair {
  readonly cert: Buffer;
  /** The key, decrypted (node:tls takes PEM; a password is used once, here). */
  readonly key: string;
}

export class TlsConfigError extends Error {}

/**
 * Files that are not regular files (a FIFO fed once by another program) are
 * read once per master and their contents kept, as nginx's SSL object cache
 * keeps what it read by name: every server, location and worker that names
 * one again gets the same bytes. Workers get them in their environment, as
 * passwords below.
 */
const SPECIAL_FILES_ENV = 'WEIR_TLS_SPECIAL_FILES';
let specialFiles: Map<string, Buffer> | null = null;

function readTlsFile(full: string): Buffer {
  if (statSync(full).isFile()) return readFileSync(full);
  if (specialFiles === null) {
    specialFiles = new Map();
    try {
      const raw = process.env[SPECIAL_FILES_ENV];
      if (raw) for (const [k, v] of Object.entries(JSON.parse(raw) as Record<string, string>)) specialFiles.set(k, Buffer.from(v, 'base64'));
    } catch { /* none inherited */ }
  }
  let data = specialFiles.get(full);
  if (data === undefined) {
    data = readFileSync(full);
    specialFiles.set(full, data);
    const out: Record<string, string> = {};
    for (const [k, v] of specialFiles) out[k] = v.toString('base64');
    process.env[SPECIAL_FILES_ENV] = JSON.stringify(out);
  }
  return data;
}

/** `data:...` is the value itself (nginx 1.23.1+), anything else a file. */
function load(what: string, path: string, fullPath: (p: string) => string): Buffer {
  if (path.startsWith('data:')) return Buffer.from(path.slice(5));
  try {
    return readTlsFile(fullPath(path));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const reason = err.code === 'ENOENT' ? 'No such file or directory' : err.code === 'EACCES' ? 'Permission denied' : err.message;
    throw new TlsConfigError(`cannot load ${what} "${path}": BIO_new_file() failed (SSL: error:80000002:system library::${reason})`);
  }
}

/**
 * Password files the master read, for its workers: nginx reads the file once,
 * in the master, and its workers inherit what it read; weir's workers read
 * the config again, and a second read of a FIFO (a password fed once by
 * another program) would wait forever. The master's reading goes to its
 * workers in their environment (inherited by cluster.fork), as nginx's
 * memory is inherited by fork.
 */
const PASSWORDS_ENV = 'WEIR_TLS_PASSWORDS';

function inheritedPasswords(): Record<string, string> {
  const raw = process.env[PASSWORDS_ENV];
  if (!raw) return {};
  try { return JSON.parse(raw) as Record<string, string>; } catch { return {}; }
}

/** The lines of an ssl_password_file (ngx_ssl_read_password_file: CR/LF end a password, empty lines skipped). */
export function readPasswords(path: string, fullPath: (p: string) => string): string[] {
  let text: string;
  const full = fullPath(path);
  const known = inheritedPasswords();
  try {
    if (cluster.isWorker && Object.hasOwn(known, full)) {
      text = known[full]!;
    } else {
      text = readFileSync(full, 'latin1');
      known[full] = text;
      process.env[PASSWORDS_ENV] = JSON.stringify(known);
    }
  } catch (e) {
    throw new TlsConfigError(`open() "${fullPath(path)}" failed (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? '2: No such file or directory' : (e as Error).message})`);
  }
  const out = text.split(/[\r\n]+/).filter((l) => l.length > 0);
  if (out.length === 0) throw new TlsConfigError(`no passwords are defined in "${path}"`);
  return out;
}

/** Loads one certificate/key pair; an encrypted key is tried with each password, as nginx does. */
export function loadPair(certPath: string, keyPath: string, passwords: readonly string[] | null, fullPath: (p: string) => string): CertPair {
  const cert = load('certificate', certPath, fullPath);
  if (!cert.includes('-----BEGIN')) {
    throw new TlsConfigError(`cannot load certificate "${certPath}": PEM_read_bio_X509_AUX() failed (SSL: error:0480006C:PEM routines::no start line:Expecting: TRUSTED CERTIFICATE)`);
  }
  const keyBytes = load('certificate key', keyPath, fullPath);
  const tries = passwords && passwords.length ? passwords : [undefined];
  let last = '';
  let key: KeyObject | null = null;
  for (const passphrase of tries) {
    try {
      key = createPrivateKey(passphrase === undefined ? { key: keyBytes } : { key: keyBytes, passphrase });
      break;
    } catch (e) {
      last = (e as Error).message;
    }
  }
  if (key === null) throw new TlsConfigError(`cannot load certificate key "${keyPath}": PEM_read_bio_PrivateKey() failed (SSL: ${last})`);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new TlsConfigError(`cannot load certificate "${certPath}": PEM_read_bio_X509_AUX() failed (SSL: ${(e as Error).message})`);
  }
  // OpenSSL checks the pair in SSL_CTX_use_PrivateKey; node's context does not always say.
  if (!x509.checkPrivateKey(key)) {
    throw new TlsConfigError(`SSL_CTX_use_PrivateKey("${keyPath}") failed (SSL: error:05800074:x509 certificate routines::key values mismatch)`);
  }
  return { cert, key: key.export({ type: 'pkcs8', format: 'pem' }) as string };
}

function splitPem(buf: Buffer, label: string): Buffer[] {
  const text = buf.toString('latin1');
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g');
  const all = text.match(re);
  return all === null ? [buf] : all.map((p) => Buffer.from(p + '\n', 'latin1'));
}

/** Options that map an ssl_conf_command onto node (the commands SSL_CONF_cmd knows for a server that node has an option for). */
function applyConfCommand(o: SecureContextOptions, name: string, value: string, tls13: string[]): void {
  switch (name.toLowerCase()) {
    case 'ciphersuites': tls13.push(...value.split(':').filter(Boolean)); return;
    case 'cipherstring': o.ciphers = value; return;
    case 'groups': case 'curves': o.ecdhCurve = value; return;
    case 'signaturealgorithms': o.sigalgs = value; return;
    case 'minprotocol': o.minVersion = protocolName(name, value); return;
    case 'maxprotocol': o.maxVersion = protocolName(name, value); return;
    case 'options': {
      for (const word of value.split(',')) {
        const w = word.trim();
        const off = w.startsWith('-');
        const flag = OPTION_WORDS[(off ? w.slice(1) : w).toLowerCase()];
        if (flag === undefined) throw new TlsConfigError(`SSL_CONF_cmd("${name}", "${value}") failed: the option "${w}" has no node equivalent`);
        o.secureOptions = off ? (o.secureOptions ?? 0) & ~flag : (o.secureOptions ?? 0) | flag;
      }
      return;
    }
    default:
      throw new TlsConfigError(`SSL_CONF_cmd("${name}", "${value}") failed: node:tls has no way to pass "${name}" to OpenSSL`);
  }
}

const OPTION_WORDS: Record<string, number> = {
  serverpreference: constants.SSL_OP_CIPHER_SERVER_PREFERENCE,
  prioritizechacha: constants.SSL_OP_PRIORITIZE_CHACHA ?? 0x200000,
  nocompression: constants.SSL_OP_NO_COMPRESSION,
  noticket: constants.SSL_OP_NO_TICKET,
  norenegotiation: constants.SSL_OP_NO_RENEGOTIATION ?? 0x40000000,
  nodhekex: 0,
};

function protocolName(cmd: string, v: string): SecureContextOptions['minVersion'] {
  if (v === 'TLSv1' || v === 'TLSv1.1' || v === 'TLSv1.2' || v === 'TLSv1.3') return v;
  throw new TlsConfigError(`SSL_CONF_cmd("${cmd}", "${v}") failed: node supports TLSv1 to TLSv1.3`);
}

/** The options common to every context of a server block. */
export function contextOptions(s: ContextSettings, fullPath: (p: string) => string): SecureContextOptions {
  const enabled = TLS_ORDER.filter((p) => (s.protocols & Proto[p]) !== 0);
  if (enabled.length === 0) {
    throw new TlsConfigError((s.protocols & (Proto.SSLv2 | Proto.SSLv3)) !== 0
      ? 'SSLv2 and SSLv3 are not supported by node\'s OpenSSL: "ssl_protocols" must enable a TLS version'
      : 'no protocols enabled by "ssl_protocols"');
  }
  // OpenSSL's options are a range with holes: min and max, and NO_x for what lies between and is off.
  let secureOptions = constants.SSL_OP_NO_SSLv2 | constants.SSL_OP_NO_SSLv3 | (constants.SSL_OP_NO_RENEGOTIATION ?? 0x40000000);
  const lo = TLS_ORDER.indexOf(enabled[0]);
  const hi = TLS_ORDER.indexOf(enabled[enabled.length - 1]);
  for (let i = lo; i <= hi; i++) if ((s.protocols & Proto[TLS_ORDER[i]]) === 0) secureOptions |= NO_PROTO[TLS_ORDER[i]];
  if (!s.sessionTickets) secureOptions |= constants.SSL_OP_NO_TICKET;
  const o: SecureContextOptions = {
    minVersion: enabled[0],
    maxVersion: enabled[enabled.length - 1],
    ciphers: s.ciphers,
    honorCipherOrder: s.preferServerCiphers,
    ecdhCurve: s.ecdhCurve,
    sessionTimeout: s.sessionTimeout,
    sessionIdContext: s.sessionIdContext,
  };
  if (s.ticketKeys !== null) o.ticketKeys = s.ticketKeys;
  if (s.dhparam !== '') o.dhparam = load('DH parameters', s.dhparam, fullPath);
  // node sends every `ca` certificate's name to clients (SSL_CTX_add_client_CA): one copy each.
  const seen = new Set<string>();
  const ca: Buffer[] = [];
  for (const p of [s.clientCa, s.trustedCa]) {
    if (p === '') continue;
    for (const cert of splitPem(load('certificate', p, fullPath), 'CERTIFICATE')) {
      const key = cert.toString('latin1').replace(/\s+/g, '');
      if (!seen.has(key)) { seen.add(key); ca.push(cert); }
    }
  }
  if (ca.length) o.ca = ca;
  // node's addCRL takes one CRL per buffer: a file of several is split.
  if (s.crl !== '') o.crl = splitPem(load('CRL', s.crl, fullPath), 'X509 CRL');
  const tls13: string[] = [];
  for (const [name, value] of s.confCommands) applyConfCommand(o, name, value, tls13);
  o.secureOptions = (o.secureOptions ?? 0) | secureOptions;
  // ssl_ciphers governs TLSv1.2 and below (SSL_CTX_set_cipher_list); TLSv1.3 suites stay
  // OpenSSL's default unless ssl_conf_command Ciphersuites names them. node reads both
  // from one string: suites are the TLS_ names.
  if (tls13.length) o.ciphers = [...tls13, ...o.ciphers!.split(':').filter((c) => !c.startsWith('TLS_'))].join(':');
  return o;
}

/** Builds a context; node's (OpenSSL's) error, in nginx's words for the step that failed. */
export function buildContext(base: SecureContextOptions, pairs: readonly CertPair[]): SecureContext {
  try {
    return createSecureContext({ ...base, cert: pairs.map((p) => p.cert), key: pairs.map((p) => p.key) });
  } catch (e) {
    // node leaves some of OpenSSL's errors queued (setECDHCurve's): the next crypto
    // call of this process would report it as its own. A context made of nothing clears it.
    try { createSecureContext({}); } catch { /* cleared either way */ }
    throw new TlsConfigError(contextErrorText(base, e as NodeJS.ErrnoException));
  }
}

function contextErrorText(base: SecureContextOptions, err: NodeJS.ErrnoException): string {
  const msg = err.message;
  if (err.code === 'ERR_SSL_NO_CIPHER_MATCH') return `SSL_CTX_set_cipher_list("${base.ciphers}") failed (SSL: ${msg})`;
  if (/ECDH curve/i.test(msg)) return `SSL_CTX_set1_curves_list("${base.ecdhCurve}") failed (SSL: ${msg})`;
  if (/sigalgs/i.test(msg)) return `SSL_CTX_set1_sigalgs_list("${base.sigalgs}") failed (SSL: ${msg})`;
  if (/DH|dhparam/i.test(msg)) return `PEM_read_bio_DHparams() failed (SSL: ${msg})`;
  if (/key values mismatch/i.test(msg)) return `SSL_CTX_use_PrivateKey() failed (SSL: ${msg})`;
  if (/CRL/i.test(msg)) return `X509_LOOKUP_load_file() failed (SSL: ${msg})`;
  return `SSL_CTX_use_certificate() failed (SSL: ${msg})`;
}
