// The config tree (ngx_conf_parse's syntax half): directives and blocks with
// file:line, `include` with globs (relative to the config's directory), the -g
// directives, the files list for -T, and the syntax errors.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfigFile, parseConfigText, readConfigFile, readConfigText, expandGlob, type ConfNode, type ConfTreeNode } from '../../../src/config/parser.js';
import { ConfigError } from '../../../src/config/errors.js';

const made: string[] = [];
after(() => { for (const d of made) fs.rmSync(d, { recursive: true, force: true }); });

function tmpdir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-'));
  made.push(d);
  return d;
}

/** Writes files (relative names) under a fresh directory; returns it. */
function tree(files: Record<string, string>): string {
  const dir = tmpdir();
  for (const [name, text] of Object.entries(files)) {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
  }
  return dir;
}

/** A compact view of nodes: name, args, file (basename), line, children. */
interface Shape { d: string; file: string; line: number; block?: Shape[] }
function shape(nodes: readonly ConfTreeNode[]): Shape[] {
  return nodes.map((n) => {
    const s: Shape = { d: [n.name, ...n.args].join(' '), file: n.file === 'command line' ? n.file : path.basename(n.file), line: n.line };
    if (n.block) s.block = shape(n.block);
    return s;
  });
}

function parseFails(fn: () => unknown, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.message, message);
    return true;
  });
}

test('directives, blocks and nesting, each node with its file and line', () => {
  const { root } = parseConfigText('worker_processes 2;\nevents {\n  worker_connections 64;\n}\nhttp {\n  server {\n    listen 8080;\n  }\n}\n', 'a.conf');
  assert.deepEqual(shape(root), [
    { d: 'worker_processes 2', file: 'a.conf', line: 1 },
    { d: 'events', file: 'a.conf', line: 2, block: [{ d: 'worker_connections 64', file: 'a.conf', line: 3 }] },
    { d: 'http', file: 'a.conf', line: 5, block: [
      { d: 'server', file: 'a.conf', line: 6, block: [{ d: 'listen 8080', file: 'a.conf', line: 7 }] },
    ] },
  ]);
});

test('a simple directive has block null; an empty block is an empty array', () => {
  const { root } = parseConfigText('a; b {}');
  assert.equal(root[0].block, null);
  assert.deepEqual(root[1].block, []);
});

test('block directives keep their arguments (location modifiers, names)', () => {
  const { root } = parseConfigText('location ~* "\\.(gif|jpg)$" { }');
  assert.equal(root[0].name, 'location');
  assert.deepEqual(root[0].args, ['~*', '\\.(gif|jpg)$']);
});

test('quoted flags follow the arguments (the name is not included)', () => {
  const { root } = parseConfigText(`"set" $a "b" c 'd';`);
  assert.equal(root[0].name, 'set');
  assert.deepEqual(root[0].args, ['$a', 'b', 'c', 'd']);
  assert.deepEqual(root[0].quoted, [false, true, false, true]);
});

test('a directive spanning lines has the line of its ";" or "{" (nginx\'s cf->conf_file->line)', () => {
  const { root } = parseConfigText('\nlog_format main\n  "a"\n  "b";\nnext;\nhttp\n\n{\n}\n');
  assert.deepEqual(shape(root).map((s) => [s.d, s.line]), [['log_format main a b', 4], ['next', 5], ['http', 8]]);
});

test('the lines after a multi-line quoted string are counted', () => {
  const { root } = parseConfigText('return 200 "one\ntwo\nthree";\nnext;\nhttp {\n"x\ny";\n}\nlast;');
  assert.deepEqual(shape(root).map((s) => [s.d, s.line]), [['return 200 one\ntwo\nthree', 3], ['next', 4], ['http', 5], ['last', 9]]);
  assert.equal(root[2].block![0].line, 7);
});

test('syntax errors: unexpected "}" (at top level and after an unfinished directive)', () => {
  parseFails(() => parseConfigText('events {}\n}\n', 'F'), 'unexpected "}" in F:2');
  parseFails(() => parseConfigText('http {\n  listen 80\n}\n', 'F'), 'unexpected "}" in F:3');
});

test('syntax errors: unexpected ";" and unexpected "{"', () => {
  parseFails(() => parseConfigText('events {}\n;\n', 'F'), 'unexpected ";" in F:2');
  parseFails(() => parseConfigText('events {}\n\n{}\n', 'F'), 'unexpected "{" in F:3');
  parseFails(() => parseConfigText('a;;', 'F'), 'unexpected ";" in F:1');
});

test('syntax errors: unexpected end of file, expecting ";" or "}" (at the last line)', () => {
  parseFails(() => parseConfigText('events {}\nfoo', 'F'), 'unexpected end of file, expecting ";" or "}" in F:2');
  parseFails(() => parseConfigText('events{}\nhttp{ server { listen 80', 'F'), 'unexpected end of file, expecting ";" or "}" in F:2');
  parseFails(() => parseConfigText('a b\n\n\n', 'F'), 'unexpected end of file, expecting ";" or "}" in F:4');
});

test('syntax errors: unexpected end of file, expecting "}" (at the last line)', () => {
  parseFails(() => parseConfigText('events {}\nhttp {\nserver {\n', 'F'), 'unexpected end of file, expecting "}" in F:4');
  parseFails(() => parseConfigText('http {', 'F'), 'unexpected end of file, expecting "}" in F:1');
});

test('an empty file and a file of comments parse to nothing', () => {
  assert.deepEqual(parseConfigText('').root, []);
  assert.deepEqual(parseConfigText('# only\n  # comments').root, []);
});

test('parseConfigText lists the text as its only file', () => {
  const p = parseConfigText('a;', 'x.conf', '/some/dir');
  assert.deepEqual(p.files, [{ path: 'x.conf', text: 'a;' }]);
  assert.equal(p.confPrefix, '/some/dir');
});

test('parseConfigFile: files and confPrefix (the config file\'s directory)', () => {
  const dir = tree({ 'conf/nginx.conf': 'events {}\n' });
  const p = parseConfigFile(path.join(dir, 'conf/nginx.conf'));
  assert.equal(p.confPrefix, path.join(dir, 'conf'));
  assert.deepEqual(p.files, [{ path: path.join(dir, 'conf/nginx.conf'), text: 'events {}\n' }]);
  assert.equal(p.root[0].file, path.join(dir, 'conf/nginx.conf'));
});

test('parseConfigFile: a relative config path is resolved against the current directory', () => {
  const dir = tree({ 'nginx.conf': 'a;\n' });
  const cwd = process.cwd();
  try {
    process.chdir(dir);
    const p = parseConfigFile('nginx.conf');
    assert.equal(p.root[0].file, path.join(fs.realpathSync(dir), 'nginx.conf'));
  } finally {
    process.chdir(cwd);
  }
});

test('parseConfigFile: a missing config file is open() ... failed, without a position', () => {
  const dir = tmpdir();
  const file = path.join(dir, 'nope.conf');
  parseFails(() => parseConfigFile(file), `open() "${file}" failed (2: No such file or directory)`);
});

test('errors in a file name the file by its full path', () => {
  const dir = tree({ 'nginx.conf': 'events {}\n\n}\n' });
  parseFails(() => parseConfigFile(path.join(dir, 'nginx.conf')), `unexpected "}" in ${path.join(dir, 'nginx.conf')}:3`);
});

// --- include ---

test('include: relative to the config file\'s directory, spliced in place', () => {
  const dir = tree({
    'conf/nginx.conf': 'a;\ninclude extra.conf;\nb;\n',
    'conf/extra.conf': '\nx 1;\ny 2;\n',
  });
  const p = parseConfigFile(path.join(dir, 'conf/nginx.conf'));
  assert.deepEqual(shape(p.root), [
    { d: 'a', file: 'nginx.conf', line: 1 },
    { d: 'x 1', file: 'extra.conf', line: 2 },
    { d: 'y 2', file: 'extra.conf', line: 3 },
    { d: 'b', file: 'nginx.conf', line: 3 },
  ]);
  assert.equal(p.root[1].file, path.join(dir, 'conf/extra.conf'));
});

test('include: not relative to the current directory', () => {
  const dir = tree({ 'conf/nginx.conf': 'include x.conf;\n', 'conf/x.conf': 'a;\n', 'x.conf': 'wrong;\n' });
  const cwd = process.cwd();
  try {
    process.chdir(dir);
    const p = parseConfigFile(path.join(dir, 'conf/nginx.conf'));
    assert.deepEqual(p.root.map((n) => n.name), ['a']);
  } finally {
    process.chdir(cwd);
  }
});

test('include: inside blocks', () => {
  const dir = tree({
    'nginx.conf': 'http {\n  include servers/*.conf;\n}\n',
    'servers/a.conf': 'server {\n  listen 1;\n}\n',
    'servers/b.conf': 'server { listen 2; }\n',
  });
  const p = parseConfigFile(path.join(dir, 'nginx.conf'));
  assert.deepEqual(shape(p.root), [{ d: 'http', file: 'nginx.conf', line: 1, block: [
    { d: 'server', file: 'a.conf', line: 1, block: [{ d: 'listen 1', file: 'a.conf', line: 2 }] },
    { d: 'server', file: 'b.conf', line: 1, block: [{ d: 'listen 2', file: 'b.conf', line: 1 }] },
  ] }]);
});

test('include: nested includes are still relative to the main config\'s directory', () => {
  const dir = tree({
    'nginx.conf': 'include conf.d/a.conf;\n',
    'conf.d/a.conf': 'a;\ninclude conf.d/b.conf;\n',
    'conf.d/b.conf': '\nb;\n',
  });
  const p = parseConfigFile(path.join(dir, 'nginx.conf'));
  assert.deepEqual(shape(p.root), [{ d: 'a', file: 'a.conf', line: 1 }, { d: 'b', file: 'b.conf', line: 2 }]);
  const bad = tree({ 'nginx.conf': 'include conf.d/a.conf;\n', 'conf.d/a.conf': '\ninclude b.conf;\n', 'conf.d/b.conf': 'b;\n' });
  parseFails(() => parseConfigFile(path.join(bad, 'nginx.conf')),
    `open() "${path.join(bad, 'b.conf')}" failed (2: No such file or directory) in ${path.join(bad, 'conf.d/a.conf')}:2`);
});

test('include: an absolute path', () => {
  const other = tree({ 'abs.conf': 'abs;\n' });
  const dir = tree({ 'nginx.conf': `include ${path.join(other, 'abs.conf')};\n` });
  assert.deepEqual(parseConfigFile(path.join(dir, 'nginx.conf')).root.map((n) => n.name), ['abs']);
});

test('include: a glob is expanded in sorted order', () => {
  const dir = tree({
    'nginx.conf': 'include conf.d/*.conf;\n',
    'conf.d/b.conf': 'b;\n',
    'conf.d/a.conf': 'a;\n',
    'conf.d/10.conf': 'ten;\n',
    'conf.d/2.conf': 'two;\n',
    'conf.d/C.conf': 'upper;\n',
    'conf.d/skip.txt': 'no;\n',
  });
  const p = parseConfigFile(path.join(dir, 'nginx.conf'));
  assert.deepEqual(p.root.map((n) => n.name), ['ten', 'two', 'upper', 'a', 'b']);
});

test('include: `?` and `[...]` globs; dotfiles need a dot; directories are skipped', () => {
  const dir = tree({
    'nginx.conf': 'include d/?.conf;\ninclude d/[ab].conf;\ninclude d/*;\n',
    'd/a.conf': 'a;\n',
    'd/ab.conf': 'ab;\n',
    'd/c.conf': 'c;\n',
    'd/.hidden': 'hidden;\n',
    'd/sub/x.conf': 'sub;\n',
  });
  const p = parseConfigFile(path.join(dir, 'nginx.conf'));
  assert.deepEqual(p.root.map((n) => n.name), ['a', 'c', 'a', 'a', 'ab', 'c']);
});

test('include: a glob in a directory part', () => {
  const dir = tree({ 'nginx.conf': 'include sites/*/main.conf;\n', 'sites/b/main.conf': 'b;\n', 'sites/a/main.conf': 'a;\n' });
  assert.deepEqual(parseConfigFile(path.join(dir, 'nginx.conf')).root.map((n) => n.name), ['a', 'b']);
});

test('include: a glob with no match is fine', () => {
  const dir = tree({ 'nginx.conf': 'include conf.d/*.conf;\ninclude nowhere/*/x;\na;\n' });
  const p = parseConfigFile(path.join(dir, 'nginx.conf'));
  assert.deepEqual(p.root.map((n) => n.name), ['a']);
  assert.equal(p.files.length, 1);
});

test('include: a missing plain file is open() "..." failed (2: No such file or directory) in FILE:LINE', () => {
  const dir = tree({ 'nginx.conf': 'events {}\n\ninclude missing.conf;\n' });
  parseFails(() => parseConfigFile(path.join(dir, 'nginx.conf')),
    `open() "${path.join(dir, 'missing.conf')}" failed (2: No such file or directory) in ${path.join(dir, 'nginx.conf')}:3`);
});

test('include: invalid number of arguments', () => {
  parseFails(() => parseConfigText('events {}\ninclude a b;\n', 'F'), 'invalid number of arguments in "include" directive in F:2');
  parseFails(() => parseConfigText('include;\n', 'F'), 'invalid number of arguments in "include" directive in F:1');
});

test('include with a block: not terminated by ";" (nginx)', () => {
  assert.throws(() => parseConfigText('events {}\ninclude a { }\n', 'F'), { message: 'directive "include" is not terminated by ";" in F:2' });
});

test('include: errors inside an included file name that file and its line', () => {
  const dir = tree({ 'nginx.conf': 'http {\ninclude a.conf;\n}\n', 'a.conf': 'server {\n' });
  parseFails(() => parseConfigFile(path.join(dir, 'nginx.conf')), `unexpected end of file, expecting "}" in ${path.join(dir, 'a.conf')}:2`);
  const dir2 = tree({ 'nginx.conf': 'http {\ninclude a.conf;\n}\n', 'a.conf': '\n}\n' });
  parseFails(() => parseConfigFile(path.join(dir2, 'nginx.conf')), `unexpected "}" in ${path.join(dir2, 'a.conf')}:2`);
});

test('include: an included file must hold whole directives', () => {
  const dir = tree({ 'nginx.conf': 'include a.conf;\n', 'a.conf': 'worker_processes' });
  parseFails(() => parseConfigFile(path.join(dir, 'nginx.conf')), `unexpected end of file, expecting ";" or "}" in ${path.join(dir, 'a.conf')}:1`);
});

test('include: a loop is stopped', () => {
  const dir = tree({ 'nginx.conf': 'a;\ninclude nginx.conf;\n' });
  assert.throws(() => parseConfigFile(path.join(dir, 'nginx.conf')), (e: unknown) => e instanceof ConfigError && /include/.test(e.message));
});

test('-T: every file read, in the order read (main first, includes depth-first)', () => {
  const dir = tree({
    'nginx.conf': 'include a.conf;\ninclude d/*.conf;\ninclude b.conf;\n',
    'a.conf': 'a;\n',
    'b.conf': 'b;\n',
    'd/2.conf': 'include nested.conf;\n',
    'd/1.conf': 'one;\n',
    'nested.conf': 'n;\n',
  });
  const p = parseConfigFile(path.join(dir, 'nginx.conf'));
  assert.deepEqual(p.files.map((f) => path.relative(dir, f.path)), ['nginx.conf', 'a.conf', 'd/1.conf', 'd/2.conf', 'nested.conf', 'b.conf']);
  assert.equal(p.files[0].text, 'include a.conf;\ninclude d/*.conf;\ninclude b.conf;\n');
  assert.equal(p.files[4].text, 'n;\n');
});

test('-T: a file included twice is listed (dumped) once, as nginx -T', () => {
  const dir = tree({ 'nginx.conf': 'include a.conf;\ninclude a.conf;\n', 'a.conf': 'env X;\n' });
  const p = parseConfigFile(path.join(dir, 'nginx.conf'));
  assert.deepEqual(p.files.map((f) => path.relative(dir, f.path)), ['nginx.conf', 'a.conf']);
  assert.equal(p.root.length, 2, 'both includes still apply');
});

// --- -g ---

test('-g: directives are prepended to the main context and named "command line"', () => {
  const dir = tree({ 'nginx.conf': 'events {}\n' });
  const p = parseConfigFile(path.join(dir, 'nginx.conf'), 'daemon off; master_process off;');
  assert.deepEqual(shape(p.root).map((s) => [s.d, s.file]), [
    ['daemon off', 'command line'], ['master_process off', 'command line'], ['events', 'nginx.conf'],
  ]);
});

test('-g: not listed among the files (-T dumps files only)', () => {
  const dir = tree({ 'nginx.conf': 'events {}\n' });
  assert.equal(parseConfigFile(path.join(dir, 'nginx.conf'), 'daemon off;').files.length, 1);
});

test('-g: quoting works as in files', () => {
  const dir = tree({ 'nginx.conf': '' });
  const p = parseConfigFile(path.join(dir, 'nginx.conf'), `pid "a b"; env 'X=1';`);
  assert.deepEqual(p.root.map((n) => n.args[0]), ['a b', 'X=1']);
});

test('-g: errors say "in command line" with no line', () => {
  const dir = tree({ 'nginx.conf': 'events {}\n' });
  const file = path.join(dir, 'nginx.conf');
  parseFails(() => parseConfigFile(file, '}'), 'unexpected "}" in command line');
  parseFails(() => parseConfigFile(file, 'daemon off; "x"y;'), 'unexpected "y" in command line');
});

test('-g: a missing ";" is "unexpected end of parameter" (nginx)', () => {
  const dir = tree({ 'nginx.conf': 'events {}\n' });
  parseFails(() => parseConfigFile(path.join(dir, 'nginx.conf'), 'daemon off'), 'unexpected end of parameter, expecting ";" in command line');
});

test('-g: block directives are refused (nginx)', () => {
  const dir = tree({ 'nginx.conf': 'http {}\n' });
  parseFails(() => parseConfigFile(path.join(dir, 'nginx.conf'), 'events {}'), 'block directives are not supported in -g option in command line');
});

test('expandGlob: absolute patterns, sorted, files only', () => {
  const dir = tree({ 'x/b': '', 'x/a': '', 'x/c/d': '' });
  assert.deepEqual(expandGlob(path.join(dir, 'x/*')), [path.join(dir, 'x/a'), path.join(dir, 'x/b')]);
  assert.deepEqual(expandGlob(path.join(dir, 'x/[!a]')), [path.join(dir, 'x/b')]);
  assert.deepEqual(expandGlob(path.join(dir, 'none/*')), []);
});

// --- reading as nginx reads: each directive handed on as its ";" or "{" is read ---

/** Walks like ConfContext.walk, recording each node's line as it arrives; `enter` says which blocks to read. */
function walkRecording(nodes: Iterable<ConfNode>, seen: string[], enter: (n: ConfNode) => boolean = () => true): void {
  for (const n of nodes) {
    seen.push(`${n.name}:${n.line}`);
    if (n.block && enter(n)) walkRecording(n.block, seen, enter);
  }
}

test('directives come one at a time: those before a syntax error are handed on before it is thrown', () => {
  const seen: string[] = [];
  const src = readConfigText('a;\nb {\n  c;\n}\nd;\n;\ne;\n', 'F');
  assert.throws(() => walkRecording(src.directives, seen), (e: unknown) => e instanceof ConfigError && e.message === 'unexpected ";" in F:6');
  assert.deepEqual(seen, ['a:1', 'b:2', 'c:3', 'd:5']);
});

test('a block is read as it is walked: its directives come before what follows it', () => {
  const src = readConfigText('a {\n  b {\n    c;\n  }\n  d;\n}\ne;\n', 'F');
  const seen: string[] = [];
  walkRecording(src.directives, seen);
  assert.deepEqual(seen, ['a:1', 'b:2', 'c:3', 'd:5', 'e:7']);
});

test('a block its handler does not read (or leaves early) is still read, and its syntax checked, before the next directive', () => {
  const seen: string[] = [];
  walkRecording(readConfigText('a {\n  b { c; }\n  d;\n}\ne;\n', 'F').directives, seen, (n) => n.name !== 'a');
  assert.deepEqual(seen, ['a:1', 'e:5']);
  const early: string[] = [];
  for (const n of readConfigText('a {\n  b;\n  c;\n}\nd;\n', 'F').directives) {
    early.push(n.name);
    if (n.block) for (const child of n.block) { early.push(child.name); break; }
  }
  assert.deepEqual(early, ['a', 'b', 'd']);
  assert.throws(() => walkRecording(readConfigText('a {\n  ;\n}\nb;\n', 'F').directives, [], () => false),
    (e: unknown) => e instanceof ConfigError && e.message === 'unexpected ";" in F:2');
});

test('a block is read once: iterating it again is a bug in the handler', () => {
  for (const n of readConfigText('a { b; }').directives) {
    for (const _ of n.block!) { /* read */ }
    assert.throws(() => { for (const _ of n.block!) { /* again */ } }, /read once/);
  }
});

test('-g comes before the file, and the file is opened only once -g is read', () => {
  const dir = tmpdir();
  const missing = path.join(dir, 'nope.conf');
  const src = readConfigFile(missing, 'worker_processes 1; foo;');
  const seen: string[] = [];
  assert.throws(() => walkRecording(src.directives, seen),
    (e: unknown) => e instanceof ConfigError && e.message === `open() "${missing}" failed (2: No such file or directory)`);
  assert.deepEqual(seen.map((s) => s.split(':')[0]), ['worker_processes', 'foo']);
});

test('include is read where it stands: the included file\'s directives come before the next one, and a missing file fails there', () => {
  const dir = tree({ 'nginx.conf': 'a;\ninclude x.conf;\nb;\ninclude y.conf;\nc;\n', 'x.conf': 'x;\n' });
  const src = readConfigFile(path.join(dir, 'nginx.conf'));
  const seen: string[] = [];
  assert.throws(() => walkRecording(src.directives, seen), /open\(\) ".*y\.conf" failed .* in .*nginx\.conf:4$/);
  assert.deepEqual(seen, ['a:1', 'x:1', 'b:3']);
  assert.deepEqual(src.files.map((f) => path.basename(f.path)), ['nginx.conf', 'x.conf']);
});
