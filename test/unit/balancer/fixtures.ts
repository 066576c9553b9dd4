// Shared builders for the balancer unit tests: groups, a fake clock, a seeded random, and a
// PeerConnection that records its log.
import type {
  BalancerContext,
  BalancerRequest,
  CompiledValue,
  PeerConnection,
  UpstreamGroupConf,
  UpstreamServerConf,
} from '../../../src/balancer/types.js';
import { seeded } from '../../helpers/seeded.js';

export interface ServerSpec {
  name: string;
  weight?: number;
  maxFails?: number;
  failTimeout?: number;
  maxConns?: number;
  backup?: boolean;
  down?: boolean;
  /** Addresses the name resolves to; default: the name itself. */
  addresses?: string[];
}

export function server(spec: ServerSpec | string): UpstreamServerConf {
  const s = typeof spec === 'string' ? { name: spec } : spec;
  const addrs = s.addresses ?? [s.name];
  return {
    name: s.name,
    addresses: addrs.map((a) => {
      const i = a.lastIndexOf(':');
      return { name: a, host: a.slice(0, i), port: Number(a.slice(i + 1)), family: 4 as const };
    }),
    weight: s.weight ?? 1,
    maxFails: s.maxFails ?? 1,
    failTimeout: s.failTimeout ?? 10_000,
    maxConns: s.maxConns ?? 0,
    backup: s.backup ?? false,
    down: s.down ?? false,
    drain: false,
    route: '',
  };
}

export function group(...servers: (ServerSpec | string)[]): UpstreamGroupConf {
  return { name: 'backend', servers: servers.map(server), implicit: false };
}


export class Clock implements BalancerContext {
  t = 1_000_000;
  readonly random: () => number;
  constructor(seed = 1) {
    this.random = seeded(seed);
  }
  now(): number {
    return this.t;
  }
}

export class TestPc implements PeerConnection {
  address: PeerConnection['address'] = null;
  peer: PeerConnection['peer'] = null;
  tries = 0;
  cached = false;
  headerTime = -1;
  responseTime = -1;
  readonly logs: string[] = [];
  log(level: 'warn' | 'error' | 'info', message: string): void {
    this.logs.push(`${level}: ${message}`);
  }
}

export function request(remoteAddress = '127.0.0.1', vars: Record<string, string> = {}): BalancerRequest {
  return {
    remoteAddress,
    evaluate(value: CompiledValue): string {
      return value.source.replace(/\$(\w+)/g, (_, n: string) => vars[n] ?? '');
    },
  };
}

export function compile(text: string): CompiledValue {
  return { source: text };
}
