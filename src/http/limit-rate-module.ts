/**
 * `limit_rate` and `limit_rate_after` (ngx_http_core_module's, applied by
 * its write filter): how fast a response goes to the client. Either may hold
 * variables (nginx 1.17.0+), evaluated once per request as the header goes.
 * `set $limit_rate` and an upstream's X-Accel-Limit-Rate set the rate of the
 * request first, and then the directive is not evaluated.
 * The pacing itself is the reply's (h1/rate-pacer.ts).
 */
import type { ConfContext } from '../config/conf-context.js';
import { HTTP_ANY_LOC, type DirectiveSpec, type HttpModule } from '../config/module.js';
import type { ConfNode } from '../config/parser.js';
import { httpCoreModule } from './core-module.js';
import type { HttpRequest } from './request.js';
import { compileSizeValue, sizeFor, type SizeValue } from './size-value.js';

export interface LimitRateLocConf {
  rate?: SizeValue;
  after?: SizeValue;
}

function parseSizeValue(key: 'rate' | 'after') {
  return (cf: ConfContext, d: ConfNode): void => {
    const conf = cf.loc(limitRateModule);
    if (conf[key] !== undefined) return cf.duplicate();
    conf[key] = compileSizeValue(cf, d.args[0]);
  };
}

const directives: DirectiveSpec[] = [
  { name: 'limit_rate', contexts: HTTP_ANY_LOC, args: [1, 1], set: parseSizeValue('rate') },
  { name: 'limit_rate_after', contexts: HTTP_ANY_LOC, args: [1, 1], set: parseSizeValue('after') },
];

function startPacing(index: number) {
  return (r: HttpRequest): void => {
    // The connection is paced by its client request's rate.
    if (r !== r.main) return;
    const conf = r.loc.loc[index] as LimitRateLocConf;
    if (!r.limitRateSet) {
      r.limitRate = sizeFor(r, conf.rate);
      r.limitRateSet = true;
    }
    if (r.limitRate > 0) r.res.limitRate(r.limitRate, sizeFor(r, conf.after), r.startMs);
  };
}

export const limitRateModule: HttpModule<unknown, unknown, LimitRateLocConf> = {
  kind: 'http',
  name: 'http_limit_rate',
  directives,
  createLoc: () => ({}),
  mergeLoc(p, c) {
    c.rate ??= p.rate;
    c.after ??= p.after;
  },
  postConfiguration(cf) {
    cf.main(httpCoreModule).headerFilters.push(startPacing(cf.registry.indexOf(limitRateModule)));
  },
};
