/**
 * ngx_http_secure_link_module: links that carry a hash of what they may reach.
 *
 *   secure_link STRING          http, server, location: `HASH` or `HASH,EXPIRES`
 *   secure_link_md5 STRING      what HASH must be the MD5 of (base64url, 16 bytes)
 *   secure_link_secret WORD     the old style: /prefix/MD5HEX/rest, MD5HEX = md5(rest WORD)
 *
 * $secure_link is "1" for a good hash, "0" for a good hash whose EXPIRES
 * (seconds since the epoch) has passed, and not found otherwise; in the old
 * style it is the rest of the link (the URI as the client sent it, past the
 * hash). $secure_link_expires is EXPIRES once $secure_link read one. Hashes
 * are compared in constant time, as nginx does.
 *
 * secure_link_secret may not be mixed with the other two on one level; a level
 * with neither secure_link nor secure_link_md5 inherits the secret.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ConfContext } from '../config/conf-context.js';
import { HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { httpCoreModule } from './core-module.js';
import { decodeBase64Url } from './ngx-base64.js';
import type { HttpRequest } from './request.js';
import { toByteString } from './uri.js';
import type { ComplexValue } from './variables.js';

export interface SecureLinkLocConf {
  /** undefined: unset; null: none (nginx's NGX_CONF_UNSET_PTR and NULL). */
  variable?: ComplexValue | null;
  md5?: ComplexValue | null;
  secret?: string;
}

function compile(cf: ConfContext, d: ConfNode): ComplexValue {
  try {
    return cf.main(httpCoreModule).variables.compile(toByteString(d.args[0]!), { file: d.file, line: d.line });
  } catch (e) {
    return cf.error((e as Error).message.replace(/ in \S+:\d+$/, ''), d);
  }
}

const directives: DirectiveSpec[] = [
  {
    name: 'secure_link', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) {
      const conf = cf.loc(secureLinkModule);
      if (conf.variable !== undefined) return cf.duplicate();
      conf.variable = compile(cf, d);
    },
  },
  {
    name: 'secure_link_md5', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) {
      const conf = cf.loc(secureLinkModule);
      if (conf.md5 !== undefined) return cf.duplicate();
      conf.md5 = compile(cf, d);
    },
  },
  {
    name: 'secure_link_secret', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) {
      const conf = cf.loc(secureLinkModule);
      if (conf.secret !== undefined) return cf.duplicate();
      conf.secret = toByteString(d.args[0]!);
    },
  },
];

const md5 = (text: string): Buffer => createHash('md5').update(text, 'latin1').digest();

/** The decoded hash of the link (one buffer: a getter runs to its end synchronously). */
const hashBuf = new Uint8Array(18);

/** ngx_atotm: decimal digits only; -1 otherwise. */
function parseSeconds(text: string): number {
  if (text.length === 0) return -1;
  let v = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
    if (v > Number.MAX_SAFE_INTEGER / 10) return -1;
  }
  return v;
}

/** The old style: /anything/<32 hex>/<rest>, over the URI as sent (ngx_http_secure_link_old_variable). */
function oldVariable(r: HttpRequest, secret: string): string | undefined {
  const uri = r.requestUri;
  const start = uri.indexOf('/', 1) + 1;
  if (start === 0) return undefined;
  const end = uri.indexOf('/', start);
  if (end < 0) return undefined;
  const rest = uri.slice(end + 1);
  if (end - start !== 32 || rest.length === 0) return undefined;
  const hash = md5(rest + secret);
  let ch = 0;
  for (let i = 0; i < 16; i++) {
    const n = hexByte(uri, start + 2 * i);
    if (n < 0) return undefined;
    ch |= n ^ hash[i]!;
  }
  return ch === 0 ? rest : undefined;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
}

function hexByte(s: string, i: number): number {
  const a = hexDigit(s.charCodeAt(i));
  const b = hexDigit(s.charCodeAt(i + 1));
  return a < 0 || b < 0 ? -1 : a * 16 + b;
}

function secureLinkVariable(index: number) {
  return (r: HttpRequest): string | undefined => {
    const conf = r.loc.loc[index] as SecureLinkLocConf;
    if (conf.secret !== undefined) return oldVariable(r, conf.secret);
    if (!conf.variable || !conf.md5) return undefined;
    let val = conf.variable.evaluate(r);
    const comma = val.indexOf(',');
    let expires = 0;
    if (comma >= 0) {
      const text = val.slice(comma + 1);
      expires = parseSeconds(text);
      if (expires <= 0) return undefined;
      r.ctx[index] = text;
      val = val.slice(0, comma);
    }
    if (val.length > 24) return undefined;
    if (decodeBase64Url(val, hashBuf) !== 16) return undefined;
    if (!timingSafeEqual(hashBuf.subarray(0, 16), md5(conf.md5.evaluate(r)))) return undefined;
    return expires && expires < Math.floor(Date.now() / 1000) ? '0' : '1';
  };
}

export const secureLinkModule: HttpModule<unknown, unknown, SecureLinkLocConf> = {
  kind: 'http',
  name: 'http_secure_link',
  directives,
  createLoc: () => ({}),
  mergeLoc(p, c, cf) {
    if (c.secret !== undefined) {
      if (c.variable || c.md5) cf.error('"secure_link_secret" cannot be mixed with "secure_link" and "secure_link_md5"');
      c.variable = null;
      c.md5 = null;
      return;
    }
    if (c.variable === undefined) c.variable = p.variable ?? null;
    if (c.md5 === undefined) c.md5 = p.md5 ?? null;
    if (!c.variable && !c.md5) c.secret = p.secret;
  },
  initMain(_conf, cf) {
    const core = cf.main(httpCoreModule);
    const index = cf.registry.indexOf(secureLinkModule);
    const vars = core.variables;
    // nginx caches it for the request (r->variables), across internal redirects.
    const get = secureLinkVariable(index);
    const slot = vars.allocateSlot();
    // A cached "not found": no byte string holds this char.
    const NOT_FOUND = '\u0100';
    if (!vars.has('secure_link')) {
      vars.define('secure_link', (r) => {
        let v = r.variables[slot];
        if (v === undefined) { v = get(r) ?? NOT_FOUND; r.variables[slot] = v; }
        return v === NOT_FOUND ? undefined : v;
      });
    }
    if (!vars.has('secure_link_expires')) vars.define('secure_link_expires', (r) => r.ctx[index] as string | undefined);
  },
};
