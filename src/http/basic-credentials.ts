/**
 * The user and password of `Authorization: Basic ...` (ngx_http_auth_basic_user):
 * the scheme word compared without case, spaces after it skipped, strict
 * base64 (ngx_decode_base64: the standard alphabet, up to the first `=`),
 * then `user:password` with a non-empty user. Anything else is "no
 * credentials" (null), never an error. Byte strings (latin1), as $remote_user.
 */
import { decodeBase64Strict } from './crypt.js';
import type { HttpRequest } from './request.js';

export interface BasicCredentials {
  readonly user: string;
  readonly password: string;
}

/** Per request: the header does not change, and $remote_user and auth_basic both ask. */
const parsed = new WeakMap<HttpRequest, BasicCredentials | null>();

export function parseBasicCredentials(value: string | undefined): BasicCredentials | null {
  if (value === undefined || value.length < 6 || value.slice(0, 6).toLowerCase() !== 'basic ') return null;
  let start = 6;
  while (start < value.length && value.charCodeAt(start) === 0x20) start++;
  if (start === value.length) return null;
  const decoded = decodeBase64Strict(value.slice(start));
  if (decoded === null) return null;
  const text = decoded.toString('latin1');
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

export function basicCredentials(r: HttpRequest): BasicCredentials | null {
  const main = r.main;
  let c = parsed.get(main);
  if (c === undefined) {
    c = parseBasicCredentials(main.req.headers.authorization);
    parsed.set(main, c);
  }
  return c;
}
