// PCRE patterns translated to JS RegExp: what matches in nginx matches in weir, and what
// cannot be translated is refused with nginx's `pcre2_compile() failed:` shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileNginxRegex, pcreGroupNames, PcreError, translatePcre } from '../../../src/http/pcre.js';

const re = (p: string, caseless = false): RegExp => compileNginxRegex(p, caseless);

test('anchors: $ and \\Z also before a final newline, \\z only at the end, \\A at the start', () => {
  assert.ok(re('^/x$').test('/x\n'));
  assert.ok(!re('^/x$').test('/x\n\n'));
  assert.ok(re('\\A/x\\z').test('/x'));
  assert.ok(!re('\\A/x\\z').test('/x\n'));
  assert.ok(re('\\A/x\\Z').test('/x\n'));
  assert.ok(!re('a\\Ab').test('ab'));
});

test('named groups in every PCRE spelling, and their backreferences', () => {
  assert.equal(re('^/(?P<id>\\d+)$').exec('/12')?.groups?.id, '12');
  assert.equal(re("^/(?'id'\\d+)$").exec('/12')?.groups?.id, '12');
  assert.equal(re('^/(?<id>\\d+)$').exec('/12')?.groups?.id, '12');
  assert.ok(re('^(?P<c>.)(?P=c)$').test('aa'));
  assert.ok(re('^(?<c>.)\\k{c}\\g{c}$').test('aaa'));
  assert.ok(!re('^(?P<c>.)(?P=c)$').test('ab'));
  assert.deepEqual(pcreGroupNames('(?P<a>x)(b)(?<c>y)(?\'d\'z)\\(?<no>'), ['a', 'c', 'd']);
  assert.equal(translatePcre('(a)(?:b)(?<n>c)(?=d)', false).captures, 2);
});

test('numbered backreferences and octal escapes read as PCRE reads digits', () => {
  assert.ok(re('^(a)\\1$').test('aa'));
  assert.ok(re('^(a)\\g1\\g{1}\\g{-1}$').test('aaaa'));
  assert.ok(re('^(a)\\10$').test('a\x08'), '\\10 with one group is octal');
  assert.ok(re('^(a)\\1 0$').test('aa 0'));
  assert.ok(re('^\\012$').test('\n'));
  assert.ok(re('^(a)(?:\\1)0$').test('aa0'), 'a digit after a backreference stays a literal');
  assert.ok(re('^(a)\\g{1}0$').test('aa0'));
});

test('\\Q...\\E quotes, and a quantifier after it takes its last character', () => {
  assert.ok(re('^\\Q.a+(b)\\E$').test('.a+(b)'));
  assert.ok(!re('^\\Q.a\\E$').test('xa'));
  assert.ok(re('^\\Qab\\E+$').test('abbb'));
  assert.ok(re('^[\\Q]-\\E]+$').test(']-]'));
  assert.ok(re('^x\\Q.y').test('x.y'), 'an unterminated \\Q runs to the end');
});

test('PCRE\'s ASCII classes: \\s \\h \\v \\R \\N and the dot', () => {
  assert.ok(re('^\\s$').test('\v'));
  assert.ok(!re('^\\s$').test('\xa0'), 'no Unicode spaces in \\s');
  assert.ok(re('^[\\S]$').test('\xa0'));
  assert.ok(re('^\\h$').test('\xa0'));
  assert.ok(re('^\\v$').test('\r'));
  assert.ok(!re('^\\v$').test('v'));
  assert.ok(re('^a\\Rb$').test('a\r\nb'));
  assert.ok(re('^.$').test('\r'), 'PCRE\'s dot matches CR');
  assert.ok(!re('^.$').test('\n'));
  assert.ok(re('(?s)^.$').test('\n'));
  assert.ok(!re('^\\N$').test('\n'));
});

test('character escapes: \\x, \\x{}, \\o{}, \\e, \\a, \\c, and escaped punctuation', () => {
  assert.ok(re('^\\x41\\x{42}\\o{103}\\x4$').test('ABC\x04'));
  assert.ok(re('^\\e\\a\\cA$').test('\x1b\x07\x01'));
  assert.ok(re('^\\-\\@\\#\\ \\/\\"$').test('-@# /"'));
  assert.ok(re('^[\\-\\]\\\\]+$').test('-]\\'));
});

test('POSIX classes in brackets, and brackets PCRE reads differently', () => {
  assert.ok(re('^[[:alpha:][:digit:]_]+$').test('ab_12'));
  assert.ok(!re('^[[:alpha:]]$').test('1'));
  assert.ok(re('^[[:space:]]$').test('\t'));
  assert.ok(re('^[[:punct:]]+$').test('!/[`{~'));
  assert.ok(re('[]a]').test(']'));
  assert.ok(re('[^]a]').test('b'));
  assert.ok(!re('[^]a]').test(']'));
  assert.ok(re('[$]').test('$'));
  assert.ok(re('^[[]$').test('['));
});

test('a brace that starts no quantifier is a literal; {,n} is {0,n}', () => {
  assert.ok(re('^a{$').test('a{'));
  assert.ok(re('^a{x}$').test('a{x}'));
  assert.ok(re('^a}$').test('a}'));
  assert.ok(re('^a{2}$').test('aa'));
  assert.ok(re('^a{,2}$').test(''));
  assert.ok(re('^a{2,}?$').test('aaa'));
});

test('\\p and \\P: general categories and scripts', () => {
  assert.ok(re('^www\\p{N}+$').test('www01'));
  assert.ok(re('^\\pL\\p{^N}\\P{N}$').test('abc'));
  assert.ok(re('^\\p{Latin}$').test('a'));
  assert.ok(re('^\\p{L&}$').test('a'));
  assert.ok(re('^\\p{N}$', true).test('1'));
  assert.equal(translatePcre('\\p{N}', false).flags, 'u');
  assert.equal(translatePcre('a', false).flags, '');
});

test('caseless: the flag, or a leading (?i)', () => {
  assert.ok(re('^/abc$', true).test('/ABC'));
  assert.ok(re('(?i)^/abc$').test('/ABC'));
  assert.ok(!re('^/abc$').test('/ABC'));
});

test('what JS cannot do, and what PCRE refuses, fail as nginx words them', () => {
  const fails = (p: string, message: string): void => {
    assert.throws(() => translatePcre(p, false), (e: unknown) => {
      assert.ok(e instanceof PcreError);
      assert.equal(e.message, message);
      return true;
    });
  };
  fails('(abc', 'pcre2_compile() failed: missing closing parenthesis in "(abc"');
  fails('abc)', 'pcre2_compile() failed: unmatched closing parenthesis in "abc)" at ")"');
  fails('[abc', 'pcre2_compile() failed: missing terminating ] for character class in "[abc"');
  fails('*a', 'pcre2_compile() failed: quantifier does not follow a repeatable item in "*a" at "*a"');
  fails('a\\', 'pcre2_compile() failed: \\ at end of pattern in "a\\"');
  fails('\\i', 'pcre2_compile() failed: unrecognized character follows \\ in "\\i" at "i"');
  fails('(a)\\2', 'pcre2_compile() failed: reference to non-existent subpattern in "(a)\\2"');
  fails('(?P=n)', 'pcre2_compile() failed: reference to non-existent subpattern in "(?P=n)"');
  fails('(?<n>a)(?<n>b)', 'pcre2_compile() failed: two named subpatterns have the same name (PCRE2_DUPNAMES not set) in "(?<n>a)(?<n>b)" at "n>b)"');
  fails('a++', 'pcre2_compile() failed: possessive quantifiers are not supported by weir in "a++" at "+"');
  fails('(?>a)', 'pcre2_compile() failed: an atomic group is not supported by weir in "(?>a)" at "(?>a)"');
  fails('(a)(?1)', 'pcre2_compile() failed: recursion or a subroutine call is not supported by weir in "(a)(?1)" at "(?1)"');
  fails('a(?i)b', 'pcre2_compile() failed: an inline option setting inside the pattern is not supported by weir in "a(?i)b" at "(?i)b"');
  fails('\\Ka', 'pcre2_compile() failed: \\K is not supported by weir in "\\Ka" at "\\Ka"');
  fails('\\p{Nope}', 'pcre2_compile() failed: unknown property name after \\P or \\p in "\\p{Nope}"');
  fails('\\x{100}', 'pcre2_compile() failed: character code point value in \\x{} or \\o{} is too large in "\\x{100}"');
});
