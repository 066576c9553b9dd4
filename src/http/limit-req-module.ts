/**
 * ngx_http_limit_req_module: a leaky bucket per key, in a shared zone.
 *
 *   limit_req_zone KEY zone=NAME:SIZE rate=N(r/s|r/m) ... http
 *   limit_req zone=NAME [burst=N] [nodelay | delay=N] .. http, server, location (several per level)
 *   limit_req_status CODE (400..599, 503) ............... http, server, location
 *   limit_req_log_level info|notice|warn|error (error) .. http, server, location
 *   limit_req_dry_run on|off (off) ...................... http, server, location
 *   $limit_req_status: PASSED, DELAYED, REJECTED, DELAYED_DRY_RUN, REJECTED_DRY_RUN
 *
 * Preaccess phase, once per client request (r->main->limit_req_status). The
 * decision over every limit_req of the location is one atomic step in the
 * zone host (decideLimitReq in src/zone/zone-host.ts, nginx's handler,
 * lookup and account): in a cluster worker it is one IPC round trip to the
 * master, so the handler returns PHASE_AGAIN and the answer resumes it. A
 * delay is a timer and PHASE_AGAIN again; a client that leaves meanwhile
 * ends the request (499) and the timer with it.
 *
 * Log lines are nginx's: "limiting requests, excess: 0.500 by zone "one""
 * at limit_req_log_level, "delaying request, excess: ..., by zone ..." one
 * level lower (info stays info), "could not allocate node in limit_req zone
 * "one"" at alert when the zone is full (the request gets limit_req_status).
 */
import type { ConfContext } from '../config/conf-context.js';
import { Ctx, HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { setEnum, setFlag, setNumberInRange } from '../config/slots.js';
import { zoneClient } from '../zone/zone-client.js';
import {
  LIMIT_REQ_BUSY, LIMIT_REQ_DECLINED, LIMIT_REQ_NOMEM, type LimitReqDecision, type LimitReqLimit,
} from '../zone/zone-host.js';
import { httpCoreModule, PHASE_AGAIN, PHASE_NEXT, type PhaseHandler } from './core-module.js';
import { resumePhases } from './phases.js';
import type { HttpRequest } from './request.js';
import { finishShmZones, parseZoneArg, sharedZone, type ShmZone, mergeLimitLoc, LIMIT_LOG_LEVELS as LOG_LEVELS, type LimitLocConf, type LimitLogLevel as LogLevel } from '../zone/shm-zone.js';
import type { ComplexValue } from './variables.js';

/** The delay line's level: one less severe than the limit's (nginx's delay_log_level). */
const DELAY_LEVEL: Record<LogLevel, LogLevel> = { info: 'info', notice: 'info', warn: 'notice', error: 'warn' };

/** What limit_req_zone keeps with its zone (nginx's ngx_http_limit_req_ctx_t). */
interface ReqZoneData {
  readonly key: ComplexValue;
  readonly keyText: string;
  /** Requests per second * 1000. */
  readonly rate: number;
}

interface ReqLimit {
  readonly zone: ShmZone;
  readonly burst: number;
  readonly delay: number;
}

export type LimitReqLocConf = LimitLocConf<ReqLimit>;

/** $limit_req_status values (index = nginx's NGX_HTTP_LIMIT_REQ_* - 1). */
const PASSED = 'PASSED';
const DELAYED = 'DELAYED';
const REJECTED = 'REJECTED';
const DELAYED_DRY_RUN = 'DELAYED_DRY_RUN';
const REJECTED_DRY_RUN = 'REJECTED_DRY_RUN';

/** r->main->limit_req_status: survives internal redirects (r.ctx does not). */
const statusOf = new WeakMap<HttpRequest, string>();

/** nginx's NGX_MAX_INT_T_VALUE / 1000 * 1000: nodelay's delay, never reached. */
const NODELAY = Number.MAX_SAFE_INTEGER;

function zoneDirective(cf: ConfContext, d: ConfNode): void {
  let zoneArg: { name: string; size: number } | null = null;
  let rate = 1;
  let scale = 1;
  for (const a of d.args.slice(1)) {
    if (a.startsWith('zone=')) { zoneArg = parseZoneArg(cf, a); continue; }
    if (a.startsWith('rate=')) {
      let digits = a.slice(5);
      if (a.endsWith('r/s')) { scale = 1; digits = digits.slice(0, -3); }
      else if (a.endsWith('r/m')) { scale = 60; digits = digits.slice(0, -3); }
      rate = /^[0-9]+$/.test(digits) ? Number(digits) : -1;
      if (!(rate > 0) || !Number.isSafeInteger(rate)) return cf.error(`invalid rate "${a}"`);
      continue;
    }
    return cf.error(`invalid parameter "${a}"`);
  }
  if (zoneArg === null || zoneArg.name === '') return cf.error(`"${d.name}" must have "zone" parameter`);
  const zone = sharedZone(cf, zoneArg.name, zoneArg.size, 'limit_req');
  if (zone.data !== null) {
    return cf.error(`${d.name} "${zoneArg.name}" is already bound to key "${(zone.data as ReqZoneData).keyText}"`);
  }
  const key = cf.main(httpCoreModule).variables.compile(d.args[0], { file: d.file, line: d.line });
  zone.data = { key, keyText: d.args[0], rate: Math.floor(rate * 1000 / scale) } satisfies ReqZoneData;
}

/** ngx_atoi's positive values. */
function positive(text: string): number {
  return /^[0-9]+$/.test(text) && Number.isSafeInteger(Number(text)) && Number(text) > 0 ? Number(text) : -1;
}

function limitDirective(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(limitReqModule);
  let zone: ShmZone | null = null;
  let burst = 0;
  let delay = 0;
  for (const a of d.args) {
    if (a.startsWith('zone=')) { zone = sharedZone(cf, a.slice(5), 0, 'limit_req'); continue; }
    if (a.startsWith('burst=')) {
      burst = positive(a.slice(6));
      if (burst <= 0) return cf.error(`invalid burst value "${a}"`);
      continue;
    }
    if (a.startsWith('delay=')) {
      delay = positive(a.slice(6));
      if (delay <= 0) return cf.error(`invalid delay value "${a}"`);
      continue;
    }
    if (a === 'nodelay') { delay = NODELAY; continue; }
    return cf.error(`invalid parameter "${a}"`);
  }
  if (zone === null) return cf.error(`"${d.name}" must have "zone" parameter`);
  const limits = (conf.limits ??= []);
  if (limits.some((l) => l.zone === zone)) return cf.error(`"${d.name}" directive is duplicate`);
  limits.push({ zone, burst: burst * 1000, delay: delay === NODELAY ? NODELAY : delay * 1000 });
}

const directives: DirectiveSpec[] = [
  { name: 'limit_req_zone', contexts: Ctx.Http, args: [3, 3], set: zoneDirective },
  { name: 'limit_req', contexts: HTTP_MAIN_SRV_LOC, args: [1, 3], set: limitDirective },
  { name: 'limit_req_status', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setNumberInRange(cf, d, cf.loc(limitReqModule), 'status', 400, 599) },
  {
    name: 'limit_req_log_level', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set: (cf, d) => setEnum(cf, d, cf.loc(limitReqModule), 'logLevel', LOG_LEVELS),
  },
  { name: 'limit_req_dry_run', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setFlag(cf, d, cf.loc(limitReqModule), 'dryRun') },
];

/** The request's wait: for the zone's answer, then for the delay. */
interface ReqCtx {
  decision: LimitReqDecision | null;
  /** The answer came (null decision: the zone host could not be asked). */
  answered: boolean;
  timer: NodeJS.Timeout | null;
}

function thousandths(excess: number): string {
  return `${Math.floor(excess / 1000)}.${String(excess % 1000).padStart(3, '0')}`;
}

/** Acts on the zone's answer (the rest of ngx_http_limit_req_handler). */
function decided(r: HttpRequest, conf: LimitReqLocConf, ctx: ReqCtx, index: number): number {
  r.ctx[index] = undefined;
  const d = ctx.decision;
  if (d === null || d.rc < 0) {
    r.log('alert', 'limit_req: the shared zone could not be reached');
    return 500;
  }
  if (d.rc === LIMIT_REQ_DECLINED) return PHASE_NEXT;
  const limits = conf.limits!;
  const zoneName = limits[d.limit].zone.name;
  const dry = conf.dryRun!;
  if (d.rc === LIMIT_REQ_BUSY || d.rc === LIMIT_REQ_NOMEM) {
    if (d.rc === LIMIT_REQ_BUSY) {
      r.log(conf.logLevel!, `limiting requests${dry ? ', dry run' : ''}, excess: ${thousandths(d.excess)} by zone "${zoneName}"`);
    } else {
      r.errorLog.log('alert', `could not allocate node in limit_req zone "${zoneName}"`);
    }
    if (dry) { statusOf.set(r.main, REJECTED_DRY_RUN); return PHASE_NEXT; }
    statusOf.set(r.main, REJECTED);
    return conf.status!;
  }
  if (d.delay === 0) { statusOf.set(r.main, PASSED); return PHASE_NEXT; }
  r.log(DELAY_LEVEL[conf.logLevel!], `delaying request${dry ? ', dry run' : ''}, excess: ${thousandths(d.excess)}, by zone "${zoneName}"`);
  if (dry) { statusOf.set(r.main, DELAYED_DRY_RUN); return PHASE_NEXT; }
  statusOf.set(r.main, DELAYED);
  // The client may leave while it waits: the request ends (499 in the log) and the timer with it.
  const res = r.res;
  r.ctx[index] = ctx;
  ctx.answered = false;
  const gone = (): void => { if (ctx.timer) { clearTimeout(ctx.timer); ctx.timer = null; } };
  res.once('close', gone);
  ctx.timer = setTimeout(() => {
    ctx.timer = null;
    res.removeListener('close', gone);
    // statusOf is set: the handler now lets the request on.
    r.ctx[index] = undefined;
    resumePhases(r);
  }, d.delay);
  return PHASE_AGAIN;
}

function handler(index: number): PhaseHandler {
  return (r: HttpRequest): number => {
    const conf = r.loc.loc[index] as LimitReqLocConf;
    let ctx = r.ctx[index] as ReqCtx | undefined;
    if (ctx !== undefined) {
      // Resumed: the answer is in (a delay's timer clears ctx before it resumes).
      return ctx.answered ? decided(r, conf, ctx, index) : PHASE_AGAIN;
    }
    if (statusOf.has(r.main)) return PHASE_NEXT;
    const limits = conf.limits!;
    if (limits.length === 0) return PHASE_NEXT;
    const asked: LimitReqLimit[] = new Array(limits.length);
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i];
      const data = l.zone.data as ReqZoneData;
      let key = data.key.evaluate(r);
      if (key.length > 65535) {
        r.log('error', `the value of the "${data.keyText}" key is more than 65535 bytes: "${key}"`);
        key = '';
      }
      asked[i] = { zone: l.zone.id, key, burst: l.burst, delay: l.delay, rate: data.rate };
    }
    ctx = { decision: null, answered: false, timer: null };
    r.ctx[index] = ctx;
    let sync = true;
    const c = ctx;
    zoneClient().limitReq(asked, (d) => {
      c.decision = d;
      c.answered = true;
      if (!sync) resumePhases(r);
    });
    sync = false;
    return c.answered ? decided(r, conf, c, index) : PHASE_AGAIN;
  };
}

export const limitReqModule: HttpModule<unknown, unknown, LimitReqLocConf> = {
  kind: 'http',
  name: 'http_limit_req',
  directives,
  createLoc: () => ({}),
  mergeLoc: mergeLimitLoc,
  initMain(_conf, cf) {
    cf.main(httpCoreModule).variables.define('limit_req_status', (r) => statusOf.get(r.main));
  },
  postConfiguration(cf) {
    finishShmZones(cf);
    cf.main(httpCoreModule).preaccess.push(handler(cf.registry.indexOf(limitReqModule)));
  },
};
