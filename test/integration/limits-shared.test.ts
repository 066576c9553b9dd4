/**
 * limit_req and limit_conn on weir's shared zones, black-box with real
 * processes: the limit holds across workers (N r/s is N, not N per worker),
 * survives a reload, and a worker that dies gives back its connections.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { describe, it } from 'node:test';
import { freePort, httpGet, startWeir, waitFor, type ConfigContext } from '../helpers/weir-process.js';

const limited = (o: { workers: number; zoneSize?: string; upstream?: number }) => ({ port }: ConfigContext): string => `
events { worker_connections 256; }
worker_processes ${o.workers};
error_log logs/error.log info;
http {
    access_log off;
    root html;
    limit_req_zone $binary_remote_addr zone=one:${o.zoneSize ?? '1m'} rate=1r/m;
    limit_conn_zone $binary_remote_addr zone=conn:1m;
    server {
        listen 127.0.0.1:${port} backlog=512;
        location /r/ { limit_req zone=one burst=4 nodelay; }
        location /c/ { limit_conn conn 1; }
        location /hold { limit_conn conn 1; proxy_pass http://127.0.0.1:${o.upstream ?? 9}; proxy_read_timeout 30s; }
    }
}
`;

const files = { 'html/r/f': 'ok', 'html/c/f': 'ok' };

/** Statuses of `n` requests at once, each on its own connection (the kernel spreads them over the workers). */
async function burst(port: number, path: string, n: number): Promise<number[]> {
  const all = await Promise.all(Array.from({ length: n }, () => httpGet(port, path)));
  return all.map((r) => r.status);
}

const count = (xs: number[], v: number): number => xs.filter((x) => x === v).length;

/**
 * Holds a /hold request at the silent upstream. The previous request's
 * release may still be on its way to the master from another worker (each
 * worker has its own channel), so a 503 here means "not yet": try again.
 */
async function holdAtUpstream(port: number, arrived: Promise<void>): Promise<Socket> {
  for (let attempt = 0; ; attempt++) {
    const held = connect(port, '127.0.0.1');
    held.on('error', () => {});
    held.write('GET /hold HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const refused = new Promise<'refused'>((r) => held.once('data', () => r('refused')));
    if (await Promise.race([arrived.then(() => 'held' as const), refused]) === 'held') return held;
    held.destroy();
    if (attempt === 20) throw new Error('the /hold request was refused 20 times');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An upstream that accepts and never answers; tells when a connection came. */
function silentUpstream(): Promise<{ server: Server; port: number; arrived: Promise<void>; close(): void }> {
  return new Promise((resolve) => {
    const sockets: Socket[] = [];
    let arrive: () => void = () => {};
    const arrived = new Promise<void>((r) => { arrive = r; });
    const server = createServer((s) => { sockets.push(s); s.on('error', () => {}); arrive(); });
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({ server, port, arrived, close: () => { for (const s of sockets) s.destroy(); server.close(); } });
    });
  });
}

describe('shared zones across workers', { concurrency: true }, () => {
  it('limit_req with 2 workers: 1 + burst requests pass in all, not per worker', async () => {
    const weir = await startWeir({ config: limited({ workers: 2 }), files });
    try {
      const statuses = await burst(weir.port, '/r/f', 24);
      assert.equal(count(statuses, 200), 5, `1 + burst=4 pass: ${statuses.join(' ')}`);
      assert.equal(count(statuses, 503), 19);
      const log = await weir.waitForLog(/limiting requests, excess: [45]\.\d{3} by zone "one", client: 127\.0\.0\.1/);
      assert.match(log, /\[error\]/);
    } finally {
      await weir.stop();
    }
  });

  it('limit_req state survives a reload; a zone of another size starts afresh', async () => {
    const weir = await startWeir({ config: limited({ workers: 1 }), files });
    try {
      const before = await burst(weir.port, '/r/f', 6);
      assert.equal(count(before, 200), 5, before.join(' '));
      const old = weir.workers();
      weir.reload();
      await waitFor('the new generation', () => { const w = weir.workers(); return w.length === 1 && !old.includes(w[0]); });
      assert.equal((await httpGet(weir.port, '/r/f')).status, 503, 'the bucket is still full after HUP');
      const older = weir.workers();
      weir.reload(limited({ workers: 1, zoneSize: '2m' }));
      await waitFor('the next generation', () => { const w = weir.workers(); return w.length === 1 && !older.includes(w[0]); });
      assert.equal((await httpGet(weir.port, '/r/f')).status, 200, 'a new size is a new zone, as in nginx');
    } finally {
      await weir.stop();
    }
  });

  it('limit_conn across workers, released when the request ends and when its worker dies', async () => {
    const up = await silentUpstream();
    const weir = await startWeir({ config: limited({ workers: 2, upstream: up.port }), files });
    try {
      assert.equal((await httpGet(weir.port, '/c/f')).status, 200, 'a request that ended gave back its count');
      assert.equal((await httpGet(weir.port, '/c/f')).status, 200);
      // A request held at the upstream counts as one connection for 127.0.0.1.
      const held = await holdAtUpstream(weir.port, up.arrived);
      const statuses = await burst(weir.port, '/c/f', 8);
      assert.deepEqual(statuses, Array(8).fill(503), 'every worker sees the one connection');
      await weir.waitForLog(/limiting connections by zone "conn"/);
      // The worker holding it dies (SIGKILL: no cleanup of its own); the master gives its count back.
      const workers = weir.workers();
      for (const pid of workers) process.kill(pid, 'SIGKILL');
      await waitFor('respawned workers', () => { const w = weir.workers(); return w.length === 2 && w.every((p) => !workers.includes(p)); });
      // Killed workers take the listening socket with them until the new ones listen.
      await weir.waitForLog(/start worker process \d+[\s\S]*start worker process \d+[\s\S]*start worker process \d+[\s\S]*start worker process \d+/);
      // Each worker's death is its own exit event: a replacement may answer (503) before the
      // master has handled the other worker's exit, so the count is awaited, within 2 s.
      const seen: number[] = [];
      for (const deadline = Date.now() + 10_000; Date.now() < deadline && seen.at(-1) !== 200;) {
        seen.push(await httpGet(weir.port, '/c/f', { timeoutMs: 2000 }).then((r) => r.status, () => 0));
        if (seen.at(-1) !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      // The held client is still connected: only the master's cleanup can have freed its count.
      assert.equal(seen.at(-1), 200, `statuses after the workers died: ${seen.join(' ')}`);
      held.destroy();
    } finally {
      up.close();
      await weir.stop();
    }
  });

  it('limit_conn: a client that leaves gives back its count', async () => {
    const up = await silentUpstream();
    const weir = await startWeir({ config: limited({ workers: 2, upstream: up.port }), files });
    try {
      const held = await holdAtUpstream(weir.port, up.arrived);
      assert.equal((await httpGet(weir.port, '/c/f')).status, 503);
      held.destroy();
      // The close reaches weir's worker, which ends the request and releases: the next one passes.
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = (await httpGet(weir.port, '/c/f')).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(status, 200);
    } finally {
      up.close();
      await weir.stop();
    }
  });
});

describe('limit_req delay', () => {
  it('a delayed request waits excess/rate; a client leaving while delayed ends it at once (499)', async () => {
    const port = await freePort();
    const weir = await startWeir({
      config: `
events {}
worker_processes 1;
error_log logs/error.log info;
http {
    log_format t "$uri $status $limit_req_status";
    access_log logs/access.log t;
    root html;
    limit_req_zone $binary_remote_addr zone=d:1m rate=2r/s;
    server {
        listen 127.0.0.1:${port};
        location / { limit_req zone=d burst=5; }
    }
}
`,
      files: { 'html/a': 'A', 'html/b': 'B', 'html/c': 'C' },
    });
    try {
      assert.equal((await httpGet(port, '/a')).status, 200);
      const t0 = Date.now();
      const delayed = await httpGet(port, '/b');
      const waited = Date.now() - t0;
      assert.equal(delayed.status, 200);
      assert.ok(waited >= 350, `delayed about 500 ms (1 in excess at 2 r/s), waited ${waited}`);
      await weir.waitForLog(/\[warn\] .*delaying request, excess: 0\.\d{3}, by zone "d"/);
      // The next one waits longer; its client gives up first.
      const s = connect(port, '127.0.0.1');
      s.on('error', () => {});
      s.write('GET /c HTTP/1.1\r\nHost: localhost\r\n\r\n');
      await new Promise((r) => setTimeout(r, 100));
      const left = Date.now();
      s.destroy();
      const log = await waitFor('the 499 line', () => {
        try { return /\/c 499 DELAYED/.exec(weir.prefix.read('logs/access.log')) ?? undefined; } catch { return undefined; }
      });
      assert.ok(log);
      assert.ok(Date.now() - left < 400, 'logged when the client left, not when the delay ended');
    } finally {
      await weir.stop();
    }
  });
});
