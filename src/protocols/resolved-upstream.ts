/**
 * An upstream named at request time: `proxy_pass`, `fastcgi_pass` or
 * `memcached_pass` with variables (nginx's u->resolved, looked up by
 * ngx_http_upstream_init_request). The name is an `upstream` block or an
 * implicit group known from the config; else an IP literal or a unix socket,
 * used as it is; else a host name, looked up through the location's
 * `resolver` (answers kept for 30 s, as nginx keeps them for their TTL).
 */
import { Resolver } from 'node:dns';
import { isIP } from 'node:net';
import type { ConfContext } from '../config/conf-context.js';
import { httpCoreModule } from '../http/core-module.js';
import { finalize } from '../http/phases.js';
import type { HttpRequest } from '../http/request.js';
import type { ComplexValue } from '../http/variables.js';
import {
  addUpstreamReference, implicitGroup, peerAddress, splitAddress, unixAddress, upstreamModule,
  type UpstreamGroup, type UpstreamMainConf,
} from '../upstream/upstream-module.js';

/** Where a request-time name points: `host` and `port`, or a unix socket's `path`. */
export interface RequestTimeAddress {
  host: string;
  port: number;
  path?: string;
}

interface Known {
  group: UpstreamGroup;
  /** 0: for good (config, literals); else when a DNS answer expires (ms). */
  expires: number;
}

const knownByConf = new WeakMap<UpstreamMainConf, Map<string, Known>>();

function knownGroups(ups: UpstreamMainConf): Map<string, Known> {
  let known = knownByConf.get(ups);
  if (known === undefined) {
    // The config's groups are final once a request runs.
    known = new Map();
    for (const [key, group] of ups.groups) known.set(key, { group, expires: 0 });
    knownByConf.set(ups, known);
  }
  return known;
}

/**
 * Finds the group for `name` (what the variables gave: `host`, `host:port`,
 * `unix:/path`), parsed as `addr`; `done` gets it, or the status to finalize
 * with once the reason is logged.
 */
export function resolveUpstream(
  r: HttpRequest, ups: UpstreamMainConf, name: string, addr: RequestTimeAddress,
  done: (result: UpstreamGroup | number) => void,
): void {
  const known = knownGroups(ups);
  const found = known.get(name);
  const servers = r.locConf.resolver!;
  // Names found through DNS serve only locations that have a resolver.
  if (found !== undefined && (found.expires === 0 || (servers.length > 0 && found.expires > Date.now()))) {
    done(found.group);
    return;
  }
  if (addr.path === undefined && addr.port === 0) {
    r.log('error', `no port in upstream "${name}"`);
    done(500);
    return;
  }
  if (addr.path !== undefined || isIP(addr.host)) {
    const group = implicitGroup(name, [addr.path !== undefined ? unixAddress(addr.path) : peerAddress(addr.host, addr.port)]);
    known.set(name, { group, expires: 0 });
    done(group);
    return;
  }
  if (servers.length === 0) {
    r.log('error', `no resolver defined to resolve ${addr.host}`);
    done(502);
    return;
  }
  const resolver = new Resolver({ timeout: r.locConf.resolverTimeout!, tries: 1 });
  resolver.setServers(servers);
  resolver.resolve4(addr.host, (err, addresses) => {
    if (err || addresses.length === 0) {
      r.log('error', `${addr.host} could not be resolved (${err ? err.code : 'no addresses'})`);
      done(502);
      return;
    }
    const group = implicitGroup(name, addresses.map((a) => peerAddress(a, addr.port)));
    known.set(name, { group, expires: Date.now() + 30_000 });
    done(group);
  });
}

/**
 * The address of `fastcgi_pass` or `memcached_pass`: a group known from the
 * config, or, with variables, one found per request.
 */
export type PassTarget =
  | { readonly group: UpstreamGroup }
  | { readonly address: ComplexValue; readonly ups: UpstreamMainConf };

/** Parses a pass directive's address; an error text for the config (nginx's) otherwise. */
export function passTarget(cf: ConfContext, text: string): PassTarget | string {
  if (text.includes('$')) {
    return { address: cf.main(httpCoreModule).variables.compile(text, cf.position), ups: cf.main(upstreamModule) };
  }
  const addr = splitAddress(text, 0);
  if (typeof addr === 'string') return addr;
  return { group: addUpstreamReference(cf, addr.host, addr.port, 0, addr.path) };
}

/** Runs `start` with the target's group, or finalizes the request with the status that says why there is none. */
export function withPassTarget(r: HttpRequest, target: PassTarget, start: (group: UpstreamGroup) => void): void {
  if ('group' in target) {
    start(target.group);
    return;
  }
  const name = target.address.evaluate(r);
  const addr = splitAddress(name, 0);
  if (typeof addr === 'string') {
    // ngx_http_fastcgi_eval / ngx_http_memcached_eval: "... in upstream "NAME""
    r.log('error', addr);
    finalize(r, 500);
    return;
  }
  resolveUpstream(r, target.ups, name, addr, (group) => {
    if (typeof group === 'number') finalize(r, group);
    else start(group);
  });
}
