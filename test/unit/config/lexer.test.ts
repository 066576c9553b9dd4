// The tokenizer of nginx's config language (ngx_conf_read_token): words, quotes,
// escapes, `$var` / `${var}`, `#` comments, line numbers, and the errors it raises.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Lexer, TokenKind, type Token } from '../../../src/config/lexer.js';
import { ConfigError } from '../../../src/config/errors.js';

type Tok = [kind: 'word' | ';' | '{' | '}', value: string, quoted: boolean, line: number];

function kindName(k: TokenKind): Tok[0] {
  switch (k) {
    case TokenKind.Word: return 'word';
    case TokenKind.Semicolon: return ';';
    case TokenKind.BlockStart: return '{';
    case TokenKind.BlockEnd: return '}';
    default: throw new Error('End has no name');
  }
}

/** Every token up to the end, as [kind, value, quoted, line]. */
function lex(text: string, file = 'test.conf'): Tok[] {
  const lexer = new Lexer(text, file);
  const out: Tok[] = [];
  for (;;) {
    const t: Token = lexer.next();
    if (t.kind === TokenKind.End) return out;
    out.push([kindName(t.kind), t.value, t.quoted, t.line]);
  }
}

/** The words only (values). */
function words(text: string): string[] {
  return lex(text).filter((t) => t[0] === 'word').map((t) => t[1]);
}

/** Asserts that lexing `text` throws a ConfigError with this message. */
function lexFails(text: string, message: string): void {
  assert.throws(() => lex(text, 'test.conf'), (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.message, message);
    return true;
  });
}

test('words, semicolons and braces', () => {
  assert.deepEqual(lex('worker_processes 2;\nevents {\n}\n'), [
    ['word', 'worker_processes', false, 1], ['word', '2', false, 1], [';', ';', false, 1],
    ['word', 'events', false, 2], ['{', '{', false, 2],
    ['}', '}', false, 3],
  ]);
});

test('blanks: spaces, tabs, CR and LF all separate words', () => {
  assert.deepEqual(words('a\tb  c\r\nd\n\ne'), ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(lex('a\r\nb;\r\n').map((t) => t[3]), [1, 2, 2]);
});

test('`;` and `{` end a word without a space', () => {
  assert.deepEqual(lex('a;b{'), [
    ['word', 'a', false, 1], [';', ';', false, 1], ['word', 'b', false, 1], ['{', '{', false, 1],
  ]);
});

test('double-quoted strings keep blanks, `;`, braces and `#`', () => {
  assert.deepEqual(lex('add "a b; {c} #d";'), [
    ['word', 'add', false, 1], ['word', 'a b; {c} #d', true, 1], [';', ';', false, 1],
  ]);
});

test('single-quoted strings, and the other quote inside each', () => {
  assert.deepEqual(lex(`x 'a "b" c' "d 'e' f";`).slice(1, 3), [
    ['word', 'a "b" c', true, 1], ['word', "d 'e' f", true, 1],
  ]);
});

test('empty quoted strings are words', () => {
  assert.deepEqual(lex(`x "" '';`).slice(1, 3), [['word', '', true, 1], ['word', '', true, 1]]);
});

test('escapes: \\" \\\' \\\\ \\t \\r \\n are translated in quoted strings', () => {
  assert.deepEqual(words(String.raw`"a\"b" 'c\'d' "e\\f" "g\th" "i\rj" "k\nl"`),
    ['a"b', "c'd", 'e\\f', 'g\th', 'i\rj', 'k\nl']);
});

test('escapes: any other \\x is kept as written (regexes need it)', () => {
  assert.deepEqual(words(String.raw`"^/a\.b\d+$" '\w\s' "\$host" "\{"`),
    [String.raw`^/a\.b\d+$`, String.raw`\w\s`, String.raw`\$host`, String.raw`\{`]);
});

test('escapes work in unquoted words too, and an escaped blank or `;` stays in the word', () => {
  assert.deepEqual(words(String.raw`a\"b c\\d e\tf`), ['a"b', 'c\\d', 'e\tf']);
  assert.deepEqual(words(String.raw`a\ b c\;d;`), [String.raw`a\ b`, String.raw`c\;d`]);
});

test('an escaped quote does not close a quoted string', () => {
  assert.deepEqual(lex(String.raw`x "a\";b";`).slice(1), [['word', 'a";b', true, 1], [';', ';', false, 1]]);
});

test('`;`, `{` and blanks right after a closing quote', () => {
  assert.deepEqual(lex('a "b";').map((t) => t[0]), ['word', 'word', ';']);
  assert.deepEqual(lex('a "b"{').map((t) => t[0]), ['word', 'word', '{']);
  assert.deepEqual(lex('a "b"\n;').map((t) => t[0]), ['word', 'word', ';']);
});

test('`)` right after a closing quote: `if ($a ~ "x")` closes the condition', () => {
  assert.deepEqual(words('if ($a ~ "x") {'), ['if', '($a', '~', 'x', ')']);
  assert.deepEqual(words("if ($a = 'x'){"), ['if', '($a', '=', 'x', ')']);
});

test('anything else right after a closing quote is `unexpected "x"`', () => {
  lexFails('user "a"b;', 'unexpected "b" in test.conf:1');
  lexFails("\nuser 'a'b;", 'unexpected "b" in test.conf:2');
  lexFails('use "epoll"#x\n;', 'unexpected "#" in test.conf:1');
  lexFails('use "epoll""x";', 'unexpected """ in test.conf:1');
  lexFails("use 'a''b';", `unexpected "'" in test.conf:1`);
});

test('a `}` right after a closing quote ends the block (the parser then rejects the directive)', () => {
  // nginx says `unexpected "}"` from the lexer; weir's parser says the same for a
  // directive without `;`, at the same line.
  assert.deepEqual(lex('use "epoll"}').map((t) => t[0]), ['word', 'word', '}']);
});

test('a quote inside a word is an ordinary character', () => {
  assert.deepEqual(words(`a"b c'd"`), [`a"b`, `c'd"`]);
});

test('an unterminated quoted string is an unexpected end of file at the last line', () => {
  lexFails('user "abc\n\n', 'unexpected end of file, expecting ";" or "}" in test.conf:3');
  lexFails("a\n\n\nuser 'a\nb\nc", 'unexpected end of file, expecting ";" or "}" in test.conf:6');
});

test('$var and ${var} are part of words; the braces of ${var} do not open a block', () => {
  assert.deepEqual(lex('root /x/$host/${uri}y;'), [
    ['word', 'root', false, 1], ['word', '/x/$host/${uri}y', false, 1], [';', ';', false, 1],
  ]);
  assert.deepEqual(words('return 200 ${a}${b};'), ['return', '200', '${a}${b}']);
  assert.deepEqual(words('set $a ${b} {'), ['set', '$a', '${b}']);
});

test('a `{` that does not follow `$` still opens a block', () => {
  assert.deepEqual(lex('location /a{b').map((t) => [t[0], t[1]]), [
    ['word', 'location'], ['word', '/a'], ['{', '{'], ['word', 'b'],
  ]);
  // An escaped `$` does not make the `{` part of the word.
  assert.deepEqual(lex(String.raw`x \${`).map((t) => [t[0], t[1]]), [['word', 'x'], ['word', '\\$'], ['{', '{']]);
});

test('${ is only special in words: in quotes `$` and braces are plain text', () => {
  assert.deepEqual(words('"${a} {b}"'), ['${a} {b}']);
});

test('${ without a closing brace in a word: the word still ends at a blank (nginx)', () => {
  assert.deepEqual(words('root ${a b};'), ['root', '${a', 'b}']);
  assert.deepEqual(lex('root /x/${host/y;\n}').map((t) => t[0]), ['word', 'word', ';', '}']);
  assert.deepEqual(lex('root ${abc\n').map((t) => t[3]), [1, 1]);
});

test('`}` inside a word is part of it, as in nginx (`a}b` is one word)', () => {
  assert.deepEqual(words('return 200 a}b;'), ['return', '200', 'a}b']);
  assert.deepEqual(words('use epoll}'), ['use', 'epoll}']);
});

test('`#` starts a comment only where a token could start', () => {
  assert.deepEqual(words('a#b c # d e\nf'), ['a#b', 'c', 'f']);
  assert.deepEqual(words('#whole line\n  # indented\nx;#after\ny'), ['x', 'y']);
  assert.deepEqual(words('"#q" \'#s\''), ['#q', '#s']);
  assert.deepEqual(lex('a;#c\nb;').map((t) => t[3]), [1, 1, 2, 2]);
});

test('a comment at the end of the file, without a newline', () => {
  assert.deepEqual(words('a; # end'), ['a']);
  assert.deepEqual(lex('#'), []);
});

test('`;` and braces inside a comment are ignored', () => {
  assert.deepEqual(lex('# a; { }\nb;').map((t) => t[1]), ['b', ';']);
});

test('line numbers count newlines inside multi-line quoted strings', () => {
  const toks = lex('a "one\ntwo\nthree" b;\nc \'x\ny\';\nd;');
  assert.deepEqual(toks.map((t) => [t[1], t[3]]), [
    ['a', 1], ['one\ntwo\nthree', 1], ['b', 3], [';', 3],
    ['c', 4], ['x\ny', 4], [';', 5],
    ['d', 6], [';', 6],
  ]);
});

test('a quoted token has the line where it starts', () => {
  assert.deepEqual(lex('\n\n"a\nb"').map((t) => t[3]), [3]);
});

test('an empty text and a text of blanks have no tokens', () => {
  assert.deepEqual(lex(''), []);
  assert.deepEqual(lex(' \n\t\r\n'), []);
});

test('End is returned again after the end, with the last line', () => {
  const lexer = new Lexer('a\n\n', 'f');
  lexer.next();
  const e1 = lexer.next();
  const e2 = lexer.next();
  assert.equal(e1.kind, TokenKind.End);
  assert.equal(e2.kind, TokenKind.End);
  assert.equal(e2.line, 3);
});

// --- property: printing tokens and lexing them back gives the same tokens ---

const WORD_FIRST = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/.-:=~^*()@!%&+,<>?[]|';
const WORD_REST = WORD_FIRST + '#"\'$';
const wordArb = fc.tuple(
  fc.constantFrom(...WORD_FIRST),
  fc.array(fc.constantFrom(...WORD_REST), { maxLength: 12 }),
).map(([first, rest]) => first + rest.join(''))
  // `$` followed by `{` is the only sequence that changes meaning; `{` is not in the alphabet.
  .filter((w) => !w.endsWith('\\'));

const quotedTextArb = fc.array(
  fc.oneof(
    fc.constantFrom('a', 'Z', '0', ' ', ';', '{', '}', '#', '$', '"', "'", '\\', '\t', '\n', '\r', '(', ')'),
    fc.string({ maxLength: 4 }).filter((s) => !/[\\"'\n\r\t]/.test(s)),
  ),
  { maxLength: 10 },
).map((parts) => parts.join(''));

type Item = { kind: 'word'; value: string } | { kind: 'quoted'; value: string; quote: '"' | "'"; rawNewlines: boolean } | { kind: ';' };

const itemArb: fc.Arbitrary<Item> = fc.oneof(
  wordArb.map((value): Item => ({ kind: 'word', value })),
  fc.record({ value: quotedTextArb, quote: fc.constantFrom<'"' | "'">('"', "'"), rawNewlines: fc.boolean() })
    .map((r): Item => ({ kind: 'quoted', ...r })),
  fc.constant<Item>({ kind: ';' }),
);
const sepArb = fc.constantFrom(' ', '\t', '\n', '  ', ' \n ', '\r\n', '\n# comment ; { }\n');

function printQuoted(value: string, quote: string, rawNewlines: boolean): string {
  let out = quote;
  for (const c of value) {
    if (c === '\\') out += '\\\\';
    else if (c === quote) out += '\\' + quote;
    else if (c === '\t') out += '\\t';
    else if (c === '\r') out += '\\r';
    else if (c === '\n') out += rawNewlines ? '\n' : '\\n';
    else out += c;
  }
  return out + quote;
}

test('property: lexing the printed form of words and quoted strings gives back the tokens and lines', () => {
  fc.assert(fc.property(fc.array(fc.tuple(itemArb, sepArb), { maxLength: 20 }), (items) => {
    let text = '';
    const expected: Tok[] = [];
    const lineNow = (): number => 1 + (text.match(/\n/g)?.length ?? 0);
    for (const [item, sep] of items) {
      if (item.kind === 'word') {
        expected.push(['word', item.value, false, lineNow()]);
        text += item.value;
      } else if (item.kind === 'quoted') {
        expected.push(['word', item.value, true, lineNow()]);
        text += printQuoted(item.value, item.quote, item.rawNewlines);
      } else {
        expected.push([';', ';', false, lineNow()]);
        text += ';';
      }
      text += sep;
    }
    assert.deepEqual(lex(text), expected);
  }), { numRuns: 500 });
});

test('property: a closing quote followed directly by `;` lexes the same as with a blank between', () => {
  fc.assert(fc.property(quotedTextArb, fc.constantFrom('"', "'"), (value, quote) => {
    const q = printQuoted(value, quote, false);
    const tight = lex(`x ${q};`).map((t) => [t[0], t[1], t[2]]);
    const loose = lex(`x ${q} ;`).map((t) => [t[0], t[1], t[2]]);
    assert.deepEqual(tight, loose);
    assert.deepEqual(tight, [['word', 'x', false], ['word', value, true], [';', ';', false]]);
  }), { numRuns: 300 });
});
