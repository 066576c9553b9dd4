/**
 * The built-in balancers: nginx's upstream balancing directives (ip_hash, hash,
 * least_conn, random, least_time, each a module setting uscf->peer.init_upstream),
 * plus the default round robin used when an `upstream` block names none.
 *
 * A balancer of the user's own is not registered here: it comes as a module of
 * the one weir instance that loads it (`balancerModule()` in the upstream layer,
 * passed in `startWeir({ modules })`), so two instances in one process never
 * share one. As in nginx, a name is one module's: a user's balancer cannot take
 * a built-in's directive.
 */

import type { BalancerModule } from './types.js';
import { roundRobinBalancer } from './round-robin.js';
import { ipHashBalancer } from './ip-hash.js';
import { hashBalancer } from './hash.js';
import { leastConnBalancer } from './least-conn.js';
import { randomBalancer } from './random.js';
import { leastTimeBalancer } from './least-time.js';

/** The balancer an `upstream` block uses when it has no balancing directive. */
export const defaultBalancer: BalancerModule<unknown> = roundRobinBalancer as BalancerModule<unknown>;

/** The built-in balancers by directive name. */
export const builtinBalancers: ReadonlyMap<string, BalancerModule<unknown>> = new Map(
  [ipHashBalancer, hashBalancer, leastConnBalancer, randomBalancer, leastTimeBalancer]
    .map((m) => [m.name, m as BalancerModule<unknown>] as const),
);
