/**
 * The weir command and its processes, black-box: bin/weir started as a child
 * process on free ports in temp prefixes (test/helpers/weir-process.ts).
 */
import assert from 'node:assert/strict';
import { existsSync, renameSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  childPids, freePort, httpGet, isAlive, killAtExit, makePrefix, readPid, runWeir, startWeir, waitFor, type ConfigContext,
} from '../helpers/weir-process.js';

/** A config serving `body` from every worker, with the error log at notice. */
function serving(body: string, o: { workers?: number; extra?: string } = {}) {
  return ({ port }: ConfigContext): string => `
events { worker_connections 128; }
worker_processes ${o.workers ?? 2};
error_log logs/error.log notice;
${o.extra ?? ''}
http {
    access_log off;
    server {
        listen 127.0.0.1:${port};
        location / { return 200 "${body}"; }
    }
}
`;
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Lines of the error log at a level. */
function levelLines(log: string, level: string): string[] {
  return log.split('\n').filter((l) => l.includes(` [${level}] `));
}

describe('weir command line', { concurrency: true }, () => {
  it('-v prints the version on stderr and exits 0', async () => {
    const r = await runWeir(['-v']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^weir version: weir\/\d+\.\d+\.\d+ \(nginx\/1\.31 compatible\)\n$/);
  });

  it('-V adds the configure arguments in nginx vocabulary', async () => {
    const r = await runWeir(['-V']);
    assert.equal(r.code, 0);
    const lines = r.stderr.trimEnd().split('\n');
    assert.match(lines[0], /^weir version: weir\//);
    const configure = lines.find((l) => l.startsWith('configure arguments: '));
    assert.ok(configure, r.stderr);
    assert.match(configure, / --prefix=\S+/);
    for (const word of configure.split(' ').slice(2)) assert.match(word, /^--(prefix|conf-path|error-log-path|pid-path)=|^--with(out)?-[a-z0-9_-]+$/);
  });

  it('-h prints the usage; a bad option fails as nginx words it', async () => {
    const help = await runWeir(['-h']);
    assert.equal(help.code, 0);
    assert.match(help.stderr, /Usage: weir \[-\?hvVtTq\] \[-s signal\] \[-p prefix\]/);
    const bad = await runWeir(['-x']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, 'weir: invalid option: "x"\n');
    const sig = await runWeir(['-s', 'restart']);
    assert.equal(sig.code, 1);
    assert.equal(sig.stderr, 'weir: invalid option: "-s restart"\n');
  });

  it('-t on a good config prints the two lines and exits 0; -q silences them', async () => {
    const p = makePrefix('events {}\nworker_processes 2;\n');
    try {
      const r = await runWeir(['-p', p.dir, '-t']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr,
        `weir: the configuration file ${p.confPath} syntax is ok\n` +
        `weir: configuration file ${p.confPath} test is successful\n`);
      const q = await runWeir(['-p', p.dir, '-tq']);
      assert.equal(q.code, 0);
      assert.equal(q.stderr, '');
    } finally {
      p.remove();
    }
  });

  it('-t on a broken config prints the [emerg] with file:line and "test failed", exit 1', async () => {
    const p = makePrefix('events {}\n\nworker_processes 2;\nfoo bar;\n');
    try {
      const r = await runWeir(['-p', p.dir, '-c', 'conf/weir.conf', '-t']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr,
        `weir: [emerg] unknown directive "foo" in ${p.confPath}:4\n` +
        `weir: configuration file ${p.confPath} test failed\n`);
      // Without -t: the same [emerg], exit 1, nothing started; the [emerg]
      // also goes to -e (nginx's log before the config is read).
      const run = await runWeir(['-p', p.dir, '-g', 'daemon off;', '-e', 'logs/early.log']);
      assert.equal(run.code, 1);
      assert.equal(run.stderr, `weir: [emerg] unknown directive "foo" in ${p.confPath}:4\n`);
      assert.match(p.read('logs/early.log'), /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[emerg\] \d+#0: unknown directive "foo" in \S+:4\n$/);
      assert.equal(existsSync(p.pidPath), false);
    } finally {
      p.remove();
    }
  });

  it('-T dumps every file read, each after "# configuration file PATH:"', async () => {
    const main = 'events {}\ninclude conf.d/*.conf;\n';
    const inc = 'worker_processes 1;\n';
    const p = makePrefix(main, { 'conf/conf.d/a.conf': inc });
    try {
      const r = await runWeir(['-p', p.dir, '-T']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /test is successful\n$/);
      assert.equal(r.stdout,
        `# configuration file ${p.confPath}:\n${main}\n` +
        `# configuration file ${join(p.dir, 'conf/conf.d/a.conf')}:\n${inc}\n`);
    } finally {
      p.remove();
    }
  });

  it('-s fails as nginx does without a pid file, or with an empty one', async () => {
    const p = makePrefix('events {}\n');
    try {
      const none = await runWeir(['-p', p.dir, '-s', 'reload']);
      assert.equal(none.code, 1);
      assert.equal(none.stderr, `weir: [error] open() "${p.pidPath}" failed (2: No such file or directory)\n`);
      p.write('logs/weir.pid', '');
      const empty = await runWeir(['-p', p.dir, '-s', 'quit']);
      assert.equal(empty.code, 1);
      assert.equal(empty.stderr, `weir: [error] invalid PID number "" in "${p.pidPath}"\n`);
    } finally {
      p.remove();
    }
  });
});

describe('weir processes', { concurrency: 4 }, () => {
  it('writes the pid file only once the port accepts connections; QUIT stops it and removes the pid file', async () => {
    const weir = await startWeir({ config: serving('hello\\n') });
    // The helper returns the moment the pid file appears: no retry here.
    assert.equal(await connects(weir.port), true);
    assert.equal(readPid(weir.prefix.pidPath), weir.pid);
    const r = await httpGet(weir.port, '/');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'hello\n');
    assert.equal(weir.workers().length, 2);
    const log = weir.errorLog();
    assert.match(log, /\[notice\] \d+#0: start worker processes\n/);
    assert.equal((log.match(/\[notice\] \d+#0: start worker process \d+\n/g) ?? []).length, 2);

    const pidPath = weir.prefix.pidPath;
    const errorLog = weir.prefix.errorLog.bind(weir.prefix);
    weir.signal('SIGQUIT');
    assert.deepEqual(await weir.waitForExit(), { code: 0, signal: null });
    assert.equal(existsSync(pidPath), false);
    const end = errorLog();
    assert.match(end, /signal 3 \(SIGQUIT\) received, shutting down/);
    assert.match(end, /gracefully shutting down/);
    assert.match(end, /worker process \d+ exited with code 0/);
    assert.match(end, /\[notice\] \d+#0: exit\n$/);
    assert.deepEqual(levelLines(end, 'alert'), []);
    assert.equal(await connects(weir.port), false);
    weir.prefix.remove();
  });

  it('TERM stops it fast and removes the pid file', async () => {
    const weir = await startWeir({ config: serving('x') });
    const pidPath = weir.prefix.pidPath;
    const log = weir.prefix.errorLog.bind(weir.prefix);
    weir.signal('SIGTERM');
    assert.deepEqual(await weir.waitForExit(), { code: 0, signal: null });
    assert.equal(existsSync(pidPath), false);
    assert.match(log(), /signal 15 \(SIGTERM\) received, exiting/);
    assert.deepEqual(levelLines(log(), 'alert'), []);
    weir.prefix.remove();
  });

  it('INT (Ctrl-C to the process group) stops master and workers once, through the master', async () => {
    const weir = await startWeir({ config: serving('x') });
    const workers = weir.workers();
    // What a terminal does: the signal to every process of the group.
    for (const pid of [weir.pid, ...workers]) process.kill(pid, 'SIGINT');
    assert.deepEqual(await weir.waitForExit(), { code: 0, signal: null });
    for (const pid of workers) await waitFor(`worker ${pid} to exit`, () => !isAlive(pid));
    assert.deepEqual(levelLines(weir.errorLog(), 'alert'), []);
    weir.prefix.remove();
  });

  it('HUP with a broken config keeps the old workers serving and logs the [emerg]', async () => {
    const weir = await startWeir({ config: serving('old') });
    try {
      const before = weir.workers();
      weir.reload(serving('new', { extra: 'bogus_directive on;' }));
      await weir.waitForLog(/\[emerg\] \d+#0: unknown directive "bogus_directive" in \S+weir\.conf:5\n/);
      const r = await httpGet(weir.port, '/');
      assert.equal(r.body, 'old');
      assert.deepEqual(weir.workers(), before);
      assert.deepEqual(levelLines(weir.errorLog(), 'alert'), []);
    } finally {
      await weir.stop();
    }
  });

  it('HUP with a changed config switches to it with zero failed requests during the reload', async (t) => {
    const weir = await startWeir({ config: serving('old') });
    try {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const oldWorkers = weir.workers();
      const bodies: string[] = [];
      const failures: string[] = [];
      let retried = 0;
      let sent = 0;
      let sinceSwitch = 0;
      let oldGone = false;
      const deadline = Date.now() + 15_000;
      // Sequential requests, alternating keep-alive and new connections, until
      // at least 200 were sent and 50 were answered after the old workers left.
      while ((sent < 200 || sinceSwitch < 50) && Date.now() < deadline) {
        if (sent === 50) weir.reload(serving('new'));
        const keepAlive = sent % 2 === 0;
        try {
          let r;
          try {
            r = await httpGet(weir.port, '/', { agent: keepAlive ? agent : false });
          } catch (err) {
            // A request on a reused keep-alive connection that the server closed
            // as idle before reading it gets no response at all: RFC 9112 9.3.1
            // lets the client retry it (browsers, curl and undici do). Any other
            // error is a failure.
            if (!keepAlive || !(err as { reusedSocket?: boolean }).reusedSocket) throw err;
            retried++;
            r = await httpGet(weir.port, '/', { agent: keepAlive ? agent : false });
          }
          if (r.status !== 200) failures.push(`#${sent}: status ${r.status}`);
          bodies.push(r.body);
          if (oldGone) sinceSwitch++;
          else oldGone = bodies.length > 50 && oldWorkers.every((pid) => !isAlive(pid));
        } catch (err) {
          failures.push(`#${sent}: ${(err as Error).message}`);
        }
        sent++;
      }
      agent.destroy();
      assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed`);
      assert.ok(oldGone, 'the old workers did not exit');
      assert.ok(sent >= 200);
      assert.ok(bodies.slice(0, 50).every((b) => b === 'old'), 'answered by the new config before the reload');
      assert.ok(bodies.every((b) => b === 'old' || b === 'new'));
      assert.ok(bodies.slice(-sinceSwitch).every((b) => b === 'new'), 'an old worker answered after the old workers exited');
      assert.equal(weir.workers().length, 2);
      const log = weir.errorLog();
      assert.match(log, /signal 1 \(SIGHUP\) received, reconfiguring\n.*reconfiguring\n/);
      assert.deepEqual(levelLines(log, 'alert'), []);
      assert.deepEqual(levelLines(log, 'emerg'), []);
      t.diagnostic(`${sent} requests, ${retried} retried on a keep-alive connection closed as idle`);
    } finally {
      await weir.stop();
    }
  });

  it('replaces a worker killed with SIGKILL', async () => {
    const weir = await startWeir({ config: serving('alive') });
    try {
      const [victim, other] = weir.workers();
      process.kill(victim, 'SIGKILL');
      await weir.waitForLog(new RegExp(`\\[alert\\] \\d+#0: worker process ${victim} exited on signal 9\\n`));
      const now = await waitFor('a replacement worker', () => {
        const w = weir.workers();
        return w.length === 2 && !w.includes(victim) ? w : undefined;
      });
      assert.ok(now.includes(other));
      await weir.waitForLog(/start worker process \d+\n/, undefined, 3);
      for (let i = 0; i < 10; i++) assert.equal((await httpGet(weir.port, '/')).body, 'alive');
    } finally {
      await weir.stop();
    }
  });

  it('QUIT waits for an in-flight request, bounded by worker_shutdown_timeout', async () => {
    // An upstream that accepts and never answers.
    const held: Socket[] = [];
    const upstream = createNetServer((s) => { held.push(s); s.on('error', () => {}); });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const up = (upstream.address() as AddressInfo).port;
    const weir = await startWeir({
      config: ({ port }) => `
events {}
worker_processes 1;
worker_shutdown_timeout 500ms;
error_log logs/error.log notice;
http {
    access_log off;
    server {
        listen 127.0.0.1:${port};
        location / { proxy_pass http://127.0.0.1:${up}; }
    }
}
`,
    });
    try {
      const inFlight = httpGet(weir.port, '/slow', { timeoutMs: 10_000 }).then((r) => r.status, (e: Error) => e.message);
      await waitFor('the request to reach the upstream', () => held.length > 0);
      const t0 = Date.now();
      weir.signal('SIGQUIT');
      // Still waiting for the request after the graceful stop began...
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(weir.exited, false);
      // ...and cut once the timeout passed.
      assert.deepEqual(await weir.waitForExit(), { code: 0, signal: null });
      assert.ok(Date.now() - t0 >= 400, `exited after ${Date.now() - t0} ms`);
      await inFlight;
      assert.deepEqual(levelLines(weir.errorLog(), 'alert'), []);
    } finally {
      await weir.stop();
      for (const s of held) s.destroy();
      upstream.close();
    }
  });

  it('-s reload and -s quit reach the master through the pid file', async () => {
    const weir = await startWeir({ config: serving('one', { workers: 1 }) });
    try {
      weir.prefix.writeConfig(serving('two', { workers: 1 })(weir.config));
      const r = await weir.run(['-s', 'reload']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      const body = await (async () => {
        const end = Date.now() + 10_000;
        for (;;) {
          const b = (await httpGet(weir.port, '/')).body;
          if (b === 'two' || Date.now() > end) return b;
          await new Promise((res) => setTimeout(res, 25));
        }
      })();
      assert.equal(body, 'two');
      const q = await weir.run(['-s', 'quit']);
      assert.equal(q.code, 0, q.stderr);
      assert.deepEqual(await weir.waitForExit(), { code: 0, signal: null });
      assert.equal(existsSync(weir.prefix.pidPath), false);
    } finally {
      await weir.stop();
    }
  });

  it('USR1 reopens the error log', async () => {
    const weir = await startWeir({ config: serving('x', { workers: 1 }) });
    try {
      renameSync(weir.prefix.errorLogPath, weir.prefix.errorLogPath + '.1');
      weir.signal('SIGUSR1');
      await waitFor('the error log to be reopened', () => existsSync(weir.prefix.errorLogPath));
      weir.reload();
      await weir.waitForLog(/reconfiguring\n/);
      const rotated = readFileSync(weir.prefix.errorLogPath + '.1', 'utf8');
      assert.match(rotated, /signal 10 \(SIGUSR1\) received, reopening\n.*reopening logs\n/, `rotated:\n${rotated}\ncurrent:\n${weir.errorLog()}`);
    } finally {
      await weir.stop();
    }
  });

  it('-e names the error log of a config that has none', async () => {
    const port = await freePort();
    const weir = await startWeir({
      config: `events {}\nworker_processes 1;\nhttp { access_log off; server { listen 127.0.0.1:${port}; return 200 ok; } }\n`,
      args: ['-e', 'logs/custom.log'],
    });
    try {
      assert.equal((await httpGet(port, '/')).body, 'ok');
      weir.prefix.writeConfig('events {}\nbroken;\n');
      weir.signal('SIGHUP');
      await waitFor('the [emerg] in logs/custom.log', () => {
        const p = join(weir.prefix.dir, 'logs/custom.log');
        return existsSync(p) && /\[emerg\] \d+#0: unknown directive "broken"/.test(readFileSync(p, 'utf8'));
      });
      assert.equal(existsSync(weir.prefix.errorLogPath), false);
    } finally {
      await weir.stop();
    }
  });

  it('a port in use fails the start with nginx\'s bind() [emerg] and exit 1', async () => {
    const blocker = http.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const p = makePrefix(serving('x')({ port, ports: [port], dir: '' }));
    try {
      const r = await runWeir(['-p', p.dir, '-g', 'daemon off;']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`weir: \\[emerg\\] bind\\(\\) to 127\\.0\\.0\\.1:${port} failed \\(98: Address already in use\\)`));
      assert.equal(existsSync(p.pidPath), false);
    } finally {
      blocker.close();
      p.remove();
    }
  });

  it('master_process off serves from one process and stops on QUIT', async () => {
    const weir = await startWeir({ config: serving('single', { extra: 'master_process off;' }) });
    const pidPath = weir.prefix.pidPath;
    assert.equal(readPid(pidPath), weir.pid);
    assert.deepEqual(weir.workers(), []);
    assert.equal((await httpGet(weir.port, '/')).body, 'single');
    weir.reload(serving('reloaded', { extra: 'master_process off;' }));
    await waitFor('the reloaded config', () => weir.errorLog().includes('reconfiguring'));
    const end = Date.now() + 10_000;
    let body = '';
    while (Date.now() < end) {
      body = await httpGet(weir.port, '/').then((r) => r.body, () => '');
      if (body === 'reloaded') break;
      await new Promise((res) => setTimeout(res, 25));
    }
    assert.equal(body, 'reloaded');
    assert.deepEqual(await weir.stop(), { code: 0, signal: null });
    assert.equal(existsSync(pidPath), false);
  });

  it('daemon on detaches: the command exits 0, the pid file names another process, -s stop ends it', async () => {
    const port = await freePort();
    const p = makePrefix(serving('daemon', { workers: 1 })({ port, ports: [port], dir: '' }));
    try {
      const r = await runWeir(['-p', p.dir]);
      assert.equal(r.code, 0, r.stderr);
      const pid = readPid(p.pidPath);
      assert.ok(pid !== undefined, 'no pid file once the command returned');
      killAtExit(pid);
      assert.ok(isAlive(pid));
      assert.equal(childPids(pid).length, 1);
      assert.equal((await httpGet(port, '/')).body, 'daemon');
      const s = await runWeir(['-p', p.dir, '-s', 'stop']);
      assert.equal(s.code, 0, s.stderr);
      await waitFor('the daemon to exit', () => !isAlive(pid));
      assert.equal(existsSync(p.pidPath), false);
    } finally {
      const pid = readPid(p.pidPath);
      if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGKILL');
      p.remove();
    }
  });
});
