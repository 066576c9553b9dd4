// SsiParser: the tokenizer of ngx_http_ssi_parse. The expected texts and messages were
// checked against nginx 1.22.1 (ssi on, a static file; "text" below is what nginx sent,
// the messages are its error log lines), and a differential fuzz of ~25k generated bodies
// (nginx one buffer, here random chunks) matched output and log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SSI_MAX_PARAMS, SsiParser, type SsiEvent } from '../../../src/http/ssi/ssi-parser.js';

type Norm = string | { command: string; params: Array<[string, string]> } | { error: string };

// Adjacent text events joined: how text is cut into events depends on the chunks.
function norm(events: SsiEvent[]): Norm[] {
  const out: Norm[] = [];
  for (const e of events) {
    if (e.kind === 'text') {
      const s = e.data.toString('latin1');
      if (typeof out[out.length - 1] === 'string') out[out.length - 1] += s;
      else out.push(s);
    } else if (e.kind === 'command') {
      out.push({ command: e.name, params: e.params });
    } else {
      out.push({ error: e.message });
    }
  }
  return out;
}

function run(input: string, chunks: number[] = [], valueLength?: number): Norm[] {
  const buf = Buffer.from(input, 'latin1');
  const p = new SsiParser(valueLength);
  const events: SsiEvent[] = [];
  let at = 0;
  for (const end of [...chunks, buf.length]) {
    events.push(...p.feed(buf.subarray(at, end)));
    at = end;
  }
  events.push(...p.finish());
  return norm(events);
}

const cmd = (command: string, ...params: Array<[string, string]>): Norm => ({ command, params });
const err = (error: string): Norm => ({ error });

test('text passes through as subarrays of the input, without copies', () => {
  const input = Buffer.from('hello <b>world</b> a < b <! <!- <!-- x --> end', 'latin1');
  const p = new SsiParser();
  const events = p.feed(input);
  assert.equal(events.length, 1);
  const e = events[0];
  assert.equal(e.kind, 'text');
  if (e.kind !== 'text') return;
  assert.equal(e.data.buffer, input.buffer);
  assert.equal(e.data.byteOffset, input.byteOffset);
  assert.equal(e.data.length, input.length);
  assert.deepEqual(p.finish(), []);

  const around = Buffer.from('A<!--#x -->B', 'latin1');
  const [a, c, b] = new SsiParser().feed(around);
  assert.ok(a.kind === 'text' && a.data.buffer === around.buffer && a.data.toString() === 'A');
  assert.deepEqual(c, { kind: 'command', name: 'x', params: [] });
  assert.ok(b.kind === 'text' && b.data.buffer === around.buffer && b.data.byteOffset === around.byteOffset + 11);

  assert.deepEqual(new SsiParser().feed(Buffer.alloc(0)), []);
});

test('commands with parameters in both quote styles', () => {
  assert.deepEqual(run('a<!--#include virtual="/x?a=1&b=2" file=\'f.html\' set="" -->b'), [
    'a',
    cmd('include', ['virtual', '/x?a=1&b=2'], ['file', 'f.html'], ['set', '']),
    'b',
  ]);
  // Quotes of the other kind, '>' and "--" are plain bytes inside a value.
  assert.deepEqual(run('<!--#echo a="it\'s" b=\'say "hi"\' c="-->" -->'), [
    cmd('echo', ['a', "it's"], ['b', 'say "hi"'], ['c', '-->']),
  ]);
  // Names take any byte but whitespace, '-' (and '=' for parameters).
  assert.deepEqual(run('<!--#e"c>h!o p<a>r="1"-->'), [cmd('e"c>h!o', ['p<a>r', '1'])]);
  assert.deepEqual(run('<!--#x-->'), [cmd('x')]);
  assert.deepEqual(run('<!--#\xe9t\xe9 v="\xff"-->'), [cmd('\xe9t\xe9', ['v', '\xff'])]);
});

test('escapes: the backslash is kept, the byte after it cannot end the value', () => {
  // nginx resolves escapes later (ngx_http_ssi_evaluate_string), and only in some
  // parameters; echo default='q\'' outputs "q\'".
  assert.deepEqual(run('<!--#echo a="x\\"y" b=\'it\\\'s\' c="\\\\" d="\\$v" e="\\n" f="\\\'" -->'), [
    cmd('echo', ['a', 'x\\"y'], ['b', "it\\'s"], ['c', '\\\\'], ['d', '\\$v'], ['e', '\\n'], ['f', "\\'"]),
  ]);
  // An escaped quote keeps the value open past a "-->".
  assert.deepEqual(run('a<!--#echo var="\\" -->"-->b'), ['a', cmd('echo', ['var', '\\" -->']), 'b']);
});

test('whitespace: space, tab, CR and LF; nothing else', () => {
  const expected = [cmd('echo', ['var', 'x'], ['default', 'D'])];
  assert.deepEqual(run('<!--#echo var="x" default="D" -->'), expected);
  assert.deepEqual(run('<!--# \t\r\necho\tvar =\n"x"\r\ndefault\t=\t\'D\'\n\n-->'), expected);
  assert.deepEqual(run('<!--#echo var="x"default="D"-->'), [
    err('unexpected "d" symbol after "x" value of "var" parameter in "echo" SSI command'),
  ]);
  assert.deepEqual(run('<!--#echo-->'), [cmd('echo')]);
  assert.deepEqual(run('<!--#echo \t -->'), [cmd('echo')]);
  // Form feed is a name byte.
  assert.deepEqual(run('<!--#echo\f-->'), [cmd('echo\f')]);
  // No whitespace inside "<!--#" or "-->".
  assert.deepEqual(run('<!-- #echo -->'), ['<!-- #echo -->']);
  assert.deepEqual(run('<!--#echo - ->x-->y'), [err('unexpected " " symbol in "echo" SSI command'), 'y']);
});

const SPLIT_CASES = [
  'ab<!--#include virtual="/a\\"b" file=\'c\\\'d\' -->ef',
  'x<<!<!-<!--<!--#echo var="v"-->y',
  '<!-- comment --><!--x<!<!-<--#e<',
  'a<!--#echo var x <b>html</b> -- -> ---> -->z',
  'a<!--#echo var="12345678" b="123456789" -->z',
  '<!--#' + 'c'.repeat(33) + ' -->t<!--#-->',
  'q<!--#echo var="x"',
  'q<!--#echo var x',
  'plain<!-',
];

test('the events do not depend on where the chunks are cut', () => {
  for (const input of SPLIT_CASES) {
    const whole = run(input, [], 8);
    for (let i = 0; i <= input.length; i++) {
      assert.deepEqual(run(input, [i], 8), whole, `${JSON.stringify(input)} split at ${i}`);
    }
    const bytes = Array.from({ length: input.length }, (_, i) => i);
    assert.deepEqual(run(input, bytes, 8), whole, `${JSON.stringify(input)} byte by byte`);
  }
});

test('a held tag prefix is emitted once decided, before the next chunk\'s text', () => {
  const p = new SsiParser();
  const first = p.feed(Buffer.from('ab<!'));
  assert.deepEqual(norm(first), ['ab']);
  assert.deepEqual(norm(p.feed(Buffer.from('-'))), []);
  const second = p.feed(Buffer.from('x<!--#y -->'));
  assert.deepEqual(norm(second), ['<!-x', cmd('y')]);
  assert.deepEqual(p.finish(), []);
});

test('near misses are text', () => {
  assert.deepEqual(run('a<!-- comment -->b'), ['a<!-- comment -->b']);
  assert.deepEqual(run('<!--x <!- <!x <x < ! -- # <!--  #x-->'), ['<!--x <!- <!x <x < ! -- # <!--  #x-->']);
  // Each '<' starts over, so a tag right after a near miss is still found.
  assert.deepEqual(run('<<!--#a--><!<!--#b--><!-<!--#c--><!--<!--#d-->'), [
    '<', cmd('a'), '<!', cmd('b'), '<!-', cmd('c'), '<!--', cmd('d'),
  ]);
  // At the end of the body nginx drops a held prefix: "abc<!-" sends "abc".
  assert.deepEqual(run('abc<'), ['abc']);
  assert.deepEqual(run('abc<!'), ['abc']);
  assert.deepEqual(run('abc<!-'), ['abc']);
  assert.deepEqual(run('abc<!--'), ['abc']);
  assert.deepEqual(run('<'), []);
  assert.deepEqual(run('abc<!-x'), ['abc<!-x']);
});

test('error messages, and the "-->" that ends the error', () => {
  const cases: Array<[string, string]> = [
    ['<!--#' + 'c'.repeat(32) + 'X -->', `the "${'c'.repeat(32)}X..." SSI command is too long`],
    ['<!--#echo var-->', 'unexpected "-" symbol after "var" parameter in "echo" SSI command'],
    ['<!--#echo ' + 'p'.repeat(32) + 'X="1" -->', `too long "${'p'.repeat(32)}X..." parameter in "echo" SSI command`],
    ['<!--#echo var x-->', 'unexpected "x" symbol after "var" parameter in "echo" SSI command'],
    ['<!--#echo var -->', 'unexpected "-" symbol after "var" parameter in "echo" SSI command'],
    ['<!--#echo var=x-->', 'unexpected "x" symbol before value of "var" parameter in "echo" SSI command'],
    ['<!--#echo var=-->', 'unexpected "-" symbol before value of "var" parameter in "echo" SSI command'],
    ['<!--#echo var="n"x -->', 'unexpected "x" symbol after "n" value of "var" parameter in "echo" SSI command'],
    ['<!--#echo var="n" -x-->', 'unexpected "x" symbol in "echo" SSI command'],
    ['<!--#echo var="n" --x-->', 'unexpected "x" symbol in "echo" SSI command'],
    ['<!--#echo var\n"-->', 'unexpected """ symbol after "var" parameter in "echo" SSI command'],
  ];
  for (const [tag, message] of cases) {
    assert.deepEqual(run(`a${tag}b`), ['a', err(message), 'b'], tag);
  }
  // Everything up to the next "-->" is swallowed; "--->" is not one: its third '-'
  // starts over.
  assert.deepEqual(run('a<!--#echo var x <b>html</b> -- -> ---> -->z'), [
    'a', err('unexpected "x" symbol after "var" parameter in "echo" SSI command'), 'z',
  ]);
  assert.deepEqual(run('a<!--#echo --->b-->c'), ['a', err('unexpected "-" symbol in "echo" SSI command'), 'c']);
  assert.deepEqual(run('a<!--#echo -- >b--->c'), ['a']);
});

test('value length: ssi_value_length bytes, backslashes counted', () => {
  assert.deepEqual(run('<!--#e v="12345678"-->', [], 8), [cmd('e', ['v', '12345678'])]);
  assert.deepEqual(run('<!--#e v="123456789"-->', [], 8), [
    err('too long "123456789..." value of "v" parameter in "e" SSI command'),
  ]);
  assert.deepEqual(run('<!--#e v="1234567\\\\"-->', [], 8), [
    err('too long "1234567\\\\..." value of "v" parameter in "e" SSI command'),
  ]);
  assert.deepEqual(run('<!--#e v="12345678\\"-->', [], 8), [
    err('too long "12345678\\..." value of "v" parameter in "e" SSI command'),
  ]);
  assert.deepEqual(run('<!--#e v=\'123456\\\'\'-->', [], 8), [cmd('e', ['v', "123456\\'"])]);
  assert.deepEqual(run('<!--#e v="" w="1"-->', [], 0), [
    err('too long "1..." value of "w" parameter in "e" SSI command'),
  ]);
  const v256 = 'v'.repeat(256);
  assert.deepEqual(run(`<!--#e v="${v256}"-->`), [cmd('e', ['v', v256])]);
  assert.deepEqual(run(`<!--#e v="${v256}w"-->`), [
    err(`too long "${v256}w..." value of "v" parameter in "e" SSI command`),
  ]);
});

test('name limits: 32 bytes of command and of parameter name', () => {
  const c32 = 'c'.repeat(32);
  const p32 = 'p'.repeat(32);
  assert.deepEqual(run(`<!--#${c32}-->`), [cmd(c32)]);
  assert.deepEqual(run(`<!--#${c32}- -->`), [err(`unexpected " " symbol in "${c32}" SSI command`)]);
  assert.deepEqual(run(`<!--#x ${p32}="v"-->`), [cmd('x', [p32, 'v'])]);
  assert.deepEqual(run(`<!--#x ${p32}=="v"-->`), [
    err(`unexpected "=" symbol before value of "${p32}" parameter in "x" SSI command`),
  ]);
});

test('parameters: the parser keeps them all; the filter checks SSI_MAX_PARAMS', () => {
  // nginx says "too many SSI command parameters" only after looking the command up.
  assert.equal(SSI_MAX_PARAMS, 16);
  const params = Array.from({ length: 17 }, (_, i): [string, string] => [`p${i}`, `${i}`]);
  const tag = '<!--#echo' + params.map(([k, v]) => ` ${k}="${v}"`).join('') + ' -->';
  assert.deepEqual(run(tag), [cmd('echo', ...params)]);
  // Repeated names are kept as sent, in order.
  assert.deepEqual(run('<!--#x a="1" a=\'2\'-->'), [cmd('x', ['a', '1'], ['a', '2'])]);
});

test('finish: an unterminated command or error is dropped, as nginx does', () => {
  const p = new SsiParser();
  assert.deepEqual(norm(p.feed(Buffer.from('abc<!--#echo var="x"'))), ['abc']);
  assert.equal(p.pendingError, undefined);
  assert.deepEqual(p.finish(), []);

  // nginx has logged the error when it found it, but outputs no errmsg without "-->".
  const q = new SsiParser();
  assert.deepEqual(norm(q.feed(Buffer.from('a<!--#-->b'))), ['a']);
  assert.equal(q.pendingError, 'unexpected ">" symbol in "-" SSI command');
  assert.deepEqual(q.finish(), []);
  assert.equal(q.pendingError, 'unexpected ">" symbol in "-" SSI command');

  const r = new SsiParser();
  r.feed(Buffer.from('<!--#x y -->'));
  assert.equal(r.pendingError, undefined);
  r.feed(Buffer.from('<!--#x y z'));
  assert.equal(r.pendingError, 'unexpected "z" symbol after "y" parameter in "x" SSI command');
  assert.deepEqual(norm(r.feed(Buffer.from('-->'))), [err('unexpected "z" symbol after "y" parameter in "x" SSI command')]);
  assert.equal(r.pendingError, undefined);
});
