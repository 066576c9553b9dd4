/**
 * The HTTP request's side of the upstream core's port (upstream/client.ts):
 * what the core asks of "its client", answered with the request, its
 * location's conf and its reply. One per use of an upstream.
 */
import type { Socket } from 'node:net';
import type { CompiledValue } from '../balancer/types.js';
import type { ClientBodySink, ClientBodyStream, ClientBodyWriter, UpstreamClient, UpstreamLogLevel } from '../upstream/client.js';
import { localAddressFor, type LocalAddress } from '../upstream/local-address.js';
import { pushUpstreamStates, type UpstreamTryState } from '../upstream/state.js';
import type { UpstreamLocConf } from '../upstream/upstream-conf.js';
import { Upstream, type UpstreamPeers, type UpstreamProtocol } from '../upstream/upstream.js';
import type { PoolKeys } from '../keepalive/session.js';
import { streamRequestBody } from './body.js';
import { sendContinue } from './body-reader.js';
import { finalize, internalRedirectTo, logRequest, namedLocation } from './phases.js';
import { sendHeader } from './header-filter.js';
import type { HttpRequest, RequestBody } from './request.js';
import { sizeFor } from './size-value.js';
import { parseUnsafeUri } from './uri.js';
import type { ComplexValue } from './variables.js';

/** The client's reply as the core writes it; a cut flushes what was written, then closes. */
class ReplyWriter implements ClientBodyWriter {
  constructor(private readonly r: HttpRequest) {}

  get writableLength(): number { return this.r.res.writableLength; }
  get writableEnded(): boolean { return this.r.res.writableEnded; }
  get destroyed(): boolean { return this.r.res.destroyed; }
  write(chunk: Buffer): boolean { return this.r.res.write(chunk); }
  end(): void { this.r.res.end(); }
  once(event: 'drain' | 'close', listener: () => void): unknown { return this.r.res.once(event, listener); }
  destroy(): unknown { return this.r.res.destroy(); }
  flushHeaders(): void { this.r.res.flushHeaders(); }

  cut(): void {
    this.r.keepalive = false;
    this.r.res.cut();
  }
}

/** What an X-Accel-Redirect keeps besides Content-Type is the core's choice; where it goes is HTTP's. */
export class HttpUpstreamClient implements UpstreamClient {
  readonly reply: ClientBodyWriter;
  /** Where the balancer's header sits in r.headersOut, once set. */
  private balancerHeader = -1;

  constructor(readonly r: HttpRequest, private readonly conf: UpstreamLocConf) {
    this.reply = new ReplyWriter(r);
  }

  get method(): string { return this.r.method; }
  get remoteAddress(): string { return this.r.remoteAddress; }
  get aborted(): boolean { return this.r.clientAborted; }
  get onAbort(): (() => void) | null { return this.r.onAbort; }
  set onAbort(fn: (() => void) | null) { this.r.onAbort = fn; }
  get body(): RequestBody | null { return this.conf.passRequestBody ? this.r.body : null; }
  get bodyStreamed(): boolean { return this.r.bodyStreamed; }
  get headersOut(): string[] { return this.r.headersOut; }
  get sendTimeout(): number { return this.r.locConf.sendTimeout!; }
  get errorLog(): UpstreamClient['errorLog'] { return this.r.errorLog; }

  streamBody(sink: ClientBodySink): ClientBodyStream {
    this.r.bodyStreamed = true;
    return streamRequestBody(this.r, sink);
  }

  sendContinue(): void { sendContinue(this.r); }
  evaluate(value: CompiledValue): string { return (value as ComplexValue).evaluate(this.r); }

  addResponseHeader(name: string, value: string): void {
    const out = this.r.headersOut;
    if (this.balancerHeader >= 0 && out[this.balancerHeader] === name) { out[this.balancerHeader + 1] = value; return; }
    this.balancerHeader = out.length;
    out.push(name, value);
  }
  localAddress(): LocalAddress | null { return localAddressFor(this.r, this.conf.bind); }
  readRate(): number { return sizeFor(this.r, this.conf.limitRate); }
  log(level: UpstreamLogLevel, message: string, upstream?: string): void { this.r.log(level, message, upstream); }
  addTryStates(states: UpstreamTryState[]): void { pushUpstreamStates(this.r, states); }

  hasErrorPage(status: number): boolean {
    const pages = this.r.locConf.errorPages;
    return !!pages && pages.some((p) => p.codes.includes(status));
  }

  setLimitRate(rate: number): void {
    this.r.limitRate = rate;
    this.r.limitRateSet = true;
  }

  sendHeader(status: number, statusLine: string | null, headers: string[], contentLength: number, absoluteLocation: boolean, ranges: boolean): number {
    const r = this.r;
    r.statusLine = statusLine;
    if (sendHeader(r, status, headers, contentLength, absoluteLocation, ranges ? 'stream' : 'off')) return 0;
    return r.filterStatus !== 0 ? r.filterStatus : 499;
  }

  setCharset(charset: string): void { this.r.overrideCharset = charset; }

  closeAfter(): void { this.r.keepalive = false; }
  finalize(status: number): void { finalize(this.r, status); }

  /** A named location keeps the method, a URI makes it GET; a URI that could climb out of the root is 404. */
  redirect(target: string, kept: readonly string[], contentType: string | null): void {
    const r = this.r;
    r.body = null;
    if (contentType !== null) r.contentType = contentType;
    for (let i = 0; i < kept.length; i++) r.headersOut.push(kept[i]);
    if (target.startsWith('@')) { namedLocation(r, target); return; }
    const safe = parseUnsafeUri(target);
    if (safe === null) {
      r.log('error', `unsafe URI "${target}" was detected`);
      finalize(r, 404);
      return;
    }
    if (r.method !== 'HEAD') r.method = 'GET';
    internalRedirectTo(r, safe.uri, safe.args);
  }

  upgrade(): { socket: Socket; early: Buffer } {
    const r = this.r;
    r.status = 101;
    // From here the client's close ends the tunnel normally: no 499.
    r.onAbort = null;
    r.tunnelled = true;
    return { socket: r.conn.socket, early: r.conn.h1.detach() };
  }

  tunnelDone(): void {
    logRequest(this.r);
  }
}

/** The upstream core for request `r` (one per use of an upstream: an internal redirect makes another). */
export function upstreamFor(r: HttpRequest, conf: UpstreamLocConf, group: UpstreamPeers, protocol: UpstreamProtocol, poolKeys: PoolKeys): Upstream {
  return new Upstream(new HttpUpstreamClient(r, conf), conf, group, protocol, poolKeys);
}
