/**
 * The stack state as a value: a frozen-shape class so that `counters` can be read by name while the
 * step copies only an array of numbers (`counterValues`, on the JS heap: no ArrayBuffer per step) when a
 * counter changes.
 */
import type { PHeap } from './pheap.js';
import type { PMap } from './pmap.js';
import type { SipKey } from './siphash.js';
import {
  COUNTER_INDEX,
  COUNTER_NAMES,
  type Listener,
  type Tcb,
  type TcpConfig,
  type TcpCounterName,
  type TcpCounters,
  type TcpStack,
} from './types.js';

export class StackState implements TcpStack {
  constructor(
    readonly config: TcpConfig,
    readonly key: SipKey,
    readonly conns: PMap<Tcb>,
    readonly listeners: ReadonlyMap<number, Listener>,
    readonly heap: PHeap,
    readonly portTable: readonly number[],
    readonly counterValues: readonly number[],
    readonly now: number,
    readonly sndMem = 0,
    readonly rcvMem = 0,
  ) {}

  /** Every counter by name (built on each read). */
  get counters(): TcpCounters {
    return countersOf(this.counterValues);
  }
}

export function countersOf(values: readonly number[]): TcpCounters {
  const out = {} as Record<TcpCounterName, number>;
  for (const n of COUNTER_NAMES) out[n] = values[COUNTER_INDEX[n]]!;
  return out;
}
