// User-Agent families as nginx's ngx_http_process_user_agent reads them (src/http/browser.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BROWSER_CHROME, BROWSER_GECKO, BROWSER_KONQUEROR, BROWSER_MSIE, BROWSER_MSIE6, BROWSER_OPERA, BROWSER_SAFARI, detectBrowser,
} from '../../../src/http/browser.js';

test('MSIE: 4.x and 5.x are msie6; 6.x unless SV1 follows; 7+ is not; the version needs three bytes after "MSIE "', () => {
  assert.equal(detectBrowser('MSIE 5.0'), BROWSER_MSIE | BROWSER_MSIE6);
  assert.equal(detectBrowser('Mozilla/4.0 (compatible; MSIE 4.01; Windows 98)'), BROWSER_MSIE | BROWSER_MSIE6);
  assert.equal(detectBrowser('Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)'), BROWSER_MSIE | BROWSER_MSIE6);
  assert.equal(detectBrowser('Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)'), BROWSER_MSIE);
  assert.equal(detectBrowser('MSIE 7.0'), BROWSER_MSIE);
  assert.equal(detectBrowser('MSIE 10.0'), BROWSER_MSIE);
  assert.equal(detectBrowser('MSIE 5.'), 0, 'MSIE needs 3 bytes of version');
  assert.equal(detectBrowser('msie 5.0'), 0, 'case-sensitive');
});

test('Opera undoes MSIE; Gecko/, Chrome/, Safari/ with Mac OS X, Konqueror in that order', () => {
  assert.equal(detectBrowser('Mozilla/4.0 (compatible; MSIE 5.0; Windows) Opera 6.0'), BROWSER_OPERA);
  assert.equal(detectBrowser('Mozilla/5.0 (X11; Linux) Gecko/20100101 Firefox/120.0'), BROWSER_GECKO);
  assert.equal(detectBrowser('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/120.0 Safari/537.36'), BROWSER_CHROME);
  assert.equal(detectBrowser('Mac OS X Safari/7534.48.3'), BROWSER_SAFARI);
  assert.equal(detectBrowser('Mozilla/5.0 (Windows NT 10.0) Safari/537.36'), 0, 'Safari needs Mac OS X');
  assert.equal(detectBrowser('Mozilla/5.0 (compatible; Konqueror/4.5)'), BROWSER_KONQUEROR);
  assert.equal(detectBrowser('MSIE 6.0 Mac OS X Safari/1'), BROWSER_MSIE | BROWSER_MSIE6, 'MSIE excludes the rest');
  assert.equal(detectBrowser(''), 0);
});
