/**
 * weir's node:diagnostics_channel events, for tracing and metrics without a
 * dependency: `diagnostics_channel.subscribe('weir:upstream:retry', fn)`.
 * Each is published only when someone subscribes (hasSubscribers), so an
 * unobserved request pays one property read per event point.
 *
 * Messages are plain objects; the fields of each are UpstreamEvent and the
 * others below. Names are stable: they are part of the public API.
 */
import { channel } from 'node:diagnostics_channel';
import type { WeirError } from '../errors.js';

export const channels = {
  /** A request's head was read: { method, uri, remoteAddress }. */
  requestStart: channel('weir:request:start'),
  /** A request was logged: { method, uri, status, bytesSent, ms }. */
  requestFinish: channel('weir:request:finish'),
  /** A try opens a connection to a peer: UpstreamEvent. */
  upstreamConnect: channel('weir:upstream:connect'),
  /** The connection is up (or came from the keep-alive cache, `cached`): UpstreamEvent. */
  upstreamConnected: channel('weir:upstream:connected'),
  /** The connection could not be made: UpstreamEvent with `error`. */
  upstreamConnectError: channel('weir:upstream:connect-error'),
  /** A try failed and another follows (`action` same-peer or next): UpstreamEvent with `error`. */
  upstreamRetry: channel('weir:upstream:retry'),
  /** The use of the upstream ended: UpstreamEvent with `status` (0: the response was the upstream's) and `error` if it failed. */
  upstreamFinalize: channel('weir:upstream:finalize'),
  /** A peer reached max_fails and is out for fail_timeout: { upstream, peer }. */
  peerDisabled: channel('weir:peer:disabled'),
  /** An idle keep-alive connection was taken for a request: { peer }. */
  keepaliveReuse: channel('weir:keepalive:reuse'),
  /** An idle connection was closed to make room: { peer }. */
  keepaliveEvict: channel('weir:keepalive:evict'),
} as const;

export interface UpstreamEvent {
  /** The upstream group's name. */
  readonly upstream: string;
  /** The peer's address (`127.0.0.1:8080`), '' when none was chosen. */
  readonly peer: string;
  /** The try's number, from 1. */
  readonly attempt: number;
  readonly cached?: boolean;
  readonly error?: WeirError;
  readonly action?: 'same-peer' | 'next';
  readonly status?: number;
}
