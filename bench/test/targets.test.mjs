// node --test bench/test/: the issue-16 target rows the harness prints.
import test from 'node:test'
import assert from 'node:assert/strict'
import { checkTargets } from '../targets.mjs'

const run = (vsNginx, p99ms, extra = {}) => ({ vsNginx, p99ms, peakRssMB: 100, errors: 0, ...extra })

test('each target row says met or not met from the ratios of one run', () => {
  const results = {
    'weir-1': { small: run(0.85, 10), '64k': run(0.9, 30, { peakRssMB: 130 }), post: run(0.8, 12, { errors: 2 }) },
    nginx: { small: run(1, 6), '64k': run(1, 20), post: run(1, 5) }
  }
  const rows = Object.fromEntries(checkTargets(results, ['small', '64k', 'post']).map(([w, f, v]) => [w.split(' ')[0] + (w.includes('RSS') ? 'rss' : ''), [f, v]]))
  assert.deepEqual(rows.small, ['0.85×', 'met'])
  assert.deepEqual(rows['64'], ['0.90×', 'not met'])
  assert.deepEqual(rows['1'], ['–', 'not run'])
  assert.deepEqual(rows.new, ['–', 'not run'])
  assert.deepEqual(rows.POST, ['0.80×', 'met'])
  assert.deepEqual(rows.peakrss, ['130.0 MB', 'not met'])
  assert.deepEqual(rows.p99, ['2.40× (post)', 'not met'])
  assert.deepEqual(rows['0'], ['2', 'not met'])
})

test('a failed scenario is not met, and without weir or nginx nothing is guessed', () => {
  const rows = checkTargets({ 'weir-1': { small: { failed: 'exited' } }, nginx: { small: run(1, 5) } }, ['small'])
  assert.deepEqual(rows[0].slice(1), ['failed', 'not met'])
  assert.equal(rows.at(-1)[2], 'not run')
  assert.ok(checkTargets({}, ['small']).every((r) => r[2] === 'not run'))
})
