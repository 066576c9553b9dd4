// Runs nginx's own test suite (nginx-tests) against this checkout's bin/weir
// and holds the results to test/nginx-tests/expected.txt: the ratchet.
//
//   node scripts/nginx-tests.mjs [LIST.txt | FILE.t ...] [--update]
//
// LIST.txt names a list beside the suite's run.sh (default: mission.txt,
// modules.txt, tls-h2.txt and cache.txt);
// FILE.t runs single files. Each file's result is compared with its line in
// expected.txt:
//   worse than expected (pass -> skip or fail, skip -> fail, a file with no
//   line, an [alert] hidden as a TODO)  -> named, and the run fails;
//   better (fail or skip -> pass, fail -> skip)  -> named; --update raises
//   those lines in expected.txt (it never lowers one: that is an edit by hand,
//   with its reason, in review).
//
// The suite is found at $NGINX_TESTS_DIR (the folder holding run.sh, or its
// suite/ folder), else ../shared/nginx-tests beside the checkout. Without it
// the script says so and exits 0: a clone without the shared folder still
// runs `npm test`. Under WEIR_TEST_REQUIRE=all (.ci/run) a missing suite, or
// a missing Perl helper or daemon that would make files skip, fails the run
// instead (test/helpers/require.ts holds the switch). Per-file prove logs are kept in $NGINX_TESTS_LOGDIR, or a
// fresh temp dir that is printed at the end.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// Built by `npm run test:nginx` before this runs (bin/weir needs dist/ anyway).
import { REQUIRE_ALL, missingMessage } from '../dist/test/helpers/require.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const expectedPath = join(repo, 'test', 'nginx-tests', 'expected.txt');

const RANK = { fail: 0, skip: 1, pass: 2 };

function findSuite() {
  const given = process.env.NGINX_TESTS_DIR;
  const candidates = given ? [given, join(given, '..')] : [join(repo, '..', 'shared', 'nginx-tests')];
  for (const dir of candidates) {
    if (existsSync(join(dir, 'run.sh')) && existsSync(join(dir, 'suite', 'lib', 'Test', 'Nginx.pm'))) return resolve(dir);
  }
  return null;
}

/** expected.txt: `FILE pass|skip|fail [# reason]`, '#' lines are comments. */
function readExpected(text) {
  const map = new Map();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(\S+\.t)\s+(pass|skip|fail)\b\s*(?:#\s*(.*))?$/.exec(line);
    if (!m) throw new Error(`${expectedPath}:${i + 1}: not "FILE pass|skip|fail [# reason]": ${line}`);
    if (m[2] !== 'pass' && !m[3]) throw new Error(`${expectedPath}:${i + 1}: a ${m[2]} needs its reason after '#'`);
    map.set(m[1], { status: m[2], reason: m[3] ?? '', line: i });
  });
  return map;
}

function main() {
  const args = process.argv.slice(2);
  const update = args.includes('--update');
  const targets = args.filter((a) => a !== '--update');
  const suite = findSuite();
  if (suite === null) {
    const what = 'the nginx-tests suite is not here (set NGINX_TESTS_DIR, or put nginx-tests at ../shared/nginx-tests)';
    if (REQUIRE_ALL) {
      console.error(`nginx-tests: WEIR_TEST_REQUIRE=all: ${what}`);
      process.exitCode = 1;
      return;
    }
    console.log(`nginx-tests: ${what}; nothing run`);
    return;
  }
  const missing = missingHelpers();
  if (missing.length > 0 && REQUIRE_ALL) {
    // run.sh only notes them, and the files needing them skip: under the switch that is a failure.
    for (const m of missing) console.error(`nginx-tests: WEIR_TEST_REQUIRE=all: ${m}`);
    process.exitCode = 1;
    return;
  }
  const expectedText = readFileSync(expectedPath, 'utf8');
  const expected = readExpected(expectedText);
  const lists = targets.length === 0 ? ['mission.txt', 'modules.txt', 'tls-h2.txt', 'cache.txt'].map((l) => join(suite, l))
    : targets.map((t) => (t.endsWith('.t') ? t : existsSync(t) ? resolve(t) : join(suite, t)));
  const logdir = process.env.NGINX_TESTS_LOGDIR || mkdtempSync(join(tmpdir(), 'weir-nginx-tests-'));
  const env = {
    ...process.env,
    WEIR_BIN: join(repo, 'bin', 'weir'),
    NGINX_TESTS_DIR: join(suite, 'suite'),
    NGINX_TESTS_LOGDIR: logdir,
    NGINX_TESTS_JOBS: process.env.NGINX_TESTS_JOBS || '2',
  };
  const child = spawn('bash', [join(suite, 'run.sh'), join(suite, 'as-nginx.sh'), ...lists], {
    env, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const results = [];
  let summary = '';
  let buffered = '';
  child.stdout.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      console.log(line);
      const m = /^(\S+\.t) (pass|skip|fail) (\d+)\/(\d+)(?: # (.*))?$/.exec(line);
      if (m) results.push({ file: m[1], status: m[2], detail: m[5] ?? '' });
      else if (line.startsWith('nginx-tests:')) summary = line;
    }
  });
  child.on('close', (code) => {
    if (code === 2 || summary === '') {
      console.error(`nginx-tests: the runner could not run the suite (exit ${code})`);
      process.exitCode = 1;
      return;
    }
    rerunUnprivileged(results, env, suite, () => judge(results, expected, expectedText, logdir, update, summary));
  });
}

// Files that skip whenever the suite runs as root (http_disable_symlinks.t wants a
// file in /etc that its uid does not own). Run as root, the script runs them once
// more as `nobody` (setpriv) and keeps that result.
const UNPRIVILEGED = ['http_disable_symlinks.t'];

function rerunUnprivileged(results, env, suite, done) {
  const files = results.filter((r) => UNPRIVILEGED.includes(r.file) && r.status === 'skip').map((r) => r.file);
  if (files.length === 0 || process.getuid?.() !== 0 || spawnSync('sh', ['-c', 'command -v setpriv']).status !== 0) { done(); return; }
  const logdir = mkdtempSync(join(tmpdir(), 'weir-nginx-tests-nobody-'));
  spawnSync('chmod', ['777', logdir]);
  const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', join(suite, 'run.sh'), join(suite, 'as-nginx.sh'), ...files], {
    env: { ...env, HOME: tmpdir(), NGINX_TESTS_LOGDIR: logdir, NGINX_TESTS_JOBS: '1' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (c) => { out += c; });
  child.on('close', () => {
    for (const line of out.split('\n')) {
      const m = /^(\S+\.t) (pass|skip|fail) (\d+)\/(\d+)(?: # (.*))?$/.exec(line);
      if (!m) continue;
      console.log(`${line} (as nobody; logs in ${logdir})`);
      const r = results.find((x) => x.file === m[1]);
      if (r) { r.status = m[2]; r.detail = m[5] ?? ''; }
    }
    done();
  });
}

function judge(results, expected, expectedText, logdir, update, summary) {
  const worse = [];
  const better = [];
  for (const r of results) {
    const want = expected.get(r.file);
    if (want === undefined) {
      worse.push(`${r.file}: ${r.status}, and expected.txt has no line for it (add one)`);
      continue;
    }
    if (r.status === 'pass' && hiddenAlert(logdir, r.file)) {
      worse.push(`${r.file}: an [alert] in its error.log, passed only as a TODO`);
      continue;
    }
    if (RANK[r.status] < RANK[want.status]) {
      worse.push(`${r.file}: ${r.status} (expected ${want.status})${r.detail ? ' # ' + r.detail : ''}`);
    } else if (RANK[r.status] > RANK[want.status]) {
      better.push(r);
    }
  }
  console.log(`nginx-tests ratchet: ${results.length} files, ${worse.length} worse than expected, ${better.length} better`);
  for (const w of worse) console.log(`  WORSE  ${w}`);
  for (const b of better) console.log(`  BETTER ${b.file}: ${b.status} (expected ${expected.get(b.file).status}): raise its line in expected.txt`);
  if (update && better.length > 0) {
    const lines = expectedText.split('\n');
    for (const b of better) {
      const at = expected.get(b.file).line;
      lines[at] = b.status === 'pass' ? `${b.file} pass` : `${b.file} ${b.status} # ${b.detail || expected.get(b.file).reason}`;
    }
    writeFileSync(expectedPath, lines.join('\n'));
    console.log(`  raised ${better.length} line(s) of expected.txt`);
  }
  console.log(`per-file logs: ${logdir}`);
  console.log(summary);
  if (worse.length > 0) process.exitCode = 1;
}

/** What the suite's files need from the machine (run.sh's list): messages for each one missing. */
function missingHelpers() {
  const out = [];
  const debian = { FCGI: 'libfcgi-perl', 'Cache::Memcached': 'libcache-memcached-perl', 'Cache::Memcached::Fast': 'libcache-memcached-fast-perl',
    'Protocol::WebSocket': 'libprotocol-websocket-perl', 'IO::Socket::SSL': 'libio-socket-ssl-perl' };
  for (const cmd of ['perl', 'prove', 'memcached']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) out.push(missingMessage(cmd, `apt-get install ${cmd === 'prove' ? 'perl' : cmd}`));
  }
  for (const [m, pkg] of Object.entries(debian)) {
    if (spawnSync('perl', [`-M${m}`, '-e1'], { stdio: 'ignore' }).status !== 0) out.push(missingMessage(`Perl's ${m}`, `apt-get install ${pkg}`));
  }
  return out;
}

/** The suite's "no alerts" subtest can be a TODO (todo_alerts): an alert then still passes. */
function hiddenAlert(logdir, file) {
  try {
    return /^not ok \d+ - no alerts # TODO/m.test(readFileSync(join(logdir, `${file}.log`), 'utf8'));
  } catch {
    return false;
  }
}

main();
