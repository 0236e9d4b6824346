/**
 * The driver's side of the pure reassembly core (src/fragments), shared by IPv4 and IPv6: it holds
 * the state, keeps the peak memory for the status page, and ticks the core only when it is due.
 */
import {
  deadline,
  initialReassembly,
  type ReassemblyConfig,
  type ReassemblyOutput,
  type ReassemblyState,
  step,
} from '../fragments/reassembly.js';

export class Reassembler {
  private state: ReassemblyState;
  private peak = 0;

  constructor(config: Partial<ReassemblyConfig> = {}) {
    this.state = initialReassembly(config);
  }

  /** Adds one fragment; the outputs say what became whole, or what was dropped. */
  fragment(
    now: number,
    key: string,
    offset: number,
    data: Uint8Array,
    more: boolean,
    header: Uint8Array,
  ): readonly ReassemblyOutput[] {
    const [state, outputs] = step(this.state, { kind: 'fragment', now, key, offset, data, more, header });
    this.state = state;
    this.peak = Math.max(this.peak, state.bytes);
    return outputs;
  }

  deadline(): number {
    return deadline(this.state) ?? Number.POSITIVE_INFINITY;
  }

  /** Expires what is due at `now` (nothing when nothing is). */
  tick(now: number): readonly ReassemblyOutput[] {
    if (this.deadline() > now) return [];
    const [state, outputs] = step(this.state, { kind: 'tick', now });
    this.state = state;
    return outputs;
  }

  /** Memory held now. */
  get bytes(): number {
    return this.state.bytes;
  }

  /** The most memory ever held at once. */
  get peakBytes(): number {
    return this.peak;
  }
}
