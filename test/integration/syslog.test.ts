// error_log and access_log to syslog: real UDP listeners in the test receive
// RFC 3164 datagrams with nginx's PRI, header, tag and message; the master's own
// lines reach a main-level syslog target; config mistakes are nginx's [emerg]s.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import test, { describe } from 'node:test';
import { exchange, get, startWeir } from '../helpers/raw-http.js';
import { startWeir as startWeirProcess } from '../helpers/weir-process.js';
import { builtinModules } from '../../src/modules.js';
import { loadConfigText } from '../../src/config/loader.js';
import { ConfigError } from '../../src/config/errors.js';

/** A UDP listener on 127.0.0.1 that keeps every datagram as text. */
async function listener(): Promise<{ port: number; messages: string[]; next(n?: number, ms?: number): Promise<string[]>; close(): void }> {
  const s: Socket = createSocket('udp4');
  const messages: string[] = [];
  const waiters: (() => void)[] = [];
  s.on('message', (m) => { messages.push(m.toString('latin1')); for (const w of waiters.splice(0)) w(); });
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  return {
    port,
    messages,
    /** Resolves once `n` messages have come (all of them so far), or rejects after `ms`. */
    async next(n = 1, ms = 5000) {
      const deadline = Date.now() + ms;
      while (messages.length < n) {
        if (Date.now() > deadline) throw new Error(`only ${messages.length} of ${n} syslog messages: ${JSON.stringify(messages)}`);
        await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 50); });
      }
      return messages.slice();
    },
    close: () => s.close(),
  };
}

const HOST = hostname().toLowerCase();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('syslog targets', () => {
  test('an http-level error_log sends each line with its level as severity, facility and tag as given', async () => {
    const udp = await listener();
    const w = await startWeir(`http {
      access_log off;
      error_log syslog:server=127.0.0.1:${udp.port},facility=user,tag=weir_t1 info;
      server { listen 127.0.0.1:%PORT%; root %PREFIX%/html; }
    }`, { 'html/': '' });
    try {
      await exchange(w.port, get('/missing.html'));
      const [m] = await udp.next(1);
      // user (1) * 8 + error (3) = 11; the header, then the error-log line without its newline.
      const re = new RegExp(`^<11>[A-Z][a-z]{2} [ \\d]\\d \\d{2}:\\d{2}:\\d{2} ${HOST.replace(/\./g, '\\.')} weir_t1: `
        + `\\d{4}/\\d{2}/\\d{2} \\d{2}:\\d{2}:\\d{2} \\[error\\] \\d+#0: \\*\\d+ open\\(\\) ".*missing\\.html" failed \\(2: No such file or directory\\), client: 127\\.0\\.0\\.1, .*request: "GET /missing\\.html HTTP/1\\.1", host: "localhost"$`);
      assert.match(m, re);
    } finally {
      await w.stop();
      udp.close();
    }
  });

  test('access_log to syslog: the format, the configured severity, nohostname, if=, and nothing with off', async () => {
    const udp = await listener();
    const w = await startWeir(`http {
      log_format short "$uri:$status";
      server {
        listen 127.0.0.1:%PORT%;
        location /a { access_log syslog:severity=alert,server=127.0.0.1:${udp.port},nohostname short; return 204; }
        location /d { access_log syslog:server=127.0.0.1:${udp.port} short; return 200 x; }
        location /if { access_log syslog:server=127.0.0.1:${udp.port} short if=$arg_logme; return 204; }
        location /off { access_log off; return 204; }
      }
    }`);
    try {
      await exchange(w.port, get('/a'));
      const [a] = await udp.next(1);
      // local7 (23) * 8 + alert (1) = 185; no hostname; the tag is nginx's, for log filters written for it.
      assert.match(a, /^<185>[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} nginx: \/a:204$/);
      await exchange(w.port, get('/d'));
      const [, d] = await udp.next(2);
      // local7 * 8 + info (6) = 190, with the hostname.
      assert.equal(d.replace(/^<190>[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} /, ''), `${HOST} nginx: /d:200`);
      await exchange(w.port, get('/off'));
      await exchange(w.port, get('/if?logme=0'));
      await exchange(w.port, get('/if?logme='));
      await exchange(w.port, get('/if?logme=yes'));
      const all = await udp.next(3);
      assert.match(all[2], /nginx: \/if:204$/);
      await sleep(100);
      assert.equal(udp.messages.length, 3, 'off, logme=0 and logme= send nothing');
    } finally {
      await w.stop();
      udp.close();
    }
  });

  test('two error_log targets in one location: each line goes to each target whose level admits it', async () => {
    const udp = await listener();
    const w = await startWeir(`http {
      access_log off;
      server {
        listen 127.0.0.1:%PORT%;
        root %PREFIX%/html;
        location /low { error_log syslog:server=127.0.0.1:${udp.port} warn; error_log syslog:server=127.0.0.1:${udp.port}; }
        location /high { error_log syslog:server=127.0.0.1:${udp.port} emerg; error_log syslog:server=127.0.0.1:${udp.port}; }
      }
    }`, { 'html/': '' });
    try {
      await exchange(w.port, get('/low'));
      await udp.next(2);
      await exchange(w.port, get('/high'));
      await udp.next(3);
      await sleep(100);
      assert.equal(udp.messages.length, 3);
      assert.ok(udp.messages.every((m) => m.startsWith('<187>')), 'local7, error');
    } finally {
      await w.stop();
      udp.close();
    }
  });

  test('nobody listening: requests are served and nothing breaks', async () => {
    const udp = await listener();
    const port = udp.port;
    udp.close();
    const w = await startWeir(`http {
      error_log syslog:server=127.0.0.1:${port} info;
      server { listen 127.0.0.1:%PORT%; access_log syslog:server=127.0.0.1:${port}; root %PREFIX%/html; }
    }`, { 'html/': '' });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await exchange(w.port, get('/nothing'));
        assert.equal(res.responses[0]?.status, 404);
      }
    } finally {
      await w.stop();
    }
  });

  test('a main-level syslog error_log gets the master\'s lines, and the default file is still written', async () => {
    const udp = await listener();
    const p = await startWeirProcess({
      config: ({ port }) => `error_log syslog:server=127.0.0.1:${udp.port},tag=main info;
        events {}
        http { access_log off; server { listen 127.0.0.1:${port}; return 204; } }`,
    });
    try {
      const got = await udp.next(1);
      assert.match(got[0], /^<189>.* main: \d{4}\/\d{2}\/\d{2} [\d:]{8} \[notice\] \d+#0: /);
      // ngx_log_open_default: no file among the error logs, so logs/error.log too (at error).
      assert.ok(existsSync(join(p.prefix.dir, 'logs', 'error.log')));
    } finally {
      await p.stop();
      udp.close();
    }
  });
});

describe('syslog and error_log config errors', () => {
  const load = (text: string): void => { loadConfigText(`events {}\n${text}`, '/tmp', builtinModules); };
  const cases: [string, string][] = [
    ['error_log syslog:facility=user;', 'no syslog server specified'],
    ['error_log syslog:server=127.0.0.1,server=127.0.0.2;', 'duplicate syslog "server"'],
    ['error_log syslog:server=127.0.0.1,facility=nope;', 'unknown syslog facility "nope"'],
    ['error_log syslog:server=127.0.0.1,facility=user,facility=user;', 'duplicate syslog "facility"'],
    ['error_log syslog:server=127.0.0.1,severity=err;', 'unknown syslog severity "err"'],
    ['error_log syslog:server=127.0.0.1,severity=info,severity=info;', 'duplicate syslog "severity"'],
    ['error_log syslog:server=127.0.0.1,tag=a-b;', 'syslog "tag" only allows alphanumeric characters and underscore'],
    [`error_log syslog:server=127.0.0.1,tag=${'x'.repeat(33)};`, 'syslog tag length exceeds 32'],
    ['error_log syslog:server=127.0.0.1,tag=a,tag=b;', 'duplicate syslog "tag"'],
    ['error_log syslog:server=127.0.0.1,bogus;', 'unknown syslog parameter "bogus"'],
    ['error_log syslog:server=127.0.0.1:99999;', 'invalid port in syslog server "127.0.0.1:99999"'],
    ['error_log syslog:server=127.0.0.1:x;', 'invalid port in syslog server "127.0.0.1:x"'],
    ['error_log syslog:server=[::1;', 'invalid host in syslog server "[::1"'],
    ['error_log syslog:server=unix:/dev/log;', 'syslog server "unix:/dev/log": unix sockets are not supported by weir (Node has no datagram unix sockets)'],
    ['error_log memory:32m debug;', 'weir was built without debug support'],
    ['error_log logs/e.log warn error;', 'duplicate log level "error"'],
    ['error_log logs/e.log loud;', 'invalid log level "loud"'],
    ['error_log logs/e.log warn debug_http;', 'invalid log level "debug_http"'],
    ['error_log logs/e.log debug_http warn;', 'duplicate log level "warn"'],
    ['http { access_log syslog:server=127.0.0.1 combined buffer=32k; }', 'logs to syslog cannot be buffered'],
    ['http { access_log syslog:server=127.0.0.1 combined gzip; }', 'logs to syslog cannot be buffered'],
    ['http { access_log syslog:server=127.0.0.1 combined flush=1s; }', 'no buffer is defined for access_log "syslog:server=127.0.0.1"'],
    ['http { access_log syslog:server=127.0.0.1 nosuch; }', 'unknown log format "nosuch"'],
    ['http { access_log syslog:server=127.0.0.1,tag=x+; }', 'syslog "tag" only allows alphanumeric characters and underscore'],
  ];
  for (const [text, message] of cases) {
    test(text, () => {
      assert.throws(() => load(text), (e: unknown) => e instanceof ConfigError && e.detail === message && e.position?.line === 2);
    });
  }

  test('accepted forms: IPv6 with and without port, debug subsystems, several targets', () => {
    load(`error_log syslog:server=[::1]:5140,facility=local0,severity=debug,tag=a_1,nohostname info;
      error_log syslog:server=[::1] debug_http debug_core;
      error_log stderr notice;
      http { error_log syslog:server=127.0.0.1 warn; access_log syslog:server=127.0.0.1:514,severity=notice combined if=$arg_x; }`);
  });
});
