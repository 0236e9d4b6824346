/**
 * The connections one step touched, in the order it touched them. Most steps touch one connection,
 * so the first needs no Map (three Maps per step were a measurable share of the receive path); an
 * index is built from the second on.
 */
import type { Rope } from './rope.js';
import type { CloseReason, FlowKey, MutTcb, SoftError, Tcb } from './types.js';

export interface Touched {
  readonly key: FlowKey;
  /** The working copy; `null` once the connection was removed. */
  work: MutTcb | null;
  /** The record it started from (`undefined`: created in this step). */
  readonly before: Tcb | undefined;
  /** Why it was removed (reported to the user). */
  reason: CloseReason | undefined;
  /** The soft error reported with the reason. */
  error: SoftError | null;
  /** Received data the user had not read when the connection was removed. */
  unread: Rope | null;
}

export class TouchedSet {
  /** In the order touched; entries added while iterating are visited too. */
  readonly list: Touched[] = [];
  private index: Map<FlowKey, Touched> | undefined;

  get(key: FlowKey): Touched | undefined {
    if (this.index !== undefined) return this.index.get(key);
    const first = this.list[0];
    return first !== undefined && first.key === key ? first : undefined;
  }

  add(
    key: FlowKey,
    work: MutTcb | null,
    before: Tcb | undefined,
    reason?: CloseReason,
    error: SoftError | null = null,
  ): Touched {
    // The record's own key string, not the lookup's equal copy: the table, the timer heap and the
    // socket then share one string per connection instead of keeping one each.
    const t: Touched = { key: before?.key ?? key, work, before, reason, error, unread: null };
    this.list.push(t);
    if (this.index !== undefined) this.index.set(key, t);
    else if (this.list.length === 2) this.index = new Map(this.list.map((x) => [x.key, x]));
    return t;
  }
}
