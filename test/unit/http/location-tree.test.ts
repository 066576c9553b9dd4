// nginx location matching: =, prefix, ^~, ~, ~*, @, nesting, captures, auto_redirect, config errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocationTree, LocationConfigError, type LocationSpec } from '../../../src/http/location-tree.js';

type S = LocationSpec<string>;
const L = (modifier: S['modifier'], name: string, children?: S[], autoRedirect?: boolean): S =>
  ({ modifier, name, payload: `${modifier}${modifier ? ' ' : ''}${name}`, children, autoRedirect });

// A config in the spirit of the nginx docs' example plus nesting.
const tree = new LocationTree<string>([
  L('=', '/'),
  L('', '/'),
  L('', '/documents/'),
  L('^~', '/images/'),
  L('~*', '\\.(gif|jpg|jpeg)$'),
  L('', '/api/', [
    L('', '/api/v1/'),
    L('~', '^/api/(?<ver>v\\d+)/users/(\\d+)$'),
    L('^~', '/api/static/', [L('~', '\\.css$')]),
  ]),
  L('~', '^/api/'),
  L('', '/app/', [
    L('~', '\\.php$', [L('~', '^/app/x/')]),
  ]),
  L('~', '\\.php$'),
  L('=', '/exact'),
  L('', '/exact'),
  L('', '/proxy/', undefined, true),
  L('=', '/only/', undefined, true),
  L('', '/only'),
  L('', '/pre'),
  L('', '/pre/', undefined, true),
  L('~', '^/Case$'),
  L('@', '@fallback'),
  L('', '/caf\u00e9/'),
]);

const table: [string, string | null, { redirect?: boolean; caps?: (string | undefined)[]; groups?: Record<string, string> }?][] = [
  ['/', '= /'],
  ['/index.html', '/'],
  ['/documents/document.html', '/documents/'],
  ['/documents/a.jpg', '~* \\.(gif|jpg|jpeg)$', { caps: ['jpg'] }],
  ['/documents/A.JPG', '~* \\.(gif|jpg|jpeg)$', { caps: ['JPG'] }],
  ['/images/1.gif', '^~ /images/'],
  ['/images/', '^~ /images/'],
  ['/image', '/'],
  ['/x.gif', '~* \\.(gif|jpg|jpeg)$'],
  ['/x.gif/y', '/'],
  // nested in /api/: nested regex first, nested ^~ stops only nested regexes
  ['/api/x', '~ ^/api/'],
  ['/api/v1/x', '~ ^/api/'],
  ['/api/v2/users/42', '~ ^/api/(?<ver>v\\d+)/users/(\\d+)$', { caps: ['v2', '42'], groups: { ver: 'v2' } }],
  ['/api/static/a.css', '~ \\.css$'], // the ^~ location's own nested regexes still run
  ['/api/static/a.js', '~ ^/api/'],
  ['/api', '/'],
  // regex location with nested prefix
  ['/app/a.php', '~ \\.php$'],
  ['/app/x/a.php', '~ ^/app/x/'],
  ['/app/a.html', '/app/'],
  ['/other/a.php', '~ \\.php$'],
  // PCRE `$` matches before a final newline (decoded %0A)
  ['/other/a.php\n', '~ \\.php$'],
  ['/other/a.php\n\n', '/'],
  // = joined with a prefix of the same name
  ['/exact', '= /exact'],
  ['/exact/more', '/exact'],
  ['/exactly', '/exact'],
  // auto_redirect: /proxy -> 301 /proxy/
  ['/proxy', '/proxy/', { redirect: true }],
  ['/proxy/', '/proxy/'],
  ['/proxy/a', '/proxy/'],
  // a prefix equal to the uri beats the redirect
  ['/pre', '/pre'],
  ['/pre/', '/pre/'],
  // exact redirect location; the prefix "/only" equal to the uri wins
  ['/only', '/only'],
  ['/only/', '= /only/'],
  ['/only/x', '/only'],
  // case-sensitive ~
  ['/Case', '~ ^/Case$'],
  ['/case', '/'],
  // UTF-8 names match the decoded byte string
  ['/caf\u00c3\u00a9/menu', '/caf\u00e9/'],
  ['/caf\u00e9/menu', '/'],
  // named locations are not reachable by uri
  ['@fallback', null],
];

test('location matching table', () => {
  for (const [uri, expected, opts] of table) {
    const m = tree.find(uri);
    if (expected === null) {
      assert.equal(m, null, uri);
      continue;
    }
    assert.ok(m, `no match for ${JSON.stringify(uri)}`);
    assert.equal(m.payload, expected, JSON.stringify(uri));
    assert.equal(m.redirect, opts?.redirect ?? false, `redirect for ${uri}`);
    if (opts?.caps) assert.deepEqual([...m.captures!].slice(1), opts.caps, `captures for ${uri}`);
    if (opts?.groups) assert.deepEqual({ ...m.captures!.groups }, opts.groups);
  }
  assert.ok(table.length >= 38);
});

test('no location: server-level configuration', () => {
  const t = new LocationTree<string>([L('', '/a/'), L('~', '\\.x$')]);
  assert.equal(t.find('/b'), null);
  assert.equal(t.find('/b.x')?.payload, '~ \\.x$');
});

test('captures come from the last successful regex', () => {
  const t = new LocationTree<string>([
    L('~', '^/(a)/', [L('~', '^/a/(b)$')]),
  ]);
  assert.deepEqual([...t.find('/a/b')!.captures!], ['/a/b', 'b']);
  assert.deepEqual([...t.find('/a/c')!.captures!], ['/a/', 'a']);
});

test('a nested ^~ does not stop regexes of outer levels (nginx)', () => {
  const t = new LocationTree<string>([
    L('', '/a/', [L('^~', '/a/b/'), L('~', 'nested')]),
    L('~', 'outer'),
  ]);
  assert.equal(t.find('/a/b/nested')?.payload, '^~ /a/b/');
  assert.equal(t.find('/a/b/outer')?.payload, '~ outer');
  assert.equal(t.find('/a/nested')?.payload, '~ nested');
});

test('redirect found inside a regex location is served, not redirected (nginx NGX_DONE -> NGX_OK)', () => {
  const t = new LocationTree<string>([L('~', '/r', [L('', '/r/', undefined, true)])]);
  const m = t.find('/r');
  assert.equal(m?.payload, '/r/');
  assert.equal(m?.redirect, false);
});

test('named locations', () => {
  assert.equal(tree.findNamed('@fallback'), '@ @fallback');
  assert.equal(tree.findNamed('@none'), undefined);
});

test('config-time errors', () => {
  const err = (specs: S[], msg: string | RegExp): void => {
    assert.throws(() => new LocationTree(specs), (e: unknown) => {
      assert.ok(e instanceof LocationConfigError);
      if (typeof msg === 'string') assert.equal(e.message, msg);
      else assert.match(e.message, msg);
      return true;
    });
  };
  err([L('', '/x'), L('', '/x')], 'duplicate location "/x"');
  err([L('', '/x'), L('^~', '/x')], 'duplicate location "/x"');
  err([L('=', '/x'), L('=', '/x')], 'duplicate location "/x"');
  err([L('', '/a/', [L('', '/b/')])], 'location "/b/" is outside location "/a/"');
  err([L('~', 'x', [L('', '/a')])], 'location "/a" is outside location "x"');
  err([L('=', '/a', [L('', '/a/b')])], 'location "/a/b" cannot be inside the exact location "/a"');
  err([L('@', '@n', [L('', '/a')])], 'location "/a" cannot be inside the named location "@n"');
  err([L('', '/a', [L('@', '@n')])], 'named location "@n" can be on the server level only');
  err([L('~', '(unclosed')], /^pcre2_compile\(\) failed: .* in "\(unclosed"$/);
  assert.throws(() => new LocationTree([{ modifier: '', name: '/x', payload: 1, file: 'conf/weir.conf', line: 3 },
    { modifier: '', name: '/x', payload: 2, file: 'conf/weir.conf', line: 7 }]),
  { message: 'duplicate location "/x" in conf/weir.conf:7' });
  // = and prefix with the same name are joined, not duplicates
  assert.doesNotThrow(() => new LocationTree([L('=', '/x'), L('', '/x')]));
});
