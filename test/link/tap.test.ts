/**
 * TapLink against the Linux kernel. Root only: each test opens a uniquely named TAP, moves it into
 * a private namespace of its own (the fd keeps working), talks to the kernel on the other side and
 * deletes everything in finally. Addresses: the kernel is 10.199.0.1/24, we pretend to be 10.199.0.2.
 *
 * The forwarding tests put two TAPs in two namespaces: python3 injects frames on A's kernel side
 * with an AF_PACKET socket, a handler rewrites each in place and lends it to B, and another AF_PACKET
 * socket on B's kernel side reports the length and CRC-32 of every frame B wrote, in order.
 */
import { execFileSync, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type Mac, macToString, parseMac, writeMac } from '../../src/addr.js';
import { u16 } from '../../src/bytes.js';
import { TapLink, type TapOptions } from '../../src/link/tap.js';
import {
  canTap,
  collect,
  deleteLink,
  linkExists,
  listenFor,
  NetNs,
  uniqueIfName,
  waitFor,
} from '../support/netns.js';

const KERNEL_IP = [10, 199, 0, 1];
const OUR_IP = [10, 199, 0, 2];
const OUR_MAC = 0x02_00_00_c7_00_02 as Mac;
const ROOT = resolve(import.meta.dirname, '../..');

/** A TAP in a fresh namespace with the kernel side addressed and up. */
async function withTap(
  fn: (tap: TapLink, ns: NetNs) => Promise<void>,
  opts: { mtu?: number; kernelMtu?: number; txThread?: boolean } = {},
): Promise<void> {
  const name = uniqueIfName();
  let tap: TapLink | undefined;
  let ns: NetNs | undefined;
  try {
    tap = TapLink.open(name, {
      ...(opts.mtu === undefined ? {} : { mtu: opts.mtu }),
      ...(opts.txThread === undefined ? {} : { txThread: opts.txThread }),
    });
    ns = NetNs.create();
    ns.adopt(name);
    if (opts.kernelMtu !== undefined) ns.run('ip', 'link', 'set', name, 'mtu', String(opts.kernelMtu));
    ns.run('ip', 'addr', 'add', `${KERNEL_IP.join('.')}/24`, 'dev', name);
    ns.run('ip', 'link', 'set', name, 'up');
    await fn(tap, ns);
  } finally {
    await tap?.close();
    ns?.delete();
    deleteLink(name);
  }
}

/** RFC 1071 checksum, written out here so the test does not lean on the code under test elsewhere. */
function inetChecksum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2 === 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
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

/** An IPv4 UDP datagram (RFC 791, RFC 768) from OUR_IP:sport to the kernel, both checksums valid. */
function udpFrame(dstMac: Mac, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const udpLen = 8 + payload.length;
  const f = new Uint8Array(14 + 20 + udpLen);
  writeMac(f, 0, dstMac);
  writeMac(f, 6, OUR_MAC);
  f.set([0x08, 0x00], 12);
  const ip = f.subarray(14, 34);
  ip.set([0x45, 0, (20 + udpLen) >>> 8, (20 + udpLen) & 0xff, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0]);
  ip.set(OUR_IP, 12);
  ip.set(KERNEL_IP, 16);
  const ipSum = inetChecksum(ip);
  ip[10] = ipSum >>> 8;
  ip[11] = ipSum & 0xff;
  const udp = f.subarray(34);
  udp.set([sport >>> 8, sport & 0xff, dport >>> 8, dport & 0xff, udpLen >>> 8, udpLen & 0xff, 0, 0]);
  udp.set(payload, 8);
  // Pseudo-header (RFC 768): source, destination, zero + protocol, UDP length.
  const pseudo = new Uint8Array([...OUR_IP, ...KERNEL_IP, 0, 17, udpLen >>> 8, udpLen & 0xff]);
  const partial = ~inetChecksum(pseudo) & 0xffff;
  const sum = inetChecksum(udp, partial) || 0xffff;
  udp[6] = sum >>> 8;
  udp[7] = sum & 0xff;
  return f;
}

/**
 * python3 in `ns` listens on UDP `port` (before this returns) and reports the first 4 bytes of each
 * of the first `count` datagrams, or of those that came within 5 s, as numbers.
 */
async function listenUdp(ns: NetNs, port: number, count: number): Promise<{ heard: Promise<number[]> }> {
  const py = `
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE: a whole burst waits here
s.bind(('0.0.0.0', int(sys.argv[1])))
print('listening', flush=True)
s.settimeout(5)
seqs = []
try:
    while len(seqs) < int(sys.argv[2]):
        seqs.append(struct.unpack('!I', s.recv(2048)[:4])[0])
except socket.timeout:
    pass
print('heard', *seqs, flush=True)
`;
  return listenFor(ns, py, [String(port), String(count)]);
}

function kernelMac(ns: NetNs, ifname: string): Mac {
  const mac = parseMac(ns.linkInfo(ifname).address);
  if (mac === undefined) throw new Error('no kernel MAC');
  return mac;
}

/** Runs a script in a child Node process with tsx, so it can import the TypeScript sources. */
function child(script: string) {
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe.skipIf(!canTap)('TapLink (Linux TAP in a private namespace)', () => {
  it('receives the kernel ARP requests, and the kernel believes the ARP reply we write', async () => {
    await withTap(async (tap, ns) => {
      const kmac = kernelMac(ns, tap.name);
      const arps: Uint8Array[] = [];
      const echoes: Uint8Array[] = [];
      tap.onFrame((f) => {
        const type = u16(f, 12);
        // A copy: the frame is only valid during the call.
        if (type === 0x0806) arps.push(new Uint8Array(f));
        if (type === 0x0800 && f[23] === 1 && f[34] === 8) echoes.push(new Uint8Array(f));
      });
      const pinger = ns.spawn('ping', ['-c', '10', '-i', '0.2', '-W', '1', OUR_IP.join('.')]);
      const ping = collect(pinger);
      try {
        await waitFor('an ARP request from the kernel', () => arps.length > 0);
        const req = arps[0]!;
        expect(req.subarray(0, 6)).toEqual(new Uint8Array(6).fill(0xff));
        expect(u16(req, 14)).toBe(1); // htype Ethernet
        expect(u16(req, 16)).toBe(0x0800); // ptype IPv4
        expect(u16(req, 20)).toBe(1); // op request
        expect([...req.subarray(28, 32)]).toEqual(KERNEL_IP);
        expect([...req.subarray(38, 42)]).toEqual(OUR_IP);

        tap.send(arpReply(kmac, KERNEL_IP));
        await waitFor('an ICMP echo request to our MAC', () => echoes.length > 0);
        const echo = echoes[0]!;
        expect(echo.subarray(0, 6)).toEqual(Uint8Array.from([2, 0, 0, 0xc7, 0, 2]));
        expect([...echo.subarray(30, 34)]).toEqual(OUR_IP);
        expect(ns.run('ip', 'neigh', 'show', OUR_IP.join('.'), 'dev', tap.name)).toContain(
          macToString(OUR_MAC),
        );
      } finally {
        pinger.kill('SIGTERM');
        await ping;
      }
      expect(tap.counters.framesOut).toBe(1);
      expect(tap.counters.framesIn).toBeGreaterThanOrEqual(2);
    });
  });

  it('a UDP datagram we write reaches a socket in the namespace, and the kernel rx counter moves', async () => {
    await withTap(async (tap, ns) => {
      const kmac = kernelMac(ns, tap.name);
      tap.onFrame(() => {});
      const before = ns.linkStats(tap.name).rxPackets;
      // OpenBSD nc: listen for one datagram (-W 1) and print it.
      const nc = ns.spawn('nc', ['-u', '-l', '-W', '1', '-n', KERNEL_IP.join('.'), '5555']);
      const out = collect(nc, 10_000);
      let got = '';
      nc.stdout!.on('data', (d: Buffer) => {
        got += d.toString();
      });
      const payload = new TextEncoder().encode('hello from oasis\n');
      let sent = 0;
      // nc may not be listening yet: resend until it has printed the payload.
      await waitFor('nc to receive the datagram', () => {
        if (!got.includes('hello from oasis') && tap.txQueued === 0) {
          tap.send(udpFrame(kmac, 40000, 5555, payload));
          sent++;
        }
        return got.includes('hello from oasis');
      });
      await out;
      expect(got).toContain('hello from oasis');
      await waitFor('the frames to be counted', () => ns.linkStats(tap.name).rxPackets - before >= sent);
      expect(tap.counters.framesOut).toBe(sent);
      expect(tap.counters.drops['io-error']).toBe(0);
    });
  });

  it.each([
    ['here', false],
    ['by the write thread', true],
  ] as const)('writes every frame of a burst queued in one event-loop turn, %s, in order', async (_, txThread) => {
    await withTap(
      async (tap, ns) => {
        const kmac = kernelMac(ns, tap.name);
        tap.onFrame(() => {});
        const { heard } = await listenUdp(ns, 9, 500);
        const before = ns.linkStats(tap.name).rxPackets;
        for (let i = 0; i < 500; i++) {
          const payload = new Uint8Array(1000);
          new DataView(payload.buffer).setUint32(0, i);
          tap.send(udpFrame(kmac, 40000, 9, payload));
        }
        expect(tap.txQueued).toBe(500);
        await new Promise((r) => setImmediate(r));
        expect(tap.txQueued).toBe(0);
        expect(tap.counters.framesOut).toBe(500);
        // Written in the flush here; by the thread soon after.
        if (!txThread) expect(ns.linkStats(tap.name).rxPackets - before).toBe(500);
        expect(await heard).toEqual(Array.from({ length: 500 }, (_, i) => i));
        expect(tap.txThreadFlushes).toBe(txThread ? 1 : 0);
      },
      { txThread },
    );
  });

  it('counts frames from the kernel above our MTU as oversize drops', async () => {
    await withTap(
      async (tap, ns) => {
        let seen = 0;
        tap.onFrame(() => seen++);
        ns.run('ip', 'neigh', 'replace', OUR_IP.join('.'), 'lladdr', macToString(OUR_MAC), 'dev', tap.name);
        await ns.exec('ping', ['-c', '1', '-W', '0.3', '-s', '2000', OUR_IP.join('.')]);
        await ns.exec('ping', ['-c', '1', '-W', '0.3', '-s', '1472', OUR_IP.join('.')]);
        await waitFor('the frames', () => tap.counters.drops.oversize + seen >= 2);
        expect(tap.counters.drops.oversize).toBe(1);
        expect(tap.counters.framesIn).toBe(seen);
        expect(tap.counters.bytesIn).toBeGreaterThanOrEqual(1514);
      },
      { mtu: 1500, kernelMtu: 9000 },
    );
  });

  it('refuses a TAP that is already attached (EBUSY) and attaches to a free persistent one', async () => {
    const name = uniqueIfName();
    const persistent = uniqueIfName();
    let tap: TapLink | undefined;
    try {
      tap = TapLink.open(name);
      expect(() => TapLink.open(name)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
      ip(['tuntap', 'add', 'dev', persistent, 'mode', 'tap']);
      const p = TapLink.open(persistent);
      expect(p.name).toBe(persistent);
      await p.close();
      // Persistent: still there after close.
      expect(linkExists(persistent)).toBe(true);
    } finally {
      await tap?.close();
      deleteLink(persistent);
      deleteLink(name);
    }
  });

  it('lets the kernel pick the number of a %d name, and rejects bad names', async () => {
    const tap = TapLink.open(`oa${process.pid % 100000}p%d`);
    try {
      expect(tap.name).toMatch(new RegExp(`^oa${process.pid % 100000}p\\d+$`));
    } finally {
      await tap.close();
    }
    expect(() => TapLink.open('')).toThrow(/invalid interface name/);
    expect(() => TapLink.open('a-name-that-is-too-long')).toThrow(/invalid interface name/);
    expect(() => TapLink.open('bad/name')).toThrow(/invalid interface name/);
  });

  it('close() releases the device, is idempotent, and later sends are counted drops', async () => {
    const name = uniqueIfName();
    try {
      const tap = TapLink.open(name);
      expect(linkExists(name)).toBe(true);
      // Down interface: the kernel refuses the write (EIO), counted, not thrown.
      tap.send(arpReply(0xffff_ffff_ffff as Mac, KERNEL_IP));
      await new Promise((r) => setImmediate(r));
      expect(tap.counters.drops['io-error']).toBe(1);
      const closing = tap.close();
      expect(tap.close()).toBe(closing);
      await closing;
      expect(linkExists(name)).toBe(false);
      tap.send(arpReply(0xffff_ffff_ffff as Mac, KERNEL_IP));
      expect(tap.counters.drops.closed).toBe(1);
    } finally {
      deleteLink(name);
    }
  });

  it('a process exits promptly after closing its TAP (no thread or poll left behind)', async () => {
    const name = uniqueIfName();
    try {
      const c = child(`
        const { TapLink } = await import('./src/link/tap.ts');
        const tap = TapLink.open(${JSON.stringify(name)});
        tap.onFrame(() => {});
        await new Promise((r) => setTimeout(r, 200)); // its poll handle is active in the event loop
        await tap.close();
        console.log('closed');
      `);
      let closedAt = 0;
      c.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('closed')) closedAt = performance.now();
      });
      const r = await collect(c, 20_000);
      const exitedAt = performance.now();
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(closedAt).toBeGreaterThan(0);
      expect(exitedAt - closedAt).toBeLessThan(2000);
      expect(linkExists(name)).toBe(false);
    } finally {
      deleteLink(name);
    }
  });

  it('a process with an open TAP stays alive (a link that is up holds the event loop)', async () => {
    const name = uniqueIfName();
    try {
      const c = child(`
        const { TapLink } = await import('./src/link/tap.ts');
        TapLink.open(${JSON.stringify(name)});
        console.log('open');
      `);
      const r = collect(c, 20_000);
      let open = false;
      c.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('open')) open = true;
      });
      await waitFor('the child to open its TAP', () => open, 15_000);
      await new Promise((res) => setTimeout(res, 1000));
      expect(c.exitCode).toBe(null);
      c.kill('SIGTERM');
      expect((await r).code).toBe(null);
      // The kernel closed the fd with the process: the TAP is gone.
      await waitFor('the TAP to disappear', () => !linkExists(name));
    } finally {
      deleteLink(name);
    }
  });

  it('an exception in a frame handler surfaces as an uncaught exception (not lost in libuv)', async () => {
    const name = uniqueIfName();
    const ns = NetNs.create();
    try {
      const c = child(`
        const { TapLink } = await import('./src/link/tap.ts');
        const tap = TapLink.open(${JSON.stringify(name)});
        tap.onFrame(() => { throw new Error('boom from a frame handler'); });
        console.log('open');
      `);
      const r = collect(c, 20_000);
      let open = false;
      c.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('open')) open = true;
      });
      await waitFor('the child to open its TAP', () => open, 15_000);
      ns.adopt(name);
      ns.run('ip', 'addr', 'add', `${KERNEL_IP.join('.')}/24`, 'dev', name);
      ns.run('ip', 'link', 'set', name, 'up');
      // The kernel's ARP request for OUR_IP is the first frame the child reads.
      void ns.exec('ping', ['-c', '1', '-W', '1', OUR_IP.join('.')], 5000);
      const done = await r;
      expect(done.code).toBe(1);
      expect(done.stderr).toContain('boom from a frame handler');
    } finally {
      ns.delete();
      deleteLink(name);
    }
  });
});

describe.skipIf(!canTap)('TapLink: lent frames, and a device that goes away', () => {
  it('forwards a burst far larger than the receive ring from TAP A to TAP B, rewritten in place, with no copy', async () => {
    const n = 2000;
    // Lengths 60..1514 in a scatter, so slots and cached views of every size are reused.
    const frames = Array.from({ length: n }, (_, i) => testFrame(i, 60 + ((i * 997) % 1455)));
    await withTwoTaps({ receiveSlots: 8 }, {}, async (a, b) => {
      let seen = 0;
      const burstEnds: number[] = [];
      a.tap.onFrame((f) => {
        seen++;
        if (u16(f, 12) !== TEST_ETHERTYPE) return;
        rewrite(f);
        b.tap.send(f);
      });
      a.tap.onBurstEnd(() => burstEnds.push(seen));
      b.tap.onFrame(() => {}); // what B's kernel side sends on its own
      // The event loop is blocked while the frames are injected, so A reads them in bursts of up
      // to 256 (readBurst) through 8 slots: a slot reused before B has written it would show.
      const got = await forward(a, b, frames);
      expect(mismatches(got, frames)).toEqual([]);
      // Every burst is closed by one call after its last frame; far fewer calls than frames.
      expect(burstEnds.at(-1)).toBe(seen);
      expect(burstEnds.length).toBeLessThan(n / 4);
      expect(b.tap.counters).toMatchObject({ lent: n, lentCopied: 0, framesOut: n });
      expect(a.tap.counters.framesIn).toBeGreaterThanOrEqual(n);
      expect(totalDrops(a.tap) + totalDrops(b.tap)).toBe(0);
    });
  });

  it.each([
    ['a blocked writer copies the frames it holds when the lender needs its slots', false],
    ['the write thread waits for room on a full fd (EAGAIN) while A reads on', true],
  ] as const)('%s: nothing lost or reordered', async (_, txThread) => {
    const n = 300;
    const frames = Array.from({ length: n }, (_, i) => testFrame(i, 7000 + ((i * 131) % 1000)));
    // B's kernel side is bridged to a veth whose tbf qdisc holds frames, and B's fd may have only
    // 64 KiB of them in flight: B's writes hit EAGAIN while A goes on reading into its 4 slots.
    const blocked = { mtu: 9000, sendBuffer: 65536, txThread };
    await withTwoTaps({ mtu: 9000, receiveSlots: 4 }, blocked, async (a, b) => {
      const ns = b.ns;
      ns.run('ip', 'link', 'add', 'br0', 'mtu', '9000', 'type', 'bridge');
      ns.run('ip', 'link', 'add', 'd0', 'mtu', '9000', 'type', 'veth', 'peer', 'name', 'd1', 'mtu', '9000');
      ns.run('ip', 'link', 'set', b.tap.name, 'master', 'br0');
      ns.run('ip', 'link', 'set', 'd0', 'master', 'br0');
      ns.run(
        'tc',
        'qdisc',
        'add',
        'dev',
        'd0',
        'root',
        'tbf',
        'rate',
        '200mbit',
        'burst',
        '20kb',
        'limit',
        '10mb',
      );
      for (const dev of ['d0', 'd1', 'br0']) ns.run('ip', 'link', 'set', dev, 'up');
      a.tap.onFrame((f) => {
        if (u16(f, 12) !== TEST_ETHERTYPE) return;
        rewrite(f);
        b.tap.send(f);
      });
      b.tap.onFrame(() => {});
      const got = await forward(a, b, frames);
      expect(mismatches(got, frames)).toEqual([]);
      expect(b.tap.counters.lent).toBe(n);
      // Here the frames wait in B's queue, lent, until A needs its slots; the thread takes copies.
      if (txThread) expect(b.tap.txThreadFlushes).toBeGreaterThan(0);
      else expect(b.tap.counters.lentCopied).toBeGreaterThan(0);
      expect(b.tap.counters.framesOut).toBe(n);
      expect(totalDrops(a.tap) + totalDrops(b.tap)).toBe(0);
    });
  });

  it("a lender closed while its frames wait in another TAP's queue has them copied first", async () => {
    const frames = [testFrame(0, 600)];
    await withTwoTaps({}, {}, async (a, b) => {
      a.tap.onFrame((f) => {
        if (u16(f, 12) !== TEST_ETHERTYPE) return;
        rewrite(f);
        b.tap.send(f);
        // A's slots go back to the shared ring now; B writes at the end of this callback.
        void a.tap.close();
      });
      b.tap.onFrame(() => {});
      const got = await forward(a, b, frames);
      expect(mismatches(got, frames)).toEqual([]);
      expect(b.tap.counters).toMatchObject({ lent: 1, lentCopied: 1, framesOut: 1 });
      expect(a.tap.state).toBe('closed');
    });
  });

  it('an interface set down and up again keeps working on the same fd (no reopen)', async () => {
    await withTap(async (tap, ns) => {
      let gone = 0;
      tap.onGone(() => gone++);
      const arps = arpRequests(tap);
      const kmac = kernelMac(ns, tap.name);
      await kernelArps(ns, arps);
      ns.run('ip', 'link', 'set', tap.name, 'down');
      await new Promise((r) => setTimeout(r, 100));
      // Down: the kernel refuses writes (EIO), a counted drop; the fd stays attached.
      tap.send(arpReply(kmac, KERNEL_IP));
      await new Promise((r) => setImmediate(r));
      expect(tap.counters.drops['io-error']).toBe(1);
      expect(tap.state).toBe('up');
      ns.run('ip', 'link', 'set', tap.name, 'up');
      await kernelArps(ns, arps);
      tap.send(arpReply(kmac, KERNEL_IP));
      await waitFor('the kernel to learn our MAC', () =>
        neighbour(ns, tap.name).includes(macToString(OUR_MAC)),
      );
      expect(tap.counters.drops['io-error']).toBe(1);
      expect(tap.state).toBe('up');
      expect(gone).toBe(0);
    });
  });

  it('a deleted device turns the link gone; reopen() brings the same link back on a fresh device', async () => {
    const name = uniqueIfName();
    let tap: TapLink | undefined;
    let other: TapLink | undefined;
    const spaces: NetNs[] = [];
    /** Moves the TAP into a fresh namespace and configures the kernel side, as an owner would. */
    const configure = (): NetNs => {
      const ns = NetNs.create();
      spaces.push(ns);
      ns.adopt(name);
      ns.run('ip', 'addr', 'add', `${KERNEL_IP.join('.')}/24`, 'dev', name);
      ns.run('ip', 'link', 'set', name, 'up');
      return ns;
    };
    try {
      const link = TapLink.open(name);
      tap = link;
      const states: string[] = [];
      link.onGone(() => states.push(link.state));
      const arps = arpRequests(link);
      const ns1 = configure();
      await kernelArps(ns1, arps);

      // 1. The namespace is deleted, and the TAP with it.
      ns1.delete();
      await waitFor('the link to see its device gone', () => link.state === 'gone');
      expect(states).toEqual(['gone']);
      expect(linkExists(name)).toBe(false);
      const ioErrors = link.counters.drops['io-error'];
      link.send(arpReply(0xffff_ffff_ffff as Mac, KERNEL_IP));
      expect(link.counters.drops['io-error']).toBe(ioErrors + 1);
      expect(link.reopen()).toBe(true);
      expect(link.state).toBe('up');
      expect(linkExists(name)).toBe(true);
      expect(link.reopen()).toBe(true); // attached already: nothing to do
      const ns2 = configure();
      const framesIn = link.counters.framesIn;
      await kernelArps(ns2, arps); // the same handler
      link.send(arpReply(kernelMac(ns2, name), KERNEL_IP));
      await waitFor('the kernel to learn our MAC', () => neighbour(ns2, name).includes(macToString(OUR_MAC)));
      expect(link.counters.framesIn).toBeGreaterThan(framesIn);

      // 2. `ip link del`; meanwhile someone else takes the name: reopen() fails, then succeeds.
      ns2.run('ip', 'link', 'del', name);
      await waitFor('the link to see its device gone', () => link.state === 'gone');
      expect(states).toEqual(['gone', 'gone']);
      other = TapLink.open(name);
      expect(link.reopen()).toBe(false);
      expect(link.lastError).toMatchObject({ code: 'EBUSY' });
      expect(link.state).toBe('gone');
      await other.close();
      expect(link.reopen()).toBe(true);
      expect(link.lastError).toBeUndefined();

      // 3. The gone handler may reopen at once.
      let reopened: boolean | undefined;
      link.onGone(() => {
        reopened = link.reopen();
      });
      ip(['link', 'del', name]);
      await waitFor('the handler to reopen', () => reopened !== undefined);
      expect(reopened).toBe(true);
      expect(link.state).toBe('up');
      const ns3 = configure();
      await kernelArps(ns3, arps);

      await link.close();
      expect(link.state).toBe('closed');
      expect(link.reopen()).toBe(false);
    } finally {
      await tap?.close();
      await other?.close();
      for (const ns of spaces) ns.delete();
      deleteLink(name);
    }
  });
});

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

/** IEEE 802 local experimental ethertype: the kernels on both sides leave these frames alone. */
const TEST_ETHERTYPE = 0x88b5;
const FORWARD_DST = 0x02_00_00_00_0b_01 as Mac;
const FORWARD_SRC = 0x02_00_00_00_0b_02 as Mac;

/** Frame `seq` of `len` bytes: sequence number at 14, a mark byte at 18 (0), a pattern after it. */
function testFrame(seq: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  writeMac(f, 0, 0x02_00_00_00_0a_01 as Mac);
  writeMac(f, 6, 0x02_00_00_00_0a_02 as Mac);
  f[12] = TEST_ETHERTYPE >>> 8;
  f[13] = TEST_ETHERTYPE & 0xff;
  new DataView(f.buffer).setUint32(14, seq);
  for (let j = 19; j < len; j++) f[j] = (seq * 7 + j) & 0xff;
  return f;
}

/** What the forwarding handlers do in place: new MACs, and the mark. */
function rewrite(f: Uint8Array): void {
  writeMac(f, 0, FORWARD_DST);
  writeMac(f, 6, FORWARD_SRC);
  f[18] = 0xab;
}

/** "length crc32" as the receiver prints it. */
function fingerprint(f: Uint8Array): string {
  return `${f.length} ${crc32(f).toString(16).padStart(8, '0')}`;
}

/** The first few differences between what B's kernel side saw and the frames rewritten. */
function mismatches(got: string[], sent: Uint8Array[]): string[] {
  const want = sent.map((f) => {
    const g = new Uint8Array(f);
    rewrite(g);
    return fingerprint(g);
  });
  const out: string[] = [];
  if (got.length !== want.length) out.push(`received ${got.length} frames, sent ${want.length}`);
  for (let i = 0; i < want.length && out.length < 5; i++)
    if (got[i] !== want[i]) out.push(`frame ${i}: got ${got[i]}, want ${want[i]}`);
  return out;
}

function totalDrops(l: TapLink): number {
  return Object.values(l.counters.drops).reduce((x, y) => x + y, 0);
}

/** Sends the length-prefixed frames of a file out of an interface (kernel to TAP): argv ifname file. */
const PY_SEND = `
import socket, struct, sys
data = open(sys.argv[2], 'rb').read()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
at = 0
while at < len(data):
    (n,) = struct.unpack_from('>I', data, at)
    s.send(data[at + 4:at + 4 + n])
    at += 4 + n
`;

/**
 * Prints 'ready', then "length crc32" of every frame of the test ethertype an interface receives
 * (TAP to kernel), in order, until argv count frames or argv idle seconds without one.
 */
const PY_RECEIVE = `
import socket, sys, zlib
ifname, count, idle = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(socket.SOL_SOCKET, 33, 1 << 26)  # SO_RCVBUFFORCE
s.bind((ifname, 0))
print('ready', flush=True)
s.settimeout(idle)
out = []
try:
    while len(out) < count:
        data, addr = s.recvfrom(65536)
        if addr[2] == socket.PACKET_OUTGOING or data[12:14] != b'\\x88\\xb5':
            continue
        out.append('%d %08x' % (len(data), zlib.crc32(data)))
except socket.timeout:
    pass
print('\\n'.join(out), flush=True)
`;

interface Side {
  tap: TapLink;
  ns: NetNs;
}

/** Two TAPs, each in a fresh namespace of its own with its kernel side up, IPv6 off (quiet). */
async function withTwoTaps(
  optsA: TapOptions,
  optsB: TapOptions,
  fn: (a: Side, b: Side) => Promise<void>,
): Promise<void> {
  const names = [uniqueIfName(), uniqueIfName()];
  const sides: Side[] = [];
  const spaces: NetNs[] = [];
  try {
    for (const [i, opts] of [optsA, optsB].entries()) {
      const tap = TapLink.open(names[i]!, opts);
      const ns = NetNs.create();
      sides.push({ tap, ns });
      spaces.push(ns);
      ns.run('sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1');
      ns.adopt(tap.name);
      // A kernel queue towards the TAP that holds a whole burst.
      ns.run('ip', 'link', 'set', tap.name, 'mtu', String(tap.mtu), 'txqueuelen', '4096');
      ns.run('ip', 'link', 'set', tap.name, 'up');
    }
    await fn(sides[0]!, sides[1]!);
  } finally {
    for (const s of sides) await s.tap.close();
    for (const ns of spaces) ns.delete();
    for (const n of names) deleteLink(n);
  }
}

/**
 * Injects `frames` on A's kernel side while the event loop is blocked (so they queue in the kernel
 * and A drains them in bursts), and returns what B's kernel side received.
 */
async function forward(a: Side, b: Side, frames: Uint8Array[]): Promise<string[]> {
  const file = join(tmpdir(), `oasis-${process.pid}-${a.tap.name}.frames`);
  try {
    const total = frames.reduce((x, f) => x + 4 + f.length, 0);
    const data = new Uint8Array(total);
    let at = 0;
    for (const f of frames) {
      new DataView(data.buffer).setUint32(at, f.length);
      data.set(f, at + 4);
      at += 4 + f.length;
    }
    writeFileSync(file, data);
    const receiver = b.ns.spawn('python3', ['-c', PY_RECEIVE, b.tap.name, String(frames.length), '3']);
    const done = collect(receiver, 60_000);
    let out = '';
    receiver.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await waitFor('the receiver to be ready', () => out.startsWith('ready'), 15_000);
    a.ns.run('python3', '-c', PY_SEND, a.tap.name, file);
    const r = await done;
    return r.stdout
      .split('\n')
      .slice(1)
      .filter((l) => l !== '');
  } finally {
    rmSync(file, { force: true });
  }
}

/** Counts the ARP requests a link receives. */
function arpRequests(tap: TapLink): { count: number } {
  const seen = { count: 0 };
  tap.onFrame((f) => {
    if (u16(f, 12) === 0x0806 && u16(f, 20) === 1) seen.count++;
  });
  return seen;
}

/** Makes the kernel in `ns` ask for OUR_IP, and waits for one more ARP request to arrive. */
async function kernelArps(ns: NetNs, seen: { count: number }): Promise<void> {
  const before = seen.count;
  const ping = ns.exec('ping', ['-c', '1', '-W', '1', OUR_IP.join('.')], 5000);
  await waitFor('an ARP request from the kernel', () => seen.count > before);
  await ping;
}

function neighbour(ns: NetNs, ifname: string): string {
  return ns.run('ip', 'neigh', 'show', OUR_IP.join('.'), 'dev', ifname);
}
