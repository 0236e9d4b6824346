/**
 * `oasis router` between three Linux namespaces (test/support/topology.ts): A and B on 1500-byte
 * links, C on a 1280-byte one. What Linux sees of it:
 * - B and C configure their IPv6 address and default route from Oasis's Router Advertisements alone
 *   (C never solicits one: `router_solicitations=0`), with the MTU and RDNSS options;
 * - ping and `ping -s 3000` from A to B and C over IPv4 and IPv6: IPv4 fragments are fragmented again
 *   towards C; IPv6 is answered with Packet Too Big, A's kernel caches the 1280-byte path MTU and
 *   the next echoes get through in smaller fragments;
 * - `tracepath -n` from A to C shows the router as hop 1 and `pmtu 1280`, over both versions, and
 *   `traceroute -n` from A to B the router then B;
 * - a ping to an address without a route gets Destination (Net) Unreachable from the router;
 * - without `--clamp-mss`, A's SYN reaches C with its MSS untouched;
 * - Oasis exits cleanly on SIGINT with its statistics, and tshark finds no malformed packet and no bad
 *   checksum in its per-interface captures (`--pcap-dir`).
 * With OASIS_ROUTER_UNDER_TEST=linux the same tests run against the Linux reference router instead
 * (Oasis-only checks skipped): a check of the tests themselves.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canTap } from '../support/netns.js';
import { hasTshark } from '../support/oasis.js';
import {
  awaitSlaac,
  capture,
  createTopology,
  defaultRoutes6,
  type Host,
  ipPackets,
  LINK_NAMES,
  macOf,
  PLAN,
  ping,
  RDNSS_C,
  routerUnderTest,
  sendSyn,
  slaacAddress,
  type Topology,
  tsharkFields,
  tsharkProblems,
  UNROUTED4,
  UNROUTED6,
} from '../support/topology.js';

const oasis = routerUnderTest === 'oasis';
/**
 * RFC 4861 §6.2.4: the first unsolicited advertisements go out at most 16 s apart
 * (MAX_INITIAL_RTR_ADVERT_INTERVAL), and C may have come up just after the first.
 */
const UNSOLICITED_MS = 40_000;

describe.skipIf(!canTap)(`router (${routerUnderTest}): ping, fragments, PMTU, tracepath, SLAAC`, () => {
  let topo: Topology;
  let dir: string;
  let a: Host;
  let b: Host;
  let c: Host;
  /** B's and C's SLAAC addresses, resolved in the first test (static ones under Linux). */
  let slaac: Promise<void>;
  let readyAt = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oasis-router-'));
    topo = await createTopology({ pcapDir: dir, unsolicitedOnlyC: true, wantSlaac: false });
    readyAt = performance.now();
    ({ a, b, c } = topo.hosts);
    slaac = oasis
      ? (async () => {
          b.ip6 = await awaitSlaac(b, UNSOLICITED_MS);
          c.ip6 = await awaitSlaac(c, UNSOLICITED_MS);
        })()
      : Promise.resolve();
    // Reported by the test that waits for it; the others would only fail on the address.
    slaac.catch(() => undefined);
  });

  afterAll(async () => {
    if (topo?.router && topo.router.child.exitCode === null) await topo.router.stop().catch(() => undefined);
    topo?.delete();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!oasis)('prints one ready line naming every interface with its addresses', () => {
    const ready = topo.router!.ready;
    for (const l of LINK_NAMES) {
      const addrs = ready[topo.routerDevs[l]]?.split(',') ?? [];
      expect(addrs).toContain(PLAN[l].router4);
      expect(addrs).toContain(PLAN[l].router6);
    }
    expect(topo.router!.output().stdout.match(/^ready /gm)).toHaveLength(1);
  });

  it.skipIf(!oasis)(
    'B and C configure a global address and a default route by SLAAC from the RA alone',
    async () => {
      await slaac;
      console.log(`router: SLAAC done ${((performance.now() - readyAt) / 1000).toFixed(1)} s after ready`);
      for (const h of [b, c]) {
        // RFC 4862 §5.5.3: an address formed from the advertised prefix, valid for a finite time.
        const addr = slaacAddress(h);
        expect(addr).toBeDefined();
        expect(addr!.startsWith(PLAN[h.link].prefix6.replace('::/64', ':'))).toBe(true);
        // RFC 4861 §6.3.4: the default router is the RA's source, the router's link-local address.
        const routes = defaultRoutes6(h).filter((r) => r.protocol === 'ra');
        expect(routes).toHaveLength(1);
        expect(routes[0]!.gateway).toMatch(/^fe80:/);
      }
      // Only unsolicited RAs could do it on C.
      expect(c.ns.run('sysctl', '-n', `net.ipv6.conf.${c.dev}.router_solicitations`).trim()).toBe('0');
    },
    UNSOLICITED_MS + 10_000,
  );

  it('forwards ping A→B over IPv4 and IPv6, decrementing TTL and hop limit by one', async () => {
    await slaac;
    for (const target of [b.ip, b.ip6]) {
      const r = await ping(a.ns, target, ['-c', '3', '-i', '0.2', '-W', '2']);
      expect(r.received, r.output).toBe(3);
      // Linux sends with 64 (RFC 1812 §5.3.1, RFC 8200 §3: one hop, one less).
      expect(r.output).toContain(`64 bytes from ${target}: icmp_seq=1 ttl=63`);
    }
  });

  it('forwards ping -s 3000 A→B over IPv4 and IPv6 (fragments of 1500 bytes both ways)', async () => {
    await slaac;
    for (const target of [b.ip, b.ip6]) {
      const r = await ping(a.ns, target, ['-c', '3', '-i', '0.2', '-W', '2', '-s', '3000']);
      expect(r.received, r.output).toBe(3);
      expect(r.output).toContain(`3008 bytes from ${target}`);
    }
  });

  it('forwards ping A→C over IPv4 and IPv6', async () => {
    await slaac;
    for (const target of [c.ip, c.ip6]) {
      const r = await ping(a.ns, target, ['-c', '3', '-i', '0.2', '-W', '2']);
      expect(r.received, r.output).toBe(3);
    }
  });

  it("fragments A's 1500-byte IPv4 fragments again towards C (MTU 1280) and the ping succeeds", async () => {
    a.ns.run('ip', 'route', 'flush', 'cache');
    const file = join(dir, 'c-frag4.pcap');
    const cap = await capture(c.ns, c.dev, file, ['ip', 'src', a.ip]);
    const r = await ping(a.ns, c.ip, ['-c', '3', '-i', '0.3', '-W', '2', '-s', '3000']);
    await cap.stop();
    expect(r.received, r.output).toBe(3);
    expect(r.output).toContain(`3008 bytes from ${c.ip}`);
    const frags = ipPackets(file).filter((p) => p.src === a.ip && p.fragment);
    // A sent each echo (3028 bytes) as three fragments of at most 1500; none of those fits C's link,
    // so C must see more pieces, none larger than 1280 (RFC 791 §3.2, fragmenting a fragment).
    expect(frags.length).toBeGreaterThanOrEqual(3 * 4);
    expect(Math.max(...frags.map((p) => p.length))).toBeLessThanOrEqual(1280);
    expect(frags.every((p) => p.hopLimit === 63)).toBe(true);
  });

  it('answers a too-big IPv6 packet towards C with Packet Too Big; A caches mtu 1280 and gets through', async () => {
    await slaac;
    a.ns.run('ip', '-6', 'route', 'flush', 'cache');
    expect(a.ns.run('ip', '-6', 'route', 'get', c.ip6)).not.toMatch(/mtu 1280/);
    const file = join(dir, 'c-frag6.pcap');
    const cap = await capture(c.ns, c.dev, file, ['ip6', 'src', a.ip6]);
    const r = await ping(a.ns, c.ip6, ['-c', '4', '-i', '0.3', '-W', '3', '-s', '3000']);
    await cap.stop();
    // RFC 8200 §5 / RFC 4443 §3.2: the router does not fragment; it tells the source the MTU.
    expect(r.output).toMatch(new RegExp(`From ${a.router6} icmp_seq=1 Packet too big: mtu=1280`));
    expect(r.received, r.output).toBeGreaterThanOrEqual(3);
    expect(r.output).toContain(`3008 bytes from ${c.ip6}`);
    // RFC 8201 §4: A's kernel keeps the path MTU it was told.
    expect(a.ns.run('ip', '-6', 'route', 'get', c.ip6)).toMatch(/ mtu 1280 /);
    // What reached C: A's own fragments, sized for the 1280-byte path.
    const frags = ipPackets(file).filter((p) => p.src === a.ip6 && p.fragment);
    expect(frags.length).toBeGreaterThanOrEqual(3 * 3);
    expect(Math.max(...frags.map((p) => p.length))).toBeLessThanOrEqual(1280);
  });

  it.each([
    ['IPv4', 4],
    ['IPv6', 6],
  ] as const)('tracepath -n A→C over %s shows the router as hop 1 and pmtu 1280', async (_, v) => {
    await slaac;
    // Forget the path MTU learnt by earlier tests: the router must tell it again.
    a.ns.run('ip', `-${v}`, 'route', 'flush', 'cache');
    const [target, hop] = v === 4 ? [c.ip, a.router] : [c.ip6, a.router6];
    const r = await a.ns.exec('tracepath', [`-${v}`, '-n', target], 30_000);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // RFC 1812 §4.3.2.4: an ICMP error's source is an address of the interface it leaves by.
    expect(r.stdout).toMatch(new RegExp(`^ 1: +${hop.replace(/\./g, '\\.')} `, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^ 2: +${target.replace(/\./g, '\\.')} .*reached`, 'm'));
    expect(r.stdout).toMatch(/Resume: pmtu 1280 hops 2 back 2/);
  });

  it.each([
    ['IPv4', 4],
    ['IPv6', 6],
  ] as const)('traceroute -n A→B over %s: the router, then B', async (_, v) => {
    await slaac;
    const [target, hop] = v === 4 ? [b.ip, a.router] : [b.ip6, a.router6];
    const r = await a.ns.exec('traceroute', [`-${v}`, '-n', '-q', '1', '-w', '2', '-m', '4', target], 30_000);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // Hop 1 answers Time Exceeded (RFC 1812 §5.3.1, RFC 4443 §3.3), B Port Unreachable.
    expect(r.stdout).toMatch(new RegExp(`^ 1 +${hop.replace(/\./g, '\\.')} `, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^ 2 +${target.replace(/\./g, '\\.')} `, 'm'));
    expect(r.stdout).not.toMatch(/^ 3 /m);
  });

  it('reports Destination Net Unreachable from the router for an address with no route', async () => {
    const r4 = await ping(a.ns, UNROUTED4, ['-c', '1', '-W', '2']);
    // RFC 1812 §5.2.7.1: code 0, net unreachable, when no route matches.
    expect(r4.output).toContain(`From ${a.router} icmp_seq=1 Destination Net Unreachable`);
    const r6 = await ping(a.ns, UNROUTED6, ['-c', '1', '-W', '2']);
    // RFC 4443 §3.1: code 0, no route to destination.
    expect(r6.output).toContain(`From ${a.router6} icmp_seq=1 Destination unreachable: No route`);
  });

  it('leaves the MSS of a SYN towards C alone without --clamp-mss', async () => {
    await slaac;
    a.ns.run('ip', 'route', 'flush', 'cache');
    a.ns.run('ip', '-6', 'route', 'flush', 'cache');
    const file = join(dir, 'c-syn.pcap');
    const cap = await capture(c.ns, c.dev, file, ['tcp']);
    await sendSyn(a.ns, c.ip, 9);
    await sendSyn(a.ns, c.ip6, 9);
    await cap.stop();
    const syns = ipPackets(file).filter((p) => p.synMss !== undefined && (p.src === a.ip || p.src === a.ip6));
    // A's own MSS for its 1500-byte link: 1500 - 40 and 1500 - 60 (RFC 9293 §3.7.1).
    expect(syns.map((p) => [p.version, p.synMss])).toEqual([
      [4, 1460],
      [6, 1440],
    ]);
  });

  it.skipIf(!oasis)(
    'exits 0 on SIGINT with its statistics; tshark finds nothing wrong in its per-interface captures',
    async () => {
      const router = topo.router!;
      // The TAPs go with the process: read C's MAC first.
      const cMac = macOf(c.ns, c.dev);
      const { code, stats } = await router.stop();
      expect(code).toBe(0);
      for (const l of LINK_NAMES) {
        const dev = topo.routerDevs[l];
        const s = stats.interfaces[dev];
        expect(s, `interface ${dev} in ${JSON.stringify(Object.keys(stats.interfaces))}`).toBeDefined();
        expect(s!.framesIn).toBeGreaterThan(0);
        expect(s!.framesOut).toBeGreaterThan(0);
      }
      // Drops are counted as router/<reason>: the unrouted pings (one per version), the Packet Too Big
      // and the tracepath probes whose hop limit ran out.
      expect(stats.counters['router/no-route']).toBeGreaterThanOrEqual(2);
      expect(stats.counters['router/too-big']).toBeGreaterThanOrEqual(1);
      expect(stats.counters['router/ttl-expired']).toBeGreaterThanOrEqual(2);
      for (const l of LINK_NAMES) expect(existsSync(join(dir, `${topo.routerDevs[l]}.pcap`))).toBe(true);
      if (!hasTshark) return;
      for (const l of LINK_NAMES) {
        const file = join(dir, `${topo.routerDevs[l]}.pcap`);
        expect(tsharkProblems(file), file).toBe('');
      }
      // C's capture: RAs with the prefix, the link's MTU and the RDNSS option (RFC 4861 §4.6.1-4.6.4,
      // RFC 8106 §5.1), and not one Router Solicitation from C.
      const cPcap = join(dir, `${topo.routerDevs.c}.pcap`);
      const ras = tsharkFields(cPcap, 'icmpv6.type == 134', [
        'icmpv6.opt.prefix',
        'icmpv6.opt.mtu',
        'icmpv6.opt.rdnss',
      ]);
      expect(ras.length).toBeGreaterThan(0);
      // RFC 4861 §4.6.2: "The bits in the prefix after the prefix length are reserved and MUST be
      // initialized to zero by the sender": fd61:3::, not the router's own fd61:3::1.
      expect(ras[0]).toEqual(['fd61:3::', '1280', RDNSS_C]);
      expect(tsharkFields(cPcap, `icmpv6.type == 133 && eth.src == ${cMac}`, ['frame.number'])).toEqual([]);
    },
    120_000,
  );
});
