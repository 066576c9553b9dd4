/**
 * weir started with a stderr it cannot write to, as nginx-tests starts it
 * around `$t->run()`: fd 2 is a file open read-only, so every write(2) fails
 * with EBADF. nginx ignores that; weir must too, not die of the error event.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort, httpGet, isAlive, killAtExit, makePrefix, readPid, waitFor, WEIR_BIN } from '../helpers/weir-process.js';

describe('stdio weir cannot write to', () => {
  it('a warning written to a read-only stderr neither stops start-up nor the process', async () => {
    const port = await freePort();
    // `listen ... http2` is deprecated: the master warns on stderr while it reads the config.
    const prefix = makePrefix(`
events {}
worker_processes 1;
error_log logs/error.log notice;
http {
    access_log off;
    server {
        listen 127.0.0.1:${port} http2;
        location / { return 200 "served"; }
    }
}
`);
    const readOnly = openSync(join(prefix.confPath), 'r');
    const child = spawn(process.execPath, [WEIR_BIN, '-p', prefix.dir, '-c', prefix.confPath, '-g', 'daemon off;'], {
      stdio: ['ignore', readOnly, readOnly],
    });
    closeSync(readOnly);
    assert.ok(child.pid);
    killAtExit(child.pid);
    let exited: number | null | undefined;
    child.once('exit', (code) => { exited = code; });
    try {
      const pid = await waitFor('the pid file or an exit', () => exited !== undefined ? -1 : readPid(prefix.pidPath));
      assert.notEqual(pid, -1, `weir exited with ${String(exited)} before writing its pid file`);
      assert.match(prefix.errorLog(), /\[warn\].*"listen \.\.\. http2" directive is deprecated/);
      const r = await httpGet(port, '/');
      assert.equal(r.status, 200);
      assert.equal(r.body, 'served');
      assert.ok(isAlive(child.pid));
    } finally {
      if (exited === undefined) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGQUIT');
        await gone;
      }
      prefix.remove();
    }
  });
});
