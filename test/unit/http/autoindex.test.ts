// autoindex's html cells and escapes, as nginx 1.22 printed them for the same names
// (the expected strings were taken from nginx's own output).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareEntries, escapeJson, htmlName, htmlSize, utf8Length, type Entry } from '../../../src/http/autoindex-module.js';

const u8 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

function entry(name: string, dir = false, size = 0): Entry {
  return { name, bytes: Buffer.from(name, 'latin1'), dir, file: !dir, mtime: 0, size };
}

test('names: escaped link, cut at 50 with ..&gt;, a slash for directories, padding', () => {
  assert.equal(htmlName(entry('a b'), false), '<a href="a%20b">a b</a>' + ' '.repeat(47));
  assert.equal(htmlName(entry('<&>"x'), false), '<a href="%3C%26%3E%22x">&lt;&amp;&gt;&quot;x</a>' + ' '.repeat(45));
  assert.equal(htmlName(entry('q'.repeat(60)), false), `<a href="${'q'.repeat(60)}">${'q'.repeat(47)}..&gt;</a>`);
  assert.equal(htmlName(entry('r'.repeat(50)), false), `<a href="${'r'.repeat(50)}">${'r'.repeat(50)}</a>`);
  assert.equal(htmlName(entry('s'.repeat(49)), false), `<a href="${'s'.repeat(49)}">${'s'.repeat(49)}</a> `);
  assert.equal(htmlName(entry('d'.repeat(49), true), false), `<a href="${'d'.repeat(49)}/">${'d'.repeat(49)}/</a>`);
  assert.equal(htmlName(entry('e'.repeat(50), true), false), `<a href="${'e'.repeat(50)}/">${'e'.repeat(50)}</a>`);
  assert.equal(htmlName(entry('>'.repeat(60)), false), `<a href="${'%3E'.repeat(60)}">${'&gt;'.repeat(47)}..&gt;</a>`);
});

test('utf-8 names count characters, and are cut on a character', () => {
  const f = u8('ф');
  assert.equal(htmlName(entry(u8('<ф>')), true), `<a href="%3C%D1%84%3E">&lt;${f}&gt;</a>` + ' '.repeat(47));
  assert.equal(htmlName(entry(f.repeat(60)), true), `<a href="${'%D1%84'.repeat(60)}">${f.repeat(47)}..&gt;</a>`);
  // without a utf-8 charset the bytes are counted: 30 two-byte characters are 60 bytes, cut at byte 47
  assert.equal(htmlName(entry(f.repeat(30)), false), `<a href="${'%D1%84'.repeat(30)}">${f.repeat(23)}${f[0]}..&gt;</a>`);
  assert.equal(utf8Length(f.repeat(3)), 3);
  assert.equal(utf8Length('\xd1'), 1, 'a cut sequence: the byte length');
  assert.equal(utf8Length('\xc0\x80'), 2, 'an overlong form is not UTF-8');
});

test('sizes: exact, or scaled and rounded as nginx', () => {
  assert.equal(htmlSize(entry('x', false, 42), true), '                 42');
  assert.equal(htmlSize(entry('x', true), true), '                  -');
  assert.equal(htmlSize(entry('x', true), false), '      -');
  assert.equal(htmlSize(entry('x', false, 9999), false), '   9999');
  assert.equal(htmlSize(entry('x', false, 12000), false), '    12K');
  assert.equal(htmlSize(entry('x', false, 10751), false), '    10K');
  assert.equal(htmlSize(entry('x', false, 10752), false), '    11K');
  assert.equal(htmlSize(entry('x', false, 1572864), false), '     2M');
  assert.equal(htmlSize(entry('x', false, 3 * 1024 ** 3), false), '     3G');
});

test('order: directories first, then the bytes of the names', () => {
  const list = [entry('b'), entry('Z', true), entry('a'), entry('\xd1'), entry('B')];
  assert.deepEqual(list.sort(compareEntries).map((e) => e.name), ['Z', 'B', 'a', 'b', '\xd1']);
});

test('json escapes', () => {
  assert.equal(escapeJson('a"b\\c\x01\t'), 'a\\"b\\\\c\\u0001\\t');
  assert.equal(escapeJson("it's <ok>"), "it's <ok>");
});
