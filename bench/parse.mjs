// The load generators' summaries (wrk, h2load) as the harness's figures.

export function parseDurationMs (v, unit) {
  const n = Number(v)
  return unit === 'us' ? n / 1000 : unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60000 : NaN
}

export function parseWrk (text) {
  const r = {}
  let m = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(text)
  if (!m) return null
  r.requests = Number(m[1])
  r.seconds = parseDurationMs(m[2], m[3]) / 1000
  m = /Requests\/sec:\s+([\d.]+)/.exec(text)
  r.rps = m ? Number(m[1]) : r.requests / r.seconds
  m = /Latency Distribution[\s\S]*?50%\s+([\d.]+)(us|ms|s|m)/.exec(text)
  r.p50ms = m ? parseDurationMs(m[1], m[2]) : null
  m = /Latency Distribution[\s\S]*?99%\s+([\d.]+)(us|ms|s|m)/.exec(text)
  r.p99ms = m ? parseDurationMs(m[1], m[2]) : null
  m = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
  r.socketErrors = m ? { connect: +m[1], read: +m[2], write: +m[3], timeout: +m[4] } : { connect: 0, read: 0, write: 0, timeout: 0 }
  m = /Non-2xx or 3xx responses: (\d+)/.exec(text)
  r.non2xx = m ? Number(m[1]) : 0
  r.errors = r.non2xx + Object.values(r.socketErrors).reduce((a, b) => a + b, 0)
  return r
}

/**
 * h2load's summary as parseWrk's figures: requests done in the duration,
 * req/s, failures and non-2xx answers as errors (h2load gives no latency
 * percentiles in its summary: p50/p99 stay empty).
 */
export function parseH2load (text) {
  let m = /finished in ([\d.]+)(us|ms|s|m), ([\d.]+) req\/s/.exec(text)
  if (!m) return null
  const r = { seconds: parseDurationMs(m[1], m[2]) / 1000, rps: Number(m[3]), p50ms: null, p99ms: null }
  m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text)
  if (!m) return null
  r.requests = Number(m[3])
  const failed = Number(m[5]) + Number(m[6]) + Number(m[7])
  m = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text)
  r.non2xx = m ? Number(m[2]) + Number(m[3]) + Number(m[4]) : 0
  r.socketErrors = { connect: 0, read: 0, write: 0, timeout: 0 }
  r.errors = failed + r.non2xx
  return r
}
