/**
 * `weir/protocol`: what a protocol module's author needs to plug into the
 * upstream core (nginx's create_request ... finalize_request), and the
 * core's port for a client of one's own.
 */
export { Upstream, type HeaderResult, type UpstreamPeers, type UpstreamProtocol, type SessionLog } from '../upstream/upstream.js';
export type {
  ClientBody, ClientBodySink, ClientBodyStream, ClientBodyWriter, UpstreamClient, UpstreamLogLevel,
} from '../upstream/client.js';
export { HttpUpstreamClient, upstreamFor } from '../http/upstream-client.js';
export { upstreamDirectives, mergeUpstreamConf, type UpstreamLocConf } from '../upstream/upstream-conf.js';
export { addUpstreamReference, UpstreamGroup } from '../upstream/upstream-module.js';
export { FT, NEXT_UPSTREAM_WORDS } from '../upstream/failure.js';
export { PoolKeys, SHARED_SCOPE, type PoolScope } from '../keepalive/session.js';
export { WeirError, WeirErrorCode, type WeirErrorSource } from '../errors.js';
