/**
 * Status lines and the built-in error pages (ngx_http_special_response.c,
 * ngx_http_status_lines in ngx_http_header_filter_module.c). Reason phrases are
 * nginx's, which differ from Node's for a few codes (302 "Moved Temporarily",
 * 413 "Request Entity Too Large", ...). The page footer names weir.
 */
import { WEIR_VERSION } from '../version.js';

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  100: 'Continue', 101: 'Switching Protocols', 103: 'Early Hints',
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 206: 'Partial Content',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Moved Temporarily', 303: 'See Other',
  304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Not Allowed', 406: 'Not Acceptable', 408: 'Request Time-out', 409: 'Conflict', 410: 'Gone',
  411: 'Length Required', 412: 'Precondition Failed', 413: 'Request Entity Too Large',
  414: 'Request-URI Too Large', 415: 'Unsupported Media Type', 416: 'Requested Range Not Satisfiable',
  417: 'Expectation Failed', 421: 'Misdirected Request', 422: 'Unprocessable Entity', 423: 'Locked',
  424: 'Failed Dependency', 425: 'Too Early', 426: 'Upgrade Required', 428: 'Precondition Required',
  429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out', 505: 'HTTP Version Not Supported', 507: 'Insufficient Storage',
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? '';
}

/** nginx's page titles for its internal codes that are sent as 400. */
const TITLES: Readonly<Record<number, string>> = {
  494: '400 Request Header Or Cookie Too Large',
  495: '400 The SSL certificate error',
  496: '400 No required SSL certificate was sent',
  497: '400 The plain HTTP request was sent to HTTPS port',
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
  const title = TITLES[status] ?? (STATUS_TEXT[status] ? `${status} ${STATUS_TEXT[status]}` : null);
  if (!title) return null;
  const page = Buffer.from(
    `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n`
    + `<hr><center>${serverToken(tokens)}</center>\r\n</body>\r\n</html>\r\n`,
    'latin1');
  pageCache.set(key, page);
  return page;
}
