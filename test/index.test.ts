/**
 * src/index.ts, the package's root: every short name of a protocol namespace (`ipv4.parse`,
 * `tcp.step`...) is the function it says it is, the namespaces hold what their doc comments promise,
 * and nothing internal leaks out at the top level. (test/package/pack.test.ts checks the same surface
 * from an installed tarball.)
 */
import { describe, expect, it } from 'vitest';
import { arpConfig, arpDeadline, arpStep, initialArp } from '../src/arp/cache.js';
import { arpHeaderLen, emitArp, parseArp } from '../src/arp/wire.js';
import { emitEthernet, ethernetHeaderLen, parseEthernet } from '../src/ethernet/wire.js';
import { initialReassembly, step as reassemblyStep } from '../src/fragments/reassembly.js';
import { planFragments } from '../src/fragments/plan.js';
import * as oasis from '../src/index.js';
import {
  emitIcmpv4,
  icmpv4HeaderLen,
  isIcmpv4Error,
  mayAnswerIcmpv4Error,
  parseIcmpv4,
} from '../src/ipv4/icmp.js';
import { emitIpv4, ipv4HeaderLen, parseIpv4 } from '../src/ipv4/wire.js';
import { walkExtHeaders } from '../src/ipv6/ext.js';
import { emitIcmpv6, icmpv6Type, isIcmpv6Error, isIcmpv6ErrorType, parseIcmpv6 } from '../src/ipv6/icmp.js';
import { initialNdp, ndpConfig, ndpDeadline, ndpRouterConfig, ndpStep } from '../src/ipv6/ndp.js';
import { emitIpv6, ipv6HeaderLen, parseIpv6 } from '../src/ipv6/wire.js';
import { Stack } from '../src/stack/stack.js';
import { tcpConfig, tcpConnections, tcpDeadline, tcpInit, tcpStep } from '../src/tcp/core/index.js';
import { emitTcp, parseTcp, tcpFlags, tcpHeaderLen } from '../src/tcp/wire.js';
import { emitUdp, parseUdp, udpHeaderLen } from '../src/udp/wire.js';

describe('the protocol namespaces', () => {
  it.each([
    ['ethernet.parse', oasis.ethernet.parse, parseEthernet],
    ['ethernet.emit', oasis.ethernet.emit, emitEthernet],
    ['ethernet.headerLen', oasis.ethernet.headerLen, ethernetHeaderLen],
    ['arp.parse', oasis.arp.parse, parseArp],
    ['arp.emit', oasis.arp.emit, emitArp],
    ['arp.headerLen', oasis.arp.headerLen, arpHeaderLen],
    ['arp.config', oasis.arp.config, arpConfig],
    ['arp.init', oasis.arp.init, initialArp],
    ['arp.step', oasis.arp.step, arpStep],
    ['arp.deadline', oasis.arp.deadline, arpDeadline],
    ['ipv4.parse', oasis.ipv4.parse, parseIpv4],
    ['ipv4.emit', oasis.ipv4.emit, emitIpv4],
    ['ipv4.headerLen', oasis.ipv4.headerLen, ipv4HeaderLen],
    ['ipv4.icmp.parse', oasis.ipv4.icmp.parse, parseIcmpv4],
    ['ipv4.icmp.emit', oasis.ipv4.icmp.emit, emitIcmpv4],
    ['ipv4.icmp.headerLen', oasis.ipv4.icmp.headerLen, icmpv4HeaderLen],
    ['ipv4.icmp.isError', oasis.ipv4.icmp.isError, isIcmpv4Error],
    ['ipv4.icmp.mayAnswerError', oasis.ipv4.icmp.mayAnswerError, mayAnswerIcmpv4Error],
    ['ipv6.parse', oasis.ipv6.parse, parseIpv6],
    ['ipv6.emit', oasis.ipv6.emit, emitIpv6],
    ['ipv6.headerLen', oasis.ipv6.headerLen, ipv6HeaderLen],
    ['ipv6.ext.walk', oasis.ipv6.ext.walk, walkExtHeaders],
    ['ipv6.icmp.parse', oasis.ipv6.icmp.parse, parseIcmpv6],
    ['ipv6.icmp.emit', oasis.ipv6.icmp.emit, emitIcmpv6],
    ['ipv6.icmp.typeOf', oasis.ipv6.icmp.typeOf, icmpv6Type],
    ['ipv6.icmp.isError', oasis.ipv6.icmp.isError, isIcmpv6Error],
    ['ipv6.icmp.isErrorType', oasis.ipv6.icmp.isErrorType, isIcmpv6ErrorType],
    ['ipv6.ndp.config', oasis.ipv6.ndp.config, ndpConfig],
    ['ipv6.ndp.routerConfig', oasis.ipv6.ndp.routerConfig, ndpRouterConfig],
    ['ipv6.ndp.init', oasis.ipv6.ndp.init, initialNdp],
    ['ipv6.ndp.step', oasis.ipv6.ndp.step, ndpStep],
    ['ipv6.ndp.deadline', oasis.ipv6.ndp.deadline, ndpDeadline],
    ['udp.parse', oasis.udp.parse, parseUdp],
    ['udp.emit', oasis.udp.emit, emitUdp],
    ['udp.headerLen', oasis.udp.headerLen, udpHeaderLen],
    ['tcp.parse', oasis.tcp.parse, parseTcp],
    ['tcp.emit', oasis.tcp.emit, emitTcp],
    ['tcp.headerLen', oasis.tcp.headerLen, tcpHeaderLen],
    ['tcp.flags', oasis.tcp.flags, tcpFlags],
    ['tcp.config', oasis.tcp.config, tcpConfig],
    ['tcp.init', oasis.tcp.init, tcpInit],
    ['tcp.step', oasis.tcp.step, tcpStep],
    ['tcp.deadline', oasis.tcp.deadline, tcpDeadline],
    ['tcp.connections', oasis.tcp.connections, tcpConnections],
    ['fragments.init', oasis.fragments.init, initialReassembly],
    ['fragments.step', oasis.fragments.step, reassemblyStep],
    ['fragments.plan', oasis.fragments.plan, planFragments],
  ] as const)('%s is the function it names', (_name, exported, original) => {
    expect(exported).toBe(original);
  });

  it('the wire functions of a namespace work together: emit then parse gives the header back', () => {
    const repr = {
      dst: oasis.parseMac('02:00:00:00:00:02')!,
      src: oasis.parseMac('02:00:00:00:00:01')!,
      vlans: [],
      ethertype: oasis.ethernet.ETHERTYPE_IPV6,
    };
    const frame = new Uint8Array(oasis.ethernet.headerLen(repr) + 3);
    frame.set([1, 2, 3], oasis.ethernet.headerLen(repr));
    expect(oasis.ethernet.emit(repr, frame)).toBe(14);
    const r = oasis.ethernet.parse(frame);
    expect(r.ok && r.value.repr).toEqual(repr);
    expect(r.ok && [...r.value.payload]).toEqual([1, 2, 3]);
  });

  it('the TCP core runs through its short names: a connect gives a SYN and a deadline', () => {
    const state = oasis.tcp.init(oasis.tcp.config(new Uint8Array(16)), 0);
    expect(oasis.tcp.deadline(state)).toBeNull();
    const local = oasis.parseIpv4Addr('10.0.0.1')!;
    const remote = oasis.parseIpv4Addr('10.0.0.2')!;
    const r = oasis.tcp.step(state, { kind: 'connect', now: 0, params: { local, remote, remotePort: 80 } });
    expect(r.reply.kind).toBe('connected');
    const syn = r.outputs.find((o) => o.kind === 'segment');
    expect(syn?.kind === 'segment' && syn.repr.flags.syn).toBe(true);
    expect(oasis.tcp.deadline(r.state)).toBeGreaterThan(0);
    expect(oasis.tcp.connections(r.state).map((t) => t.state)).toEqual(['SynSent']);
  });
});

describe('the root', () => {
  it('offers the groups its doc comment lists', () => {
    const values = [
      // hosts and links
      'Stack',
      'Interface',
      'memoryPair',
      'MemoryHub',
      'impair',
      'TapLink',
      'RealScheduler',
      'VirtualScheduler',
      'osSecret',
      // sockets
      'createServer',
      'connect',
      'createSocket',
      'TcpServer',
      'TcpSocket',
      'UdpSocket',
      // addresses and results
      'parseIpv4Addr',
      'ipv4ToString',
      'parseIpv6Addr',
      'ipv6ToString',
      'parseMac',
      'macToString',
      'errorKey',
      // wire formats and pure cores
      'ethernet',
      'arp',
      'ipv4',
      'ipv6',
      'udp',
      'tcp',
      'fragments',
      'checksum',
      'router',
      // captures
      'formatFrame',
      'parsePcap',
      'readPcapFile',
      'PcapWriter',
    ];
    for (const name of values) expect(oasis, name).toHaveProperty(name);
    expect(oasis.Stack).toBe(Stack);
  });

  it('leaks no internals: no per-protocol function at the top level, no layer class', () => {
    const names = Object.keys(oasis);
    expect(
      names.filter((n) => /^(parse|emit)(Ethernet|Arp|Ipv4|Ipv6|Udp|Tcp|Icmpv4|Icmpv6)$/.test(n)),
    ).toEqual([]);
    for (const internal of [
      'TcpLayer',
      'UdpLayer',
      'Ipv4Layer',
      'Ipv6Layer',
      'ArpLayer',
      'Random',
      'tcpStep',
    ])
      expect(names).not.toContain(internal);
  });
});
