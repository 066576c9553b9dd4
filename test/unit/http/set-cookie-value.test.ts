// $upstream_cookie_NAME: one Set-Cookie field read as ngx_http_parse_set_cookie_lines reads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setCookieValue } from '../../../src/http/variables-core.js';

test('setCookieValue: NAME, spaces, "=", spaces, then the value up to ";"', () => {
  assert.equal(setCookieValue('tc=content; path=/', 'tc'), 'content');
  assert.equal(setCookieValue('tc = content', 'tc'), 'content');
  assert.equal(setCookieValue('TC=x', 'tc'), 'x', 'the name matches in any case');
  assert.equal(setCookieValue('tc= ;', 'tc'), '');
  assert.equal(setCookieValue('tc==;abc', 'tc'), '=');
  assert.equal(setCookieValue('tc=first;tc=second', 'tc'), 'first');
});

test('setCookieValue: not NAME\'s cookie', () => {
  assert.equal(setCookieValue('tc\t=\tx', 'tc'), undefined, 'only spaces may surround "="');
  assert.equal(setCookieValue('tcx=1', 'tc'), undefined);
  assert.equal(setCookieValue('tc', 'tc'), undefined, 'a field no longer than NAME');
  assert.equal(setCookieValue('tc ', 'tc'), undefined, 'no "="');
  assert.equal(setCookieValue('a=1; tc=2', 'tc'), undefined, 'only the first cookie of a field counts');
});
