/**
 * The shape of a config module, as nginx's ngx_module_t + ngx_command_t:
 * a module owns a directive table and the conf structs those directives fill.
 *
 * Core modules own one conf for the main context (events included). HTTP modules
 * own up to three: main (once per http block), srv (per server, plus one at http
 * level to inherit from) and loc (per location, plus one at http and at server
 * level). After the http block is read, each srv and loc conf is merged with its
 * parent (create + merge with "unset" sentinels; in TypeScript, `undefined`).
 */
import type { ConfNode } from './parser.js';
import type { ConfContext } from './conf-context.js';

/** Where a directive may appear (nginx's NGX_*_CONF bits). */
export const Ctx = {
  Main: 1 << 0,
  Events: 1 << 1,
  Http: 1 << 2,
  Server: 1 << 3,
  Location: 1 << 4,
  Upstream: 1 << 5,
  ServerIf: 1 << 6,
  LocationIf: 1 << 7,
  LimitExcept: 1 << 8,
} as const;
export type CtxBit = (typeof Ctx)[keyof typeof Ctx];

/** The usual sets. */
export const HTTP_MAIN_SRV_LOC = Ctx.Http | Ctx.Server | Ctx.Location;
export const HTTP_ANY_LOC = HTTP_MAIN_SRV_LOC | Ctx.LocationIf;
export const HTTP_REWRITE = HTTP_MAIN_SRV_LOC | Ctx.ServerIf | Ctx.LocationIf;

/** Argument count: [min, max] (max may be Infinity), or 'flag' for exactly one `on`/`off`. */
export type ArgSpec = readonly [number, number] | 'flag';

export interface DirectiveSpec {
  readonly name: string;
  readonly contexts: number;
  readonly args: ArgSpec;
  /** True when the directive takes a `{ }` block. */
  readonly block?: boolean;
  /** Applies the directive. Throws ConfigError (cf.error / cf.invalid) on bad values. */
  set(cf: ConfContext, node: ConfNode): void;
}

/** A module of the main context (core, events). */
export interface CoreModule<C = unknown> {
  readonly kind: 'core';
  readonly name: string;
  readonly directives: readonly DirectiveSpec[];
  createConf(): C;
  /** After the whole config was read: fill defaults, cross-check. */
  initConf?(conf: C, cf: ConfContext): void;
}

/** A module of the http context. */
export interface HttpModule<M = unknown, S = unknown, L = unknown> {
  readonly kind: 'http';
  readonly name: string;
  readonly directives: readonly DirectiveSpec[];
  createMain?(): M;
  createSrv?(): S;
  createLoc?(): L;
  /** Runs once the http block is read, before merging (nginx's init_main_conf). */
  initMain?(conf: M, cf: ConfContext): void;
  mergeSrv?(parent: S, child: S, cf: ConfContext): void;
  mergeLoc?(parent: L, child: L, cf: ConfContext): void;
  /** Runs once everything is merged (nginx's postconfiguration). */
  postConfiguration?(cf: ConfContext): void;
}

export type Module = CoreModule | HttpModule;

/** The confs of one level of the http tree (nginx's ngx_http_conf_ctx_t), indexed by module. */
export interface HttpConfLevel {
  readonly main: unknown[];
  readonly srv: unknown[];
  readonly loc: unknown[];
}
