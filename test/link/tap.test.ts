/**
 * TapLink against the Linux kernel. Root only: each test opens a uniquely named TAP, moves it into
 * a private namespace of its own (the fd keeps working), talks to the kernel on the other side and
 * deletes everything in finally. Addresses: the kernel is 10.199.0.1/24, we pretend to be 10.199.0.2.
 */
import { execFileSync, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Mac, macToString, parseMac, writeMac } from '../../src/addr.js';
import { u16 } from '../../src/bytes.js';
import { TapLink } from '../../src/link/tap.js';
import { canTap, collect, deleteLink, linkExists, NetNs, uniqueIfName, waitFor } from '../support/netns.js';

const KERNEL_IP = [10, 199, 0, 1];
const OUR_IP = [10, 199, 0, 2];
const OUR_MAC = 0x02_00_00_c7_00_02 as Mac;
const ROOT = resolve(import.meta.dirname, '../..');

/** A TAP in a fresh namespace with the kernel side addressed and up. */
async function withTap(
  fn: (tap: TapLink, ns: NetNs) => Promise<void>,
  opts: { mtu?: number; kernelMtu?: number } = {},
): Promise<void> {
  const name = uniqueIfName();
  let tap: TapLink | undefined;
  let ns: NetNs | undefined;
  try {
    tap = TapLink.open(name, opts.mtu === undefined ? {} : { mtu: opts.mtu });
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

  it('writes every frame of a burst queued in one event-loop turn', async () => {
    await withTap(async (tap, ns) => {
      const kmac = kernelMac(ns, tap.name);
      tap.onFrame(() => {});
      const before = ns.linkStats(tap.name).rxPackets;
      const payload = new Uint8Array(1000);
      for (let i = 0; i < 500; i++) tap.send(udpFrame(kmac, 40000, 9, payload));
      expect(tap.txQueued).toBe(500);
      await new Promise((r) => setImmediate(r));
      expect(tap.txQueued).toBe(0);
      expect(tap.counters.framesOut).toBe(500);
      expect(ns.linkStats(tap.name).rxPackets - before).toBe(500);
    });
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

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}
