/**
 * ngx_http_test_content_type for gzip_types: the response's type, without
 * its parameters and lower-cased, against the configured set (null: `*`,
 * any response, one without Content-Type too).
 */
import { headerIndex } from '../header-list.js';

export function typeMatches(types: ReadonlySet<string> | null, headers: readonly string[]): boolean {
  if (types === null) return true;
  const i = headerIndex(headers, 'content-type');
  if (i === -1) return false;
  const value = headers[i + 1];
  const semi = value.indexOf(';');
  const type = (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
  return type !== '' && types.has(type);
}
