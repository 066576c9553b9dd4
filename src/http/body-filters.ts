/**
 * A response's body filter chain (nginx's body filter chain): header
 * filters add the filters that will rewrite the body, in the order they
 * run; the chain is built once, as the header goes, over the writer its
 * last filter passes to. A filter is made with the writer after it, so
 * it never looks one up per chunk.
 *
 * A reply has two chains, at nginx's two sides of its postpone filter:
 * `bodyFilters` (SSI, sub_filter, addition, charset) see the request's own
 * body, before subrequests' output is put in its place; the main reply's
 * `encoders` (gzip) see the client's whole body, after.
 */
import type { BodyWriter } from './client-reply.js';

/** Makes a filter that writes what it makes to `next` and ends it. */
export type BodyFilterFactory = (next: BodyWriter) => BodyWriter;

export class BodyFilterChain {
  private readonly factories: BodyFilterFactory[] = [];
  /** The first filter, once built; null before, or with no filters. */
  head: BodyWriter | null = null;
  /** Filters that may change the body's length (most: all but a byte-for-byte recoder). */
  private resizing = 0;

  get size(): number {
    return this.factories.length;
  }

  /** True when a filter may change the body's length: it is then not known ahead. */
  get changesLength(): boolean {
    return this.resizing > 0;
  }

  /**
   * Adds a filter after those added before it. `keepsLength`: it writes as
   * many bytes as it takes (charset's one-byte recoding), so a length known
   * ahead (Content-Length, a range) stays true.
   */
  add(make: BodyFilterFactory, keepsLength = false): void {
    if (this.head !== null) throw new Error('a body filter was added after the body began');
    this.factories.push(make);
    if (!keepsLength) this.resizing++;
  }

  /** Builds the chain over `tail` (once); the writer to give the body to. */
  build(tail: BodyWriter): BodyWriter {
    if (this.head !== null) return this.head;
    let next = tail;
    for (let i = this.factories.length - 1; i >= 0; i--) next = this.factories[i](next);
    if (this.factories.length > 0) this.head = next;
    return next;
  }
}
