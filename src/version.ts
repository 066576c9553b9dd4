/**
 * weir's version and the table behind `weir -V` (nginx's NGX_CONFIGURE line).
 *
 * Tools that probe `nginx -V` look for `--with-http_ssl_module`,
 * `--without-http_gzip_module` and the like to learn what a build has. The line
 * is computed from NGINX_MODULES below, in nginx's vocabulary: a module nginx
 * builds by default and weir does not provide appears as `--without-...`; a
 * module nginx builds only on request and weir provides appears as `--with-...`.
 *
 * Keep the table true: when a module lands (its directives are in
 * src/modules.ts and tested), set `provided: true` on its row.
 */

export const WEIR_VERSION = '0.1.0';
/** The nginx version whose semantics weir follows. */
export const NGINX_COMPAT = '1.31';

/** `weir/0.1.0 (nginx/1.31 compatible)`: what `-v` prints after `weir version: `. */
export const WEIR_VER_BUILD = `weir/${WEIR_VERSION} (nginx/${NGINX_COMPAT} compatible)`;

export interface NginxModuleRow {
  /** nginx's configure name, e.g. `http_proxy_module`, `http`, `http-cache`. */
  readonly name: string;
  /** True when nginx's ./configure builds it unless told `--without-<name>`. */
  readonly builtByDefault: boolean;
  /** True when weir implements it. */
  readonly provided: boolean;
}

const row = (name: string, builtByDefault: boolean, provided = false): NginxModuleRow => ({ name, builtByDefault, provided });

/** nginx's modules (auto/options), in configure's order. */
export const NGINX_MODULES: readonly NginxModuleRow[] = [
  // The http core: `--without-http` drops everything below it.
  row('http', true, true),
  row('http-cache', true, true),
  // Built unless --without-*.
  row('http_charset_module', true, true),
  row('http_gzip_module', true, true),
  row('http_ssi_module', true, true),
  row('http_userid_module', true, true),
  row('http_access_module', true, true),
  row('http_auth_basic_module', true, true),
  row('http_mirror_module', true, true),
  row('http_autoindex_module', true, true),
  row('http_geo_module', true, true),
  row('http_map_module', true, true),
  row('http_split_clients_module', true, true),
  row('http_referer_module', true),
  row('http_rewrite_module', true, true),
  row('http_proxy_module', true, true),
  row('http_fastcgi_module', true, true),
  row('http_uwsgi_module', true),
  row('http_scgi_module', true),
  row('http_grpc_module', true),
  row('http_memcached_module', true, true),
  row('http_limit_conn_module', true, true),
  row('http_limit_req_module', true, true),
  row('http_empty_gif_module', true),
  row('http_browser_module', true),
  row('http_upstream_hash_module', true, true),
  row('http_upstream_ip_hash_module', true, true),
  row('http_upstream_least_conn_module', true, true),
  row('http_upstream_random_module', true, true),
  row('http_upstream_keepalive_module', true, true),
  row('http_upstream_zone_module', true, true),
  // Built only with --with-*.
  row('http_ssl_module', false, true),
  row('http_v2_module', false, true),
  row('http_v3_module', false),
  row('http_realip_module', false, true),
  row('http_addition_module', false, true),
  row('http_xslt_module', false),
  row('http_image_filter_module', false),
  row('http_geoip_module', false),
  row('http_sub_module', false, true),
  row('http_dav_module', false),
  row('http_flv_module', false),
  row('http_mp4_module', false),
  row('http_gunzip_module', false, true),
  row('http_gzip_static_module', false, true),
  row('http_auth_request_module', false, true),
  row('http_random_index_module', false),
  row('http_secure_link_module', false, true),
  row('http_degradation_module', false),
  row('http_slice_module', false),
  row('http_stub_status_module', false, true),
  row('mail', false),
  row('stream', false),
];

/**
 * Default modules that weir names with `--with-` once it provides them: the
 * nginx-tests wrapper (as-nginx.sh) counts them as missing unless they are
 * named, since weir long lacked them. nginx itself never prints these words.
 */
const ANNOUNCED: ReadonlySet<string> = new Set(['http-cache', 'http_uwsgi_module', 'http_scgi_module', 'http_grpc_module', 'http_ssi_module']);

/** The `--with-*` / `--without-*` words for a module table (exported for tests). */
export function configureFlags(modules: readonly NginxModuleRow[] = NGINX_MODULES): string[] {
  const http = modules.find((m) => m.name === 'http');
  const flags: string[] = [];
  for (const m of modules) {
    const isHttp = m.name === 'http' || m.name.startsWith('http_') || m.name === 'http-cache';
    // nginx prints nothing more about http modules once http itself is off.
    if (isHttp && m.name !== 'http' && http && !http.provided) continue;
    if (m.builtByDefault && !m.provided) flags.push(`--without-${m.name}`);
    else if (m.provided && (!m.builtByDefault || ANNOUNCED.has(m.name))) flags.push(`--with-${m.name}`);
  }
  return flags;
}

/** The `configure arguments:` line's text after the colon (nginx prints a leading space per argument). */
export function configureArguments(prefix: string, modules: readonly NginxModuleRow[] = NGINX_MODULES): string {
  const args = [
    `--prefix=${prefix}`,
    '--conf-path=conf/weir.conf',
    '--error-log-path=logs/error.log',
    '--pid-path=logs/weir.pid',
    ...configureFlags(modules),
  ];
  return args.map((a) => ' ' + a).join('');
}

export function isProvided(name: string): boolean {
  return NGINX_MODULES.some((m) => m.name === name && m.provided);
}
