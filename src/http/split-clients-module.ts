/**
 * ngx_http_split_clients_module: `split_clients STRING $variable { ... }`
 * (http context), for A/B testing.
 *
 *   split_clients "${remote_addr}AAA" $variant {
 *       0.5%  .one;
 *       2.0%  .two;
 *       *     "";
 *   }
 *
 * STRING (a complex value) is hashed with MurmurHash2 as nginx's
 * ngx_murmur_hash2; the 32-bit hash space is cut into the parts in order, a
 * percentage (at most two decimals) each, and `*` takes the rest. No part
 * matches when the percentages sum to less than 100% and there is no `*`:
 * the value is then empty. Values are plain strings. The value is cached for
 * the request.
 */
import type { ConfContext } from '../config/conf-context.js';
import { Ctx, type DirectiveSpec, type HttpModule } from '../config/module.js';
import { ConfigError } from '../config/errors.js';
import { blockEnd, type ConfNode } from '../config/parser.js';
import { httpCoreModule } from './core-module.js';
import type { HttpRequest } from './request.js';
import { toByteString } from './uri.js';
import { BUILTIN_VARIABLE_NAMES } from './variables-core.js';
import type { ComplexValue } from './variables.js';

/** ngx_murmur_hash2 over a byte string (one char per byte), unsigned. */
export function murmurHash2(data: string): number {
  let len = data.length;
  let h = len >>> 0;
  let i = 0;
  while (len >= 4) {
    let k = data.charCodeAt(i) | (data.charCodeAt(i + 1) << 8) | (data.charCodeAt(i + 2) << 16) | (data.charCodeAt(i + 3) << 24);
    k = Math.imul(k, 0x5bd1e995);
    k ^= k >>> 24;
    k = Math.imul(k, 0x5bd1e995);
    h = Math.imul(h, 0x5bd1e995);
    h ^= k;
    i += 4;
    len -= 4;
  }
  // nginx's switch falls through from 3 to 1.
  if (len >= 3) h ^= data.charCodeAt(i + 2) << 16;
  if (len >= 2) h ^= data.charCodeAt(i + 1) << 8;
  if (len >= 1) {
    h ^= data.charCodeAt(i);
    h = Math.imul(h, 0x5bd1e995);
  }
  h ^= h >>> 13;
  h = Math.imul(h, 0x5bd1e995);
  h ^= h >>> 15;
  return h >>> 0;
}

/** ngx_atofp(text, 2): a fixed-point number with at most two decimals, times 100; -1 when invalid. */
export function parsePercent(text: string): number {
  if (text.length === 0) return -1;
  let value = 0;
  let point = 2;
  let dot = false;
  for (let i = 0; i < text.length; i++) {
    if (point === 0) return -1;
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (dot) return -1;
      dot = true;
      continue;
    }
    if (c < 0x30 || c > 0x39) return -1;
    value = value * 10 + (c - 0x30);
    if (value > Number.MAX_SAFE_INTEGER / 1000) return -1;
    if (dot) point--;
  }
  while (point--) value *= 10;
  return value;
}

interface Part {
  /** The upper bound of the part's hashes (exclusive); 0: the rest (`*`, or reaching 100%). */
  percent: number;
  readonly value: string;
}

/** One compiled block: the hash bounds in order. */
export class SplitClients {
  constructor(readonly source: ComplexValue, readonly parts: readonly Part[]) {}

  find(r: HttpRequest): string {
    const hash = murmurHash2(this.source.evaluate(r));
    const parts = this.parts;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (hash < p.percent || p.percent === 0) return p.value;
    }
    return '';
  }
}

function parseSplitClients(cf: ConfContext, d: ConfNode): void {
  const core = cf.main(httpCoreModule);
  const source = core.variables.compile(toByteString(d.args[0]!), { file: d.file, line: d.line });
  const target = d.args[1]!;
  if (target[0] !== '$') return cf.error(`invalid variable name "${target}"`);
  const name = target.slice(1);
  if (BUILTIN_VARIABLE_NAMES.has(name)) return cf.error(`the duplicate "${name}" variable`);

  const parts: Part[] = [];
  for (const n of d.block!) {
    if (n.block) return cf.error('unexpected "{"', n);
    // nginx reads the first two words and ignores more; with one it reads a stale
    // argument (undefined behaviour), which weir refuses instead.
    if (n.args.length === 0) return cf.error('invalid number of arguments in "split_clients" directive', n);
    const key = n.name;
    let percent = 0;
    if (key !== '*') {
      const n100 = key.endsWith('%') ? parsePercent(key.slice(0, -1)) : -1;
      if (n100 <= 0) return cf.error(`invalid percent value "${key}"`, n);
      // nginx keeps it in a uint32_t.
      percent = n100 % 0x100000000;
    }
    parts.push({ percent, value: toByteString(n.args[0]!) });
  }

  // Percent totals to hash bounds (ngx_conf_split_clients_block).
  let sum = 0;
  let last = 0;
  for (const part of parts) {
    sum = part.percent ? sum + part.percent : 10000;
    if (sum === 10000) part.percent = 0;
    // Checked once the block is read: nginx reports it at the `}`.
    if (sum > 10000) throw new ConfigError('percent total is greater than 100%', blockEnd(d.block) ?? cf.position);
    if (part.percent) {
      last = (last + Math.floor((part.percent * 0xffffffff) / 10000)) >>> 0;
      part.percent = last;
    }
  }

  const split = new SplitClients(source, parts);
  const slot = core.variables.allocateSlot();
  core.variables.define(name, (r) => {
    let v = r.variables[slot];
    if (v === undefined) { v = split.find(r); r.variables[slot] = v; }
    return v;
  });
}

const directives: DirectiveSpec[] = [
  { name: 'split_clients', contexts: Ctx.Http, args: [2, 2], block: true, set: parseSplitClients },
];

export const splitClientsModule: HttpModule = {
  kind: 'http',
  name: 'http_split_clients',
  directives,
};
