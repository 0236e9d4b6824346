/**
 * Congestion-control registry: the core stores a `CcState` and calls `ccOf(state)` for its hooks.
 */
import { type CubicState, cubic } from './cubic.js';
import { type NewRenoState, newReno } from './newreno.js';
import type { CcStateBase, CongestionControl, CongestionName } from './types.js';

export type { CcContext, CongestionName } from './types.js';
export { initialWindow } from './types.js';
export type CcState = NewRenoState | CubicState;

const ALGOS: Record<CongestionName, CongestionControl<CcStateBase>> = {
  newreno: newReno as unknown as CongestionControl<CcStateBase>,
  cubic: cubic as unknown as CongestionControl<CcStateBase>,
};

/** The hooks of the algorithm that owns `s`. */
export function ccOf(s: CcState): CongestionControl<CcState> {
  return ALGOS[s.algo] as unknown as CongestionControl<CcState>;
}

export function ccInit(name: CongestionName, mss: number, iwSegments: number | null): CcState {
  return (ALGOS[name] as unknown as CongestionControl<CcState>).init(mss, iwSegments);
}
