// proxy_pass with variables: upstream blocks by name, IP literals without a
// resolver, other names only through `resolver` (a stub DNS server on loopback).
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { GET, startProxy } from '../helpers/proxy-harness.js';

/** Answers every A query with 127.0.0.1 (one answer, TTL 60), and counts queries. */
async function stubDns(): Promise<{ sock: UdpSocket; port: number; queries: string[] }> {
  const sock = createSocket('udp4');
  const queries: string[] = [];
  sock.on('message', (msg, rinfo) => {
    // Question name starts at 12: labels until a zero byte, then QTYPE, QCLASS.
    let i = 12;
    const labels: string[] = [];
    while (msg[i] !== 0) { labels.push(msg.subarray(i + 1, i + 1 + msg[i]).toString()); i += msg[i] + 1; }
    const qEnd = i + 5;
    queries.push(labels.join('.'));
    const header = Buffer.from([msg[0], msg[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
    sock.send(Buffer.concat([header, msg.subarray(12, qEnd), answer]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return { sock, port: sock.address().port, queries };
}

async function app(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => res.end(`app ${req.url} host=${req.headers.host}`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}
const close = (s: Server): Promise<void> => new Promise((r) => { s.closeAllConnections(); s.close(() => r()); });

test('proxy_pass with variables: an upstream block, an IP literal, a name through the resolver, a name without one', async () => {
  const a = await app();
  const dns = await stubDns();
  const w = await startProxy(`
    upstream named { server 127.0.0.1:${a.port}; }
    server {
      listen 127.0.0.1:%PORT%;
      location /block/ { proxy_pass http://$arg_u; }
      location /ip/ { proxy_pass http://127.0.0.1:$arg_p/x$is_args$args; }
      location /dns/ { resolver 127.0.0.1:${dns.port}; resolver_timeout 2s; proxy_pass http://$arg_h:${a.port}; }
      location /nodns/ { proxy_pass http://$arg_h:${a.port}; }
    }`);
  try {
    assert.equal((await GET(w.port, '/block/?u=named')).res?.body.toString(), 'app /block/?u=named host=named');
    assert.equal((await GET(w.port, `/ip/?p=${a.port}`)).res?.body.toString(), `app /x?p=${a.port} host=127.0.0.1:${a.port}`);
    const viaDns = await GET(w.port, '/dns/?h=backend.test');
    assert.equal(viaDns.res?.status, 200);
    assert.equal(viaDns.res?.body.toString(), `app /dns/?h=backend.test host=backend.test:${a.port}`);
    assert.deepEqual(dns.queries, ['backend.test']);
    // The answer is kept: a second request asks nothing.
    await GET(w.port, '/dns/?h=backend.test');
    assert.equal(dns.queries.length, 1);
    const none = await GET(w.port, '/nodns/?h=backend.test');
    assert.equal(none.res?.status, 502);
    assert.match(await w.waitLog(/no resolver defined/), /no resolver defined to resolve backend\.test/);
  } finally {
    await w.stop();
    await close(a.server);
    dns.sock.close();
  }
});

test('proxy_pass with variables to a unix socket: `unix:PATH:URI`, Host localhost; an empty path is 502', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-dyn-unix-'));
  const path = join(dir, 'app.sock');
  const server = createServer((req, res) => res.end(`app ${req.url} host=${req.headers.host}`));
  await new Promise<void>((r) => server.listen(path, r));
  const w = await startProxy(`
    server {
      listen 127.0.0.1:%PORT%;
      location /u/ { proxy_pass http://$arg_b; }
    }`);
  try {
    const x = await GET(w.port, `/u/?b=unix:${path}:/there`);
    assert.equal(x.res?.status, 200);
    assert.equal(x.res?.body.toString(), 'app /there host=localhost');
    const y = await GET(w.port, `/u/?b=unix:${path}`);
    assert.equal(y.res?.body.toString(), `app /u/?b=unix:${path} host=localhost`, 'no URI: the request\'s own');
    const z = await GET(w.port, '/u/?b=unix::/there');
    assert.equal(z.res?.status, 502);
    assert.match(await w.waitLog(/invalid host in/), /invalid host in "http:\/\/unix::\/there"/);
  } finally {
    await w.stop();
    await close(server);
    rmSync(dir, { recursive: true, force: true });
  }
});
