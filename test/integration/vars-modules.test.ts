/**
 * geo, split_clients, map's cache, userid and secure_link against a running
 * weir over real sockets: IPv4 from 127.0.0.1, IPv6 from ::1 and a unix
 * socket, X-Forwarded-For through geo's proxies, cookies as nginx builds them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../helpers/raw-http.js';
import { requestBytes, startWithLogs, type Weir } from '../helpers/in-process.js';

let w: Weir;
let port6 = 0;

const CONF = `
events {}
http {
  access_log off;
  geo $geo {
    default          world;
    127.0.0.0/8      loopback;
    127.0.0.2/32     two;
    ::1/128          loopback6;
    2001:db8::/32    doc6;
    255.255.255.255  none;
    10.0.0.0/8       ten;
    delete           10.0.0.0/8;
  }
  geo $arg_ip $geo_arg {
    10.0.0.0/8       ten;
    255.255.255.255  none;
  }
  geo $arg_ip $geo_ranges {
    ranges;
    default                  dflt;
    10.0.0.0-10.0.255.255    big;
    10.0.1.0-10.0.1.9        split;
    10.0.2.0-10.0.2.255      gone;
    delete                   10.0.2.0-10.0.2.255;
    10.0.255.0-10.1.0.255    across;
  }
  geo $geo_xff {
    proxy 127.0.0.1;
    proxy 192.168.0.0/16;
    default d;
    203.0.113.0/24 doc;
    192.168.1.1/32 inner;
  }
  geo $geo_xffr {
    proxy_recursive;
    proxy 127.0.0.1;
    proxy 192.168.0.0/16;
    default d;
    203.0.113.0/24 doc;
    192.168.1.1/32 inner;
  }
  geo $arg_ip $geo_cached { 10.0.0.1 first; 10.0.0.2 second; }
  geo $arg_ip $geo_volatile { volatile; 10.0.0.1 first; 10.0.0.2 second; }

  split_clients $arg_k $split { 50% a; 25% b; * c; }
  split_clients "$arg_k" $split_part { 10% x; }

  map $uri $uri_cached { /m/ /m/redirect; /m/redirect uncached; }

  map $arg_reset $uid_reset { default 0; new 1; log log; }

  server {
    listen 127.0.0.1:%PORT%;
    listen [::1]:%PORT6%;
    listen unix:%PREFIX%/weir.sock;
    server_name localhost;

    location /geo { return 200 "$geo|$geo_arg|$geo_ranges"; }
    location /xff { return 200 "$geo_xff|$geo_xffr"; }
    location /cache {
      set $c1 $geo_cached; set $v1 $geo_volatile;
      set $args ip=10.0.0.2;
      return 200 "$c1|$geo_cached|$v1|$geo_volatile";
    }
    location /split { return 200 "$split|$split_part"; }
    location /m { index $uri_cached; }
    location /m/redirect { return 200 "$uri_cached"; }

    location /uid {
      userid on;
      add_header X-Got $uid_got always;
      add_header X-Set $uid_set always;
      location /uid/v1 { userid v1; userid_service 258; }
      location /uid/svc { userid_service 65534; }
      location /uid/attrs {
        userid_name id; userid_domain example.com; userid_path /p;
        userid_expires max; userid_p3p 'CP="NOI"'; userid_flags secure httponly samesite=lax;
      }
      location /uid/expires { userid_expires 1h; }
      location /uid/mark { userid_mark t; }
      location /uid/log { userid log; }
    }

    location /sl/ {
      secure_link $arg_h,$arg_e;
      secure_link_md5 "s3cret$uri$arg_e";
      return 200 "[$secure_link][$secure_link_expires]";
    }
    location /nohash/ {
      secure_link $arg_h;
      secure_link_md5 "s3cret$uri";
      return 200 "[$secure_link][$secure_link_expires]";
    }
    location /old/ {
      secure_link_secret word;
      return 200 "[$secure_link]";
      location ~ \.in$ { return 200 "in[$secure_link]"; }
    }
  }
}
`;

before(async () => {
  port6 = await freePort();
  w = await startWithLogs(CONF.replaceAll('%PORT6%', String(port6)));
});
after(async () => { await w?.stop(); });

interface Reply { status: number; head: string; body: string }

/** One request over a socket of our choice; the raw head and the body. */
function over(target: { host: string; port: number } | { path: string }, path: string, headers: string[] = []): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sock = 'path' in target ? connect(target.path) : connect(target.port, target.host);
    let data = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => { data += d; });
    sock.on('error', reject);
    sock.on('close', () => {
      const end = data.indexOf('\r\n\r\n');
      resolve({ status: Number(data.split(' ')[1] ?? 0), head: data.slice(0, end), body: data.slice(end + 4) });
    });
    sock.on('connect', () => sock.write(requestBytes(path, { headers })));
  });
}

const v4 = (path: string, headers?: string[]): Promise<Reply> => over({ host: '127.0.0.1', port: w.port }, path, headers);
const body = async (path: string, headers?: string[]): Promise<string> => (await v4(path, headers)).body;

test('geo: the client address, longest network first; IPv6 and unix clients; delete', async () => {
  assert.equal((await v4('/geo')).body.split('|')[0], 'loopback');
  assert.equal((await over({ host: '::1', port: port6 }, '/geo')).body.split('|')[0], 'loopback6');
  // A unix client looks up 255.255.255.255.
  assert.equal((await over({ path: join(w.prefix, 'weir.sock') }, '/geo')).body.split('|')[0], 'none');
});

test('geo $var: IPv4, IPv4-mapped IPv6, and no address (255.255.255.255; ranges: the default)', async () => {
  assert.equal(await body('/geo?ip=10.1.2.3'), 'loopback|ten|dflt');
  assert.equal(await body('/geo?ip=::ffff:10.1.2.3'), 'loopback|ten|dflt');
  assert.equal(await body('/geo?ip=garbage'), 'loopback|none|dflt');
  assert.equal(await body('/geo?ip=255.255.255.255'), 'loopback|none|dflt', 'not an address from a variable either');
  assert.equal(await body('/geo?ip=11.0.0.1'), 'loopback||dflt', 'no default: empty');
});

test('geo ranges: a range split by a smaller one, a deleted one, one across /16s', async () => {
  const r = async (ip: string): Promise<string> => (await body(`/geo?ip=${ip}`)).split('|')[2]!;
  assert.equal(await r('10.0.0.255'), 'big');
  assert.equal(await r('10.0.1.0'), 'split');
  assert.equal(await r('10.0.1.9'), 'split');
  assert.equal(await r('10.0.1.10'), 'big');
  assert.equal(await r('10.0.2.7'), 'dflt', 'deleted: nothing under it any more');
  assert.equal(await r('10.0.3.0'), 'big');
  assert.equal(await r('10.0.255.1'), 'across');
  assert.equal(await r('10.1.0.255'), 'across');
  assert.equal(await r('10.1.1.0'), 'dflt');
});

test('geo proxy: the address from X-Forwarded-For when the peer is a proxy; proxy_recursive walks on', async () => {
  const x = (xff: string): Promise<string> => body('/xff', [`X-Forwarded-For: ${xff}`]);
  assert.equal(await body('/xff'), 'd|d');
  assert.equal(await x('203.0.113.5'), 'doc|doc');
  assert.equal(await x('203.0.113.5, 192.168.1.1'), 'inner|doc');
  assert.equal(await x('garbage'), 'd|d');
});

test('geo and map: cached for the request (across an internal redirect) unless volatile', async () => {
  assert.equal(await body('/cache?ip=10.0.0.1'), 'first|first|first|second');
  assert.equal(await body('/m/'), '/m/redirect', 'index redirected by the map keeps its first answer');
});

test('split_clients: MurmurHash2 of the value into the parts in order; no part, no value', async () => {
  // murmur2("abc") = 324500635 (7.6%), "1" = 1228156847 (28.6%), "127.0.0.1" = 3054706065 (71.1%), "20" = 3866958504 (90.0%)
  assert.equal(await body('/split?k=abc'), 'a|x');
  assert.equal(await body('/split?k=1'), 'a|');
  assert.equal(await body('/split?k=127.0.0.1'), 'b|');
  assert.equal(await body('/split?k=20'), 'c|');
});

/** The Set-Cookie field of a response head, or undefined. */
const setCookie = (r: Reply): string | undefined => /^Set-Cookie: (.*)$/im.exec(r.head)?.[1];
const field = (r: Reply, name: string): string | undefined => new RegExp(`^${name}: (.*)$`, 'im').exec(r.head)?.[1];

test('userid on: 16 bytes in base64, the server address first; $uid_set; sent back, $uid_got and no new cookie', async () => {
  const r = await v4('/uid/');
  const cookie = setCookie(r)!;
  assert.match(cookie, /^uid=[A-Za-z0-9+/]{22}==; path=\/$/);
  const b64 = cookie.slice(4, 28);
  const bytes = Buffer.from(b64, 'base64');
  assert.deepEqual([...bytes.subarray(0, 4)], [127, 0, 0, 1]);
  const now = Math.floor(Date.now() / 1000);
  assert.ok(Math.abs(bytes.readUInt32BE(4) - now) <= 2, 'then the time, in network order');
  const set = field(r, 'X-Set')!;
  // nginx prints each 4 bytes as the host reads them (x86: little-endian).
  const words = [0, 4, 8, 12].map((o) => bytes.readUInt32LE(o).toString(16).toUpperCase().padStart(8, '0')).join('');
  assert.equal(set, `uid=${words}`);
  const again = await v4('/uid/', [`Cookie: a=b; uid=${b64}`]);
  assert.equal(setCookie(again), undefined);
  assert.equal(field(again, 'X-Got'), set);
  assert.equal(field(again, 'X-Set'), undefined);
});

test('userid: $uid_reset sends a new cookie; "log" logs the old one', async () => {
  const b64 = setCookie(await v4('/uid/'))!.slice(4, 28);
  const reset = await v4('/uid/?reset=new', [`Cookie: uid=${b64}`]);
  assert.notEqual(setCookie(reset)!.slice(4, 28), b64);
  const got = field(await v4('/uid/?reset=log', [`Cookie: uid=${b64}`]), 'X-Got')!;
  await w.waitForLog(new RegExp(`\\[notice\\].*userid cookie "${got}" was reset`));
});

test('userid v1 and userid_service: the words in the host\'s order, the service as given', async () => {
  const v1 = Buffer.from(setCookie(await v4('/uid/v1'))!.slice(4, 28), 'base64');
  assert.equal(v1.readUInt32LE(0), 258);
  assert.equal(v1.readUInt32LE(12) & 0xff, 1, 'v1 sequence numbers end in 0x01');
  const svc = Buffer.from(setCookie(await v4('/uid/svc'))!.slice(4, 28), 'base64');
  assert.equal(svc.readUInt32BE(0), 65534);
  assert.equal(svc.readUInt32BE(12) & 0xff, 0x02, 'the v2 sequence starts at 0x03030302');
  const six = Buffer.from(setCookie(await over({ host: '::1', port: port6 }, '/uid/'))!.slice(4, 28), 'base64');
  assert.deepEqual([...six.subarray(0, 4)], [0, 0, 0, 1], 'IPv6: the address\'s last 4 bytes');
  const unix = Buffer.from(setCookie(await over({ path: join(w.prefix, 'weir.sock') }, '/uid/'))!.slice(4, 28), 'base64');
  assert.deepEqual([...unix.subarray(0, 4)], [0, 0, 0, 0]);
});

test('userid: name, domain, path, expires, flags and P3P', async () => {
  const r = await v4('/uid/attrs');
  assert.match(setCookie(r)!, /^id=[A-Za-z0-9+/]{22}==; expires=Thu, 31-Dec-37 23:55:55 GMT; domain=example.com; path=\/p; secure; httponly; samesite=lax$/);
  assert.equal(field(r, 'P3P'), 'CP="NOI"');
  const e = /expires=([^;]+)/.exec(setCookie(await v4('/uid/expires'))!)![1]!;
  const t = Date.parse(e.replace(/-(\d\d) /, (_m, y: string) => `-20${y} `).replace(/-/g, ' '));
  assert.ok(Math.abs(t / 1000 - (Date.now() / 1000 + 3600)) <= 2, e);
});

test('userid_mark: a new cookie is marked; an unmarked one is sent again, marked', async () => {
  const marked = setCookie(await v4('/uid/mark'))!;
  assert.match(marked, /^uid=[A-Za-z0-9+/]{22}t=; path=\/$/);
  const b64 = setCookie(await v4('/uid/'))!.slice(4, 28);
  assert.equal(setCookie(await v4('/uid/mark', [`Cookie: uid=${b64}`])), `uid=${b64.slice(0, 22)}t=; path=/`);
  assert.equal(setCookie(await v4('/uid/mark', [`Cookie: uid=${b64.slice(0, 22)}t=`])), undefined);
});

test('userid log reads but never sends; a short or bad cookie is logged and replaced', async () => {
  const b64 = setCookie(await v4('/uid/'))!.slice(4, 28);
  const log = await v4('/uid/log', [`Cookie: uid=${b64}`]);
  assert.equal(setCookie(log), undefined);
  assert.match(field(log, 'X-Got')!, /^uid=[0-9A-F]{32}$/);
  assert.equal(field(log, 'X-Set'), undefined);
  assert.ok(setCookie(await v4('/uid/', ['Cookie: uid=short'])));
  await w.waitForLog(/\[error\].*client sent too short userid cookie "uid=short"/);
  assert.ok(setCookie(await v4('/uid/', ['Cookie: x=1; uid=!!!!!!!!!!!!!!!!!!!!!!!!'])));
  await w.waitForLog(/\[error\].*client sent invalid userid cookie "x=1; uid=!{24}"/);
});

const b64url = (b: Buffer): string => b.toString('base64').replace(/=+$/, '').replaceAll('+', '-').replaceAll('/', '_');
const md5 = (s: string): Buffer => createHash('md5').update(s).digest();

test('secure_link: a good hash is 1, expired 0, anything else not found; $secure_link_expires', async () => {
  const future = Math.floor(Date.now() / 1000) + 3600;
  const past = Math.floor(Date.now() / 1000) - 3600;
  const h = (uri: string, e: number): string => b64url(md5(`s3cret${uri}${e}`));
  assert.equal(await body(`/sl/f?h=${h('/sl/f', future)}&e=${future}`), `[1][${future}]`);
  assert.equal(await body(`/sl/f?h=${h('/sl/f', past)}&e=${past}`), `[0][${past}]`);
  assert.equal(await body(`/sl/f?h=${h('/sl/g', future)}&e=${future}`), `[][${future}]`, 'another URI\'s hash');
  assert.equal(await body(`/sl/f?h=${h('/sl/f', 0)}&e=0`), '[][]', 'no expiry of 0');
  assert.equal(await body(`/sl/f?h=${h('/sl/f', future)}xx&e=${future}`), `[][${future}]`, 'too long');
  const plain = b64url(md5('s3cret/nohash/f'));
  assert.equal(await body(`/nohash/f?h=${plain}`), '[1][]');
  assert.equal(await body(`/nohash/f?h=${plain}==`), '[1][]', 'padding is fine');
  assert.equal(await body(`/nohash/f?h=${plain.replace(/.$/, '*')}`), '[][]', 'not base64url');
});

test('secure_link_secret: /prefix/md5(rest secret)/rest, inherited by a nested location', async () => {
  const hex = md5('file.txtword').toString('hex');
  assert.equal(await body(`/old/${hex}/file.txt`), '[file.txt]');
  assert.equal(await body(`/old/${hex.toUpperCase()}/file.txt`), '[file.txt]');
  assert.equal(await body(`/old/${hex}/other.txt`), '[]');
  assert.equal(await body(`/old/${'z'.repeat(32)}/file.txt`), '[]');
  assert.equal(await body('/old/abc/file.txt'), '[]');
  assert.equal(await body(`/old/${hex}/`), '[]');
  const args = md5('x?a=1word').toString('hex');
  assert.equal(await body(`/old/${args}/x?a=1`), '[x?a=1]', 'the URI as sent, arguments too');
  const inner = md5('f.inword').toString('hex');
  assert.equal(await body(`/old/${inner}/f.in`), 'in[f.in]');
});
