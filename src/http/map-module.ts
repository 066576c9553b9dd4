/**
 * ngx_http_map_module: `map $source $variable { ... }` (http context).
 *
 * Inside the block: `default value;`, `hostnames;`, `volatile;`, `include`
 * (expanded by the parser), `key value;` where a key starting with `~` (`~*`:
 * caseless) is a regex and a leading `\` escapes a key that would be special.
 *
 * Lookup, as ngx_http_map_find: exact keys (case-insensitive), then with
 * `hostnames` the longest leading wildcard (`*.example.com`, `.example.com`)
 * and the longest trailing wildcard (`www.example.*`), then regexes in config
 * order (against the value as is; captures become $1.. and named variables),
 * then the default (empty when none). With `hostnames` a trailing dot of the
 * source is ignored. Values may contain variables.
 *
 * The variable is evaluated lazily on first use and cached for the request
 * unless `volatile`, in a slot of r.variables as nginx keeps it in
 * r->variables: the value survives internal redirects (an `index` to a URI the
 * map itself names keeps the first answer) and subrequests share it.
 *
 * Deliberate differences: wildcards are length-sorted lists rather than nginx's
 * wildcard hashes (same answer); regexes are JS RegExps via compileConfRegex (pcre.ts).
 */
import type { ConfContext } from '../config/conf-context.js';
import { Ctx, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { httpCoreModule } from './core-module.js';
import { compileConfRegex } from './conf-regex.js';
import type { HttpRequest } from './request.js';
import { toByteString } from './uri.js';
import { BUILTIN_VARIABLE_NAMES } from './variables-core.js';
import type { ComplexValue } from './variables.js';

interface MapRegex {
  readonly regex: RegExp;
  readonly slots: ReadonlyArray<readonly [string, number]>;
  readonly value: ComplexValue;
}

interface Wildcard {
  readonly part: string;
  readonly value: ComplexValue;
}

/** One compiled `map` block. */
export class CompiledMap {
  readonly exact = new Map<string, ComplexValue>();
  /** `.example.com` parts, longest first. */
  readonly heads: Wildcard[] = [];
  /** `www.example.` parts, longest first. */
  readonly tails: Wildcard[] = [];
  readonly regexes: MapRegex[] = [];
  defaultValue: ComplexValue | null = null;
  hostnames = false;
  volatile = false;

  constructor(readonly id: number, readonly source: ComplexValue) {}

  /** The value for a source string (ngx_http_map_find + default). */
  find(r: HttpRequest, input: string): string {
    let key = input;
    if (this.hostnames && key.length > 0 && key.charCodeAt(key.length - 1) === 0x2e) key = key.slice(0, -1);
    const low = key.toLowerCase();
    const exact = this.exact.get(low);
    if (exact !== undefined) return exact.evaluate(r);
    for (let i = 0; i < this.heads.length; i++) {
      const w = this.heads[i];
      if (low.length > w.part.length && low.endsWith(w.part)) return w.value.evaluate(r);
    }
    for (let i = 0; i < this.tails.length; i++) {
      const w = this.tails[i];
      if (low.length > w.part.length && low.startsWith(w.part)) return w.value.evaluate(r);
    }
    if (key.length > 0) {
      for (let i = 0; i < this.regexes.length; i++) {
        const re = this.regexes[i];
        re.regex.lastIndex = 0;
        const m = re.regex.exec(key);
        if (m === null) continue;
        r.captures = m;
        if (re.slots.length && m.groups) for (const [n, idx] of re.slots) r.variables[idx] = m.groups[n] ?? '';
        return re.value.evaluate(r);
      }
    }
    return this.defaultValue ? this.defaultValue.evaluate(r) : '';
  }
}

interface MapMainConf {
  readonly maps: CompiledMap[];
}

function addWildcard(cf: ConfContext, map: CompiledMap, key: string, value: ComplexValue, seen: Set<string>): boolean {
  const star = key.indexOf('*');
  if (key.startsWith('*.') && star === 0 && key.indexOf('*', 1) === -1 && key.length > 2) {
    const part = key.slice(1);
    if (seen.has('h' + part)) cf.error(`conflicting parameter "${key}"`);
    seen.add('h' + part);
    map.heads.push({ part, value });
    return true;
  }
  if (key.startsWith('.') && star === -1 && key.length > 1) {
    const part = key;
    if (seen.has('h' + part) || map.exact.has(key.slice(1))) cf.error(`conflicting parameter "${key}"`);
    seen.add('h' + part);
    map.heads.push({ part, value });
    map.exact.set(key.slice(1), value);
    return true;
  }
  if (key.endsWith('.*') && star === key.length - 1 && key.length > 2) {
    const part = key.slice(0, -1);
    if (seen.has('t' + part)) cf.error(`conflicting parameter "${key}"`);
    seen.add('t' + part);
    map.tails.push({ part, value });
    return true;
  }
  if (star !== -1) cf.error(`invalid hostname or wildcard "${key}"`);
  return false;
}

function compileValue(cf: ConfContext, text: string, node: ConfNode): ComplexValue {
  try {
    return cf.main(httpCoreModule).variables.compile(toByteString(text), { file: node.file, line: node.line });
  } catch (e) {
    return cf.error((e as Error).message.replace(/ in \S+:\d+$/, ''), node);
  }
}

function parseMap(cf: ConfContext, d: ConfNode): void {
  const core = cf.main(httpCoreModule);
  const conf = cf.main(mapModule);
  const target = d.args[1];
  if (target.length < 2 || target[0] !== '$') return cf.error(`invalid variable name "${target}"`);
  const name = target.slice(1);
  if (BUILTIN_VARIABLE_NAMES.has(name)) return cf.error(`the duplicate "${name}" variable`);
  const map = new CompiledMap(conf.maps.length, compileValue(cf, d.args[0], d));
  conf.maps.push(map);

  const entries: ConfNode[] = [];
  for (const n of d.block!) {
    if (n.block) return cf.error('unexpected "{"', n);
    if (n.name === 'hostnames' && n.args.length === 0) { map.hostnames = true; continue; }
    if (n.name === 'volatile' && n.args.length === 0) { map.volatile = true; continue; }
    if (n.args.length !== 1) return cf.error('invalid number of the map parameters', n);
    entries.push(n);
  }
  const seen = new Set<string>();
  for (const n of entries) {
    const value = compileValue(cf, n.args[0], n);
    let key = n.name;
    if (key === 'default') {
      if (map.defaultValue) return cf.error('duplicate default map parameter', n);
      map.defaultValue = value;
      continue;
    }
    if (key.length > 1 && key[0] === '~') {
      const caseless = key[1] === '*';
      const { regex, slots } = compileConfRegex(cf, core.variables, key.slice(caseless ? 2 : 1), caseless, n);
      map.regexes.push({ regex, slots, value });
      continue;
    }
    if (key.length > 1 && key[0] === '\\') key = key.slice(1);
    key = toByteString(key).toLowerCase();
    if (map.hostnames && addWildcard(cf, map, key, value, seen)) continue;
    if (map.exact.has(key)) return cf.error(`conflicting parameter "${n.name}"`, n);
    map.exact.set(key, value);
  }
  map.heads.sort((a, b) => b.part.length - a.part.length);
  map.tails.sort((a, b) => b.part.length - a.part.length);

  if (map.volatile) {
    core.variables.define(name, (r) => map.find(r, map.source.evaluate(r)));
    return;
  }
  const slot = core.variables.allocateSlot();
  core.variables.define(name, (r) => {
    let v = r.variables[slot];
    if (v === undefined) { v = map.find(r, map.source.evaluate(r)); r.variables[slot] = v; }
    return v;
  });
}

const directives: DirectiveSpec[] = [
  { name: 'map', contexts: Ctx.Http, args: [2, 2], block: true, set: parseMap },
  // Sizes of nginx's hash tables: meaningless for a JS Map.
  { name: 'map_hash_max_size', contexts: Ctx.Http, args: [1, 1], set: () => {} },
  { name: 'map_hash_bucket_size', contexts: Ctx.Http, args: [1, 1], set: () => {} },
];

export const mapModule: HttpModule<MapMainConf> = {
  kind: 'http',
  name: 'http_map',
  directives,
  createMain: () => ({ maps: [] }),
};
