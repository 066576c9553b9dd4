/**
 * The cache's side of the upstream core (nginx's ngx_http_upstream_cache and
 * the cache branches of ngx_http_upstream.c), as a port: the core asks it at
 * four points and never knows what a cache entry is. The HTTP cache
 * (src/http/cache/) implements it; an upstream without a cache has none.
 *
 *   lookup   before the first peer is picked: answer from the cache, wait
 *            for a lock, or let the core go on (`proceed`);
 *   header   the response head is accepted: store it, or answer instead
 *            (a stale entry for a use_stale status, a revalidated one for 304);
 *   body     each piece of body as the protocol hands it on (also for a HEAD
 *            converted to GET, whose body the client does not get);
 *   failed   the core is about to answer an error (no try left): a stale
 *            entry may answer instead;
 *   finish   the core is done (rc 0: the body ended well, the entry is kept).
 */
import type { Upstream } from './upstream.js';

export interface UpstreamCache {
  /**
   * The response may be stored (nginx's u->cacheable): the protocol then
   * asks for the whole response, not the client's conditions or range; a
   * response being stored gives the client a range cut from it. Set by
   * lookup, cleared by header() when the response's own fields forbid storing.
   */
  readonly cacheable: boolean;
  /** The cache answers or waits; `proceed` starts the core's first try. */
  lookup(u: Upstream, proceed: () => void): void;
  /** true: the cache answers the client instead of this response (the core lets the upstream go). */
  header(u: Upstream): boolean;
  /** The body is being stored: the core reads it even when the client gets none (a converted HEAD). */
  readonly storing: boolean;
  body(chunk: Buffer): void;
  /** `ft` is failure.ts's bit; true: the cache answers (a stale entry). */
  failed(ft: number): boolean;
  finish(rc: number): void;
}
