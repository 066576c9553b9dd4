/**
 * stdout and stderr as nginx treats them: a place to write if it is there.
 *
 * A parent may start weir with fd 2 closed and then reuse the number for a
 * file it opened read-only (nginx-tests does, around `$t->run()`), or close
 * the pipe weir writes to. nginx ignores the failed write(2); node turns it
 * into an 'error' event on process.stderr, and an unhandled one kills the
 * process. Every write weir makes to stdio is a best-effort report, so a
 * failure to deliver one is dropped instead.
 */

let installed = false;

/** Makes later write errors on process.stdout and process.stderr harmless. Idempotent. */
export function ignoreStdioErrors(): void {
  if (installed) return;
  installed = true;
  const drop = (): void => {};
  process.stdout.on('error', drop);
  process.stderr.on('error', drop);
}
