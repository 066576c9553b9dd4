/**
 * The balancer registry: nginx's table of upstream balancing directives (ip_hash, hash,
 * least_conn, random, least_time, each a module setting uscf->peer.init_upstream), plus the
 * default round robin used when an `upstream` block names none. registerBalancer() adds a
 * user's own module under its directive name; the public API re-exports it.
 *
 * Difference from nginx: a registered name may replace a built-in one (last registration wins),
 * so users can swap an implementation; nginx resolves modules at build time instead.
 */

import type { BalancerModule } from './types.js';
import { roundRobinBalancer } from './round-robin.js';
import { ipHashBalancer } from './ip-hash.js';
import { hashBalancer } from './hash.js';
import { leastConnBalancer } from './least-conn.js';
import { randomBalancer } from './random.js';
import { leastTimeBalancer } from './least-time.js';

// Options differ per module; the registry only routes by name, so it holds them erased.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyBalancer = BalancerModule<any>;

const balancers = new Map<string, AnyBalancer>();

/** The balancer an `upstream` block uses when it has no balancing directive. */
export const defaultBalancer: BalancerModule<unknown> = roundRobinBalancer as BalancerModule<unknown>;

/** Adds (or replaces) the balancer selected by the directive `module.name` inside `upstream { }`. */
export function registerBalancer<Options>(module: BalancerModule<Options>): void {
  if (module.name.length === 0) throw new Error('a balancer needs a directive name');
  balancers.set(module.name, module as AnyBalancer);
}

/** The balancer for a directive name, or undefined when it is not a balancing directive. */
export function getBalancer(name: string): BalancerModule<unknown> | undefined {
  return balancers.get(name) as BalancerModule<unknown> | undefined;
}

/** The directive names registered, for the config layer's directive table. */
export function balancerNames(): string[] {
  return [...balancers.keys()];
}

registerBalancer(ipHashBalancer);
registerBalancer(hashBalancer);
registerBalancer(leastConnBalancer);
registerBalancer(randomBalancer);
registerBalancer(leastTimeBalancer);
