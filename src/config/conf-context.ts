/**
 * The walker that applies directives to module confs (ngx_conf_handler), and
 * the context a directive setter sees: where it is, the confs of its level, and
 * nginx-shaped errors with file:line.
 *
 * A block directive's setter creates the child level and calls `cf.child(...)
 * .walk(node.block)`; data a block hands to its children (the upstream being
 * built, the location being read) travels in typed keys (`DataKey<T>`). The
 * nodes come from the reader as they are read (parser.ts), so a setter runs
 * before anything after its directive is read, as in nginx.
 *
 * What directives leave for the cycle (files to open, temp directories to
 * make, DNS to finish, warnings) goes to the one ConfCycle of the whole config.
 */
import { isAbsolute, join } from 'node:path';
import { ConfigError, formatPosition, type ConfPosition } from './errors.js';
import type { CoreModule, DirectiveSpec, HttpConfLevel, HttpModule, Module } from './module.js';
import type { ConfNode } from './parser.js';

/** A typed key for data a block passes to the directives inside it. */
export interface DataKey<T> {
  readonly description: string;
  /** Phantom member so that DataKey<A> and DataKey<B> differ. */
  readonly __type?: T;
}
export function dataKey<T>(description: string): DataKey<T> {
  return { description };
}

/** Registered modules and the directive lookup built from them. */
export class ModuleRegistry {
  readonly core: CoreModule[] = [];
  readonly http: HttpModule[] = [];
  private readonly index = new Map<Module, number>();
  private readonly byName = new Map<string, DirectiveSpec[]>();

  constructor(modules: readonly Module[]) {
    for (const m of modules) this.add(m);
  }

  add(m: Module): void {
    if (this.index.has(m)) return;
    if (m.kind === 'core') { this.index.set(m, this.core.length); this.core.push(m); }
    else { this.index.set(m, this.http.length); this.http.push(m as HttpModule); }
    for (const d of m.directives) {
      const list = this.byName.get(d.name);
      if (list) list.push(d); else this.byName.set(d.name, [d]);
    }
  }

  indexOf(m: Module): number {
    const i = this.index.get(m);
    if (i === undefined) throw new Error(`module "${m.name}" is not registered`);
    return i;
  }

  directives(name: string): readonly DirectiveSpec[] | undefined {
    return this.byName.get(name);
  }

  newHttpLevel(parent: HttpConfLevel | null, kind: 'http' | 'server' | 'location'): HttpConfLevel {
    const main = parent && kind !== 'http' ? parent.main : this.http.map((m) => m.createMain?.());
    const srv = parent && kind === 'location' ? parent.srv : this.http.map((m) => m.createSrv?.());
    const loc = this.http.map((m) => m.createLoc?.());
    return { main, srv, loc };
  }
}

export interface ConfPaths {
  /** nginx's -p: relative paths in directives (pid, logs, root...) resolve against it. */
  readonly prefix: string;
  /** The main config file's directory (relative includes). */
  readonly confPrefix: string;
}

/**
 * What reading the config registers for the cycle to act on once it is read:
 * the parts of nginx's ngx_cycle_t that directives fill, in the order they
 * were registered (which is the order nginx acts on them).
 */
export class ConfCycle {
  /**
   * Async work queued where nginx does it while reading (DNS of upstream
   * servers); see prepareConfig() for how its errors are ordered.
   */
  readonly pendingTasks: (() => Promise<void>)[] = [];
  /** cycle->open_files: files opened (created) for append once the config is read; each path once. */
  readonly openFiles: string[] = [];
  /** cycle->paths: temp directories created (their last component) once the config is read; each once. */
  readonly tempPaths: string[] = [];

  /** `warn` receives each `[warn]` as it is found, with its ` in file:line`. */
  constructor(readonly warn: (message: string) => void = () => {}) {}

  /** ngx_conf_open_file: a log file the cycle opens. */
  openFile(path: string): void {
    if (!this.openFiles.includes(path)) this.openFiles.push(path);
  }

  /** ngx_add_path: a temp directory the cycle creates. A trailing `/` is dropped, as nginx does. */
  addTempPath(path: string): void {
    const name = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    if (!this.tempPaths.includes(name)) this.tempPaths.push(name);
  }
}

export class ConfContext {
  /** The directive being applied (for error positions). */
  node: ConfNode | null = null;

  constructor(
    readonly registry: ModuleRegistry,
    readonly paths: ConfPaths,
    readonly coreConfs: unknown[],
    /** The Ctx bit of the block being walked. */
    readonly ctx: number,
    readonly level: HttpConfLevel | null,
    private readonly data: ReadonlyMap<DataKey<unknown>, unknown>,
    readonly cycle: ConfCycle = new ConfCycle(),
  ) {}

  /** Async work to finish before the config is usable (DNS of upstream servers), in config order. */
  get pendingTasks(): (() => Promise<void>)[] {
    return this.cycle.pendingTasks;
  }

  /** A context for the directives inside a block. */
  child(ctx: number, level: HttpConfLevel | null = this.level, data?: [DataKey<unknown>, unknown]): ConfContext {
    let map = this.data;
    if (data) { const m = new Map(this.data); m.set(data[0], data[1]); map = m; }
    return new ConfContext(this.registry, this.paths, this.coreConfs, ctx, level, map, this.cycle);
  }

  get<T>(key: DataKey<T>): T | undefined {
    return this.data.get(key as DataKey<unknown>) as T | undefined;
  }

  core<C>(m: CoreModule<C>): C {
    return this.coreConfs[this.registry.indexOf(m)] as C;
  }

  main<M>(m: HttpModule<M, unknown, unknown>): M {
    return this.httpLevel().main[this.registry.indexOf(m)] as M;
  }

  srv<S>(m: HttpModule<unknown, S, unknown>): S {
    return this.httpLevel().srv[this.registry.indexOf(m)] as S;
  }

  loc<L>(m: HttpModule<unknown, unknown, L>): L {
    return this.httpLevel().loc[this.registry.indexOf(m)] as L;
  }

  private httpLevel(): HttpConfLevel {
    if (!this.level) throw new Error('http conf requested outside the http block');
    return this.level;
  }

  get position(): ConfPosition | undefined {
    return this.node ? { file: this.node.file, line: this.node.line } : undefined;
  }

  /** Throws `[emerg] message in file:line`. */
  error(message: string, node: ConfNode | null = this.node): never {
    throw new ConfigError(message, node ? { file: node.file, line: node.line } : undefined);
  }

  /** ngx_conf_log_error at NGX_LOG_WARN: `message in file:line`, reported at once; reading goes on. */
  warn(message: string, node: ConfNode | null = this.node): void {
    this.cycle.warn(node ? `${message} in ${formatPosition({ file: node.file, line: node.line })}` : message);
  }

  /** Throws `"name" directive detail` as ngx_conf_handler words a setter's error string. */
  invalid(detail: string): never {
    this.error(`"${this.node?.name}" directive ${detail}`);
  }

  duplicate(): never {
    this.invalid('is duplicate');
  }

  /** Resolves a path against the -p prefix, as ngx_conf_full_name does. */
  fullPath(path: string): string {
    return isAbsolute(path) ? path : join(this.paths.prefix, path);
  }

  /** Applies each directive of a block as it is read (ngx_conf_parse's handler half). */
  walk(nodes: Iterable<ConfNode>): void {
    for (const node of nodes) this.apply(node);
  }

  apply(node: ConfNode): void {
    const specs = this.registry.directives(node.name);
    if (!specs) this.error(`unknown directive "${node.name}"`, node);
    const spec = specs.find((d) => (d.contexts & this.ctx) !== 0);
    if (!spec) this.error(`"${node.name}" directive is not allowed here`, node);
    if (spec.block && !node.block) this.error(`directive "${node.name}" has no opening "{"`, node);
    if (!spec.block && node.block) this.error(`directive "${node.name}" is not terminated by ";"`, node);
    const n = node.args.length;
    if (spec.args === 'flag') {
      if (n !== 1) this.error(`invalid number of arguments in "${node.name}" directive`, node);
    } else if (n < spec.args[0] || n > spec.args[1]) {
      this.error(`invalid number of arguments in "${node.name}" directive`, node);
    }
    const saved = this.node;
    this.node = node;
    try {
      spec.set(this, node);
    } finally {
      this.node = saved;
    }
  }
}
