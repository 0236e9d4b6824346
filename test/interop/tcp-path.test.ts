/**
 * TCP path signals against Linux, one kernel router away:
 *
 *   P (peerNet .2, curl) --veth-- R (Linux router: forwarding, nftables) --TAP-- oasis up (tapNet .2)
 *
 * (a) R's link towards P carries only 1280 bytes: R answers Oasis's 1500-byte segments with
 *     Fragmentation Needed / Packet Too Big, Oasis lowers its MSS (RFC 1191, RFC 8201) and serves
 *     20 MB over IPv4 and IPv6, SHA-256 checked;
 * (b) R silently drops every forwarded packet above 1300 bytes (nftables, no ICMP): Oasis detects the
 *     black hole (RFC 4821) and the 20 MB still arrive;
 * (c) P's kernel asks for ECN (net.ipv4.tcp_ecn=1) and R marks 5 % of the ECT packets CE: the
 *     transfer completes, P echoes ECE, Oasis reduces and answers CWR (RFC 3168), seen by tshark.
 *
 * Each part runs its own `oasis up` (a learnt path MTU would otherwise carry over to the next part).
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useLab } from '../support/lab.js';
import { canTap } from '../support/netns.js';
import { hasTshark, type OasisHost } from '../support/oasis.js';
import {
  curlGet,
  oasisTcpCounters,
  type RoutedPath,
  tsharkBadFrames,
  tsharkCount,
} from '../support/routed.js';

const SIZE = 20_000_000;
/** Per transfer; measured 1-3 s each on 2 cores (the black hole costs two RTOs once). */
const TRANSFER_MS = 120_000;

describe.skipIf(!canTap)('TCP path signals: oasis up behind a Linux router', () => {
  const lab = useLab();
  let path: RoutedPath;
  let dir: string;
  let OASIS4: string;
  let OASIS6: string;
  let P4: string;
  let P6: string;

  beforeAll(() => {
    dir = lab.dir();
    path = lab.routedPath();
    OASIS4 = path.tapNet.ip4(2);
    OASIS6 = path.tapNet.ip6(2);
    P4 = path.peerNet.ip4(2);
    P6 = path.peerNet.ip6(2);
    // RoutedPath is IPv4 only: give the veth pair IPv6 too (no DAD: the addresses are ours alone).
    path.r.run('ip', '-6', 'addr', 'add', path.peerNet.cidr6(1), 'dev', path.vethR, 'nodad');
    path.p.run('ip', '-6', 'addr', 'add', path.peerNet.cidr6(2), 'dev', path.vethP, 'nodad');
    path.p.run('ip', '-6', 'route', 'add', 'default', 'via', path.peerNet.ip6(1));
  });

  /** `oasis up` in R on the path's TAP, both families, R as its gateways, an HTTP server, a capture. */
  async function up(pcap: string, extra: readonly string[] = []): Promise<OasisHost> {
    const o = await lab.oasisOnTap({
      ns: path.r,
      tap: path.tap,
      subnet: path.tapNet,
      ipv6: true,
      pcap,
      args: ['--gateway', path.tapNet.ip4(1), '--gateway6', path.tapNet.ip6(1), '--http', '80', ...extra],
    });
    return o.host;
  }

  /** A 20 MB GET from P, body checked against the SHA-256 Oasis announces; IPv6 may wait for DAD. */
  async function get(host: string): Promise<number> {
    const url = `http://${host.includes(':') ? `[${host}]` : host}/bytes/${SIZE}`;
    let last: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const g = await curlGet(path.p, url, TRANSFER_MS);
        expect(g.status).toBe(200);
        expect(g.length).toBe(SIZE);
        expect(g.bodySha).toBe(g.headerSha);
        return g.seconds;
      } catch (e) {
        // Only a connection that never started is retried (Oasis's IPv6 address still in DAD).
        if (!String(e).includes('(7)') && !String(e).includes('Failed to connect')) throw e;
        last = e;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    throw last;
  }

  async function stop(h: OasisHost, pcap: string): Promise<void> {
    const { code } = await h.stop();
    expect(code).toBe(0);
    if (!hasTshark) return;
    const bad = tsharkBadFrames(join(dir, pcap), h.ready.mac!);
    expect(bad).toBe('');
  }

  it(
    '(a) crosses a 1280-byte hop that sends Fragmentation Needed / Packet Too Big (IPv4 and IPv6)',
    async () => {
      path.r.run('ip', 'link', 'set', 'dev', path.vethR, 'mtu', '1280');
      const pcap = 'narrow.pcap';
      const h = await up(pcap);
      try {
        const t4 = await get(OASIS4);
        const t6 = await get(OASIS6);
        const c = await oasisTcpCounters(path.p, `http://${OASIS4}/`);
        console.log(
          `tcp-path narrow hop: GET v4 ${t4.toFixed(1)} s, v6 ${t6.toFixed(1)} s; pmtu-lowered ${c['pmtu-lowered']}`,
        );
        // One message per connection that hit the hop at full size: the v4 and v6 GETs.
        expect(c['pmtu-lowered']).toBeGreaterThanOrEqual(2);
        expect(c['pmtu-blackhole']).toBe(0);
      } finally {
        await stop(h, pcap);
        path.r.run('ip', 'link', 'set', 'dev', path.vethR, 'mtu', '1500');
      }
      if (!hasTshark) return;
      const file = join(dir, pcap);
      // What Linux sent: ICMP type 3 code 4 with MTU 1280, ICMPv6 type 2 with MTU 1280.
      expect(tsharkCount(file, 'icmp.type == 3 && icmp.code == 4 && icmp.mtu == 1280')).toBeGreaterThan(0);
      expect(tsharkCount(file, 'icmpv6.type == 2 && icmpv6.mtu == 1280')).toBeGreaterThan(0);
      // And Oasis's data to P then fitted: segments of 1240 bytes (v4) and 1220 (v6) at most.
      expect(tsharkCount(file, `ip.src == ${OASIS4} && ip.dst == ${P4} && ip.len > 1280`)).toBeLessThan(50);
      expect(tsharkCount(file, `ip.src == ${OASIS4} && ip.dst == ${P4} && tcp.len == 1228`)).toBeGreaterThan(
        1000,
      );
      expect(
        tsharkCount(file, `ipv6.src == ${OASIS6} && ipv6.dst == ${P6} && tcp.len == 1208`),
      ).toBeGreaterThan(1000);
    },
    3 * TRANSFER_MS,
  );

  it(
    '(b) completes through a hop that silently drops packets above 1300 bytes (black hole)',
    async () => {
      const table = 'oasis_blackhole';
      path.r.run(
        'nft',
        [
          `add table inet ${table};`,
          `add chain inet ${table} transit { type filter hook forward priority 0; };`,
          `add rule inet ${table} transit meta length > 1300 counter drop`,
        ].join(' '),
      );
      const pcap = 'blackhole.pcap';
      // Without TAP offloads: the forward hook sees a super-frame whole (its `meta length` is the sum
      // of its segments), while a black hole acts on each packet on the wire.
      const h = await up(pcap, ['--no-offload']);
      let dropped = 0;
      try {
        const t4 = await get(OASIS4);
        const t6 = await get(OASIS6);
        const c = await oasisTcpCounters(path.p, `http://${OASIS4}/`);
        const listing = path.r.run('nft', 'list', 'table', 'inet', table);
        dropped = Number(/counter packets (\d+)/.exec(listing)?.[1] ?? 0);
        console.log(
          `tcp-path black hole: GET v4 ${t4.toFixed(1)} s, v6 ${t6.toFixed(1)} s; nft dropped ${dropped}; pmtu-blackhole ${c['pmtu-blackhole']}`,
        );
        expect(dropped).toBeGreaterThan(0);
        expect(c['pmtu-blackhole']).toBeGreaterThanOrEqual(2);
        expect(c['pmtu-lowered']).toBe(0);
      } finally {
        path.r.run('nft', 'delete', 'table', 'inet', table);
        await stop(h, pcap);
      }
    },
    3 * TRANSFER_MS,
  );

  it(
    '(c) ECN with Linux: CE marks at the router, ECE from Linux, CWR from Oasis, transfer intact',
    async () => {
      const table = 'oasis_ce';
      path.p.run('sysctl', '-qw', 'net.ipv4.tcp_ecn=1');
      path.r.run(
        'nft',
        [
          `add table inet ${table};`,
          `add chain inet ${table} transit { type filter hook forward priority 0; };`,
          `add rule inet ${table} transit ip ecn ect0 numgen random mod 100 < 5 counter ip ecn set ce`,
        ].join(' '),
      );
      const pcap = 'ecn.pcap';
      const h = await up(pcap);
      try {
        const t4 = await get(OASIS4);
        const c = await oasisTcpCounters(path.p, `http://${OASIS4}/`);
        const listing = path.r.run('nft', 'list', 'table', 'inet', table);
        const marked = Number(/counter packets (\d+)/.exec(listing)?.[1] ?? 0);
        console.log(
          `tcp-path ECN: GET v4 ${t4.toFixed(1)} s; router marked ${marked}; ecn-ece-received ${c['ecn-ece-received']}, ecn-reduced ${c['ecn-reduced']}`,
        );
        expect(marked).toBeGreaterThan(0);
        expect(c['ecn-negotiated']).toBeGreaterThan(0);
        expect(c['ecn-reduced']).toBeGreaterThan(0);
      } finally {
        path.r.run('nft', 'delete', 'table', 'inet', table);
        path.p.run('sysctl', '-qw', 'net.ipv4.tcp_ecn=2');
        await stop(h, pcap);
      }
      if (!hasTshark) return;
      const file = join(dir, pcap);
      // Negotiated: Linux's SYN with ECE+CWR, Oasis's SYN-ACK with ECE only.
      expect(
        tsharkCount(
          file,
          `ip.src == ${P4} && tcp.flags.syn == 1 && tcp.flags.ece == 1 && tcp.flags.cwr == 1`,
        ),
      ).toBeGreaterThan(0);
      expect(
        tsharkCount(
          file,
          `ip.src == ${OASIS4} && tcp.flags.syn == 1 && tcp.flags.ack == 1 && tcp.flags.ece == 1 && tcp.flags.cwr == 0`,
        ),
      ).toBeGreaterThan(0);
      // Oasis's data is ECT(0) (as sent: the capture is Oasis's own), the router's marks arrive as ECE, Oasis answers CWR.
      expect(tsharkCount(file, `ip.src == ${OASIS4} && tcp.len > 0 && ip.dsfield.ecn == 2`)).toBeGreaterThan(
        1000,
      );
      expect(
        tsharkCount(file, `ip.src == ${P4} && tcp.flags.syn == 0 && tcp.flags.ece == 1`),
      ).toBeGreaterThan(0);
      expect(
        tsharkCount(file, `ip.src == ${OASIS4} && tcp.flags.syn == 0 && tcp.flags.cwr == 1`),
      ).toBeGreaterThan(0);
    },
    2 * TRANSFER_MS,
  );
});
