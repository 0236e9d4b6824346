/**
 * A memory port dressed as an offload-capable TAP, for stack tests on virtual time: it says it has
 * `offloads` (so the stack sends super-frames) and passes everything else on to the port it wraps.
 * Subclasses decide what `send` does with a super-frame and may mark what is received.
 */
import type { CaptureHook, FrameHandler, Link } from '../../src/link/link.js';
import { emptyVnetHdr, type MutableVnetHdr, type OffloadLink, type Offloads } from '../../src/link/vnet.js';

export abstract class OffloadPort implements Link, OffloadLink {
  readonly mtu = 1500;
  readonly rxVnet: MutableVnetHdr = emptyVnetHdr();
  capture?: CaptureHook | undefined;

  constructor(
    protected readonly inner: Link,
    readonly offloads: Offloads | undefined,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  get counters() {
    return this.inner.counters;
  }

  abstract send(frame: Uint8Array): void;

  onFrame(handler: FrameHandler): void {
    this.inner.onFrame(handler);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
