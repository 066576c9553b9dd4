/**
 * Mutated, pipelined, byte-split requests against a running weir that proxies
 * to itself (streamed and buffered bodies, chunked, upgrade, Expect): weir
 * must answer or close every connection, log no [alert], leave no connection
 * open, and never desynchronise an upstream connection. It found a cached
 * upstream connection whose request body had not been wholly sent (the next
 * request's bytes became that body: "upstream prematurely closed ...") and
 * a client connection left open forever when an early answer came before
 * the body. FUZZ_SEED=n runs another seed; FUZZ_DEBUG=1 prints the bytes of
 * a connection weir left open.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { freePort, startWeir } from '../helpers/raw-http.js';
import { seeded } from '../helpers/seeded.js';

const BASES = [
  'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET /r HTTP/1.1\r\nHost: a\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello',
  'POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n',
  'GET /b HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n',
  'HEAD / HTTP/1.0\r\n\r\n',
  'GET /r HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab',
];
const BYTES = [' ', '\t', '\r', '\n', '\0', ':', ';', '0', 'f', 'x', '\x80', '\xff', 'G', '/', '"', ','];
const CONNECTIONS = 400;
const PARALLEL = 40;

test('fuzzed connections: every one ends, nothing desynchronises, no alert', async () => {
  const upPort = await freePort();
  const w = await startWeir(`http { access_log off; client_header_timeout 1s; client_body_timeout 1s;
    lingering_timeout 300ms; lingering_time 1s; keepalive_timeout 1s;
    upstream be { server 127.0.0.1:${upPort}; }
    server { listen 127.0.0.1:%PORT%; root %PREFIX%/html;
      location / { }
      location /r { return 200 "r"; }
      location /p { proxy_pass http://be; proxy_request_buffering off; }
      location /b { proxy_pass http://be; }
    }
    server { listen 127.0.0.1:${upPort}; location / { return 200 "up:$request_method"; } } }`, { 'html/index.html': 'hello' });
  const rand = seeded(Number(process.env.FUZZ_SEED ?? 20261121));
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;
  const mutate = (s: string): string => {
    const b = [...s];
    for (let n = 1 + Math.floor(rand() * 4); n > 0; n--) {
      const p = Math.floor(rand() * (b.length + 1));
      const op = rand();
      if (op < 0.4) b.splice(p, 1);
      else if (op < 0.8) b.splice(p, 0, pick(BYTES));
      else b[p] = pick(BYTES);
    }
    return b.join('');
  };
  const one = (): Promise<boolean> => new Promise((resolve) => {
    let wire = '';
    for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) wire += rand() < 0.5 ? mutate(pick(BASES)) : pick(BASES);
    const bytes = Buffer.from(wire, 'latin1');
    const steps: number[] = [];
    for (let pos = 0; pos < bytes.length;) { const n = 1 + Math.floor(rand() * 20); steps.push(n); pos += n; }
    const halfClose = rand() < 0.3;
    const sock = connect(w.port, '127.0.0.1');
    sock.on('error', () => {});
    sock.on('data', () => {});
    // weir must end every connection itself (timeouts are 1 s): 4 s is a hang.
    const hang = setTimeout(() => { if (process.env.FUZZ_DEBUG) console.error('HUNG', JSON.stringify(wire), halfClose); sock.destroy(); resolve(false); }, 4000);
    sock.on('close', () => { clearTimeout(hang); resolve(true); });
    const pauses = steps.map(() => rand() < 0.1);
    sock.on('connect', async () => {
      // Some pieces after a pause, so that weir acts on a head before its body arrives.
      let pos = 0;
      for (let i = 0; i < steps.length && !sock.destroyed; i++) {
        sock.write(bytes.subarray(pos, pos + steps[i]!));
        pos += steps[i]!;
        if (pauses[i]) await new Promise((r) => setTimeout(r, 2));
      }
      if (halfClose && !sock.destroyed) sock.end();
    });
  });
  let next = 0;
  let hung = 0;
  try {
    await Promise.all(Array.from({ length: PARALLEL }, async () => {
      while (next++ < CONNECTIONS) if (!(await one())) hung++;
    }));
    const log = w.errorLog();
    assert.equal(hung, 0, `${hung} connections were left open by weir`);
    assert.doesNotMatch(log, /\[(alert|crit|emerg)\]/);
    assert.doesNotMatch(log, /upstream prematurely closed connection/);
  } finally {
    await w.stop();
  }
});
