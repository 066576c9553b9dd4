/**
 * The rewrite module's script engine (ngx_http_script.c's regex/return/if/set/
 * break codes, as ngx_http_rewrite_module.c compiles them).
 *
 * A location's `rewrite`, `return`, `set`, `if` and `break` directives compile,
 * at config time, into a list of codes; an `if` holds its body as a nested list
 * (nginx compiles it inline with a jump; the result is the same: a true `if`
 * runs its body, then the codes after the block). Per request, `runScript`
 * walks the list with no parsing: regexes, replacement segments and complex
 * values are all built here once.
 *
 * Deliberate differences:
 *   - The file tests (-f -d -e -x) call statSync. nginx also stats synchronously
 *     (ngx_open_cached_file without a cache is a plain stat(2)); keeping the
 *     phase handler synchronous keeps `if` blocks able to switch the location in
 *     the middle of a script. A slow disk stalls the worker, as in nginx.
 *   - `rewrite` regexes are JS RegExps through compileNginxRegex (see
 *     location-tree.ts for what that translates).
 *   - uninitialized_variable_warn is accepted and stored; set variables that
 *     were never set read as empty without the warning (the registry's getters
 *     carry no per-name warning hook).
 */
import { statSync } from 'node:fs';
import { checkSymlinksSync } from './symlinks.js';
import type { HttpConfLevel } from '../config/module.js';
import { PHASE_DONE, PHASE_NEXT, PHASE_RELOCATE } from './core-module.js';
import { discardRequestBody } from './body.js';
import { enterLocation } from './phases.js';
import { sendHeader, setLocationHeader } from './header-filter.js';
import { responseContentType } from './mime.js';
import type { HttpRequest } from './request.js';
import { EscapeType, escapeUri } from './uri.js';
import type { ComplexValue } from './variables.js';

export const enum Op {
  Rewrite = 0,
  Return = 1,
  Set = 2,
  If = 3,
  Break = 4,
}

/** One piece of a rewrite replacement: literal text, a capture ($0..$9), or a variable. */
export type Segment =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'capture'; readonly n: number }
  | { readonly kind: 'var'; readonly value: ComplexValue };

export interface Replacement {
  /** Segments before the first `?` (all of them for a redirect). */
  readonly uri: readonly Segment[];
  /** Segments after the first `?` of a non-redirect replacement, or null when it has none. */
  readonly args: readonly Segment[] | null;
  /** The literal text had a `?` (nginx's sc.args: join old args with `&`, not `?`). */
  readonly hasQuestion: boolean;
}

export interface RewriteCode {
  readonly op: Op.Rewrite;
  readonly source: string;
  readonly regex: RegExp;
  /** Named groups of the regex → their variable slots. */
  readonly groupSlots: ReadonlyArray<readonly [string, number]>;
  readonly replacement: Replacement;
  /** 0: internal rewrite; 301/302: redirect. */
  readonly redirect: number;
  /** Append the request's args (the replacement does not end with `?`). */
  readonly addArgs: boolean;
  /** `last`, `break`, or a redirect: stop the script after this rewrite. */
  readonly stop: boolean;
  /** `break`: the changed URI does not search for a location again. */
  readonly breakCycle: boolean;
}

export interface ReturnCode {
  readonly op: Op.Return;
  readonly status: number;
  /** Body text, or the Location for redirect codes; null when `return code;`. */
  readonly text: ComplexValue | null;
}

export interface SetCode {
  readonly op: Op.Set;
  readonly name: string;
  /** Slot in r.variables; -1 for a built-in with a setter. */
  readonly index: number;
  /** A built-in's set_handler (`$args`, `$limit_rate`), else null. */
  readonly setter: ((r: HttpRequest, value: string) => void) | null;
  readonly value: ComplexValue;
}

export type Condition =
  | { readonly kind: 'value'; readonly value: ComplexValue }
  | { readonly kind: 'equal'; readonly negative: boolean; readonly left: ComplexValue; readonly right: ComplexValue }
  | {
    readonly kind: 'regex'; readonly negative: boolean; readonly left: ComplexValue; readonly regex: RegExp;
    readonly source: string; readonly groupSlots: ReadonlyArray<readonly [string, number]>;
  }
  | { readonly kind: 'file'; readonly negative: boolean; readonly test: 'f' | 'd' | 'e' | 'x'; readonly path: ComplexValue };

export interface IfCode {
  readonly op: Op.If;
  readonly condition: Condition;
  /** The if block's level (location `if`s only): the request's location while it is true. */
  readonly level: HttpConfLevel | null;
  readonly body: Code[];
}

export interface BreakCode {
  readonly op: Op.Break;
}

export type Code = RewriteCode | ReturnCode | SetCode | IfCode | BreakCode;

/** Per-run state (nginx's ngx_http_script_engine_t, minus the stack). */
interface Engine {
  /** An internal rewrite changed $uri: find the location again after the phase. */
  uriChanged: boolean;
  /** rewrite_log. */
  readonly log: boolean;
}

/** Keeps running the codes after this one. */
const CONTINUE = -1000;

/**
 * Runs a compiled script. Returns PHASE_NEXT, PHASE_RELOCATE (the URI changed),
 * PHASE_DONE (a response was sent), or a status to finalize with.
 */
export function runScript(r: HttpRequest, codes: readonly Code[], log: boolean): number {
  const e: Engine = { uriChanged: false, log };
  const rc = runCodes(r, codes, e);
  if (rc !== CONTINUE) return rc;
  return e.uriChanged ? PHASE_RELOCATE : PHASE_NEXT;
}

function runCodes(r: HttpRequest, codes: readonly Code[], e: Engine): number {
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i];
    let rc: number;
    switch (code.op) {
      case Op.Rewrite: rc = runRewrite(r, code, e); break;
      case Op.Return: return runReturn(r, code);
      case Op.Set: runSet(r, code); continue;
      case Op.If:
        if (!testCondition(r, code.condition, e)) continue;
        if (code.level) enterLocation(r, code.level);
        rc = runCodes(r, code.body, e);
        break;
      case Op.Break:
        e.uriChanged = false;
        return e.uriChanged ? PHASE_RELOCATE : PHASE_NEXT;
    }
    if (rc !== CONTINUE) return rc;
  }
  return CONTINUE;
}

function setCaptures(r: HttpRequest, m: RegExpExecArray, slots: ReadonlyArray<readonly [string, number]>): void {
  r.captures = m;
  if (slots.length && m.groups) {
    for (let i = 0; i < slots.length; i++) r.variables[slots[i][1]] = m.groups[slots[i][0]] ?? '';
  }
}

function runRewrite(r: HttpRequest, code: RewriteCode, e: Engine): number {
  code.regex.lastIndex = 0;
  const m = code.regex.exec(r.uri);
  if (m === null) {
    if (e.log) r.log('notice', `"${code.source}" does not match "${r.uri}"`);
    return CONTINUE;
  }
  if (e.log) r.log('notice', `"${code.source}" matches "${r.uri}"`);
  setCaptures(r, m, code.groupSlots);
  const rep = code.replacement;

  if (code.redirect) {
    let url = unescapeRedirect(evalSegments(r, rep.uri, true));
    if (code.addArgs && r.args.length > 0) url += (rep.hasQuestion ? '&' : '?') + r.args;
    if (e.log) r.log('notice', `rewritten redirect: "${url}"`);
    setLocationHeader(r, url);
    return code.redirect;
  }

  r.internal = true;
  e.uriChanged = !code.breakCycle;
  const uri = evalSegments(r, rep.uri, false);
  if (rep.args !== null) {
    let args = evalSegments(r, rep.args, true);
    if (code.addArgs && r.args.length > 0) args += '&' + r.args;
    r.args = args;
    r.hasArgs = true;
  } else if (!code.addArgs) {
    r.args = '';
  }
  if (e.log) r.log('notice', `rewritten data: "${uri}", args: "${r.args}"`);
  if (uri.length === 0) {
    r.log('error', 'the rewritten URI has a zero length');
    return 500;
  }
  r.uri = uri;
  if (code.stop) return e.uriChanged ? PHASE_RELOCATE : PHASE_NEXT;
  return CONTINUE;
}

/** Builds a replacement part; captures are %-escaped in args and redirects of a %-escaped request. */
function evalSegments(r: HttpRequest, segs: readonly Segment[], quote: boolean): string {
  let out = '';
  const escape = quote && r.quotedUri;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    if (s.kind === 'text') out += s.text;
    else if (s.kind === 'var') out += s.value.evaluate(r);
    else {
      const v = r.captures?.[s.n];
      if (v !== undefined) out += escape ? escapeUri(v, EscapeType.Args) : v;
    }
  }
  return out;
}

/**
 * ngx_unescape_uri with NGX_UNESCAPE_REDIRECT: %XX of a printable char above `%`
 * is decoded, others are kept escaped; decoding stops at the first `?`.
 */
export function unescapeRedirect(s: string): string {
  if (s.indexOf('%') === -1) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '?') return out + s.slice(i);
    if (c === '%' && i + 2 < s.length + 0 && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      const ch = parseInt(s.slice(i + 1, i + 3), 16);
      out += ch > 0x25 && ch < 0x7f ? String.fromCharCode(ch) : s.slice(i, i + 3);
      i += 2;
      continue;
    }
    out += c;
  }
  return out;
}

function isRedirectStatus(s: number): boolean {
  return s === 301 || s === 302 || s === 303 || s === 307 || s === 308;
}

function runReturn(r: HttpRequest, code: ReturnCode): number {
  const status = code.status;
  if (status >= 400 && code.text === null) return status;
  return sendResponse(r, status, code.text === null ? '' : code.text.evaluate(r));
}

/**
 * ngx_http_send_response: a redirect status gets the text as Location and goes
 * through finalize (error pages, the built-in page); any other status is sent
 * with the text as body and the content type of the URI's extension.
 */
export function sendResponse(r: HttpRequest, status: number, text: string): number {
  discardRequestBody(r);
  if (r.res.headersSent) return PHASE_DONE;
  if (isRedirectStatus(status)) {
    setLocationHeader(r, text);
    return status;
  }
  // the status that goes out: an error_page's (err_status) replaces it, and a
  // `return 204` sent as a 405 has a Content-Length: 0 as in nginx
  const sent = r.errStatus > 0 ? r.errStatus : status;
  const noBody = sent === 204 || sent === 304;
  const body = Buffer.from(text, 'latin1');
  const headers: string[] = noBody ? [] : ['Content-Type', responseContentType(r)];
  if (!sendHeader(r, status, headers, noBody ? -1 : body.length)) return PHASE_DONE;
  if (noBody || r.method === 'HEAD' || body.length === 0) r.res.end();
  else r.res.end(body);
  return PHASE_DONE;
}

function runSet(r: HttpRequest, code: SetCode): void {
  const v = code.value.evaluate(r);
  if (code.setter !== null) { code.setter(r, v); return; }
  r.variables[code.index] = v;
}

function testCondition(r: HttpRequest, c: Condition, e: Engine): boolean {
  switch (c.kind) {
    case 'value': {
      const v = c.value.evaluate(r);
      return v.length > 0 && v !== '0';
    }
    case 'equal':
      return (c.left.evaluate(r) === c.right.evaluate(r)) !== c.negative;
    case 'regex': {
      const subject = c.left.evaluate(r);
      c.regex.lastIndex = 0;
      const m = c.regex.exec(subject);
      if (m === null) {
        if (e.log) r.log('notice', `"${c.source}" does not match "${subject}"`);
        r.captures = null;
        return c.negative;
      }
      if (e.log) r.log('notice', `"${c.source}" matches "${subject}"`);
      setCaptures(r, m, c.groupSlots);
      return !c.negative;
    }
    case 'file': {
      const path = c.path.evaluate(r);
      let st;
      // disable_symlinks: a refused link is logged (nginx's crit for any error but "not found") and tests false.
      const links = checkSymlinksSync(r, r.locConf.disableSymlinks!, path);
      if (links !== null) {
        r.log('crit', `openat() "${path}" failed (40: Too many levels of symbolic links)`);
        return c.negative;
      }
      try {
        st = statSync(path, { throwIfNoEntry: false });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTDIR' && code !== 'ENAMETOOLONG') r.log('crit', `stat() "${path}" failed (${(err as Error).message})`);
        st = undefined;
      }
      let yes: boolean;
      if (!st) yes = false;
      else if (c.test === 'f') yes = st.isFile();
      else if (c.test === 'd') yes = st.isDirectory();
      else if (c.test === 'e') yes = true;
      else yes = (st.mode & 0o100) !== 0;
      return yes !== c.negative;
    }
  }
}

