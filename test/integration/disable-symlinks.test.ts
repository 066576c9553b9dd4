// disable_symlinks: a link in the path is refused (403 static, next file for
// try_files, false for `if -f`), if_not_owner only when the link's owner is not
// its target's, from= leaves a leading part unchecked; bad parameters are [emerg]s.
import assert from 'node:assert/strict';
import { lchownSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { exchange, get, startWeir } from '../helpers/raw-http.js';
import { loadConfigText } from '../../src/config/loader.js';
import { builtinModules } from '../../src/modules.js';
import { ConfigError } from '../../src/config/errors.js';

test('disable_symlinks on, if_not_owner, off and from=', async () => {
  const w = await startWeir(`http {
    access_log off;
    server {
      listen 127.0.0.1:%PORT%;
      root %PREFIX%/html;
      location /on/ { disable_symlinks on; }
      location /owner/ { disable_symlinks if_not_owner; }
      location /off/ { }
      location /try/ { disable_symlinks on; try_files $uri $uri.html =404; }
      location /if/ { disable_symlinks on; if (-f $request_filename) { return 204; } return 200 no; }
      location /from/ { disable_symlinks on from=%PREFIX%/html/from/dirlink; }
    }
  }`, { 'html/real.html': 'REAL', 'html/on/': '', 'html/owner/': '', 'html/off/': '', 'html/try/x.html': 'TRY', 'html/if/': '', 'html/from/d/f.html': 'FROM' });
  const h = join(w.prefix, 'html');
  for (const d of ['on', 'owner', 'off', 'if']) symlinkSync('../real.html', join(h, d, 'link'));
  symlinkSync('../real.html', join(h, 'try', 'x'));
  symlinkSync('d', join(h, 'from', 'dirlink'));
  mkdirSync(join(h, 'on', 'sub'));
  writeFileSync(join(h, 'on', 'sub', 'f.html'), 'F');
  symlinkSync('sub', join(h, 'on', 'dl'));
  const status = async (p: string): Promise<number | undefined> => (await exchange(w.port, get(p))).responses[0]?.status;
  try {
    assert.equal(await status('/off/link'), 200);
    assert.equal(await status('/on/link'), 403);
    assert.equal(await status('/on/sub/f.html'), 200, 'no link in the path');
    assert.equal(await status('/on/dl/f.html'), 403, 'a link in a directory component');
    assert.equal(await status('/on/nothing'), 404, 'other errors stay as they were');
    assert.equal(await status('/owner/link'), 200, 'same owner');
    assert.match(w.errorLog(), /openat\(\) ".*\/on\/link" failed \(40: Too many levels of symbolic links\)/);
    const tried = (await exchange(w.port, get('/try/x'))).responses[0];
    assert.equal(tried?.body.toString(), 'TRY');
    assert.equal(await status('/if/link'), 200, '-f is false for a refused link');
    assert.equal(await status('/from/dirlink/f.html'), 200, 'the from= part is not checked');
    if (process.getuid?.() === 0) {
      lchownSync(join(h, 'owner', 'link'), 65534, 65534);
      assert.equal(await status('/owner/link'), 403, 'the link is not owned by its target\'s owner');
    }
  } finally {
    await w.stop();
  }
});

test('disable_symlinks config errors', () => {
  const cases: [string, string][] = [
    ['disable_symlinks maybe;', 'invalid parameter "maybe"'],
    ['disable_symlinks from=/x;', '"disable_symlinks" must have "off", "on" or "if_not_owner" parameter'],
    ['disable_symlinks on off;', 'duplicate parameters "on off"'],
    ['disable_symlinks off from=/x;', '"from=" cannot be used with "off" parameter'],
    ['disable_symlinks on; disable_symlinks off;', '"disable_symlinks" directive is duplicate'],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => loadConfigText(`events {}\nhttp { ${text} }`, '/tmp', builtinModules),
      (e: unknown) => e instanceof ConfigError && e.detail === message, text);
  }
});
