/**
 * Certificates for TLS tests, made with the `openssl` command at test time
 * (it is in the base image; nothing here is checked in). One CA, leaf
 * certificates it signs (RSA or ECDSA), self-signed ones, an encrypted key.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class CertFactory {
  readonly dir = mkdtempSync(join(tmpdir(), 'weir-certs-'));
  private serial = 1;

  constructor() {
    writeFileSync(join(this.dir, 'openssl.conf'), '[req]\ndistinguished_name = dn\n[dn]\n[ext]\nbasicConstraints = critical,CA:TRUE\n');
  }

  private run(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }

  private key(name: string, kind: 'rsa' | 'ec'): void {
    if (kind === 'rsa') this.run(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${name}.key`]);
    else this.run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', `${name}.key`]);
  }

  /** A self-signed certificate (a CA when `ca`); returns its name. */
  selfSigned(name: string, cn: string, kind: 'rsa' | 'ec' = 'rsa', ca = false): string {
    this.key(name, kind);
    this.run(['req', '-x509', '-new', '-config', 'openssl.conf', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-days', '2',
      ...(ca ? ['-extensions', 'ext'] : []), '-out', `${name}.crt`]);
    return name;
  }

  /** A certificate signed by `issuer` (a CA made by selfSigned(..., true)). */
  signed(name: string, cn: string, issuer: string, kind: 'rsa' | 'ec' = 'rsa', ca = false): string {
    this.key(name, kind);
    this.run(['req', '-new', '-config', 'openssl.conf', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`]);
    this.run(['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-set_serial', String(++this.serial),
      '-days', '2', ...(ca ? ['-extfile', 'openssl.conf', '-extensions', 'ext'] : []), '-out', `${name}.crt`]);
    return name;
  }

  /** The key of `name` again, encrypted with `password` (as `${name}-enc.key`). */
  encryptKey(name: string, password: string): string {
    this.run(['pkey', '-in', `${name}.key`, '-aes128', '-passout', `pass:${password}`, '-out', `${name}-enc.key`]);
    return `${name}-enc.key`;
  }

  read(file: string): Buffer {
    return readFileSync(join(this.dir, file));
  }

  /** The files of `names` (crt and key), for startWeir's file map. */
  files(...names: string[]): Record<string, Buffer> {
    const out: Record<string, Buffer> = {};
    for (const n of names) {
      out[`${n}.crt`] = this.read(`${n}.crt`);
      out[`${n}.key`] = this.read(`${n}.key`);
    }
    return out;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
