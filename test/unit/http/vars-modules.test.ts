// The pieces of geo, split_clients, userid and secure_link that must match
// nginx's to the bit: MurmurHash2, percent parsing, the radix tree, the cookie
// parser, the cookie time and nginx's strict base64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RadixTree } from '../../../src/http/geo-module.js';
import { decodeBase64, decodeBase64Url, encodeBase64 } from '../../../src/http/ngx-base64.js';
import { murmurHash2, parsePercent } from '../../../src/http/split-clients-module.js';
import { findCookie } from '../../../src/http/userid-module.js';
import { cookieTime } from '../../../src/time-format.js';

test('murmurHash2 is ngx_murmur_hash2 (values from nginx\'s C code), bytes above 0x7f included', () => {
  const cases: Array<[string, number]> = [
    ['', 0], ['a', 2456313694], ['ab', 446775395], ['abc', 324500635], ['abcd', 646393889],
    ['127.0.0.1', 3054706065], ['1', 1228156847], ['20', 3866958504], ['\xff\xfe\x80zz', 2546710981],
  ];
  for (const [s, h] of cases) assert.equal(murmurHash2(s), h, JSON.stringify(s));
});

test('parsePercent is ngx_atofp(.., 2): at most two decimals, in hundredths', () => {
  assert.equal(parsePercent('51.2'), 5120);
  assert.equal(parsePercent('0.01'), 1);
  assert.equal(parsePercent('100'), 10000);
  assert.equal(parsePercent('50.'), 5000);
  assert.equal(parsePercent('.5'), 50);
  assert.equal(parsePercent('1.234'), -1);
  assert.equal(parsePercent('1.2.3'), -1);
  assert.equal(parsePercent('1e2'), -1);
  assert.equal(parsePercent(''), -1);
});

test('RadixTree: longest prefix wins; a prefix twice is busy; delete leaves longer and shorter ones', () => {
  const t = new RadixTree(32);
  assert.equal(t.find(0x0a000001), undefined);
  assert.ok(t.insert(0, 0, 'all'));
  assert.ok(t.insert(0x0a000000, 8, 'ten'));
  assert.ok(t.insert(0x0a010000, 16, 'ten-one'));
  assert.ok(t.insert(0xffffffff, 32, 'none'));
  assert.equal(t.insert(0x0a000000, 8, 'again'), false);
  assert.equal(t.find(0x0a010203), 'ten-one');
  assert.equal(t.find(0x0a020304), 'ten');
  assert.equal(t.find(0x0b000000), 'all');
  assert.equal(t.find(0xffffffff), 'none');
  assert.ok(t.delete(0x0a000000, 8), 'an inner node loses its value');
  assert.equal(t.find(0x0a020304), 'all');
  assert.equal(t.find(0x0a010203), 'ten-one');
  assert.equal(t.delete(0x0a000000, 8), false, 'twice: nothing to delete');
  assert.equal(t.delete(0x0c000000, 8), false);
  assert.ok(t.delete(0x0a010000, 16), 'a leaf goes with its empty parents');
  assert.equal(t.find(0x0a010203), 'all');
  assert.ok(t.insert(0x0a000000, 8, 'back'), 'the pruned path can be built again');
  assert.equal(t.find(0x0a010203), 'back');

  const t6 = new RadixTree(128);
  const a = new Uint8Array(16); a[0] = 0x20; a[1] = 0x01; a[2] = 0x0d; a[3] = 0xb8;
  const one = new Uint8Array(16); one[15] = 1;
  t6.insert(new Uint8Array(16), 0, 'world');
  t6.insert(a, 32, 'doc');
  t6.insert(one, 128, 'loopback');
  const b = a.slice(); b[15] = 7;
  assert.equal(t6.find(b), 'doc');
  assert.equal(t6.find(one), 'loopback');
  const two = one.slice(); two[15] = 2;
  assert.equal(t6.find(two), 'world');
});

test('findCookie is ngx_http_parse_cookie_lines: any case, spaces around "=", first line that has it', () => {
  assert.deepEqual(findCookie(['a=1; uid=XYZ; b=2'], 'uid'), ['a=1; uid=XYZ; b=2', 'XYZ']);
  assert.deepEqual(findCookie(['UID = v w ;x=1'], 'uid'), ['UID = v w ;x=1', 'v w ']);
  assert.equal(findCookie(['uidx=1; xuid=2'], 'uid'), null);
  assert.deepEqual(findCookie(['a=1', 'uid=2', 'uid=3'], 'uid'), ['uid=2', '2']);
  assert.deepEqual(findCookie(['uid='], 'uid'), ['uid=', '']);
  assert.equal(findCookie(['ui'], 'uid'), null);
});

test('cookieTime is ngx_http_cookie_time: two-digit years up to 2037, four after', () => {
  assert.equal(cookieTime(2145916555), 'Thu, 31-Dec-37 23:55:55 GMT');
  assert.equal(cookieTime(0), 'Thu, 01-Jan-70 00:00:00 GMT');
  assert.equal(cookieTime(2208988800), 'Sun, 01-Jan-2040 00:00:00 GMT');
});

test('nginx base64: refuses bytes out of the alphabet and 4n+1 lengths, stops at "="', () => {
  const out = new Uint8Array(18);
  assert.equal(decodeBase64('q+5vpkjBkRXXtkUMXiJVHA==', out), 16);
  assert.equal(decodeBase64('q-5vpkjBkRXXtkUMXiJVHA==', out), -1);
  assert.equal(decodeBase64Url('q-5vpkjBkRXXtkUMXiJVHA', out), 16);
  assert.equal(decodeBase64Url('q+5vpkjBkRXXtkUMXiJVHA', out), -1);
  assert.equal(decodeBase64Url('BADHASHLENGTH', out), -1, '13 characters');
  assert.equal(decodeBase64('QUJD=garbage!', out), 3, 'what follows "=" is not read');
  assert.equal(Buffer.from(out.subarray(0, 3)).toString(), 'ABC');
  assert.equal(decodeBase64('QUJDRA', new Uint8Array(3)), -1, 'too long for the buffer');
  assert.equal(encodeBase64(new Uint8Array([0xff, 0xfe, 0xfd, 0])), '//79AA==');
});
