/**
 * add_before_body, add_after_body, addition_types
 * (ngx_http_addition_filter_module): the client's 200 response of one of
 * addition_types (text/html always) gets a subrequest's output before its
 * body and another's after it. Subrequests never get them (so a location
 * may add itself).
 *
 * The before-body subrequest starts as the body begins, in front of it. The
 * after-body one starts as the body ends and takes its place after all of
 * the request's own output, whatever the filters below this one still hold
 * then (nginx passes the body's end down first for the same reason).
 *
 * The body changes: the length and Accept-Ranges go, the ETag becomes weak.
 */
import { HTTP_MAIN_SRV_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import { setString } from '../config/slots.js';
import type { BodyWriter } from './client-reply.js';
import { httpCoreModule } from './core-module.js';
import { setTypes, typeMatches, weakEtag, type TypeSet } from './filter-types.js';
import { removeHeader } from './header-list.js';
import type { HttpRequest } from './request.js';
import { startSubrequest } from './subrequest.js';

export interface AdditionLocConf {
  before?: string;
  after?: string;
  types?: TypeSet;
}

const directives: DirectiveSpec[] = [
  { name: 'add_before_body', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setString(cf, d, cf.loc(additionModule), 'before') },
  { name: 'add_after_body', contexts: HTTP_MAIN_SRV_LOC, args: [1, 1], set: (cf, d) => setString(cf, d, cf.loc(additionModule), 'after') },
  { name: 'addition_types', contexts: HTTP_MAIN_SRV_LOC, args: [1, Infinity], set: (cf, d) => setTypes(cf, d, cf.loc(additionModule), 'types', 'text/html') },
];

class AdditionFilter implements BodyWriter {
  private started: boolean;

  constructor(private readonly r: HttpRequest, private readonly before: string, private readonly after: string, private readonly next: BodyWriter) {
    // A HEAD response has no body to add to (nginx's header_only).
    this.started = r.method === 'HEAD';
  }

  /**
   * The before-body subrequest, once, as the body (or its end) first comes.
   * The URI is taken whole, as nginx's ngx_http_subrequest takes it (a `?`
   * in it is no args).
   */
  private start(): void {
    if (this.started) return;
    this.started = true;
    if (this.before !== '') startSubrequest(this.r, this.before, '');
  }

  write(chunk: Buffer): boolean {
    this.start();
    return this.next.write(chunk);
  }

  end(): void {
    const head = this.r.method === 'HEAD';
    this.start();
    // After everything this request's filters still pass on as they end.
    if (this.after !== '' && !head) startSubrequest(this.r, this.after, '', { atEnd: true });
    this.next.end();
  }
}

function headerFilter(index: number) {
  return (r: HttpRequest, status: number, headers: string[]): void => {
    if (status !== 200 || r !== r.main) return;
    const conf = r.loc.loc[index] as AdditionLocConf;
    const before = conf.before!;
    const after = conf.after!;
    if (before === '' && after === '') return;
    if (!typeMatches(conf.types!, headers)) return;
    removeHeader(headers, 'content-length');
    removeHeader(headers, 'accept-ranges');
    weakEtag(headers);
    r.res.bodyFilters.add((next) => new AdditionFilter(r, before, after, next));
  };
}

export const additionModule: HttpModule<unknown, unknown, AdditionLocConf> = {
  kind: 'http',
  name: 'http_addition',
  directives,
  createLoc: () => ({}),
  mergeLoc(p, c) {
    c.before ??= p.before ?? '';
    c.after ??= p.after ?? '';
    if (c.types === undefined) c.types = p.types ?? new Set(['text/html']);
  },
  postConfiguration(cf) {
    cf.main(httpCoreModule).headerFilters.push(headerFilter(cf.registry.indexOf(additionModule)));
  },
};
