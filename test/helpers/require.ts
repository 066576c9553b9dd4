/**
 * Tests that need something outside weir (a real nginx, memcached, php-fpm,
 * a node internal) ask here, and only here, whether to run.
 *
 * On a developer's machine a missing dependency skips those tests with a
 * message naming it. Under `WEIR_TEST_REQUIRE=all` (what `.ci/run` sets) a
 * missing dependency is a failure instead: a machine meant to run everything
 * must not pass by running less. The failure is one test per dependency and
 * file, named after what is missing, registered where the question was asked;
 * the tests that need it still skip (running them would only add noise).
 */
import { test } from 'node:test';

/** The switch: `WEIR_TEST_REQUIRE=all` turns a missing dependency into a failure. */
export const REQUIRE_ALL = process.env.WEIR_TEST_REQUIRE === 'all';

const reported = new Set<string>();

/** How a missing dependency is named, in a skip or a failure. */
export function missingMessage(what: string, hint: string): string {
  return `${what} is missing (${hint})`;
}

/** Registers the failing test that reports `what` under the switch, once per file. */
function reportMissing(what: string, message: string): void {
  if (reported.has(what)) return;
  reported.add(what);
  test(`required dependency: ${what}`, () => {
    throw new Error(`WEIR_TEST_REQUIRE=all: ${message}`);
  });
}

/**
 * The `skip` option of tests that need `what`: false when `present`, else the
 * message (and, under the switch, a failing test naming it). Call it at the
 * top level of a test file or inside a describe(), where tests may be added.
 *
 *   const skip = needs('nginx', NGINX_BIN !== null, 'apt-get install nginx');
 *   test('differential ...', { skip }, async () => { ... });
 */
export function needs(what: string, present: boolean, hint: string): string | false {
  if (present) return false;
  const message = missingMessage(what, hint);
  if (REQUIRE_ALL) reportMissing(what, message);
  return message;
}

/** What a running test can call when it finds a dependency missing. */
export interface SkippableContext {
  skip(message?: string): void;
}

/**
 * Inside a running test: true when `what` is present. When it is missing the
 * test skips with the message (return at once), or, under the switch, this
 * throws and the test fails naming it.
 *
 *   if (!have(t, 'llhttp', binding !== null, 'node built without it')) return;
 */
export function have(t: SkippableContext, what: string, present: boolean, hint: string): boolean {
  if (present) return true;
  const message = missingMessage(what, hint);
  if (REQUIRE_ALL) throw new Error(`WEIR_TEST_REQUIRE=all: ${message}`);
  t.skip(message);
  return false;
}
