/**
 * The tokenizer of nginx's config language (ngx_conf_read_token).
 *
 * A token is a word or a quoted string. `;`, `{` and `}` end a directive. `#`
 * starts a comment only where a token could start. A `$` makes a following `{`
 * part of the word (`${var}`), as nginx does. Escapes: `\"`, `\'`, `\\`, `\t`,
 * `\r`, `\n` are translated; any other `\x` is kept as written (regexes need it).
 * An unquoted word ends only at a blank, `;` or `{`: `a}b` is one word.
 *
 * Differences from nginx: none intended. The lexer reads the whole file at once
 * (config files are small), where nginx reads in 4 KiB buffers.
 */
import { COMMAND_LINE, ConfigError } from './errors.js';

export const enum TokenKind {
  Word = 0,
  Semicolon = 1,
  BlockStart = 2,
  BlockEnd = 3,
  End = 4,
}

export interface Token {
  kind: TokenKind;
  /** The word with escapes translated (empty for punctuation). */
  value: string;
  /** True when the word was written in quotes (nginx needs this for `if` and `set`). */
  quoted: boolean;
  line: number;
}

const CH_SPACE = 0x20, CH_TAB = 0x09, CH_CR = 0x0d, CH_LF = 0x0a;
const CH_SEMI = 0x3b, CH_LBRACE = 0x7b, CH_RBRACE = 0x7d, CH_HASH = 0x23;
const CH_DQUOTE = 0x22, CH_SQUOTE = 0x27, CH_BSLASH = 0x5c, CH_DOLLAR = 0x24;

function isSpace(c: number): boolean {
  return c === CH_SPACE || c === CH_TAB || c === CH_CR || c === CH_LF;
}

function unescape(raw: string): string {
  if (raw.indexOf('\\') === -1) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '\\' && i + 1 < raw.length) {
      const n = raw[i + 1];
      switch (n) {
        case '"': case "'": case '\\': out += n; i++; continue;
        case 't': out += '\t'; i++; continue;
        case 'r': out += '\r'; i++; continue;
        case 'n': out += '\n'; i++; continue;
      }
    }
    out += c;
  }
  return out;
}

export class Lexer {
  private pos = 0;
  private line = 1;

  constructor(private readonly text: string, private readonly file: string) {}

  private fail(message: string, line = this.line): never {
    throw new ConfigError(message, { file: this.file, line });
  }

  next(): Token {
    const s = this.text;
    // Skip blanks and comments.
    for (;;) {
      if (this.pos >= s.length) return { kind: TokenKind.End, value: '', quoted: false, line: this.line };
      const c = s.charCodeAt(this.pos);
      if (c === CH_LF) { this.line++; this.pos++; continue; }
      if (isSpace(c)) { this.pos++; continue; }
      if (c === CH_HASH) {
        const eol = s.indexOf('\n', this.pos);
        this.pos = eol === -1 ? s.length : eol;
        continue;
      }
      break;
    }
    const line = this.line;
    const c = s.charCodeAt(this.pos);
    if (c === CH_SEMI) { this.pos++; return { kind: TokenKind.Semicolon, value: ';', quoted: false, line }; }
    if (c === CH_LBRACE) { this.pos++; return { kind: TokenKind.BlockStart, value: '{', quoted: false, line }; }
    if (c === CH_RBRACE) { this.pos++; return { kind: TokenKind.BlockEnd, value: '}', quoted: false, line }; }
    if (c === CH_DQUOTE || c === CH_SQUOTE) return this.quoted(c, line);
    return this.word(line);
  }

  private quoted(quote: number, line: number): Token {
    const s = this.text;
    const start = ++this.pos;
    for (;;) {
      if (this.pos >= s.length) {
        // -g text is not a file: nginx says "end of parameter" there.
        this.fail(this.file === COMMAND_LINE ? 'unexpected end of parameter, expecting ";"' : 'unexpected end of file, expecting ";" or "}"');
      }
      const c = s.charCodeAt(this.pos);
      if (c === CH_BSLASH) {
        // nginx counts the line of an escaped newline too.
        if (s.charCodeAt(this.pos + 1) === CH_LF) this.line++;
        this.pos += 2;
        continue;
      }
      if (c === CH_LF) this.line++;
      if (c === quote) break;
      this.pos++;
    }
    const raw = s.slice(start, this.pos);
    this.pos++;
    // nginx requires a separator right after the closing quote.
    if (this.pos < s.length) {
      const n = s.charCodeAt(this.pos);
      // `)` too: `if ($a ~ "x")` closes the condition right after the quote.
      if (!isSpace(n) && n !== CH_SEMI && n !== CH_LBRACE && n !== CH_RBRACE && n !== 0x29) {
        this.fail(`unexpected "${s[this.pos]}"`);
      }
    }
    return { kind: TokenKind.Word, value: unescape(raw), quoted: true, line };
  }

  /**
   * An unquoted word ends at a blank, `;` or `{` only (`}` and `#` inside a
   * word are part of it). A `{` right after `$` (or after such a `{`) stays in
   * the word, as nginx's `variable` state does; it does not look for a `}`.
   */
  private word(line: number): Token {
    const s = this.text;
    const start = this.pos;
    let variable = false;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c === CH_BSLASH) {
        if (s.charCodeAt(this.pos + 1) === CH_LF) this.line++;
        this.pos += 2;
        variable = false;
        continue;
      }
      if (c === CH_LBRACE && variable) { this.pos++; continue; }
      if (c === CH_DOLLAR) { variable = true; this.pos++; continue; }
      variable = false;
      if (isSpace(c) || c === CH_SEMI || c === CH_LBRACE) break;
      this.pos++;
    }
    return { kind: TokenKind.Word, value: unescape(s.slice(start, Math.min(this.pos, s.length))), quoted: false, line };
  }
}
