/**
 * Per-try records behind the $upstream_* variables (ngx_http_upstream_state_t).
 * One entry per try, joined by ", "; each use of an upstream in a request
 * (internal redirects) is a group, groups joined by " : ", as nginx prints them.
 */
import type { HttpRequest } from '../http/request.js';
import type { VariableRegistry } from '../http/variables.js';

export class UpstreamTryState {
  addr = '';
  status = 0;
  /** ms; -1 = not reached. */
  connectTime = -1;
  headerTime = -1;
  responseTime = -1;
  responseLength = 0;
  bytesSent = 0;
  bytesReceived = 0;
}

const kStates = Symbol('weir.upstreamStates');
type WithStates = HttpRequest & { [kStates]?: UpstreamTryState[][] };

export function pushUpstreamStates(r: HttpRequest, states: UpstreamTryState[]): void {
  const w = r as WithStates;
  (w[kStates] ??= []).push(states);
}

export function upstreamStates(r: HttpRequest): UpstreamTryState[][] | undefined {
  return (r as WithStates)[kStates];
}

function seconds(ms: number): string {
  return ms < 0 ? '-' : (ms / 1000).toFixed(3);
}

function join(r: HttpRequest, pick: (s: UpstreamTryState) => string): string | undefined {
  const groups = upstreamStates(r);
  if (!groups || groups.length === 0) return undefined;
  let out = '';
  for (let g = 0; g < groups.length; g++) {
    if (g > 0) out += ' : ';
    const tries = groups[g];
    for (let i = 0; i < tries.length; i++) {
      if (i > 0) out += ', ';
      out += pick(tries[i]);
    }
  }
  return out;
}

/** Registers $upstream_addr, $upstream_status, ... on a variable registry. */
export function defineUpstreamVariables(vars: VariableRegistry): void {
  vars.define('upstream_addr', (r) => join(r, (s) => s.addr));
  vars.define('upstream_status', (r) => join(r, (s) => (s.status ? String(s.status) : '-')));
  vars.define('upstream_connect_time', (r) => join(r, (s) => seconds(s.connectTime)));
  vars.define('upstream_header_time', (r) => join(r, (s) => seconds(s.headerTime)));
  vars.define('upstream_response_time', (r) => join(r, (s) => seconds(s.responseTime)));
  vars.define('upstream_response_length', (r) => join(r, (s) => String(s.responseLength)));
  vars.define('upstream_bytes_sent', (r) => join(r, (s) => String(s.bytesSent)));
  vars.define('upstream_bytes_received', (r) => join(r, (s) => String(s.bytesReceived)));
}
