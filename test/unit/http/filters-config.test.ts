// The filters' config errors as nginx words them (sub_filter, charset, charset_map), and the
// charset recoders: one-byte maps, to and from utf-8 with sequences cut between chunks,
// invalid UTF-8, code points a map lacks; and nginx's shipped maps (conf/koi-utf...) load.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfigText } from '../../../src/config/loader.js';
import { CharsetMap } from '../../../src/http/charset-tables.js';
import { builtinModules } from '../../../src/modules.js';

function emerg(http: string, loc = ''): string {
  try {
    loadConfigText(`events {} http { access_log off; ${http} server { listen 127.0.0.1:1; location / { ${loc} } } }`, '/tmp', builtinModules);
    return '';
  } catch (e) {
    return (e as Error).message;
  }
}

test('sub_filter: an empty pattern, too many patterns', () => {
  assert.equal(emerg('', 'sub_filter "" x;'), 'empty search pattern in inline:1');
  const many = Array.from({ length: 256 }, (_, i) => `sub_filter p${i} x;`).join(' ');
  assert.match(emerg('', many), /^number of search patterns exceeds 255 in inline:1$/);
  assert.equal(emerg('', Array.from({ length: 255 }, (_, i) => `sub_filter p${i} x;`).join(' ')), '');
  assert.match(emerg('', 'sub_filter a;'), /invalid number of arguments in "sub_filter" directive/);
  assert.match(emerg('', 'sub_filter_types text/a; sub_filter_types text/b;'), /"sub_filter_types" directive is duplicate/);
  assert.match(emerg('', 'sub_filter $nosuch x;'), /unknown "nosuch" variable/);
});

test('charset: a pair with no map, maps that are wrong', () => {
  assert.equal(emerg('', 'charset koi8-r; source_charset windows-1251;'), 'no "charset_map" between the charsets "windows-1251" and "koi8-r"');
  assert.equal(emerg('charset_map a b { 41 42; }', 'charset b; source_charset a;'), '');
  // Either way of a map will do.
  assert.equal(emerg('charset_map a b { 41 42; }', 'charset a; source_charset b;'), '');
  // With a variable the pair is known only per response: no check at startup.
  assert.equal(emerg('', 'charset $arg_c; source_charset koi8-r;'), '');
  assert.match(emerg('charset_map a a { }'), /"charset_map" between the same charsets "a" and "a"/);
  assert.match(emerg('charset_map utf-8 a { }'), /"charset_map" with "utf-8" charset should be given in the second column/);
  assert.match(emerg('charset_map a b { } charset_map B A { }'), /duplicate "charset_map" between "B" and "A"/);
  assert.match(emerg('charset_map a b { 41; }'), /^invalid parameters number in inline:1$/);
  assert.match(emerg('charset_map a b { 1FF 41; }'), /invalid value "1FF"/);
  assert.match(emerg('charset_map a b { zz 41; }'), /invalid value "zz"/);
  assert.match(emerg('charset_map a utf-8 { 80 E282AC00; }'), /invalid value "E282AC00"/);
  assert.match(emerg('charset_map a utf-8 { 80 F09F9880; }'), /invalid value "F09F9880"/);
  assert.match(emerg('', 'charset a; charset b;'), /"charset" directive is duplicate/);
  assert.match(emerg('charset_map a b { }', ''), /^$/);
  assert.match(emerg('', 'charset_map a b { }'), /"charset_map" directive is not allowed here/);
});

test("nginx's shipped maps load and recode", () => {
  const conf = join(import.meta.dirname, '../../../../conf');
  const text = ['koi-utf', 'koi-win', 'win-utf'].map((f) => readFileSync(join(conf, f), 'utf8')).join('\n');
  assert.equal(emerg(text, 'charset utf-8; source_charset koi8-r;'), '');
  assert.equal(emerg(text, 'charset windows-1251; source_charset koi8-r;'), '');
});

const bytes = (...b: number[]): Buffer => Buffer.from(b);

test('one-byte maps: both ways, unnamed bytes become ?, the input is not changed', () => {
  const m = new CharsetMap(0, 1, false);
  m.setByte(0x58, 0x59);
  m.setByte(0xc1, 0xe1);
  const input = Buffer.from('aXb\xc1\xfe', 'latin1');
  assert.equal(m.recoder(true).recode(input).toString('latin1'), 'aYb\xe1?');
  assert.equal(input.toString('latin1'), 'aXb\xc1\xfe');
  assert.equal(m.recoder(false).recode(Buffer.from('Y\xe1X', 'latin1')).toString('latin1'), 'X\xc1X');
  const plain = Buffer.from('plain');
  assert.equal(m.recoder(true).recode(plain), plain);
});

test('to and from utf-8: sequences cut between chunks, invalid bytes, code points with no byte', () => {
  const m = new CharsetMap(0, 1, true);
  m.setUtf8(0xc1, Buffer.from('а'), 0x430);
  m.setUtf8(0x80, Buffer.from('€'), 0x20ac);
  assert.equal(m.recoder(true).recode(Buffer.from('x\xc1\x80\xfe', 'latin1')).toString('utf8'), 'xа€?');
  const from = m.recoder(false);
  const euro = Buffer.from('€');
  // Split inside the 3-byte sequence: nothing of it goes out until it is whole.
  assert.equal(from.recode(Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)])).toString('latin1'), 'a');
  assert.equal(from.recode(euro.subarray(1, 2)).length, 0);
  assert.equal(from.recode(Buffer.concat([euro.subarray(2), Buffer.from('а')])).toString('latin1'), '\x80\xc1');
  // A code point the map lacks is an entity; one past BMP too; bytes that are no UTF-8 are '?'.
  const r = m.recoder(false);
  assert.equal(r.recode(Buffer.from('Ω😀')).toString('latin1'), '&#937;&#128512;');
  assert.equal(r.recode(bytes(0x80, 0xc0, 0xaf, 0x41)).toString('latin1'), '???A');
  assert.equal(r.recode(bytes(0xe2, 0x41, 0x42)).toString('latin1'), '?B');
  // Overlong forms are invalid.
  assert.equal(r.recode(bytes(0xe0, 0x80, 0xaf)).toString('latin1'), '?');
  // Every split of a mixed body gives the same output.
  const body = Buffer.from('aа€Ωb😀c', 'utf8');
  const whole = m.recoder(false).recode(body).toString('latin1');
  for (let cut = 1; cut < body.length; cut++) {
    const s = m.recoder(false);
    assert.equal(Buffer.concat([s.recode(body.subarray(0, cut)), s.recode(body.subarray(cut))]).toString('latin1'), whole);
  }
});
