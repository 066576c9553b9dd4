// Core extras of issue 15: $request_port / $is_request_port (request line
// authority first, then Host), max_headers, $pipe, and the pool size
// directives (accepted and checked as nginx does).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfigText } from '../../src/config/loader.js';
import { builtinModules } from '../../src/modules.js';
import { exchange, startWeir, type Weir } from '../helpers/raw-http.js';
import { waitLines } from '../helpers/in-process.js';

let w: Weir;

before(async () => {
  w = await startWeir(`http {
    log_format pipe '$uri $pipe';
    connection_pool_size 128; request_pool_size 4k;
    server { listen 127.0.0.1:%PORT%; server_name localhost;
      max_headers 3;
      access_log off;
      location / { return 200 "[$is_request_port$request_port]"; }
      location /p/ { access_log %PREFIX%/logs/pipe.log pipe; return 200; }
    }
  }`);
});

after(async () => { await w.stop(); });

async function body(req: string): Promise<{ status: number; text: string }> {
  const ex = await exchange(w.port, req);
  const r = ex.responses[0]!;
  return { status: r.status, text: r.body.toString('latin1') };
}

test('$request_port: none without a port; the Host port; the request line wins over Host', async () => {
  assert.equal((await body('GET / HTTP/1.0\r\n\r\n')).text, '[]');
  assert.equal((await body('GET / HTTP/1.0\r\nHost: localhost\r\n\r\n')).text, '[]');
  assert.equal((await body('GET / HTTP/1.0\r\nHost: localhost:8080\r\n\r\n')).text, '[:8080]');
  assert.equal((await body('GET http://localhost:9000/ HTTP/1.0\r\nHost: localhost:8080\r\n\r\n')).text, '[:9000]');
  assert.equal((await body('GET http://localhost/ HTTP/1.0\r\nHost: localhost:8080\r\n\r\n')).text, '[]');
  // a port of 0 is no port, as nginx's r->port == 0
  assert.equal((await body('GET / HTTP/1.0\r\nHost: localhost:0\r\n\r\n')).text, '[]');
  assert.equal((await body('GET / HTTP/1.0\r\nHost: localhost:65536\r\n\r\n')).status, 400);
});

test('max_headers: that many lines pass, one more is 400', async () => {
  assert.equal((await body('GET / HTTP/1.0\r\nHost: localhost\r\nA: 1\r\nB: 2\r\n\r\n')).status, 200);
  assert.equal((await body('GET / HTTP/1.0\r\nHost: localhost\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n')).status, 400);
});

test('$pipe: "p" for a request that came behind another, "." otherwise', async () => {
  const log = path.join(w.prefix, 'logs', 'pipe.log');
  await exchange(w.port, 'GET /p/one HTTP/1.1\r\nHost: localhost\r\n\r\nGET /p/two HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  // a second request on the kept-alive connection, sent after the first answer: not pipelined
  await exchange(w.port, ['GET /p/three HTTP/1.1\r\nHost: localhost\r\n\r\n', 'GET /p/four HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'], { gapMs: 150 });
  const lines = await waitLines(log, 4);
  assert.deepEqual(lines.sort(), ['/p/four .', '/p/one .', '/p/three .', '/p/two p']);
});

test('connection_pool_size / request_pool_size: nginx\'s bounds', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-'));
  try {
    const conf = (v: string): string => `events {}\nhttp {\n${v}\n}\n`;
    assert.throws(() => loadConfigText(conf('connection_pool_size 64;'), dir, builtinModules), { message: 'the pool size must be no less than 112 in inline:3' });
    assert.throws(() => loadConfigText(conf('request_pool_size 1000;'), dir, builtinModules), { message: 'the pool size must be a multiple of 16 in inline:3' });
    assert.throws(() => loadConfigText(conf('max_headers many;'), dir, builtinModules), { message: '"max_headers" directive invalid number in inline:3' });
    loadConfigText(conf('connection_pool_size 256; request_pool_size 8k; max_headers 10;'), dir, builtinModules);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
