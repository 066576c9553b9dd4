/**
 * Status lines and the built-in pages, as two tables, since nginx keeps two:
 * the status line of a response nginx makes comes from ngx_http_status_lines
 * (ngx_http_header_filter_module.c), the page title from the pages of
 * ngx_http_special_response.c, and they differ: `302 Moved Temporarily` on the
 * status line, `<title>302 Found</title>` in the page; `401 Unauthorized` and
 * `401 Authorization Required`. A code in neither table gets the status line
 * `HTTP/1.1 NNN ` (nginx's "%03ui ") and an empty body. The page footer names
 * weir.
 *
 * Differences: 100, 101 and 103 have texts here for the interim lines weir
 * itself writes; nginx writes none of its own.
 */
import { WEIR_VERSION } from '../version.js';

/** ngx_http_status_lines: the reason phrase nginx puts on the status lines it makes. */
export const STATUS_TEXT: Readonly<Record<number, string>> = {
  100: 'Continue', 101: 'Switching Protocols', 103: 'Early Hints',
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 206: 'Partial Content',
  301: 'Moved Permanently', 302: 'Moved Temporarily', 303: 'See Other', 304: 'Not Modified',
  307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required', 408: 'Request Time-out',
  409: 'Conflict', 410: 'Gone', 411: 'Length Required', 412: 'Precondition Failed',
  413: 'Request Entity Too Large', 414: 'Request-URI Too Large', 415: 'Unsupported Media Type',
  416: 'Requested Range Not Satisfiable', 421: 'Misdirected Request', 429: 'Too Many Requests',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out', 505: 'HTTP Version Not Supported', 507: 'Insufficient Storage',
};

const STATUS_LINES = new Map<number, string>();

/** What follows "HTTP/1.1 " for a status of nginx's own: `%03d text`, or `%03d ` without a text. */
export function statusLine(status: number): string {
  let line = STATUS_LINES.get(status);
  if (line === undefined) {
    line = `${String(status).padStart(3, '0')} ${STATUS_TEXT[status] ?? ''}`;
    if (status >= 100 && status < 600) STATUS_LINES.set(status, line);
  }
  return line;
}

/** ngx_http_error_pages: the title (and heading) of each built-in page; codes without one send no body. */
const PAGE_TITLES: Readonly<Record<number, string>> = {
  301: '301 Moved Permanently', 302: '302 Found', 303: '303 See Other',
  307: '307 Temporary Redirect', 308: '308 Permanent Redirect',
  400: '400 Bad Request', 401: '401 Authorization Required', 402: '402 Payment Required', 403: '403 Forbidden',
  404: '404 Not Found', 405: '405 Not Allowed', 406: '406 Not Acceptable', 407: '407 Proxy Authentication Required',
  408: '408 Request Time-out', 409: '409 Conflict', 410: '410 Gone', 411: '411 Length Required',
  412: '412 Precondition Failed', 413: '413 Request Entity Too Large', 414: '414 Request-URI Too Large',
  415: '415 Unsupported Media Type', 416: '416 Requested Range Not Satisfiable', 421: '421 Misdirected Request',
  429: '429 Too Many Requests',
  // nginx's own codes, sent as 400 (498, "canceled", shows the 404 page)
  494: '400 Request Header Or Cookie Too Large', 495: '400 The SSL certificate error',
  496: '400 No required SSL certificate was sent', 497: '400 The plain HTTP request was sent to HTTPS port',
  498: '404 Not Found',
  500: '500 Internal Server Error', 501: '501 Not Implemented', 502: '502 Bad Gateway',
  503: '503 Service Temporarily Unavailable', 504: '504 Gateway Time-out', 505: '505 HTTP Version Not Supported',
  507: '507 Insufficient Storage',
};

/** The `Server` header and the page footer for a `server_tokens` value. */
export function serverToken(tokens: 'on' | 'off' | 'build'): string {
  return tokens === 'off' ? 'weir' : `weir/${WEIR_VERSION}`;
}

const pageCache = new Map<string, Buffer>();

/** The HTML page nginx sends for a special response; null for codes that have none. */
export function specialPage(status: number, tokens: 'on' | 'off' | 'build'): Buffer | null {
  if (status < 300 || status === 304) return null;
  const key = `${status}:${tokens}`;
  const cached = pageCache.get(key);
  if (cached) return cached;
  const title = PAGE_TITLES[status];
  if (!title) return null;
  const page = Buffer.from(
    `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n`
    + `<hr><center>${serverToken(tokens)}</center>\r\n</body>\r\n</html>\r\n`,
    'latin1');
  pageCache.set(key, page);
  return page;
}
