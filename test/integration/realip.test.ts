// realip as nginx: the client address from X-Real-IP, X-Forwarded-For (recursive or not) or a
// header of one's own, only from trusted sources; $remote_addr/$remote_port, allow/deny, the
// error log and $proxy_add_x_forwarded_for see it, $realip_remote_* keep the connection's.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { exchange, startWeir, type Weir } from '../helpers/raw-http.js';

let w: Weir;

before(async () => {
  w = await startWeir(`http { access_log off;
    server { listen 127.0.0.1:%PORT%; root %PREFIX%/html;
      # At the location level, realip runs before access (its server-level run has no sources here).
      location / { set_real_ip_from 127.0.0.0/8; add_header X-Got "$remote_addr|$remote_port|$realip_remote_addr|$proxy_add_x_forwarded_for"; }
      location /xff { set_real_ip_from 127.0.0.0/8; real_ip_header X-Forwarded-For; add_header X-Got "$remote_addr"; }
      location /xff-r {
        set_real_ip_from 127.0.0.0/8; set_real_ip_from 192.168.0.0/16;
        real_ip_header X-Forwarded-For; real_ip_recursive on; add_header X-Got "$remote_addr";
      }
      location /own { set_real_ip_from 127.0.0.0/8; real_ip_header X-Client; add_header X-Got "$remote_addr"; }
      location /untrusted { set_real_ip_from 10.0.0.0/8; add_header X-Got "$remote_addr"; }
      location /deny { set_real_ip_from 127.0.0.0/8; deny 203.0.113.9; }
    }
    server { listen 127.0.0.1:%PORT%; server_name srv; root %PREFIX%/html;
      # At the server level it runs as the head is read, so a location's sources come too late.
      set_real_ip_from 127.0.0.0/8;
      location / { set_real_ip_from 10.0.0.0/8; add_header X-Got "$remote_addr"; }
    }
  }`, Object.fromEntries(['f', 'xff/f', 'xff-r/f', 'own/f', 'untrusted/f', 'deny/f'].map((f) => [`html/${f}`, 'x'])));
});

after(async () => {
  await w.stop();
});

/** The status, and what X-Got says (the variables as the response header is sent, after access). */
async function get(path: string, headers: string, host = 'localhost'): Promise<{ status: number; body: string }> {
  const ex = await exchange(w.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${headers}Connection: close\r\n\r\n`);
  return { status: ex.responses[0]!.status, body: ex.responses[0]!.headers['x-got'] ?? '' };
}

test('X-Real-IP from a trusted address; the port only when the header has one', async () => {
  const [, port] = (await get('/f', '')).body.split('|');
  assert.match(port!, /^\d+$/, 'without the header: the connection\'s');
  assert.equal((await get('/f', 'X-Real-IP: 203.0.113.9\r\n')).body, '203.0.113.9||127.0.0.1|203.0.113.9');
  assert.equal((await get('/f', 'X-Real-IP: 203.0.113.9:4321\r\n')).body, '203.0.113.9|4321|127.0.0.1|203.0.113.9');
  assert.equal((await get('/f', 'X-Real-IP: [2001:DB8::7]:80\r\n')).body.split('|')[0], '2001:db8::7');
  assert.equal((await get('/f', 'X-Forwarded-For: 198.51.100.1\r\nX-Real-IP: 203.0.113.9\r\n')).body.split('|')[3],
    '198.51.100.1, 203.0.113.9', '$proxy_add_x_forwarded_for adds the real address');
});

test('garbage, or an untrusted connection, leaves the address', async () => {
  assert.equal((await get('/f', 'X-Real-IP: not-an-address\r\n')).body.split('|')[0], '127.0.0.1');
  assert.equal((await get('/f', 'X-Real-IP: 1.2.3.4:99999\r\n')).body.split('|')[0], '127.0.0.1');
  assert.equal((await get('/untrusted/f', 'X-Real-IP: 203.0.113.9\r\n')).body, '127.0.0.1');
  assert.equal((await get('/f', 'X-Real-IP: 203.0.113.9\r\n', 'srv')).body, '203.0.113.9');
});

test('X-Forwarded-For: the rightmost; recursive: the rightmost not trusted, over every line', async () => {
  assert.equal((await get('/xff/f', 'X-Forwarded-For: 203.0.113.9, 192.168.1.1\r\n')).body, '192.168.1.1');
  assert.equal((await get('/xff-r/f', 'X-Forwarded-For: 203.0.113.9, 192.168.1.1\r\n')).body, '203.0.113.9');
  assert.equal((await get('/xff-r/f', 'X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 192.168.1.1,  127.0.0.5\r\n')).body, '203.0.113.9');
  assert.equal((await get('/xff-r/f', 'X-Forwarded-For: 192.168.1.1, 127.0.0.5\r\n')).body, '192.168.1.1', 'all trusted: the leftmost');
  assert.equal((await get('/xff-r/f', 'X-Forwarded-For: junk, 192.168.1.1\r\n')).body, '192.168.1.1', 'stops at what does not parse');
});

test('a header of one\'s own; allow/deny and the error log see the real address', async () => {
  assert.equal((await get('/own/f', 'X-Client: 203.0.113.7\r\nX-Real-IP: 203.0.113.9\r\n')).body, '203.0.113.7');
  assert.equal((await get('/deny/f', 'X-Real-IP: 203.0.113.9\r\n')).status, 403);
  assert.equal((await get('/deny/f', 'X-Real-IP: 203.0.113.8\r\n')).status, 200);
  await w.waitForLog(/access forbidden by rule, client: 203\.0\.113\.9,/);
});
