// nginx keeps two texts per code: the status line's (ngx_http_status_lines)
// and the built-in page's title (ngx_http_error_pages).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { specialPage, statusLine } from '../../../src/http/special-response.js';

function title(status: number): string | null {
  const page = specialPage(status, 'off');
  if (page === null) return null;
  return /<title>(.*)<\/title>/.exec(page.toString('latin1'))![1]!;
}

test('status line and page title differ where nginx differs', () => {
  assert.equal(statusLine(302), '302 Moved Temporarily');
  assert.equal(title(302), '302 Found');
  assert.equal(statusLine(401), '401 Unauthorized');
  assert.equal(title(401), '401 Authorization Required');
  assert.equal(statusLine(301), '301 Moved Permanently');
  assert.equal(title(301), '301 Moved Permanently');
  assert.equal(statusLine(503), '503 Service Temporarily Unavailable');
  assert.equal(title(504), '504 Gateway Time-out');
});

test('codes nginx has no line or page for: bare status line, no body', () => {
  for (const code of [417, 418, 422, 425, 426, 428, 431, 506]) {
    assert.equal(statusLine(code), `${code} `, `status line of ${code}`);
    assert.equal(title(code), null, `page of ${code}`);
  }
  assert.equal(statusLine(407), '407 Proxy Authentication Required');
  assert.equal(title(429), '429 Too Many Requests');
  assert.equal(statusLine(99), '099 ', 'three digits, as %03ui');
});

test("nginx's own codes are pages of 400, and 498 shows the 404 page", () => {
  assert.equal(title(494), '400 Request Header Or Cookie Too Large');
  assert.equal(title(497), '400 The plain HTTP request was sent to HTTPS port');
  assert.equal(title(498), '404 Not Found');
  assert.equal(specialPage(304, 'off'), null);
  assert.equal(specialPage(204, 'off'), null);
});
