/**
 * `weir/module`: what an http module's author needs: directives and their
 * confs, the phases and their handlers, the request, its body and its
 * variables.
 */
export { Ctx, type ArgSpec, type CoreModule, type DirectiveSpec, type HttpModule, type HttpConfLevel, type Module } from '../config/module.js';
export { ConfContext } from '../config/conf-context.js';
export { ConfigError } from '../config/errors.js';
export * as slots from '../config/slots.js';
export { parseFlag, parseNumber, parseOffset, parseSize, parseTime } from '../config/units.js';
export {
  httpCoreModule, PHASE_AGAIN, PHASE_DONE, PHASE_NEXT, PHASE_OK, PHASE_RELOCATE,
  type ContentHandler, type CoreLocConf, type CoreMainConf, type PhaseHandler,
} from '../http/core-module.js';
export { HttpRequest } from '../http/request.js';
export { finalize, resumePhases } from '../http/phases.js';
export { sendHeader } from '../http/header-filter.js';
export { readRequestBody, streamRequestBody, discardRequestBody, type BodySink, type BodyStream } from '../http/body.js';
export { ComplexValue, VariableRegistry, type VariableGetter } from '../http/variables.js';
export { BodyFilterChain, type BodyFilterFactory } from '../http/body-filters.js';
export type { BodyWriter } from '../http/client-reply.js';
