/**
 * PacketLink against the Linux kernel. Root only (CAP_NET_RAW and CAP_NET_ADMIN), like
 * tap.test.ts: each test makes a veth pair with a unique name, opens the link on the end left in
 * this process's namespace (an AF_PACKET socket lives in the namespace it was made in) and moves the
 * peer into a private namespace of its own, where the kernel (or python3 with an AF_PACKET socket)
 * talks to us; everything is deleted in finally. Addresses: the kernel is 10.198.0.1/24, we pretend
 * to be 10.198.0.2.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Mac, macToString, parseMac, writeMac } from '../../src/addr.js';
import { u16 } from '../../src/bytes.js';
import { PacketLink, type PacketOptions } from '../../src/link/packet.js';
import { canTap, collect, deleteLink, listenFor, NetNs, uniqueIfName, waitFor } from '../support/netns.js';

const KERNEL_IP = [10, 198, 0, 1];
const OUR_IP = [10, 198, 0, 2];
const OUR_MAC = 0x02_00_00_c6_00_02 as Mac;
/** IEEE 802 local experimental EtherType: the kernel counts such frames and drops them. */
const ETHERTYPE_TEST = 0x88b5;

interface Pair {
  readonly ours: string;
  readonly peer: string;
  readonly ns: NetNs;
}

/** A veth pair: `ours` in this namespace (down, no address), `peer` in a fresh namespace, up. */
function makePair(opts: { mtu?: number; peerIp?: boolean } = {}): Pair {
  const ours = uniqueIfName();
  const peer = uniqueIfName();
  const ns = NetNs.create();
  try {
    const mtu = String(opts.mtu ?? 1500);
    execFileSync('ip', [
      'link',
      'add',
      ours,
      'mtu',
      mtu,
      'type',
      'veth',
      'peer',
      'name',
      peer,
      'netns',
      ns.name,
    ]);
    ns.run('ip', 'link', 'set', peer, 'mtu', mtu);
    // Offloads off on the peer: it sends wire frames with full checksums (docs/PACKET.md).
    ns.run('ethtool', '-K', peer, 'tso', 'off', 'gso', 'off', 'tx', 'off');
    if (opts.peerIp ?? true) ns.run('ip', 'addr', 'add', `${KERNEL_IP.join('.')}/24`, 'dev', peer);
    ns.run('ip', 'link', 'set', peer, 'up');
  } catch (e) {
    ns.delete();
    deleteLink(ours);
    throw e;
  }
  return { ours, peer, ns };
}

async function withLink(
  fn: (link: PacketLink, pair: Pair) => Promise<void>,
  opts: PacketOptions & { ifMtu?: number } = {},
): Promise<void> {
  const pair = makePair(opts.ifMtu === undefined ? {} : { mtu: opts.ifMtu });
  let link: PacketLink | undefined;
  try {
    link = PacketLink.open(pair.ours, { mtu: 1500, ...opts });
    await fn(link, pair);
  } finally {
    await link?.close();
    pair.ns.delete();
    deleteLink(pair.ours);
  }
}

function macOf(ns: NetNs | undefined, dev: string): Mac {
  const info = ns
    ? ns.linkInfo(dev)
    : (JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'dev', dev], { encoding: 'utf8' }))[0] as {
        address: string;
      });
  const mac = parseMac(info.address);
  if (mac === undefined) throw new Error('no MAC');
  return mac;
}

/** Flags, promiscuity and the IPv6 switch of an interface of this namespace. */
function state(dev: string): { flags: string[]; promiscuity: number; disableIpv6: string } {
  const [info] = JSON.parse(
    execFileSync('ip', ['-d', '-j', 'link', 'show', 'dev', dev], { encoding: 'utf8' }),
  ) as {
    flags: string[];
    promiscuity: number;
  }[];
  return {
    flags: info!.flags,
    promiscuity: info!.promiscuity,
    disableIpv6: readFileSync(`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`, 'utf8').trim(),
  };
}

/** RFC 826 ARP reply: "OUR_IP is at OUR_MAC", to `dstMac`/`dstIp`. */
function arpReply(dstMac: Mac, dstIp: number[]): Uint8Array {
  const f = new Uint8Array(42);
  writeMac(f, 0, dstMac);
  writeMac(f, 6, OUR_MAC);
  f.set([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 2], 12);
  writeMac(f, 22, OUR_MAC);
  f.set(OUR_IP, 28);
  writeMac(f, 32, dstMac);
  f.set(dstIp, 38);
  return f;
}

/** A frame of the test EtherType to `dst` carrying sequence number `seq`, `len` bytes long. */
function testFrame(dst: Mac, seq: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  writeMac(f, 0, dst);
  writeMac(f, 6, OUR_MAC);
  f[12] = ETHERTYPE_TEST >>> 8;
  f[13] = ETHERTYPE_TEST & 0xff;
  new DataView(f.buffer).setUint32(14, seq);
  for (let i = 18; i < len; i++) f[i] = (seq + i) & 0xff;
  return f;
}

/**
 * python3 in the namespace sends `count` frames of the test EtherType on `dev` (sequence numbers
 * 0..count-1, lengths cycling from 60 to 1514, or `size` when given), 50 at a time, then prints
 * `sent N`.
 */
const INJECT_PY = `
import socket, struct, sys, time
dev, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
src = s.getsockname()[4]
for seq in range(count):
    n = size if size > 0 else 60 + (seq * 97) % (1514 - 60 + 1)
    body = bytes((seq + i) & 0xff for i in range(18, n))
    s.send(b'\\xff' * 6 + src + struct.pack('!HI', 0x${ETHERTYPE_TEST.toString(16)}, seq) + body)
    if seq % 50 == 49:
        time.sleep(0.002)  # the veth's receive backlog holds 1000 frames (netdev_max_backlog)
print('sent', count, flush=True)
`;

async function inject(ns: NetNs, dev: string, count: number, size = 0): Promise<void> {
  const r = await collect(ns.spawn('python3', ['-c', INJECT_PY, dev, String(count), String(size)]), 20_000);
  if (!r.stdout.includes(`sent ${count}`)) throw new Error(`inject: ${r.stderr}`);
}

/**
 * python3 in the namespace listens for frames of the test EtherType on `dev` (before this returns)
 * and prints the sequence numbers of the first `count`, or of those that came within 5 s.
 */
const LISTEN_PY = `
import socket, struct, sys
dev, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x${ETHERTYPE_TEST.toString(16)}))
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE: a whole burst waits here
s.bind((dev, 0))
print('listening', flush=True)
s.settimeout(5)
seqs = []
try:
    while len(seqs) < count:
        seqs.append(struct.unpack('!I', s.recv(2048)[14:18])[0])
except socket.timeout:
    pass
print('heard', *seqs, flush=True)
`;

/** Starts LISTEN_PY; resolves once it listens, to the sequence numbers it will have heard. */
function listen(ns: NetNs, dev: string, count: number): Promise<{ heard: Promise<number[]> }> {
  return listenFor(ns, LISTEN_PY, [dev, String(count)]);
}

function expectTestFrame(f: Uint8Array, seq: number): void {
  expect(u16(f, 12)).toBe(ETHERTYPE_TEST);
  expect(new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(14)).toBe(seq);
  const n = 60 + ((seq * 97) % (1514 - 60 + 1));
  expect(f.length).toBe(n);
  for (let i = 18; i < n; i += 97) expect(f[i]).toBe((seq + i) & 0xff);
}

describe.skipIf(!canTap)('PacketLink (AF_PACKET rings on a veth end)', () => {
  it('takes the interface over while open and gives it back as it was on close', async () => {
    const pair = makePair();
    let link: PacketLink | undefined;
    try {
      const before = state(pair.ours);
      expect(before.flags).not.toContain('NOARP');
      expect(before.flags).not.toContain('UP');
      expect(before.disableIpv6).toBe('0');
      link = PacketLink.open(pair.ours);
      expect(link.mtu).toBe(1500); // the interface's own
      const during = state(pair.ours);
      expect(during.flags).toEqual(expect.arrayContaining(['NOARP', 'UP']));
      expect(during.promiscuity).toBe(before.promiscuity + 1);
      expect(during.disableIpv6).toBe('1');
      await link.close();
      link = undefined;
      const after = state(pair.ours);
      expect(after.flags).not.toContain('NOARP');
      expect(after.flags).not.toContain('UP');
      expect(after.promiscuity).toBe(before.promiscuity);
      expect(after.disableIpv6).toBe('0');
    } finally {
      await link?.close();
      pair.ns.delete();
      deleteLink(pair.ours);
    }
  });

  it('refuses an interface on which the kernel has addresses, changing nothing', () => {
    const pair = makePair();
    try {
      execFileSync('ip', ['addr', 'add', '10.198.1.1/24', 'dev', pair.ours]);
      const before = state(pair.ours);
      expect(() => PacketLink.open(pair.ours)).toThrow(
        /kernel has addresses on .*10\.198\.1\.1\/24.*ip addr flush/,
      );
      expect(state(pair.ours)).toEqual(before);
      // Not owning it, the link opens anyway (the caller answers for the kernel's behaviour).
      return PacketLink.open(pair.ours, { own: false }).close();
    } finally {
      pair.ns.delete();
      deleteLink(pair.ours);
    }
  });

  it('refuses an interface that does not exist', () => {
    expect(() => PacketLink.open(uniqueIfName())).toThrow(/no such interface/);
  });

  it('receives the kernel ARP requests, and the kernel believes the ARP reply we write', async () => {
    await withLink(async (link, { ns, peer }) => {
      const kmac = macOf(ns, peer);
      const arps: Uint8Array[] = [];
      const echoes: Uint8Array[] = [];
      const fromUs: number[] = [];
      link.onFrame((f) => {
        if (f.subarray(6, 12).every((b, i) => b === [2, 0, 0, 0xc6, 0, 2][i])) fromUs.push(f.length);
        const type = u16(f, 12);
        if (type === 0x0806) arps.push(new Uint8Array(f));
        if (type === 0x0800 && f[23] === 1 && f[34] === 8) echoes.push(new Uint8Array(f));
      });
      const pinger = ns.spawn('ping', ['-c', '20', '-i', '0.1', '-W', '1', OUR_IP.join('.')]);
      const ping = collect(pinger);
      try {
        await waitFor('an ARP request from the kernel', () => arps.length > 0);
        const req = arps[0]!;
        expect(req.subarray(0, 6)).toEqual(new Uint8Array(6).fill(0xff));
        expect(u16(req, 20)).toBe(1); // op request
        expect([...req.subarray(28, 32)]).toEqual(KERNEL_IP);
        expect([...req.subarray(38, 42)]).toEqual(OUR_IP);
        link.send(arpReply(kmac, KERNEL_IP));
        await waitFor('an ICMP echo request to our MAC', () => echoes.length > 0);
        expect(echoes[0]!.subarray(0, 6)).toEqual(Uint8Array.from([2, 0, 0, 0xc6, 0, 2]));
        expect(ns.run('ip', 'neigh', 'show', OUR_IP.join('.'), 'dev', peer)).toContain(macToString(OUR_MAC));
      } finally {
        pinger.kill('SIGTERM');
        await ping;
      }
      expect(link.counters.framesOut).toBe(1);
      expect(link.counters.bytesOut).toBe(42);
      expect(link.counters.framesIn).toBeGreaterThanOrEqual(2);
      // Our own frame going out is not handed back to us (PACKET_IGNORE_OUTGOING).
      expect(fromUs).toEqual([]);
      expect(link.packetCounters.wakeups).toBeGreaterThan(0);
      expect(link.packetCounters.blocks).toBeGreaterThanOrEqual(link.packetCounters.wakeups);
    });
  });

  it.each([
    ['TPACKET_V3', { blockSize: 64 * 1024, blocks: 32, retireMs: 20, version: 3 }],
    ['TPACKET_V2', { blockSize: 64 * 1024, blocks: 128, version: 2 }],
  ] as const)('%s: hands up every frame of a burst, in order and intact, around the ring', async (_, ring) => {
    // V3: 32 blocks of 64 KiB hold one whole burst (about 1.7 MB with the headers), and with a 20 ms
    // retire timeout blocks are handed over full rather than every millisecond, so nothing is
    // dropped however late we wake up on a loaded machine. V2: 4096 slots of 2 KiB, likewise. The
    // second burst wraps around the ring.
    await withLink(async (link, { ns, peer }) => {
      const seqs: number[] = [];
      let bad = 0;
      let seen = 0;
      const burstEnds: number[] = [];
      link.onBurstEnd(() => burstEnds.push(seen));
      link.onFrame((f) => {
        seen++;
        if (u16(f, 12) !== ETHERTYPE_TEST) return;
        const seq = new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(14);
        try {
          expectTestFrame(f, seq);
        } catch {
          bad++;
        }
        seqs.push(seq);
      });
      const count = 2000;
      for (let round = 1; round <= 2; round++) {
        await inject(ns, peer, count);
        try {
          await waitFor('the burst', () => seqs.length >= round * count, 10_000);
        } catch {
          link.readKernelStats();
          throw new Error(
            `burst ${round}: ${seqs.length} frames; ${JSON.stringify(link.packetCounters)} ${JSON.stringify(link.counters)} ${execFileSync('ip', ['-s', 'link', 'show', 'dev', link.name], { encoding: 'utf8' })}`,
          );
        }
      }
      expect(bad).toBe(0);
      const want = Array.from({ length: count }, (_, i) => i);
      expect(seqs).toEqual([...want, ...want]);
      // Every burst (a poll wake-up) is closed by one call after its last frame.
      expect(burstEnds.at(-1)).toBe(seen);
      expect(burstEnds.length).toBeLessThanOrEqual(seen);
      link.readKernelStats();
      expect(link.packetCounters.kernelDrops).toBe(0);
      // Around the ring: 32 blocks (V3), 4096 frames (V2).
      if (ring.version === 3) expect(link.packetCounters.blocks).toBeGreaterThan(32);
      expect(link.counters.framesIn).toBeGreaterThanOrEqual(2 * count);
      expect(link.counters.drops.oversize).toBe(0);
    }, ring);
  });

  it.each([
    ['from the event loop', false],
    ['from the transmit thread', true],
  ] as const)('writes a burst larger than the transmit ring %s: the rest waits, nothing is lost, the order kept', async (_, txThread) => {
    await withLink(
      async (link, { ns, peer }) => {
        link.onFrame(() => {});
        const kmac = macOf(ns, peer);
        const count = 3000;
        const { heard } = await listen(ns, peer, count);
        for (let i = 0; i < count; i++) link.send(testFrame(kmac, i, 1000));
        // 3000 frames through 64 slots: most waited for the kernel to free slots.
        expect(link.txQueued).toBeGreaterThan(0);
        await waitFor('the queue to drain', () => link.txQueued === 0, 10_000);
        expect(await heard).toEqual(Array.from({ length: count }, (_, i) => i));
        expect(link.counters.framesOut).toBe(count);
        expect(link.counters.bytesOut).toBe(count * 1000);
        expect(link.counters.drops['queue-full']).toBe(0);
        expect(link.packetCounters.txRingFull).toBeGreaterThan(0);
        expect(link.packetCounters.txKicks).toBeGreaterThan(1);
        if (txThread) expect(link.packetCounters.txThreadKicks).toBeGreaterThan(0);
        else expect(link.packetCounters.txThreadKicks).toBe(0);
      },
      { txFrames: 64, txQueueLen: 4096, txThread },
    );
  });

  it('sends what was marked before close() through the transmit thread', async () => {
    const pair = makePair();
    try {
      const link = PacketLink.open(pair.ours, { mtu: 1500, txThread: true });
      link.onFrame(() => {});
      const kmac = macOf(pair.ns, pair.peer);
      const { heard } = await listen(pair.ns, pair.peer, 200);
      for (let i = 0; i < 200; i++) link.send(testFrame(kmac, i, 500));
      // No turn of the event loop between: close() hands them to the thread and stops it.
      await link.close();
      expect(link.packetCounters.txThreadKicks).toBe(1);
      expect(await heard).toEqual(Array.from({ length: 200 }, (_, i) => i));
    } finally {
      pair.ns.delete();
      deleteLink(pair.ours);
    }
  });

  it('drops what does not fit its queue as queue-full, and never throws', async () => {
    await withLink(
      async (link, { ns, peer }) => {
        link.onFrame(() => {});
        const kmac = macOf(ns, peer);
        for (let i = 0; i < 100; i++) link.send(testFrame(kmac, i, 200));
        // 16 slots and 8 waiting: the kernel cannot have freed anything within this turn.
        expect(link.counters.drops['queue-full']).toBeGreaterThan(0);
        expect(link.counters.framesOut + link.txQueued + link.counters.drops['queue-full']).toBe(100);
      },
      { txFrames: 16, txQueueLen: 8 },
    );
  });

  it.each([
    3, 2,
  ] as const)('TPACKET_V%s: sends back a received frame lent from the ring (rewritten in place)', async (version) => {
    await withLink(
      async (link, { ns, peer }) => {
        const kmac = macOf(ns, peer);
        let echoed = 0;
        link.onFrame((f) => {
          if (u16(f, 12) !== ETHERTYPE_TEST) return;
          // Rewrite the MACs in place and lend the view of the ring to send().
          writeMac(f, 0, kmac);
          writeMac(f, 6, OUR_MAC);
          link.send(f);
          echoed++;
        });
        const before = ns.linkStats(peer).rxPackets;
        await inject(ns, peer, 300);
        await waitFor(
          'the echoes',
          () => {
            link.readKernelStats();
            return echoed + link.packetCounters.kernelDrops >= 300;
          },
          10_000,
        );
        await waitFor(
          'the peer to count them',
          () => ns.linkStats(peer).rxPackets - before >= echoed,
          10_000,
        );
        expect(link.counters.lent).toBe(echoed);
        expect(link.counters.lentCopied).toBe(0);
        expect(link.counters.framesOut).toBe(echoed);
      },
      { version },
    );
  });

  it('drops frames longer than its MTU (super-frames) under oversize and superFrames', async () => {
    // The interfaces take 4000-byte frames; the link's MTU is 1500.
    await withLink(
      async (link, { ns, peer }) => {
        let seen = 0;
        link.onFrame((f) => {
          if (u16(f, 12) === ETHERTYPE_TEST) seen++;
        });
        await inject(ns, peer, 3, 3000);
        await waitFor('the drops', () => link.packetCounters.superFrames >= 3, 5000);
        expect(seen).toBe(0);
        expect(link.counters.drops.oversize).toBe(3);
      },
      { ifMtu: 4000 },
    );
  });

  it('counts sends after close as closed drops, and closes once', async () => {
    const pair = makePair();
    try {
      const link = PacketLink.open(pair.ours);
      const closing = link.close();
      expect(link.close()).toBe(closing);
      await closing;
      link.send(testFrame(OUR_MAC, 0, 60));
      expect(link.counters.drops.closed).toBe(1);
    } finally {
      pair.ns.delete();
      deleteLink(pair.ours);
    }
  });
});
