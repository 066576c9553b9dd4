// The targets of issue 16, checked against one run's medians (weir 1 worker
// against nginx in the same run). Each row says met or not met; a row whose
// scenario or contender was not run says so instead of guessing.
//
// Peak RSS: the harness samples the whole process tree (master + worker), so
// the row checks the sum against the two bounds' sum (80 MB + 45 MB); the
// issue's separate bounds need per-process sampling, which the harness does
// not do yet.

export const TARGETS = [
  { id: 'small', what: 'small keep-alive ≥ 0.8× nginx', scenario: 'small', minRatio: 0.8 },
  { id: '64k', what: '64 KiB ≥ 1.0× nginx', scenario: '64k', minRatio: 1.0 },
  { id: '1m', what: '1 MiB ≥ 1.0× nginx', scenario: '1m', minRatio: 1.0 },
  { id: 'close', what: 'new connection per request ≥ 0.6× nginx', scenario: 'close', minRatio: 0.6 },
  { id: 'post', what: 'POST 1 KiB ≥ 0.8× nginx', scenario: 'post', minRatio: 0.8 }
]
export const RSS_LIMIT_MB = 80 + 45
export const P99_FACTOR = 2

/**
 * Rows of [target, figure, verdict] from results[contender][scenario]
 * (each { failed?, vsNginx, p99ms, peakRssMB, errors }).
 */
export function checkTargets (results, scenarios, who = 'weir-1') {
  const mine = results[who]
  const ng = results.nginx
  const ran = (s) => scenarios.includes(s)
  const rows = []
  const verdict = (ok) => ok ? 'met' : 'not met'
  for (const t of TARGETS) {
    if (!ran(t.scenario) || !mine || !ng) { rows.push([t.what, '–', 'not run']); continue }
    const r = mine[t.scenario]
    if (r.failed || r.vsNginx === null || r.vsNginx === undefined) { rows.push([t.what, 'failed', 'not met']); continue }
    rows.push([t.what, `${r.vsNginx.toFixed(2)}×`, verdict(r.vsNginx >= t.minRatio)])
  }
  const runs = mine ? scenarios.map((s) => mine[s]).filter((r) => r && !r.failed) : []
  if (runs.length === 0) {
    rows.push([`peak RSS, master + worker ≤ ${RSS_LIMIT_MB} MB`, '–', 'not run'])
    rows.push([`p99 ≤ ${P99_FACTOR}× nginx's`, '–', 'not run'])
    rows.push(['0 errors', '–', 'not run'])
    return rows
  }
  const rss = Math.max(...runs.map((r) => r.peakRssMB ?? Infinity))
  rows.push([`peak RSS, master + worker ≤ ${RSS_LIMIT_MB} MB`, `${Number.isFinite(rss) ? rss.toFixed(1) : '–'} MB`, verdict(rss <= RSS_LIMIT_MB)])
  let worst = 0
  let worstAt = ''
  for (const s of scenarios) {
    const r = mine[s]
    const n = ng?.[s]
    if (!r || r.failed || !n || n.failed || !(n.p99ms > 0) || !(r.p99ms >= 0)) continue
    const f = r.p99ms / n.p99ms
    if (f > worst) { worst = f; worstAt = s }
  }
  rows.push([`p99 ≤ ${P99_FACTOR}× nginx's`, worstAt ? `${worst.toFixed(2)}× (${worstAt})` : '–', worstAt ? verdict(worst <= P99_FACTOR) : 'not run'])
  const errors = runs.reduce((a, r) => a + (r.errors ?? 0), 0)
  rows.push(['0 errors', String(errors), verdict(errors === 0)])
  return rows
}
