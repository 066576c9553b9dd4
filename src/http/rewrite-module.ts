/**
 * ngx_http_rewrite_module: `rewrite`, `return`, `set`, `if`, `break`,
 * `rewrite_log`, `uninitialized_variable_warn`.
 *
 * Directives compile into the codes of rewrite-script.ts. The codes of a
 * server{} level run in the server rewrite phase, those of a location in the
 * rewrite phase (skipped when no location matched, as nginx skips the
 * "server null location"). Codes are not inherited: a location without rewrite
 * directives runs none, as in nginx.
 *
 * `if` creates a nested level (nginx's noname location) registered in the
 * parent's CoreLocConf.nestedLevels, so every module merges it like a location;
 * its rewrite directives compile into the `if` code's body. A true location-level
 * `if` makes that level the request's location (setLocation), so add_header,
 * proxy_pass, etc. inside it apply; a server-level `if` does not switch (nginx's
 * if_code->loc_conf == NULL). Like nginx, `if` cannot nest.
 *
 * Deliberate differences: see rewrite-script.ts (statSync for -f/-d/-e/-x, JS
 * regexes, no uninitialized-variable warning).
 */
import type { ConfContext } from '../config/conf-context.js';
import { Ctx, HTTP_REWRITE, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { inherit, setFlag } from '../config/slots.js';
import { httpCoreModule, PHASE_NEXT, type CoreLocConf, type PhaseHandler } from './core-module.js';
import { compileConfRegex, type ConfRegex } from './conf-regex.js';
import type { HttpRequest } from './request.js';
import {
  Op, runScript, type Code, type Condition, type IfCode, type Replacement, type Segment,
} from './rewrite-script.js';
import { toByteString } from './uri.js';
import { BUILTIN_SETTERS, BUILTIN_VARIABLE_NAMES } from './variables-core.js';
import { scanValue, type ComplexValue } from './variables.js';

export interface RewriteLocConf {
  /** This level's codes; null when it has none (not inherited). */
  codes: Code[] | null;
  log?: boolean;
  uninitializedVariableWarn?: boolean;
}

const SERVER_AND_LOCATION = Ctx.Server | Ctx.Location;
const SCRIPT = Ctx.Server | Ctx.ServerIf | Ctx.Location | Ctx.LocationIf;

function rlcf(cf: ConfContext): RewriteLocConf {
  return cf.loc(rewriteModule);
}

function codesOf(cf: ConfContext): Code[] {
  const c = rlcf(cf);
  return (c.codes ??= []);
}

function compileValue(cf: ConfContext, text: string): ComplexValue {
  try {
    return cf.main(httpCoreModule).variables.compile(toByteString(text), cf.position);
  } catch (e) {
    return cf.error((e as Error).message.replace(/ in \S+:\d+$/, ''));
  }
}

function compileRegex(cf: ConfContext, source: string, caseless: boolean): ConfRegex {
  return compileConfRegex(cf, cf.main(httpCoreModule).variables, source, caseless);
}

/**
 * Splits a rewrite replacement into text, captures and variables (nginx's
 * ngx_http_script_compile with compile_args for internal rewrites).
 */
export function compileReplacement(cf: ConfContext, text: string, redirect: boolean): Replacement {
  const uri: Segment[] = [];
  let args: Segment[] | null = null;
  let hasQuestion = false;
  let out = uri;
  for (const t of scanValue(text, cf.position)) {
    if (t.kind === 'capture') { out.push({ kind: 'capture', n: t.n }); continue; }
    if (t.kind === 'variable') { out.push({ kind: 'var', value: compileValue(cf, '$' + t.name) }); continue; }
    // The first `?` of an internal rewrite starts the arguments (compile_args).
    let lit = t.text;
    if (lit.includes('?')) hasQuestion = true;
    const q = redirect || args !== null ? -1 : lit.indexOf('?');
    if (q !== -1) {
      if (q > 0) out.push({ kind: 'text', text: lit.slice(0, q) });
      args = [];
      out = args;
      lit = lit.slice(q + 1);
    }
    if (lit !== '') out.push({ kind: 'text', text: lit });
  }
  return { uri, args, hasQuestion };
}

function parseRewrite(cf: ConfContext, d: ConfNode): void {
  let replacement = d.args[1];
  if (replacement.length === 0) return cf.error('empty replacement');
  // nginx's TODO: rewrite regexes are never caseless.
  const { regex, slots } = compileRegex(cf, d.args[0], false);
  let addArgs = true;
  if (replacement.endsWith('?')) { replacement = replacement.slice(0, -1); addArgs = false; }
  let redirect = 0;
  let stop = false;
  let breakCycle = false;
  if (replacement.startsWith('http://') || replacement.startsWith('https://') || replacement.startsWith('$scheme')) {
    redirect = 302;
    stop = true;
  }
  const flag = d.args[2];
  if (flag !== undefined) {
    if (flag === 'last') stop = true;
    else if (flag === 'break') { stop = true; breakCycle = true; }
    else if (flag === 'redirect') { redirect = 302; stop = true; }
    else if (flag === 'permanent') { redirect = 301; stop = true; }
    else return cf.error(`invalid parameter "${flag}"`);
  }
  codesOf(cf).push({
    op: Op.Rewrite, source: d.args[0], regex, groupSlots: slots,
    replacement: compileReplacement(cf, toByteString(replacement), redirect !== 0),
    redirect, addArgs, stop, breakCycle,
  });
}

function parseReturn(cf: ConfContext, d: ConfNode): void {
  const first = d.args[0];
  let status: number;
  let textArg: string | undefined;
  if (/^[0-9]+$/.test(first)) {
    status = Number(first);
    if (status > 999) return cf.error(`invalid return code "${first}"`);
    textArg = d.args[1];
  } else if (d.args.length === 1 && (first.startsWith('http://') || first.startsWith('https://') || first.startsWith('$scheme'))) {
    status = 302;
    textArg = first;
  } else {
    return cf.error(`invalid return code "${first}"`);
  }
  codesOf(cf).push({ op: Op.Return, status, text: textArg === undefined ? null : compileValue(cf, textArg) });
}

function parseSet(cf: ConfContext, d: ConfNode): void {
  const target = d.args[0];
  if (target.length < 2 || target[0] !== '$') return cf.error(`invalid variable name "${target}"`);
  const name = target.slice(1);
  const setter = BUILTIN_SETTERS.get(name) ?? null;
  if (BUILTIN_VARIABLE_NAMES.has(name) && setter === null) return cf.error(`the duplicate "${name}" variable`);
  const value = compileValue(cf, d.args[1]);
  const index = setter !== null ? -1 : cf.main(httpCoreModule).variables.declareSettable(name);
  codesOf(cf).push({ op: Op.Set, name, index, setter, value });
}

/** ngx_http_rewrite_if_condition, over our tokens: `(` and `)` may stand alone or stick to the ends. */
function parseCondition(cf: ConfContext, args: readonly string[]): Condition {
  const v = [...args];
  if (!v[0].startsWith('(')) return cf.error(`invalid condition "${v[0]}"`);
  if (v[0] === '(') v.shift(); else v[0] = v[0].slice(1);
  const last = v.length - 1;
  if (last < 0 || !v[last].endsWith(')')) return cf.error(`invalid condition "${v[last] ?? ''}"`);
  if (v[last] === ')') v.pop(); else v[last] = v[last].slice(0, -1);
  if (v.length === 0) return cf.error('invalid condition "("');
  const p = v[0];
  if (p.length > 1 && p[0] === '$') {
    if (v.length !== 1 && v.length !== 3) return cf.error(`invalid condition "${p}"`);
    const left = compileValue(cf, p);
    if (v.length === 1) return { kind: 'value', value: left };
    const op = v[1];
    if (op === '=' || op === '!=') return { kind: 'equal', negative: op === '!=', left, right: compileValue(cf, v[2]) };
    if (op === '~' || op === '~*' || op === '!~' || op === '!~*') {
      const { regex, slots } = compileRegex(cf, v[2], op.endsWith('*'));
      return { kind: 'regex', negative: op[0] === '!', left, regex, source: v[2], groupSlots: slots };
    }
    return cf.error(`unexpected "${op}" in condition`);
  }
  if ((p.length === 2 && p[0] === '-') || (p.length === 3 && p[0] === '!' && p[1] === '-')) {
    if (v.length !== 2) return cf.error(`invalid condition "${p}"`);
    const test = p[p.length - 1];
    if (test !== 'f' && test !== 'd' && test !== 'e' && test !== 'x') return cf.error(`invalid condition "${p}"`);
    return { kind: 'file', negative: p[0] === '!', test, path: compileValue(cf, v[1]) };
  }
  return cf.error(`invalid condition "${p}"`);
}

function parseIf(cf: ConfContext, d: ConfNode): void {
  const condition = parseCondition(cf, d.args);
  const inServer = cf.ctx === Ctx.Server;
  const level = cf.registry.newHttpLevel(cf.level, 'location');
  (cf.loc(httpCoreModule) as CoreLocConf).nestedLevels.push(level);
  const code: IfCode = { op: Op.If, condition, level: inServer ? null : level, body: [] };
  codesOf(cf).push(code);
  const nested = level.loc[cf.registry.indexOf(rewriteModule)] as RewriteLocConf;
  // The inner directives compile into the if code's body; the level keeps no codes of its own.
  nested.codes = code.body;
  cf.child(inServer ? Ctx.ServerIf : Ctx.LocationIf, level).walk(d.block!);
  nested.codes = null;
}

const directives: DirectiveSpec[] = [
  { name: 'rewrite', contexts: SCRIPT, args: [2, 3], set: parseRewrite },
  { name: 'return', contexts: SCRIPT, args: [1, 2], set: parseReturn },
  { name: 'set', contexts: SCRIPT, args: [2, 2], set: parseSet },
  { name: 'break', contexts: SCRIPT, args: [0, 0], set: (cf) => { codesOf(cf).push({ op: Op.Break }); } },
  { name: 'if', contexts: SERVER_AND_LOCATION, args: [1, Infinity], block: true, set: parseIf },
  { name: 'rewrite_log', contexts: HTTP_REWRITE, args: 'flag', set: (cf, d) => setFlag(cf, d, rlcf(cf), 'log') },
  {
    name: 'uninitialized_variable_warn', contexts: HTTP_REWRITE, args: 'flag',
    set: (cf, d) => setFlag(cf, d, rlcf(cf), 'uninitializedVariableWarn'),
  },
];

function handler(index: number, skipServerLevel: boolean): PhaseHandler {
  return (r: HttpRequest): number => {
    if (skipServerLevel && r.loc === r.server.level) return PHASE_NEXT;
    const conf = r.loc.loc[index] as RewriteLocConf;
    const codes = conf.codes;
    if (codes === null || codes.length === 0) return PHASE_NEXT;
    return runScript(r, codes, conf.log === true);
  };
}

export const rewriteModule: HttpModule<unknown, unknown, RewriteLocConf> = {
  kind: 'http',
  name: 'http_rewrite',
  directives,
  createLoc: () => ({ codes: null }),
  mergeLoc(p, c) {
    inherit(c, p, 'log', false);
    inherit(c, p, 'uninitializedVariableWarn', true);
  },
  postConfiguration(cf) {
    const core = cf.main(httpCoreModule);
    const index = cf.registry.indexOf(rewriteModule);
    core.serverRewrite.push(handler(index, false));
    core.rewrite.push(handler(index, true));
  },
};
