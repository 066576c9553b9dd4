/**
 * Config errors, printed as nginx prints them:
 *   [emerg] unknown directive "foo" in /etc/weir/nginx.conf:12
 * The position is optional (errors found before any file is open have none).
 */
import { WeirError, WeirErrorCode } from '../errors.js';

export interface ConfPosition {
  readonly file: string;
  readonly line: number;
}

/** A config error is a WeirError with code WEIR_ERR_CONFIG, for an embedder's startWeir(). */
export class ConfigError extends WeirError {
  /** The message without the position, as nginx's format string renders it. */
  readonly detail: string;
  readonly position: ConfPosition | undefined;

  constructor(detail: string, position?: ConfPosition) {
    super(WeirErrorCode.Config, position ? `${detail} in ${formatPosition(position)}` : detail, { source: 'internal' });
    this.name = 'ConfigError';
    this.detail = detail;
    this.position = position;
  }
}

/** Wraps a plain Error thrown by a pure parser (which knows no position) with the directive's position. */
export function atPosition(err: unknown, position: ConfPosition): ConfigError {
  if (err instanceof ConfigError) return err.position ? err : new ConfigError(err.detail, position);
  const message = err instanceof Error ? err.message : String(err);
  return new ConfigError(message, position);
}

/** nginx names -g directives "command line" and prints no line for them. */
export const COMMAND_LINE = 'command line';

export function formatPosition(p: ConfPosition): string {
  return p.file === COMMAND_LINE ? COMMAND_LINE : `${p.file}:${p.line}`;
}
