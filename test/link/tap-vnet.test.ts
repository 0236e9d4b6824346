/**
 * TapLink with vnet headers (docs/TAP.md "Offloads"), against the kernel, root only: each test opens
 * a uniquely named TAP in a namespace of its own and deletes everything in finally. A super-frame
 * tagged by the stack is written whole where the kernel granted TSO (the kernel counts one frame of
 * its full length) and cut in software where the TAP has no offloads; either way the capture hook
 * sees the segments a wire would carry.
 */
import { describe, expect, it } from 'vitest';
import type { Ipv4Addr, Mac } from '../../src/addr.js';
import { emitEthernet, ETHERTYPE_IPV4 } from '../../src/ethernet/wire.js';
import { IPPROTO_TCP } from '../../src/ipproto.js';
import { emitIpv4 } from '../../src/ipv4/wire.js';
import { gsoHeader } from '../../src/link/gso.js';
import { TapLink } from '../../src/link/tap.js';
import { tagGso, VNET_HDR_LEN } from '../../src/link/vnet.js';
import type { Seq } from '../../src/tcp/seq.js';
import { emitTcp, tcpFlags } from '../../src/tcp/wire.js';
import { canTap, deleteLink, NetNs, uniqueIfName, waitFor } from '../support/netns.js';

const MSS = 1448;
const DATA = 20 * MSS + 100;

/** A TCP super-frame of DATA bytes in segments of MSS, tagged as the stack tags one. */
function superFrame(): Uint8Array {
  const len = 14 + 20 + 32 + DATA;
  const buf = new Uint8Array(VNET_HDR_LEN + len);
  const frame = buf.subarray(VNET_HDR_LEN);
  tagGso(buf.buffer, gsoHeader(4, IPPROTO_TCP, 34, 34 + 32, MSS, false));
  emitEthernet(
    {
      dst: 0x02_00_00_00_00_01 as Mac,
      src: 0x02_00_00_00_00_02 as Mac,
      vlans: [],
      ethertype: ETHERTYPE_IPV4,
    },
    frame,
  );
  const tcp = frame.subarray(34);
  for (let i = 32; i < tcp.length; i++) tcp[i] = i & 0xff;
  const ph = { version: 4 as const, src: 0x0a_c7_01_02, dst: 0x0a_c7_01_01 };
  emitTcp(
    {
      srcPort: 5555,
      dstPort: 9,
      seq: 1 as Seq,
      ack: 1 as Seq,
      flags: tcpFlags({ ack: true, psh: true }),
      window: 1000,
      urgentPointer: 0,
      options: { timestamps: { tsVal: 1, tsEcr: 2 } },
    },
    tcp,
    ph,
    { checksum: 'offload' },
  );
  emitIpv4(
    {
      src: ph.src as Ipv4Addr,
      dst: ph.dst as Ipv4Addr,
      protocol: IPPROTO_TCP,
      ttl: 64,
      dscp: 0,
      ecn: 0,
      ident: 1,
      dontFragment: true,
      moreFragments: false,
      fragOffset: 0,
      options: new Uint8Array(0),
    },
    frame.subarray(14),
  );
  return frame;
}

async function withTap(vnetHdr: boolean, fn: (tap: TapLink, ns: NetNs) => Promise<void>): Promise<void> {
  const name = uniqueIfName();
  let tap: TapLink | undefined;
  let ns: NetNs | undefined;
  try {
    tap = TapLink.open(name, { vnetHdr });
    ns = NetNs.create();
    ns.adopt(name);
    ns.run('ip', 'addr', 'add', '10.199.1.1/24', 'dev', name);
    ns.run('ip', 'link', 'set', name, 'up');
    await fn(tap, ns);
  } finally {
    await tap?.close();
    ns?.delete();
    deleteLink(name);
  }
}

function rxStats(ns: NetNs, name: string): { packets: number; bytes: number } {
  const [info] = JSON.parse(ns.run('ip', '-s', '-j', 'link', 'show', 'dev', name));
  return { packets: info.stats64.rx.packets, bytes: info.stats64.rx.bytes };
}

describe.skipIf(!canTap)('TapLink with vnet headers', () => {
  it('gets TSO and checksum offload, writes a super-frame whole, and captures its segments', async () => {
    await withTap(true, async (tap, ns) => {
      expect(tap.offloads).toMatchObject({ csum: true, tso4: true, tso6: true });
      const captured: number[] = [];
      tap.capture = (f, dir) => {
        if (dir === 'out') captured.push(f.length);
      };
      const before = rxStats(ns, tap.name);
      const frame = superFrame();
      tap.send(frame);
      await waitFor('the super-frame to be written', () => tap.counters.framesOut > 0);
      expect(tap.offloadCounters).toMatchObject({ gsoOut: 1, gsoOutBytes: frame.length, softSegmented: 0 });
      expect(tap.counters.bytesOut).toBe(frame.length);
      expect(captured).toEqual([...new Array(20).fill(14 + 20 + 32 + MSS), 14 + 20 + 32 + 100]);
      // The kernel took it as one frame of its full length (it segments only where it must).
      await waitFor('the kernel to count it', () => rxStats(ns, tap.name).packets > before.packets);
      expect(rxStats(ns, tap.name).bytes - before.bytes).toBeGreaterThanOrEqual(frame.length);
      expect(tap.counters.drops['io-error']).toBe(0);
    });
  });

  it('cuts a super-frame in software for a TAP without offloads', async () => {
    await withTap(false, async (tap, ns) => {
      expect(tap.offloads).toBeUndefined();
      const before = rxStats(ns, tap.name);
      tap.send(superFrame());
      await waitFor('the segments to be written', () => tap.counters.framesOut === 21);
      expect(tap.offloadCounters.softSegmented).toBe(1);
      expect(tap.offloadCounters.gsoOut).toBe(0);
      await waitFor('the kernel to count them', () => rxStats(ns, tap.name).packets - before.packets >= 21);
    });
  });

  it('sendOffloaded: an untagged frame with its header written whole; refused without offloads', async () => {
    const h = gsoHeader(4, IPPROTO_TCP, 34, 34 + 32, MSS, false);
    await withTap(true, async (tap, ns) => {
      const before = rxStats(ns, tap.name);
      // A copy: no tag on its buffer, no headroom; the header travels by argument alone.
      const frame = superFrame().slice();
      expect(tap.sendOffloaded(frame, h)).toBe(true);
      await waitFor('the super-frame to be written', () => tap.counters.framesOut > 0);
      expect(tap.offloadCounters).toMatchObject({ gsoOut: 1, gsoOutBytes: frame.length, softSegmented: 0 });
      await waitFor('the kernel to count it', () => rxStats(ns, tap.name).packets > before.packets);
      expect(rxStats(ns, tap.name).bytes - before.bytes).toBeGreaterThanOrEqual(frame.length);
      // A partial checksum without GSO is one the kernel finishes: taken too.
      const small = superFrame().slice(0, 14 + 20 + 32 + 100);
      small[16] = 0;
      small[17] = 20 + 32 + 100;
      expect(tap.sendOffloaded(small, { ...h, gsoType: 0, gsoSize: 0 })).toBe(true);
      await waitFor('the frame to be written', () => tap.counters.framesOut === 2);
      expect(tap.counters.drops['io-error']).toBe(0);
    });
    await withTap(false, async (tap) => {
      expect(tap.sendOffloaded(superFrame().slice(), h)).toBe(false);
      expect(tap.counters.framesOut + tap.txQueued).toBe(0);
    });
  });
});
