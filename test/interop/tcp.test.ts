/**
 * TCP between Oasis and the Linux kernel over a TAP, in private network namespaces:
 * - `oasis up` as a server: curl GET and POST of 50 MB over IPv4 (and less over IPv6) checked by
 *   SHA-256, nc to echo (RFC 862), discard (RFC 863) and chargen (RFC 864), RST for a SYN to a closed
 *   port (RFC 9293 §3.10.7.1), a clean exit, and tshark's verdict on the capture;
 * - an in-process Oasis stack as a client of a kernel server (test/interop/tcp-peer.py): a few MB
 *   both ways with each side half-closing in turn, then `stack.close()` leaving nothing behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { macToString, parseIpv4Cidr, parseIpv6Cidr } from '../../src/addr.js';
import { addresses } from '../../src/ipv6/ndp.js';
import { PcapWriter } from '../../src/link/pcap.js';
import { RealScheduler } from '../../src/link/real-clock.js';
import type { Interface } from '../../src/stack/iface.js';
import { Stack } from '../../src/stack/stack.js';
import type { TcpSocket } from '../../src/stack/tcp.js';
import { type OasisOnTap, useLab } from '../support/lab.js';
import { canTap, collect, type NetNs, waitFor } from '../support/netns.js';
import { hasTshark, type OasisHost } from '../support/oasis.js';
import {
  curlGet,
  curlPost,
  oasisTcpCounters,
  sha256File,
  tsharkBadFrames,
  tsharkCount,
  tsharkDescribe,
} from '../support/routed.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe.skipIf(!canTap)('TCP: oasis up serving Linux clients over a TAP', () => {
  const lab = useLab();
  let o: OasisOnTap;
  let ns: NetNs;
  let host: OasisHost;
  let dir: string;
  let OASIS: string;
  let OASIS6: string;
  let STATUS: string;
  // The subnet is picked when the suite starts: test names say the version, not the address.
  const at = (version: 'IPv4' | 'IPv6') => (version === 'IPv4' ? OASIS : OASIS6);

  beforeAll(async () => {
    dir = lab.dir();
    o = await lab.oasisOnTap({
      ipv6: true,
      args: ['--echo', '7', '--discard', '9', '--chargen', '19', '--http', '80'],
      pcap: 'run.pcap',
    });
    ({ ns, host, oasis4: OASIS, oasis6: OASIS6 } = o);
    STATUS = `http://${OASIS}/`;
  });

  it('sends 50 MB to curl over IPv4 intact (GET /bytes/N, SHA-256 in x-sha256)', async () => {
    const r = await curlGet(ns, `http://${OASIS}/bytes/50000000`, 60_000);
    expect(r.status).toBe(200);
    expect(r.length).toBe(50_000_000);
    expect(r.headerSha).toMatch(/^[0-9a-f]{64}$/);
    expect(r.bodySha).toBe(r.headerSha);
  }, 70_000);

  it('sends 5 MB to curl over IPv6 intact', async () => {
    const r = await curlGet(ns, `http://[${OASIS6}]/bytes/5000000`, 30_000);
    expect(r.length).toBe(5_000_000);
    expect(r.bodySha).toBe(r.headerSha);
  });

  it('receives a 50 MB POST from curl over IPv4 intact (POST /sha256)', async () => {
    const file = join(dir, 'upload');
    writeFileSync(file, randomBytes(50_000_000));
    const want = await sha256File(file);
    const r = await curlPost(ns, `http://${OASIS}/sha256`, file, 60_000);
    expect(r).toMatchObject({ sha: want, length: 50_000_000 });
    rmSync(file);
  }, 70_000);

  it('receives a 5 MB POST from curl over IPv6 intact', async () => {
    const file = join(dir, 'upload6');
    writeFileSync(file, randomBytes(5_000_000));
    const r = await curlPost(ns, `http://[${OASIS6}]/sha256`, file, 30_000);
    expect(r).toMatchObject({ sha: await sha256File(file), length: 5_000_000 });
  });

  it.each(['IPv4', 'IPv6'] as const)('echoes 1 MB back to nc -N over %s (RFC 862)', async (version) => {
    const addr = at(version);
    const file = join(dir, 'echo-in');
    writeFileSync(file, randomBytes(1_000_000));
    // -N: shut down our sending side at stdin's EOF; nc then reads until Oasis's FIN.
    const r = await ns.exec('bash', ['-c', `set -o pipefail; nc -N -w 10 ${addr} 7 < ${file} | sha256sum`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split(' ')[0]).toBe(await sha256File(file));
  });

  it('discards 1 MB from nc and counts it (RFC 863)', async () => {
    const before = await oasisTcpCounters(ns, STATUS);
    const t0 = performance.now();
    const r = await ns.exec('bash', [
      '-c',
      `set -o pipefail; head -c 1000000 /dev/urandom | nc -N -w 10 ${OASIS} 9`,
    ]);
    // Discard closes its side once ours is closed: nc exits on its own, long before -w.
    expect(r.code, r.stderr).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
    const after = await oasisTcpCounters(ns, STATUS);
    expect(after['bytes-in']! - before['bytes-in']!).toBeGreaterThanOrEqual(1_000_000);
    expect(after['fin-received']! - before['fin-received']!).toBeGreaterThanOrEqual(1);
  });

  it('sends RFC 864 chargen lines to nc', async () => {
    // head takes 8000 bytes and exits; nc dies on the broken pipe and the kernel resets the connection.
    const r = await ns.exec('bash', ['-c', `nc -d -w 5 ${OASIS} 19 | head -c 8000`]);
    expect(r.stdout.length).toBe(8000);
    const lines = r.stdout.split('\r\n');
    const full = lines.slice(0, -1);
    expect(full.length).toBe(Math.floor(8000 / 74));
    const first = full[0]!.charCodeAt(0) - 32;
    for (const [n, line] of full.entries()) {
      // Line n holds 72 of the 95 printable characters, starting one further on than line n-1.
      const want = Array.from({ length: 72 }, (_, i) =>
        String.fromCharCode(32 + ((first + n + i) % 95)),
      ).join('');
      expect(line, `line ${n}`).toBe(want);
    }
    expect(full[0]).toBe(' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg');
  });

  it.each([
    'IPv4',
    'IPv6',
  ] as const)('answers a SYN to closed port 4444 over %s with RST: nc -z is refused at once', async (version) => {
    const addr = at(version);
    const t0 = performance.now();
    const r = await ns.exec('nc', ['-z', '-v', '-w', '2', addr, '4444']);
    const ms = performance.now() - t0;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/refused/i);
    // A timeout would take the whole -w 2 s.
    expect(ms).toBeLessThan(1500);
  });

  it('exits cleanly, and tshark finds no malformed frame or bad checksum among those it sent', async () => {
    const { code } = await host.stop();
    expect(code).toBe(0);
    if (!hasTshark) return;
    const pcap = join(dir, 'run.pcap');
    const mac = host.ready.mac!;
    const bad = tsharkBadFrames(pcap, mac);
    expect(bad, tsharkDescribe(pcap, bad)).toBe('');
    // What Oasis answered to the SYNs for the closed port: RST|ACK from port 4444, both versions.
    expect(tsharkCount(pcap, `eth.src == ${mac} && ip && tcp.srcport == 4444 && tcp.flags.reset == 1`)).toBe(
      1,
    );
    expect(
      tsharkCount(pcap, `eth.src == ${mac} && ipv6 && tcp.srcport == 4444 && tcp.flags.reset == 1`),
    ).toBe(1);
  }, 60_000);
});

type Mode = 'concurrent' | 'after-eof' | 'first';

describe.skipIf(!canTap)('TCP: an in-process Oasis client of a Linux server over a TAP', () => {
  const lab = useLab();
  let ns: NetNs;
  let tap: string;
  let stack: Stack;
  let scheduler: RealScheduler;
  let iface: Interface;
  let pcap: PcapWriter;
  let dir: string;
  let KERNEL: string;
  let KERNEL6: string;
  const PEER = resolve(import.meta.dirname, 'tcp-peer.py');
  let nextPort = 5001;

  beforeAll(async () => {
    dir = lab.dir();
    ns = lab.namespace();
    const subnet = lab.subnet();
    KERNEL = subnet.ip4(1);
    KERNEL6 = subnet.ip6(1);
    const tapLink = lab.openTap(ns, subnet, { mtu: 1500, ipv6: true });
    tap = tapLink.name;
    scheduler = new RealScheduler();
    const epochMicros = Date.now() * 1000 - performance.now() * 1000;
    pcap = PcapWriter.open(join(dir, 'client.pcap'));
    tapLink.capture = (frame) => pcap.write(frame, Math.round(epochMicros + performance.now() * 1000));
    stack = new Stack({ scheduler, seed: 88 });
    lab.defer(async () => {
      await stack.close();
      scheduler.cancelAll();
      pcap.close();
    });
    iface = stack.addInterface({
      link: tapLink,
      ipv4: [parseIpv4Cidr(subnet.cidr4(2))!],
      ipv6: [parseIpv6Cidr(subnet.cidr6(2))!],
    });
    // RFC 4862 §5.4: our IPv6 addresses are usable once DAD is over.
    await waitFor('DAD', () => addresses(iface.ndp).every((a) => a.state !== 'tentative'), 10_000);
  });

  /**
   * Runs tcp-peer.py in MODE on the kernel side, connects to it from Oasis and moves `n` random
   * bytes each way; when we send depends on the mode (see tcp-peer.py).
   */
  async function exchange(addr: string, mode: Mode, n: number): Promise<void> {
    const port = nextPort++;
    const server = ns.spawn('python3', [PEER, addr, String(port), mode, String(n)]);
    const done = collect(server, 30_000);
    await new Promise<void>((res, rej) => {
      let out = '';
      server.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('listening')) res();
      });
      server.on('close', () => rej(new Error(`tcp-peer.py exited before listening: ${out}`)));
    });
    const payload = randomBytes(n);
    // Half-open as in node:net: 'first' sends after the kernel's FIN.
    const sock: TcpSocket = stack.tcp.connect({ host: addr, port, allowHalfOpen: true });
    const received = createHash('sha256');
    let receivedLen = 0;
    const closed = new Promise<void>((res, rej) => {
      sock.on('error', rej);
      sock.on('close', () => res());
    });
    const ended = new Promise<void>((res) => sock.on('end', res));
    sock.on('data', (c: Buffer) => {
      received.update(c);
      receivedLen += c.length;
    });
    if (mode === 'first') {
      // The kernel sends and closes first: we send from CLOSE-WAIT (RFC 9293 §3.6).
      await ended;
      sock.end(payload);
    } else {
      // concurrent: both ways at once; after-eof: our FIN goes first and we read in FIN-WAIT-2.
      sock.end(payload);
    }
    await closed;
    const result = await done;
    expect(result.code, result.stderr).toBe(0);
    const peer = JSON.parse(result.stdout.split('\n')[1]!) as {
      receivedSha: string;
      receivedLen: number;
      sentSha: string;
      sentLen: number;
    };
    expect(peer.receivedLen).toBe(n);
    expect(peer.receivedSha).toBe(sha256(payload));
    expect(receivedLen).toBe(n);
    expect(received.digest('hex')).toBe(peer.sentSha);
  }

  it.each<Mode>([
    'concurrent',
    'after-eof',
    'first',
  ])('moves 4 MB each way with a kernel server over IPv4 (%s)', async (mode) => {
    await exchange(KERNEL, mode, 4_000_000);
  });

  it('moves 4 MB each way with a kernel server over IPv6 (concurrent)', async () => {
    await exchange(KERNEL6, 'concurrent', 4_000_000);
  });

  it('is refused by a closed kernel port (the kernel answers RST)', async () => {
    const sock = stack.tcp.connect({ host: KERNEL, port: 4444 });
    const err = await new Promise<NodeJS.ErrnoException>((res) => sock.on('error', res));
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('closes leaving no timer and no TAP behind; tshark finds nothing wrong in what it sent', async () => {
    const mac = macToString(iface.mac);
    await stack.close();
    expect(scheduler.pending).toBe(0);
    scheduler.cancelAll();
    // Closing the TAP's only fd deletes the (non-persistent) device.
    expect(() => ns.run('ip', 'link', 'show', 'dev', tap)).toThrow();
    pcap.close();
    if (!hasTshark) return;
    const file = join(dir, 'client.pcap');
    expect(tsharkCount(file, `eth.src == ${mac} && tcp`)).toBeGreaterThan(1000);
    const bad = tsharkBadFrames(file, mac);
    expect(bad, tsharkDescribe(file, bad)).toBe('');
  });
});
