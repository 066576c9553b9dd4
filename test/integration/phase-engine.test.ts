/**
 * The phase engine itself, through a module of the test's own written against
 * the public API (weir/module): a handler that returns PHASE_AGAIN is run
 * again by resumePhases (nginx's r->phase_handler), its result then counts as
 * if it had answered at once (`satisfy any` included), a throw after the wait
 * is a 500 with an [alert], and a client that leaves during the wait leaves
 * nothing behind.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import test from 'node:test';
import { startWeir } from '../../src/index.js';
import {
  Ctx, httpCoreModule, PHASE_AGAIN, PHASE_NEXT, PHASE_OK, resumePhases, type HttpModule, type HttpRequest,
} from '../../src/api/module.js';
import { GET, freePort, sleep, trackUnhandled } from '../helpers/proxy-harness.js';

const unhandled = trackUnhandled();

type Outcome = 'ok' | 'next' | 'deny' | 'throw';
interface SlowConf { ms?: number; outcome?: Outcome }
interface SlowCtx { runs: number; done: boolean }

/** `slow_access MS ok|next|deny|throw`: an access handler that waits MS, then answers. */
const slowAccess: HttpModule<unknown, unknown, SlowConf> = {
  kind: 'http',
  name: 'test_slow_access',
  directives: [{
    name: 'slow_access', contexts: Ctx.Location, args: [2, 2],
    set(cf, d) {
      const conf = cf.loc(slowAccess);
      conf.ms = Number(d.args[0]);
      conf.outcome = d.args[1] as Outcome;
    },
  }],
  createLoc: () => ({}),
  mergeLoc(p, c) { c.ms ??= p.ms; c.outcome ??= p.outcome; },
  initMain(_conf, cf) {
    const index = cf.registry.indexOf(slowAccess);
    cf.main(httpCoreModule).variables.define('slow_runs', (r: HttpRequest) => String((r.ctx[index] as SlowCtx | undefined)?.runs ?? 0));
  },
  postConfiguration(cf) {
    const index = cf.registry.indexOf(slowAccess);
    cf.main(httpCoreModule).access.push((r: HttpRequest): number => {
      const conf = r.loc.loc[index] as SlowConf;
      if (conf.ms === undefined) return PHASE_NEXT;
      let ctx = r.ctx[index] as SlowCtx | undefined;
      if (ctx === undefined) r.ctx[index] = ctx = { runs: 0, done: false };
      ctx.runs++;
      if (!ctx.done) {
        setTimeout(() => { ctx!.done = true; resumePhases(r); }, conf.ms);
        return PHASE_AGAIN;
      }
      switch (conf.outcome) {
        case 'ok': return PHASE_OK;
        case 'deny': return 403;
        case 'throw': throw new Error('the handler failed after its wait');
        default: return PHASE_NEXT;
      }
    });
  },
};

test('PHASE_AGAIN and resumePhases: the same handler runs again, and its answer counts', async (t) => {
  const prefix = mkdtempSync(join(tmpdir(), 'weir-phases-'));
  writeFileSync(join(prefix, 'f'), 'file');
  const port = await freePort();
  const errorLog = join(prefix, 'error.log');
  const weir = await startWeir({
    prefix,
    modules: [slowAccess],
    errorLog: [{ path: errorLog, level: 'info' }],
    config: `events {} http {
      access_log off;
      server {
        listen 127.0.0.1:${port};
        root ${prefix};
        add_header X-Runs $slow_runs always;
        location = /f { slow_access 30 next; }
        # satisfy any: the waiting handler's PHASE_OK lets the request past "deny all".
        location = /any { alias ${prefix}/f; satisfy any; deny all; slow_access 30 ok; }
        location = /all { alias ${prefix}/f; satisfy all; slow_access 30 ok; deny all; }
        location = /deny { alias ${prefix}/f; slow_access 30 deny; }
        location = /throw { alias ${prefix}/f; slow_access 30 throw; }
        location = /long { alias ${prefix}/f; slow_access 300 next; }
      }
    }`,
  });
  t.after(async () => { await weir.stop(); rmSync(prefix, { recursive: true, force: true }); });

  const f = await GET(port, '/f');
  assert.equal(f.res!.status, 200);
  assert.equal(f.res!.body.toString(), 'file');
  assert.equal(f.res!.headers['x-runs'], '2', 'the handler ran, waited, and ran again');

  const any = await GET(port, '/any');
  assert.equal(any.res!.status, 200, 'satisfy any: the resumed PHASE_OK allows');
  assert.equal((await GET(port, '/all')).res!.status, 403, 'satisfy all: deny all still denies after the wait');

  const deny = await GET(port, '/deny');
  assert.equal(deny.res!.status, 403);
  assert.equal(deny.res!.headers['x-runs'], '2');

  assert.equal((await GET(port, '/throw')).res!.status, 500);
  assert.match(readFileSync(errorLog, 'utf8'), /\[alert\] .*request processing failed: Error: the handler failed after its wait/);

  // The client leaves while the handler waits: the resume finds the request gone, and nothing breaks.
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  s.write('GET /long HTTP/1.1\r\nHost: x\r\n\r\n');
  await sleep(50);
  s.destroy();
  await sleep(400);
  assert.equal((await GET(port, '/f')).res!.status, 200, 'still serving');
  assert.deepEqual(unhandled.take(), []);
});
