/**
 * The stack over a link that has offloads, on virtual time (no kernel): a link that says it takes
 * TSO makes the TCP driver send super-frames (src/stack/tcp.ts), which reach the peer either cut by
 * the reference segmenter (as the kernel cuts them) or whole, marked NEEDS_CSUM (as the kernel
 * hands its own to a TAP): a whole super-frame is one segment for the receiving core, and its
 * partial checksum is believed only because the link vouches for it.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, parseIpv4Addr } from '../../src/addr.js';
import { VirtualScheduler } from '../../src/clock.js';
import { segmentFrame } from '../../src/link/gso.js';
import type { Direction, FrameHandler, Link } from '../../src/link/link.js';
import { memoryPair } from '../../src/link/memory.js';
import {
  gsoTagOf,
  type Offloads,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
} from '../../src/link/vnet.js';
import { parseIpv4 } from '../../src/ipv4/wire.js';
import { Stack } from '../../src/stack/stack.js';
import { parseTcp } from '../../src/tcp/wire.js';
import { runUntil, settle } from '../../src/testing/time.js';
import { OffloadPort } from '../support/offload-port.js';

const TSO: Offloads = { csum: true, tso4: true, tso6: true, tsoEcn: true, uso4: false, uso6: false };

/** An offload port that cuts super-frames as the kernel does, or passes them on whole. */
class OffloadEnd extends OffloadPort {
  /** Lengths of the super-frames the stack sent. */
  readonly supers: number[] = [];
  /** Frames longer than the MTU handed to the stack. */
  bigIn = 0;

  constructor(
    inner: Link,
    offloads: Offloads | undefined,
    /** 'cut': segment super-frames on send; 'whole': pass them on, for the peer to take whole. */
    private readonly mode: 'cut' | 'whole',
    /** Whether received super-frames are marked NEEDS_CSUM (the kernel's vouching). */
    private readonly vouch = true,
  ) {
    super(inner, offloads);
  }

  send(frame: Uint8Array): void {
    const tag = gsoTagOf(frame);
    if (tag === undefined) return this.inner.send(frame);
    this.supers.push(frame.length);
    if (this.mode === 'whole') return this.inner.send(frame);
    const r = segmentFrame(frame, tag, (seg) => this.inner.send(seg));
    expect(r.ok).toBe(true);
  }

  override onFrame(handler: FrameHandler): void {
    this.inner.onFrame((frame) => {
      const big = frame.length > this.mtu + 14;
      if (big) this.bigIn++;
      this.rxVnet.flags = big && this.vouch ? VNET_F_NEEDS_CSUM : 0;
      this.rxVnet.gsoType = big ? VNET_GSO_TCPV4 : VNET_GSO_NONE;
      handler(frame);
    });
  }
}

const ip = (s: string) => parseIpv4Addr(s) as Ipv4Addr;

/**
 * Two stacks, 10.0.0.1 on `a` and 10.0.0.2 on `b`; a writes `size` patterned bytes to b's server,
 * which collects them. `done` resolves at the server's end of stream.
 */
function startTransfer(scheduler: VirtualScheduler, a: Link, b: Link, size: number) {
  const sa = new Stack({ scheduler, seed: 1 });
  const sb = new Stack({ scheduler, seed: 2 });
  sa.addInterface({ link: a, ipv4: [{ address: ip('10.0.0.1'), prefixLen: 24 }], ipv6Enabled: false });
  sb.addInterface({ link: b, ipv4: [{ address: ip('10.0.0.2'), prefixLen: 24 }], ipv6Enabled: false });
  const data = new Uint8Array(size);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >> 10)) & 0xff;
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve) => {
    sb.tcp
      .createServer((s) => {
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('end', () => resolve());
      })
      .listen(80);
  });
  const c = sa.tcp.connect({ host: '10.0.0.2', port: 80 });
  c.on('error', () => undefined);
  c.end(data);
  return {
    sb,
    data,
    done,
    received: () => Buffer.concat(chunks),
    close: async () => {
      await sa.close();
      await sb.close();
    },
  };
}

/** Sends `size` bytes from a to b over TCP; returns what b received and the two ends. */
async function transfer(
  mode: 'cut' | 'whole',
  opts: { offloads?: Offloads | undefined; vouch?: boolean; size?: number } = {},
): Promise<{ sent: string; got: string; a: OffloadEnd; b: OffloadEnd; bStack: Stack }> {
  const scheduler = new VirtualScheduler();
  // The medium takes super-frames whole in 'whole' mode; the stacks still see an MTU of 1500.
  const [ra, rb] = memoryPair(scheduler, { mtu: mode === 'whole' ? 65_535 : 1500, delay: 0.05 });
  const offloads = 'offloads' in opts ? opts.offloads : TSO;
  const a = new OffloadEnd(ra, offloads, mode);
  const b = new OffloadEnd(rb, offloads, mode, opts.vouch ?? true);
  const t = startTransfer(scheduler, a, b, opts.size ?? 1_000_000);
  await settle(scheduler, t.done, { limitMs: 60_000 }).catch(() => undefined);
  await t.close();
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  return { sent: sha(t.data), got: sha(t.received()), a, b, bStack: t.sb };
}

describe('TCP over a link with TSO', () => {
  it('sends super-frames of many MSS segments; cut as the kernel cuts them, the stream arrives intact', async () => {
    const r = await transfer('cut');
    expect(r.got).toBe(r.sent);
    expect(r.a.supers.length).toBeGreaterThan(5);
    const mean = r.a.supers.reduce((x, y) => x + y, 0) / r.a.supers.length;
    expect(mean).toBeGreaterThan(3 * 1514);
    expect(Math.max(...r.a.supers)).toBeLessThanOrEqual(14 + 0xffff);
  });

  it('a receiving stack takes a whole super-frame as one segment larger than its MSS', async () => {
    const r = await transfer('whole');
    expect(r.got).toBe(r.sent);
    expect(r.b.bigIn).toBeGreaterThan(5);
    expect(r.bStack.counters.snapshot()['tcp/bad-checksum'] ?? 0).toBe(0);
  });

  it('believes a partial checksum only when the link vouches for it', async () => {
    const r = await transfer('whole', { vouch: false, size: 200_000 });
    // Every unvouched super-frame is dropped for its checksum (what gets through, if anything,
    // came as single retransmitted segments, whose checksums are full).
    expect(r.b.bigIn).toBeGreaterThan(0);
    expect(r.bStack.counters.snapshot()['tcp/bad-checksum'] ?? 0).toBe(r.b.bigIn);
  });

  it('cuts TSO outputs itself when the link loses its offloads mid-connection (a TAP reopened without them)', async () => {
    const scheduler = new VirtualScheduler();
    const [ra, rb] = memoryPair(scheduler, { mtu: 1500, delay: 0.05 });
    const a = new OffloadEnd(ra, TSO, 'cut');
    const b = new OffloadEnd(rb, undefined, 'cut');
    let offloads: Offloads | undefined = TSO;
    Object.defineProperty(a, 'offloads', { get: () => offloads });
    const sizes: number[] = [];
    ra.capture = (f, dir) => {
      if (dir === 'out' && offloads === undefined) sizes.push(f.length);
    };
    const t = startTransfer(scheduler, a, b, 2_000_000);
    expect(await runUntil(scheduler, () => a.supers.length >= 3, { limitMs: 10_000 })).toBe(true);
    const supersBefore = a.supers.length;
    offloads = undefined;
    await settle(scheduler, t.done, { limitMs: 60_000 });
    await t.close();
    expect(t.received().equals(Buffer.from(t.data))).toBe(true);
    // No super-frame after the loss, and the segments that replaced them fit the MTU.
    expect(a.supers.length).toBe(supersBefore);
    expect(sizes.length).toBeGreaterThan(100);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1514);
  });

  it('sends no super-frame where the link has no offloads', async () => {
    const r = await transfer('cut', { offloads: undefined, size: 300_000 });
    expect(r.got).toBe(r.sent);
    expect(r.a.supers).toEqual([]);
  });
});

describe('a memory pair with offloads (as a veth with TSO between two namespaces)', () => {
  /** 1 MB from a to b over memoryPair({ offloads: true }); every frame either capture saw. */
  async function pairTransfer() {
    const scheduler = new VirtualScheduler();
    const [a, b] = memoryPair(scheduler, { mtu: 1500, delay: 0.05, offloads: true });
    const seen: { frame: Uint8Array; dir: Direction }[] = [];
    for (const l of [a, b]) l.capture = (frame, dir) => seen.push({ frame: frame.slice(), dir });
    const t = startTransfer(scheduler, a, b, 1_000_000);
    await settle(scheduler, t.done, { limitMs: 60_000 });
    const counters = t.sb.counters.snapshot();
    await t.close();
    return { data: t.data, got: t.received(), a, seen, counters };
  }

  it('carries super-frames whole to the peer stack, and its captures show the MSS segments a wire carries', async () => {
    const r = await pairTransfer();
    expect(Buffer.from(r.got).equals(Buffer.from(r.data))).toBe(true);
    // ~685 MSS segments of data crossed in far fewer frames.
    expect(r.a.counters.framesOut).toBeLessThan(200);
    expect(r.a.counters.bytesOut / r.a.counters.framesOut).toBeGreaterThan(3 * 1514);
    expect(r.counters['tcp/bad-checksum'] ?? 0).toBe(0);
    // Captured as wire frames: each fits the MTU and its checksums verify, in both directions.
    let data = 0;
    for (const { frame } of r.seen) {
      expect(frame.length).toBeLessThanOrEqual(1514);
      const ip4 = parseIpv4(frame.subarray(14));
      if (!ip4.ok) continue;
      const tcp = parseTcp(ip4.value.payload, {
        version: 4,
        src: ip4.value.repr.src,
        dst: ip4.value.repr.dst,
      });
      expect(tcp.ok).toBe(true);
      if (tcp.ok) data += tcp.value.payload.length;
    }
    // Every byte twice: out of a, into b.
    expect(data).toBe(2 * r.data.length);
    expect(r.seen.some((s) => s.dir === 'in')).toBe(true);
  });

  it('refuses offloads with impairments or a line rate, which act on wire frames', () => {
    const s = new VirtualScheduler();
    expect(() => memoryPair(s, { offloads: true, impair: { loss: 0.01 } })).toThrow(/offloads/);
    expect(() => memoryPair(s, { offloads: true, rate: 1e9 })).toThrow(/offloads/);
  });
});
