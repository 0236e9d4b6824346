import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Ipv4Addr, Ipv6Addr } from '../../src/addr.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../../src/ipproto.js';
import {
  type Chain,
  CONNTRACK_STATES,
  type ConntrackState,
  carryCounters,
  compileFirewall,
  countDecision,
  createCounters,
  DEFAULT_FIREWALL_CONFIG,
  type DecidedBy,
  describeRule,
  evaluate,
  type FirewallConfig,
  type FirewallRule,
  firewallStats,
  type IpPrefix,
  isEssentialIcmpv6,
  type Verdict,
} from '../../src/router/firewall.js';
import { type PacketInfo, packetInfo } from '../../src/router/packet-info.js';
import { propOptions } from '../support/props.js';
import { ipv4Packet, ipv6Packet, v4, v6 } from './forward-arb.js';

/** A packet summary with defaults: IPv4 TCP 10.0.0.2:40000 -> 10.0.1.2:22. */
function info(more: Partial<PacketInfo> = {}): PacketInfo {
  const version = more.version ?? 4;
  const protocol = more.protocol ?? IPPROTO_TCP;
  const ported = protocol === IPPROTO_TCP || protocol === IPPROTO_UDP;
  return {
    version,
    protocol,
    src: version === 4 ? v4('10.0.0.2') : v6('fd00::2'),
    dst: version === 4 ? v4('10.0.1.2') : v6('fd00:1::2'),
    srcPort: ported ? 40000 : 0,
    dstPort: ported ? 22 : 0,
    icmpType: -1,
    icmpCode: -1,
    icmpId: -1,
    tcpFlags: 0,
    seq: 0,
    ack: 0,
    window: 0,
    payloadLen: 0,
    wscale: -1,
    l4Offset: version === 4 ? 20 : 40,
    length: 60,
    ...more,
  };
}

function p4(text: string): IpPrefix {
  const [a, len] = text.split('/');
  return { version: 4, address: v4(a!), prefixLen: Number(len ?? 32) };
}

function p6(text: string): IpPrefix {
  const [a, len] = text.split('/');
  return { version: 6, address: v6(a!), prefixLen: Number(len ?? 128) };
}

function firewall(
  rules: FirewallRule[],
  more: Partial<FirewallConfig> = {},
  policy: 'accept' | 'drop' = 'drop',
) {
  return compileFirewall({
    ...DEFAULT_FIREWALL_CONFIG,
    input: { policy, rules },
    forward: { policy, rules },
    ...more,
  });
}

/** Verdict and decider of the forward chain for a packet arriving on `iif`, leaving by `oif`. */
function fwd(
  rules: FirewallRule[],
  pi: PacketInfo,
  opts: { ct?: ConntrackState; iif?: string; oif?: string; hopLimit?: number } = {},
): [Verdict, DecidedBy] {
  const d = evaluate(
    firewall(rules),
    'forward',
    pi,
    opts.ct ?? 'new',
    opts.iif ?? 'lan0',
    opts.oif ?? 'wan0',
    opts.hopLimit ?? 64,
  );
  return [d.verdict, d.rule];
}

describe('evaluate: one match kind at a time (forward chain, policy drop)', () => {
  it.each<[string, FirewallRule, PacketInfo, { iif?: string; oif?: string; ct?: ConntrackState }, boolean]>([
    ['no match at all matches everything', { verdict: 'accept' }, info(), {}, true],
    ['ingress interface, equal', { iif: ['lan0'], verdict: 'accept' }, info(), {}, true],
    ['ingress interface, other', { iif: ['lan1'], verdict: 'accept' }, info(), {}, false],
    ['ingress interface, one of a list', { iif: ['x', 'lan0'], verdict: 'accept' }, info(), {}, true],
    [
      'ingress interface unknown to every rule',
      { iif: ['lan0'], verdict: 'accept' },
      info(),
      { iif: 'eth9' },
      false,
    ],
    ['egress interface, equal', { oif: ['wan0'], verdict: 'accept' }, info(), {}, true],
    ['egress interface, other', { oif: ['lan0'], verdict: 'accept' }, info(), {}, false],
    ['source prefix /24 containing', { saddr: [p4('10.0.0.0/24')], verdict: 'accept' }, info(), {}, true],
    [
      'source prefix /24 not containing',
      { saddr: [p4('10.0.1.0/24')], verdict: 'accept' },
      info(),
      {},
      false,
    ],
    ['source host /32', { saddr: [p4('10.0.0.2')], verdict: 'accept' }, info(), {}, true],
    ['source /0', { saddr: [p4('0.0.0.0/0')], verdict: 'accept' }, info(), {}, true],
    ['destination prefix', { daddr: [p4('10.0.1.0/24')], verdict: 'accept' }, info(), {}, true],
    ['destination prefix, other', { daddr: [p4('10.0.0.0/24')], verdict: 'accept' }, info(), {}, false],
    [
      'a high address (top bit set) in a /1',
      { daddr: [p4('128.0.0.0/1')], verdict: 'accept' },
      info({ dst: v4('200.1.2.3') }),
      {},
      true,
    ],
    [
      'an IPv4 prefix against an IPv6 packet',
      { saddr: [p4('0.0.0.0/0')], verdict: 'accept' },
      info({ version: 6 }),
      {},
      false,
    ],
    [
      'IPv6 source prefix /16',
      { saddr: [p6('fd00::/16')], verdict: 'accept' },
      info({ version: 6 }),
      {},
      true,
    ],
    [
      'IPv6 source prefix /64, other',
      { saddr: [p6('fd00:0:0:1::/64')], verdict: 'accept' },
      info({ version: 6 }),
      {},
      false,
    ],
    [
      'IPv6 destination /127 across a word',
      { daddr: [p6('fd00:1::2/127')], verdict: 'accept' },
      info({ version: 6, dst: v6('fd00:1::3') }),
      {},
      true,
    ],
    [
      'IPv6 destination /127, other',
      { daddr: [p6('fd00:1::2/127')], verdict: 'accept' },
      info({ version: 6, dst: v6('fd00:1::4') }),
      {},
      false,
    ],
    ['IPv6 ::/0', { daddr: [p6('::/0')], verdict: 'accept' }, info({ version: 6 }), {}, true],
    ['an IPv6 prefix against an IPv4 packet', { saddr: [p6('::/0')], verdict: 'accept' }, info(), {}, false],
    [
      'mixed prefix list, IPv4 packet',
      { saddr: [p6('::/0'), p4('10.0.0.0/8')], verdict: 'accept' },
      info(),
      {},
      true,
    ],
    ['family ip on IPv4', { family: 4, verdict: 'accept' }, info(), {}, true],
    ['family ip6 on IPv4', { family: 6, verdict: 'accept' }, info(), {}, false],
    ['protocol tcp', { protocol: [IPPROTO_TCP], verdict: 'accept' }, info(), {}, true],
    ['protocol udp on tcp', { protocol: [IPPROTO_UDP], verdict: 'accept' }, info(), {}, false],
    ['protocol list', { protocol: [IPPROTO_UDP, IPPROTO_TCP], verdict: 'accept' }, info(), {}, true],
    [
      'destination port',
      { protocol: [IPPROTO_TCP], dport: [{ from: 22, to: 22 }], verdict: 'accept' },
      info(),
      {},
      true,
    ],
    [
      'destination port, other',
      { protocol: [IPPROTO_TCP], dport: [{ from: 23, to: 23 }], verdict: 'accept' },
      info(),
      {},
      false,
    ],
    [
      'destination port range, low end',
      { dport: [{ from: 22, to: 80 }], verdict: 'accept' },
      info(),
      {},
      true,
    ],
    [
      'destination port range, high end',
      { dport: [{ from: 1, to: 22 }], verdict: 'accept' },
      info(),
      {},
      true,
    ],
    [
      'destination port range, outside',
      { dport: [{ from: 23, to: 80 }], verdict: 'accept' },
      info(),
      {},
      false,
    ],
    ['source port range', { sport: [{ from: 32768, to: 60999 }], verdict: 'accept' }, info(), {}, true],
    ['source port, other', { sport: [{ from: 22, to: 22 }], verdict: 'accept' }, info(), {}, false],
    [
      'UDP destination port',
      { dport: [{ from: 53, to: 53 }], verdict: 'accept' },
      info({ protocol: IPPROTO_UDP, dstPort: 53 }),
      {},
      true,
    ],
    [
      'a port range covering 0 never matches ICMP (no ports)',
      { dport: [{ from: 0, to: 65535 }], verdict: 'accept' },
      info({ protocol: IPPROTO_ICMP, icmpType: 8, icmpCode: 0 }),
      {},
      false,
    ],
    [
      'ICMP type',
      { icmpType: [8], verdict: 'accept' },
      info({ protocol: IPPROTO_ICMP, icmpType: 8, icmpCode: 0 }),
      {},
      true,
    ],
    [
      'ICMP type, other',
      { icmpType: [0], verdict: 'accept' },
      info({ protocol: IPPROTO_ICMP, icmpType: 8, icmpCode: 0 }),
      {},
      false,
    ],
    [
      'ICMP code',
      { icmpType: [3], icmpCode: [13], verdict: 'accept' },
      info({ protocol: IPPROTO_ICMP, icmpType: 3, icmpCode: 13 }),
      {},
      true,
    ],
    [
      'ICMP code, other',
      { icmpType: [3], icmpCode: [3], verdict: 'accept' },
      info({ protocol: IPPROTO_ICMP, icmpType: 3, icmpCode: 13 }),
      {},
      false,
    ],
    [
      'ICMPv6 type',
      { icmpType: [128], verdict: 'accept' },
      info({ version: 6, protocol: IPPROTO_ICMPV6, icmpType: 128, icmpCode: 0 }),
      {},
      true,
    ],
    [
      'an ICMP type match on ICMPv6 of the same number does not cross families',
      { protocol: [IPPROTO_ICMP], icmpType: [3], verdict: 'accept' },
      info({ version: 6, protocol: IPPROTO_ICMPV6, icmpType: 3, icmpCode: 0 }),
      {},
      false,
    ],
    ['ICMP type never matches TCP', { icmpType: [0, 8], verdict: 'accept' }, info(), {}, false],
    ['state new', { state: ['new'], verdict: 'accept' }, info(), {}, true],
    ['state, other', { state: ['established', 'related'], verdict: 'accept' }, info(), {}, false],
  ])('%s', (_name, rule, pi, opts, matches) => {
    const [verdict, by] = fwd([rule], pi, opts);
    expect([verdict, by]).toEqual(matches ? ['accept', 0] : ['drop', 'policy']);
  });

  it('requires every match of a rule to hold', () => {
    const rule: FirewallRule = {
      iif: ['lan0'],
      saddr: [p4('10.0.0.0/24')],
      protocol: [IPPROTO_TCP],
      dport: [{ from: 22, to: 22 }],
      state: ['new'],
      verdict: 'accept',
    };
    expect(fwd([rule], info())).toEqual(['accept', 0]);
    expect(fwd([rule], info(), { iif: 'wan0' })).toEqual(['drop', 'policy']);
    expect(fwd([rule], info({ src: v4('10.9.0.2') }))).toEqual(['drop', 'policy']);
    expect(fwd([rule], info({ dstPort: 23 }))).toEqual(['drop', 'policy']);
  });

  it('matches conntrack states by name, with the stateful steps turned off', () => {
    const fw = compileFirewall({
      acceptEstablished: false,
      dropInvalid: false,
      input: { policy: 'drop', rules: [] },
      forward: {
        policy: 'drop',
        rules: [
          { state: ['established', 'related'], verdict: 'accept' },
          { state: ['invalid'], verdict: 'reject' },
        ],
      },
    });
    const at = (ct: ConntrackState) => evaluate(fw, 'forward', info(), ct, 'lan0', 'wan0', 64);
    expect(at('established')).toMatchObject({ verdict: 'accept', rule: 0 });
    expect(at('related')).toMatchObject({ verdict: 'accept', rule: 0 });
    expect(at('invalid')).toMatchObject({ verdict: 'reject', rule: 1 });
    expect(at('new')).toMatchObject({ verdict: 'drop', rule: 'policy' });
  });
});

describe('evaluate: verdicts, order and policies', () => {
  it('returns the first matching rule, whatever later rules say', () => {
    const rules: FirewallRule[] = [
      { dport: [{ from: 80, to: 80 }], verdict: 'reject' },
      { dport: [{ from: 22, to: 22 }], verdict: 'drop' },
      { dport: [{ from: 22, to: 22 }], verdict: 'accept' },
    ];
    expect(fwd(rules, info())).toEqual(['drop', 1]);
    expect(fwd(rules, info({ dstPort: 80 }))).toEqual(['reject', 0]);
  });

  it.each(['accept', 'drop', 'reject'] as const)('gives a rule verdict %s as it is', (v) => {
    expect(fwd([{ verdict: v }], info())).toEqual([v, 0]);
  });

  it('falls to the chain policy, each chain its own', () => {
    const fw = compileFirewall({
      ...DEFAULT_FIREWALL_CONFIG,
      input: { policy: 'drop', rules: [{ dport: [{ from: 22, to: 22 }], verdict: 'accept' }] },
      forward: { policy: 'accept', rules: [] },
    });
    expect(evaluate(fw, 'input', info({ dstPort: 23 }), 'new', 'lan0', undefined, 64)).toMatchObject({
      verdict: 'drop',
      rule: 'policy',
    });
    expect(evaluate(fw, 'input', info(), 'new', 'lan0', undefined, 64)).toMatchObject({
      verdict: 'accept',
      rule: 0,
    });
    expect(evaluate(fw, 'forward', info({ dstPort: 23 }), 'new', 'lan0', 'wan0', 64)).toMatchObject({
      verdict: 'accept',
      rule: 'policy',
    });
  });

  it('on the input chain, an egress interface match never matches (there is none)', () => {
    const fw = firewall([{ oif: ['wan0'], verdict: 'accept' }]);
    expect(evaluate(fw, 'input', info(), 'new', 'lan0', undefined, 64).verdict).toBe('drop');
  });
});

describe('evaluate: stateful by default', () => {
  const dropAll = [{ verdict: 'drop' } as FirewallRule];

  it('accepts established and related packets before the rules, and drops invalid ones', () => {
    const acceptAll = [{ verdict: 'accept' } as FirewallRule];
    expect(fwd(dropAll, info(), { ct: 'established' })).toEqual(['accept', 'established']);
    expect(fwd(dropAll, info(), { ct: 'related' })).toEqual(['accept', 'related']);
    expect(fwd(acceptAll, info(), { ct: 'invalid' })).toEqual(['drop', 'invalid']);
    expect(fwd(dropAll, info(), { ct: 'new' })).toEqual(['drop', 0]);
  });

  it('leaves each state to the rules when its step is off', () => {
    const noEst = compileFirewall({
      ...DEFAULT_FIREWALL_CONFIG,
      acceptEstablished: false,
      forward: { policy: 'drop', rules: [] },
    });
    expect(evaluate(noEst, 'forward', info(), 'established', 'a', 'b', 64)).toMatchObject({
      verdict: 'drop',
      rule: 'policy',
    });
    expect(evaluate(noEst, 'forward', info(), 'invalid', 'a', 'b', 64)).toMatchObject({
      verdict: 'drop',
      rule: 'invalid',
    });
    const noInvalid = compileFirewall({
      ...DEFAULT_FIREWALL_CONFIG,
      dropInvalid: false,
      forward: { policy: 'accept', rules: [] },
    });
    expect(evaluate(noInvalid, 'forward', info(), 'invalid', 'a', 'b', 64)).toMatchObject({
      verdict: 'accept',
      rule: 'policy',
    });
    expect(evaluate(noInvalid, 'forward', info(), 'related', 'a', 'b', 64)).toMatchObject({
      verdict: 'accept',
      rule: 'related',
    });
  });
});

describe('evaluate: RFC 4890 ICMPv6 under a drop policy', () => {
  // Stateless and a rule that drops everything, so nothing but the RFC 4890 list gets through.
  const closed = compileFirewall({
    acceptEstablished: false,
    dropInvalid: false,
    input: { policy: 'drop', rules: [{ verdict: 'drop' }] },
    forward: { policy: 'drop', rules: [{ verdict: 'reject' }] },
  });
  const icmp6 = (type: number, code = 0) =>
    info({ version: 6, protocol: IPPROTO_ICMPV6, icmpType: type, icmpCode: code });
  const verdictOf = (chain: Chain, type: number, ct: ConntrackState, hopLimit: number, code = 0) =>
    evaluate(closed, chain, icmp6(type, code), ct, 'lan0', chain === 'input' ? undefined : 'wan0', hopLimit);

  it.each([
    133, 134, 135, 136, 137,
  ])('passes NDP type %i to the router with hop limit 255 (§4.4.1)', (type) => {
    for (const ct of CONNTRACK_STATES)
      expect(verdictOf('input', type, ct, 255)).toMatchObject({ verdict: 'accept', rule: 'icmpv6' });
  });

  it.each([
    133, 134, 135, 136, 137,
  ])('leaves NDP type %i to the rules with another hop limit or in transit', (type) => {
    expect(verdictOf('input', type, 'new', 254).verdict).toBe('drop');
    expect(verdictOf('input', type, 'new', 1).verdict).toBe('drop');
    expect(verdictOf('forward', type, 'new', 255).verdict).toBe('reject');
  });

  it('passes Packet Too Big in both chains whatever conntrack says (§4.3.1, §4.4.1)', () => {
    for (const chain of ['input', 'forward'] as const)
      for (const ct of CONNTRACK_STATES)
        expect(verdictOf(chain, 2, ct, 64)).toMatchObject({ verdict: 'accept', rule: 'icmpv6' });
  });

  it.each([
    [1, 0],
    [1, 4],
    [3, 0],
    [3, 1],
    [4, 0],
    [4, 1],
    [4, 2],
  ])('passes error type %i code %i when it relates to a tracked flow, else not', (type, code) => {
    for (const chain of ['input', 'forward'] as const) {
      expect(verdictOf(chain, type, 'related', 64, code)).toMatchObject({
        verdict: 'accept',
        rule: 'icmpv6',
      });
      for (const ct of ['new', 'established', 'invalid'] as const)
        expect(verdictOf(chain, type, ct, 64, code).rule).not.toBe('icmpv6');
    }
  });

  it.each([128, 129, 130, 131, 132, 143, 138, 139, 200])('leaves type %i to the policy', (type) => {
    expect(verdictOf('input', type, 'new', 255).verdict).toBe('drop');
    expect(verdictOf('forward', type, 'new', 255).verdict).toBe('reject');
  });

  it('never exempts ICMPv4, whose type numbers overlap', () => {
    for (const type of [2, 3, 133])
      expect(
        evaluate(
          closed,
          'input',
          info({ protocol: IPPROTO_ICMP, icmpType: type, icmpCode: 0 }),
          'related',
          'a',
          undefined,
          255,
        ).verdict,
      ).toBe('drop');
  });

  it('agrees with packetInfo on real packets: an NS from a neighbour, a PTB from afar', () => {
    const ns = new Uint8Array(24);
    ns[0] = 135;
    const nsPacket = ipv6Packet({
      src: v6('fe80::1'),
      dst: v6('ff02::1:ff00:1'),
      nextHeader: IPPROTO_ICMPV6,
      hopLimit: 255,
      payload: ns,
    });
    const nsInfo = packetInfo(nsPacket)!;
    expect(isEssentialIcmpv6('input', nsInfo, 'new', nsPacket[7]!)).toBe(true);
    const ptb = new Uint8Array(8 + 48);
    ptb[0] = 2;
    ptb.set(ipv6Packet({ src: v6('fd00::2'), dst: v6('2001:db8::1') }), 8);
    const ptbInfo = packetInfo(
      ipv6Packet({ src: v6('2001:db8::9'), dst: v6('fd00::2'), nextHeader: IPPROTO_ICMPV6, payload: ptb }),
    )!;
    expect(evaluate(closed, 'forward', ptbInfo, 'invalid', 'wan0', 'lan0', 60).rule).toBe('icmpv6');
  });
});

describe('describeRule', () => {
  it.each<[FirewallRule, string]>([
    [{ verdict: 'accept' }, 'accept'],
    [
      {
        iif: ['rl0'],
        protocol: [IPPROTO_TCP],
        dport: [{ from: 22, to: 22 }],
        state: ['new'],
        verdict: 'accept',
      },
      'iif rl0 protocol tcp dport 22 ct state new accept',
    ],
    [
      {
        iif: ['a', 'b'],
        oif: ['c'],
        family: 6,
        saddr: [p6('fd00::/8')],
        daddr: [p6('2001:db8::1')],
        protocol: [IPPROTO_TCP, IPPROTO_UDP],
        sport: [{ from: 1024, to: 65535 }],
        dport: [
          { from: 53, to: 53 },
          { from: 8000, to: 8100 },
        ],
        verdict: 'reject',
        comment: 'say "no"',
      },
      'iif { a, b } oif c ip6 saddr fd00::/8 daddr 2001:db8::1/128 protocol { tcp, udp } sport 1024-65535 dport { 53, 8000-8100 } reject comment "say \\"no\\""',
    ],
    [
      {
        saddr: [p4('10.0.0.0/8')],
        protocol: [IPPROTO_ICMP],
        icmpType: [3],
        icmpCode: [13],
        state: ['related', 'invalid'],
        verdict: 'drop',
      },
      'saddr 10.0.0.0/8 protocol icmp icmp type 3 icmp code 13 ct state { related, invalid } drop',
    ],
    [{ protocol: [99], verdict: 'drop' }, 'protocol 99 drop'],
  ])('describes rule %# in nftables words', (rule, text) => {
    expect(describeRule(rule)).toBe(text);
  });
});

describe('counters', () => {
  const config: FirewallConfig = {
    ...DEFAULT_FIREWALL_CONFIG,
    input: { policy: 'drop', rules: [{ dport: [{ from: 22, to: 22 }], verdict: 'accept' }] },
    forward: {
      policy: 'accept',
      rules: [{ dport: [{ from: 23, to: 23 }], verdict: 'drop' }, { verdict: 'reject' }],
    },
  };

  it('counts packets and bytes per rule and per step, chains apart', () => {
    const fw = compileFirewall(config);
    const counters = createCounters(fw);
    const run = (chain: Chain, pi: PacketInfo, ct: ConntrackState) => {
      const d = evaluate(fw, chain, pi, ct, 'a', chain === 'input' ? undefined : 'b', 64);
      countDecision(counters, chain, d, pi.length);
    };
    run('input', info({ length: 100 }), 'new');
    run('input', info({ length: 50 }), 'new');
    run('input', info({ dstPort: 80, length: 70 }), 'new');
    run('input', info({ length: 10 }), 'established');
    run('forward', info({ dstPort: 23, length: 40 }), 'new');
    run('forward', info({ length: 1 }), 'new');
    run('forward', info({ length: 2 }), 'invalid');
    run('forward', info({ length: 3 }), 'related');
    run(
      'forward',
      info({ version: 6, protocol: IPPROTO_ICMPV6, icmpType: 2, icmpCode: 0, length: 1280 }),
      'new',
    );
    const stats = firewallStats(fw, counters);
    expect(stats.input).toEqual({
      policy: 'drop',
      rules: [{ rule: 'dport 22 accept', packets: 2, bytes: 150 }],
      byPolicy: { packets: 1, bytes: 70 },
      established: { packets: 1, bytes: 10 },
      related: { packets: 0, bytes: 0 },
      invalid: { packets: 0, bytes: 0 },
      icmpv6: { packets: 0, bytes: 0 },
    });
    expect(stats.forward).toEqual({
      policy: 'accept',
      rules: [
        { rule: 'dport 23 drop', packets: 1, bytes: 40 },
        { rule: 'reject', packets: 1, bytes: 1 },
      ],
      byPolicy: { packets: 0, bytes: 0 },
      established: { packets: 0, bytes: 0 },
      related: { packets: 1, bytes: 3 },
      invalid: { packets: 1, bytes: 2 },
      icmpv6: { packets: 1, bytes: 1280 },
    });
    expect(JSON.parse(JSON.stringify(stats))).toEqual(stats);
  });

  it('carries the counts of unchanged rules and of the steps across a reload', () => {
    const fw = compileFirewall(config);
    const counters = createCounters(fw);
    countDecision(
      counters,
      'forward',
      evaluate(fw, 'forward', info({ dstPort: 23 }), 'new', 'a', 'b', 64),
      40,
    );
    countDecision(counters, 'forward', evaluate(fw, 'forward', info(), 'new', 'a', 'b', 64), 7);
    countDecision(counters, 'forward', evaluate(fw, 'forward', info(), 'invalid', 'a', 'b', 64), 9);
    const next = compileFirewall({
      ...config,
      forward: {
        policy: 'accept',
        rules: [
          { dport: [{ from: 8080, to: 8080 }], verdict: 'accept' },
          { verdict: 'reject' },
          { dport: [{ from: 23, to: 23 }], verdict: 'drop' },
        ],
      },
    });
    const stats = firewallStats(next, carryCounters(fw, counters, next)).forward;
    expect(stats.rules.map((r) => [r.rule, r.packets, r.bytes])).toEqual([
      ['dport 8080 accept', 0, 0],
      ['reject', 1, 7],
      ['dport 23 drop', 1, 40],
    ]);
    expect(stats.invalid).toEqual({ packets: 1, bytes: 9 });
  });
});

// --- The property: the compiled evaluation equals a naive first-match reference -----------------

const NAMES = ['a', 'b', 'c'];

function bits(a: Ipv4Addr | Ipv6Addr | number): number[] {
  const bytes =
    typeof a === 'number'
      ? [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255]
      : Array.from(a as Uint8Array);
  return bytes.flatMap((b) => [7, 6, 5, 4, 3, 2, 1, 0].map((i) => (b >> i) & 1));
}

function naiveContains(p: IpPrefix, pi: PacketInfo, addr: Ipv4Addr | Ipv6Addr): boolean {
  if (p.version !== pi.version) return false;
  const a = bits(addr);
  const n = bits(p.address);
  for (let i = 0; i < p.prefixLen; i++) if (a[i] !== n[i]) return false;
  return true;
}

function naiveMatch(
  r: FirewallRule,
  pi: PacketInfo,
  ct: ConntrackState,
  iif?: string,
  oif?: string,
): boolean {
  const ported = pi.protocol === IPPROTO_TCP || pi.protocol === IPPROTO_UDP;
  const icmp = pi.protocol === (pi.version === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
  const inRange = (rs: readonly { from: number; to: number }[], v: number) =>
    rs.some((x) => x.from <= v && v <= x.to);
  return (
    (r.family === undefined || r.family === pi.version) &&
    (r.iif === undefined || (iif !== undefined && r.iif.includes(iif))) &&
    (r.oif === undefined || (oif !== undefined && r.oif.includes(oif))) &&
    (r.saddr === undefined || r.saddr.some((p) => naiveContains(p, pi, pi.src))) &&
    (r.daddr === undefined || r.daddr.some((p) => naiveContains(p, pi, pi.dst))) &&
    (r.protocol === undefined || r.protocol.includes(pi.protocol)) &&
    (r.sport === undefined || (ported && inRange(r.sport, pi.srcPort))) &&
    (r.dport === undefined || (ported && inRange(r.dport, pi.dstPort))) &&
    (r.icmpType === undefined || (icmp && r.icmpType.includes(pi.icmpType))) &&
    (r.icmpCode === undefined || (icmp && r.icmpCode.includes(pi.icmpCode))) &&
    (r.state === undefined || r.state.includes(ct))
  );
}

function naiveEvaluate(
  config: FirewallConfig,
  chain: Chain,
  pi: PacketInfo,
  ct: ConntrackState,
  iif: string | undefined,
  oif: string | undefined,
  hopLimit: number,
): { verdict: Verdict; rule: DecidedBy } {
  if (pi.version === 6 && pi.protocol === IPPROTO_ICMPV6) {
    const t = pi.icmpType;
    const ndp = chain === 'input' && [133, 134, 135, 136, 137].includes(t) && hopLimit === 255;
    if (t === 2 || ([1, 3, 4].includes(t) && ct === 'related') || ndp)
      return { verdict: 'accept', rule: 'icmpv6' };
  }
  if (config.acceptEstablished && (ct === 'established' || ct === 'related'))
    return { verdict: 'accept', rule: ct };
  if (config.dropInvalid && ct === 'invalid') return { verdict: 'drop', rule: 'invalid' };
  const rules = config[chain].rules;
  for (let i = 0; i < rules.length; i++)
    if (naiveMatch(rules[i]!, pi, ct, iif, oif)) return { verdict: rules[i]!.verdict, rule: i };
  return { verdict: config[chain].policy, rule: 'policy' };
}

// Small pools, so that random rules and packets meet often.
const ADDR4 = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.1.1', '10.1.0.1', '192.168.0.1', '200.0.0.1'].map(
  v4,
);
const ADDR6 = ['fd00::1', 'fd00::2', 'fd00::1:1', 'fd00:0:0:1::1', 'fd01::1', '2001:db8::1'].map(v6);
const PROTOS = [IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6, 47];
const PORTS = [0, 1, 22, 23, 53, 80, 1024, 65535];
const ICMP_TYPES = [0, 1, 2, 3, 4, 8, 11, 128, 129, 133, 135, 137];

const prefixArb: fc.Arbitrary<IpPrefix> = fc.oneof(
  fc.record({
    version: fc.constant(4 as const),
    address: fc.constantFrom(...ADDR4),
    prefixLen: fc.constantFrom(0, 1, 8, 16, 23, 24, 31, 32),
  }),
  fc.record({
    version: fc.constant(6 as const),
    address: fc.constantFrom(...ADDR6),
    prefixLen: fc.constantFrom(0, 8, 16, 33, 63, 64, 65, 96, 112, 127, 128),
  }),
);

const rangeArb = fc
  .tuple(fc.constantFrom(...PORTS), fc.constantFrom(...PORTS))
  .map(([x, y]) => ({ from: Math.min(x, y), to: Math.max(x, y) }));

/** Absent six times in seven: a rule has one or two matches, so random packets meet it often. */
function rarely<T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof({ arbitrary: fc.constant(undefined), weight: 6 }, { arbitrary: a, weight: 1 });
}

/** Lists of one to three, and now and then an empty one (which matches nothing). */
const some = <T>(a: fc.Arbitrary<T>) =>
  rarely(
    fc.oneof(
      { arbitrary: fc.array(a, { minLength: 1, maxLength: 3 }), weight: 9 },
      { arbitrary: fc.constant([]), weight: 1 },
    ),
  );

const ruleArb: fc.Arbitrary<FirewallRule> = fc
  .record({
    iif: some(fc.constantFrom(...NAMES)),
    oif: some(fc.constantFrom(...NAMES)),
    family: rarely(fc.constantFrom(4 as const, 6 as const)),
    saddr: some(prefixArb),
    daddr: some(prefixArb),
    protocol: some(fc.constantFrom(...PROTOS)),
    sport: some(rangeArb),
    dport: some(rangeArb),
    icmpType: some(fc.constantFrom(...ICMP_TYPES)),
    icmpCode: some(fc.constantFrom(0, 1, 13)),
    state: some(fc.constantFrom(...CONNTRACK_STATES)),
    verdict: fc.constantFrom<Verdict>('accept', 'drop', 'reject'),
  })
  .map(
    (r) =>
      Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as unknown as FirewallRule,
  );

const infoArb: fc.Arbitrary<PacketInfo> = fc
  .record({
    version: fc.constantFrom(4 as const, 6 as const),
    protocol: fc.constantFrom(...PROTOS),
    s: fc.nat(),
    d: fc.nat(),
    sport: fc.constantFrom(...PORTS),
    dport: fc.constantFrom(...PORTS),
    type: fc.constantFrom(...ICMP_TYPES),
    code: fc.constantFrom(0, 1, 13),
  })
  .map(({ version, protocol, s, d, sport, dport, type, code }) => {
    const ported = protocol === IPPROTO_TCP || protocol === IPPROTO_UDP;
    const icmp = protocol === (version === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
    return info({
      version,
      protocol,
      src: version === 4 ? ADDR4[s % ADDR4.length]! : ADDR6[s % ADDR6.length]!,
      dst: version === 4 ? ADDR4[d % ADDR4.length]! : ADDR6[d % ADDR6.length]!,
      srcPort: ported ? sport : 0,
      dstPort: ported ? dport : 0,
      icmpType: icmp ? type : -1,
      icmpCode: icmp ? code : -1,
    });
  });

const configArb: fc.Arbitrary<FirewallConfig> = fc.record({
  acceptEstablished: fc.boolean(),
  dropInvalid: fc.boolean(),
  input: fc.record({
    policy: fc.constantFrom('accept' as const, 'drop' as const),
    rules: fc.array(ruleArb, { maxLength: 12 }),
  }),
  forward: fc.record({
    policy: fc.constantFrom('accept' as const, 'drop' as const),
    rules: fc.array(ruleArb, { maxLength: 12 }),
  }),
});

describe('evaluate against a naive first-match reference', () => {
  it('decides like the reference on random rule lists and packets', () => {
    fc.assert(
      fc.property(
        configArb,
        fc.array(
          fc.tuple(
            infoArb,
            fc.constantFrom<Chain>('input', 'forward'),
            fc.constantFrom(...CONNTRACK_STATES),
            fc.option(fc.constantFrom(...NAMES, 'zz'), { nil: undefined }),
            fc.option(fc.constantFrom(...NAMES, 'zz'), { nil: undefined }),
            fc.constantFrom(1, 64, 255),
          ),
          { minLength: 1, maxLength: 24 },
        ),
        (config, packets) => {
          const fw = compileFirewall(config);
          for (const [pi, chain, ct, iif, oif, hopLimit] of packets) {
            const got = evaluate(fw, chain, pi, ct, iif, oif, hopLimit);
            expect({ verdict: got.verdict, rule: got.rule }).toEqual(
              naiveEvaluate(config, chain, pi, ct, iif, oif, hopLimit),
            );
            const n = config[chain].rules.length;
            const slots: Record<string, number> = {
              policy: n,
              established: n + 1,
              related: n + 2,
              invalid: n + 3,
              icmpv6: n + 4,
            };
            expect(got.slot).toBe(typeof got.rule === 'number' ? got.rule : slots[got.rule]);
          }
        },
      ),
      propOptions(),
    );
  });

  it('gives the same decision for packets built as bytes and summarised by packetInfo', () => {
    const fw = firewall([
      {
        saddr: [p4('10.0.0.0/24')],
        protocol: [IPPROTO_UDP],
        dport: [{ from: 53, to: 53 }],
        verdict: 'accept',
      },
      { daddr: [p6('fd00:1::/64')], protocol: [IPPROTO_UDP], verdict: 'reject' },
    ]);
    const udp = (dport: number) => Uint8Array.of(0x9c, 0x40, dport >>> 8, dport & 255, 0, 8, 0, 0);
    const a = packetInfo(ipv4Packet({ src: v4('10.0.0.7'), dst: v4('8.8.8.8'), payload: udp(53) }))!;
    const b = packetInfo(ipv4Packet({ src: v4('10.0.0.7'), dst: v4('8.8.8.8'), payload: udp(54) }))!;
    const c = packetInfo(ipv6Packet({ src: v6('fd00::7'), dst: v6('fd00:1::9'), payload: udp(54) }))!;
    expect(evaluate(fw, 'forward', a, 'new', 'x', 'y', 64).rule).toBe(0);
    expect(evaluate(fw, 'forward', b, 'new', 'x', 'y', 64).rule).toBe('policy');
    expect(evaluate(fw, 'forward', c, 'new', 'x', 'y', 64).rule).toBe(1);
  });
});

describe('prefix matching against a bitwise reference', () => {
  /** `a` with bit `k` (0 = the most significant) flipped, or as it is for k beyond the address. */
  function flip(a: Uint8Array, k: number): Uint8Array {
    const out = a.slice();
    if (k < out.length * 8) out[k >> 3]! ^= 0x80 >> (k & 7);
    return out;
  }
  const asV4 = (b: Uint8Array) => (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) as Ipv4Addr;
  /** Alone, or in a list with a prefix of the other family (compiled differently). */
  const asList = (p: IpPrefix, alone: boolean): IpPrefix[] =>
    alone ? [p] : [p, p.version === 4 ? { version: 6, address: v6('::'), prefixLen: 0 } : p4('0.0.0.0/0')];

  it('at every prefix length, matches the last bit inside and not the first bit outside', () => {
    const base = Uint8Array.from({ length: 16 }, (_, i) => (i * 37 + 11) & 255);
    for (const version of [4, 6] as const) {
      const width = version === 4 ? 32 : 128;
      const addr = version === 4 ? base.subarray(0, 4) : base;
      for (let prefixLen = 0; prefixLen <= width; prefixLen++)
        for (const alone of [true, false])
          for (const onDst of [false, true]) {
            const prefix: IpPrefix =
              version === 4
                ? { version, address: asV4(addr), prefixLen }
                : { version, address: addr.slice() as Ipv6Addr, prefixLen };
            const list = asList(prefix, alone);
            const fw = firewall([{ ...(onDst ? { daddr: list } : { saddr: list }), verdict: 'accept' }]);
            for (const k of [prefixLen - 1, prefixLen]) {
              if (k < 0 || k >= width) continue;
              const flipped = flip(addr, k);
              const a = version === 4 ? asV4(flipped) : (flipped as Ipv6Addr);
              const pi = info({ version, ...(onDst ? { dst: a } : { src: a }) });
              const accepted = evaluate(fw, 'forward', pi, 'new', 'a', 'b', 64).verdict === 'accept';
              const what = `IPv${version} /${prefixLen}, bit ${k} flipped, ${alone ? 'alone' : 'in a list'}`;
              expect(accepted, what).toBe(k >= prefixLen);
            }
          }
    }
  });

  it('matches exactly the addresses that share the first prefixLen bits (IPv4 and IPv6)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(4 as const, 6 as const),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.oneof(fc.nat(128), fc.constantFrom(0, 1, 31, 32, 33, 63, 64, 65, 95, 96, 97, 127, 128)),
        // The flipped bit, near the prefix's end (where an off-by-one would show) or anywhere.
        fc.oneof(fc.integer({ min: -3, max: 2 }), fc.integer({ min: -140, max: 140 })),
        fc.boolean(),
        fc.boolean(),
        (version, raw, len, delta, onDst, alone) => {
          const width = version === 4 ? 32 : 128;
          const prefixLen = len <= width ? len : len % (width + 1);
          const k = Math.max(0, prefixLen + delta);
          const base = version === 4 ? raw.subarray(0, 4) : raw;
          const packetAddr = flip(base, k);
          const prefix: IpPrefix =
            version === 4
              ? { version, address: asV4(base), prefixLen }
              : { version, address: base.slice() as Ipv6Addr, prefixLen };
          const addr = version === 4 ? asV4(packetAddr) : (packetAddr as Ipv6Addr);
          const pi = info({ version, ...(onDst ? { dst: addr } : { src: addr }) });
          const list = asList(prefix, alone);
          const rule: FirewallRule = { ...(onDst ? { daddr: list } : { saddr: list }), verdict: 'accept' };
          const got = evaluate(firewall([rule]), 'forward', pi, 'new', 'a', 'b', 64).verdict === 'accept';
          expect(got).toBe(naiveContains(prefix, pi, addr));
          expect(got).toBe(k >= prefixLen);
        },
      ),
      propOptions(),
    );
  });
});
