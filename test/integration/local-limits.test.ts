// RELIABILITY F11: running out of file descriptors is weir's own limit, not the
// upstream's fault. weir (one process, `ulimit -n` small) is flooded with
// requests to upstreams that hold them; afterwards the upstreams must not have
// been marked failed, and weir must still serve.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { connect } from 'node:net';
import test from 'node:test';
import { exchange, get } from '../helpers/raw-http.js';
import { WEIR_BIN, freePorts, isAlive, killAtExit, makePrefix, readPid, waitFor } from '../helpers/weir-process.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('EMFILE while connecting upstream answers 500 and charges no peer', async () => {
  let answer = false;
  const held = new Set<Socket>();
  const upstream = (): Server => createServer((s) => {
    held.add(s);
    s.on('close', () => held.delete(s));
    s.on('error', () => {});
    s.on('data', () => { if (answer) s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok'); });
  });
  const [pa, pb, port] = await freePorts(3);
  const a = upstream();
  const b = upstream();
  await Promise.all([new Promise<void>((r) => a.listen(pa, '127.0.0.1', r)), new Promise<void>((r) => b.listen(pb, '127.0.0.1', r))]);
  const prefix = makePrefix(`daemon off; master_process off; error_log logs/error.log info; pid logs/weir.pid;
events {}
http { access_log off;
  upstream be { server 127.0.0.1:${pa} max_fails=1 fail_timeout=30s; server 127.0.0.1:${pb} max_fails=1 fail_timeout=30s; }
  server { listen 127.0.0.1:${port}; location / { proxy_pass http://be; proxy_read_timeout 30s; } }
}`);
  const child = spawn('bash', ['-c', `ulimit -n 128; exec "${process.execPath}" "${WEIR_BIN}" -p "${prefix.dir}" -c "${prefix.confPath}"`], { stdio: 'ignore' });
  killAtExit(child.pid!);
  const clients: Socket[] = [];
  try {
    await waitFor('weir to listen', () => readPid(prefix.pidPath));
    // Connections first (one descriptor each), then a request on each: every
    // request needs one more descriptor for its upstream, which runs out.
    for (let i = 0; i < 100; i++) {
      const c = connect(port, '127.0.0.1');
      c.on('error', () => {});
      clients.push(c);
      await sleep(5);
    }
    await sleep(300);
    for (const c of clients) if (!c.destroyed) c.write(get('/flood').replace('Connection: close\r\n', ''));
    const log = await waitFor('an EMFILE line', () => {
      const text = prefix.errorLog();
      return /socket\(\) failed \(24: Too many open files\) while connecting to upstream/.test(text) ? text : undefined;
    }, 8000).catch((e: Error) => { throw new Error(`${e.message}; alive ${isAlive(child.pid!)}; clients ${clients.filter((c) => !c.destroyed).length}; log: ${prefix.errorLog().slice(0, 600)}`); });
    assert.doesNotMatch(log, /upstream server temporarily disabled/);
    for (const c of clients) c.destroy();
    // weir aborts each upstream request when its client goes; closing the
    // upstream side first would race that abort and be a real upstream failure.
    await waitFor('weir to close its upstream connections', () => held.size === 0 || undefined, 5000);
    answer = true;
    // Descriptors come back as the flood's sockets close; then both peers answer at once
    // (had they been charged, max_fails=1 fail_timeout=30s would keep them out).
    let status = 0;
    for (let i = 0; i < 10 && status !== 200; i++) {
      await sleep(200);
      status = (await exchange(port, get('/after'))).responses[0]?.status ?? 0;
    }
    assert.equal(status, 200, `the upstreams were not marked failed; log tail: ${prefix.errorLog().slice(-700)}`);
    assert.doesNotMatch(prefix.errorLog(), /no live upstreams/);
    assert.ok(isAlive(child.pid!));
  } finally {
    for (const c of clients) c.destroy();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    a.close();
    b.close();
    prefix.remove();
  }
});
