/**
 * An HTTP/2 request head as HTTP (ngx_http_v2_pseudo_header,
 * ngx_http_v2_construct_request_line, ngx_http_v2_construct_cookie_header
 * and ngx_http_v2_run_request's checks).
 *
 * The pseudo-header fields become the request line (`METHOD PATH HTTP/2.0`)
 * and `:authority` the Host field when none came (for $http_host, as nginx);
 * Cookie lines are joined into one ("; "). Fields an HTTP/2 request must not
 * carry (Connection, Keep-Alive, Transfer-Encoding, Upgrade, a TE other than
 * "trailers") are a 400 as in nginx, as is a missing or duplicate pseudo
 * field, or `:authority` and Host that differ. What the fields then mean is
 * validateRequestHead's, as for HTTP/1.
 */

export interface H2Head {
  /** 0, or the status nginx answers (400) with `reason` for the log. */
  status: number;
  reason: string;
  method: string;
  path: string;
  /** The fields without pseudo-headers, flat: [name, value, ...]. */
  rawHeaders: string[];
  /** Bytes of the fields as decoded (a stand-in for $request_length's head part). */
  length: number;
  /** Fields max_headers counts: the client's own, pseudo fields and Cookie lines not among them. */
  fields: number;
}

const ALLOWED_PSEUDO = new Set([':method', ':path', ':scheme', ':authority', ':protocol']);

function fail(head: H2Head, reason: string): H2Head {
  head.status = 400;
  head.reason = reason;
  return head;
}

/** `raw` is node:http2's flat list (lower-case names, pseudo fields first). */
export function h2RequestHead(raw: readonly string[]): H2Head {
  const head: H2Head = { status: 0, reason: '', method: '', path: '', rawHeaders: [], length: 0, fields: 0 };
  let scheme: string | null = null;
  let authority: string | null = null;
  let host: string | null = null;
  let cookies: string | null = null;
  let te = 0;
  let teValue = '';
  const out = head.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    head.length += name.length + value.length + 4;
    if (name.charCodeAt(0) === 0x3a) {
      if (!ALLOWED_PSEUDO.has(name)) return fail(head, `client sent unknown pseudo-header "${name}"`);
      switch (name) {
        case ':method':
          if (head.method !== '') return fail(head, 'client sent duplicate :method header');
          if (value === '') return fail(head, 'client sent empty :method header');
          head.method = value;
          break;
        case ':path':
          if (head.path !== '') return fail(head, 'client sent duplicate :path header');
          if (value === '') return fail(head, 'client sent empty :path header');
          head.path = value;
          break;
        case ':scheme':
          if (scheme !== null) return fail(head, 'client sent duplicate :scheme header');
          if (value === '') return fail(head, 'client sent empty :scheme header');
          scheme = value;
          break;
        case ':authority':
          if (authority !== null) return fail(head, 'client sent duplicate ":authority" header');
          authority = value;
          break;
        default:
          break;
      }
      continue;
    }
    switch (name) {
      case 'cookie':
        cookies = cookies === null ? value : `${cookies}; ${value}`;
        continue;
      case 'connection':
        return fail(head, 'client sent "Connection" header');
      case 'keep-alive':
        return fail(head, 'client sent "Keep-Alive" header');
      case 'transfer-encoding':
        return fail(head, 'client sent "Transfer-Encoding" header');
      case 'upgrade':
        return fail(head, 'client sent "Upgrade" header');
      case 'te':
        te++;
        teValue = value;
        break;
      case 'host':
        if (host === null) host = value;
        break;
      default:
        break;
    }
    out.push(name, value);
    head.fields++;
  }
  if (head.method === '') return fail(head, 'client sent no :method header');
  if (scheme === null) return fail(head, 'client sent no :scheme header');
  if (head.path === '') return fail(head, 'client sent no :path header');
  if (te > 1 || (te === 1 && teValue.toLowerCase() !== 'trailers')) return fail(head, 'client sent invalid "TE" header');
  if (authority === null && host === null) return fail(head, 'client sent neither ":authority" nor "Host" header');
  if (authority !== null) {
    if (host !== null && host !== authority) return fail(head, 'client sent ":authority" and "Host" headers with different values');
    // compatibility for $http_host, as nginx: the authority as a Host line, first
    if (host === null) out.unshift('host', authority);
  }
  if (cookies !== null) out.push('cookie', cookies);
  return head;
}
