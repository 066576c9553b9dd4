// TLS under the master and its workers: a session from one worker resumes on another
// (`ssl_session_cache shared`, tickets whose key every worker derives from the master's
// secret), and new certificates on HUP while a connection made before keeps working.
import assert from 'node:assert/strict';
import { connect, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { startWeir } from '../helpers/weir-process.js';
import { CertFactory } from '../helpers/tls-certs.js';

let certs: CertFactory;

before(() => {
  certs = new CertFactory();
  certs.selfSigned('one', 'one.test');
  certs.selfSigned('two', 'two.test');
});

after(() => certs?.remove());

interface Answer { body: string; reused: boolean; session: Buffer | undefined; cn: string }

function get(port: number, session?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let got: Buffer | undefined;
    const s = connect({ port, host: '127.0.0.1', rejectUnauthorized: false, servername: 'localhost', session }, () => {
      s.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    s.on('session', (b: Buffer) => { got = b; });
    let text = '';
    s.setEncoding('latin1').on('data', (d: string) => { text += d; });
    s.on('error', reject);
    s.on('end', () => {
      resolve({ body: text.split('\r\n\r\n')[1] ?? '', reused: s.isSessionReused(), session: got, cn: String(s.getPeerCertificate().subject?.CN ?? '') });
      s.destroy();
    });
  });
}

/**
 * The key name a session's ticket was made with: the first 16 bytes of the
 * ticket, tag [10] of the session's DER (as ssl_session_ticket_key.t reads it).
 */
function ticketKeyName(session: Buffer | undefined): string {
  if (session === undefined) return '';
  for (let i = 0; i + 6 + 16 <= session.length; i++) {
    if (session[i] === 0xaa && session[i + 1] === 0x81 && session[i + 3] === 0x04 && session[i + 4] === 0x81 && session[i + 2] - session[i + 5] === 3) {
      return session.subarray(i + 6, i + 22).toString('hex');
    }
  }
  return '';
}

/** The rest of a request on an open connection; resolves with all it got until the server closed. */
function finish(s: TLSSocket, rest: string): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    s.on('close', () => resolve(text));
    s.write(rest);
  });
}

async function until(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const config = (cert: string) => ({ port }: { port: number }): string => `
events {}
worker_processes 2;
error_log logs/error.log info;
http {
  access_log off;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${cert}.crt; ssl_certificate_key ${cert}.key;
    ssl_session_cache shared:SSL:1m;
    location / { return 200 "$pid:$ssl_session_reused\\n"; }
  }
}
`;

describe('TLS with workers', { concurrency: false }, () => {
  it('a session made by one worker resumes on the other (shared cache, tickets)', async () => {
    const weir = await startWeir({ config: config('one'), files: Object.fromEntries(Object.entries(certs.files('one')).map(([k, v]) => [`conf/${k}`, v.toString()])) });
    try {
      const first = await get(weir.port);
      const [firstPid] = first.body.split(':');
      assert.ok(first.session, 'a ticket came');
      // Connections are shared out by the kernel: try until one lands on the other worker.
      let other: Answer | null = null;
      for (let i = 0; i < 60 && other === null; i++) {
        const r = await get(weir.port, first.session);
        if (r.body.split(':')[0] !== firstPid) other = r;
      }
      assert.ok(other, 'some connection reached the second worker');
      assert.equal(other.reused, true);
      assert.match(other.body, /:r\n$/);
    } finally {
      await weir.stop();
    }
  });

  it('shared ticket keys: the first period starts when the workers serve, and the key rotates after it (ssl_session_timeout)', async () => {
    const rotating = ({ port }: { port: number }): string => config('one')({ port }).replace('ssl_session_cache shared:SSL:1m;', 'ssl_session_cache shared:SSL:1m; ssl_session_timeout 2s;');
    const weir = await startWeir({ config: rotating, files: Object.fromEntries(Object.entries(certs.files('one')).map(([k, v]) => [`conf/${k}`, v.toString()])) });
    try {
      const served = Date.now();
      const first = ticketKeyName((await get(weir.port)).session);
      assert.notEqual(first, '', 'a ticket came');
      // Still the first period, however long the master took to read its config before the workers started.
      await new Promise((r) => setTimeout(r, Math.max(0, served + 1500 - Date.now())));
      assert.equal(ticketKeyName((await get(weir.port)).session), first, 'the key changed within the first period');
      await new Promise((r) => setTimeout(r, Math.max(0, served + 2600 - Date.now())));
      assert.notEqual(ticketKeyName((await get(weir.port)).session), first, 'the key did not rotate');
    } finally {
      await weir.stop();
    }
  });

  it('HUP loads new certificates; a connection made before keeps working', async () => {
    // Relative certificate names are found beside the config (conf/), as nginx's.
    const files = Object.fromEntries(Object.entries({ ...certs.files('one'), ...certs.files('two') }).map(([k, v]) => [`conf/${k}`, v.toString()]));
    const weir = await startWeir({ config: config('one'), files });
    try {
      assert.equal((await get(weir.port)).cn, 'one.test');
      // A request under way (its head half sent) as the reload comes.
      const kept = await new Promise<TLSSocket>((resolve, reject) => {
        const s = connect({ port: weir.port, host: '127.0.0.1', rejectUnauthorized: false, servername: 'localhost' }, () => resolve(s));
        s.on('error', reject);
      });
      kept.write('GET / HTTP/1.1\r\nHost: localhost\r\n');
      await new Promise((r) => setTimeout(r, 200));
      weir.reload(config('two'));
      await until('a connection with the new certificate', async () => (await get(weir.port)).cn === 'two.test', 15_000);
      assert.match(await finish(kept, '\r\n'), /^HTTP\/1\.1 200 OK\r\n/, 'the old worker finished the request it had');
    } finally {
      await weir.stop();
    }
  });
});
