/**
 * The SSI body filter of one request (ngx_http_ssi_body_filter and its
 * commands, src/http/modules/ngx_http_ssi_filter_module.c): the body is
 * tokenized by SsiParser; text goes on, commands run in order.
 *
 * Commands: include (virtual, file, wait, set, stub), echo (var, default,
 * encoding), set, config (errmsg, timefmt), if / elif / else / endif,
 * block / endblock. A command that fails logs nginx's [error] and outputs
 * the errmsg (unless ssi_silent_errors). While an include waits (`wait`,
 * `set`), the rest of the body is held and processed once it is done.
 *
 * SSI variables, blocks and the last `if` regex captures belong to the
 * client's request and are shared by every SSI filter of its subrequests, as
 * nginx keeps them in the main request's context.
 *
 * $date_local and $date_gmt print with the filter's `config timefmt`
 * (ssi-module.ts, strftime.ts).
 */
import type { BodyWriter } from '../client-reply.js';
import { headerIndex } from '../header-list.js';
import { compileNginxRegex } from '../pcre.js';
import type { HttpRequest } from '../request.js';
import { sendHeader } from '../header-filter.js';
import { startSubrequest } from '../subrequest.js';
import { EscapeType, escapeUri, parseUnsafeUri } from '../uri.js';
import { SSI_MAX_PARAMS, SsiParser, type SsiEvent } from './ssi-parser.js';

/** What the client's request and its subrequests share (nginx's main SSI ctx). */
export interface SsiShared {
  readonly vars: Map<string, string>;
  readonly blocks: Map<string, Buffer[]>;
  captures: RegExpExecArray | null;
}

export interface SsiSettings {
  readonly silentErrors: boolean;
  readonly valueLength: number;
  /** Looks up an nginx variable by its lower-cased name; undefined: not found. */
  readonly variable: (r: HttpRequest, name: string) => string | undefined;
}

const DEFAULT_ERRMSG = '[an error occurred while processing the directive]';
export const DEFAULT_TIMEFMT = '%A, %d-%b-%Y %H:%M:%S %Z';
const NONE = '(none)';
const WHILE_SENDING = ' while sending response to client';
const COND_IF = 1;
const COND_ELSE = 2;

/** The commands nginx knows, with their parameters (mandatory ones marked). */
const COMMANDS: ReadonlyMap<string, { params: ReadonlyMap<string, boolean>; conditional: number; block: boolean }> = new Map([
  ['include', { params: new Map([['virtual', false], ['file', false], ['wait', false], ['set', false], ['stub', false]]), conditional: 0, block: false }],
  ['echo', { params: new Map([['var', true], ['default', false], ['encoding', false]]), conditional: 0, block: false }],
  ['config', { params: new Map([['errmsg', false], ['timefmt', false]]), conditional: 0, block: false }],
  ['set', { params: new Map([['var', true], ['value', true]]), conditional: 0, block: false }],
  ['if', { params: new Map([['expr', true]]), conditional: 0, block: false }],
  ['elif', { params: new Map([['expr', true]]), conditional: COND_IF, block: false }],
  ['else', { params: new Map(), conditional: COND_IF, block: false }],
  ['endif', { params: new Map(), conditional: COND_ELSE, block: false }],
  ['block', { params: new Map([['name', true]]), conditional: 0, block: false }],
  ['endblock', { params: new Map(), conditional: 0, block: true }],
]);

const enum Encoding { None, Url, Entity }

/** A command's outcome: done, failed (errmsg), or waiting for a subrequest. */
const OK = 0;
const ERROR = 1;
const WAIT = 2;

export class SsiFilter implements BodyWriter {
  private readonly parser: SsiParser;
  private readonly out: BodyWriter;
  /** Events not processed yet: held while an include waits. */
  private pending: SsiEvent[] = [];
  private waiting = false;
  private inputEnded = false;
  private ended = false;
  private errmsg = DEFAULT_ERRMSG;
  /** config timefmt: how $date_local and $date_gmt print. */
  timefmt = DEFAULT_TIMEFMT;
  private encoding = Encoding.Entity;
  /** Output on (false inside an if branch not taken, and inside a block). */
  private output = true;
  private outputChosen = false;
  private conditional = 0;
  /** The block being recorded, or null. */
  private block: Buffer[] | null = null;

  /**
   * `out`: the rest of the chain. SSI is the last filter before subrequests'
   * output is put in place (as in nginx), so it is the request's filtered
   * output, where its includes go too.
   */
  constructor(private readonly r: HttpRequest, private readonly shared: SsiShared, private readonly settings: SsiSettings, out: BodyWriter) {
    this.parser = new SsiParser(settings.valueLength);
    this.out = out;
  }

  /** false while the client is behind: the source waits for the reply's 'drain' (the socket's). */
  write(chunk: Buffer): boolean {
    this.take(this.parser.feed(chunk));
    const res = this.r.res;
    return res.writableLength < res.socket.writableHighWaterMark;
  }

  end(): void {
    this.take(this.parser.finish());
    // A command cut off by the end of the body was logged by nginx as it was found, and outputs nothing.
    const cut = this.parser.pendingError;
    if (cut !== undefined) this.log(cut);
    this.inputEnded = true;
    this.finishIfDone();
  }

  private take(events: SsiEvent[]): void {
    if (events.length === 0) return;
    if (this.pending.length === 0) this.pending = events;
    else for (const e of events) this.pending.push(e);
    this.run();
  }

  private run(): void {
    let i = 0;
    const events = this.pending;
    while (i < events.length && !this.waiting) this.handle(events[i++]!);
    this.pending = i === events.length ? [] : events.slice(i);
  }

  private finishIfDone(): void {
    if (this.inputEnded && !this.waiting && this.pending.length === 0 && !this.ended) {
      this.ended = true;
      this.out.end();
    }
  }

  private emit(data: Buffer): void {
    if (this.block !== null) this.block.push(data);
    else if (this.output) this.out.write(data);
  }

  private handle(e: SsiEvent): void {
    if (e.kind === 'text') { this.emit(e.data); return; }
    if (e.kind === 'error') { this.fail(e.message); return; }
    const cmd = COMMANDS.get(e.name);
    if (cmd === undefined) {
      if (this.output && this.block === null) this.fail(`invalid SSI command: "${e.name}"`);
      return;
    }
    if (this.block !== null && !cmd.block) {
      // Inside a block a command is kept as text, to run when the block is a stub's output.
      this.block.push(Buffer.from(commandText(e.name, e.params), 'latin1'));
      return;
    }
    if (!this.output && cmd.conditional === 0) return;
    if (cmd.conditional !== 0 && (this.conditional === 0 || this.conditional > cmd.conditional)) {
      this.fail(`invalid context of SSI command: "${e.name}"`);
      return;
    }
    if (e.params.length > SSI_MAX_PARAMS) {
      this.fail(`too many SSI command parameters: "${e.name}"`);
      return;
    }
    const params = new Map<string, string>();
    for (const [name, value] of e.params) {
      if (!cmd.params.has(name)) { this.fail(`invalid parameter name: "${name}" in "${e.name}" SSI command`); return; }
      if (params.has(name)) { this.fail(`duplicate "${name}" parameter in "${e.name}" SSI command`); return; }
      params.set(name, value);
    }
    for (const [name, mandatory] of cmd.params) {
      if (mandatory && !params.has(name)) { this.fail(`mandatory "${name}" parameter is absent in "${e.name}" SSI command`); return; }
    }
    const rc = this.command(e.name, params);
    if (rc === ERROR) this.errorOutput();
    else if (rc === WAIT) this.waiting = true;
  }

  private command(name: string, p: Map<string, string>): number {
    switch (name) {
      case 'include': return this.include(p);
      case 'echo': return this.echo(p);
      case 'config': return this.config(p);
      case 'set': return this.set(p);
      case 'if': case 'elif': return this.if(name, p.get('expr')!);
      case 'else':
        this.output = !this.outputChosen;
        this.conditional = COND_ELSE;
        return OK;
      case 'endif':
        this.output = true;
        this.outputChosen = false;
        this.conditional = 0;
        return OK;
      case 'block': {
        const bufs: Buffer[] = [];
        this.shared.blocks.set(p.get('name')!, bufs);
        this.block = bufs;
        return OK;
      }
      case 'endblock':
        this.block = null;
        return OK;
    }
    return OK;
  }

  /** Logs a failed command and outputs the errmsg (ngx_http_ssi_body_filter's ssi_error). */
  private fail(message: string): void {
    this.log(message);
    this.errorOutput();
  }

  /** nginx runs the filter while sending the response, and its log lines say so. */
  private log(message: string): void {
    this.r.log('error', message + WHILE_SENDING);
  }

  private errorOutput(): void {
    if (!this.settings.silentErrors) this.out.write(Buffer.from(this.errmsg, 'latin1'));
  }

  private include(p: Map<string, string>): number {
    const virtual = p.get('virtual');
    const file = p.get('file');
    let wait = p.get('wait');
    const set = p.get('set');
    const stub = p.get('stub');
    const r = this.r;
    if (virtual !== undefined && file !== undefined) {
      this.log(`inclusion may be either virtual="${virtual}" or file="${file}"`);
      return ERROR;
    }
    if (virtual === undefined && file === undefined) {
      this.log('no parameter in "include" SSI command');
      return ERROR;
    }
    if (set !== undefined && stub !== undefined) {
      this.log('"set" and "stub" cannot be used together in "include" SSI command');
      return ERROR;
    }
    let waited = false;
    if (wait !== undefined) {
      if (virtual === undefined) {
        this.log(`"wait" cannot be used with file="${file}"`);
        return ERROR;
      }
      if (wait.toLowerCase() === 'no') wait = undefined;
      else if (wait.toLowerCase() !== 'yes') {
        this.log(`invalid value "${wait}" in the "wait" parameter`);
        return ERROR;
      }
      waited = wait !== undefined;
    }
    // file= is waited for, as nginx marks it (wait = -1).
    if (virtual === undefined) waited = true;
    const target = this.evaluate(virtual ?? file!, true);
    if (target === null) return ERROR;
    const parsed = parseUnsafeUri(target);
    if (parsed === null) {
      this.log(`unsafe URI "${target}" was detected`);
      return ERROR;
    }
    let stubBody: Buffer[] | undefined;
    if (stub !== undefined) {
      stubBody = this.shared.blocks.get(stub);
      if (stubBody === undefined) {
        this.log(`"stub"="${stub}" for "include" not found`);
        return ERROR;
      }
    }
    const inMemory = set !== undefined;
    const sr = startSubrequest(r, parsed.uri, parsed.args ?? '', {
      inMemory,
      done: (sub, body) => {
        if (set !== undefined) {
          // ngx_http_ssi_set_variable: the body of a response that is not an error.
          const value = sub.status < 300 && body !== null ? body.toString('latin1') : '';
          this.shared.vars.set(set.toLowerCase(), value);
        }
        if (waitedFor === sub) this.resume();
      },
      // The stub stands in for a response the subrequest could not make (ngx_http_ssi_stub_output).
      onError: stubBody === undefined ? undefined : (sub) => {
        // With the parent's type, so that its SSI (in the stub) runs as nginx sends it through the filters.
        const h = this.r.responseHeaders ?? [];
        const at = headerIndex(h, 'content-type');
        sendHeader(sub, 200, at === -1 ? [] : ['Content-Type', h[at + 1]!], -1);
        for (const b of stubBody!) sub.res.write(b);
        sub.res.end();
        return true;
      },
    });
    if (sr === null) return ERROR;
    let waitedFor: HttpRequest | null = null;
    if (!waited && !inMemory) return OK;
    if (this.waiting) {
      this.log('can only wait for one subrequest at a time');
      return OK;
    }
    waitedFor = sr;
    return WAIT;
  }

  private resume(): void {
    // After the subrequest's own end: its output is in place before what follows.
    queueMicrotask(() => {
      this.waiting = false;
      this.run();
      this.finishIfDone();
    });
  }

  private echo(p: Map<string, string>): number {
    const name = p.get('var')!.toLowerCase();
    let value = this.lookup(name);
    if (value === undefined) {
      const def = p.get('default');
      if (def === undefined) value = NONE;
      else if (def.length === 0) return OK;
      else value = def;
    } else if (value.length === 0) {
      return OK;
    }
    const enc = p.get('encoding');
    if (enc !== undefined) {
      if (enc === 'none') this.encoding = Encoding.None;
      else if (enc === 'url') this.encoding = Encoding.Url;
      else if (enc === 'entity') this.encoding = Encoding.Entity;
      else this.log(`unknown encoding "${enc}" in the "echo" command`);
    }
    if (this.encoding === Encoding.Url) value = escapeUri(value, EscapeType.Html);
    else if (this.encoding === Encoding.Entity) value = escapeHtml(value);
    this.out.write(Buffer.from(value, 'latin1'));
    return OK;
  }

  private config(p: Map<string, string>): number {
    const errmsg = p.get('errmsg');
    if (errmsg !== undefined) this.errmsg = errmsg;
    const timefmt = p.get('timefmt');
    if (timefmt !== undefined) this.timefmt = timefmt;
    return OK;
  }

  private set(p: Map<string, string>): number {
    const value = this.evaluate(p.get('value')!, false);
    if (value === null) return ERROR;
    this.shared.vars.set(p.get('var')!.toLowerCase(), value);
    return OK;
  }

  /** ngx_http_ssi_if: `left`, `left = right`, `left != right`, `right` a /regex/. */
  private if(command: string, expr: string): number {
    if (command === 'if' && this.conditional !== 0) {
      this.log('the "if" command inside the "if" command');
      return ERROR;
    }
    if (this.outputChosen) {
      this.output = false;
      return OK;
    }
    let p = 0;
    let leftText = '';
    for (; p < expr.length; p++) {
      const c = expr[p]!;
      if (c >= 'A' && c <= 'Z') { leftText += c.toLowerCase(); continue; }
      if (/[a-z0-9${}_"']/.test(c)) { leftText += c; continue; }
      break;
    }
    while (expr[p] === ' ') p++;
    const left = this.evaluate(leftText, false);
    if (left === null) return ERROR;
    this.conditional = COND_IF;
    if (p === expr.length) {
      this.choose(left.length > 0);
      return OK;
    }
    let negative = false;
    if (expr[p] === '=') p++;
    else if (expr[p] === '!' && expr[p + 1] === '=') { negative = true; p += 2; }
    else return this.invalidExpression(expr);
    while (expr[p] === ' ') p++;
    let last = expr.length;
    let regex = false;
    if (p < last - 1 && expr[p] === '/') {
      if (expr[last - 1] !== '/') return this.invalidExpression(expr);
      regex = true;
      last--;
      p++;
    } else if (p < last - 1 && expr[p] === '\\' && expr[p + 1] === '/') {
      p++;
    }
    const right = this.evaluate(expr.slice(p, last), false);
    if (right === null) return ERROR;
    let match: boolean;
    if (regex) {
      let re: RegExp;
      try {
        re = compileNginxRegex(right, false);
      } catch (e) {
        this.log((e as Error).message);
        return ERROR;
      }
      const m = re.exec(left);
      match = m !== null;
      if (m !== null) {
        this.shared.captures = m;
        // Named groups become SSI variables (ngx_http_ssi_regex_match).
        if (m.groups !== undefined) for (const [k, g] of Object.entries(m.groups)) this.shared.vars.set(k.toLowerCase(), g ?? '');
      }
    } else {
      match = left === right;
    }
    this.choose(match !== negative);
    return OK;
  }

  private choose(yes: boolean): void {
    this.output = yes;
    if (yes) this.outputChosen = true;
  }

  private invalidExpression(expr: string): number {
    this.log(`invalid expression in "${expr}"`);
    return ERROR;
  }

  /** An SSI variable, a capture of the last `if` regex, or an nginx variable; undefined when none. */
  private lookup(name: string): string | undefined {
    const caps = this.shared.captures;
    // ngx_http_ssi_get_variable: $0..$9 of the last `if` regex first.
    if (caps !== null && name.length === 1 && name >= '0' && name <= '9' && Number(name) < caps.length) return caps[Number(name)] ?? '';
    const v = this.shared.vars.get(name);
    if (v !== undefined) return v;
    return this.settings.variable(this.r, name);
  }

  /**
   * ngx_http_ssi_evaluate_string: `$name` and `${name}` replaced, `\` escapes
   * for \ ' " $ (kept before anything else); with `prefix`, a relative result
   * is taken from the directory of $uri. null (logged) when a name is broken.
   */
  private evaluate(text: string, prefix: boolean): string | null {
    let out = '';
    let i = 0;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '$') {
        i++;
        const bracket = text[i] === '{';
        if (bracket) i++;
        const start = i;
        while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i++;
        const name = text.slice(start, i);
        if (bracket) {
          if (text[i] !== '}') {
            this.log(`the closing bracket in "${name}" variable is missing`);
            return null;
          }
          i++;
        }
        if (name.length === 0) {
          this.log(`invalid variable name in "${text}"`);
          return null;
        }
        out += this.lookup(name.toLowerCase()) ?? '';
        continue;
      }
      if (c === '\\' && i + 1 < text.length) {
        const d = text[i + 1]!;
        out += d === '\\' || d === "'" || d === '"' || d === '$' ? d : '\\' + d;
        i += 2;
        continue;
      }
      out += c;
      i++;
    }
    if (prefix && out.length > 0 && out[0] !== '/') {
      const uri = this.r.uri;
      const slash = uri.lastIndexOf('/');
      if (slash >= 0) out = uri.slice(0, slash + 1) + out;
    }
    return out;
  }
}

/** A command as text again, for a block (nginx rebuilds it the same way). */
function commandText(name: string, params: ReadonlyArray<readonly [string, string]>): string {
  let s = `<!--#${name}`;
  for (const [k, v] of params) s += ` ${k}="${v}"`;
  return s + ' -->';
}

/** ngx_escape_html: & < > " as entities. */
function escapeHtml(s: string): string {
  return /[&<>"]/.test(s) ? s.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;')) : s;
}
