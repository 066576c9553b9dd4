// stub_status and $connections_* in one process: nginx's page byte for byte, and the
// connection states it counts (waiting, reading, writing), nginx's answers to other methods.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { exchange, get, startWeir } from '../helpers/raw-http.js';
import { loadConfigText } from '../../src/config/loader.js';
import { builtinModules } from '../../src/modules.js';

const CONF = `http {
  server {
    listen 127.0.0.1:%PORT%;
    root %PREFIX%;
    keepalive_timeout 60s;
    add_header X-Active $connections_active;
    add_header X-Reading $connections_reading;
    add_header X-Writing $connections_writing;
    add_header X-Waiting $connections_waiting;
    location / { }
    location /slow { limit_rate 1; }
    location /status { stub_status; }
    location /on { stub_status on; }
  }
}`;

const PAGE = /^Active connections: (\d+) \nserver accepts handled requests\n (\d+) (\d+) (\d+) \nReading: (\d+) Writing: (\d+) Waiting: (\d+) \n$/;

interface Stats { active: number; accepts: number; handled: number; requests: number; reading: number; writing: number; waiting: number }

async function status(port: number, path = '/status'): Promise<Stats> {
  const { responses } = await exchange(port, get(path), { idleMs: 50 });
  const r = responses[0];
  assert.equal(r.status, 200);
  const m = PAGE.exec(r.body.toString('latin1'));
  assert.ok(m, `nginx's page: ${JSON.stringify(r.body.toString('latin1'))}`);
  const n = m.slice(1).map(Number);
  return { active: n[0], accepts: n[1], handled: n[2], requests: n[3], reading: n[4], writing: n[5], waiting: n[6] };
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => {});
  });
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('stub_status: the page, its headers, and the counts of a first request', async () => {
  const w = await startWeir(CONF, { 'index.html': 'x', slow: 'y'.repeat(100) });
  try {
    const { responses } = await exchange(w.port, get('/status'), { idleMs: 50 });
    const r = responses[0];
    assert.equal(r.headers['content-type'], 'text/plain');
    assert.equal(Number(r.headers['content-length']), r.body.length);
    const s = await status(w.port);
    assert.equal(s.active, 1, 'only this connection');
    assert.equal(s.writing, 1);
    assert.equal(s.reading, 0);
    assert.equal(s.waiting, 0);
    assert.equal(s.accepts, s.handled);
    const next = await status(w.port);
    assert.equal(next.accepts, s.accepts + 1);
    assert.equal(next.requests, s.requests + 1);
    assert.equal((await status(w.port, '/on')).active, 1, '`stub_status on` is the old spelling: the argument is ignored');
  } finally {
    await w.stop();
  }
});

test('stub_status: waiting, reading and writing connections; pipelined requests count each', async () => {
  const w = await startWeir(CONF, { 'index.html': 'x', slow: 'y'.repeat(100) });
  const socks: Socket[] = [];
  try {
    const base = await status(w.port);
    await exchange(w.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', { idleMs: 100 });
    const piped = await status(w.port);
    assert.equal(piped.requests, base.requests + 3, 'two pipelined and this one');
    assert.equal(piped.accepts, base.accepts + 2);

    const s = await open(w.port);
    socks.push(s);
    await pause(50);
    let now = await status(w.port);
    assert.deepEqual([now.active, now.waiting, now.reading, now.writing], [2, 1, 0, 1], 'an idle connection waits');

    s.write('GET /slow HTTP/1.0\r\n');
    await pause(100);
    now = await status(w.port);
    assert.deepEqual([now.active, now.waiting, now.reading, now.writing], [2, 0, 1, 1], 'a head under way is reading');

    s.write('Host: a\r\n\r\n');
    await pause(100);
    now = await status(w.port);
    assert.deepEqual([now.active, now.waiting, now.reading, now.writing], [2, 0, 0, 2], 'a response under way is writing');
    s.destroy();
    await pause(100);
    now = await status(w.port);
    assert.deepEqual([now.active, now.waiting, now.reading, now.writing], [1, 0, 0, 1], 'a closed connection is no longer counted');

    // A kept-alive connection goes back to waiting after its response.
    const k = await open(w.port);
    socks.push(k);
    k.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await pause(100);
    now = await status(w.port);
    assert.deepEqual([now.active, now.waiting, now.reading, now.writing], [2, 1, 0, 1]);
  } finally {
    for (const s of socks) s.destroy();
    await w.stop();
  }
});

test('stub_status: HEAD has no body, POST is 405; the variables read the same counts', async () => {
  const w = await startWeir(CONF, { 'index.html': 'x' });
  try {
    const head = await exchange(w.port, get('/status', '', 'HEAD'), { idleMs: 50, methods: ['HEAD'] });
    assert.equal(head.responses[0].status, 200);
    assert.equal(head.responses[0].body.length, 0);
    assert.equal(head.responses[0].headers['x-active'], '1');
    assert.equal(head.responses[0].headers['x-writing'], '1');
    const post = await exchange(w.port, 'POST /status HTTP/1.0\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc', { idleMs: 50 });
    assert.equal(post.responses[0].status, 405);
    const plain = await exchange(w.port, get('/'), { idleMs: 50 });
    const h = plain.responses[0].headers;
    assert.deepEqual([h['x-active'], h['x-reading'], h['x-writing'], h['x-waiting']], ['1', '0', '1', '0']);
  } finally {
    await w.stop();
  }
});

test('stub_status: config errors', () => {
  const load = (conf: string): string => {
    try { loadConfigText(`events {}\n${conf}`, '/nonexistent-prefix', builtinModules); return 'loaded'; } catch (e) { return (e as Error).message; }
  };
  assert.match(load('http { server { location / { stub_status a b; } } }'), /invalid number of arguments in "stub_status" directive/);
  assert.match(load('http { stub_status; }'), /"stub_status" directive is not allowed here/);
  assert.equal(load('http { server { stub_status; } }'), 'loaded');
});
