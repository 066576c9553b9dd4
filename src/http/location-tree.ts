/*
 * Location matching: nginx's ngx_http_core_find_location / ngx_http_core_find_static_location
 * (src/http/ngx_http_core_module.c) over the per-level structures ngx_http_init_locations and
 * ngx_http_init_static_location_trees (src/http/ngx_http.c) build, plus the config-time checks
 * of ngx_http_core_location and ngx_http_join_exact_locations.
 *
 * Per level (server, or the body of a location):
 *   1. `=` name equal to $uri: done, no regexes, no nested locations;
 *   2. else the longest prefix (`` or `^~`) that starts $uri; when none has exactly $uri's
 *      length and a location with auto_redirect is named $uri + "/", that one wins and the
 *      server answers 301 to $uri/ (nginx's NGX_DONE);
 *   3. the chosen prefix's nested locations are searched the same way (recursively);
 *   4. unless that prefix is `^~`, this level's regexes in config order, first match wins,
 *      then that regex location's nested locations (a redirect found there is not honoured:
 *      nginx turns it into NGX_OK);
 *   5. else the longest prefix, else no location (the server-level configuration).
 * A nested `^~` stops only the regexes of its own parent, as in nginx. Captures are those of
 * the last successful regex ($1..$9, named ones via groups).
 *
 * Deliberate differences:
 *   - Prefixes are kept per level sorted by length and tried with startsWith instead of
 *     nginx's binary prefix tree: the same answer, O(locations) per request, no allocation.
 *   - Regexes run on JS RegExp, translated from PCRE by pcre.ts (which says what differs).
 *   - Names and patterns are converted to byte strings (toByteString) to match $uri.
 *   - Matching is case-sensitive (nginx on a case-sensitive file system).
 *   - Duplicate named locations: the first wins, without an error.
 */

import { compileNginxRegex } from './pcre.js';
import { toByteString } from './uri.js';

export type LocationModifier = '' | '=' | '^~' | '~' | '~*' | '@';

export interface LocationSpec<T> {
  modifier: LocationModifier;
  /** The location's name as written: a path, a regex, or `@name`. */
  name: string;
  payload: T;
  children?: readonly LocationSpec<T>[];
  /**
   * nginx's clcf->auto_redirect: set for locations ending in `/` whose content handler is
   * proxy_pass, fastcgi_pass, memcached_pass, ... (the caller knows the handler).
   */
  autoRedirect?: boolean;
  /** For error messages: `in file:line`. */
  file?: string;
  line?: number;
}

export interface LocationMatch<T> {
  payload: T;
  /** modifier and name of the matched location, for $location-like logging and tests. */
  modifier: LocationModifier;
  name: string;
  /** Result of the last successful regex, or null. [1..9] and .groups feed $1..$9 / $name. */
  captures: RegExpExecArray | null;
  /** nginx's NGX_DONE: answer 301 with Location $uri + "/" (+ "?" + $args). */
  redirect: boolean;
}

export class LocationConfigError extends Error {
  constructor(message: string, file?: string, line?: number) {
    super(file !== undefined ? `${message} in ${file}:${line ?? 0}` : message);
    this.name = 'LocationConfigError';
  }
}

interface LocationNode<T> {
  modifier: LocationModifier;
  name: string;
  /** name as a byte string, for comparisons against $uri. */
  key: string;
  payload: T;
  noregex: boolean;
  regex: RegExp | null;
  children: Level<T> | null;
}

interface Level<T> {
  exact: Map<string, LocationNode<T>> | null;
  /** Longest first; equal lengths cannot occur (duplicates are rejected). */
  prefixes: LocationNode<T>[];
  regexes: LocationNode<T>[];
  /** auto_redirect locations keyed by their name without the trailing `/`. */
  redirects: Map<string, LocationNode<T>> | null;
}

const RC_DECLINED = 0;
const RC_AGAIN = 1;
const RC_OK = 2;
const RC_DONE = 3;

export class LocationTree<T> {
  private readonly root: Level<T>;
  private readonly named = new Map<string, T>();

  constructor(specs: readonly LocationSpec<T>[]) {
    for (const s of specs) {
      if (s.modifier === '@' && !this.named.has(s.name)) this.named.set(s.name, s.payload);
    }
    this.root = buildLevel(specs, null, this.named);
  }

  /** Look up a named location (`@name`, with the `@`). */
  findNamed(name: string): T | undefined {
    return this.named.get(name);
  }

  /** Find the location for a normalised $uri (a byte string from parseRequestUri). */
  find(uri: string): LocationMatch<T> | null {
    const st: SearchState<T> = { node: null, captures: null };
    const rc = findIn(this.root, uri, st);
    if (st.node === null) return null;
    return {
      payload: st.node.payload,
      modifier: st.node.modifier,
      name: st.node.name,
      captures: st.captures,
      redirect: rc === RC_DONE,
    };
  }
}

interface SearchState<T> {
  node: LocationNode<T> | null;
  captures: RegExpExecArray | null;
}

function findStatic<T>(level: Level<T>, uri: string, st: SearchState<T>): number {
  if (level.exact !== null) {
    const e = level.exact.get(uri);
    if (e !== undefined) {
      st.node = e;
      return RC_OK;
    }
  }
  const prefixes = level.prefixes;
  let best: LocationNode<T> | null = null;
  for (let i = 0; i < prefixes.length; i++) {
    const p = prefixes[i]!;
    if (p.key.length <= uri.length && uri.startsWith(p.key)) {
      best = p;
      break;
    }
  }
  if ((best === null || best.key.length !== uri.length) && level.redirects !== null) {
    const r = level.redirects.get(uri);
    if (r !== undefined) {
      st.node = r;
      return RC_DONE;
    }
  }
  if (best === null) return RC_DECLINED;
  st.node = best;
  return RC_AGAIN;
}

function findIn<T>(level: Level<T>, uri: string, st: SearchState<T>): number {
  let rc = findStatic(level, uri, st);
  let noregex = false;
  if (rc === RC_AGAIN) {
    const node = st.node!;
    noregex = node.noregex;
    rc = node.children !== null ? findIn(node.children, uri, st) : RC_DECLINED;
  }
  if (rc === RC_OK || rc === RC_DONE) return rc;
  if (!noregex) {
    const regexes = level.regexes;
    for (let i = 0; i < regexes.length; i++) {
      const r = regexes[i]!;
      const m = r.regex!.exec(uri);
      if (m === null) continue;
      st.node = r;
      st.captures = m;
      if (r.children !== null) findIn(r.children, uri, st);
      return RC_OK;
    }
  }
  return rc;
}

function buildLevel<T>(
  specs: readonly LocationSpec<T>[],
  parent: LocationSpec<T> | null,
  named: Map<string, T>,
): Level<T> {
  const level: Level<T> = { exact: null, prefixes: [], regexes: [], redirects: null };
  const seenExact = new Set<string>();
  const seenPrefix = new Set<string>();

  for (const s of specs) {
    checkPlacement(s, parent);
    if (s.modifier === '@') {
      // Kept in the server-wide named table; nothing may nest inside it.
      if (s.children !== undefined && s.children.length > 0) checkPlacement(s.children[0]!, s);
      continue;
    }
    const key = toByteString(s.name);
    const node: LocationNode<T> = {
      modifier: s.modifier,
      name: s.name,
      key,
      payload: s.payload,
      noregex: s.modifier === '^~',
      regex: null,
      children: null,
    };
    if (s.children !== undefined && s.children.length > 0) {
      node.children = buildLevel(s.children, s, named);
    }
    switch (s.modifier) {
      case '=':
        if (seenExact.has(key)) throw new LocationConfigError(`duplicate location "${s.name}"`, s.file, s.line);
        seenExact.add(key);
        (level.exact ??= new Map()).set(key, node);
        break;
      case '':
      case '^~':
        if (seenPrefix.has(key)) throw new LocationConfigError(`duplicate location "${s.name}"`, s.file, s.line);
        seenPrefix.add(key);
        level.prefixes.push(node);
        break;
      case '~':
      case '~*':
        try {
          node.regex = compileNginxRegex(s.name, s.modifier === '~*');
        } catch (e) {
          throw new LocationConfigError((e as Error).message, s.file, s.line);
        }
        level.regexes.push(node);
        break;
    }
    if (s.autoRedirect === true && s.modifier !== '~' && s.modifier !== '~*' && key.length > 1 && key.endsWith('/')) {
      const k = key.slice(0, -1);
      // The exact location wins over the prefix of the same name (nginx joins them in one node).
      const m = (level.redirects ??= new Map());
      if (!m.has(k) || s.modifier === '=') m.set(k, node);
    }
  }
  // Stable sort: longest first.
  level.prefixes.sort((a, b) => b.key.length - a.key.length);
  return level;
}

function checkPlacement<T>(s: LocationSpec<T>, parent: LocationSpec<T> | null): void {
  if (parent === null) return;
  if (parent.modifier === '=') {
    throw new LocationConfigError(
      `location "${s.name}" cannot be inside the exact location "${parent.name}"`, s.file, s.line);
  }
  if (parent.modifier === '@') {
    throw new LocationConfigError(
      `location "${s.name}" cannot be inside the named location "${parent.name}"`, s.file, s.line);
  }
  if (s.modifier === '@') {
    throw new LocationConfigError(`named location "${s.name}" can be on the server level only`, s.file, s.line);
  }
  if (s.modifier !== '~' && s.modifier !== '~*' && !s.name.startsWith(parent.name)) {
    throw new LocationConfigError(`location "${s.name}" is outside location "${parent.name}"`, s.file, s.line);
  }
}

