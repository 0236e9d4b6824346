/**
 * vnet_hdr offloads against Linux over a TAP, in private namespaces: `oasis up` asks for checksum
 * offload and TSO (the default), the kernel hands it GSO super-frames and takes Oasis's whole; a
 * 20 MB HTTP transfer each way of IP (SHA-256 checked), iperf3 both ways and UDP; the kernel's
 * checksum error counters (`nstat`) stay 0; Oasis's exit counters show super-frames received and
 * sent with their mean size; tshark finds every frame of the capture well-formed with good
 * checksums (super-frames are recorded cut, as a wire carries them). Then `--no-offload`: today's
 * path, no vnet header, the same transfer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OasisOnTap, useLab } from '../support/lab.js';
import { canTap } from '../support/netns.js';
import { hasTshark } from '../support/oasis.js';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  curlGet,
  curlPost,
  sha256File,
  tsharkBadFrames,
  tsharkCount,
  tsharkDescribe,
} from '../support/routed.js';

interface OffloadCounters {
  gsoIn: number;
  gsoInBytes: number;
  gsoOut: number;
  gsoOutBytes: number;
  csumPartialIn: number;
  csumValidIn: number;
  softSegmented: number;
  badVnet: number;
}

/** The JSON `oasis up` prints at exit (the part this test reads). */
interface ExitReport {
  counters: Record<string, number>;
  offload: OffloadCounters | 'off';
  link: { framesIn: number; framesOut: number; drops: Record<string, number> };
}

function exitReport(stdout: string): ExitReport {
  return JSON.parse(stdout.slice(stdout.indexOf('{', stdout.indexOf('ready')))) as ExitReport;
}

/** The kernel's checksum error counters in the namespace (absolute values). */
function csumErrors(o: OasisOnTap): Record<string, number> {
  const out = o.ns.run('nstat', '-az', 'TcpInCsumErrors', 'UdpInCsumErrors', 'Ip6InCsumErrors');
  const counts: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const m = /^(\w+)\s+(\d+)/.exec(line);
    if (m) counts[m[1]!] = Number(m[2]);
  }
  return counts;
}

/** `curl` of N bytes from Oasis's HTTP server: the body's SHA-256 and the one Oasis announced. */
async function fetchSha(
  o: OasisOnTap,
  host: string,
  bytes: number,
): Promise<{ got: string; announced: string }> {
  const url = `http://${host.includes(':') ? `[${host}]` : host}/bytes/${bytes}`;
  const r = await curlGet(o.ns, url, 60_000);
  expect(r.length).toBe(bytes);
  return { got: r.bodySha, announced: r.headerSha };
}

interface Iperf {
  end: { sum_received: { bytes: number; bits_per_second: number }; sum_sent: { bytes: number } };
}

/** iperf3's UDP summary, as the receiving side counted it. */
interface UdpSum {
  packets: number;
  lost_percent: number;
  bits_per_second: number;
}

async function iperf(o: OasisOnTap, args: string[]): Promise<Iperf> {
  const r = await o.ns.exec('iperf3', ['-c', o.oasis4, '-t', '3', '-J', ...args], 30_000);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Iperf;
}

describe.skipIf(!canTap)('vnet_hdr offloads with Linux over a TAP', () => {
  const lab = useLab();
  let o: OasisOnTap;
  const measured: string[] = [];
  let before: Record<string, number>;

  beforeAll(async () => {
    o = await lab.oasisOnTap({ ipv6: true, args: ['--http', '80', '--iperf3'] });
    before = csumErrors(o);
  });

  afterAll(() => {
    if (measured.length > 0) console.log(`offload interop:\n  ${measured.join('\n  ')}`);
  });

  it('asks for checksum offload, TSO and USO, and the kernel grants them', () => {
    const granted = (o.host.ready.offload ?? '').split(',');
    // USO needs Linux 6.2 (TUN_F_USO4/6); the CI kernel has it.
    expect(granted).toEqual(expect.arrayContaining(['csum', 'tso4', 'tso6', 'uso4', 'uso6']));
    const features = o.ns.run('ethtool', '-k', o.tap);
    expect(features).toMatch(/tcp-segmentation-offload: on/);
  });

  it('serves 20 MB over IPv4 and IPv6 with the right SHA-256', async () => {
    for (const host of [o.oasis4, o.oasis6]) {
      const r = await fetchSha(o, host, 20_000_000);
      expect(r.got).toBe(r.announced);
    }
  });

  it('receives 20 MB POSTed by curl intact', async () => {
    const file = join(lab.dir(), 'upload');
    writeFileSync(file, randomBytes(20_000_000));
    const r = await curlPost(o.ns, `http://${o.oasis4}/sha256`, file, 60_000);
    expect(r).toMatchObject({ sha: await sha256File(file), length: 20_000_000 });
  });

  it('runs iperf3 both ways and UDP', async () => {
    for (const args of [[], ['-R']]) {
      const doc = await iperf(o, args);
      expect(doc.end.sum_received.bytes).toBeGreaterThan(0.9 * doc.end.sum_sent.bytes);
      measured.push(
        `iperf3 ${args.join(' ') || '(kernel → Oasis)'}: ${(doc.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s`,
      );
    }
    const udp = await iperf(o, ['-u', '-b', '100M']);
    expect(udp.end.sum_received.bytes).toBeGreaterThan(0);
    // Oasis sends UDP: 64 datagrams to a send, as USO super-frames the kernel cuts.
    const udpOut = (await iperf(o, ['-u', '-R', '-b', '400M'])) as Iperf & { end: { sum: UdpSum } };
    expect(udpOut.end.sum.packets).toBeGreaterThan(10_000);
    // Losses are the receiving socket's (a 212 KB buffer against bursts of 64 datagrams).
    expect(udpOut.end.sum.lost_percent).toBeLessThan(20);
    measured.push(
      `iperf3 -u -R -b 400M (Oasis sends, USO): ${(udpOut.end.sum.bits_per_second / 1e9).toFixed(2)} Gbit/s, ${udpOut.end.sum.lost_percent.toFixed(2)} % lost`,
    );
  });

  it("leaves the kernel's checksum error counters at 0", () => {
    const after = csumErrors(o);
    for (const k of ['TcpInCsumErrors', 'UdpInCsumErrors']) expect(after[k] ?? 0, k).toBe(before[k] ?? 0);
  });

  it('counts super-frames received and sent, each far larger than a frame', async () => {
    const stopped = await o.host.stop();
    expect(stopped.code).toBe(0);
    const report = exitReport(o.host.output().stdout);
    const c = report.offload;
    expect(c).not.toBe('off');
    if (c === 'off') return;
    expect(c.gsoIn).toBeGreaterThan(100);
    expect(c.gsoOut).toBeGreaterThan(100);
    expect(c.csumPartialIn).toBeGreaterThan(0);
    expect(c.badVnet).toBe(0);
    // The UDP sends of `iperf3 -u -R` left as USO super-frames.
    expect(report.counters['udp/uso-sent']).toBeGreaterThan(100);
    const meanIn = c.gsoInBytes / c.gsoIn;
    const meanOut = c.gsoOutBytes / c.gsoOut;
    expect(meanIn).toBeGreaterThan(3 * 1514);
    expect(meanOut).toBeGreaterThan(3 * 1514);
    measured.push(
      `GSO frames received ${c.gsoIn} (mean ${meanIn.toFixed(0)} B), sent ${c.gsoOut} (mean ${meanOut.toFixed(0)} B)`,
    );
    expect(report.link.drops.oversize).toBe(0);
  });
});

describe.skipIf(!canTap || !hasTshark)('--pcap with offloads', () => {
  const lab = useLab();
  let o: OasisOnTap;
  /** The kernel side's MAC (read while the TAP exists: it goes with `oasis up`). */
  let kernelMac: string;

  beforeAll(async () => {
    o = await lab.oasisOnTap({ ipv6: true, args: ['--http', '80'], pcap: 'offload.pcap' });
    kernelMac = o.ns.linkInfo(o.tap).address;
  });

  it('records frames as a wire carries them: tshark finds none malformed or badly summed', async () => {
    for (const host of [o.oasis4, o.oasis6]) {
      const r = await fetchSha(o, host, 2_000_000);
      expect(r.got).toBe(r.announced);
    }
    const file = join(lab.dir(), 'upload');
    writeFileSync(file, randomBytes(2_000_000));
    const r = await curlPost(o.ns, `http://${o.oasis4}/sha256`, file, 30_000);
    expect(r.sha).toBe(await sha256File(file));
    const stopped = await o.host.stop();
    expect(stopped.code).toBe(0);
    const c = exitReport(o.host.output().stdout).offload;
    // Super-frames went both ways, so the capture holds frames the segmenter cut.
    expect(c !== 'off' && c.gsoIn > 0 && c.gsoOut > 0).toBe(true);
    const pcap = o.pcap!;
    const mac = o.host.ready.mac!;
    for (const m of [mac, kernelMac]) {
      const bad = tsharkBadFrames(pcap, m);
      expect(bad, tsharkDescribe(pcap, bad)).toBe('');
    }
    // Cut as a wire carries them: no frame in the capture is longer than the MTU allows.
    expect(tsharkCount(pcap, 'frame.len > 1514')).toBe(0);
    expect(tsharkCount(pcap, `eth.src == ${mac} && tcp.len > 0`)).toBeGreaterThan(1000);
  }, 60_000);
});

describe.skipIf(!canTap)('--no-offload keeps the plain path', () => {
  const lab = useLab();
  let o: OasisOnTap;

  beforeAll(async () => {
    o = await lab.oasisOnTap({ args: ['--http', '80', '--no-offload'] });
  });

  it('opens the TAP without vnet headers and still serves 20 MB intact', async () => {
    expect(o.host.ready.offload).toBe('off');
    const r = await fetchSha(o, o.oasis4, 20_000_000);
    expect(r.got).toBe(r.announced);
    const stopped = await o.host.stop();
    expect(stopped.code).toBe(0);
    expect(exitReport(o.host.output().stdout).offload).toBe('off');
  });
});
