/**
 * What the body filters share: the MIME type lists (sub_filter_types,
 * addition_types, charset_types: nginx's ngx_http_types_slot,
 * ngx_http_merge_types and ngx_http_test_content_type), and the weak ETag
 * of a changed body.
 *
 * A list set in the config always holds the module's first default type
 * too (text/html), as nginx's types slot adds it; `*` is any type. A level
 * without its own list inherits its parent's, and the defaults at the top.
 */
import type { ConfContext } from '../config/conf-context.js';
import type { ConfNode } from '../config/parser.js';
import { headerIndex } from './header-list.js';

/** Lower-cased MIME types; '*' for any. */
export type TypeSet = ReadonlySet<string>;

/** Sets a `*_types` directive's list on `conf[key]`; a second one in a level is a duplicate. */
export function setTypes<K extends string>(cf: ConfContext, d: ConfNode, conf: { [P in K]?: TypeSet }, key: K, first: string): void {
  if (conf[key] !== undefined) return cf.duplicate();
  const set = new Set(d.args.map((t) => t.toLowerCase()));
  set.add(first);
  conf[key] = set as TypeSet as (typeof conf)[K];
}

/** The type of a response's Content-Type, without its parameters, lower-cased; '' when there is none. */
export function contentTypeOf(headers: readonly string[]): string {
  const i = headerIndex(headers, 'content-type');
  if (i === -1) return '';
  const value = headers[i + 1]!;
  const semi = value.indexOf(';');
  return (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
}

/** Whether a response's type is in the list: `*` takes any (even none), else a response with no type is in none. */
export function typeMatches(types: TypeSet, headers: readonly string[]): boolean {
  if (types.has('*')) return true;
  const type = contentTypeOf(headers);
  return type !== '' && types.has(type);
}

/**
 * ngx_http_weak_etag: a filter that changes the body keeps a strong ETag
 * only as a weak one; one that is not a quoted tag goes.
 */
export function weakEtag(headers: string[]): void {
  const i = headerIndex(headers, 'etag');
  if (i === -1) return;
  const v = headers[i + 1]!;
  if (v.startsWith('W/')) return;
  if (v.startsWith('"')) headers[i + 1] = `W/${v}`;
  else headers.splice(i, 2);
}
