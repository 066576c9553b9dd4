/**
 * `weir -t` does what `nginx -t` does once the config is read
 * (ngx_init_cycle): it opens (creates) the pid file, creates the temp
 * directories (the last component only), opens (creates) every log file,
 * binds the listening sockets, and checks `user` as root, with nginx's
 * messages in nginx's order; so
 * `weir -t && weir -s reload` means what it means with nginx. Each case runs
 * bin/weir on a config in a fresh temp prefix.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makePrefix, runWeir, type Prefix } from '../helpers/weir-process.js';

const isRoot = process.geteuid?.() === 0;

/** A config with `main` in the main context and `http` in the http block, every path under the prefix's own dirs. */
function config(p: Prefix, o: { main?: string; http?: string; pid?: string; accessLog?: string } = {}): string {
  return `
error_log ${p.dir}/logs/error.log;
pid ${o.pid ?? `${p.dir}/logs/weir.pid`};
${o.main ?? ''}
events {}
http {
    access_log ${o.accessLog ?? `${p.dir}/logs/access.log`};
    client_body_temp_path ${p.dir}/client_body_temp;
    proxy_temp_path ${p.dir}/proxy_temp;
    fastcgi_temp_path ${p.dir}/fastcgi_temp;
    ${o.http ?? ''}
    server { listen 127.0.0.1:1; }
}
`;
}

/** Runs `weir -t` on `text` in prefix `p`; resolves its exit code and stderr. */
async function test(p: Prefix, text: string): Promise<{ code: number | null; stderr: string }> {
  p.writeConfig(text);
  const r = await runWeir(['-p', p.dir, '-c', p.confPath, '-t']);
  return { code: r.code, stderr: r.stderr };
}

/** What nginx -t prints when a check after reading fails: the syntax is ok, then the [emerg], then "test failed". */
function failedAfterSyntax(p: Prefix, emerg: string): string {
  return `weir: the configuration file ${p.confPath} syntax is ok\n` +
    `weir: [emerg] ${emerg}\n` +
    `weir: configuration file ${p.confPath} test failed\n`;
}

async function withPrefix(fn: (p: Prefix) => Promise<void>): Promise<void> {
  const p = makePrefix();
  try {
    await fn(p);
  } finally {
    p.remove();
  }
}

describe('weir -t checks what nginx -t checks', { concurrency: true }, () => {
  it('a good config: the pid file, temp directories and log files are created, as nginx -t creates them', () => withPrefix(async (p) => {
    const r = await test(p, config(p));
    assert.equal(r.stderr,
      `weir: the configuration file ${p.confPath} syntax is ok\n` +
      `weir: configuration file ${p.confPath} test is successful\n`);
    assert.equal(r.code, 0);
    for (const dir of ['client_body_temp', 'proxy_temp', 'fastcgi_temp']) {
      const st = statSync(join(p.dir, dir));
      assert.ok(st.isDirectory(), dir);
      assert.equal(st.mode & 0o777, 0o700, dir);
    }
    for (const file of ['logs/error.log', 'logs/access.log']) assert.equal(p.read(file), '', file);
    // An empty pid file, as nginx -t leaves one; an existing one is opened, not truncated.
    assert.equal(p.read('logs/weir.pid'), '');
    writeFileSync(p.pidPath, '12345\n');
    assert.equal((await test(p, config(p))).code, 0);
    assert.equal(p.read('logs/weir.pid'), '12345\n');
  }));

  it('an access_log in a directory that does not exist: open() failed', () => withPrefix(async (p) => {
    const log = join(p.dir, 'no-dir', 'access.log');
    const r = await test(p, config(p, { http: `server { listen 127.0.0.1:2; access_log ${log}; }` }));
    assert.equal(r.stderr, failedAfterSyntax(p, `open() "${log}" failed (2: No such file or directory)`));
    assert.equal(r.code, 1);
  }));

  it('an error_log in a directory that does not exist (main and http levels): open() failed', () => withPrefix(async (p) => {
    const main = join(p.dir, 'no-dir', 'error.log');
    let r = await test(p, config(p, { main: `error_log ${main};` }));
    assert.equal(r.stderr, failedAfterSyntax(p, `open() "${main}" failed (2: No such file or directory)`));
    assert.equal(r.code, 1);
    const http = join(p.dir, 'no-dir', 'http-error.log');
    r = await test(p, config(p, { http: `error_log ${http};` }));
    assert.equal(r.stderr, failedAfterSyntax(p, `open() "${http}" failed (2: No such file or directory)`));
    assert.equal(r.code, 1);
  }));

  it('the default error log (or -e) is opened last, when the config names none', () => withPrefix(async (p) => {
    p.writeConfig('events {}\n');
    const early = join(p.dir, 'no-dir', 'early.log');
    const r = await runWeir(['-p', p.dir, '-c', p.confPath, '-e', early, '-t']);
    assert.equal(r.stderr, failedAfterSyntax(p, `open() "${early}" failed (2: No such file or directory)`));
    assert.equal(r.code, 1);
  }));

  it('a pid file in a directory that does not exist: open() failed, before temp paths and logs', () => withPrefix(async (p) => {
    const pid = join(p.dir, 'no-dir', 'weir.pid');
    const log = join(p.dir, 'no-dir', 'access.log');
    const r = await test(p, config(p, { pid, accessLog: log }));
    assert.equal(r.stderr, failedAfterSyntax(p, `open() "${pid}" failed (2: No such file or directory)`));
    assert.equal(r.code, 1);
  }));

  for (const directive of ['client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path']) {
    it(`${directive} whose parent does not exist: mkdir() failed, before the log files`, () => withPrefix(async (p) => {
      const dir = join(p.dir, 'no-parent', 'temp');
      const log = join(p.dir, 'no-dir', 'access.log');
      const r = await test(p, config(p, {
        http: `server { listen 127.0.0.1:2; ${directive} ${dir}; access_log ${log}; location / { } }`,
      }));
      assert.equal(r.stderr, failedAfterSyntax(p, `mkdir() "${dir}" failed (2: No such file or directory)`));
      assert.equal(r.code, 1);
      // The last component is created when its parent exists.
      assert.equal((await test(p, config(p, { http: `server { listen 127.0.0.1:2; ${directive} ${p.dir}/made; }` }))).code, 0);
      assert.ok(statSync(join(p.dir, 'made')).isDirectory());
    }));
  }

  it('the default temp paths are created under the prefix', () => withPrefix(async (p) => {
    const r = await test(p, `error_log ${p.dir}/logs/error.log;\npid ${p.dir}/logs/weir.pid;\nevents {}\nhttp { access_log off; server { listen 127.0.0.1:1; } }\n`);
    assert.equal(r.code, 0, r.stderr);
    for (const dir of ['client_body_temp', 'proxy_temp', 'fastcgi_temp']) assert.ok(statSync(join(p.dir, dir)).isDirectory(), dir);
    assert.equal(existsSync(join(p.dir, 'logs', 'access.log')), false);
  }));

  it('a user that does not exist: getpwnam() failed at its line as root; as another user a [warn], ignored', () => withPrefix(async (p) => {
    const r = await test(p, config(p, { main: 'user no-such-user-weir;' }));
    if (isRoot) {
      assert.equal(r.stderr,
        `weir: [emerg] getpwnam("no-such-user-weir") failed in ${p.confPath}:4\n` +
        `weir: configuration file ${p.confPath} test failed\n`);
      assert.equal(r.code, 1);
      // The group is the user's name unless given.
      const g = await test(p, config(p, { main: 'user root no-such-group-weir;' }));
      assert.equal(g.stderr,
        `weir: [emerg] getgrnam("no-such-group-weir") failed in ${p.confPath}:4\n` +
        `weir: configuration file ${p.confPath} test failed\n`);
      assert.equal((await test(p, config(p, { main: 'user root root;' }))).code, 0);
    } else {
      assert.equal(r.stderr,
        `weir: [warn] the "user" directive makes sense only if the master process runs with super-user privileges, ignored in ${p.confPath}:4\n` +
        `weir: the configuration file ${p.confPath} syntax is ok\n` +
        `weir: configuration file ${p.confPath} test is successful\n`);
      assert.equal(r.code, 0);
    }
  }));

  it('listening sockets are bound and closed again: an address in use is fine, one not on this host or a socket in a missing directory fails', () => withPrefix(async (p) => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as AddressInfo).port;
    try {
      const sock = join(p.dir, 'weir.sock');
      let r = await test(p, config(p, { http: `server { listen 127.0.0.1:${port}; listen unix:${sock}; }` }));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(existsSync(sock), false, 'the test socket is removed, as nginx -t removes it');
      r = await test(p, config(p, { http: 'server { listen 192.0.2.1:1; }' }));
      assert.equal(r.stderr, failedAfterSyntax(p, 'bind() to 192.0.2.1:1 failed (99: Cannot assign requested address)'));
      assert.equal(r.code, 1);
      const missing = join(p.dir, 'no-dir', 'weir.sock');
      r = await test(p, config(p, { http: `server { listen unix:${missing}; }` }));
      assert.equal(r.stderr, failedAfterSyntax(p, `bind() to unix:${missing} failed (2: No such file or directory)`));
    } finally {
      busy.close();
    }
  }));

  it('a failed check also fails a real start, which starts nothing', () => withPrefix(async (p) => {
    const log = join(p.dir, 'no-dir', 'access.log');
    p.writeConfig(config(p, { http: `server { listen 127.0.0.1:2; access_log ${log}; }` }));
    const r = await runWeir(['-p', p.dir, '-c', p.confPath, '-g', 'daemon off;']);
    assert.equal(r.stderr, `weir: [emerg] open() "${log}" failed (2: No such file or directory)\n`);
    assert.equal(r.code, 1);
    assert.equal(existsSync(p.pidPath), false);
    assert.match(readFileSync(p.errorLogPath, 'utf8'), /\[emerg\] \d+#0: open\(\) ".*access\.log" failed \(2: No such file or directory\)\n$/);
  }));
});
