// tcp_nodelay and lingering_close of the request's location.
import assert from 'node:assert/strict';
import { connect, Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { startWeir, type Weir } from '../helpers/raw-http.js';

let w: Weir;

before(async () => {
  w = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT%;
      location /nagle { tcp_nodelay off; return 200 "n"; }
      location /fast { return 200 "f"; }
      location /nolinger { lingering_close off; return 200 "bye"; }
      location /linger { return 200 "bye"; }
    }
  }`);
});

after(async () => {
  await w.stop();
});

test('tcp_nodelay off: the socket leaves Nagle on for that location; another location turns it back', async () => {
  const calls: boolean[] = [];
  const proto = Socket.prototype as unknown as { setNoDelay: (this: Socket, on?: boolean) => Socket };
  const original = proto.setNoDelay;
  proto.setNoDelay = function (on?: boolean) {
    if (this.localPort === w.port) calls.push(on ?? true);
    return original.call(this, on);
  };
  try {
    const s = connect(w.port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d.toString(); });
    s.write('GET /nagle HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await new Promise((r) => s.on('close', r));
    assert.match(got, /\r\n\r\nn[\s\S]*\r\n\r\nf$/);
  } finally {
    proto.setNoDelay = original;
  }
  assert.deepEqual(calls, [false, true]);
});

/** A POST answered before its body: after the answer the client sends the rest; did the server drop it or reset? */
async function lateBody(path: string): Promise<string | null> {
  // Half-open: the client goes on sending after the server's FIN, as a slow uploader does.
  const s = connect({ port: w.port, host: '127.0.0.1', allowHalfOpen: true });
  let error: string | null = null;
  let got = '';
  s.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
  s.on('data', (d) => { got += d.toString(); });
  s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000000\r\n\r\n`);
  for (let i = 0; i < 100 && !got.includes('bye'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(got.includes('bye'), got);
  await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 10 && error === null && !s.destroyed; i++) {
    s.write(Buffer.alloc(65536, 'b'));
    await new Promise((r) => setTimeout(r, 30));
  }
  s.destroy();
  return error;
}

test('lingering_close off: the connection closes at once, late body bytes get a reset; on: they are read and dropped', async () => {
  assert.match((await lateBody('/nolinger')) ?? 'none', /ECONNRESET|EPIPE/);
  assert.equal(await lateBody('/linger'), null);
});
