/**
 * nginx's cached time (ngx_time_update, called once each time the event loop
 * wakes): every reading within one turn of the loop sees the same
 * millisecond. $request_time is the difference of two such readings, so a
 * request answered within the turn that read it logs 0.000 however long the
 * turn's work took, and one that waited (an upstream, a limit_req answer from
 * the master) counts whole milliseconds of the clock, as nginx counts them.
 *
 * The first reading of a turn reads Date.now() and schedules one unref'd
 * immediate that forgets it (the check phase ends the turn): one timer object
 * per busy loop turn, none per request.
 */
let cached = -1;

function forget(): void {
  cached = -1;
}

/** ms since the epoch, as of this turn of the event loop. */
export function loopTimeMs(): number {
  if (cached < 0) {
    cached = Date.now();
    setImmediate(forget).unref();
  }
  return cached;
}
