/**
 * A size directive that may hold variables (ngx_http_set_complex_value_size_slot,
 * nginx 1.17.0+: limit_rate, limit_rate_after, proxy_limit_rate...): parsed at
 * config time when constant, else evaluated and parsed per request.
 */
import type { ConfContext } from '../config/conf-context.js';
import { parseSize } from '../config/units.js';
import { httpCoreModule } from './core-module.js';
import type { HttpRequest } from './request.js';
import { toByteString } from './uri.js';
import type { ComplexValue } from './variables.js';

export type SizeValue = number | ComplexValue;

/** The directive's value; undefined after reporting nginx's error. */
export function compileSizeValue(cf: ConfContext, text: string): SizeValue | undefined {
  let value: ComplexValue;
  try {
    value = cf.main(httpCoreModule).variables.compile(toByteString(text), cf.position);
  } catch (e) {
    cf.error((e as Error).message.replace(/ in \S+:\d+$/, ''));
    return undefined;
  }
  if (value.constant === null) return value;
  const n = parseSize(value.constant);
  if (n === null) { cf.error('invalid value'); return undefined; }
  return n;
}

/** ngx_http_complex_value_size: a bad value is logged and counts as `fallback`. */
export function sizeFor(r: HttpRequest, v: SizeValue | undefined, fallback = 0): number {
  if (v === undefined) return fallback;
  if (typeof v === 'number') return v;
  const text = v.evaluate(r);
  const n = parseSize(text);
  if (n !== null) return n;
  r.log('error', `invalid size "${text}"`);
  return fallback;
}
