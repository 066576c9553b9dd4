/**
 * ngx_http_limit_conn_module: requests in progress per key, in a shared zone.
 *
 *   limit_conn_zone KEY zone=NAME:SIZE .................. http
 *   limit_conn NAME N (1..65535) ........................ http, server, location (several per level)
 *   limit_conn_status CODE (400..599, 503) .............. http, server, location
 *   limit_conn_log_level info|notice|warn|error (error) . http, server, location
 *   limit_conn_dry_run on|off (off) ..................... http, server, location
 *   $limit_conn_status: PASSED, REJECTED, REJECTED_DRY_RUN
 *
 * Preaccess phase, once per client request (r->main->limit_conn_status).
 * The zone host counts one more for every key of the location in one step,
 * or none when a key is at its limit ("limiting connections by zone "z"" at
 * limit_conn_log_level; ", dry run," in dry run) or the zone is full. The
 * count is given back when the request ends (its log phase, nginx's pool
 * cleanup), whether or not the answer had come; a worker that dies gives back
 * all its requests' counts (the zone host knows who holds what).
 */
import type { ConfContext } from '../config/conf-context.js';
import { Ctx, HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { setEnum, setFlag, setNumberInRange } from '../config/slots.js';
import { zoneClient } from '../zone/zone-client.js';
import { LIMIT_CONN_NOMEM, LIMIT_CONN_PASSED, type LimitConnDecision, type LimitConnLimit } from '../zone/zone-host.js';
import { httpCoreModule, PHASE_AGAIN, PHASE_NEXT, type PhaseHandler } from './core-module.js';
import { resumePhases } from './phases.js';
import type { HttpRequest } from './request.js';
import { finishShmZones, parseZoneArg, sharedZone, type ShmZone, mergeLimitLoc, LIMIT_LOG_LEVELS as LOG_LEVELS, type LimitLocConf } from '../zone/shm-zone.js';
import type { ComplexValue } from './variables.js';


interface ConnZoneData {
  readonly key: ComplexValue;
  readonly keyText: string;
}

interface ConnLimit {
  readonly zone: ShmZone;
  readonly conn: number;
}

export type LimitConnLocConf = LimitLocConf<ConnLimit>;

const PASSED = 'PASSED';
const REJECTED = 'REJECTED';
const REJECTED_DRY_RUN = 'REJECTED_DRY_RUN';

/** r->main->limit_conn_status. */
const statusOf = new WeakMap<HttpRequest, string>();
/** The zone host's handle of what a client request holds, released in its log phase. */
const handleOf = new WeakMap<HttpRequest, number>();

function zoneDirective(cf: ConfContext, d: ConfNode): void {
  let zoneArg: { name: string; size: number } | null = null;
  for (const a of d.args.slice(1)) {
    if (a.startsWith('zone=')) { zoneArg = parseZoneArg(cf, a); continue; }
    return cf.error(`invalid parameter "${a}"`);
  }
  if (zoneArg === null || zoneArg.name === '') return cf.error(`"${d.name}" must have "zone" parameter`);
  const zone = sharedZone(cf, zoneArg.name, zoneArg.size, 'limit_conn');
  if (zone.data !== null) {
    return cf.error(`${d.name} "${zoneArg.name}" is already bound to key "${(zone.data as ConnZoneData).keyText}"`);
  }
  const key = cf.main(httpCoreModule).variables.compile(d.args[0], { file: d.file, line: d.line });
  zone.data = { key, keyText: d.args[0] } satisfies ConnZoneData;
}

function limitDirective(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(limitConnModule);
  const zone = sharedZone(cf, d.args[0], 0, 'limit_conn');
  const limits = (conf.limits ??= []);
  if (limits.some((l) => l.zone === zone)) return cf.error(`"${d.name}" directive is duplicate`);
  const text = d.args[1];
  const n = /^[0-9]+$/.test(text) ? Number(text) : -1;
  if (n <= 0) return cf.error(`invalid number of connections "${text}"`);
  if (n > 65535) return cf.error('connection limit must be less 65536');
  limits.push({ zone, conn: n });
}

const directives: DirectiveSpec[] = [
  { name: 'limit_conn_zone', contexts: Ctx.Http, args: [2, 2], set: zoneDirective },
  { name: 'limit_conn', contexts: HTTP_MAIN_SRV_LOC, args: [2, 2], set: limitDirective },
  { name: 'limit_conn_status', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setNumberInRange(cf, d, cf.loc(limitConnModule), 'status', 400, 599) },
  {
    name: 'limit_conn_log_level', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set: (cf, d) => setEnum(cf, d, cf.loc(limitConnModule), 'logLevel', LOG_LEVELS),
  },
  { name: 'limit_conn_dry_run', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setFlag(cf, d, cf.loc(limitConnModule), 'dryRun') },
];

interface ConnCtx {
  decision: LimitConnDecision | null;
  answered: boolean;
}

function decided(r: HttpRequest, conf: LimitConnLocConf, ctx: ConnCtx, index: number): number {
  r.ctx[index] = undefined;
  const d = ctx.decision;
  if (d === null || d.rc < 0) {
    r.log('alert', 'limit_conn: the shared zone could not be reached');
    return 500;
  }
  if (d.rc === LIMIT_CONN_PASSED) { statusOf.set(r.main, PASSED); return PHASE_NEXT; }
  const name = conf.limits![d.limit].zone.name;
  const dry = conf.dryRun!;
  if (d.rc === LIMIT_CONN_NOMEM) r.errorLog.log('crit', `ngx_slab_alloc() failed: no memory in limit_conn_zone "${name}"`);
  else r.log(conf.logLevel!, `limiting connections${dry ? ', dry run,' : ''} by zone "${name}"`);
  if (dry) { statusOf.set(r.main, REJECTED_DRY_RUN); return PHASE_NEXT; }
  statusOf.set(r.main, REJECTED);
  return conf.status!;
}

function handler(index: number): PhaseHandler {
  return (r: HttpRequest): number => {
    const conf = r.loc.loc[index] as LimitConnLocConf;
    const waiting = r.ctx[index] as ConnCtx | undefined;
    if (waiting !== undefined) return waiting.answered ? decided(r, conf, waiting, index) : PHASE_AGAIN;
    if (statusOf.has(r.main)) return PHASE_NEXT;
    const limits = conf.limits!;
    if (limits.length === 0) return PHASE_NEXT;
    const asked: LimitConnLimit[] = new Array(limits.length);
    let any = false;
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i];
      const data = l.zone.data as ConnZoneData;
      let key = data.key.evaluate(r);
      if (key.length > 255) {
        r.log('error', `the value of the "${data.keyText}" key is more than 255 bytes: "${key}"`);
        key = '';
      }
      if (key !== '') any = true;
      asked[i] = { zone: l.zone.id, key, conn: l.conn };
    }
    // No key: no limit, and no status ($limit_conn_status is not found).
    if (!any) return PHASE_NEXT;
    const ctx: ConnCtx = { decision: null, answered: false };
    r.ctx[index] = ctx;
    let sync = true;
    handleOf.set(r.main, zoneClient().limitConnAcquire(asked, (d) => {
      ctx.decision = d;
      ctx.answered = true;
      if (!sync) resumePhases(r);
    }));
    sync = false;
    return ctx.answered ? decided(r, conf, ctx, index) : PHASE_AGAIN;
  };
}

/** The log phase: the request is over, its counts go back (asked for or not, answered or not). */
function release(r: HttpRequest): void {
  if (r !== r.main) return;
  const handle = handleOf.get(r);
  if (handle === undefined) return;
  handleOf.delete(r);
  zoneClient().limitConnRelease(handle);
}

export const limitConnModule: HttpModule<unknown, unknown, LimitConnLocConf> = {
  kind: 'http',
  name: 'http_limit_conn',
  directives,
  createLoc: () => ({}),
  mergeLoc: mergeLimitLoc,
  initMain(_conf, cf) {
    cf.main(httpCoreModule).variables.define('limit_conn_status', (r) => statusOf.get(r.main));
  },
  postConfiguration(cf) {
    finishShmZones(cf);
    const core = cf.main(httpCoreModule);
    core.preaccess.push(handler(cf.registry.indexOf(limitConnModule)));
    core.log.push(release);
  },
};
