// `zone` in upstream and `sticky learn zone=`: nginx's [emerg] messages, and the zone table they share with limit zones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configError } from '../../helpers/config-error.js';

const load = (http: string): string | null => configError(http, 'server { location / { proxy_pass http://u; } }\n');

const up = (body: string, name = 'u'): string => `upstream ${name} { server 127.0.0.1:1; server 127.0.0.1:2; ${body} }`;

test('upstream zone: good configs load; several upstreams may share one zone, named with its size once', () => {
  assert.equal(load(up('zone z 64k;')), null);
  assert.equal(load(`${up('zone z 1m;')} ${up('zone z;', 'v')} ${up('zone z 1m; random two;', 'w')}`), null);
  assert.equal(load(up('zone z;') + ' ' + up('zone z 64k;', 'v')), null, 'the size may come later');
});

test('upstream zone: nginx\'s messages', () => {
  const cases: Array<[string, RegExp]> = [
    [up('zone z 1x;'), /invalid zone size "1x" in FILE:3/],
    [up('zone z 16k;'), /zone "z" is too small in FILE:3/],
    [up('zone "" 1m;'), /invalid zone name "" in FILE:3/],
    [up('zone z;'), /zero size shared memory zone "z"/],
    [`${up('zone z 1m;')} ${up('zone z 2m;', 'v')}`, /the size 2097152 of shared memory zone "z" conflicts with already declared size 1048576/],
    [`limit_req_zone $uri zone=z:1m rate=1r/s; ${up('zone z 1m;')}`, /the shared memory zone "z" is already declared for a different use/],
    [up('zone z 1m 2m;'), /invalid number of arguments in "zone" directive/],
  ];
  for (const [conf, re] of cases) assert.match(load(conf) ?? 'loaded', re, conf);
});

test('sticky learn zone: nginx\'s messages', () => {
  const learn = (args: string): string => up(`sticky learn create=$upstream_cookie_s lookup=$cookie_s ${args};`);
  assert.equal(load(learn('zone=s:1m timeout=1h header')), null);
  const cases: Array<[string, RegExp]> = [
    [learn(''), /"zone" parameter is not specified/],
    [learn('zone=s'), /zone size is not specified/],
    [learn('zone=:1m'), /zone name is not specified/],
    [learn('zone=s:1x'), /invalid zone size/],
    [learn('zone=s:16k'), /zone is too small/],
    [learn('zone=s:1m zone=t:1m'), /duplicate zone/],
    [learn('zone=s:1m timeout=0'), /invalid timeout/],
    [learn('zone=s:1m timeout=1s timeout=2s'), /duplicate timeout/],
    [learn('zone=s:1m bogus'), /unknown parameter "bogus"/],
    [up('sticky learn create=x lookup=$cookie_s zone=s:1m;'), /missing variable in the "create" parameter/],
    [up('sticky learn create=$upstream_cookie_s zone=s:1m;'), /"lookup" parameter is not specified/],
    [`${learn('zone=s:1m')} ${up('sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=s:1m;', 'v')}`,
      /sticky zone "s" is already used in upstream "u"/],
    [`${learn('zone=s:1m')} ${up('zone s 1m;', 'v')}`, /the shared memory zone "s" is already declared for a different use/],
  ];
  for (const [conf, re] of cases) assert.match(load(conf) ?? 'loaded', re, conf);
});
