/**
 * Congestion-control registry: the core stores a `CcState` and calls `ccOf(state)` for its hooks.
 */
import { type BbrState, bbr } from './bbr.js';
import { type CubicState, cubic } from './cubic.js';
import { type NewRenoState, newReno } from './newreno.js';
import type { CcStateBase, CongestionControl, CongestionName } from './types.js';

export type { CcContext, CongestionName } from './types.js';
export { initialWindow } from './types.js';
export type CcState = NewRenoState | CubicState | BbrState;

const ALGOS: Record<CongestionName, CongestionControl<CcStateBase>> = {
  newreno: newReno as unknown as CongestionControl<CcStateBase>,
  cubic: cubic as unknown as CongestionControl<CcStateBase>,
  bbr: bbr as unknown as CongestionControl<CcStateBase>,
};

/** The hooks of the algorithm that owns `s`. */
export function ccOf(s: CcState): CongestionControl<CcState> {
  return ALGOS[s.algo] as unknown as CongestionControl<CcState>;
}

// The last initial state made: connections start from equal windows (same algorithm, MSS and IW), and
// an idle one keeps its initial state, so they share one record (records are never edited).
let lastInit: CcState | undefined;
let lastMss = 0;
let lastIw: number | null = null;

export function ccInit(name: CongestionName, mss: number, iwSegments: number | null): CcState {
  if (lastInit !== undefined && lastInit.algo === name && lastMss === mss && lastIw === iwSegments)
    return lastInit;
  lastInit = (ALGOS[name] as unknown as CongestionControl<CcState>).init(mss, iwSegments);
  lastMss = mss;
  lastIw = iwSegments;
  return lastInit;
}
