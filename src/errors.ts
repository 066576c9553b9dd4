/**
 * weir's runtime errors, as an embedder sees them: a stable `code` to
 * branch on, where the fault lies (`source`), and for an upstream failure
 * the status it answers with and the facts the retry rules judged.
 */
export const WeirErrorCode = {
  Config: 'WEIR_ERR_CONFIG',
  Bind: 'WEIR_ERR_BIND',
  UpstreamConnect: 'WEIR_ERR_UPSTREAM_CONNECT',
  UpstreamTimeout: 'WEIR_ERR_UPSTREAM_TIMEOUT',
  UpstreamReset: 'WEIR_ERR_UPSTREAM_RESET',
  PrematureClose: 'WEIR_ERR_PREMATURE_CLOSE',
  InvalidHeader: 'WEIR_ERR_INVALID_HEADER',
  UpstreamStatus: 'WEIR_ERR_UPSTREAM_STATUS',
  NoLiveUpstreams: 'WEIR_ERR_NO_LIVE_UPSTREAMS',
  LocalResources: 'WEIR_ERR_LOCAL_RESOURCES',
  ClientAbort: 'WEIR_ERR_CLIENT_ABORT',
} as const;
export type WeirErrorCode = (typeof WeirErrorCode)[keyof typeof WeirErrorCode];

/** Whose fault: the peer's, the client's, or weir's own (its config, its limits). */
export type WeirErrorSource = 'upstream' | 'downstream' | 'internal';

export interface WeirErrorOptions {
  readonly source: WeirErrorSource;
  /** The HTTP status the failure answers with when no retry follows (502, 504...). */
  readonly status?: number;
  /** The failure type (an FT bit of upstream/failure.ts), for an upstream failure. */
  readonly ft?: number;
  /** The peer the try went to (`$upstream_addr`'s entry). */
  readonly peer?: string;
  readonly cause?: unknown;
}

export class WeirError extends Error {
  readonly code: WeirErrorCode;
  readonly source: WeirErrorSource;
  readonly status: number;
  readonly ft: number;
  readonly peer: string;

  constructor(code: WeirErrorCode, message: string, options: WeirErrorOptions) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'WeirError';
    this.code = code;
    this.source = options.source;
    this.status = options.status ?? 0;
    this.ft = options.ft ?? 0;
    this.peer = options.peer ?? '';
  }
}
