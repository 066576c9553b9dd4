/**
 * Reading a TLS ClientHello before node:tls sees it, so that the server
 * block (its context, whether it asks for a client certificate, whether it
 * rejects) is chosen before the handshake starts, and so that the client's
 * offer ($ssl_ciphers, $ssl_curves) is known: OpenSSL's client hello
 * callback gives nginx the same, node exposes neither.
 *
 * Only reads; the bytes then go to node:tls unchanged. Anything that does not
 * parse is left for OpenSSL to refuse.
 */

export interface ClientHello {
  /** The server_name extension's host name, as sent; null without one. */
  readonly serverName: string | null;
  readonly cipherSuites: readonly number[];
  readonly groups: readonly number[];
  /** The supported_versions extension offers TLSv1.3. */
  readonly tls13: boolean;
  /** The groups of the key_share extension's shares, in the client's order. */
  readonly keyShares: readonly number[];
}

/** What the first bytes of a connection look like. */
export const enum HelloState {
  /** Not TLS: a plain HTTP request on an ssl port (nginx's 497). */
  NotTls,
  /** More bytes are needed. */
  Again,
  /** A whole ClientHello (or something OpenSSL should judge). */
  Done,
}

/** A ClientHello larger than this is left to OpenSSL without being read. */
const MAX_HELLO = 64 * 1024;

/** The first byte of a TLS record (handshake) or an SSLv2-style hello (high bit set). */
export function looksLikeTls(first: number): boolean {
  return first === 0x16 || (first & 0x80) !== 0;
}

/**
 * Collects the handshake bytes of the records in `data`; Again until the
 * ClientHello message is complete. `out.hello` is set when it parsed.
 */
export function readClientHello(data: Buffer, out: { hello: ClientHello | null }): HelloState {
  if (data.length === 0) return HelloState.Again;
  if (!looksLikeTls(data[0]!)) return HelloState.NotTls;
  if (data[0] !== 0x16) return HelloState.Done;
  // Records may split the message: gather their payloads.
  const parts: Buffer[] = [];
  let have = 0;
  let pos = 0;
  let need = -1;
  while (pos + 5 <= data.length) {
    if (data[pos] !== 0x16) return HelloState.Done;
    const len = data.readUInt16BE(pos + 3);
    if (pos + 5 + len > data.length) break;
    parts.push(data.subarray(pos + 5, pos + 5 + len));
    have += len;
    pos += 5 + len;
    if (need < 0 && have >= 4) {
      const head = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (head[0] !== 1) return HelloState.Done;
      need = 4 + head.readUIntBE(1, 3);
      if (need > MAX_HELLO) return HelloState.Done;
    }
    if (need >= 0 && have >= need) {
      out.hello = parseHello(Buffer.concat(parts).subarray(4, need));
      return HelloState.Done;
    }
  }
  if (data.length > MAX_HELLO + 5 * 16) return HelloState.Done;
  return HelloState.Again;
}

function parseHello(b: Buffer): ClientHello | null {
  try {
    let p = 2 + 32; // client_version, random
    p += 1 + b[p]!; // session_id
    const csLen = b.readUInt16BE(p);
    p += 2;
    const cipherSuites: number[] = [];
    for (let i = 0; i + 1 < csLen; i += 2) cipherSuites.push(b.readUInt16BE(p + i));
    p += csLen;
    p += 1 + b[p]!; // compression methods
    let serverName: string | null = null;
    const groups: number[] = [];
    let tls13 = false;
    const keyShares: number[] = [];
    if (p + 2 <= b.length) {
      const end = Math.min(b.length, p + 2 + b.readUInt16BE(p));
      p += 2;
      while (p + 4 <= end) {
        const type = b.readUInt16BE(p);
        const len = b.readUInt16BE(p + 2);
        const body = b.subarray(p + 4, p + 4 + len);
        p += 4 + len;
        if (type === 0 && body.length >= 5) {
          // server_name_list: the first host_name entry, as OpenSSL takes it
          if (body[2] === 0) {
            const n = body.readUInt16BE(3);
            serverName = body.subarray(5, 5 + n).toString('latin1');
          }
        } else if (type === 51 && body.length >= 2) {
          const n = Math.min(body.length, 2 + body.readUInt16BE(0));
          for (let i = 2; i + 4 <= n; i += 4 + body.readUInt16BE(i + 2)) keyShares.push(body.readUInt16BE(i));
        } else if (type === 43 && body.length >= 1) {
          for (let i = 1; i + 1 < 1 + body[0]! && i + 1 < body.length; i += 2) if (body.readUInt16BE(i) === 0x0304) tls13 = true;
        } else if (type === 10 && body.length >= 2) {
          const n = body.readUInt16BE(0);
          for (let i = 2; i + 1 < 2 + n && i + 1 < body.length; i += 2) groups.push(body.readUInt16BE(i));
        }
      }
    }
    return { serverName, cipherSuites, groups, tls13, keyShares };
  } catch {
    return null;
  }
}

/** GREASE values (RFC 8701) are noise a client adds; OpenSSL drops them from what it reports. */
export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && (v >> 8) === (v & 0xff);
}
