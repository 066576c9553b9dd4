/**
 * Reads config files as nginx's ngx_conf_parse does: token by token, handing
 * on each directive as soon as its `;` or `{` is read, so that the walker
 * handles it before the next one is read. A block's directives are read as the
 * block is walked (nginx's block handlers call ngx_conf_parse on the rest of
 * the same file). Whatever comes first in the file is therefore reported
 * first: an unknown directive on line 3 wins over a syntax error on line 40,
 * and a directive's own checks run when it is reached. Every node keeps its
 * file and line.
 *
 * `include` is expanded here, in place, as the directive is read: nginx
 * handles it as a directive in the same spot (and inside `types` and `map`
 * too), which gives the same result because an included file must hold whole
 * directives. Paths of `include` are relative to the directory of the main
 * config file (nginx's conf_prefix). Globs follow glob(3) as nginx calls it:
 * sorted, and a pattern with no match is not an error, while a plain missing
 * file is.
 *
 * parseConfigFile and parseConfigText read everything at once into a tree, for
 * tools and tests that want one.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { COMMAND_LINE, ConfigError, type ConfPosition } from './errors.js';
import { Lexer, TokenKind } from './lexer.js';

export interface ConfNode {
  readonly name: string;
  readonly args: string[];
  /** Parallel to args: whether each was quoted. */
  readonly quoted: boolean[];
  readonly file: string;
  readonly line: number;
  /**
   * The directives inside `{ }`, null for a simple directive. From a reader
   * they are read as they are iterated, once, while the directive is being
   * handled; what a handler leaves unread is read (and syntax-checked) after it.
   */
  readonly block: Iterable<ConfNode> | null;
}

/** A node of a tree read at once: its block is an array. */
export interface ConfTreeNode extends ConfNode {
  readonly block: ConfTreeNode[] | null;
}

export interface ConfFile {
  readonly path: string;
  readonly text: string;
}

/** A config being read: its directives come as they are iterated. */
export interface ConfSource {
  /** The main context: the -g directives, then the file's. Iterate once. */
  readonly directives: Iterable<ConfNode>;
  /** Every file read so far, in order (for `-T`): all of them once `directives` is done. */
  readonly files: ConfFile[];
  /** Directory that relative `include` paths are resolved against. */
  readonly confPrefix: string;
}

export interface ParsedConfig {
  readonly root: ConfTreeNode[];
  /** Every file read, in order (for `-T`). */
  readonly files: ConfFile[];
  /** Directory that relative `include` paths are resolved against. */
  readonly confPrefix: string;
}

const MAX_INCLUDE_DEPTH = 32;

/** A config file (and -g), read as its directives are iterated; the file is opened once -g is read, as nginx does. */
export function readConfigFile(path: string, globalDirectives = ''): ConfSource {
  const confPrefix = dirname(resolve(path));
  const files: ConfFile[] = [];
  const reader = new Reader(confPrefix, files);
  function* directives(): Generator<ConfNode, void, undefined> {
    if (globalDirectives) yield* reader.text(globalDirectives, COMMAND_LINE, 0);
    yield* reader.file(resolve(path), 0, undefined);
  }
  return { directives: once(directives()), files, confPrefix };
}

/** Config text that is not a file (tests, the public API), read as it is iterated. */
export function readConfigText(text: string, file = 'inline', confPrefix = process.cwd()): ConfSource {
  const files: ConfFile[] = [{ path: file, text }];
  return { directives: once(new Reader(confPrefix, files).text(text, file, 0)), files, confPrefix };
}

export function parseConfigFile(path: string, globalDirectives = ''): ParsedConfig {
  return readAll(readConfigFile(path, globalDirectives));
}

/** Parses text that is not a file (tests, the public API). */
export function parseConfigText(text: string, file = 'inline', confPrefix = process.cwd()): ParsedConfig {
  return readAll(readConfigText(text, file, confPrefix));
}

function readAll(source: ConfSource): ParsedConfig {
  const root = tree(source.directives);
  return { root, files: source.files, confPrefix: source.confPrefix };
}

function tree(nodes: Iterable<ConfNode>): ConfTreeNode[] {
  const out: ConfTreeNode[] = [];
  for (const n of nodes) out.push({ ...n, block: n.block ? tree(n.block) : null });
  return out;
}

/**
 * Directives read from a lexer as they are iterated. The iterator has no
 * return(): a handler that stops early (or throws) does not close the reading,
 * and what it left is read by drain() before the next directive.
 */
class LazyBlock implements Iterable<ConfNode> {
  private state: 'new' | 'iterated' | 'drained' = 'new';
  /** Where the block's `}` was read, once it was. */
  end: ConfPosition | undefined;

  constructor(private readonly gen: Generator<ConfNode, ConfPosition | void, undefined>) {}

  [Symbol.iterator](): Iterator<ConfNode> {
    // Both are bugs in a handler, not config errors.
    if (this.state === 'iterated') throw new Error('a config block is read once');
    if (this.state === 'drained') throw new Error('a config block is read while its directive is handled');
    this.state = 'iterated';
    return {
      next: (): IteratorResult<ConfNode> => {
        const r = this.gen.next();
        if (!r.done) return r;
        if (r.value) this.end = r.value;
        return { done: true, value: undefined };
      },
    };
  }

  drain(): void {
    if (this.state === 'new') this.state = 'drained';
    let r = this.gen.next();
    for (; !r.done; r = this.gen.next()) { /* read, syntax-checked, skipped */ }
    if (r.value) this.end = r.value;
  }
}

function once(gen: Generator<ConfNode, void, undefined>): Iterable<ConfNode> {
  return new LazyBlock(gen);
}

/**
 * Where a block's closing `}` is, once the block was read to its end: nginx
 * reports what it checks after a block (a total, a merge) at that line.
 * undefined for a block not read lazily from a file (a tree).
 */
export function blockEnd(block: Iterable<ConfNode> | null): ConfPosition | undefined {
  return block instanceof LazyBlock ? block.end : undefined;
}

class Reader {
  constructor(private readonly confPrefix: string, private readonly files: ConfFile[]) {}

  *file(path: string, depth: number, from: { file: string; line: number } | undefined): Generator<ConfNode, void, undefined> {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ConfigError(`open() "${path}" failed (${errnoText(e)})`, from);
    }
    // nginx -T dumps a file once however often it is included (ngx_conf_add_dump).
    if (!this.files.some((f) => f.path === path)) this.files.push({ path, text });
    yield* this.text(text, path, depth);
  }

  *text(text: string, file: string, depth: number): Generator<ConfNode, void, undefined> {
    yield* this.block(new Lexer(text, file), file, depth, false);
  }

  /**
   * A directive's line is the line of the `;` or `{` that ends it: nginx
   * reports errors at cf->conf_file->line, which is there by then.
   */
  private *block(lexer: Lexer, file: string, depth: number, inBlock: boolean): Generator<ConfNode, ConfPosition | void, undefined> {
    const commandLine = file === COMMAND_LINE;
    let args: string[] = [];
    let quoted: boolean[] = [];
    for (;;) {
      const t = lexer.next();
      switch (t.kind) {
        case TokenKind.Word:
          args.push(t.value);
          quoted.push(t.quoted);
          break;
        case TokenKind.Semicolon: {
          if (args.length === 0) throw new ConfigError('unexpected ";"', { file, line: t.line });
          const node: ConfNode = { name: args[0], args: args.slice(1), quoted: quoted.slice(1), file, line: t.line, block: null };
          args = []; quoted = [];
          if (node.name === 'include') yield* this.include(node, depth);
          else yield node;
          break;
        }
        case TokenKind.BlockStart: {
          if (args.length === 0) throw new ConfigError('unexpected "{"', { file, line: t.line });
          if (commandLine) throw new ConfigError('block directives are not supported in -g option', { file, line: t.line });
          // include is a plain directive in nginx, handled when its `{` is read.
          if (args[0] === 'include') throw new ConfigError('directive "include" is not terminated by ";"', { file, line: t.line });
          const block = new LazyBlock(this.block(lexer, file, depth, true));
          const node: ConfNode = { name: args[0], args: args.slice(1), quoted: quoted.slice(1), file, line: t.line, block };
          args = []; quoted = [];
          yield node;
          block.drain();
          break;
        }
        case TokenKind.BlockEnd:
          if (args.length > 0) throw new ConfigError('unexpected "}"', { file, line: t.line });
          if (!inBlock) throw new ConfigError('unexpected "}"', { file, line: t.line });
          return { file, line: t.line };
        case TokenKind.End:
          if (args.length > 0) {
            if (commandLine) throw new ConfigError('unexpected end of parameter, expecting ";"', { file, line: t.line });
            throw new ConfigError('unexpected end of file, expecting ";" or "}"', { file, line: t.line });
          }
          if (inBlock) throw new ConfigError('unexpected end of file, expecting "}"', { file, line: t.line });
          return;
      }
    }
  }

  private *include(node: ConfNode, depth: number): Generator<ConfNode, void, undefined> {
    const pos = { file: node.file, line: node.line };
    if (node.args.length !== 1) throw new ConfigError('invalid number of arguments in "include" directive', pos);
    if (depth >= MAX_INCLUDE_DEPTH) throw new ConfigError('include depth exceeded (include loop?)', pos);
    const pattern = isAbsolute(node.args[0]) ? node.args[0] : join(this.confPrefix, node.args[0]);
    if (!/[*?[]/.test(pattern)) { yield* this.file(pattern, depth + 1, pos); return; }
    for (const path of expandGlob(pattern)) yield* this.file(path, depth + 1, pos);
  }
}

function errnoText(e: NodeJS.ErrnoException): string {
  const names: Record<string, string> = {
    ENOENT: '2: No such file or directory',
    EACCES: '13: Permission denied',
    EISDIR: '21: Is a directory',
  };
  return (e.code && names[e.code]) || e.message;
}

/** glob(3) on absolute patterns with `*`, `?` and `[...]` in any path component; sorted; dotfiles need a dot. */
export function expandGlob(pattern: string): string[] {
  const parts = pattern.split('/');
  let paths = [parts[0] === '' ? '/' : parts[0]];
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i];
    if (part === '') continue;
    const next: string[] = [];
    if (!/[*?[]/.test(part)) {
      for (const p of paths) next.push(join(p, part));
    } else {
      const re = globPartToRegExp(part);
      for (const dir of paths) {
        let names: string[];
        try { names = readdirSync(dir); } catch { continue; }
        for (const name of names.sort()) {
          if (name.startsWith('.') && !part.startsWith('.')) continue;
          if (re.test(name)) next.push(join(dir, name));
        }
      }
    }
    paths = next;
  }
  return paths.filter((p) => { try { return statSync(p).isFile(); } catch { return false; } }).sort();
}

function globPartToRegExp(part: string): RegExp {
  let re = '^';
  for (let i = 0; i < part.length; i++) {
    const c = part[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = part.indexOf(']', i + 2);
      if (end === -1) { re += '\\['; continue; }
      let cls = part.slice(i + 1, end);
      if (cls.startsWith('!')) cls = '^' + cls.slice(1);
      re += '[' + cls.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}
