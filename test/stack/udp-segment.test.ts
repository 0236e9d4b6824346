/**
 * UDP sends with a segment size (Linux's UDP_SEGMENT; `UdpSocket.setSegmentSize`): a send is cut
 * into datagrams of that size. Over a link that takes USO it leaves as one super-frame, which the
 * kernel's segmentation (src/link/gso.ts, the reference) cuts into exactly the frames the same send
 * makes datagram by datagram over a link without it; Linux's limits give EINVAL.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, type Ipv6Addr, parseIpv4Addr, parseIpv6Addr } from '../../src/addr.js';
import { VirtualScheduler } from '../../src/clock.js';
import { segmentFrame } from '../../src/link/gso.js';
import { memoryPair } from '../../src/link/memory.js';
import { gsoTagOf, type Offloads, VNET_GSO_UDP_L4 } from '../../src/link/vnet.js';
import { Stack } from '../../src/stack/stack.js';
import type { RemoteInfo, UdpSocket } from '../../src/stack/udp.js';
import { settle } from '../../src/testing/time.js';
import { OffloadPort } from '../support/offload-port.js';
import { propOptions } from '../support/props.js';

const USO: Offloads = { csum: true, tso4: true, tso6: true, tsoEcn: true, uso4: true, uso6: true };

/** An offload port that records the UDP frames the stack sends, super-frames cut as the kernel cuts them. */
class RecordingEnd extends OffloadPort {
  /** UDP frames sent after `recording` was set. */
  readonly wire: Uint8Array[] = [];
  supers = 0;
  recording = false;

  send(frame: Uint8Array): void {
    const tag = gsoTagOf(frame);
    const out = (f: Uint8Array) => {
      if (this.recording && isUdp(f)) this.wire.push(Uint8Array.from(f));
      this.inner.send(f);
    };
    if (tag === undefined) return out(frame);
    expect(tag.gsoType).toBe(VNET_GSO_UDP_L4);
    this.supers++;
    expect(segmentFrame(frame, tag, out).ok).toBe(true);
  }
}

/** A UDP datagram (not the neighbour discovery around it): IPv4 Protocol or IPv6 Next Header 17. */
function isUdp(frame: Uint8Array): boolean {
  const type = (frame[12]! << 8) | frame[13]!;
  return type === 0x0800 ? frame[23] === 17 : type === 0x86dd && frame[20] === 17;
}

const A4 = parseIpv4Addr('10.0.0.1') as Ipv4Addr;
const B4 = parseIpv4Addr('10.0.0.2') as Ipv4Addr;
const A6 = parseIpv6Addr('fd00::1') as Ipv6Addr;
const B6 = parseIpv6Addr('fd00::2') as Ipv6Addr;

interface Sent {
  readonly wire: Uint8Array[];
  readonly supers: number;
  readonly got: Buffer[];
  readonly error: Error | null;
  readonly counters: Record<string, number>;
}

/** One send of `payload` with segment size `size` from a to b, over a link with or without USO. */
async function sendOnce(
  offloads: Offloads | undefined,
  v6: boolean,
  payload: Uint8Array,
  size: number,
): Promise<Sent> {
  const scheduler = new VirtualScheduler();
  const [ra, rb] = memoryPair(scheduler, { delay: 0.05 });
  const a = new RecordingEnd(ra, offloads);
  const sa = new Stack({ scheduler, seed: 1 });
  const sb = new Stack({ scheduler, seed: 2 });
  const v4only = { ipv6Enabled: false };
  sa.addInterface({
    link: a,
    ...(v6
      ? { ipv6: [{ address: A6, prefixLen: 64 }] }
      : { ...v4only, ipv4: [{ address: A4, prefixLen: 24 }] }),
  });
  sb.addInterface({
    link: rb,
    ...(v6
      ? { ipv6: [{ address: B6, prefixLen: 64 }] }
      : { ...v4only, ipv4: [{ address: B4, prefixLen: 24 }] }),
  });
  const to = v6 ? 'fd00::2' : '10.0.0.2';
  const got: Buffer[] = [];
  const server = sb.udp.createSocket(v6 ? 'udp6' : 'udp4');
  server.on('message', (m: Buffer, _r: RemoteInfo) => got.push(m));
  server.bind(5000);
  const client: UdpSocket = sa.udp.createSocket(v6 ? 'udp6' : 'udp4');
  client.bind(4000);
  // Resolve the neighbour first, so that the recorded send is the datagrams alone.
  await settle(scheduler, new Promise<void>((r) => client.send('x', 5000, to, () => r())), { limitMs: 5000 });
  await settle(scheduler, new Promise<void>((r) => scheduler.at(scheduler.now() + 3000, r)), {
    limitMs: 5000,
  });
  got.length = 0;
  a.recording = true;
  client.setSegmentSize(size);
  const error = await settle(
    scheduler,
    new Promise<Error | null>((r) => client.send(payload, 5000, to, (e: Error | null) => r(e))),
    { limitMs: 5000 },
  );
  await settle(scheduler, new Promise<void>((r) => scheduler.at(scheduler.now() + 100, r)), {
    limitMs: 5000,
  });
  const counters = sa.counters.snapshot();
  await sa.close();
  await sb.close();
  return { wire: a.wire, supers: a.supers, got, error, counters };
}

function pattern(n: number, seed: number): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 31 + seed) & 0xff;
  return p;
}

describe('UDP sends with a segment size (UDP_SEGMENT)', () => {
  it('cut a send into datagrams of the size, the last shorter, delivered in order', async () => {
    const payload = pattern(4500, 7);
    const r = await sendOnce(undefined, false, payload, 1000);
    expect(r.error).toBeNull();
    expect(r.got.map((g) => g.length)).toEqual([1000, 1000, 1000, 1000, 500]);
    expect(Buffer.concat(r.got).equals(Buffer.from(payload))).toBe(true);
    expect(r.supers).toBe(0);
    expect(r.counters['udp/uso-sent'] ?? 0).toBe(0);
  });

  it('leave as one super-frame where the link takes USO', async () => {
    const payload = pattern(30_000, 3);
    const r = await sendOnce(USO, false, payload, 1472);
    expect(r.error).toBeNull();
    expect(r.supers).toBe(1);
    expect(r.counters['udp/uso-sent']).toBe(1);
    expect(r.got.length).toBe(Math.ceil(30_000 / 1472));
    expect(Buffer.concat(r.got).equals(Buffer.from(payload))).toBe(true);
  });

  it('the kernel cuts the super-frame into the frames a link without USO carries, byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.integer({ min: 1, max: 1452 }),
        fc.integer({ min: 1, max: 64 * 1452 }),
        fc.nat(255),
        async (v6, size, len, seed) => {
          const n = Math.min(len, 64 * size, v6 ? 65_527 : 65_507);
          const payload = pattern(n, seed);
          const whole = await sendOnce(USO, v6, payload, size);
          const oneByOne = await sendOnce(undefined, v6, payload, size);
          expect(whole.error).toBeNull();
          expect(whole.wire.length).toBe(Math.ceil(n / size));
          // Past the MTU and the segment size: one super-frame (within both: one plain datagram).
          expect(whole.supers).toBe(n > size && n > (v6 ? 1452 : 1472) ? 1 : 0);
          expect(whole.wire.map((f) => Buffer.from(f).toString('hex'))).toEqual(
            oneByOne.wire.map((f) => Buffer.from(f).toString('hex')),
          );
        },
      ),
      propOptions(30),
    );
  });

  it("fail with EINVAL past Linux's limits: a segment over the MTU, more than 64 segments", async () => {
    const tooBig = await sendOnce(USO, false, pattern(3000, 1), 1473);
    expect((tooBig.error as NodeJS.ErrnoException | null)?.code).toBe('EINVAL');
    const tooMany = await sendOnce(USO, false, pattern(65 * 100, 1), 100);
    expect((tooMany.error as NodeJS.ErrnoException | null)?.code).toBe('EINVAL');
    for (const r of [tooBig, tooMany]) expect(r.wire).toEqual([]);
    // The v6 bound is 20 bytes lower (the larger header).
    const v6 = await sendOnce(USO, true, pattern(3000, 1), 1453);
    expect((v6.error as NodeJS.ErrnoException | null)?.code).toBe('EINVAL');
  });

  it('rejects a segment size that is not an integer from 0 to 65507', () => {
    const s = new Stack({ scheduler: new VirtualScheduler(), seed: 1 }).udp.createSocket('udp4');
    for (const bad of [-1, 1.5, 65_508, Number.NaN]) expect(() => s.setSegmentSize(bad)).toThrow(RangeError);
    s.setSegmentSize(0);
    expect(s.segmentSize).toBe(0);
  });
});
