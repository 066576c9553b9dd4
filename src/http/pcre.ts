/*
 * nginx's regexes are PCRE2; weir runs them on JavaScript's RegExp. translatePcre rewrites a
 * PCRE pattern, at config time, into a JS pattern that matches the same byte strings
 * (uri.ts's toByteString: one char per byte, as PCRE without PCRE2_UTF sees them), and
 * refuses what it cannot translate with an error shaped like nginx's
 * `pcre2_compile() failed: MESSAGE in "PATTERN" at "REST"` (ngx_regex.c).
 *
 * What differs between the two and is rewritten:
 *   - `$` and `\Z` also match before a final newline; `.` and `\N` match `\r` but not `\n`.
 *   - `\s \h \v \R` are PCRE's ASCII classes (JS's `\s` has Unicode spaces; JS's `\v` is VT).
 *   - `\Q...\E` quotes, `\e \a`, `\x{hh}`, `\o{}`, octal and backreference digits, `\g`, `\k{}`.
 *   - `(?P<n>`, `(?'n'`, `(?P=n)`, `(?#...)`, `[[:alpha:]]`, a leading `(?i)` or `(?s)`.
 *   - A `{` that starts no quantifier, and a stray `}` or `]`, are literals.
 *   - `\p{..}` and `\P{..}` (general categories and scripts) compile with the `u` flag.
 * What has no JS equivalent is refused: possessive quantifiers and atomic groups, recursion
 * and subroutine calls, conditionals, branch reset, `\K \G \X \C`, backtracking verbs, inline
 * options other than a leading `(?i)`/`(?s)`.
 *
 * Deliberate difference: caseless matching uses JS's `i` flag, which also folds the Latin-1
 * letters (0xC0-0xDE to 0xE0-0xFE); PCRE without UTF folds ASCII only.
 */

import { toByteString } from './uri.js';

export class PcreError extends Error {
  constructor(message: string, readonly pattern: string, readonly offset: number) {
    super(offset >= pattern.length
      ? `pcre2_compile() failed: ${message} in "${pattern}"`
      : `pcre2_compile() failed: ${message} in "${pattern}" at "${pattern.slice(offset)}"`);
    this.name = 'PcreError';
  }
}

export interface TranslatedPcre {
  source: string;
  flags: string;
  /** Capture groups, in order; named ones also in names. */
  captures: number;
  names: string[];
}

const SPACE = '\\t-\\r ';           // PCRE's \s: HT LF VT FF CR and space
const HSPACE = '\\t \\xa0';
const VSPACE = '\\n-\\r\\x85';
const NOT_SPACE_IN_CLASS = '\\x00-\\x08\\x0e-\\x1f!-\\uffff';

const POSIX_CLASSES: Record<string, string> = {
  alpha: 'A-Za-z', digit: '0-9', alnum: '0-9A-Za-z', upper: 'A-Z', lower: 'a-z',
  space: SPACE, blank: ' \\t', punct: '!-\\/:-@\\[-`{-~', xdigit: '0-9A-Fa-f', word: '\\w',
  cntrl: '\\x00-\\x1f\\x7f', graph: '!-~', print: ' -~', ascii: '\\x00-\\x7f',
};

// PCRE's general category names; anything else after \p is taken as a script name.
const CATEGORIES = new Set(['C', 'Cc', 'Cf', 'Cn', 'Co', 'Cs', 'L', 'Ll', 'Lm', 'Lo', 'Lt', 'Lu',
  'M', 'Mc', 'Me', 'Mn', 'N', 'Nd', 'Nl', 'No', 'P', 'Pc', 'Pd', 'Pe', 'Pf', 'Pi', 'Po', 'Ps',
  'S', 'Sc', 'Sk', 'Sm', 'So', 'Z', 'Zl', 'Zp', 'Zs']);

const hex = (code: number): string => `\\x${code.toString(16).padStart(2, '0')}`;
const isHex = (c: string | undefined): boolean => c !== undefined && /^[0-9A-Fa-f]$/.test(c);
const isOctal = (c: string): boolean => c >= '0' && c <= '7';
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isAlnum = (c: string): boolean => /^[0-9A-Za-z]$/.test(c);

class Translator {
  private i = 0;
  private out = '';
  private flags = '';
  private unicode = false;
  private captures = 0;
  private readonly names: string[] = [];
  private depth = 0;
  /** Whether the last item emitted may take a quantifier (PCRE refuses `^*`, `(*`, `a**`). */
  private repeatable = false;
  /** Backreferences seen, checked once every group is known. */
  private readonly numberRefs: number[] = [];
  private readonly nameRefs: string[] = [];

  constructor(private readonly p: string, caseless: boolean) {
    if (caseless) this.flags += 'i';
  }

  run(): TranslatedPcre {
    this.leadingOptions();
    while (this.i < this.p.length) this.item();
    if (this.depth > 0) this.fail('missing closing parenthesis', this.p.length);
    if (this.numberRefs.some((n) => n > this.captures)) this.fail('reference to non-existent subpattern', this.p.length);
    if (this.nameRefs.some((n) => !this.names.includes(n))) this.fail('reference to non-existent subpattern', this.p.length);
    const flags = this.flags + (this.unicode ? 'u' : '');
    try {
      new RegExp(this.out, flags);
    } catch (e) {
      // Our output is valid by construction; what is left is JS's own refusal.
      this.fail((e as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, '').toLowerCase(), 0);
    }
    return { source: this.out, flags, captures: this.captures, names: this.names };
  }

  private fail(message: string, offset = this.i): never {
    throw new PcreError(message, this.p, offset);
  }

  /** A leading `(?i)` / `(?s)` (nginx's own docs show `(?i)`) becomes a flag. */
  private leadingOptions(): void {
    for (;;) {
      const m = /^\(\?([is]+)\)/.exec(this.p.slice(this.i));
      if (m === null) return;
      for (const f of m[1]!) if (!this.flags.includes(f)) this.flags += f;
      this.i += m[0].length;
    }
  }

  private emit(s: string, repeatable: boolean): void {
    this.out += s;
    this.repeatable = repeatable;
  }

  private item(): void {
    const c = this.p[this.i]!;
    switch (c) {
      case '\\': this.escape(); return;
      case '[': this.charClass(); return;
      case '(': this.group(); return;
      case ')':
        if (this.depth === 0) this.fail('unmatched closing parenthesis');
        this.depth--;
        this.i++;
        this.emit(')', true);
        return;
      case '.': this.i++; this.emit(this.flags.includes('s') ? '[\\s\\S]' : '[^\\n]', true); return;
      case '$': this.i++; this.emit('(?=\\n?$)', false); return;
      case '^': this.i++; this.emit('^', false); return;
      case '|': this.i++; this.emit('|', false); return;
      case '*': case '+': case '?': this.quantifier(1); return;
      case '{': {
        const m = /^\{(\d*)(,(\d*))?\}/.exec(this.p.slice(this.i));
        if (m !== null && (m[1] !== '' || (m[3] !== undefined && m[3] !== ''))) {
          this.quantifier(m[0].length, m[1] === '' ? `{0,${m[3]}}` : undefined);
          return;
        }
        this.i++;
        this.emit('\\{', true);
        return;
      }
      case '}': case ']': this.i++; this.emit(`\\${c}`, true); return;
      default: this.i++; this.emit(c, true);
    }
  }

  private quantifier(len: number, rewritten?: string): void {
    if (!this.repeatable) this.fail('quantifier does not follow a repeatable item');
    let q = rewritten ?? this.p.slice(this.i, this.i + len);
    this.i += len;
    if (this.p[this.i] === '+') this.fail('possessive quantifiers are not supported by weir');
    if (this.p[this.i] === '?') { q += '?'; this.i++; }
    this.emit(q, false);
  }

  private group(): void {
    const rest = this.p.slice(this.i);
    const start = this.i;
    let m: RegExpExecArray | null;
    if (rest.startsWith('(?#')) {
      const end = this.p.indexOf(')', this.i);
      if (end < 0) this.fail('missing ) after (?# comment', this.p.length);
      this.i = end + 1;
      return;
    }
    if ((m = /^\(\?P=([A-Za-z_]\w*)\)/.exec(rest)) !== null) {
      this.i += m[0].length;
      this.emit(this.nameRef(m[1]!), true);
      return;
    }
    if ((m = /^\(\?(?:P<([A-Za-z_]\w*)>|<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')/.exec(rest)) !== null) {
      const name = m[1] ?? m[2] ?? m[3]!;
      if (this.names.includes(name)) this.fail('two named subpatterns have the same name (PCRE2_DUPNAMES not set)', start + 3);
      this.names.push(name);
      this.captures++;
      this.open(m[0].length, `(?<${name}>`);
      return;
    }
    if ((m = /^\(\?(?::|=|!|<=|<!)/.exec(rest)) !== null) {
      this.open(m[0].length, m[0]);
      return;
    }
    if (rest.startsWith('(?') || rest.startsWith('(*')) {
      this.fail(`${this.unsupportedGroup(rest)} is not supported by weir`, start);
    }
    this.captures++;
    this.open(1, '(');
  }

  private unsupportedGroup(rest: string): string {
    if (rest.startsWith('(*')) return 'a backtracking verb or option setting';
    if (rest.startsWith('(?>')) return 'an atomic group';
    if (rest.startsWith('(?|')) return 'a branch reset group';
    if (rest.startsWith('(?(')) return 'a conditional group';
    if (/^\(\?(?:R|[+-]?\d|&|P>)/.test(rest)) return 'recursion or a subroutine call';
    return 'an inline option setting inside the pattern';
  }

  private open(len: number, js: string): void {
    this.i += len;
    this.depth++;
    this.emit(js, false);
  }

  /** An escape outside a class. */
  private escape(): void {
    const d = this.p[this.i + 1];
    if (d === undefined) this.fail('\\ at end of pattern', this.p.length);
    const start = this.i;
    this.i += 2;
    switch (d) {
      case 'Q': for (const lit of this.quoted()) this.emit(lit, true); return;
      case 'E': return;
      case 'A': this.emit('^', false); return;
      case 'z': this.emit('$', false); return;
      case 'Z': this.emit('(?=\\n?$)', false); return;
      case 'b': case 'B': this.emit(`\\${d}`, false); return;
      case 'd': case 'D': case 'w': case 'W': this.emit(`\\${d}`, true); return;
      case 's': this.emit(`[${SPACE}]`, true); return;
      case 'S': this.emit(`[^${SPACE}]`, true); return;
      case 'h': this.emit(`[${HSPACE}]`, true); return;
      case 'H': this.emit(`[^${HSPACE}]`, true); return;
      case 'v': this.emit(`[${VSPACE}]`, true); return;
      case 'V': this.emit(`[^${VSPACE}]`, true); return;
      case 'N': this.emit('[^\\n]', true); return;
      case 'R': this.emit('(?:\\r\\n|[\\n-\\r\\x85])', true); return;
      case 'p': case 'P': this.emit(this.property(d === 'P'), true); return;
      case 'g': this.emit(this.gReference(start), true); return;
      case 'k': this.emit(this.kReference(start), true); return;
      case 'K': case 'G': case 'X': case 'C':
        this.fail(`\\${d} is not supported by weir`, start);
    }
    if (isDigit(d)) {
      this.i = start + 1;
      this.emit(this.digits(), true);
      return;
    }
    this.emit(this.characterEscape(d, start), true);
  }

  /** Escapes that stand for one character, the same in and out of a class; `\` and d consumed. */
  private characterEscape(d: string, start: number): string {
    switch (d) {
      case 'a': return '\\x07';
      case 'e': return '\\x1b';
      case 'f': case 'n': case 'r': case 't': return `\\${d}`;
      case 'c': {
        const x = this.p[this.i];
        if (x === undefined || x.charCodeAt(0) > 0x7f) this.fail('\\c at end of pattern', this.p.length);
        this.i++;
        return hex(x.toUpperCase().charCodeAt(0) ^ 0x40);
      }
      case 'x': return hex(this.braced(16, /^[0-9A-Fa-f]{1,2}/));
      case 'o': {
        if (this.p[this.i] !== '{') this.fail('missing opening brace after \\o');
        return hex(this.braced(8, null));
      }
    }
    if (isAlnum(d)) this.fail('unrecognized character follows \\', start + 1);
    return hex(d.charCodeAt(0));
  }

  /** `\x{hh}` / `\o{ooo}` or, without braces, the digits `bare` takes. */
  private braced(radix: number, bare: RegExp | null): number {
    let digits: string;
    if (this.p[this.i] === '{') {
      const end = this.p.indexOf('}', this.i);
      if (end < 0) this.fail('missing terminating } in \\x{} or \\o{}');
      digits = this.p.slice(this.i + 1, end);
      this.i = end + 1;
    } else {
      digits = bare?.exec(this.p.slice(this.i))?.[0] ?? '';
      this.i += digits.length;
    }
    const code = digits === '' ? 0 : parseInt(digits, radix);
    if (Number.isNaN(code) || !digits.split('').every(radix === 16 ? isHex : isOctal)) {
      this.fail(radix === 16 ? 'non-hex character in \\x{} (closing brace missing?)' : 'non-octal character in \\o{} (closing brace missing?)');
    }
    if (code > 0xff) this.fail('character code point value in \\x{} or \\o{} is too large');
    return code;
  }

  /** `\0..` octal, `\N` backreference or octal, as PCRE reads digits outside a class. */
  private digits(): string {
    const start = this.i;
    const run = /^\d+/.exec(this.p.slice(this.i))![0];
    const n = parseInt(run, 10);
    if (run[0] !== '0' && (n < 10 || run[0] === '8' || run[0] === '9' || n <= this.captures)) {
      this.i += run.length;
      return this.numberRef(n);
    }
    const oct = /^[0-7]{1,3}/.exec(run)?.[0] ?? '';
    if (oct === '') this.fail('unrecognized character follows \\', start);
    this.i += oct.length;
    const code = parseInt(oct, 8);
    if (code > 0xff) this.fail('octal value is greater than \\377 in 8-bit non-UTF-8 mode', start);
    return hex(code);
  }

  private gReference(start: number): string {
    const m = /^(?:\{(-?\d+|[A-Za-z_]\w*)\}|(-?\d+))/.exec(this.p.slice(this.i));
    if (m === null) {
      if (this.p[this.i] === '<' || this.p[this.i] === "'") this.fail('subroutine calls are not supported by weir', start);
      this.fail('\\g is not followed by a braced, angle-bracketed, or quoted name/number or by a plain number', start + 2);
    }
    this.i += m[0].length;
    const ref = m[1] ?? m[2]!;
    if (!/^-?\d/.test(ref)) return this.nameRef(ref);
    let n = parseInt(ref, 10);
    if (n < 0) n = this.captures + n + 1;
    if (n <= 0) this.fail('a relative value of zero is not allowed', start + 2);
    return this.numberRef(n);
  }

  private kReference(start: number): string {
    const m = /^(?:<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)'|\{([A-Za-z_]\w*)\})/.exec(this.p.slice(this.i));
    if (m === null) this.fail('\\k is not followed by a braced, angle-bracketed, or quoted name', start + 2);
    this.i += m[0].length;
    return this.nameRef(m[1] ?? m[2] ?? m[3]!);
  }

  /** Grouped so that a digit after it stays a literal, as in PCRE. */
  private numberRef(n: number): string {
    this.numberRefs.push(n);
    return `(?:\\${n})`;
  }

  /** Checked: JS reads `\\k<x>` as a literal when the pattern has no named group. */
  private nameRef(name: string): string {
    this.nameRefs.push(name);
    return `\\k<${name}>`;
  }

  private property(negated: boolean): string {
    let name: string;
    if (this.p[this.i] === '{') {
      const end = this.p.indexOf('}', this.i);
      if (end < 0) this.fail('malformed \\P or \\p sequence');
      name = this.p.slice(this.i + 1, end);
      this.i = end + 1;
    } else {
      name = this.p[this.i] ?? '';
      this.i++;
    }
    if (name.startsWith('^')) { negated = !negated; name = name.slice(1); }
    name = name.replace(/[ _-]/g, '');
    if (name === 'Any') return negated ? '[^\\s\\S]' : '[\\s\\S]';
    if (name === 'L&' || name === 'LC') name = 'LC';
    else if (!CATEGORIES.has(name)) name = `Script=${name}`;
    try {
      new RegExp(`\\p{${name}}`, 'u');
    } catch {
      this.fail('unknown property name after \\P or \\p');
    }
    this.unicode = true;
    return `\\${negated ? 'P' : 'p'}{${name}}`;
  }

  /** `\Q...\E`: each character a literal, up to `\E` or the end. */
  private quoted(): string[] {
    const end = this.p.indexOf('\\E', this.i);
    const text = this.p.slice(this.i, end < 0 ? this.p.length : end);
    this.i = end < 0 ? this.p.length : end + 2;
    return [...text].map((ch) => (/[\w ]/.test(ch) ? ch : hex(ch.charCodeAt(0))));
  }

  private charClass(): void {
    this.i++;
    let js = '[';
    if (this.p[this.i] === '^') { js += '^'; this.i++; }
    let first = true;
    for (;;) {
      const c = this.p[this.i];
      if (c === undefined) this.fail('missing terminating ] for character class', this.p.length);
      if (c === ']' && !first) break;
      first = false;
      if (c === '[') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(this.p.slice(this.i));
        if (m !== null) {
          const set = POSIX_CLASSES[m[2]!];
          if (set === undefined) this.fail('unknown POSIX class name', this.i);
          if (m[1] === '^') this.fail('a negated POSIX class is not supported by weir', this.i);
          js += set;
          this.i += m[0].length;
          continue;
        }
        js += '\\[';
        this.i++;
        continue;
      }
      if (c === '\\') {
        const d = this.p[this.i + 1];
        if (d === undefined) this.fail('\\ at end of pattern', this.p.length);
        const at = this.i;
        this.i += 2;
        switch (d) {
          case 'Q': js += this.quoted().join(''); continue;
          case 'E': continue;
          case 'b': js += '\\x08'; continue;
          case 'd': case 'D': case 'w': case 'W': js += `\\${d}`; continue;
          case 's': js += SPACE; continue;
          case 'S': js += NOT_SPACE_IN_CLASS; continue;
          case 'h': js += HSPACE; continue;
          case 'v': js += VSPACE; continue;
          case 'p': case 'P': js += this.property(d === 'P'); continue;
          case 'H': case 'V': case 'N': case 'R': case 'X':
            this.fail(`\\${d} in a character class is not supported by weir`, at);
        }
        if (isDigit(d)) {
          const oct = /^[0-7]{1,3}/.exec(this.p.slice(at + 1))?.[0];
          if (oct === undefined) this.fail('unrecognized character follows \\', at + 1);
          this.i = at + 1 + oct.length;
          js += hex(parseInt(oct, 8) & 0xff);
          continue;
        }
        js += this.characterEscape(d, at);
        continue;
      }
      js += c === ']' || c === '/' ? `\\${c}` : c;
      this.i++;
    }
    this.i++;
    this.emit(js + ']', true);
  }
}

/** Translate a PCRE pattern (a byte string); throws PcreError. */
export function translatePcre(pattern: string, caseless: boolean): TranslatedPcre {
  return new Translator(pattern, caseless).run();
}

/**
 * An nginx regex as a RegExp over byte strings (the pattern is UTF-8 encoded the same way);
 * throws PcreError.
 */
export function compileNginxRegex(pattern: string, caseless: boolean): RegExp {
  const t = translatePcre(toByteString(pattern), caseless);
  return new RegExp(t.source, t.flags);
}

/** The named groups of a pattern, in order; [] for a pattern that does not compile. */
export function pcreGroupNames(pattern: string): string[] {
  try {
    return translatePcre(pattern, false).names;
  } catch {
    return [];
  }
}
