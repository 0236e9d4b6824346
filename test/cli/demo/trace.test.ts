/**
 * The in-process traceroute: UDP probes with rising TTL through the router leg's network (left —
 * Oasis router — right, virtual time), answered by the router's Time Exceeded and right's Port
 * Unreachable; silent hops; the frame reader on arbitrary bytes; the line format.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, ipv4ToString, parseIpv4Addr } from '../../../src/addr.js';
import { routedLine } from '../../../src/cli/demo/routed-memory.js';
import { LEFT4, RIGHT4, ROUTER_LEFT4 } from '../../../src/cli/demo/tour.js';
import { formatHop, probeAnswer, TRACE_FIRST_PORT, traceroute4 } from '../../../src/cli/demo/trace.js';
import { VirtualScheduler } from '../../../src/clock.js';
import { memoryPair } from '../../../src/link/memory.js';
import { Stack } from '../../../src/stack/stack.js';
import { settle } from '../../../src/testing/time.js';
import { mutated, propOptions } from '../../support/props.js';

const ip = (s: string): Ipv4Addr => parseIpv4Addr(s)!;
const names = (hops: readonly { from: Ipv4Addr | undefined }[]) =>
  hops.map((h) => (h.from === undefined ? '*' : ipv4ToString(h.from)));

function network() {
  const scheduler = new VirtualScheduler();
  const line = routedLine(scheduler, 0, () => {});
  return { scheduler, line };
}

describe('traceroute4 through the router leg (virtual time)', () => {
  it('finds the router at hop 1 (Time Exceeded) and right at hop 2 (Port Unreachable), then stops', async () => {
    const { scheduler, line } = network();
    const hops = await settle(scheduler, traceroute4(line.left.stack, ip(RIGHT4), { maxHops: 5 }));
    expect(names(hops)).toEqual([ROUTER_LEFT4, RIGHT4]);
    expect(hops.map((h) => h.reached)).toEqual([false, true]);
    for (const h of hops) {
      expect(h.rtts).toHaveLength(3);
      for (const t of h.rtts) expect(t).toBeGreaterThanOrEqual(0);
    }
    // Every probe drew exactly one answer, from the node its TTL ran out at.
    expect(line.router.stack.counters.get('router/ttl-expired')).toBe(3);
    expect(line.right.stack.counters.get('icmpv4/out-dest-unreachable')).toBe(3);
    expect(line.left.stack.counters.get('icmpv4/in-time-exceeded')).toBe(3);
    await line.close();
  });

  it('shows a hop that does not answer as *, and gives up after maxHops', async () => {
    const { scheduler, line } = network();
    // Nobody holds 10.202.2.9 on right's link: the router's ARP for it goes unanswered.
    const hops = await settle(
      scheduler,
      traceroute4(line.left.stack, ip('10.202.2.9'), { maxHops: 3, probes: 2, timeoutMs: 200 }),
    );
    expect(names(hops)).toEqual([ROUTER_LEFT4, '*', '*']);
    expect(hops.some((h) => h.reached)).toBe(false);
    expect(hops[1]!.rtts).toEqual([undefined, undefined]);
    expect(formatHop(hops[1]!)).toBe(' 2  *  *');
    expect(line.routerIfaces[1].arp.counters['request-sent']).toBeGreaterThan(0);
    await line.close();
  });

  it('leaves the capture hook it found in place and working', async () => {
    const { scheduler, line } = network();
    const link = line.left.iface.link;
    let seen = 0;
    const hook = () => {
      seen++;
    };
    link.capture = hook;
    await settle(scheduler, traceroute4(line.left.stack, ip(RIGHT4), { probes: 1 }));
    expect(link.capture).toBe(hook);
    // ARP both ways, two probes and their two answers at least.
    expect(seen).toBeGreaterThanOrEqual(6);
    await line.close();
  });

  it('rejects a destination it has no route to', async () => {
    const scheduler = new VirtualScheduler();
    const [link] = memoryPair(scheduler, { mtu: 1500 });
    const stack = new Stack({ scheduler, seed: 1 });
    stack.addInterface({ link, ipv4: [{ address: ip('10.0.0.1'), prefixLen: 24 }], ipv6Enabled: false });
    await expect(traceroute4(stack, ip('192.0.2.1'))).rejects.toThrow('no route to 192.0.2.1');
    await stack.close();
  });
});

describe('probeAnswer', () => {
  /** The frames left received while tracing to right: the router's and right's answers among them. */
  async function answers(): Promise<Uint8Array[]> {
    const { scheduler, line } = network();
    const frames: Uint8Array[] = [];
    const link = line.left.iface.link;
    link.capture = (frame, dir) => {
      if (dir === 'in') frames.push(frame.slice());
    };
    await settle(scheduler, traceroute4(line.left.stack, ip(RIGHT4), { probes: 1 }));
    await line.close();
    return frames;
  }

  it('reads the router’s Time Exceeded and right’s Port Unreachable, by the probe’s port', async () => {
    const read = (await answers())
      .map((f) => probeAnswer(f, ip(LEFT4), ip(RIGHT4)))
      .filter((a) => a !== undefined);
    expect(read).toEqual([
      { port: TRACE_FIRST_PORT, from: ip(ROUTER_LEFT4), reached: false },
      { port: TRACE_FIRST_PORT + 1, from: ip(RIGHT4), reached: true },
    ]);
  });

  it('ignores answers about probes to another destination or for another host', async () => {
    for (const f of await answers()) {
      expect(probeAnswer(f, ip(LEFT4), ip('10.202.2.3'))).toBeUndefined();
      expect(probeAnswer(f, ip('10.202.1.3'), ip(RIGHT4))).toBeUndefined();
    }
  });

  it('never throws, whatever the bytes', async () => {
    const valid = await answers();
    fc.assert(
      fc.property(mutated(fc.constantFrom(...valid)), (frame) => {
        const a = probeAnswer(frame, ip(LEFT4), ip(RIGHT4));
        if (a !== undefined) expect(a.port).toBeLessThan(0x10000);
      }),
      propOptions(),
    );
  });
});

describe('formatHop', () => {
  it.each([
    [
      { ttl: 1, from: ip('10.202.1.1'), rtts: [0.2144, 0.12, 0.1], reached: false },
      ' 1  10.202.1.1  0.214 ms  0.120 ms  0.100 ms',
    ],
    [
      { ttl: 2, from: ip('10.202.2.2'), rtts: [undefined, 1.5], reached: true },
      ' 2  10.202.2.2  *  1.500 ms',
    ],
    [{ ttl: 12, from: undefined, rtts: [undefined, undefined, undefined], reached: false }, '12  *  *  *'],
  ])('%o', (hop, line) => {
    expect(formatHop(hop)).toBe(line);
  });
});
