/*
 * Virtual server selection for one listen address: nginx's ngx_http_find_virtual_server
 * (src/http/ngx_http_request.c) over the tables ngx_http_server_names builds
 * (src/http/ngx_http.c) with ngx_hash_add_key / ngx_hash_find_combined (src/core/ngx_hash.c).
 *
 * Priority, as in nginx:
 *   1. exact name (`example.com`, and the exact half of `.example.com`; `""` matches a
 *      request without Host),
 *   2. the longest leading wildcard (`*.example.com`, `.example.com`; any depth of
 *      subdomain, at least one label),
 *   3. the longest trailing wildcard (`www.*`, `www.example.*`; at least one more label),
 *   4. the first regex (`~...`) in config order, with its captures,
 *   5. the default server: the one marked default_server, else the first.
 * A name claimed twice (same exact name, or `*.x` and `.x`) keeps its first server and the
 * later one is reported like nginx's `conflicting server name "x" on addr, ignored` warning.
 *
 * Deliberate differences:
 *   - Wildcards are kept in length-sorted lists and tried with endsWith/startsWith instead of
 *     nginx's wildcard hashes: same result, O(names) per request, no allocation.
 *   - The host must already be validated and lower-cased (validateHost); names are
 *     lower-cased here at build time.
 */

import { compileNginxRegex } from './pcre.js';

export interface ServerSpec<T> {
  payload: T;
  /** server_name values as written (`""` for the empty name). */
  names: readonly string[];
  /** `listen ... default_server` for this address. */
  defaultServer?: boolean;
  file?: string;
  line?: number;
}

export interface ServerMatch<T> {
  payload: T;
  /** The server_name that matched, or null when the default server was used. */
  name: string | null;
  /** Regex captures ($1.., named via groups), or null. */
  captures: RegExpExecArray | null;
}

/**
 * A `~` server name's regex. As ngx_http_core_server_name: caseless only when the pattern
 * has an uppercase letter (the host it runs on is lower-cased). Throws PcreError.
 */
export function compileServerNameRegex(name: string): RegExp {
  const pattern = name.slice(1);
  return compileNginxRegex(pattern, /[A-Z]/.test(pattern));
}

export class ServerNameConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServerNameConfigError';
  }
}

interface Wildcard<T> {
  /** `.example.com` for heads, `www.` for tails. */
  part: string;
  /** A dotted head (`.example.com`) also matched `example.com` through the exact table. */
  name: string;
  payload: T;
}

interface RegexName<T> {
  name: string;
  regex: RegExp;
  payload: T;
}

export class ServerNames<T> {
  /** nginx-style warnings collected at build time (conflicting names). */
  readonly warnings: string[] = [];
  private readonly exact = new Map<string, { name: string; payload: T }>();
  private readonly heads: Wildcard<T>[] = [];
  private readonly tails: Wildcard<T>[] = [];
  private readonly regexes: RegexName<T>[] = [];
  private readonly defaultPayload: T;

  /** address: for messages, e.g. "0.0.0.0:80". */
  constructor(servers: readonly ServerSpec<T>[], address = '0.0.0.0:80') {
    if (servers.length === 0) throw new ServerNameConfigError(`no servers for ${address}`);
    let def: ServerSpec<T> | null = null;
    for (const s of servers) {
      if (s.defaultServer === true) {
        if (def !== null) {
          throw new ServerNameConfigError(
            `a duplicate default server for ${address}` + (s.file !== undefined ? ` in ${s.file}:${s.line ?? 0}` : ''));
        }
        def = s;
      }
    }
    this.defaultPayload = (def ?? servers[0]!).payload;

    const headSeen = new Set<string>();
    const tailSeen = new Set<string>();
    const conflict = (name: string): void => {
      this.warnings.push(`conflicting server name "${name}" on ${address}, ignored`);
    };

    for (const s of servers) {
      for (const raw of s.names) {
        if (raw.includes('/')) {
          this.warnings.push(`server name "${raw}" has suspicious symbols` + (s.file !== undefined ? ` in ${s.file}:${s.line ?? 0}` : ''));
        }
        if (raw.startsWith('~')) {
          this.regexes.push({ name: raw, regex: compileServerNameRegex(raw), payload: s.payload });
          continue;
        }
        const name = raw.toLowerCase();
        const star = name.indexOf('*');
        if (star < 0 && !name.startsWith('.')) {
          if (this.exact.has(name)) conflict(name);
          else this.exact.set(name, { name: raw, payload: s.payload });
          continue;
        }
        if (name.startsWith('*.') && star === 0 && name.indexOf('*', 1) < 0 && name.length > 2) {
          const part = name.slice(1);
          if (headSeen.has(part)) conflict(name);
          else { headSeen.add(part); this.heads.push({ part, name: raw, payload: s.payload }); }
          continue;
        }
        if (name.startsWith('.') && star < 0 && name.length > 1) {
          const part = name;
          const bare = name.slice(1);
          if (this.exact.has(bare)) conflict(name);
          else this.exact.set(bare, { name: raw, payload: s.payload });
          if (headSeen.has(part)) conflict(name);
          else { headSeen.add(part); this.heads.push({ part, name: raw, payload: s.payload }); }
          continue;
        }
        if (name.endsWith('.*') && star === name.length - 1 && name.length > 2) {
          const part = name.slice(0, -1);
          if (tailSeen.has(part)) conflict(name);
          else { tailSeen.add(part); this.tails.push({ part, name: raw, payload: s.payload }); }
          continue;
        }
        throw new ServerNameConfigError(
          `invalid server name or wildcard "${raw}" on ${address}` + (s.file !== undefined ? ` in ${s.file}:${s.line ?? 0}` : ''));
      }
    }
    this.heads.sort((a, b) => b.part.length - a.part.length);
    this.tails.sort((a, b) => b.part.length - a.part.length);
  }

  /** Select the server for a validated, lower-cased host ('' when the request had none). */
  find(host: string): ServerMatch<T> {
    const e = this.exact.get(host);
    if (e !== undefined) return { payload: e.payload, name: e.name, captures: null };
    if (host.length > 0) {
      for (let i = 0; i < this.heads.length; i++) {
        const w = this.heads[i]!;
        if (host.length > w.part.length && host.endsWith(w.part)) return { payload: w.payload, name: w.name, captures: null };
      }
      for (let i = 0; i < this.tails.length; i++) {
        const w = this.tails[i]!;
        if (host.length > w.part.length && host.startsWith(w.part)) return { payload: w.payload, name: w.name, captures: null };
      }
    }
    for (let i = 0; i < this.regexes.length; i++) {
      const r = this.regexes[i]!;
      const m = r.regex.exec(host);
      if (m !== null) return { payload: r.payload, name: r.name, captures: m };
    }
    return { payload: this.defaultPayload, name: null, captures: null };
  }
}
