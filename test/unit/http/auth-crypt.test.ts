// auth_basic's pieces: the password hashes (ngx_crypt and libxcrypt's crypt),
// the user file scan, and the Authorization header parse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crypt, decodeBase64Strict } from '../../../src/http/crypt.js';
import { findUserHash } from '../../../src/http/user-file.js';
import { parseBasicCredentials } from '../../../src/http/basic-credentials.js';

const LONG = 'a very long password that is longer than 16 chars';

// Each expected value is what crypt(3) of libxcrypt (or nginx's own code) gives.
const VECTORS: ReadonlyArray<readonly [string, string, string]> = [
  ['password', 'salt', 'sa3tHJ3/KuYvI'],
  ['', 'salt', 'saFLGt/QKS6yw'],
  ['password', 'ab', 'abJnggxhB/yWI'],
  [LONG, 'ab', 'abMZ2eiG/I/wg'],
  ['password', '$1$salt$', '$1$salt$qJH7.N4xYta3aEG/dfqo/0'],
  [LONG, '$1$', '$1$$vN6xi7ae9E34JnzE4015k/'],
  ['password', '$1$12345678901$', '$1$12345678$o2n/JiO/h5VviOInWJ4OQ/'],
  ['password', '$5$saltstring', '$5$saltstring$OH4IDuTlsuTYPdED1gsuiRMyTAwNlRWyA6Xr3I4/dQ5'],
  [LONG, '$5$saltstring', '$5$saltstring$/i7H27j90wJx3dLoNRThXrqYyO5PsRak43ThQu7tPLC'],
  ['password', '$5$rounds=1000$abc', '$5$rounds=1000$abc$chB2229SaEAMndXolPyqp1RFge2UaeCAJVGEAvqr4M3'],
  ['password', '$6$saltstring', '$6$saltstring$adDbXsJjcDlq2662QPgd.tkSOVmnG9Tt3oXl4HR60SusC3AGjirnDenVZp3DGwLwqy6iYKCzannhaX9DR72nN1'],
  ['', '$6$saltstring', '$6$saltstring$kyGrqt6gmjAdtFLPrflEFifSYLCWWq1pyx95SvqinLDy2UHmj0sTF0MSLMwxPFZc3tu5kQckI8fks0zOPda3n1'],
  ['password', '$2b$04$abcdefghijklmnopqrstuu', '$2b$04$abcdefghijklmnopqrstuughE8Ev8uGFaUgY2cNEySvxngrb/Jzdm'],
  [LONG, '$2b$04$abcdefghijklmnopqrstuu', '$2b$04$abcdefghijklmnopqrstuuIJp/P4J68TxoDOjntueAFUkHf7VsWVq'],
  ['', '$2y$05$CCCCCCCCCCCCCCCCCCCCC.', '$2y$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy'],
  ['password', '$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.', '$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.'],
  ['password', '{PLAIN}password', '{PLAIN}password'],
  ['password', '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g='],
  ['password', '{SSHA}yI6cZwQadOA1e+/f+T+H3eCQQhRzYWx0', '{SSHA}yI6cZwQadOA1e+/f+T+H3eCQQhRzYWx0'],
];

test('crypt: every format gives what crypt(3) / nginx gives', () => {
  for (const [key, salt, want] of VECTORS) assert.equal(crypt(key, salt), want, `${salt} / ${key}`);
});

test('crypt: a wrong password never matches', () => {
  for (const [, salt, want] of VECTORS) assert.notEqual(crypt('wrong', salt), want, salt);
});

test('crypt: salts crypt() cannot use give the failure token, never the hash', () => {
  for (const salt of ['', 'a', '!!', ':x', '$6$rounds=10$x', '$5$rounds=0999$x', '$2b$03$abcdefghijklmnopqrstuu', '$2b$04$short', '$y$j9T$x', '_J9..salt']) {
    const got = crypt('password', salt);
    assert.match(got, /^\*[01]$/, salt);
    assert.notEqual(got, salt);
  }
  // The token is never the stored string itself.
  assert.equal(crypt('x', '*0'), '*1');
});

test('crypt: broken nginx formats do not match and do not throw', () => {
  assert.notEqual(crypt('1', '$apr1$'), '$apr1$');
  for (const h of ['{SSHA}_____wQadOA1e+/f+T+H3eCQQhRzYWx0', '{SSHA}Zm9vCg==', '{SSHA}', '{SHA}_____Mm5Pz8GgiULbPgzG37mj9g=', '{SHA}']) {
    assert.notEqual(crypt('password', h), h, h);
  }
  // A key ends at its NUL, as a C string.
  assert.equal(crypt('password\0junk', '{PLAIN}password'), '{PLAIN}password');
});

test('decodeBase64Strict: the standard alphabet up to the first =', () => {
  assert.equal(decodeBase64Strict('dXNlcjpzZWNyZXQ=')?.toString(), 'user:secret');
  assert.equal(decodeBase64Strict('dXNlcjpzZWNyZXQ=garbage')?.toString(), 'user:secret');
  assert.equal(decodeBase64Strict('dXNlc-pz'), null);
  assert.equal(decodeBase64Strict('dXNlc'), null); // 5 characters: len % 4 == 1
  assert.equal(decodeBase64Strict('')?.length, 0);
});

test('findUserHash: nginx\'s scan of the user file', () => {
  const file = [
    '# comment:user:{PLAIN}no',
    '',
    'broken line without a colon',
    'userx:{PLAIN}other',
    'user:{PLAIN}first:comment',
    'user:{PLAIN}second',
    '\ruser:{PLAIN}cr-line',
    'crlf:{PLAIN}value\r',
    'last:{PLAIN}no-newline',
  ].join('\n');
  assert.equal(findUserHash(file, 'user'), '{PLAIN}first');
  assert.equal(findUserHash(file, 'userx'), '{PLAIN}other');
  assert.equal(findUserHash(file, 'crlf'), '{PLAIN}value');
  assert.equal(findUserHash(file, 'last'), '{PLAIN}no-newline');
  assert.equal(findUserHash(file, 'use'), null);
  assert.equal(findUserHash(file, 'broken line without a colon'), null);
  assert.equal(findUserHash(file, '# comment'), null);
  assert.equal(findUserHash('', 'user'), null);
  assert.equal(findUserHash('user:', 'user'), '');
  assert.equal(findUserHash('user', 'user'), null);
});

test('parseBasicCredentials: what ngx_http_auth_basic_user accepts', () => {
  const b64 = (s: string): string => Buffer.from(s, 'latin1').toString('base64');
  assert.deepEqual(parseBasicCredentials(`Basic ${b64('user:secret')}`), { user: 'user', password: 'secret' });
  assert.deepEqual(parseBasicCredentials(`bAsIc    ${b64('user:se:cret')}`), { user: 'user', password: 'se:cret' });
  assert.deepEqual(parseBasicCredentials(`Basic ${b64('user:')}`), { user: 'user', password: '' });
  for (const bad of [undefined, '', 'Basic', 'Basic ', 'Basic    ', 'Bearer abc', 'Basicx dXNlcjpzZWNyZXQ=',
    `Basic ${b64(':secret')}`, `Basic ${b64('nocolon')}`, 'Basic !!!!', 'Basic dXNlc', '\u00ff\u0000garbage']) {
    assert.equal(parseBasicCredentials(bad), null, String(bad));
  }
});
