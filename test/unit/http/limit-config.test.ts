// limit_req / limit_conn / their zones: nginx's [emerg] messages for bad configs, with file:line where nginx gives one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configError } from '../../helpers/config-error.js';

const load = configError;

test('a good config loads', () => {
  assert.equal(load(`limit_req_zone $binary_remote_addr zone=one:1m rate=10r/m;
limit_conn_zone $binary_remote_addr$uri zone=c:64k;
server { location / { limit_req zone=one burst=5 nodelay; limit_req zone=two delay=2 burst=3; limit_conn c 10; limit_req_status 429; limit_conn_status 599; limit_req_log_level info; limit_conn_dry_run on; } }
limit_req_zone $uri zone=two:32k rate=1r/s;`), null);
});

test('limit_req_zone / limit_conn_zone: nginx\'s messages', () => {
  const cases: Array<[string, RegExp]> = [
    ['limit_req_zone $uri zone=one rate=1r/s;', /invalid zone size "zone=one" in FILE:3/],
    ['limit_req_zone $uri zone=one:1x rate=1r/s;', /invalid zone size "zone=one:1x"/],
    ['limit_req_zone $uri zone=one:16k rate=1r/s;', /zone "zone=one:16k" is too small/],
    ['limit_req_zone $uri zone=one:1m rate=0r/s;', /invalid rate "rate=0r\/s"/],
    ['limit_req_zone $uri zone=one:1m rate=xr/m;', /invalid rate "rate=xr\/m"/],
    ['limit_req_zone $uri zone=one:1m rate=1r/s sync;', /invalid number of arguments in "limit_req_zone" directive/],
    ['limit_req_zone $uri zone=one:1m sync;', /invalid parameter "sync"/],
    ['limit_req_zone $uri rate=1r/s nope=1;', /invalid parameter "nope=1"/],
    ['limit_req_zone $uri rate=1r/s;', /invalid number of arguments in "limit_req_zone"/],
    ['limit_req_zone $uri zone=:1m rate=1r/s;', /"limit_req_zone" must have "zone" parameter/],
    ['limit_req_zone $uri zone=one:1m rate=1r/s; limit_req_zone $host zone=one:1m rate=1r/s;', /limit_req_zone "one" is already bound to key "\$uri"/],
    ['limit_req_zone $uri zone=one:1m rate=1r/s; limit_conn_zone $uri zone=one:1m;', /the shared memory zone "one" is already declared for a different use/],
    ['limit_req_zone $uri zone=one:1m rate=1r/s; server { limit_req zone=one; } limit_req_zone $host zone=one:2m rate=1r/s;', /the size 2097152 of shared memory zone "one" conflicts with already declared size 1048576/],
    ['limit_conn_zone $uri zone=c;', /invalid zone size "zone=c"/],
    ['limit_conn_zone $uri c:1m;', /invalid parameter "c:1m"/],
    ['server { limit_req_zone $uri zone=one:1m rate=1r/s; }', /"limit_req_zone" directive is not allowed here/],
  ];
  for (const [conf, re] of cases) assert.match(load(conf) ?? 'loaded', re, conf);
});

test('limit_req / limit_conn: nginx\'s messages', () => {
  const z = 'limit_req_zone $uri zone=one:1m rate=1r/s; limit_conn_zone $uri zone=c:1m;';
  const cases: Array<[string, RegExp]> = [
    ['server { limit_req zone=one burst=0; }', /invalid burst value "burst=0"/],
    ['server { limit_req zone=one burst=x; }', /invalid burst value "burst=x"/],
    ['server { limit_req zone=one delay=-1; }', /invalid delay value "delay=-1"/],
    ['server { limit_req zone=one later; }', /invalid parameter "later"/],
    ['server { limit_req burst=1; }', /"limit_req" must have "zone" parameter/],
    ['server { limit_req zone=one; limit_req zone=one burst=2; }', /"limit_req" directive is duplicate/],
    ['server { limit_req_status 399; }', /value must be between 400 and 599/],
    ['server { limit_req_status 503; limit_req_status 503; }', /"limit_req_status" directive is duplicate/],
    ['server { limit_req_log_level debug; }', /invalid value "debug"/],
    ['server { limit_req_dry_run maybe; }', /it must be "on" or "off"/],
    ['server { limit_conn c 0; }', /invalid number of connections "0"/],
    ['server { limit_conn c 65536; }', /connection limit must be less 65536/],
    ['server { limit_conn c 1; limit_conn c 2; }', /"limit_conn" directive is duplicate/],
    ['server { limit_conn_status 600; }', /value must be between 400 and 599/],
    ['server { limit_conn one 1; }', /the shared memory zone "one" is already declared for a different use/],
  ];
  for (const [conf, re] of cases) assert.match(load(`${z}\n${conf}`) ?? 'loaded', re, conf);
});

test('a zone used but never declared: nginx\'s "zero size shared memory zone", without a position', () => {
  const msg = load('server { location / { limit_req zone=nowhere; } }');
  assert.match(msg ?? 'loaded', /zero size shared memory zone "nowhere"/);
  assert.doesNotMatch(msg ?? '', /FILE/);
  assert.match(load('server { limit_conn nowhere 1; }') ?? 'loaded', /zero size shared memory zone "nowhere"/);
});
