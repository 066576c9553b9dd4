// Counts how many real nginx configs `weir -t` accepts, and names the first
// directive that stops each of the others.
//
//   node scripts/real-configs.mjs [DIR]
//
// DIR (default test/fixtures/real-configs) holds one `NAME.conf` per config, as
// its project publishes it (test/fixtures/real-configs/README.md names the
// sources; the files themselves are third-party text, so the repository keeps
// only the list and each engineer fetches them). A config without an `events`
// block is a site snippet: it is put inside `http { }` with a minimal main
// context. So that only weir's own verdict counts, the script stubs what the
// host would provide: `include` lines are dropped, certificate and key paths are
// replaced by a self-signed pair made once (openssl), and the -p prefix is a
// temp dir.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = resolve(process.argv[2] ?? join(repo, 'test', 'fixtures', 'real-configs'));
const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.conf')).sort() : [];
if (files.length === 0) {
  console.log(`real-configs: no *.conf in ${dir} (see test/fixtures/real-configs/README.md for the sources)`);
  process.exit(0);
}
const work = mkdtempSync(join(tmpdir(), 'weir-real-configs-'));
mkdirSync(join(work, 'logs'));
const cert = join(work, 'cert.pem');
const key = join(work, 'key.pem');
spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });

function prepare(text) {
  let t = text
    .replace(/^\s*include\s+[^;]*;/gm, '# include dropped by real-configs.mjs')
    .replace(/^(\s*ssl_certificate_key\s+)[^;]*;/gm, `$1${key};`)
    .replace(/^(\s*ssl_certificate\s+)[^;]*;/gm, `$1${cert};`)
    .replace(/^(\s*ssl_trusted_certificate\s+)[^;]*;/gm, `$1${cert};`)
    .replace(/^(\s*ssl_dhparam\s+)[^;]*;/gm, '# ssl_dhparam dropped by real-configs.mjs');
  if (!/^\s*events\s*\{/m.test(t)) t = `events {}\nhttp {\n${t}\n}\n`;
  return t;
}

let accepted = 0;
const stops = [];
for (const f of files) {
  const conf = join(work, f);
  writeFileSync(conf, prepare(readFileSync(join(dir, f), 'utf8')));
  const r = spawnSync(process.execPath, [join(repo, 'bin', 'weir'), '-t', '-p', work + '/', '-c', conf], { encoding: 'utf8', timeout: 30000 });
  if (r.status === 0) { accepted++; console.log(`ok    ${f}`); continue; }
  const emerg = (r.stderr.split('\n').find((l) => l.includes('[emerg]')) ?? r.stderr.trim()).replace(/^.*\[emerg\] /, '');
  stops.push(`${f}: ${emerg}`);
  console.log(`stop  ${f}: ${emerg}`);
}
console.log(`real-configs: ${accepted} of ${files.length} accepted by weir -t`);
