/**
 * The `http` block and ngx_http_core_module: servers, listen, server_name,
 * locations, and the core per-location settings (timeouts, body limits,
 * keep-alive, types, error pages).
 *
 * Structure kept for the runtime: the http level, each server with its level
 * and its location tree (entries carry their own level; nested `if` blocks of
 * the rewrite module register extra levels through `nestedLevels` so that they
 * are merged like locations, as nginx merges its "noname" locations).
 */
import { hostname } from 'node:os';
import { dataKey, type ConfContext } from '../config/conf-context.js';
import { Ctx, HTTP_ANY_LOC, HTTP_MAIN_SRV_LOC, type CoreModule, type DirectiveSpec, type HttpConfLevel, type HttpModule } from '../config/module.js';
import { blockEnd, type ConfNode } from '../config/parser.js';
import { inherit, setFlag, setMsec, setNumber, setOffset, setSize } from '../config/slots.js';
import { parseErrorLogTarget } from '../observability/error-log-conf.js';
import { ErrorLog, type ErrorLogTarget } from '../observability/error-log.js';
import { parseDisableSymlinks, SYMLINKS_OFF } from './symlinks.js';
import { parseSize } from '../config/units.js';
import { expandPorts, listenText, parseListenAddress, parseListenParams } from './listen.js';
import { compileNginxRegex } from './pcre.js';
import { compileServerNameRegex } from './server-names.js';
import { VariableRegistry } from './variables.js';
import { KEEPALIVE_DISABLE_SET, KEEPALIVE_DISABLE_NONE, KEEPALIVE_DISABLE_MSIE6, KEEPALIVE_DISABLE_SAFARI, type LocationModifier, type LocationEntry, type ServerEntry, type CoreMainConf, type CoreSrvConf, type CoreLocConf } from './core-conf.js';

export * from './core-conf.js';

const KEEPALIVE_DISABLE_NAMES: ReadonlyMap<string, number> = new Map([
  ['none', KEEPALIVE_DISABLE_NONE], ['msie6', KEEPALIVE_DISABLE_MSIE6], ['safari', KEEPALIVE_DISABLE_SAFARI],
]);

/** The methods limit_except may name (ngx_methods_names). */
const LIMIT_EXCEPT_METHODS: ReadonlySet<string> = new Set([
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'OPTIONS',
  'PROPFIND', 'PROPPATCH', 'LOCK', 'UNLOCK', 'PATCH',
]);

/** The `http` block itself belongs to a core module (as ngx_http_module). */
export interface HttpBlockConf {
  level: HttpConfLevel | null;
}

export const httpBlockModule: CoreModule<HttpBlockConf> = {
  kind: 'core',
  name: 'http',
  directives: [
    {
      name: 'http', contexts: Ctx.Main, args: [0, 0], block: true,
      set(cf, d) {
        const conf = cf.core(httpBlockModule);
        if (conf.level) return cf.invalid('is duplicate');
        const level = cf.registry.newHttpLevel(null, 'http');
        conf.level = level;
        const hcf = cf.child(Ctx.Http, level);
        hcf.walk(d.block!);
        // What is checked as the block ends (merges, init_main_conf) is reported at its `}`, as nginx's cf is there.
        const end = blockEnd(d.block);
        if (end !== undefined) hcf.node = { name: 'http', args: [], quoted: [], file: end.file, line: end.line, block: null };
        finishHttpBlock(hcf, level);
      },
    },
  ],
  createConf: () => ({ level: null }),
};

function finishHttpBlock(cf: ConfContext, level: HttpConfLevel): void {
  const reg = cf.registry;
  const mods = reg.http;
  for (let i = 0; i < mods.length; i++) mods[i].initMain?.(level.main[i], cf);
  const main = level.main[reg.indexOf(httpCoreModule)] as CoreMainConf;
  for (const server of main.servers) {
    for (let i = 0; i < mods.length; i++) {
      mods[i].mergeSrv?.(level.srv[i], server.level.srv[i], cf);
      mods[i].mergeLoc?.(level.loc[i], server.level.loc[i], cf);
    }
    mergeNested(cf, server.level);
    for (const entry of server.locations) mergeLocation(cf, server.level, entry);
  }
  main.variables.resolveAll();
  for (const m of mods) m.postConfiguration?.(cf);
}

function mergeLevel(cf: ConfContext, parent: HttpConfLevel, child: HttpConfLevel): void {
  const mods = cf.registry.http;
  for (let i = 0; i < mods.length; i++) mods[i].mergeLoc?.(parent.loc[i], child.loc[i], cf);
  mergeNested(cf, child);
}

function mergeNested(cf: ConfContext, level: HttpConfLevel): void {
  const core = level.loc[cf.registry.indexOf(httpCoreModule)] as CoreLocConf;
  for (const nested of core.nestedLevels) mergeLevel(cf, level, nested);
}

function mergeLocation(cf: ConfContext, parent: HttpConfLevel, entry: LocationEntry): void {
  mergeLevel(cf, parent, entry.level);
  for (const child of entry.children) mergeLocation(cf, entry.level, child);
}

const MIME_DEFAULT: ReadonlyMap<string, string> = new Map([['html', 'text/html'], ['gif', 'image/gif'], ['jpg', 'image/jpeg']]);

function parseTypesBlock(cf: ConfContext, node: ConfNode): Map<string, string> {
  const types = new Map<string, string>();
  for (const line of node.block!) {
    if (line.block) return cf.error(`unexpected "{"`, line);
    if (line.args.length === 0) return cf.error(`invalid number of arguments in "${line.name}" directive`, line);
    for (const ext of line.args) types.set(ext.toLowerCase(), line.name);
  }
  return types;
}

function statusCode(cf: ConfContext, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < min || n > max) return cf.error(`value "${text}" must be between ${min} and ${max}`);
  return n;
}

function core(cf: ConfContext): CoreLocConf {
  return cf.loc(httpCoreModule);
}

function timeLoc(name: string, key: keyof CoreLocConf & string, contexts = HTTP_MAIN_SRV_LOC): DirectiveSpec {
  return { name, contexts, args: [1, 1], set: (cf, d) => setMsec(cf, d, core(cf), key as 'sendTimeout') };
}
function sizeLoc(name: string, key: keyof CoreLocConf & string, contexts = HTTP_MAIN_SRV_LOC): DirectiveSpec {
  return { name, contexts, args: [1, 1], set: (cf, d) => setSize(cf, d, core(cf), key as 'clientBodyBufferSize') };
}
function flagLoc(name: string, key: keyof CoreLocConf & string, contexts = HTTP_MAIN_SRV_LOC): DirectiveSpec {
  return { name, contexts, args: 'flag', set: (cf, d) => setFlag(cf, d, core(cf), key as 'etag') };
}
function flagSrv(name: string, key: keyof CoreSrvConf & string): DirectiveSpec {
  return { name, contexts: Ctx.Http | Ctx.Server, args: 'flag', set: (cf, d) => setFlag(cf, d, cf.srv(httpCoreModule), key as 'mergeSlashes') };
}
/** 64-bit nginx's NGX_MIN_POOL_SIZE (sizeof ngx_pool_t and two ngx_pool_large_t, 16-aligned). */
const MIN_POOL_SIZE = 112;

/** connection_pool_size, request_pool_size: a size slot with ngx_http_core_pool_size's checks. */
function poolSize(name: string, key: 'connectionPoolSize' | 'requestPoolSize'): DirectiveSpec {
  return {
    name, contexts: Ctx.Http | Ctx.Server, args: [1, 1],
    set(cf, d) {
      const srv = cf.srv(httpCoreModule);
      setSize(cf, d, srv, key);
      const v = srv[key];
      if (v === undefined) return;
      if (v < MIN_POOL_SIZE) return cf.error(`the pool size must be no less than ${MIN_POOL_SIZE}`);
      if (v % 16 !== 0) return cf.error('the pool size must be a multiple of 16');
    },
  };
}
function noop(name: string, contexts: number, args: readonly [number, number]): DirectiveSpec {
  return { name, contexts, args, set: () => {} };
}

const directives: DirectiveSpec[] = [
  {
    name: 'server', contexts: Ctx.Http, args: [0, 0], block: true,
    set(cf, d) {
      const main = cf.main(httpCoreModule);
      const level = cf.registry.newHttpLevel(cf.level, 'server');
      const entry: ServerEntry = { level, locations: [], file: d.file, line: d.line };
      main.servers.push(entry);
      cf.child(Ctx.Server, level, [SERVER_KEY, entry]).walk(d.block!);
      const srv = level.srv[cf.registry.indexOf(httpCoreModule)] as CoreSrvConf;
      if (srv.listens.length === 0) {
        // nginx's default: *:80 when run as root, *:8000 otherwise.
        const address = parseListenAddress(process.getuid?.() === 0 ? '80' : '8000');
        const conf = typeof address === 'string' ? address : parseListenParams(address, []);
        if (typeof conf === 'string') return cf.error(conf);
        srv.listens.push(conf);
      }
      if (srv.serverNames.length === 0) srv.serverNames.push({ name: '', file: d.file, line: d.line });
    },
  },
  {
    name: 'listen', contexts: Ctx.Server, args: [1, Infinity],
    set(cf, d) {
      const srv = cf.srv(httpCoreModule);
      const addr = parseListenAddress(d.args[0]);
      if (typeof addr === 'string') return cf.error(addr);
      const parsed = parseListenParams(addr, d.args.slice(1));
      if (typeof parsed === 'string') return cf.error(parsed);
      if (parsed.http2) cf.warn('the "listen ... http2" directive is deprecated, use the "http2" directive instead');
      const main = cf.main(httpCoreModule);
      for (const conf of expandPorts(parsed)) {
        if (srv.listens.some((l) => l.key === conf.key)) return cf.error(`a duplicate listen ${listenText(conf.key)}`);
        // ngx_http_add_addresses, at the listen directive: one default server per address.
        if (conf.defaultServer) {
          if (main.defaultListens.has(conf.key)) return cf.error(`a duplicate default server for ${listenText(conf.key)}`);
          main.defaultListens.add(conf.key);
        }
        srv.listens.push(conf);
      }
    },
  },
  {
    name: 'server_name', contexts: Ctx.Server, args: [1, Infinity],
    set(cf, d) {
      const srv = cf.srv(httpCoreModule);
      for (const name of d.args) {
        if ((name[0] === '*' && (name.length < 3 || name[1] !== '.')) || (name[0] === '.' && name.length < 2)) {
          return cf.error(`server name "${name}" is invalid`);
        }
        if (name.toLowerCase() === '$hostname') { srv.serverNames.push({ name: hostnameLower(), file: d.file, line: d.line }); continue; }
        if (name.startsWith('~')) {
          if (name.length === 1) return cf.error(`empty regex in server name "${name}"`);
          try { compileServerNameRegex(name); } catch (e) { return cf.error((e as Error).message); }
        }
        srv.serverNames.push({ name: name.startsWith('~') ? name : name.toLowerCase(), file: d.file, line: d.line });
      }
    },
  },
  {
    name: 'location', contexts: Ctx.Server | Ctx.Location, args: [1, 2], block: true,
    set(cf, d) {
      let modifier: LocationModifier = '';
      let name: string;
      if (d.args.length === 2) {
        const m = d.args[0];
        if (m !== '=' && m !== '~' && m !== '~*' && m !== '^~') return cf.error(`invalid location modifier "${m}"`);
        modifier = m;
        name = d.args[1];
      } else {
        name = d.args[0];
        if (name.startsWith('=')) { modifier = '='; name = name.slice(1); }
        else if (name.startsWith('^~')) { modifier = '^~'; name = name.slice(2); }
        else if (name.startsWith('~*')) { modifier = '~*'; name = name.slice(2); }
        else if (name.startsWith('~')) { modifier = '~'; name = name.slice(1); }
        else if (name.startsWith('@')) modifier = '@';
      }
      const parentLoc = cf.ctx === Ctx.Location ? core(cf) : null;
      const parentEntry = parentLoc?.entry;
      if (parentEntry) {
        if (parentEntry.modifier === '=') return cf.error(`location "${name}" cannot be inside the exact location "${parentEntry.name}"`);
        if (parentEntry.modifier === '@') return cf.error(`location "${name}" cannot be inside the named location "${parentEntry.name}"`);
        if (modifier === '@') return cf.error(`named location "${name}" can be on the server level only`);
        if ((modifier === '' || modifier === '^~' || modifier === '=') && (parentEntry.modifier === '' || parentEntry.modifier === '^~')
          && !name.startsWith(parentEntry.name)) {
          return cf.error(`location "${name}" is outside location "${parentEntry.name}"`);
        }
      }
      if (modifier === '~' || modifier === '~*') {
        try { compileNginxRegex(name, modifier === '~*'); } catch (e) { return cf.error((e as Error).message); }
      }
      const level = cf.registry.newHttpLevel(cf.level, 'location');
      const entry: LocationEntry = { modifier, name, level, children: [], file: d.file, line: d.line };
      (level.loc[cf.registry.indexOf(httpCoreModule)] as CoreLocConf).entry = entry;
      const siblings = parentEntry ? parentEntry.children : cf.get(SERVER_KEY)!.locations;
      if (modifier !== '~' && modifier !== '~*' && siblings.some((s) => s.name === name && (s.modifier === '=') === (modifier === '='))) {
        return cf.error(`duplicate location "${name}"`);
      }
      siblings.push(entry);
      cf.child(Ctx.Location, level).walk(d.block!);
    },
  },
  { name: 'client_header_timeout', contexts: Ctx.Http | Ctx.Server, args: [1, 1], set: (cf, d) => setMsec(cf, d, cf.srv(httpCoreModule), 'clientHeaderTimeout') },
  { name: 'client_header_buffer_size', contexts: Ctx.Http | Ctx.Server, args: [1, 1], set: (cf, d) => setSize(cf, d, cf.srv(httpCoreModule), 'clientHeaderBufferSize') },
  poolSize('connection_pool_size', 'connectionPoolSize'),
  poolSize('request_pool_size', 'requestPoolSize'),
  { name: 'max_headers', contexts: Ctx.Http | Ctx.Server, args: [1, 1], set: (cf, d) => setNumber(cf, d, cf.srv(httpCoreModule), 'maxHeaders') },
  {
    name: 'large_client_header_buffers', contexts: Ctx.Http | Ctx.Server, args: [2, 2],
    set(cf, d) {
      const srv = cf.srv(httpCoreModule);
      if (srv.largeClientHeaderBuffers) return cf.duplicate();
      const num = Number(d.args[0]);
      const size = parseSize(d.args[1]);
      if (!/^[0-9]+$/.test(d.args[0]) || num < 1 || size === null || size === 0) return cf.invalid('invalid value');
      srv.largeClientHeaderBuffers = { num, size };
    },
  },
  flagSrv('underscores_in_headers', 'underscoresInHeaders'),
  flagSrv('ignore_invalid_headers', 'ignoreInvalidHeaders'),
  flagSrv('merge_slashes', 'mergeSlashes'),
  {
    name: 'root', contexts: HTTP_ANY_LOC, args: [1, 1],
    set(cf, d) {
      const c = core(cf);
      if (c.alias) return cf.error(`"root" directive is duplicate, "alias" directive was specified earlier`);
      if (c.root) return cf.duplicate();
      c.root = cf.main(httpCoreModule).variables.compile(d.args[0], cf.position);
    },
  },
  {
    name: 'alias', contexts: Ctx.Location, args: [1, 1],
    set(cf, d) {
      const c = core(cf);
      if (c.root) return cf.error(`"alias" directive is duplicate, "root" directive was specified earlier`);
      if (c.alias) return cf.duplicate();
      if (c.entry?.modifier === '@') return cf.error(`"alias" directive cannot be used inside the named location`);
      c.alias = cf.main(httpCoreModule).variables.compile(d.args[0], cf.position);
    },
  },
  { name: 'internal', contexts: Ctx.Location, args: [0, 0], set: (cf) => { core(cf).internal = true; } },
  // An off_t slot in nginx (ngx_conf_set_off_slot): `1g` is valid.
  { name: 'client_max_body_size', contexts: HTTP_ANY_LOC, args: [1, 1], set: (cf, d) => setOffset(cf, d, core(cf), 'clientMaxBodySize') },
  sizeLoc('client_body_buffer_size', 'clientBodyBufferSize'),
  sizeLoc('subrequest_output_buffer_size', 'subrequestOutputBufferSize'),
  { name: 'max_ranges', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setNumber(cf, d, core(cf), 'maxRanges') },
  timeLoc('client_body_timeout', 'clientBodyTimeout'),
  {
    name: 'client_body_temp_path', contexts: HTTP_MAIN_SRV_LOC, args: [1, 4],
    set(cf, d) {
      const c = core(cf);
      if (c.clientBodyTempPath !== undefined) return cf.duplicate();
      c.clientBodyTempPath = cf.fullPath(d.args[0]);
      cf.cycle.addTempPath(c.clientBodyTempPath);
    },
  },
  {
    name: 'client_body_in_file_only', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) {
      const v = d.args[0].toLowerCase(); // ngx_strcasecmp
      if (core(cf).clientBodyInFileOnly !== undefined) return cf.duplicate();
      if (v !== 'on' && v !== 'off' && v !== 'clean') return cf.error(`invalid value "${d.args[0]}"`);
      core(cf).clientBodyInFileOnly = v;
    },
  },
  noop('client_body_in_single_buffer', HTTP_MAIN_SRV_LOC, [1, 1]),
  {
    name: 'keepalive_timeout', contexts: HTTP_MAIN_SRV_LOC, args: [1, 2],
    set(cf, d) {
      setMsec(cf, { ...d, args: [d.args[0]] }, core(cf), 'keepaliveTimeout');
      if (d.args[1] !== undefined) setMsec(cf, { ...d, args: [d.args[1]] }, core(cf), 'keepaliveHeaderTimeout');
    },
  },
  { name: 'keepalive_requests', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setNumber(cf, d, core(cf), 'keepaliveRequests') },
  {
    // ngx_conf_set_bitmask_slot: values add up, across directives of one level too.
    name: 'keepalive_disable', contexts: HTTP_MAIN_SRV_LOC, args: [1, 2],
    set(cf, d) {
      const c = core(cf);
      for (const v of d.args) {
        const bit = KEEPALIVE_DISABLE_NAMES.get(v.toLowerCase());
        if (bit === undefined) return cf.error(`invalid value "${v}"`);
        c.keepaliveDisable |= bit;
      }
    },
  },
  {
    name: 'satisfy', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) {
      const c = core(cf);
      if (c.satisfy !== undefined) return cf.duplicate();
      const v = d.args[0].toLowerCase(); // ngx_conf_set_enum_slot: ngx_strcasecmp
      if (v !== 'all' && v !== 'any') return cf.error(`invalid value "${d.args[0]}"`);
      c.satisfy = v;
    },
  },
  {
    name: 'limit_except', contexts: Ctx.Location, args: [1, Infinity], block: true,
    set(cf, d) {
      const c = core(cf);
      if (c.limitExcept) return cf.duplicate();
      const allowed = new Set<string>();
      for (const m of d.args) {
        const name = m.toUpperCase();
        if (!LIMIT_EXCEPT_METHODS.has(name)) return cf.error(`invalid method "${m}"`);
        allowed.add(name);
      }
      if (allowed.has('GET')) allowed.add('HEAD');
      // nginx's noname location of the limit_except block: merged with this location as parent.
      const level = cf.registry.newHttpLevel(cf.level, 'location');
      c.nestedLevels.push(level);
      c.limitExcept = { allowed, level };
      cf.child(Ctx.LimitExcept, level).walk(d.block!);
    },
  },
  timeLoc('keepalive_time', 'keepaliveTime'),
  timeLoc('send_timeout', 'sendTimeout'),
  {
    name: 'lingering_close', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) {
      const v = d.args[0].toLowerCase(); // ngx_strcasecmp
      if (core(cf).lingeringClose) return cf.duplicate();
      if (v !== 'on' && v !== 'off' && v !== 'always') return cf.error(`invalid value "${d.args[0]}"`);
      core(cf).lingeringClose = v;
    },
  },
  timeLoc('lingering_time', 'lingeringTime'),
  timeLoc('lingering_timeout', 'lingeringTimeout'),
  {
    name: 'server_tokens', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) {
      const v = d.args[0].toLowerCase(); // ngx_strcasecmp
      if (core(cf).serverTokens) return cf.duplicate();
      if (v !== 'on' && v !== 'off' && v !== 'build') return cf.error(`invalid value "${d.args[0]}"`);
      core(cf).serverTokens = v;
    },
  },
  {
    name: 'default_type', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) { if (core(cf).defaultType !== undefined) return cf.duplicate(); core(cf).defaultType = d.args[0]; },
  },
  {
    name: 'types', contexts: HTTP_MAIN_SRV_LOC, args: [0, 0], block: true,
    set(cf, d) {
      const c = core(cf);
      const parsed = parseTypesBlock(cf, d);
      if (c.types) for (const [k, v] of parsed) c.types.set(k, v);
      else c.types = parsed;
    },
  },
  noop('types_hash_max_size', HTTP_MAIN_SRV_LOC, [1, 1]),
  noop('types_hash_bucket_size', HTTP_MAIN_SRV_LOC, [1, 1]),
  noop('server_names_hash_max_size', Ctx.Http, [1, 1]),
  noop('server_names_hash_bucket_size', Ctx.Http, [1, 1]),
  noop('variables_hash_max_size', Ctx.Http, [1, 1]),
  noop('variables_hash_bucket_size', Ctx.Http, [1, 1]),
  {
    name: 'error_page', contexts: HTTP_ANY_LOC, args: [2, Infinity],
    set(cf, d) {
      const c = core(cf);
      const args = d.args;
      const uriText = args[args.length - 1];
      let overwrite = 0;
      let last = args.length - 1;
      const prev = args[last - 1];
      if (prev.startsWith('=')) {
        overwrite = prev === '=' ? -1 : statusCode(cf, prev.slice(1), 0, 999);
        last--;
      }
      const codes: number[] = [];
      for (let i = 0; i < last; i++) {
        const code = Number(args[i]);
        if (!/^[0-9]+$/.test(args[i]) || code < 300 || code > 599) return cf.error(`value "${args[i]}" must be between 300 and 599`);
        if (code === 499) return cf.error(`value "${args[i]}" must be between 300 and 599`);
        codes.push(code);
      }
      if (codes.length === 0) return cf.error(`invalid number of arguments in "error_page" directive`);
      const uri = cf.main(httpCoreModule).variables.compile(uriText, cf.position);
      // ngx_http_core_error_page: without `=`, 494-497 (which go out as 400) are answered as 400.
      const as400 = overwrite === 0 ? codes.filter((code) => code >= 494 && code <= 497) : [];
      const rest = codes.filter((code) => !as400.includes(code));
      if (rest.length) (c.errorPages ??= []).push({ codes: rest, overwrite, uri });
      if (as400.length) (c.errorPages ??= []).push({ codes: as400, overwrite: 400, uri });
    },
  },
  flagLoc('recursive_error_pages', 'recursiveErrorPages'),
  {
    name: 'try_files', contexts: Ctx.Server | Ctx.Location, args: [2, Infinity],
    set(cf, d) {
      const c = core(cf);
      if (c.tryFiles) return cf.duplicate();
      const vars = cf.main(httpCoreModule).variables;
      const files = d.args.slice(0, -1).map((f) => vars.compile(f, cf.position));
      const last = d.args[d.args.length - 1];
      if (last.startsWith('=')) {
        c.tryFiles = { files, fallback: null, fallbackCode: statusCode(cf, last.slice(1), 100, 999) };
      } else {
        c.tryFiles = { files, fallback: vars.compile(last, cf.position), fallbackCode: 0 };
      }
    },
  },
  flagLoc('absolute_redirect', 'absoluteRedirect'),
  flagLoc('server_name_in_redirect', 'serverNameInRedirect'),
  flagLoc('port_in_redirect', 'portInRedirect'),
  flagLoc('tcp_nodelay', 'tcpNodelay'),
  flagLoc('log_not_found', 'logNotFound'),
  flagLoc('log_subrequest', 'logSubrequest'),
  timeLoc('auth_delay', 'authDelay'),
  flagLoc('etag', 'etag'),
  flagLoc('chunked_transfer_encoding', 'chunkedTransferEncoding'),
  flagLoc('msie_padding', 'msiePadding'),
  {
    name: 'if_modified_since', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1],
    set(cf, d) {
      const v = d.args[0].toLowerCase(); // ngx_strcasecmp
      if (core(cf).ifModifiedSince !== undefined) return cf.duplicate();
      if (v !== 'off' && v !== 'exact' && v !== 'before') return cf.error(`invalid value "${d.args[0]}"`);
      core(cf).ifModifiedSince = v;
    },
  },
  {
    name: 'error_log', contexts: HTTP_MAIN_SRV_LOC, args: [1, Infinity],
    set: (cf, d) => { (core(cf).errorLog ??= []).push(parseErrorLogTarget(cf, d)); },
  },
  {
    name: 'resolver', contexts: HTTP_MAIN_SRV_LOC, args: [1, Infinity],
    set(cf, d) {
      const c = core(cf);
      if (c.resolver) return cf.duplicate();
      c.resolver = d.args.filter((a) => !a.includes('='));
    },
  },
  timeLoc('resolver_timeout', 'resolverTimeout'),
  // Honest no-ops: Node writes files through its own streams (no sendfile(2), no
  // TCP_CORK), and keeps no open-file cache; output is already coalesced by cork().
  noop('sendfile', HTTP_ANY_LOC, [1, 1]),
  noop('sendfile_max_chunk', HTTP_MAIN_SRV_LOC, [1, 1]),
  noop('tcp_nopush', HTTP_MAIN_SRV_LOC, [1, 1]),
  noop('postpone_output', HTTP_MAIN_SRV_LOC, [1, 1]),
  noop('output_buffers', HTTP_MAIN_SRV_LOC, [2, 2]),
  {
    name: 'disable_symlinks', contexts: HTTP_MAIN_SRV_LOC, args: [1, 2],
    set(cf, d) {
      if (core(cf).disableSymlinks) return cf.duplicate();
      const vars = cf.main(httpCoreModule).variables;
      core(cf).disableSymlinks = parseDisableSymlinks(d.args, (t) => vars.compile(t, cf.position), (m) => cf.error(m));
    },
  },
  noop('open_file_cache', HTTP_MAIN_SRV_LOC, [1, 2]),
  noop('open_file_cache_valid', HTTP_MAIN_SRV_LOC, [1, 1]),
  noop('open_file_cache_min_uses', HTTP_MAIN_SRV_LOC, [1, 1]),
  noop('open_file_cache_errors', HTTP_MAIN_SRV_LOC, [1, 1]),
  noop('directio', HTTP_MAIN_SRV_LOC, [1, 1]),
  noop('aio', HTTP_MAIN_SRV_LOC, [1, 2]),
  // Honest no-op: the reset (SO_LINGER 0) is only possible through libuv when no write is
  // pending, and a timed-out connection is one with unsent bytes: it closes as with `off`.
  noop('reset_timedout_connection', HTTP_MAIN_SRV_LOC, [1, 1]),
];

export const SERVER_KEY = dataKey<ServerEntry>('server');

function hostnameLower(): string {
  return hostname().toLowerCase();
}

export const httpCoreModule: HttpModule<CoreMainConf, CoreSrvConf, CoreLocConf> = {
  kind: 'http',
  name: 'http_core',
  directives,
  createMain: () => ({
    servers: [], variables: new VariableRegistry(),
    postRead: [], serverRewrite: [], rewrite: [], preaccess: [], access: [], precontent: [], content: [], headerFilters: [], log: [],
    stopHooks: [], reopenHooks: [], defaultListens: new Set(),
  }),
  createSrv: () => ({ listens: [], serverNames: [], listenSeen: false }),
  createLoc: () => ({ nestedLevels: [], keepaliveDisable: 0 }),
  postConfiguration(cf) {
    // error_log at http/server/location level: one ErrorLog per distinct list (inherited lists are shared).
    const logs = new Map<ErrorLogTarget[], ErrorLog>();
    const index = cf.registry.indexOf(httpCoreModule);
    const visit = (level: HttpConfLevel): void => {
      const c = level.loc[index] as CoreLocConf;
      const targets = c.errorLog!;
      if (targets.length > 0) {
        let log = logs.get(targets);
        if (!log) { log = new ErrorLog(targets); logs.set(targets, log); }
        c.errorLogger = log;
      }
      for (const nested of c.nestedLevels) visit(nested);
    };
    const walk = (entries: LocationEntry[]): void => { for (const e of entries) { visit(e.level); walk(e.children); } };
    for (const server of cf.main(httpCoreModule).servers) { visit(server.level); walk(server.locations); }
  },
  mergeSrv(p, c) {
    inherit(c, p, 'clientHeaderTimeout', 60_000);
    inherit(c, p, 'clientHeaderBufferSize', 1024);
    inherit(c, p, 'largeClientHeaderBuffers', { num: 4, size: 8192 });
    inherit(c, p, 'maxHeaders', 1000);
    inherit(c, p, 'connectionPoolSize', 512);
    inherit(c, p, 'requestPoolSize', 4096);
    inherit(c, p, 'underscoresInHeaders', false);
    inherit(c, p, 'ignoreInvalidHeaders', true);
    inherit(c, p, 'mergeSlashes', true);
  },
  mergeLoc(p, c, cf) {
    if (c.root === undefined && c.alias === undefined) {
      c.root = p.root;
      c.alias = p.alias;
    }
    inherit(c, p, 'internal', false);
    inherit(c, p, 'clientMaxBodySize', 1024 * 1024);
    inherit(c, p, 'clientBodyBufferSize', 16 * 1024);
    inherit(c, p, 'subrequestOutputBufferSize', 4096);
    inherit(c, p, 'maxRanges', Infinity);
    inherit(c, p, 'clientBodyTimeout', 60_000);
    // ngx_conf_merge_path_value: the default is registered with the cycle once a level needs it.
    inherit(c, p, 'clientBodyTempPath', cf.fullPath('client_body_temp'));
    cf.cycle.addTempPath(c.clientBodyTempPath!);
    inherit(c, p, 'clientBodyInFileOnly', 'off');
    inherit(c, p, 'keepaliveTimeout', 75_000);
    inherit(c, p, 'keepaliveHeaderTimeout', 0);
    inherit(c, p, 'keepaliveRequests', 1000);
    inherit(c, p, 'keepaliveTime', 3600_000);
    // ngx_conf_merge_bitmask_value: 0 is unset.
    if (c.keepaliveDisable === 0) c.keepaliveDisable = p.keepaliveDisable || (KEEPALIVE_DISABLE_SET | KEEPALIVE_DISABLE_MSIE6);
    inherit(c, p, 'satisfy', 'all');
    inherit(c, p, 'authDelay', 0);
    inherit(c, p, 'sendTimeout', 60_000);
    inherit(c, p, 'lingeringClose', 'on');
    inherit(c, p, 'lingeringTime', 30_000);
    inherit(c, p, 'lingeringTimeout', 5_000);
    inherit(c, p, 'serverTokens', 'on');
    inherit(c, p, 'disableSymlinks', SYMLINKS_OFF);
    inherit(c, p, 'defaultType', 'text/plain');
    inherit(c, p, 'types', MIME_DEFAULT as Map<string, string>);
    inherit(c, p, 'errorPages', []);
    inherit(c, p, 'recursiveErrorPages', false);
    inherit(c, p, 'absoluteRedirect', true);
    inherit(c, p, 'serverNameInRedirect', false);
    inherit(c, p, 'portInRedirect', true);
    inherit(c, p, 'tcpNodelay', true);
    inherit(c, p, 'logNotFound', true);
    inherit(c, p, 'logSubrequest', false);
    inherit(c, p, 'etag', true);
    inherit(c, p, 'ifModifiedSince', 'exact');
    inherit(c, p, 'chunkedTransferEncoding', true);
    inherit(c, p, 'msiePadding', true);
    inherit(c, p, 'errorLog', []);
    inherit(c, p, 'resolver', []);
    inherit(c, p, 'resolverTimeout', 30_000);
    // try_files is deliberately not merged: nginx applies a server-level
    // try_files only to requests that match no location.
  },
};
