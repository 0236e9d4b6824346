/**
 * Differential test of `oasis router` against the Linux kernel's forwarding: the same hand-made
 * packets (router-packets.py: UDP, TCP, ICMP, IPv4 options and fragments, IPv6 extension headers and
 * fragments, DSCP/ECN and flow labels, an unknown protocol, TTL/hop limit 2 and 1), sent as raw
 * frames from A through the Linux reference router L and through Oasis. What reaches B is captured
 * both times and compared packet by packet: identical but for TTL/hop limit and the IPv4 header
 * checksum (and the MACs, which are not compared); the TTL/hop limit must be one less than sent.
 * With OASIS_ROUTER_UNDER_TEST=linux both sides are the kernel (a check of the test itself).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canTap } from '../support/netns.js';
import {
  addrOf,
  capture,
  createLinuxTopology,
  createTopology,
  forwardedForm,
  type IpPacket,
  ipPackets,
  macOf,
  PLAN,
  ping,
  routerUnderTest,
  type Topology,
} from '../support/topology.js';

const PACKETS_PY = join(import.meta.dirname, 'router-packets.py');
/** The fixed destination in B (SLAAC would give each B its own). */
const B6 = addrOf(PLAN.b.host6);

interface Run {
  readonly packets: IpPacket[];
  readonly sent: number;
  readonly forwardable: number;
}

/** Sends the packets from A through the topology's router and returns what B received from A. */
async function through(topo: Topology, dir: string, name: string): Promise<Run> {
  const { a, b } = topo.hosts;
  if (topo.kind === 'oasis') {
    b.ns.run('ip', '-6', 'addr', 'add', PLAN.b.host6, 'dev', b.dev, 'nodad');
    b.ns.run('ip', '-6', 'route', 'replace', PLAN.a.prefix6, 'via', b.router6, 'dev', b.dev);
  }
  // Both routers learn B's MAC and A learns the router's before anything is compared.
  for (const target of [b.ip, B6]) {
    const r = await ping(a.ns, target, ['-c', '2', '-i', '0.2', '-W', '2']);
    if (r.received === 0) throw new Error(`${topo.kind}: no path to ${target}: ${r.output}`);
  }
  const neigh = JSON.parse(a.ns.run('ip', '-j', 'neigh', 'show', 'dev', a.dev)) as {
    dst: string;
    lladdr?: string;
  }[];
  const routerMac = neigh.find((n) => n.dst === a.router)?.lladdr;
  if (routerMac === undefined) throw new Error(`${topo.kind}: A has no neighbour entry for ${a.router}`);
  const file = join(dir, `${name}.pcap`);
  const cap = await capture(b.ns, b.dev, file, ['src', 'host', a.ip, 'or', 'src', 'host', a.ip6]);
  const r = await a.ns.exec(
    'python3',
    [PACKETS_PY, a.dev, macOf(a.ns, a.dev), routerMac, a.ip, b.ip, a.ip6, B6],
    20_000,
  );
  await cap.stop();
  const m = /sent (\d+) forwardable (\d+)/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new Error(`router-packets.py failed (${r.code}): ${r.stderr}`);
  return { packets: ipPackets(file), sent: Number(m[1]), forwardable: Number(m[2]) };
}

describe.skipIf(!canTap)(`router (${routerUnderTest}) forwards exactly what Linux forwards`, () => {
  let dir: string;
  let linux: Run;
  let tested: Run;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oasis-router-diff-'));
    const reference = createLinuxTopology({ withC: false });
    try {
      linux = await through(reference, dir, 'linux');
    } finally {
      reference.delete();
    }
    const topo = await createTopology({ wantSlaac: false });
    try {
      tested = await through(topo, dir, routerUnderTest);
      if (topo.router) await topo.router.stop();
    } finally {
      topo.delete();
    }
  }, 90_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the Linux reference forwards every packet but those sent with TTL/hop limit 1', () => {
    expect(linux.sent).toBeGreaterThan(20);
    expect(linux.packets).toHaveLength(linux.forwardable);
  });

  it('B receives the same packets, in the same order, through both routers', () => {
    expect(tested.packets.map(forwardedForm)).toEqual(linux.packets.map(forwardedForm));
  });

  it('both routers decrement TTL and hop limit by exactly one', () => {
    expect(tested.packets.map((p) => p.hopLimit)).toEqual(linux.packets.map((p) => p.hopLimit));
    // router-packets.py sends with 64, or 2 for the packets that must arrive with 1.
    expect(new Set(linux.packets.map((p) => p.hopLimit))).toEqual(new Set([63, 1]));
  });
});
