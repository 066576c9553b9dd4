/**
 * ngx_http_access_module: `allow` and `deny`, checked in the access phase.
 *
 *   allow ADDRESS | CIDR | unix: | all ... http, server, location, limit_except
 *   deny  ADDRESS | CIDR | unix: | all ... http, server, location, limit_except
 *
 * Rules are kept per address family, as nginx keeps them: IPv4 rules, IPv6
 * rules, unix-socket rules; `all` joins all three lists. A client is checked
 * against its family's list in order and the first match decides: `allow`
 * lets the request on (under `satisfy any` it ends the access phase), `deny`
 * ends it with 403 and `access forbidden by rule` at error level (logged here
 * under `satisfy all`; under `satisfy any` the access phase logs it once it
 * knows no handler allowed). No match, or no list for the family: the module
 * has no opinion. An IPv4-mapped IPv6 client (`::ffff:a.b.c.d`) is checked
 * against the IPv4 rules when there are any, else against the IPv6 ones.
 *
 * Inheritance as nginx's merge: a level with any rule (of any family) has
 * only its own rules; a level with none takes its parent's.
 * A CIDR with host bits set is warned about as nginx does (`low address bits
 * of 10.1.2.3/8 are meaningless`) and its bits cleared.
 */
import type { ConfContext } from '../config/conf-context.js';
import { Ctx, HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { httpCoreModule, PHASE_NEXT, PHASE_OK, type PhaseHandler } from './core-module.js';
import { inet6Addr, inetAddr, INADDR_NONE, isV4Mapped, parseCidr } from './inet.js';
import type { HttpRequest } from './request.js';

export interface AccessRule4 {
  /** Signed 32-bit, as `&` yields: addr is already masked. */
  readonly addr: number;
  readonly mask: number;
  readonly deny: boolean;
}

export interface AccessRule6 {
  readonly addr: Uint8Array;
  readonly mask: Uint8Array;
  readonly deny: boolean;
}

export interface AccessLocConf {
  /** null: this level has no rule of that family. */
  rules: AccessRule4[] | null;
  rules6: AccessRule6[] | null;
  rulesUnix: boolean[] | null;
}

const ANY6 = new Uint8Array(16);

function parseRule(cf: ConfContext, d: ConfNode): void {
  const conf = cf.loc(accessModule);
  const deny = d.name === 'deny';
  const value = d.args[0];
  if (value === 'all') {
    (conf.rules ??= []).push({ addr: 0, mask: 0, deny });
    (conf.rules6 ??= []).push({ addr: ANY6, mask: ANY6, deny });
    (conf.rulesUnix ??= []).push(deny);
    return;
  }
  if (value === 'unix:') {
    (conf.rulesUnix ??= []).push(deny);
    return;
  }
  const cidr = parseCidr(value);
  if (cidr === null) return cf.error(`invalid parameter "${value}"`);
  if (cidr.lowBits) cf.warn(`low address bits of ${value} are meaningless`);
  if (cidr.family === 4) (conf.rules ??= []).push({ addr: cidr.addr | 0, mask: cidr.mask | 0, deny });
  else (conf.rules6 ??= []).push({ addr: cidr.addr, mask: cidr.mask, deny });
}

const directives: DirectiveSpec[] = [
  { name: 'allow', contexts: HTTP_MAIN_SRV_LOC | Ctx.LimitExcept, args: [1, 1], set: parseRule },
  { name: 'deny', contexts: HTTP_MAIN_SRV_LOC | Ctx.LimitExcept, args: [1, 1], set: parseRule },
];

/** The client's IPv6 bytes (one buffer: the handler runs to its end synchronously). */
const client6 = new Uint8Array(16);

function found(r: HttpRequest, deny: boolean): number {
  if (!deny) return PHASE_OK;
  if (r.locConf.satisfy !== 'any') r.log('error', 'access forbidden by rule');
  return 403;
}

function checkInet(r: HttpRequest, rules: readonly AccessRule4[], addr: number): number {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    if ((addr & rule.mask) === rule.addr) return found(r, rule.deny);
  }
  return PHASE_NEXT;
}

function checkInet6(r: HttpRequest, rules: readonly AccessRule6[], addr: Uint8Array): number {
  next: for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    for (let n = 0; n < 16; n++) {
      if ((addr[n] & rule.mask[n]) !== rule.addr[n]) continue next;
    }
    return found(r, rule.deny);
  }
  return PHASE_NEXT;
}

function handler(index: number): PhaseHandler {
  return (r: HttpRequest): number => {
    const conf = r.loc.loc[index] as AccessLocConf;
    const address = r.remoteAddress;
    if (address === 'unix:') {
      const rules = conf.rulesUnix;
      // nginx checks no path: the first unix: rule decides.
      return rules ? found(r, rules[0]) : PHASE_NEXT;
    }
    if (address.indexOf(':') < 0) {
      if (!conf.rules) return PHASE_NEXT;
      const v4 = inetAddr(address);
      return v4 === INADDR_NONE ? PHASE_NEXT : checkInet(r, conf.rules, v4 | 0);
    }
    if (!conf.rules && !conf.rules6) return PHASE_NEXT;
    if (!inet6Addr(address, client6)) return PHASE_NEXT;
    if (conf.rules && isV4Mapped(client6)) {
      const v4 = (client6[12] << 24) | (client6[13] << 16) | (client6[14] << 8) | client6[15];
      return checkInet(r, conf.rules, v4);
    }
    return conf.rules6 ? checkInet6(r, conf.rules6, client6) : PHASE_NEXT;
  };
}

export const accessModule: HttpModule<unknown, unknown, AccessLocConf> = {
  kind: 'http',
  name: 'http_access',
  directives,
  createLoc: () => ({ rules: null, rules6: null, rulesUnix: null }),
  mergeLoc(p, c) {
    if (c.rules === null && c.rules6 === null && c.rulesUnix === null) {
      c.rules = p.rules;
      c.rules6 = p.rules6;
      c.rulesUnix = p.rulesUnix;
    }
  },
  postConfiguration(cf) {
    cf.main(httpCoreModule).access.push(handler(cf.registry.indexOf(accessModule)));
  },
};
