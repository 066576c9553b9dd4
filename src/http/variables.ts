/**
 * Variables and complex values (ngx_http_variables.c, ngx_http_script.c's
 * complex value compiler).
 *
 * A value such as `http://$host$request_uri` is compiled once at config time
 * into literal parts and variable references. References are resolved to their
 * getters after the whole config is read (a variable may be used before the
 * `set` or `map` that defines it, as in nginx); an unknown name is then
 * `[emerg] unknown "name" variable`. Per request, evaluation is a loop over the
 * parts with no parsing.
 *
 * Getters return `undefined` for "not found" (nginx's not_found), which a
 * complex value renders as an empty string.
 */
import type { CompiledValue } from '../balancer/types.js';
import { ConfigError, type ConfPosition } from '../config/errors.js';
import type { HttpRequest } from './request.js';

export type VariableGetter = (r: HttpRequest, data: string) => string | undefined;

interface VariableRef {
  readonly name: string;
  readonly position: ConfPosition | undefined;
  get: VariableGetter | null;
  data: string;
}

/** A compiled value; `evaluate` is the only per-request work. */
export class ComplexValue implements CompiledValue {
  /** The whole value when it has no variables. */
  readonly constant: string | null;

  constructor(
    readonly source: string,
    private readonly literals: readonly string[],
    private readonly refs: readonly VariableRef[],
  ) {
    this.constant = refs.length === 0 ? literals[0] : null;
  }

  get hasVariables(): boolean {
    return this.refs.length > 0;
  }

  /** Names of the variables referenced (for dumps and checks). */
  get variableNames(): string[] {
    return this.refs.map((r) => r.name);
  }

  evaluate(r: HttpRequest): string {
    if (this.constant !== null) return this.constant;
    let out = this.literals[0];
    for (let i = 0; i < this.refs.length; i++) {
      const ref = this.refs[i];
      const v = ref.get!(r, ref.data);
      if (v !== undefined) out += v;
      out += this.literals[i + 1];
    }
    return out;
  }
}

interface VariableDef {
  readonly get: VariableGetter;
  /** Set by `set`: may be written per request. */
  readonly settable: boolean;
}

/**
 * All variables of one http block: built-in ones, prefix families
 * (`http_`, `arg_`, `cookie_`...), and those `set`, `map` and regex captures add.
 */
export class VariableRegistry {
  private readonly defs = new Map<string, VariableDef>();
  private readonly prefixes: Array<[string, VariableGetter]> = [];
  private readonly pending: VariableRef[] = [];
  private setCount = 0;
  private readonly setIndex = new Map<string, number>();

  define(name: string, get: VariableGetter): void {
    this.defs.set(name, { get, settable: false });
  }

  /** A family such as `http_` (the getter receives the rest of the name). */
  definePrefix(prefix: string, get: VariableGetter): void {
    this.prefixes.push([prefix, get]);
  }

  has(name: string): boolean {
    return this.defs.has(name);
  }

  /**
   * A per-request slot for `set $name` (and `map`'s target when set dynamically):
   * returns its index into `r.variables`. Redefining a built-in by `set` is
   * allowed by nginx only for variables that are changeable; we allow user names.
   */
  declareSettable(name: string): number {
    const existing = this.setIndex.get(name);
    if (existing !== undefined) return existing;
    const index = this.setCount++;
    this.setIndex.set(name, index);
    const builtin = this.defs.get(name);
    const fallback = builtin?.get;
    this.defs.set(name, {
      settable: true,
      get: (r, data) => {
        const v = r.variables[index];
        return v !== undefined ? v : fallback ? fallback(r, data) : undefined;
      },
    });
    return index;
  }

  /**
   * An unnamed per-request slot of `r.variables`: where a cacheable variable
   * (map, geo, split_clients) keeps its value for the request, as nginx's
   * r->variables does. It survives internal redirects and is shared with
   * subrequests, as the slots of `set` are.
   */
  allocateSlot(): number {
    return this.setCount++;
  }

  get settableCount(): number {
    return this.setCount;
  }

  /** Compiles `text` (see scanValue for the syntax) into literals and variable references. */
  compile(text: string, position?: ConfPosition): ComplexValue {
    const literals: string[] = [];
    const refs: VariableRef[] = [];
    let lit = '';
    for (const t of scanValue(text, position)) {
      if (t.kind === 'literal') { lit += t.text; continue; }
      literals.push(lit);
      lit = '';
      if (t.kind === 'capture') {
        // Bound now, nothing to resolve.
        refs.push({ name: String(t.n), position, get: captureGetter, data: String(t.n) });
        continue;
      }
      const ref: VariableRef = { name: t.name, position, get: null, data: '' };
      refs.push(ref);
      this.pending.push(ref);
    }
    literals.push(lit);
    return new ComplexValue(text, literals, refs);
  }

  /** Resolves a getter for a name now (after config); null when unknown. */
  lookup(name: string): { get: VariableGetter; data: string } | null {
    const def = this.defs.get(name);
    if (def) return { get: def.get, data: '' };
    for (const [prefix, get] of this.prefixes) {
      if (name.startsWith(prefix) && name.length >= prefix.length) return { get, data: name.slice(prefix.length) };
    }
    return null;
  }

  /** Binds every compiled reference; throws `unknown "x" variable` for names nothing defines. */
  resolveAll(): void {
    for (const ref of this.pending) {
      const found = this.lookup(ref.name);
      if (!found) throw new ConfigError(`unknown "${ref.name}" variable`, ref.position);
      ref.get = found.get;
      ref.data = found.data;
    }
    this.pending.length = 0;
  }
}

export type ValueToken =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'variable'; readonly name: string }
  | { readonly kind: 'capture'; readonly n: number };

/**
 * Splits config text into literals, `$name` / `${name}` variables and `$1`..`$9`
 * captures, as ngx_http_script_compile does: a capture is one unbraced digit,
 * so `$12` is capture 1 then "2"; a name is [A-Za-z0-9_]*, so `${a-b}` stops at
 * `-` with its bracket open; `$0` and `${1}` are plain (unknown) names. The one
 * scanner behind complex values, rewrite replacements and log formats.
 */
export function scanValue(text: string, position?: ConfPosition): ValueToken[] {
  const out: ValueToken[] = [];
  let lit = '';
  let i = 0;
  const invalid = (): never => { throw new ConfigError('invalid variable name', position); };
  while (i < text.length) {
    const c = text[i];
    if (c !== '$') { lit += c; i++; continue; }
    if (++i === text.length) invalid();
    if (lit !== '') { out.push({ kind: 'literal', text: lit }); lit = ''; }
    const d = text.charCodeAt(i);
    if (d >= 0x31 && d <= 0x39) {
      out.push({ kind: 'capture', n: d - 0x30 });
      i++;
      continue;
    }
    let bracket = false;
    if (text[i] === '{') {
      bracket = true;
      if (++i === text.length) invalid();
    }
    const start = i;
    let end = i;
    for (; i < text.length; i++) {
      const ch = text[i];
      if (ch === '}' && bracket) { end = i; i++; bracket = false; break; }
      if (!/[A-Za-z0-9_]/.test(ch)) break;
      end = i + 1;
    }
    if (bracket) throw new ConfigError(`the closing bracket in "${text.slice(start, i)}" variable is missing`, position);
    const name = text.slice(start, end);
    if (name === '') invalid();
    out.push({ kind: 'variable', name });
  }
  if (lit !== '') out.push({ kind: 'literal', text: lit });
  return out;
}

/** `$1`..`$9`: the last regex match of the request (location, rewrite, if, server_name). */
const captureGetter: VariableGetter = (r, data) => {
  const m = r.captures;
  if (!m) return undefined;
  const v = m[Number(data)];
  return v === undefined ? undefined : v;
};
