import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conditionalStatus, etagListMatches, fileEtag, parseRange } from '../../../src/http/range.js';
import { uriExtension } from '../../../src/http/mime.js';

test('parseRange follows ngx_http_range_parse', () => {
  assert.deepEqual(parseRange('bytes=0-4', 10), { kind: 'ranges', ranges: [{ start: 0, end: 5 }] });
  assert.deepEqual(parseRange('BYTES=5-', 10), { kind: 'ranges', ranges: [{ start: 5, end: 10 }] });
  assert.deepEqual(parseRange('bytes=-3', 10), { kind: 'ranges', ranges: [{ start: 7, end: 10 }] });
  assert.deepEqual(parseRange('bytes=-30', 10), { kind: 'ranges', ranges: [{ start: 0, end: 10 }] });
  assert.deepEqual(parseRange('bytes= 1 - 2 , 4-', 10), { kind: 'ranges', ranges: [{ start: 1, end: 3 }, { start: 4, end: 10 }] });
  assert.deepEqual(parseRange('bytes=0-100', 10), { kind: 'ranges', ranges: [{ start: 0, end: 10 }] });
  assert.equal(parseRange('bytes=10-', 10).kind, 'unsatisfiable');
  assert.equal(parseRange('bytes=5-1', 10).kind, 'unsatisfiable');
  assert.equal(parseRange('bytes=x', 10).kind, 'unsatisfiable');
  assert.equal(parseRange('bytes=1-2;', 10).kind, 'unsatisfiable');
  assert.equal(parseRange('bytes=99999999999999999999-', 10).kind, 'unsatisfiable');
  assert.equal(parseRange('items=1-2', 10).kind, 'ignore');
  assert.equal(parseRange('bytes=0-', 0).kind, 'ignore', 'empty entity');
  assert.equal(parseRange('bytes=0-9,0-9', 10).kind, 'ignore', 'more bytes than the entity');
  assert.equal(parseRange('bytes=20-30,0-1', 10).kind, 'ranges', 'unsatisfiable parts are skipped');
});

test('ETag, If-None-Match and If-Modified-Since', () => {
  assert.equal(fileEtag(0x5f5e1000, 255), '"5f5e1000-ff"');
  assert.ok(etagListMatches('"a", "b"', '"b"', false));
  assert.ok(etagListMatches('W/"b"', '"b"', true));
  assert.ok(!etagListMatches('W/"b"', '"b"', false));
  const lm = 1_700_000_000;
  const date = new Date(lm * 1000).toUTCString();
  assert.equal(conditionalStatus({ ifModifiedSince: date }, lm, null, 'exact'), 304);
  assert.equal(conditionalStatus({ ifModifiedSince: new Date((lm + 5) * 1000).toUTCString() }, lm, null, 'exact'), 200);
  assert.equal(conditionalStatus({ ifModifiedSince: new Date((lm + 5) * 1000).toUTCString() }, lm, null, 'before'), 304);
  assert.equal(conditionalStatus({ ifModifiedSince: date }, lm, null, 'off'), 200);
  assert.equal(conditionalStatus({ ifModifiedSince: date, ifNoneMatch: '"x"' }, lm, '"y"', 'exact'), 200);
  assert.equal(conditionalStatus({ ifMatch: '"x"' }, lm, '"y"', 'exact'), 412);
});

test('uriExtension', () => {
  assert.equal(uriExtension('/a/b.tar.gz'), 'gz');
  assert.equal(uriExtension('/a.b/c'), '');
  assert.equal(uriExtension('/a/'), '');
});
