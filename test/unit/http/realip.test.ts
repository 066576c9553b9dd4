// realip's address parsing and matching: ngx_parse_addr_port, ngx_sock_ntop's IPv6 text, ngx_cidr_match.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrMatch, inet6Addr, inet6Ntop, parseCidr, type SourceMatch } from '../../../src/http/inet.js';
import { parseAddrPort } from '../../../src/http/realip-module.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/loader.js';
import { builtinModules } from '../../../src/modules.js';

test('parseAddrPort: an address, with a port, bracketed or not; nginx\'s text for it', () => {
  assert.deepEqual(parseAddrPort('1.2.3.4'), { address: '1.2.3.4', port: 0 });
  assert.deepEqual(parseAddrPort('1.2.3.4:5678'), { address: '1.2.3.4', port: 5678 });
  assert.deepEqual(parseAddrPort('2001:DB8:0:0:0:0:0:1'), { address: '2001:db8::1', port: 0 });
  assert.deepEqual(parseAddrPort('[2001:db8::1]'), { address: '2001:db8::1', port: 0 });
  assert.deepEqual(parseAddrPort('[::1]:80'), { address: '::1', port: 80 });
  assert.deepEqual(parseAddrPort('::ffff:10.0.0.1'), { address: '::ffff:10.0.0.1', port: 0 });
  for (const bad of ['', 'example.com', '1.2.3.4:0', '1.2.3.4:65536', '1.2.3.4:x', '[::1', '[::1]x', '1.2.3', 'unknown']) {
    assert.equal(parseAddrPort(bad), null, bad);
  }
});

test('inet6Ntop: the longest zero run of two groups or more as ::', () => {
  const ntop = (s: string): string => { const b = new Uint8Array(16); assert.ok(inet6Addr(s, b)); return inet6Ntop(b); };
  assert.equal(ntop('0:0:0:0:0:0:0:0'), '::');
  assert.equal(ntop('1:0:0:2:0:0:0:3'), '1:0:0:2::3');
  assert.equal(ntop('1:0:2:3:4:5:6:7'), '1:0:2:3:4:5:6:7', 'a lone zero group stays');
  assert.equal(ntop('::ffff:1.2.3.4'), '::ffff:1.2.3.4');
  assert.equal(ntop('::1'), '::1');
});

test('cidrMatch: families, masks, IPv4-mapped as IPv4, unix:', () => {
  const list: SourceMatch[] = [parseCidr('10.0.0.0/8')!, parseCidr('2001:db8::/32')!];
  assert.ok(cidrMatch('10.1.2.3', list));
  assert.ok(!cidrMatch('11.0.0.1', list));
  assert.ok(cidrMatch('::ffff:10.0.0.1', list));
  assert.ok(cidrMatch('2001:db8:1::5', list));
  assert.ok(!cidrMatch('2001:db9::', list));
  assert.ok(!cidrMatch('unix:', list));
  assert.ok(cidrMatch('unix:', [{ family: 'unix' }]));
  assert.ok(!cidrMatch('garbage', list));
});

test('a CIDR with host bits set is warned about, as nginx does, in set_real_ip_from and allow', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-realip-'));
  try {
    const file = join(dir, 'nginx.conf');
    writeFileSync(file, 'events {}\nhttp {\n  set_real_ip_from 10.1.2.3/8;\n  allow 192.168.1.1/24;\n}\n');
    const warnings: string[] = [];
    loadConfig({ file, prefix: dir, modules: builtinModules, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(warnings, [
      `low address bits of 10.1.2.3/8 are meaningless in ${file}:3`,
      `low address bits of 192.168.1.1/24 are meaningless in ${file}:4`,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
