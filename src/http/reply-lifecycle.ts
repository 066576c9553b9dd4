/**
 * How a client's reply ends, the same on HTTP/1 (h1/reply.ts) and HTTP/2
 * (h2/reply.ts): 'finish' then 'close' once the whole response went, or
 * 'close' alone when the client went away (or the reply was cut) first;
 * 'close' comes once.
 *
 * Background subrequests (mirror) hold the reply: its response may be all
 * sent, but the exchange is over, and the request logged, only when they
 * are, as nginx's main request lives while r->main->count says a
 * subrequest still runs. On HTTP/1 the connection takes no next request and
 * does not close until then, so a graceful stop waits for them too.
 */
import { EventEmitter } from 'node:events';
import type { RatePacer } from './h1/rate-pacer.js';

export abstract class ReplyLifecycle extends EventEmitter {
  writableFinished = false;
  destroyed = false;
  /** limit_rate, when the response has one. */
  protected pacer: RatePacer | null = null;
  private holds = 0;
  /** The response went while a hold was on: the exchange ends at the last release. */
  private finishHeld = false;
  private closeEmitted = false;

  /** A background subrequest starts: the exchange is not over before it is. */
  hold(): void {
    this.holds++;
  }

  /** A background subrequest is over. */
  release(): void {
    if (--this.holds > 0 || !this.finishHeld) return;
    this.finishHeld = false;
    this.complete();
  }

  /** The connection or stream went away. A response that was all sent still completes, at the last release. */
  aborted(): void {
    this.pacer?.stop();
    if (this.writableFinished || this.finishHeld) return;
    this.destroyed = true;
    this.emitClose();
  }

  /** Every byte of the response was handed to the transport. */
  protected finished(): void {
    this.pacer?.stop();
    if (this.writableFinished || this.destroyed || this.finishHeld) return;
    if (this.holds > 0) { this.finishHeld = true; return; }
    this.complete();
  }

  protected emitClose(): void {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    this.emit('close');
  }

  /** The exchange is over: the connection or session goes on. */
  protected abstract exchangeOver(): void;

  private complete(): void {
    this.writableFinished = true;
    this.emit('finish');
    this.emitClose();
    this.exchangeOver();
  }
}
