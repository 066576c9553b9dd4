// access_log extras: gzip (a gzip member per flush), flush=, variables in the path with and
// without open_log_file_cache, and nginx's config errors for the parameters.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { loadConfigText } from '../../src/config/loader.js';
import { builtinModules } from '../../src/modules.js';
import { request, startWithLogs, waitFor, type Weir } from '../helpers/in-process.js';

let w: Weir;

before(async () => {
  w = await startWithLogs(`http { log_format t "$uri:$status";
    server { listen 127.0.0.1:%PORT%; server_name localhost; access_log off;
      location /gz { access_log %PREFIX%/logs/gz.log t gzip=6 buffer=1m flush=100ms; return 200; }
      location /var { access_log %PREFIX%/logs/var_$arg_n.log t; return 200; }
      location /cached { open_log_file_cache max=2; access_log %PREFIX%/logs/c_$arg_n.log t; return 200; }
    }
  }`);
});

after(async () => { await w.stop(); });

test('gzip: what a flush writes is one gzip member', async () => {
  await request(w.port, '/gz/1');
  await request(w.port, '/gz/2');
  const file = path.join(w.prefix, 'logs', 'gz.log');
  await waitFor(() => (fs.existsSync(file) ? String(fs.statSync(file).size) : '0'), /^[1-9]/);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(gunzipSync(fs.readFileSync(file)).toString(), '/gz/1:200\n/gz/2:200\n');
});

test('variables in the path: a file per value, written at once; with open_log_file_cache too', async () => {
  await request(w.port, '/var?n=a');
  await request(w.port, '/var?n=b');
  await request(w.port, '/var?n=a');
  assert.equal(fs.readFileSync(path.join(w.prefix, 'logs', 'var_a.log'), 'latin1'), '/var:200\n/var:200\n');
  assert.equal(fs.readFileSync(path.join(w.prefix, 'logs', 'var_b.log'), 'latin1'), '/var:200\n');
  for (const n of ['x', 'y', 'z', 'x']) await request(w.port, `/cached?n=${n}`);
  assert.equal(fs.readFileSync(path.join(w.prefix, 'logs', 'c_x.log'), 'latin1'), '/cached:200\n/cached:200\n');
  await request(w.port, '/var?n=../../nodir/x');
  await w.waitForLog(/\[crit\] .*open\(\) ".*nodir\/x\.log" failed \(2: No such file or directory\)/);
});

test('config errors as nginx\'s', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-'));
  try {
    const conf = (v: string): string => `events {}\nhttp {\n${v}\n}\n`;
    const err = (v: string, message: string): void => { assert.throws(() => loadConfigText(conf(v), dir, builtinModules), { message }); };
    err('access_log x.log combined gzip=10;', 'invalid compression level "10" in inline:3');
    err('access_log x.log combined gzip=;', 'invalid compression level "" in inline:3');
    err('access_log x.log combined flush=1s;', 'no buffer is defined for access_log "x.log" in inline:3');
    err('access_log x_$uri.log combined buffer=4k;', 'buffered logs cannot have variables in name in inline:3');
    err('access_log x_$uri.log combined gzip;', 'buffered logs cannot have variables in name in inline:3');
    err('access_log x.log combined buffer=4k;\naccess_log x.log combined buffer=8k;', 'access_log "x.log" already defined with conflicting parameters in inline:4');
    err('open_log_file_cache inactive=1s;', '"open_log_file_cache" must have "max" parameter in inline:3');
    err('open_log_file_cache max=1;\nopen_log_file_cache off;', '"open_log_file_cache" directive is duplicate in inline:4');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
