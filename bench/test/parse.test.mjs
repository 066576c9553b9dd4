// node --test bench/test/: the load generators' summaries as the harness reads them.
import test from 'node:test'
import assert from 'node:assert/strict'
import { parseH2load, parseWrk } from '../parse.mjs'

test('h2load: requests done, req/s, and failures and non-2xx as errors', () => {
  const text = `starting benchmark...
finished in 3.00s, 22627.33 req/s, 1.23MB/s
requests: 67882 total, 68202 started, 67882 done, 67870 succeeded, 12 failed, 3 errored, 1 timeout
status codes: 67860 2xx, 0 3xx, 4 4xx, 6 5xx
traffic: 3.69MB (3869274) total, 1.03MB (1080002) headers (space savings 93.04%), 662.91KB (678820) data
`
  assert.deepEqual(parseH2load(text), {
    seconds: 3, rps: 22627.33, p50ms: null, p99ms: null, requests: 67882, non2xx: 10,
    socketErrors: { connect: 0, read: 0, write: 0, timeout: 0 }, errors: 26
  })
  assert.equal(parseH2load('h2load: could not connect'), null)
})

test('wrk: requests, req/s, latency percentiles and errors', () => {
  const text = `Running 3s test @ http://127.0.0.1:8080/small
  Latency Distribution
     50%    1.22ms
     99%    4.10ms
  101862 requests in 3.00s, 15.25MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  33954.00
`
  const r = parseWrk(text)
  assert.equal(r.requests, 101862)
  assert.equal(r.rps, 33954)
  assert.equal(r.p50ms, 1.22)
  assert.equal(r.p99ms, 4.1)
  assert.equal(r.errors, 8)
})
