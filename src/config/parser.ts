/**
 * Builds the config tree (ngx_conf_parse's syntax half). Every node keeps its
 * file and line. `include` is expanded here, in place, so that what follows sees
 * one tree: nginx processes it as a directive in the same spot, which gives the
 * same result because an included file must hold whole directives.
 *
 * Paths of `include` are relative to the directory of the main config file
 * (nginx's conf_prefix). Globs follow glob(3) as nginx calls it: sorted, and a
 * pattern with no match is not an error, while a plain missing file is.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { COMMAND_LINE, ConfigError } from './errors.js';
import { Lexer, TokenKind } from './lexer.js';

export interface ConfNode {
  readonly name: string;
  readonly args: string[];
  /** Parallel to args: whether each was quoted. */
  readonly quoted: boolean[];
  readonly file: string;
  readonly line: number;
  /** Children for block directives (`http { }`), null for simple ones. */
  readonly block: ConfNode[] | null;
}

export interface ConfFile {
  readonly path: string;
  readonly text: string;
}

export interface ParsedConfig {
  readonly root: ConfNode[];
  /** Every file read, in order (for `-T`). */
  readonly files: ConfFile[];
  /** Directory that relative `include` paths are resolved against. */
  readonly confPrefix: string;
}

const MAX_INCLUDE_DEPTH = 32;

export function parseConfigFile(path: string, globalDirectives = ''): ParsedConfig {
  const confPrefix = dirname(resolve(path));
  const files: ConfFile[] = [];
  const parser = new TreeParser(confPrefix, files);
  const root: ConfNode[] = [];
  if (globalDirectives) root.push(...parser.parseText(globalDirectives, COMMAND_LINE, 0));
  root.push(...parser.parseFile(resolve(path), 0, undefined));
  return { root, files, confPrefix };
}

/** Parses text that is not a file (tests, the public API). */
export function parseConfigText(text: string, file = 'inline', confPrefix = process.cwd()): ParsedConfig {
  const files: ConfFile[] = [{ path: file, text }];
  const root = new TreeParser(confPrefix, files).parseText(text, file, 0);
  return { root, files, confPrefix };
}

class TreeParser {
  constructor(private readonly confPrefix: string, private readonly files: ConfFile[]) {}

  parseFile(path: string, depth: number, from: { file: string; line: number } | undefined): ConfNode[] {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ConfigError(`open() "${path}" failed (${errnoText(e)})`, from);
    }
    // nginx -T dumps a file once however often it is included (ngx_conf_add_dump).
    if (!this.files.some((f) => f.path === path)) this.files.push({ path, text });
    return this.parseText(text, path, depth);
  }

  parseText(text: string, file: string, depth: number): ConfNode[] {
    const lexer = new Lexer(text, file);
    const nodes = this.parseBlock(lexer, file, depth, false);
    return nodes;
  }

  /**
   * A directive's line is the line of the `;` or `{` that ends it: nginx
   * reports errors at cf->conf_file->line, which is there by then.
   */
  private parseBlock(lexer: Lexer, file: string, depth: number, inBlock: boolean): ConfNode[] {
    const nodes: ConfNode[] = [];
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
          if (node.name === 'include') nodes.push(...this.include(node, depth));
          else nodes.push(node);
          args = []; quoted = [];
          break;
        }
        case TokenKind.BlockStart: {
          if (args.length === 0) throw new ConfigError('unexpected "{"', { file, line: t.line });
          if (commandLine) throw new ConfigError('block directives are not supported in -g option', { file, line: t.line });
          // include is a plain directive in nginx, handled when its `{` is read.
          if (args[0] === 'include') throw new ConfigError('directive "include" is not terminated by ";"', { file, line: t.line });
          const block = this.parseBlock(lexer, file, depth, true);
          nodes.push({ name: args[0], args: args.slice(1), quoted: quoted.slice(1), file, line: t.line, block });
          args = []; quoted = [];
          break;
        }
        case TokenKind.BlockEnd:
          if (args.length > 0) throw new ConfigError('unexpected "}"', { file, line: t.line });
          if (!inBlock) throw new ConfigError('unexpected "}"', { file, line: t.line });
          return nodes;
        case TokenKind.End:
          if (args.length > 0) {
            if (commandLine) throw new ConfigError('unexpected end of parameter, expecting ";"', { file, line: t.line });
            throw new ConfigError('unexpected end of file, expecting ";" or "}"', { file, line: t.line });
          }
          if (inBlock) throw new ConfigError('unexpected end of file, expecting "}"', { file, line: t.line });
          return nodes;
      }
    }
  }

  private include(node: ConfNode, depth: number): ConfNode[] {
    const pos = { file: node.file, line: node.line };
    if (node.args.length !== 1) throw new ConfigError('invalid number of arguments in "include" directive', pos);
    if (depth >= MAX_INCLUDE_DEPTH) throw new ConfigError('include depth exceeded (include loop?)', pos);
    const pattern = isAbsolute(node.args[0]) ? node.args[0] : join(this.confPrefix, node.args[0]);
    if (!/[*?[]/.test(pattern)) return this.parseFile(pattern, depth + 1, pos);
    const out: ConfNode[] = [];
    for (const path of expandGlob(pattern)) out.push(...this.parseFile(path, depth + 1, pos));
    return out;
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
