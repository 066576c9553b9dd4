/**
 * Failure types of a try (NGX_HTTP_UPSTREAM_FT_*), the `*_next_upstream`
 * words, and the status a failure answers with when no retry follows
 * (ngx_http_upstream_next's switch). Every bit stays below 2^30 because
 * JavaScript's bit operators work on signed 32-bit integers.
 */
import { WeirError, WeirErrorCode } from '../errors.js';

export const FT = {
  error: 1 << 1,
  timeout: 1 << 2,
  invalid_header: 1 << 3,
  http_500: 1 << 4,
  http_502: 1 << 5,
  http_503: 1 << 6,
  http_504: 1 << 7,
  http_403: 1 << 8,
  http_404: 1 << 9,
  http_429: 1 << 10,
  updating: 1 << 11,
  busy_lock: 1 << 12,
  max_waiting: 1 << 13,
  non_idempotent: 1 << 14,
  /** No live upstreams: the balancer had no peer to give. */
  nolive: 1 << 29,
  off: 1 << 28,
} as const;

/** The words `proxy_next_upstream` (and memcached_/fastcgi_) accept, and their bits. */
export const NEXT_UPSTREAM_WORDS: Readonly<Record<string, number>> = {
  error: FT.error,
  timeout: FT.timeout,
  invalid_header: FT.invalid_header,
  http_500: FT.http_500,
  http_502: FT.http_502,
  http_503: FT.http_503,
  http_504: FT.http_504,
  http_403: FT.http_403,
  http_404: FT.http_404,
  http_429: FT.http_429,
  updating: FT.updating,
  non_idempotent: FT.non_idempotent,
  off: FT.off,
};

/** Upstream response statuses that can trigger a retry (ngx_http_upstream_next_errors). */
export const STATUS_FAILURE: ReadonlyMap<number, number> = new Map([
  [500, FT.http_500],
  [502, FT.http_502],
  [503, FT.http_503],
  [504, FT.http_504],
  [403, FT.http_403],
  [404, FT.http_404],
  [429, FT.http_429],
]);

/** The status the client gets when a failure ends the request. */
export function failureStatus(ft: number): number {
  if (ft & (FT.timeout | FT.http_504)) return 504;
  if (ft & FT.http_500) return 500;
  if (ft & FT.http_503) return 503;
  if (ft & FT.http_403) return 403;
  if (ft & FT.http_404) return 404;
  if (ft & FT.http_429) return 429;
  return 502;
}

/** Methods nginx will not resend once the request went out (unless non_idempotent). */
export function isNonIdempotent(method: string): boolean {
  return method === 'POST' || method === 'LOCK' || method === 'PATCH';
}

/**
 * The WeirError of a failed try, from the same failure type that chose the
 * status and the retry (so the error, the log line `message` and
 * $upstream_status agree). `error` is told apart by where it happened.
 */
export function tryError(ft: number, message: string, peer: string, where: { connecting: boolean; cause?: NodeJS.ErrnoException | null }): WeirError {
  const status = failureStatus(ft);
  let code: WeirErrorCode;
  if (ft & FT.nolive) code = WeirErrorCode.NoLiveUpstreams;
  else if (ft & FT.timeout) code = WeirErrorCode.UpstreamTimeout;
  else if (ft & FT.invalid_header) code = WeirErrorCode.InvalidHeader;
  else if (ft & FT.error) {
    code = where.connecting ? WeirErrorCode.UpstreamConnect
      : where.cause?.code === 'ECONNRESET' ? WeirErrorCode.UpstreamReset : WeirErrorCode.PrematureClose;
  } else code = WeirErrorCode.UpstreamStatus;
  return new WeirError(code, message, { source: 'upstream', status, ft, peer, cause: where.cause ?? undefined });
}
