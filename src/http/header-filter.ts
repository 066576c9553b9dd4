/**
 * The response header as ngx_http_header_filter writes it: the status line,
 * Server, Content-Length, Connection and Keep-Alive, an absolute Location,
 * after the modules' header filters; and the keep-alive decision
 * (ngx_http_set_keepalive's conditions) it states.
 */
import type { HttpRequest } from './request.js';
import { serverToken, statusLine } from './special-response.js';
import { RANGE_DECLINED, RANGE_NOT_SATISFIABLE, rangeFilter, type RangeCut } from './range-filter.js';
import { bodyLengthChanges, buildBodyFilters } from './subrequest.js';

/** Replaces the response's Location (ngx_http_clear_location + push). */
export function setLocationHeader(r: HttpRequest, url: string): void {
  const h = r.headersOut;
  for (let i = h.length - 2; i >= 0; i -= 2) {
    if (h[i].length === 8 && h[i].toLowerCase() === 'location') h.splice(i, 2);
  }
  h.push('Location', url);
}

/**
 * Writes the response header (ngx_http_header_filter): status line, Server,
 * Content-Length, Connection, absolute Location, then module header filters.
 * `contentLength` -1 means unknown (chunked for HTTP/1.1, close for 1.0).
 * `absoluteLocation` false: a relative Location in `headers` stays relative
 * (an upstream's that proxy_redirect did not rewrite). `ranges`: who would
 * cut a range of this response (range-filter.ts).
 * Returns false when the response could not be started: the client is
 * gone, or a filter answers instead (r.filterStatus: the sender finalizes
 * with it, as nginx's filter_finalize).
 */
export function sendHeader(
  r: HttpRequest, status: number, headers: string[], contentLength: number, absoluteLocation = true, ranges: RangeCut = 'off',
): boolean {
  const res = r.res;
  if (res.headersSent || res.destroyed) return false;
  const lc = r.locConf;
  // ngx_http_send_header: a status set by error_page (or a special response) wins over any other
  if (r.errStatus > 0) { status = r.errStatus; r.statusLine = null; }
  r.status = status;
  // The filters see (and may replace) what modules added, as nginx's see all of r->headers_out.
  for (let i = 0; i < r.headersOut.length; i++) headers.push(r.headersOut[i]);
  r.responseHeaders = headers;
  const filters = r.server.main.headerFilters;
  for (let i = 0; i < filters.length; i++) filters[i](r, status, headers, contentLength);
  r.rangeParts = null;
  // The range filter comes last: it sees the fields as they go, and a length no filter changed.
  if (ranges !== 'off' && status === 200 && r === r.main && contentLength >= 0 && !bodyLengthChanges(r)) {
    const ranged = rangeFilter(r, ranges, headers, contentLength);
    if (ranged === RANGE_NOT_SATISFIABLE) { r.filterStatus = 416; return false; }
    if (ranged !== RANGE_DECLINED) {
      status = r.status = 206;
      r.statusLine = null;
      contentLength = ranged;
    }
  }
  // A subrequest's head is not sent: its body takes its place in the client's response.
  const filtered = buildBodyFilters(r);
  if (r !== r.main) { res.writeHead(status, '', headers); return true; }
  // A body filter changes the body: its length is not known.
  if (filtered) contentLength = -1;
  if (absoluteLocation && lc.absoluteRedirect && ((status >= 300 && status < 400) || status === 201)) absolutizeLocation(r, headers);
  // A Server header passed from upstream (proxy_pass_header Server) replaces ours.
  let ownServer = true;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].length === 6 && headers[i].toLowerCase() === 'server') { ownServer = false; break; }
  }
  const out: string[] = ownServer ? ['Server', serverToken(lc.serverTokens!)] : [];
  for (let i = 0; i < headers.length; i++) out.push(headers[i]);
  const noBody = status === 204 || status === 304 || (status >= 100 && status < 200);
  // HTTP/2 sends trailers in a HEADERS frame of their own: the length stays (nginx's chunked filter skips streams).
  const h2 = r.req.httpVersionMajor === 2;
  const withTrailers = r.trailers !== null && !noBody && r.method !== 'HEAD'
    && (h2 || (r.req.httpVersionMinor >= 1 && lc.chunkedTransferEncoding!));
  // Trailers need chunked framing: the length goes (ngx_http_chunked_header_filter).
  if (withTrailers && !h2) contentLength = -1;
  if (contentLength >= 0 && !noBody) out.push('Content-Length', String(contentLength));
  const keep = status !== 101 && keepAliveAfter(r, contentLength >= 0 || noBody || r.method === 'HEAD');
  out.push('Connection', status === 101 ? 'upgrade' : keep ? 'keep-alive' : 'close');
  if (keep && lc.keepaliveHeaderTimeout! > 0) out.push('Keep-Alive', `timeout=${Math.floor(lc.keepaliveHeaderTimeout! / 1000)}`);
  if (!lc.chunkedTransferEncoding && contentLength < 0) res.useChunkedEncodingByDefault = false;
  try {
    res.writeHead(status, r.statusLine ?? statusLine(status), out);
  } catch (err) {
    r.log('error', `could not send the response header: ${(err as Error).message}`);
    res.destroy();
    return false;
  }
  r.responseHeaders = out;
  if (withTrailers) res.trailers = () => r.trailers!(r);
  return true;
}

function absolutizeLocation(r: HttpRequest, headers: string[]): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].length !== 8 || headers[i].toLowerCase() !== 'location') continue;
    const v = headers[i + 1];
    if (!v.startsWith('/')) return;
    const lc = r.locConf;
    // ngx_http_header_filter: the server's name, else the client's valid Host,
    // else the local address (never the server name: `Host: .` is not valid).
    const host = lc.serverNameInRedirect ? r.server.name : (r.host || r.conn.localAddress);
    const port = r.conn.localPort;
    const tls = (r.conn.socket as { encrypted?: boolean }).encrypted === true;
    const portPart = lc.portInRedirect && port !== (tls ? 443 : 80) ? `:${port}` : '';
    headers[i + 1] = `${tls ? 'https' : 'http'}://${host}${portPart}${v}`;
    return;
  }
}

/** Whether the connection stays open after this response (ngx_http_set_keepalive's conditions). */
function keepAliveAfter(r: HttpRequest, framed: boolean): boolean {
  if (!r.keepalive || r.conn.closing || !r.res.shouldKeepAlive) return false;
  const lc = r.locConf;
  if (lc.keepaliveTimeout === 0) return false;
  if (r.conn.requests >= lc.keepaliveRequests!) return false;
  if (Date.now() - r.conn.startTime > lc.keepaliveTime!) return false;
  // HTTP/1.0 has no chunked framing: an unknown length ends with the connection.
  if (!framed && r.req.httpVersionMinor === 0) return false;
  return true;
}
