/**
 * ngx_http_stub_status_module: `stub_status` answers a location with the
 * connection counters, byte for byte as nginx prints them:
 *
 *   Active connections: 2 \n
 *   server accepts handled requests\n
 *    4 4 5 \n
 *   Reading: 0 Writing: 1 Waiting: 1 \n
 *
 * and $connections_active, $connections_reading, $connections_writing,
 * $connections_waiting. The counters are connection-stats.ts: summed over
 * the workers of this generation, each worker's own counts exact and the
 * others' as last pushed by the master (one IPC hop behind).
 *
 * The optional argument is accepted and ignored, as nginx does (the old `stub_status on`).
 */
import { Ctx, type DirectiveSpec, type HttpModule } from '../config/module.js';
import { discardRequestBody } from './body.js';
import {
  connectionStat, shareConnectionStats, STAT_ACCEPTED, STAT_ACTIVE, STAT_HANDLED, STAT_READING, STAT_REQUESTS,
  STAT_WAITING, STAT_WRITING,
} from './connection-stats.js';
import { httpCoreModule, type ContentHandler, type CoreLocConf } from './core-module.js';
import { finalize } from './phases.js';
import { sendHeader } from './header-filter.js';
import type { HttpRequest } from './request.js';

/** The page as ngx_http_stub_status_handler prints it. */
export function stubStatusPage(): string {
  return `Active connections: ${connectionStat(STAT_ACTIVE)} \n`
    + 'server accepts handled requests\n'
    + ` ${connectionStat(STAT_ACCEPTED)} ${connectionStat(STAT_HANDLED)} ${connectionStat(STAT_REQUESTS)} \n`
    + `Reading: ${connectionStat(STAT_READING)} Writing: ${connectionStat(STAT_WRITING)} Waiting: ${connectionStat(STAT_WAITING)} \n`;
}

const stubStatusHandler: ContentHandler = {
  name: 'stub_status',
  handle(r: HttpRequest): void {
    if (r.method !== 'GET' && r.method !== 'HEAD') { finalize(r, 405); return; }
    discardRequestBody(r);
    const body = Buffer.from(stubStatusPage(), 'latin1');
    if (!sendHeader(r, 200, ['Content-Type', 'text/plain'], body.length)) return;
    if (r.method === 'HEAD') r.res.end();
    else r.res.end(body);
  },
};

const directives: DirectiveSpec[] = [
  {
    name: 'stub_status', contexts: Ctx.Server | Ctx.Location, args: [0, 1],
    set(cf) {
      (cf.loc(httpCoreModule) as CoreLocConf).handler = stubStatusHandler;
      shareConnectionStats();
    },
  },
];

const VARIABLES: ReadonlyArray<readonly [string, number]> = [
  ['connections_active', STAT_ACTIVE],
  ['connections_reading', STAT_READING],
  ['connections_writing', STAT_WRITING],
  ['connections_waiting', STAT_WAITING],
];

export const stubStatusModule: HttpModule<undefined, undefined, undefined> = {
  kind: 'http',
  name: 'http_stub_status',
  directives,
  initMain(_main, cf) {
    const v = cf.main(httpCoreModule).variables;
    for (const [name, slot] of VARIABLES) {
      v.define(name, () => {
        // Read by this config: from now on the worker shares its counts (the first read sees its own, then all).
        shareConnectionStats();
        return String(connectionStat(slot));
      });
    }
  },
};
