// fastcgi_request_buffering: on, the body is read whole before the application
// is contacted; off, the application gets BEGIN_REQUEST/PARAMS at once and the
// body as STDIN records while the client is still sending it.
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import test from 'node:test';
import { response, startFakeFastcgi } from '../helpers/fake-fastcgi.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exchange, get, startWeir } from '../helpers/raw-http.js';
import { pollUntil } from '../helpers/wait.js';

/**
 * POSTs `parts` as one body: the head, then each part once `before(i)` resolves (the
 * test waits there for what the previous part caused, not for a time). Resolves with
 * everything the server sent, at the close.
 */
async function upload(port: number, parts: string[], before: (i: number) => Promise<unknown> = async () => {}): Promise<string> {
  const body = parts.join('');
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let got = '';
    sock.on('data', (d) => { got += d.toString('latin1'); });
    sock.on('close', () => resolve(got));
    sock.on('error', reject);
    sock.on('connect', async () => {
      try {
        sock.write(`POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
        for (let i = 0; i < parts.length; i++) { await before(i); sock.write(parts[i]); }
      } catch (e) {
        sock.destroy();
        reject(e);
      }
    });
  });
}

/** The bytes of the request-body temp files under `dir` (weir's client_body_temp). */
function tempBodies(dir: string): string {
  if (!existsSync(dir)) return '';
  return readdirSync(dir).map((f) => { try { return readFileSync(join(dir, f), 'latin1'); } catch { return ''; } }).join('|');
}

for (const buffering of ['on', 'off'] as const) {
  test(`fastcgi_request_buffering ${buffering}`, async () => {
    const app = await startFakeFastcgi((req, sock) => {
      sock.write(response('Content-Type: text/plain\r\n', `stdin=${req.stdin.toString('latin1')}`));
      if (!req.keepConn) sock.end();
    });
    // client_body_buffer_size 4: buffered, the body goes to a temp file as it is read, so
    // the test can see that weir has read the first part.
    const w = await startWeir(`http { access_log off; server { listen 127.0.0.1:%PORT%;
      location / { fastcgi_pass 127.0.0.1:${app.port}; fastcgi_request_buffering ${buffering};
        client_body_buffer_size 4; client_body_temp_path %PREFIX%/cbt; } } }`);
    try {
      const answer = await upload(w.port, ['first-', 'second-', 'third'], async (i) => {
        if (i !== 1) return;
        // Only the head and the first part have been sent so far.
        if (buffering === 'off') {
          // Streamed: the application already has the first part.
          await pollUntil('the first part at the application', () => app.stdinBytes, (n) => n >= 'first-'.length);
          assert.equal(app.connections, 1);
        } else {
          // Buffered: weir has read the first part into its temp file, and not contacted the application.
          await pollUntil('the first part in the body temp file', () => tempBodies(join(w.prefix, 'cbt')), (t) => t.includes('first-'));
          assert.equal(app.connections, 0, 'the application was contacted before the body was complete');
        }
      });
      assert.match(answer, /^HTTP\/1\.1 200 OK/);
      assert.match(answer, /\r\nstdin=first-second-third\r\n/);
      assert.equal(app.connections, 1);
    } finally {
      await w.stop();
      await app.close();
    }
  });
}

test('X-Accel-Redirect from a FastCGI application redirects internally', async () => {
  const app = await startFakeFastcgi((req, sock) => {
    sock.write(response('X-Accel-Redirect: /files/report.pdf\r\nContent-Type: text/plain\r\n', 'never sent'));
    if (!req.keepConn) sock.end();
  });
  const w = await startWeir(`http { access_log off; server { listen 127.0.0.1:%PORT%;
    location /app { fastcgi_pass 127.0.0.1:${app.port}; }
    location /files/ { internal; return 200 "internal $uri"; } } }`);
  try {
    const ex = await exchange(w.port, get('/app'));
    assert.equal(ex.responses[0]?.status, 200);
    assert.equal(ex.responses[0]?.body.toString(), 'internal /files/report.pdf');
  } finally {
    await w.stop();
    await app.close();
  }
});

/** STDIN records with content in one read (whole records, as the test below checks). */
function countStdin(d: Buffer): number {
  let n = 0;
  for (let at = 0; at + 8 <= d.length; at += 8 + d.readUInt16BE(at + 4) + d[at + 6]) {
    if (d[at + 1] === 5 && d.readUInt16BE(at + 4) > 0) n++;
  }
  return n;
}

test('fastcgi_request_buffering off: each STDIN record leaves whole (header, content and padding in one write)', async () => {
  // A raw application: every read must hold whole records, as nginx-tests' backends expect.
  const reads: Buffer[] = [];
  const app = createServer((s) => {
    s.on('data', (d) => {
      reads.push(d);
      if (d.includes(Buffer.from([1, 5, 0, 1, 0, 0]))) s.end(response('Content-Type: text/plain\r\n', 'ok'));
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const port = (app.address() as { port: number }).port;
  const w = await startWeir(`http { access_log off; server { listen 127.0.0.1:%PORT%;
    location / { fastcgi_pass 127.0.0.1:${port}; fastcgi_request_buffering off; } } }`);
  try {
    // Each part is sent once the previous one's record has arrived: three reads at least.
    const answer = await upload(w.port, ['first-', 'second-', 'third'], async (i) => {
      await pollUntil(`STDIN record ${i}`, () => reads.reduce((n, d) => n + countStdin(d), 0), (n) => n >= i);
    });
    assert.match(answer, /^HTTP\/1\.1 200 OK/);
    assert.ok(reads.length >= 3, `the parts came apart: ${reads.length} reads`);
    for (const d of reads) {
      let at = 0;
      while (at < d.length) {
        assert.ok(d.length - at >= 8, 'a record header split from its read');
        at += 8 + d.readUInt16BE(at + 4) + d[at + 6];
      }
      assert.equal(at, d.length, 'a record split across reads');
    }
  } finally {
    await w.stop();
    await new Promise((r) => app.close(r));
  }
});
