/**
 * Outstanding ICMP / ICMPv6 echo requests of one IP layer: a bounded table by sequence number,
 * each waiting for its reply or its timeout on the stack's scheduler.
 */
import type { Scheduler } from '../clock.js';

const MAX_IN_FLIGHT = 1024;

export class EchoRequests<R> {
  /** Our identifier for every request (RFC 792 / RFC 4443 §4.1 Identifier). */
  readonly ident: number;
  private readonly waiting = new Map<number, { sent: number; resolve: (r: R | undefined) => void }>();
  private nextSeq = 0;

  constructor(
    private readonly scheduler: Scheduler,
    ident: number,
  ) {
    this.ident = ident;
  }

  /**
   * Reserves a sequence number and calls `send(seq)`; resolves with the reply built by `reply`,
   * or undefined after `timeoutMs` (or at once when too many requests are out).
   */
  request(timeoutMs: number, send: (seq: number) => void): Promise<R | undefined> {
    if (this.waiting.size >= MAX_IN_FLIGHT) return Promise.resolve(undefined);
    const seq = this.nextSeq;
    this.nextSeq = (this.nextSeq + 1) & 0xffff;
    return new Promise((resolve) => {
      const sent = this.scheduler.now();
      const timer = this.scheduler.at(sent + timeoutMs, () => {
        this.waiting.delete(seq);
        resolve(undefined);
      });
      this.waiting.set(seq, {
        sent,
        resolve: (r) => {
          this.scheduler.cancel(timer);
          resolve(r);
        },
      });
      send(seq);
    });
  }

  /** A reply arrived: settles its request with `make(rttMs)`; replies to nobody are ignored. */
  answer(ident: number, seq: number, make: (rttMs: number) => R): void {
    if (ident !== this.ident) return;
    const w = this.waiting.get(seq);
    if (!w) return;
    this.waiting.delete(seq);
    w.resolve(make(this.scheduler.now() - w.sent));
  }
}
