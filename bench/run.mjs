#!/usr/bin/env node
// weir benchmark harness (issue 8). Plain JavaScript ESM, no build step.
//
//   node bench/run.mjs [--quick] [--contenders=a,b] [--scenarios=x,y]
//                      [--duration=S] [--warmup=S] [--rounds=N] ...
//   node bench/run.mjs --help
//
// Starts two upstream servers (one nginx, two ports), every contender proxy in
// front of them, checks that each contender answers right and balances, then
// loads them with wrk (interleaved A B C A B C over the rounds), and prints a
// markdown table; the last line printed holds the weir/nginx ratios.
// Everything runs on loopback, is bounded in time, and every child process is
// killed on exit, on error and on SIGINT/SIGTERM.

import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import net from 'node:net'
import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import { fileURLToPath } from 'node:url'
import zlib from 'node:zlib'
import { checkTargets } from './targets.mjs'
import { parseH2load, parseWrk } from './parse.mjs'

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url))
const REPO_DIR = path.resolve(BENCH_DIR, '..')
const CONF_DIR = path.join(BENCH_DIR, 'conf')
const RESULTS_FILE = path.join(BENCH_DIR, 'results', 'latest.json')

// ---------------------------------------------------------------- options --

const HELP = `usage: node bench/run.mjs [options]

  --quick               1 round of 3 s runs after a 1 s warm-up
  --contenders=a,b      subset of: ${'direct,weir-1,weir-n,weir-base,nginx,haproxy,http-proxy,reply-from,undici'}
                        ("weir" = weir-1,weir-n; "undici-balanced" = undici)
  --scenarios=x,y       subset of: small,64k,1m,close,post,gzip1,gzip6,tls,tls-close,h2
  --duration=S          seconds per measured run (default: 10, lowered to fit --max-minutes)
  --warmup=S            warm-up seconds before the first round's runs (default 2)
  --warmup-later=S      warm-up seconds before later rounds' runs (default 1)
  --prime=S             seconds of small-body load on each proxy once after startup (default 2)
  --rounds=N            rounds (default 3; medians are reported)
  --connections=N       wrk connections (default 50)
  --max-minutes=M       time budget used to pick the default duration (default 19)
  --weir-workers=N      worker_processes of the weir-n contender (default 2)
  --proxy-cpus=LIST     taskset CPU list for the proxies (default 1)
  --load-cpus=LIST      taskset CPU list for wrk and the upstreams (default 0)
  --no-pin              do not pin anything
  --keep                keep the temp dir (configs, logs) after the run
  --dry-run             print the plan and the time budget, run nothing
  --out=FILE            JSON results file (default bench/results/latest.json)
  --weir=PATH           weir's executable (default bin/weir of this repo), run with node
  --weir-base=PATH      another weir executable for the weir-base contender (A/B in one run)
`

function parseArgs (argv) {
  const o = {
    quick: false,
    contenders: null,
    scenarios: null,
    duration: null,
    warmup: null,
    warmupLater: null,
    rounds: null,
    connections: 50,
    maxMinutes: 19,
    weirWorkers: 2,
    pin: true,
    proxyCpus: '1',
    loadCpus: '0',
    keep: false,
    prime: 2,
    out: RESULTS_FILE
  }
  const num = (k, v) => {
    const n = Number(v)
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${k} wants a number, got ${JSON.stringify(v)}`)
    return n
  }
  for (const a of argv) {
    if (a === '--help' || a === '-h') { process.stdout.write(HELP); process.exit(0) }
    if (a === '--quick') { o.quick = true; continue }
    if (a === '--no-pin') { o.pin = false; continue }
    if (a === '--keep') { o.keep = true; continue }
    if (a === '--dry-run') { o.dryRun = true; continue }
    const m = /^--([a-z-]+)=(.*)$/.exec(a)
    if (!m) throw new Error(`unknown argument ${a} (see --help)`)
    const [, k, v] = m
    switch (k) {
      case 'contenders': o.contenders = v.split(',').map((s) => s.trim()).filter(Boolean); break
      case 'scenarios': o.scenarios = v.split(',').map((s) => s.trim()).filter(Boolean); break
      case 'duration': o.duration = Math.max(1, Math.round(num(k, v))); break
      case 'warmup': o.warmup = Math.round(num(k, v)); break
      case 'warmup-later': o.warmupLater = Math.round(num(k, v)); break
      case 'prime': o.prime = Math.round(num(k, v)); break
      case 'rounds': o.rounds = Math.max(1, Math.round(num(k, v))); break
      case 'connections': o.connections = Math.max(1, Math.round(num(k, v))); break
      case 'max-minutes': o.maxMinutes = num(k, v); break
      case 'weir-workers': o.weirWorkers = Math.max(1, Math.round(num(k, v))); break
      case 'proxy-cpus': o.proxyCpus = v; break
      case 'load-cpus': o.loadCpus = v; break
      case 'out': o.out = path.resolve(v); break
      case 'weir': o.weirBin = path.resolve(v); break
      case 'weir-base': o.weirBaseBin = path.resolve(v); break
      default: throw new Error(`unknown option --${k} (see --help)`)
    }
  }
  return o
}

// ------------------------------------------------------ scenarios/contenders --

const SMALL_BODY = 'weir bench' // 10 bytes, served by the upstreams' /small

/** Concurrent streams per connection in the h2 scenario (h2load -m). */
const H2_STREAMS = 10

const SCENARIOS = [
  { name: 'small', label: 'small (10 B) keep-alive', path: '/small', size: SMALL_BODY.length, body: SMALL_BODY },
  { name: '64k', label: '64 KiB keep-alive', path: '/64k.bin', size: 64 * 1024 },
  { name: '1m', label: '1 MiB keep-alive', path: '/1m.bin', size: 1024 * 1024 },
  { name: 'close', label: 'small, new connection per request', path: '/small', size: SMALL_BODY.length, body: SMALL_BODY, close: true },
  { name: 'post', label: 'POST 1 KiB body', path: '/post', method: 'POST', reqBody: 1024, body: 'got 1024' },
  // gzip on the fly of a 64 KiB text (proxied, Accept-Encoding: gzip): weir and nginx only,
  // the other proxies do not compress. `size` is the inflated length.
  { name: 'gzip1', label: 'gzip_comp_level 1, 64 KiB text', path: '/gzip1/64k.txt', size: 64 * 1024, gzip: true, kinds: ['weir', 'nginx'] },
  { name: 'gzip6', label: 'gzip_comp_level 6, 64 KiB text', path: '/gzip6/64k.txt', size: 64 * 1024, gzip: true, kinds: ['weir', 'nginx'] },
  // TLS to the client (P-256 certificate, the configs' defaults otherwise): weir and nginx only.
  // tls-close is a full handshake per request, the cost a TLS terminator pays for every new client.
  { name: 'tls', label: 'small over TLS, keep-alive', path: '/small', size: SMALL_BODY.length, body: SMALL_BODY, tls: true, kinds: ['weir', 'nginx'] },
  { name: 'tls-close', label: 'small over TLS, new connection (handshake) per request', path: '/small', size: SMALL_BODY.length, body: SMALL_BODY, tls: true, close: true, kinds: ['weir', 'nginx'] },
  // HTTP/2 to the client (h2c, prior knowledge), H2_STREAMS concurrent streams per connection, loaded by h2load.
  { name: 'h2', label: `small over HTTP/2 (h2c), ${H2_STREAMS} streams per connection`, path: '/small', size: SMALL_BODY.length, body: SMALL_BODY, h2: true, kinds: ['weir', 'nginx'] }
]

/** Why a contender does not run a scenario limited to some kinds. */
const naReason = (s) => s.tls ? 'n/a (no TLS here)' : s.h2 ? 'n/a (no HTTP/2 here)' : 'n/a (does not gzip)'

/** The port a scenario loads: the TLS listener for the TLS scenarios, the h2c one for h2. */
const portFor = (c, s) => s.tls ? c.tlsPort : s.h2 ? c.h2Port : c.port

/** A self-signed P-256 certificate for the TLS listeners, made once per run. */
function makeCertificate (dir) {
  const cert = path.join(dir, 'bench.crt')
  const key = path.join(dir, 'bench.key')
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { encoding: 'utf8', timeout: 30_000 })
  if (r.status !== 0) throw new Error(`openssl could not make the bench certificate: ${r.stderr ?? r.error?.message}`)
  fs.chmodSync(key, 0o644)
  return { cert, key }
}

/** 64 KiB of text that compresses like prose (words from a fixed list, a fixed pseudo-random order). */
function benchText (size) {
  const words = ['the', 'proxy', 'sends', 'a', 'response', 'to', 'each', 'client', 'and', 'keeps', 'its', 'connection',
    'open', 'while', 'upstream', 'servers', 'answer', 'requests', 'with', 'headers', 'body', 'bytes', 'of', 'html', 'text']
  let x = 12345
  let out = ''
  while (out.length < size) {
    x = (x * 1103515245 + 12345) % 2147483648
    out += words[x % words.length] + ((x >> 8) % 13 === 0 ? '.\n' : ' ')
  }
  return out.slice(0, size)
}

function contenderDefs (weirWorkers) {
  return [
    { name: 'direct', label: 'DIRECT', kind: 'direct' },
    { name: 'weir-1', label: 'weir 1 worker', kind: 'weir', workers: 1 },
    { name: 'weir-n', label: `weir ${weirWorkers} workers`, kind: 'weir', workers: weirWorkers },
    // A/B within one run: another build of weir (--weir-base), 1 worker, interleaved with the others.
    { name: 'weir-base', label: 'weir-base 1 worker', kind: 'weir', workers: 1, base: true },
    { name: 'nginx', label: 'nginx', kind: 'nginx' },
    { name: 'haproxy', label: 'HAProxy', kind: 'haproxy' },
    { name: 'http-proxy', label: 'http-proxy', kind: 'node', script: 'http-proxy.mjs' },
    { name: 'reply-from', label: '@fastify/reply-from', kind: 'node', script: 'reply-from.mjs' },
    { name: 'undici', label: 'undici BalancedPool', kind: 'node', script: 'undici-balanced.mjs' }
  ]
}

function select (all, wanted, aliases, what) {
  if (!wanted) return all
  const names = new Set()
  for (const w of wanted) {
    const expanded = aliases[w] ?? [w]
    for (const n of expanded) {
      if (!all.some((x) => x.name === n)) throw new Error(`unknown ${what} "${w}"; known: ${all.map((x) => x.name).join(', ')}`)
      names.add(n)
    }
  }
  return all.filter((x) => names.has(x.name)) // keep the canonical order
}

// -------------------------------------------------------------- processes --

const children = new Set() // { name, proc, pid, exited, code, log }
let tmpDir = null
let keepTmp = false
let cleaningUp = null

function log (...a) { process.stderr.write(a.join(' ') + '\n') }
function out (s = '') { process.stdout.write(s + '\n') }
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

let pinning = null // { proxy: '1', load: '0' } or null
function pinned (cpus, cmd, args) {
  return pinning && cpus ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args]
}

function startProcess (name, cmd, args, { cpus, cwd, logFile, env }) {
  const [c, a] = pinned(cpus, cmd, args)
  const fd = fs.openSync(logFile, 'a')
  // detached: own process group, so the whole group can be signalled; we do
  // the signalling ourselves (SIGINT handler below).
  const proc = spawn(c, a, { cwd, env: env ?? process.env, stdio: ['ignore', fd, fd], detached: true })
  fs.closeSync(fd)
  const h = { name, proc, pid: proc.pid, exited: false, code: null, log: logFile, cmdline: [c, ...a].join(' ') }
  proc.on('exit', (code, signal) => { h.exited = true; h.code = signal ?? code; children.delete(h) })
  proc.on('error', (e) => { h.exited = true; h.code = e.message; children.delete(h) })
  children.add(h)
  return h
}

function readStat (pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    // f[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
    return { state: f[0], ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]) }
  } catch { return null }
}

/** The pid and all its live descendants (walks the /proc ppid tree). */
function treePids (root) {
  if (!root) return []
  const kids = new Map()
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    const st = readStat(e)
    if (!st || st.state === 'Z') continue
    const pid = Number(e)
    if (!kids.has(st.ppid)) kids.set(st.ppid, [])
    kids.get(st.ppid).push(pid)
  }
  const all = []
  const stack = [root]
  while (stack.length) {
    const p = stack.pop()
    const st = readStat(p)
    if (!st || st.state === 'Z') continue
    all.push(p)
    for (const k of kids.get(p) ?? []) stack.push(k)
  }
  return all
}

/** utime+stime in clock ticks of the tree, per pid (so exited pids can be handled). */
function cpuTicks (root) {
  const m = new Map()
  for (const p of treePids(root)) {
    const st = readStat(p)
    if (st) m.set(p, st.utime + st.stime)
  }
  return m
}
function ticksDelta (before, after) {
  let d = 0
  for (const [p, t] of after) d += t - (before.get(p) ?? 0)
  return d
}

/** Jiffies spent in user+nice+system on all CPUs (softirq, the loopback traffic, is left out). */
function machineBusyTicks () {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  return f[0] + f[1] + f[2]
}
/** This harness and the children it has reaped (wrk): utime+stime+cutime+cstime. */
function selfTicks () {
  const s = fs.readFileSync('/proc/self/stat', 'utf8')
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])
}

function rssKiB (root) {
  let sum = 0
  for (const p of treePids(root)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))
      if (m) sum += Number(m[1])
    } catch {}
  }
  return sum
}

function killTree (h, signal) {
  const pids = h.exited ? [] : treePids(h.pid)
  try { process.kill(-h.pid, signal) } catch {}
  for (const p of pids) { try { process.kill(p, signal) } catch {} }
  return pids
}

async function stopProcess (h, graceMs = 3000) {
  if (!h) return
  let pids = killTree(h, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    pids = pids.filter((p) => { const st = readStat(p); return st && st.state !== 'Z' })
    if (h.exited && pids.length === 0) break
    await sleep(50)
  }
  killTree(h, 'SIGKILL')
  for (const p of pids) { try { process.kill(p, 'SIGKILL') } catch {} }
}

function cleanup () {
  if (!cleaningUp) {
    cleaningUp = (async () => {
      await Promise.all([...children].map((h) => stopProcess(h)))
      if (tmpDir && !keepTmp) { try { fs.rmSync(tmpDir, { recursive: true, force: true }) } catch {} }
    })()
  }
  return cleaningUp
}

// Last resort, synchronous: whatever is still running gets SIGKILL.
process.on('exit', () => { for (const h of children) killTree(h, 'SIGKILL') })
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`\n${sig}: stopping every child process`)
    cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143))
  })
}

// ------------------------------------------------------------------ tools --

function which (cmd) {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/local/sbin', '/usr/bin', '/bin'])
  for (const d of dirs) {
    if (!d) continue
    const p = path.join(d, cmd)
    try { fs.accessSync(p, fs.constants.X_OK); return p } catch {}
  }
  return null
}

function ensureTools (needed) {
  const pkgOf = { wrk: 'wrk', nginx: 'nginx', haproxy: 'haproxy', taskset: 'util-linux', h2load: 'nghttp2-client' }
  let missing = needed.filter((t) => !which(t))
  if (missing.length === 0) return
  const pkgs = [...new Set(missing.map((t) => pkgOf[t]))]
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  if (!isRoot || !which('apt-get')) {
    throw new Error(`missing ${missing.join(', ')}; install with: sudo apt-get install -y ${pkgs.join(' ')}`)
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { stdio: ['ignore', 2, 2], env, timeout: 600_000 })
  log(`bench: ${missing.join(', ')} missing; running apt-get install -y ${pkgs.join(' ')}`)
  let r = install()
  if (r.status !== 0) {
    log('bench: apt-get install failed; running apt-get update and trying again')
    spawnSync('apt-get', ['update'], { stdio: ['ignore', 2, 2], env, timeout: 600_000 })
    r = install()
  }
  missing = needed.filter((t) => !which(t))
  if (missing.length) throw new Error(`still missing after apt-get: ${missing.join(', ')}`)
}

function versionOf (cmd, args) {
  const bin = which(cmd)
  if (!bin) return null
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 5000 })
  return ((r.stdout ?? '') + (r.stderr ?? '')).split('\n').find((l) => l.trim())?.trim() ?? null
}

function clockTicks () {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  const n = Number(r.stdout?.trim())
  return Number.isFinite(n) && n > 0 ? n : 100
}

// --------------------------------------------------------------- network --

// Ports for the upstreams and contenders come from below the ephemeral range
// (32768+ on Linux), so that no client connection can take one between our
// probe and the contender's bind.
const usedPorts = new Set()
function canBind (port) {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}
async function freePort () {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000)
    if (usedPorts.has(port)) continue
    if (await canBind(port)) { usedPorts.add(port); return port }
  }
  throw new Error('no free port found in 20000-32000')
}

async function waitForPort (port, h, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (h && h.exited) return `exited (${h.code}) before listening`
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1')
      s.setTimeout(500)
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
      s.once('timeout', () => { s.destroy(); resolve(false) })
    })
    if (ok) return null
    await sleep(100)
  }
  return `not listening on 127.0.0.1:${port} after ${timeoutMs / 1000} s`
}

function request (port, { method = 'GET', path: p, body, headers = {}, timeoutMs = 5000, tls = false, h2 = false }) {
  if (h2) return h2Request(port, p, timeoutMs)
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, method, path: p, headers, agent: false, timeout: timeoutMs }
    const req = (tls ? https.request({ ...options, rejectUnauthorized: false }) : http.request(options))
    req.once('response', (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const buf = Buffer.concat(chunks)
        resolve({ status: res.statusCode, headers: res.headers, length: buf.length, text: buf.length <= 256 ? buf.toString() : null, buf })
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs / 1000} s`)))
    req.on('error', reject)
    req.end(body)
  })
}

/** One GET over h2c with prior knowledge (node:http2), answered as request() answers. */
function h2Request (port, p, timeoutMs) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`)
    const timer = setTimeout(() => { session.destroy(); reject(new Error(`no answer in ${timeoutMs / 1000} s`)) }, timeoutMs)
    session.on('error', (e) => { clearTimeout(timer); reject(e) })
    const stream = session.request({ ':path': p })
    let headers = {}
    const chunks = []
    stream.on('response', (h) => { headers = h })
    stream.on('data', (c) => chunks.push(c))
    stream.on('error', (e) => { clearTimeout(timer); session.destroy(); reject(e) })
    stream.on('end', () => {
      clearTimeout(timer)
      session.close()
      const buf = Buffer.concat(chunks)
      resolve({ status: headers[':status'], headers, length: buf.length, text: buf.length <= 256 ? buf.toString() : null, buf })
    })
  })
}

/** Raw request with Connection: close: the answer must be complete and the server must then close. */
function closeCheck (port, p) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1')
    let data = ''
    const timer = setTimeout(() => { sock.destroy(); resolve(`did not close the connection within 3 s after "Connection: close" (got ${data.length} bytes: ${JSON.stringify(data.slice(0, 300))})`) }, 3000)
    sock.setEncoding('latin1')
    sock.on('connect', () => sock.write(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`))
    sock.on('data', (d) => { data += d })
    sock.on('error', (e) => { clearTimeout(timer); resolve(`raw request failed: ${e.message}`) })
    sock.on('close', () => {
      clearTimeout(timer)
      if (!/^HTTP\/1\.[01] 200 /.test(data)) resolve(`raw request with Connection: close got ${JSON.stringify(data.slice(0, 120))}`)
      else if (!data.endsWith(SMALL_BODY)) resolve(`raw request with Connection: close got a truncated answer ${JSON.stringify(data.slice(-60))}`)
      else resolve(null)
    })
  })
}

/** A few plain requests: right status, right bodies, and both upstreams seen. Returns an error string or null. */
async function checkContender (c, scenarios) {
  try {
    const seen = new Set()
    for (let i = 0; i < 8; i++) {
      const r = await request(c.port, { path: '/small' })
      if (r.status !== 200) return `GET /small answered ${r.status}`
      if (r.text !== SMALL_BODY) return `GET /small answered a wrong body (${r.length} bytes: ${JSON.stringify(r.text?.slice(0, 60))})`
      seen.add(String(r.headers['x-upstream']))
    }
    const want = c.kind === 'direct' ? ['a'] : ['a', 'b']
    for (const w of want) {
      if (!seen.has(w)) return `no balancing: X-Upstream seen ${[...seen].join(',')} in 8 requests, want ${want.join(' and ')}`
    }
    for (const s of scenarios) {
      if (s.kinds && !s.kinds.includes(c.kind)) continue
      if (s.gzip) {
        const r = await request(c.port, { path: s.path, headers: { 'accept-encoding': 'gzip' } })
        if (r.status !== 200) return `${s.name}: GET ${s.path} answered ${r.status}`
        if (r.headers['content-encoding'] !== 'gzip') return `${s.name}: not gzipped`
        const plain = zlib.gunzipSync(r.buf)
        if (plain.length !== s.size) return `${s.name}: inflated body is ${plain.length} bytes, want ${s.size}`
        continue
      }
      const headers = {}
      let body
      if (s.close && !s.tls) {
        headers.connection = 'close'
        const err = await closeCheck(c.port, s.path)
        if (err) return `${s.name}: ${err}`
      }
      if (s.reqBody) { body = Buffer.alloc(s.reqBody, 'x'); headers['content-type'] = 'application/octet-stream'; headers['content-length'] = body.length }
      const r = await request(portFor(c, s), { method: s.method ?? 'GET', path: s.path, body, headers, tls: s.tls === true, h2: s.h2 === true })
      if (r.status !== 200) return `${s.name}: ${s.method ?? 'GET'} ${s.path} answered ${r.status}`
      if (s.size !== undefined && r.length !== s.size) return `${s.name}: body is ${r.length} bytes, want ${s.size}`
      if (s.body !== undefined && r.text !== s.body) {
        if (s.reqBody && r.text?.startsWith('got ')) {
          c.notes.push(`POST reached the upstream with content-length "${r.text.slice(4)}" (chunked?)`)
        } else {
          return `${s.name}: wrong body ${JSON.stringify(r.text?.slice(0, 60))}, want ${JSON.stringify(s.body)}`
        }
      }
      if (!r.headers['x-upstream']) return `${s.name}: X-Upstream header missing from the answer`
    }
    return null
  } catch (e) {
    return `request failed: ${e.message}`
  }
}

// -------------------------------------------------------------------- wrk --

let WRK = null
let H2LOAD = null
let opts = null
let postLua = null

async function runWrk (port, s, seconds, latency) {
  if (cleaningUp) return { code: 'stopped', stdout: '', stderr: 'stopped', parsed: null }
  if (s.h2) return runH2load(port, s, seconds)
  const args = ['-t1', `-c${opts.connections}`, `-d${seconds}s`, '--timeout', '5s']
  if (latency) args.push('--latency')
  if (s.close) args.push('-H', 'Connection: close')
  if (s.gzip) args.push('-H', 'Accept-Encoding: gzip')
  if (s.reqBody) args.push('-s', postLua)
  args.push(`${s.tls ? 'https' : 'http'}://127.0.0.1:${port}${s.path}`)
  return await runLoadTool('wrk', WRK, args, seconds, parseWrk)
}

/** Runs a load generator on the load CPUs; resolves with its output and `parse`d figures (killed 20 s past its time). */
async function runLoadTool (name, bin, args, seconds, parse) {
  const [c, a] = pinned(pinning?.load, bin, args)
  return await new Promise((resolve) => {
    const proc = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    const h = { name, proc, pid: proc.pid, exited: false }
    children.add(h)
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (d) => { stdout += d })
    proc.stderr.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => killTree(h, 'SIGKILL'), (seconds + 20) * 1000)
    proc.on('close', (code, signal) => {
      clearTimeout(timer)
      h.exited = true
      children.delete(h)
      resolve({ code: signal ?? code, stdout, stderr, parsed: parse(stdout) })
    })
    proc.on('error', (e) => { stderr += e.message })
  })
}

/** The h2 scenario's load: h2load over h2c, the same connection count as wrk, H2_STREAMS streams each. */
async function runH2load (port, s, seconds) {
  const args = ['-t1', `-c${opts.connections}`, `-m${H2_STREAMS}`, `-D${seconds}`, `http://127.0.0.1:${port}${s.path}`]
  return await runLoadTool('h2load', H2LOAD, args, seconds, parseH2load)
}

// -------------------------------------------------------------- templates --

function render (file, vars) {
  const text = fs.readFileSync(path.join(CONF_DIR, file), 'utf8')
  const outText = text.replace(/\{\{([A-Z0-9_]+)\}\}/g, (all, k) => {
    if (!(k in vars)) throw new Error(`${file}: no value for {{${k}}}`)
    return String(vars[k])
  })
  return outText
}

function tail (file, lines = 15) {
  try {
    const t = fs.readFileSync(file, 'utf8').trimEnd().split('\n')
    return t.slice(-lines).join('\n')
  } catch { return '' }
}

// ---------------------------------------------------------------- startup --

async function startUpstreams (ports) {
  const dir = path.join(tmpDir, 'upstream')
  const www = path.join(dir, 'www')
  fs.mkdirSync(www, { recursive: true, mode: 0o755 })
  fs.writeFileSync(path.join(www, '64k.bin'), Buffer.alloc(64 * 1024, 'x'), { mode: 0o644 })
  fs.writeFileSync(path.join(www, '1m.bin'), Buffer.alloc(1024 * 1024, 'x'), { mode: 0o644 })
  fs.writeFileSync(path.join(www, '64k.txt'), benchText(64 * 1024), { mode: 0o644 })
  const conf = path.join(dir, 'nginx.conf')
  fs.writeFileSync(conf, render('upstream.conf', { UPSTREAM_A: ports.a, UPSTREAM_B: ports.b, WWW: www }))
  const h = startProcess('upstream', which('nginx'), ['-p', dir + '/', '-c', conf, '-e', path.join(dir, 'error.log')],
    { cpus: pinning?.load, cwd: dir, logFile: path.join(dir, 'stdout.log') })
  for (const p of [ports.a, ports.b]) {
    const err = await waitForPort(p, h, 10_000)
    if (err) throw new Error(`upstream nginx: ${err}\n${tail(h.log)}\n${tail(path.join(dir, 'error.log'))}`)
  }
  return h
}

/** Starts one contender; sets c.handle, or c.failed with the reason. */
async function startContender (c, ports, certificate) {
  const dir = path.join(tmpDir, c.name)
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 })
  const logFile = path.join(dir, 'stdout.log')
  const cpus = pinning?.proxy
  const vars = { PORT: c.port, UPSTREAM_A: ports.a, UPSTREAM_B: ports.b }
  let extraLogs = []
  if (c.kind === 'direct') {
    c.port = ports.a
    return
  } else if (c.kind === 'nginx' || c.kind === 'weir') {
    const confName = c.kind === 'nginx' ? 'nginx.conf' : 'weir.conf'
    const conf = path.join(dir, confName)
    fs.writeFileSync(conf, render('nginx-weir.conf', {
      ...vars, WORKERS: c.kind === 'nginx' ? 1 : c.workers, TLS_PORT: c.tlsPort, H2_PORT: c.h2Port, CERT: certificate.cert, KEY: certificate.key
    }))
    extraLogs = [path.join(dir, 'error.log')]
    if (c.kind === 'nginx') {
      c.handle = startProcess(c.name, which('nginx'), ['-p', dir + '/', '-c', conf, '-e', path.join(dir, 'error.log')], { cpus, cwd: dir, logFile })
    } else {
      const bin = c.base ? opts.weirBaseBin : (opts.weirBin ?? path.join(REPO_DIR, 'bin', 'weir'))
      if (!bin) { c.failed = 'weir-base needs --weir-base=PATH'; return }
      if (!fs.existsSync(bin)) { c.failed = `${path.relative(process.cwd(), bin) || bin} not found`; return }
      c.handle = startProcess(c.name, process.execPath, [bin, '-p', dir + '/', '-c', conf], { cpus, cwd: dir, logFile })
    }
  } else if (c.kind === 'haproxy') {
    const conf = path.join(dir, 'haproxy.cfg')
    fs.writeFileSync(conf, render('haproxy.cfg', vars))
    c.handle = startProcess(c.name, which('haproxy'), ['-db', '-f', conf], { cpus, cwd: dir, logFile })
  } else if (c.kind === 'node') {
    const script = path.join(BENCH_DIR, 'contenders', c.script)
    c.handle = startProcess(c.name, process.execPath, [script, `--port=${c.port}`, `--upstreams=127.0.0.1:${ports.a},127.0.0.1:${ports.b}`],
      { cpus, cwd: BENCH_DIR, logFile })
  }
  const err = await waitForPort(c.port, c.handle, 15_000)
  if (err) {
    c.failed = err
    const logs = [logFile, ...extraLogs].map((f) => tail(f)).filter(Boolean).join('\n')
    if (logs) c.failed += '\n' + logs.replace(/^/gm, '    | ')
    await stopProcess(c.handle, 1000)
    c.handle = null
  }
}

// ---------------------------------------------------------------- numbers --

function median (xs) {
  const v = xs.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return null
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

const short = (t, n = 140) => { const l = t.split('\n')[0].replace(/\|/g, '\\|'); return l.length > n ? l.slice(0, n) + '…' : l }
const fmtInt = (n) => (n === null || n === undefined) ? '–' : Math.round(n).toLocaleString('en-US')
const fmtFix = (n, d) => (n === null || n === undefined || !Number.isFinite(n)) ? '–' : n.toFixed(d)
const fmtRatio = (n) => (n === null || n === undefined || !Number.isFinite(n)) ? '–' : n.toFixed(2)

function budgetSeconds (nContenders, nScenarios, rounds, warmup, warmupLater, duration, prime = 0) {
  const PER_RUN_OVERHEAD = 0.6 // wrk start/stop, /proc reads, settling
  const first = nContenders * nScenarios
  const later = first * (rounds - 1)
  const startup = 15 + nContenders * (3 + prime)
  return first * (warmup + duration + PER_RUN_OVERHEAD) + later * (warmupLater + duration + PER_RUN_OVERHEAD) + startup
}

// ------------------------------------------------------------------- main --

async function main () {
  opts = parseArgs(process.argv.slice(2))
  keepTmp = opts.keep
  const allContenders = contenderDefs(opts.weirWorkers)
  const contenders = select(allContenders, opts.contenders, { weir: ['weir-1', 'weir-n'], 'undici-balanced': ['undici'], haproxy: ['haproxy'] }, 'contender')
    .map((c) => ({ ...c, notes: [], runs: {} }))
  const scenarios = select(SCENARIOS, opts.scenarios, { '64kib': ['64k'], '1mib': ['1m'] }, 'scenario')
  if (contenders.length === 0 || scenarios.length === 0) throw new Error('nothing to run')

  // Timing plan.
  const rounds = opts.rounds ?? (opts.quick ? 1 : 3)
  const warmup = opts.warmup ?? (opts.quick ? 1 : 2)
  const warmupLater = opts.warmupLater ?? 1
  let duration = opts.duration ?? (opts.quick ? 3 : 10)
  let shrunk = false
  if (opts.duration === null && !opts.quick) {
    while (duration > 3 && budgetSeconds(contenders.length, scenarios.length, rounds, warmup, warmupLater, duration, opts.prime) > opts.maxMinutes * 60) {
      duration--
      shrunk = true
    }
  }
  const budget = budgetSeconds(contenders.length, scenarios.length, rounds, warmup, warmupLater, duration, opts.prime)

  // Tools.
  const needed = ['wrk', 'nginx']
  if (scenarios.some((s) => s.h2)) needed.push('h2load')
  if (contenders.some((c) => c.kind === 'haproxy')) needed.push('haproxy')
  ensureTools(needed)
  WRK = which('wrk')
  H2LOAD = which('h2load')
  if (contenders.some((c) => c.kind === 'node') && !fs.existsSync(path.join(BENCH_DIR, 'node_modules', 'undici'))) {
    log('bench: bench/node_modules missing; running npm ci in bench/')
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: BENCH_DIR, stdio: ['ignore', 2, 2], timeout: 300_000 })
    if (r.status !== 0) throw new Error('npm ci in bench/ failed')
  }

  // Pinning.
  const ncpu = os.availableParallelism?.() ?? os.cpus().length
  let pinNote
  if (!opts.pin) {
    pinNote = 'no pinning (--no-pin)'
  } else if (!which('taskset')) {
    pinNote = 'no pinning (taskset not found; install util-linux)'
  } else if (ncpu < 2) {
    pinNote = `no pinning (only ${ncpu} CPU)`
  } else {
    pinning = { proxy: opts.proxyCpus, load: opts.loadCpus }
    // The harness itself (mostly asleep) stays off the proxy's CPU.
    spawnSync('taskset', ['-pc', pinning.load, String(process.pid)], { stdio: 'ignore' })
    pinNote = `proxy on CPU ${pinning.proxy}; wrk, upstreams and this harness on CPU ${pinning.load} (taskset -c)`
  }

  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-bench-'))
  fs.chmodSync(tmpDir, 0o755) // nginx workers may run as nobody and must read the static files
  postLua = path.join(tmpDir, 'post.lua')
  fs.writeFileSync(postLua, 'wrk.method = "POST"\nwrk.body = string.rep("x", 1024)\nwrk.headers["Content-Type"] = "application/octet-stream"\n')

  // Hard bound on the whole run, whatever happens.
  const hardLimitMs = (budget * 1.5 + 120) * 1000
  const hardTimer = setTimeout(() => {
    log(`bench: hard time limit (${Math.round(hardLimitMs / 1000)} s) reached; stopping`)
    cleanup().finally(() => process.exit(124))
  }, hardLimitMs)

  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU'
  const meta = {
    date: new Date().toISOString(),
    host: `${os.type()} ${os.release()} ${os.arch()}, ${ncpu} CPUs, ${cpuModel}`,
    node: process.version,
    nginx: versionOf('nginx', ['-v']),
    haproxy: contenders.some((c) => c.kind === 'haproxy') ? versionOf('haproxy', ['-v']) : null,
    wrk: versionOf('wrk', ['-v']),
    pinning: pinNote,
    rounds,
    warmup,
    warmupLater,
    duration,
    connections: opts.connections,
    weirWorkers: opts.weirWorkers,
    budgetSeconds: Math.round(budget)
  }

  out('# weir benchmark')
  out()
  out(`- ${meta.date}; ${meta.host}`)
  out(`- node ${meta.node}; ${meta.nginx}; ${meta.haproxy ?? 'haproxy not run'}; ${meta.wrk}`)
  out(`- pinning: ${pinNote}`)
  out(`- wrk -t1 -c${opts.connections} --latency; ${rounds} round(s), contenders interleaved; ${warmup} s warm-up then ${duration} s runs` +
    (rounds > 1 ? ` (${warmupLater} s warm-up in later rounds; medians over rounds)` : ''))
  out(`- contenders: ${contenders.map((c) => c.name).join(', ')}; scenarios: ${scenarios.map((s) => s.name).join(', ')}`)
  out(`- budget: ${contenders.length} contenders × ${scenarios.length} scenarios × ${rounds} rounds × (warm-up + ${duration} s) ≈ ${(budget / 60).toFixed(1)} min` +
    (shrunk ? ` (runs shortened from 10 s to ${duration} s to fit --max-minutes=${opts.maxMinutes})` : ''))
  if (contenders.some((c) => c.name === 'weir-n') && pinning) {
    out(`- note: weir-n's ${opts.weirWorkers} workers share the proxy CPU set (${pinning.proxy}); use --proxy-cpus to give it more`)
  }
  out()
  if (opts.dryRun) { clearTimeout(hardTimer); return }

  // Ports and processes.
  const ports = { a: await freePort(), b: await freePort() }
  for (const c of contenders) if (c.kind !== 'direct') c.port = await freePort()
  for (const c of contenders) if (c.kind === 'weir' || c.kind === 'nginx') { c.tlsPort = await freePort(); c.h2Port = await freePort() }
  const certificate = makeCertificate(tmpDir)
  log(`bench: temp dir ${tmpDir}`)
  log(`bench: starting upstreams on 127.0.0.1:${ports.a} (a) and 127.0.0.1:${ports.b} (b)`)
  const upstream = await startUpstreams(ports)

  for (const c of contenders) {
    await startContender(c, ports, certificate)
    if (!c.failed) {
      const err = await checkContender(c, scenarios)
      if (err) {
        c.failed = `answers wrongly: ${err}`
        await stopProcess(c.handle, 1000)
        c.handle = null
      }
    }
    if (c.failed) log(`bench: ${c.name} FAILED: ${c.failed}`)
    else log(`bench: ${c.name} ready on 127.0.0.1:${c.port}${c.notes.length ? ' (' + c.notes.join('; ') + ')' : ''}`)
  }

  // Prime: a short unmeasured load on every live proxy so none is measured cold (JIT, pools).
  if (opts.prime > 0) {
    const small = SCENARIOS[0]
    for (const c of contenders) {
      if (c.failed || c.kind === 'direct') continue
      await runWrk(c.port, small, opts.prime, false)
    }
  }

  // The runs: per scenario, rounds of A B C ...
  const tck = clockTicks()
  const started = Date.now()
  for (const s of scenarios) {
    for (let round = 1; round <= rounds; round++) {
      for (const c of contenders) {
        if (cleaningUp) return // SIGINT/SIGTERM: the handler is stopping everything
        if (c.failed) continue
        if (s.kinds && !s.kinds.includes(c.kind)) continue
        if (c.handle && c.handle.exited) {
          c.failed = `exited (${c.handle.code}) during the bench\n${tail(c.handle.log).replace(/^/gm, '    | ')}`
          log(`bench: ${c.name} FAILED: ${c.failed}`)
          continue
        }
        const w = round === 1 ? warmup : warmupLater
        if (w > 0) await runWrk(portFor(c, s), s, w, false)
        const root = c.handle?.pid ?? null
        const before = root ? cpuTicks(root) : null
        const upBefore = cpuTicks(upstream.pid)
        const busyBefore = machineBusyTicks()
        const selfBefore = selfTicks()
        const t0 = Date.now()
        let peak = 0
        const sample = () => { if (root) peak = Math.max(peak, rssKiB(root)) }
        sample()
        const sampler = setInterval(sample, 200)
        const r = await runWrk(portFor(c, s), s, duration, true)
        clearInterval(sampler)
        sample()
        const after = root ? cpuTicks(root) : null
        const upAfter = cpuTicks(upstream.pid)
        // CPU used by processes that are not part of the bench (other users of the machine).
        const ours = (root ? ticksDelta(before, after) : 0) + ticksDelta(upBefore, upAfter) + (selfTicks() - selfBefore)
        const foreignPct = Math.max(0, (machineBusyTicks() - busyBefore - ours) / tck / ((Date.now() - t0) / 1000) * 100)
        if (cleaningUp) return
        const run = { round, otherLoadPct: Math.round(foreignPct) }
        if (!r.parsed) {
          run.failed = `wrk exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`
        } else {
          Object.assign(run, r.parsed)
          const reqs = Math.max(1, r.parsed.requests)
          if (root) {
            run.cpuUsPerReq = (ticksDelta(before, after) / tck) * 1e6 / reqs
            run.peakRssMB = peak / 1024
          }
          run.upstreamCpuUsPerReq = (ticksDelta(upBefore, upAfter) / tck) * 1e6 / reqs
        }
        if (c.handle && c.handle.exited) run.failed = (run.failed ? run.failed + '; ' : '') + `proxy exited (${c.handle.code}) during the run`
        ;(c.runs[s.name] ??= []).push(run)
        const elapsed = ((Date.now() - started) / 1000).toFixed(0)
        log(`bench: [${elapsed}s] ${s.name} round ${round}/${rounds} ${c.name}: ` + (run.failed
          ? `FAILED ${run.failed}`
          : `${fmtInt(run.rps)} req/s, p50 ${fmtFix(run.p50ms, 2)} ms, p99 ${fmtFix(run.p99ms, 2)} ms, ` +
            `${root ? fmtFix(run.cpuUsPerReq, 1) + ' µs/req, ' + fmtFix(run.peakRssMB, 1) + ' MB, ' : ''}errors ${run.errors}`) +
          (foreignPct >= 10 ? ` [other processes used ${Math.round(foreignPct)}% of a CPU]` : ''))
      }
    }
  }
  clearTimeout(hardTimer)
  const elapsedMin = (Date.now() - started) / 60000

  // Medians.
  const results = {}
  for (const c of contenders) {
    results[c.name] = {}
    for (const s of scenarios) {
      const runs = (c.runs[s.name] ?? []).filter((r) => !r.failed)
      if (runs.length === 0) {
        const na = s.kinds && !s.kinds.includes(c.kind) ? naReason(s) : null
        results[c.name][s.name] = { failed: c.failed ?? na ?? (c.runs[s.name]?.[0]?.failed ?? 'not run') }
        continue
      }
      results[c.name][s.name] = {
        rps: median(runs.map((r) => r.rps)),
        p50ms: median(runs.map((r) => r.p50ms)),
        p99ms: median(runs.map((r) => r.p99ms)),
        cpuUsPerReq: median(runs.map((r) => r.cpuUsPerReq)),
        peakRssMB: runs.some((r) => r.peakRssMB !== undefined) ? Math.max(...runs.map((r) => r.peakRssMB ?? 0)) : null,
        errors: runs.reduce((a, r) => a + r.errors, 0),
        requests: runs.reduce((a, r) => a + r.requests, 0),
        upstreamCpuUsPerReq: median(runs.map((r) => r.upstreamCpuUsPerReq)),
        otherLoadPct: Math.max(...runs.map((r) => r.otherLoadPct)),
        rounds: runs.length
      }
    }
  }
  const rpsOf = (name, s) => results[name]?.[s]?.rps ?? null
  for (const c of contenders) {
    for (const s of scenarios) {
      const r = results[c.name][s.name]
      if (r.failed) continue
      const d = rpsOf('direct', s.name)
      const n = rpsOf('nginx', s.name)
      r.vsDirect = d ? r.rps / d : null
      r.vsNginx = n ? r.rps / n : null
    }
  }

  // JSON.
  fs.mkdirSync(path.dirname(opts.out), { recursive: true })
  const json = {
    meta: { ...meta, elapsedMinutes: Number(elapsedMin.toFixed(2)) },
    scenarios: scenarios.map((s) => ({ name: s.name, label: s.label, path: s.path })),
    contenders: contenders.map((c) => ({ name: c.name, label: c.label, failed: c.failed ?? null, notes: c.notes, runs: c.runs })),
    results
  }
  fs.writeFileSync(opts.out, JSON.stringify(json, null, 2) + '\n')

  // Markdown.
  out('| scenario | contender | req/s | ×DIRECT | ×nginx | p50 ms | p99 ms | CPU µs/req | peak RSS MB | errors |')
  out('|---|---|--:|--:|--:|--:|--:|--:|--:|--:|')
  for (const s of scenarios) {
    for (const c of contenders) {
      const r = results[c.name][s.name]
      if (r.failed) {
        out(`| ${s.name} | ${c.label} | failed: ${short(r.failed)} | | | | | | | |`)
        continue
      }
      const na = c.kind === 'direct'
      out(`| ${s.name} | ${c.label} | ${fmtInt(r.rps)} | ${fmtRatio(r.vsDirect)} | ${fmtRatio(r.vsNginx)} | ${fmtFix(r.p50ms, 2)} | ${fmtFix(r.p99ms, 2)} | ` +
        `${na ? '–' : fmtFix(r.cpuUsPerReq, 1)} | ${na ? '–' : fmtFix(r.peakRssMB, 1)} | ${r.errors} |`)
    }
  }
  out()
  out(`req/s (×nginx), medians of ${rounds} round(s):`)
  out()
  out(`| contender | ${scenarios.map((s) => s.name).join(' | ')} |`)
  out(`|---|${scenarios.map(() => '--:').join('|')}|`)
  for (const c of contenders) {
    const cells = scenarios.map((s) => {
      const r = results[c.name][s.name]
      return r.failed ? 'failed' : `${fmtInt(r.rps)}${r.vsNginx !== null && c.name !== 'nginx' ? ` (${fmtRatio(r.vsNginx)})` : ''}`
    })
    out(`| ${c.label} | ${cells.join(' | ')} |`)
  }
  out()
  if (results['weir-1'] && results.nginx) {
    out('Targets (issue 16), weir 1 worker against nginx in this run:')
    out()
    out('| target | figure | |')
    out('|---|--:|---|')
    for (const [what, fig, v] of checkTargets(results, scenarios.map((s) => s.name))) out(`| ${what} | ${fig} | ${v} |`)
    out()
  }
  const failedOnes = contenders.filter((c) => c.failed)
  for (const c of failedOnes) out(`- ${c.name} failed: ${c.failed}`)
  for (const c of contenders) for (const n of c.notes) out(`- ${c.name}: ${n}`)
  const allRuns = contenders.flatMap((c) => Object.values(c.runs).flat())
  const noisy = allRuns.filter((r) => r.otherLoadPct >= 10)
  if (noisy.length) {
    const worst = Math.max(...noisy.map((r) => r.otherLoadPct))
    out(`- WARNING: other processes on this machine used ≥10% of a CPU during ${noisy.length} of ${allRuns.length} runs (up to ${worst}%); those figures are disturbed`)
  }
  out(`- measured in ${elapsedMin.toFixed(1)} min; JSON in ${path.relative(process.cwd(), opts.out) || opts.out}`)
  out()

  const ratioLine = (name, label) => {
    if (!results.nginx) return `ratios ${label}/nginx: n/a (nginx not run)`
    if (!results[name]) return `ratios ${label}/nginx: n/a (${label} not run)`
    return `ratios ${label}/nginx: ` + scenarios.map((s) => {
      const r = results[name][s.name]
      return `${s.name} ${r.failed ? 'failed' : fmtRatio(r.vsNginx)}`
    }).join(' ')
  }
  for (const c of contenders) {
    if (c.name === 'nginx' || c.name === 'weir-1' || c.name === 'direct') continue
    out(ratioLine(c.name, c.name))
  }
  out(ratioLine('weir-1', 'weir'))
}

main()
  .then(() => cleanup())
  .then(() => process.exit(0))
  .catch(async (e) => {
    log(`bench: error: ${e.message}`)
    await cleanup()
    process.exit(1)
  })
