/**
 * Where a try stands, and how a log line names it (nginx's
 * "while connecting to upstream" and the rest, from its handlers' log contexts).
 */
export const Stage = {
  Idle: 0,
  Connecting: 1,
  Sending: 2,
  ReadingHeader: 3,
  ReadingBody: 4,
  Tunnel: 5,
  Done: 6,
  /** TLS upstreams: TCP is up, the handshake runs (still under connect_timeout). */
  Handshaking: 7,
} as const;
export type Stage = (typeof Stage)[keyof typeof Stage];

export const STAGE_TEXT: readonly string[] = [
  '', 'while connecting to upstream', 'while sending request to upstream',
  'while reading response header from upstream', 'while reading upstream', 'while proxying upgraded connection', '',
  'while SSL handshaking to upstream',
];
