/** The command line parser (ngx_get_options) and path resolution (ngx_process_options). */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseArgs, resolvePaths, versionText, type CliOptions } from '../../src/cli.js';
import { configureFlags, NGINX_MODULES, WEIR_VER_BUILD, type NginxModuleRow } from '../../src/version.js';

function ok(argv: string[]): CliOptions {
  const r = parseArgs(argv);
  if (!r.ok) assert.fail(r.message);
  return r.options;
}

function err(argv: string[]): string {
  const r = parseArgs(argv);
  assert.equal(r.ok, false);
  return (r as { message: string }).message;
}

describe('parseArgs', () => {
  it('accepts no arguments', () => {
    assert.deepEqual(ok([]), { help: false, version: false, configure: false, test: false, dump: false, quiet: false });
  });

  it('reads boolean flags alone and grouped', () => {
    const o = ok(['-tq']);
    assert.equal(o.test, true);
    assert.equal(o.quiet, true);
    assert.equal(o.dump, false);
    const t = ok(['-T']);
    assert.equal(t.test, true);
    assert.equal(t.dump, true);
    const v = ok(['-V']);
    assert.equal(v.version, true);
    assert.equal(v.configure, true);
    for (const h of ['-h', '-?']) {
      const o2 = ok([h]);
      assert.equal(o2.help, true);
      assert.equal(o2.version, true);
    }
  });

  it('takes a value attached or as the next argument', () => {
    assert.equal(ok(['-c', 'a.conf']).conf, 'a.conf');
    assert.equal(ok(['-ca.conf']).conf, 'a.conf');
    assert.equal(ok(['-p', '/srv/weir']).prefix, '/srv/weir');
    assert.equal(ok(['-e', 'stderr']).errorLog, 'stderr');
    assert.equal(ok(['-g', 'daemon off; worker_processes 2;']).globals, 'daemon off; worker_processes 2;');
    assert.equal(ok(['-s', 'reload']).signal, 'reload');
    assert.equal(ok(['-squit']).signal, 'quit');
  });

  it('ends a group at a flag that takes a value, as nginx does', () => {
    const o = ok(['-tc', 'x.conf', '-q']);
    assert.equal(o.test, true);
    assert.equal(o.conf, 'x.conf');
    assert.equal(o.quiet, true);
    // `-ct` is -c with the file name "t".
    assert.equal(ok(['-ct']).conf, 't');
  });

  it('lets a later value win', () => {
    assert.equal(ok(['-c', 'a', '-c', 'b']).conf, 'b');
  });

  it('words errors as nginx', () => {
    assert.equal(err(['-x']), 'invalid option: "x"');
    assert.equal(err(['-tx']), 'invalid option: "x"');
    assert.equal(err(['conf']), 'invalid option: "conf"');
    assert.equal(err(['-c']), 'option "-c" requires file name');
    assert.equal(err(['-p']), 'option "-p" requires directory name');
    assert.equal(err(['-e']), 'option "-e" requires file name');
    assert.equal(err(['-g']), 'option "-g" requires parameter');
    assert.equal(err(['-s']), 'option "-s" requires parameter');
    assert.equal(err(['-s', 'restart']), 'invalid option: "-s restart"');
  });
});

describe('resolvePaths', () => {
  const root = '/opt/weir';
  it('defaults to the package root and conf/weir.conf under it', () => {
    assert.deepEqual(resolvePaths(ok([]), root, '/home/u'), { prefix: root, file: '/opt/weir/conf/weir.conf', errorLog: undefined });
  });

  it('resolves a relative -c against the prefix, not the working directory', () => {
    assert.equal(resolvePaths(ok(['-p', '/srv/w', '-c', 'x/y.conf']), root, '/home/u').file, '/srv/w/x/y.conf');
    assert.equal(resolvePaths(ok(['-c', '/etc/weir.conf']), root, '/home/u').file, '/etc/weir.conf');
  });

  it('resolves a relative -p against the working directory', () => {
    const r = resolvePaths(ok(['-p', 'site']), root, '/home/u');
    assert.equal(r.prefix, '/home/u/site');
    assert.equal(r.file, join('/home/u/site', 'conf/weir.conf'));
  });

  it('resolves -e against the prefix and keeps stderr', () => {
    assert.equal(resolvePaths(ok(['-p', '/srv/w', '-e', 'logs/x.log']), root).errorLog, '/srv/w/logs/x.log');
    assert.equal(resolvePaths(ok(['-e', 'stderr']), root).errorLog, 'stderr');
  });
});

describe('version text', () => {
  it('-v is one line in nginx shape', () => {
    assert.equal(versionText({ help: false, configure: false }), `weir version: ${WEIR_VER_BUILD}\n`);
    assert.match(WEIR_VER_BUILD, /^weir\/\d+\.\d+\.\d+ \(nginx\/1\.31 compatible\)$/);
  });

  it('-V ends with the configure arguments computed from the module table', () => {
    const text = versionText({ help: false, configure: true }, '/opt/weir');
    const last = text.trimEnd().split('\n').at(-1)!;
    assert.ok(last.startsWith('configure arguments: --prefix=/opt/weir '));
    for (const flag of configureFlags()) assert.ok(last.includes(` ${flag}`), flag);
  });

  it('names missing default modules --without-* and present optional ones --with-*', () => {
    const table: NginxModuleRow[] = [
      { name: 'http', builtByDefault: true, provided: true },
      { name: 'http_proxy_module', builtByDefault: true, provided: true },
      { name: 'http_gzip_module', builtByDefault: true, provided: false },
      { name: 'http_ssl_module', builtByDefault: false, provided: true },
      { name: 'http_v2_module', builtByDefault: false, provided: false },
    ];
    assert.deepEqual(configureFlags(table), ['--without-http_gzip_module', '--with-http_ssl_module']);
  });

  it('says only --without-http while http itself is missing', () => {
    const table: NginxModuleRow[] = [
      { name: 'http', builtByDefault: true, provided: false },
      { name: 'http_gzip_module', builtByDefault: true, provided: false },
      { name: 'stream', builtByDefault: false, provided: false },
    ];
    assert.deepEqual(configureFlags(table), ['--without-http']);
  });

  it('the module table has unique names', () => {
    const names = NGINX_MODULES.map((m) => m.name);
    assert.equal(new Set(names).size, names.length);
  });
});
