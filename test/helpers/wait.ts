/**
 * The one polling loop behind every "wait until the log says ..." helper.
 *
 * A wait that times out throws: a test that waits for a log line asserts it,
 * whether or not it reads the result (a wait that returned quietly let a test
 * pass with the line missing). The timeouts are generous because they cost
 * nothing when the awaited thing happens; they only bound a failing test on a
 * loaded machine.
 */

/** The default bound of a wait for a log line or an access-log entry. */
export const WAIT_MS = 10_000;

const POLL_MS = 20;

/** The tail of a text, for a failure message that shows what the log did say. */
export function tail(text: string, n = 600): string {
  return JSON.stringify(text.length > n ? '...' + text.slice(-n) : text);
}

/**
 * Polls `read()` until `done(value)` holds; resolves with that value. Rejects
 * after `ms` with `what` and the last value (through `show`).
 */
export async function pollUntil<T>(
  what: string,
  read: () => T,
  done: (v: T) => boolean,
  ms = WAIT_MS,
  show: (v: T) => string = (v) => tail(String(v)),
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = read();
    if (done(v)) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}; last seen: ${show(v)}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Polls a text (an error log) until `re` matches; resolves with the text, rejects after `ms`. */
export function textMatching(what: string, read: () => string, re: RegExp, ms = WAIT_MS): Promise<string> {
  // A /g regex keeps lastIndex between test() calls: match on a copy without it.
  const once = new RegExp(re.source, re.flags.replace('g', ''));
  return pollUntil(`${re} in ${what}`, read, (t) => once.test(t), ms);
}

/** Polls a list of lines (an access log) until it has at least `n`; rejects after `ms`. */
export function linesAtLeast(what: string, read: () => string[], n: number, ms = WAIT_MS): Promise<string[]> {
  return pollUntil(`${n} line(s) in ${what}`, read, (l) => l.length >= n, ms, (l) => `${l.length} line(s): ${tail(l.join('\n'))}`);
}

/** Polls `cond` until it holds; rejects (failing the test) after `ms`, naming `what`. */
export async function until(what: string, cond: () => boolean, ms = WAIT_MS): Promise<void> {
  await pollUntil(what, cond, (v) => v, ms);
}
