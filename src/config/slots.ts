/**
 * Shared setters (nginx's ngx_conf_set_*_slot) and the merge helper
 * (ngx_conf_merge_*_value). A conf field is `undefined` while unset; a setter
 * that finds it already set reports `"x" directive is duplicate`, as nginx does.
 */
import type { ConfContext } from './conf-context.js';
import type { ConfNode } from './parser.js';
import { parseFlag, parseNumber, parseOffset, parseSize, parseTime } from './units.js';

/** Keys of T whose value type accepts V. */
export type KeysFor<T, V> = { [K in keyof T]-?: [V] extends [T[K]] ? K : never }[keyof T];

function assign<T, V>(cf: ConfContext, conf: T, key: KeysFor<T, V | undefined>, value: V): void {
  const c = conf as Record<PropertyKey, unknown>;
  if (c[key as PropertyKey] !== undefined) return cf.duplicate();
  c[key as PropertyKey] = value;
}

/** nginx's slots check for a duplicate before they look at the value. */
function checkUnset(cf: ConfContext, conf: unknown, key: PropertyKey): void {
  if ((conf as Record<PropertyKey, unknown>)[key] !== undefined) cf.duplicate();
}

export function setFlag<T>(cf: ConfContext, node: ConfNode, conf: T, key: KeysFor<T, boolean | undefined>): void {
  checkUnset(cf, conf, key);
  const v = parseFlag(node.args[0]);
  if (v === null) {
    return cf.error(`invalid value "${node.args[0]}" in "${node.name}" directive, it must be "on" or "off"`);
  }
  assign<T, boolean>(cf, conf, key, v);
}

/** A time stored in milliseconds (ngx_conf_set_msec_slot). */
export function setMsec<T>(cf: ConfContext, node: ConfNode, conf: T, key: KeysFor<T, number | undefined>): void {
  checkUnset(cf, conf, key);
  const v = parseTime(node.args[0]);
  if (v === null) return cf.invalid('invalid value');
  assign<T, number>(cf, conf, key, v);
}

/** A time in whole seconds, stored in milliseconds (ngx_conf_set_sec_slot: no `ms`). */
export function setSec<T>(cf: ConfContext, node: ConfNode, conf: T, key: KeysFor<T, number | undefined>): void {
  checkUnset(cf, conf, key);
  const v = parseTime(node.args[0], false);
  if (v === null) return cf.invalid('invalid value');
  assign<T, number>(cf, conf, key, v);
}

export function setSize<T>(cf: ConfContext, node: ConfNode, conf: T, key: KeysFor<T, number | undefined>): void {
  checkUnset(cf, conf, key);
  const v = parseSize(node.args[0]);
  if (v === null) return cf.invalid('invalid value');
  assign<T, number>(cf, conf, key, v);
}

export function setOffset<T>(cf: ConfContext, node: ConfNode, conf: T, key: KeysFor<T, number | undefined>): void {
  checkUnset(cf, conf, key);
  const v = parseOffset(node.args[0]);
  if (v === null) return cf.invalid('invalid value');
  assign<T, number>(cf, conf, key, v);
}

export function setNumber<T>(cf: ConfContext, node: ConfNode, conf: T, key: KeysFor<T, number | undefined>): void {
  checkUnset(cf, conf, key);
  const v = parseNumber(node.args[0]);
  if (v === null) return cf.invalid('invalid number');
  assign<T, number>(cf, conf, key, v);
}

/** ngx_conf_set_num_slot with ngx_conf_check_num_bounds as its post handler (the *_status directives: 400..599). */
export function setNumberInRange<T>(cf: ConfContext, node: ConfNode, conf: T, key: KeysFor<T, number | undefined>, min: number, max: number): void {
  checkUnset(cf, conf, key);
  const v = parseNumber(node.args[0]);
  if (v === null) return cf.invalid('invalid number');
  if (v < min || v > max) return cf.error(`value must be between ${min} and ${max}`);
  assign<T, number>(cf, conf, key, v);
}

export function setString<T>(cf: ConfContext, node: ConfNode, conf: T, key: KeysFor<T, string | undefined>): void {
  assign<T, string>(cf, conf, key, node.args[0]);
}

/** One of fixed words (ngx_conf_set_enum_slot). */
export function setEnum<T, V extends string>(
  cf: ConfContext, node: ConfNode, conf: T, key: KeysFor<T, V | undefined>, values: readonly V[],
): void {
  // nginx checks for a duplicate first, compares ignoring case (ngx_strcasecmp),
  // and logs `invalid value "x"` itself (no directive name).
  checkUnset(cf, conf, key);
  const word = node.args[0].toLowerCase();
  const v = values.find((x) => x.toLowerCase() === word);
  if (v === undefined) return cf.error(`invalid value "${node.args[0]}"`);
  assign<T, V>(cf, conf, key, v);
}

/** Words that OR into a mask (ngx_conf_set_bitmask_slot); `off` alone clears. */
export function setBitmask<T>(
  cf: ConfContext, node: ConfNode, conf: T, key: KeysFor<T, number | undefined>, bits: Readonly<Record<string, number>>,
): void {
  // ngx_conf_set_bitmask_slot: a repeated directive adds its words to the mask (no "is duplicate"),
  // and a word already in it is only a warning.
  const c = conf as Record<PropertyKey, unknown>;
  let mask = (c[key as PropertyKey] as number | undefined) ?? 0;
  for (const word of node.args) {
    const bit = Object.hasOwn(bits, word) ? bits[word] : bits[word.toLowerCase()]; // ngx_strcasecmp
    // ngx_conf_set_bitmask_slot logs `invalid value "x"` itself, without the directive name.
    if (bit === undefined) return cf.error(`invalid value "${word}"`);
    if (mask & bit) cf.warn(`duplicate value "${word}"`);
    else mask |= bit;
  }
  c[key as PropertyKey] = mask;
}

/** child[key] = child[key] ?? parent[key] ?? fallback (ngx_conf_merge_*_value). */
export function inherit<T, K extends keyof T>(child: T, parent: T, key: K, fallback: NonNullable<T[K]>): void {
  if (child[key] === undefined) child[key] = parent[key] === undefined ? fallback : parent[key];
}
