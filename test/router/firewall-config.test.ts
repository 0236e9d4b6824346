import { describe, expect, it } from 'vitest';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../../src/ipproto.js';
import {
  compileFirewall,
  DEFAULT_FIREWALL_CONFIG,
  describeRule,
  evaluate,
  type FirewallConfig,
  MAX_MATCH_ENTRIES,
  MAX_RULES_PER_CHAIN,
} from '../../src/router/firewall.js';
import {
  appendFirewallRules,
  firewallFromFlags,
  parseFirewallConfig,
} from '../../src/router/firewall-config.js';
import { packetInfo } from '../../src/router/packet-info.js';
import { ipv4Packet, ipv6Packet, v4, v6 } from './forward-arb.js';

function parsed(json: unknown, interfaces?: readonly string[]): FirewallConfig {
  const r = parseFirewallConfig(json, interfaces);
  if (!r.ok) throw new Error(`expected a valid configuration: ${r.error}`);
  return r.value;
}

function error(json: unknown, interfaces?: readonly string[]): string {
  const r = parseFirewallConfig(json, interfaces);
  if (r.ok) throw new Error(`expected an error for ${JSON.stringify(json)}`);
  return r.error;
}

const fwd = (...rules: unknown[]) => ({ forward: rules });

describe('parseFirewallConfig: valid configurations', () => {
  it('defaults to stateful, both policies accept, no rules', () => {
    expect(parsed({})).toEqual(DEFAULT_FIREWALL_CONFIG);
  });

  it('reads every field of a rule, singletons and lists alike', () => {
    const config = parsed(
      {
        stateful: { 'accept-established': true, 'drop-invalid': false },
        policy: { input: 'drop', forward: 'drop' },
        input: [
          { iif: 'lan0', protocol: 'tcp', dport: 22, state: 'new', verdict: 'accept', comment: 'ssh' },
          { protocol: 'icmp', 'icmp-type': ['echo-request', 13], 'icmp-code': 0, verdict: 'accept' },
        ],
        forward: [
          {
            iif: ['lan0', 'lan1'],
            oif: 'wan0',
            family: 'ip6',
            saddr: ['fd00::/8', 'fd01::1'],
            daddr: '2001:db8::/32',
            protocol: ['tcp', 'udp'],
            sport: '1024-65535',
            dport: [53, '8000-8100'],
            state: ['new', 'related'],
            verdict: 'reject',
          },
          { saddr: '10.0.0.0/8', daddr: ['192.168.1.7'], protocol: 47, verdict: 'drop' },
          { protocol: 'icmpv6', 'icmp-type': 'packet-too-big', verdict: 'accept' },
        ],
      },
      ['lan0', 'lan1', 'wan0'],
    );
    expect(config.acceptEstablished).toBe(true);
    expect(config.dropInvalid).toBe(false);
    expect(config.input.policy).toBe('drop');
    expect(config.input.rules.map(describeRule)).toEqual([
      'iif lan0 protocol tcp dport 22 ct state new accept comment "ssh"',
      'protocol icmp icmp type { 8, 13 } icmp code 0 accept',
    ]);
    expect(config.forward.rules.map(describeRule)).toEqual([
      'iif { lan0, lan1 } oif wan0 ip6 saddr { fd00::/8, fd01::1/128 } daddr 2001:db8::/32 protocol { tcp, udp } sport 1024-65535 dport { 53, 8000-8100 } ct state { new, related } reject',
      'saddr 10.0.0.0/8 daddr 192.168.1.7/32 protocol gre drop',
      'protocol icmpv6 icmp type 2 accept',
    ]);
    expect(config.forward.rules[0]!.protocol).toEqual([IPPROTO_TCP, IPPROTO_UDP]);
  });

  it('reads stateful: false as both steps off', () => {
    expect(parsed({ stateful: false })).toMatchObject({ acceptEstablished: false, dropInvalid: false });
  });

  it('accepts ports 0 and 65535 and a one-port range', () => {
    expect(
      parsed(fwd({ protocol: 'udp', dport: [0, 65535, '7-7'], verdict: 'drop' })).forward.rules[0]!.dport,
    ).toEqual([
      { from: 0, to: 0 },
      { from: 65535, to: 65535 },
      { from: 7, to: 7 },
    ]);
  });

  it('compiles to a firewall that does what the JSON says', () => {
    const fw = compileFirewall(
      parsed({
        policy: { forward: 'drop' },
        forward: [{ iif: 'lan0', saddr: '10.1.0.0/16', protocol: 'tcp', dport: 443, verdict: 'accept' }],
      }),
    );
    const tcp443 = Uint8Array.of(
      0x9c,
      0x40,
      0x01,
      0xbb,
      0,
      0,
      0,
      1,
      0,
      0,
      0,
      0,
      0x50,
      0x02,
      0xff,
      0xff,
      0,
      0,
      0,
      0,
    );
    const ok = packetInfo(
      ipv4Packet({ src: v4('10.1.2.3'), dst: v4('1.1.1.1'), protocol: 6, payload: tcp443 }),
    )!;
    const other = packetInfo(
      ipv4Packet({ src: v4('10.2.2.3'), dst: v4('1.1.1.1'), protocol: 6, payload: tcp443 }),
    )!;
    expect(evaluate(fw, 'forward', ok, 'new', 'lan0', 'wan0', 64).verdict).toBe('accept');
    expect(evaluate(fw, 'forward', ok, 'new', 'wan0', 'lan0', 64).verdict).toBe('drop');
    expect(evaluate(fw, 'forward', other, 'new', 'lan0', 'wan0', 64).verdict).toBe('drop');
  });
});

describe('parseFirewallConfig: each bad field is one line naming it', () => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
  it.each<[string, unknown, string]>([
    ['not an object', [], 'firewall: a JSON object, not []'],
    [
      'an unknown section',
      { chains: [] },
      'firewall.chains: unknown field (known: stateful, policy, input, forward)',
    ],
    [
      'stateful of the wrong type',
      { stateful: 'yes' },
      'firewall.stateful: true, false or {"accept-established": B, "drop-invalid": B}, not "yes"',
    ],
    [
      'a stateful flag of the wrong type',
      { stateful: { 'drop-invalid': 1 } },
      'firewall.stateful.drop-invalid: true or false, not 1',
    ],
    [
      'an unknown stateful flag',
      { stateful: { established: true } },
      'firewall.stateful.established: unknown field (known: accept-established, drop-invalid)',
    ],
    ['policy not an object', { policy: 'drop' }, 'firewall.policy: {"input": P, "forward": P}, not "drop"'],
    [
      'a policy of reject',
      { policy: { forward: 'reject' } },
      'firewall.policy.forward: accept or drop, not "reject"',
    ],
    [
      'a policy for an unknown chain',
      { policy: { output: 'drop' } },
      'firewall.policy.output: unknown chain (input, forward)',
    ],
    [
      'a chain not a list',
      { forward: { verdict: 'drop' } },
      'firewall.forward: a list of rules, not {"verdict":"drop"}',
    ],
    [
      'too many rules',
      { input: Array.from({ length: MAX_RULES_PER_CHAIN + 1 }, () => ({ verdict: 'drop' })) },
      `firewall.input: at most ${MAX_RULES_PER_CHAIN} rules`,
    ],
    [
      'a rule not an object',
      fwd({ verdict: 'drop' }, 'drop'),
      'firewall.forward[1]: a rule is a JSON object, not "drop"',
    ],
    [
      'an unknown rule field',
      fwd({ verdict: 'drop', port: 22 }),
      'firewall.forward[0].port: unknown field (known: iif, oif, family, saddr, daddr, protocol, sport, dport, icmp-type, icmp-code, state, verdict, comment)',
    ],
    [
      'a missing verdict',
      fwd({ protocol: 'tcp' }),
      'firewall.forward[0].verdict: missing: accept, drop or reject',
    ],
    [
      'a bad verdict',
      { input: [{ verdict: 'allow' }] },
      'firewall.input[0].verdict: accept, drop or reject, not "allow"',
    ],
    [
      'an interface of the wrong type',
      fwd({ iif: 3, verdict: 'drop' }),
      'firewall.forward[0].iif: an interface name, not 3',
    ],
    [
      'an interface name too long',
      fwd({ iif: 'a-very-long-interface', verdict: 'drop' }),
      "firewall.forward[0].iif: \"a-very-long-interface\" is not an interface name (at most 15 characters, no spaces, '/' or ',')",
    ],
    [
      'an unknown interface',
      fwd({ verdict: 'drop', oif: ['wan0', 'wan9'] }),
      'firewall.forward[0].oif[1]: no interface "wan9" (there are lan0, wan0)',
    ],
    [
      'an empty list',
      fwd({ iif: [], verdict: 'drop' }),
      'firewall.forward[0].iif: an empty list matches nothing; leave the field out to match anything',
    ],
    [
      'too long a list',
      fwd({ saddr: many(MAX_MATCH_ENTRIES + 1), verdict: 'drop' }),
      `firewall.forward[0].saddr: at most ${MAX_MATCH_ENTRIES} entries`,
    ],
    [
      'oif on the input chain',
      { input: [{ oif: 'wan0', verdict: 'drop' }] },
      'firewall.input[0].oif: the input chain has no egress interface (its packets are for the router)',
    ],
    [
      'a bad family',
      fwd({ family: 'inet', verdict: 'drop' }),
      'firewall.forward[0].family: ip or ip6, not "inet"',
    ],
    [
      'a bad IPv4 prefix',
      fwd({ saddr: '10.0.0.0/33', verdict: 'drop' }),
      'firewall.forward[0].saddr: "10.0.0.0/33" is not an IPv4 address or prefix',
    ],
    [
      'a bad IPv6 prefix',
      fwd({ daddr: ['fd00::/8', 'fd00:::1/64'], verdict: 'drop' }),
      'firewall.forward[0].daddr[1]: "fd00:::1/64" is not an IPv6 address or prefix',
    ],
    [
      'host bits set (IPv4)',
      fwd({ saddr: '10.0.0.1/8', verdict: 'drop' }),
      'firewall.forward[0].saddr: host bits set in 10.0.0.1/8',
    ],
    [
      'host bits set (IPv6)',
      fwd({ saddr: 'fd00::1/64', verdict: 'drop' }),
      'firewall.forward[0].saddr: host bits set in fd00::1/64',
    ],
    [
      'a prefix not a string',
      fwd({ daddr: 167772160, verdict: 'drop' }),
      'firewall.forward[0].daddr: an address or ADDR/LEN, not 167772160',
    ],
    [
      'an IPv6 prefix with family ip',
      fwd({ family: 'ip', saddr: 'fd00::/8', verdict: 'drop' }),
      'firewall.forward[0].saddr: an IPv6 prefix in a rule for IPv4 only (family or protocol): it could never match',
    ],
    [
      'an IPv4 prefix in an ICMPv6 rule',
      fwd({ protocol: 'icmpv6', daddr: '10.0.0.0/8', verdict: 'drop' }),
      'firewall.forward[0].daddr: an IPv4 prefix in a rule for IPv6 only (family or protocol): it could never match',
    ],
    [
      'source and destination of different families',
      fwd({ saddr: '10.0.0.0/8', daddr: 'fd00::/8', verdict: 'drop' }),
      'firewall.forward[0].daddr: only IPv6 prefixes, but saddr has only IPv4 ones: the rule could never match',
    ],
    [
      'ICMP with family ip6',
      fwd({ family: 'ip6', protocol: 'icmp', verdict: 'drop' }),
      "firewall.forward[0].protocol: icmp is IPv4's, but family is ip6",
    ],
    [
      'an unknown protocol name',
      fwd({ protocol: 'tpc', verdict: 'drop' }),
      'firewall.forward[0].protocol: "tpc" is not a protocol (icmp, tcp, udp, gre, esp, ah, icmpv6, icmp6, ipv6-icmp, sctp, udplite, or 0-255)',
    ],
    [
      'a protocol number out of range',
      fwd({ protocol: [6, 256], verdict: 'drop' }),
      'firewall.forward[0].protocol[1]: 256 is not a protocol (icmp, tcp, udp, gre, esp, ah, icmpv6, icmp6, ipv6-icmp, sctp, udplite, or 0-255)',
    ],
    [
      'ports without a protocol',
      fwd({ dport: 22, verdict: 'drop' }),
      'firewall.forward[0].dport: ports need "protocol" tcp, udp or both',
    ],
    [
      'ports with ICMP',
      fwd({ protocol: ['tcp', 'icmp'], sport: 22, verdict: 'drop' }),
      'firewall.forward[0].sport: ports need "protocol" tcp, udp or both',
    ],
    [
      'a port out of range',
      fwd({ protocol: 'tcp', dport: 70000, verdict: 'drop' }),
      'firewall.forward[0].dport: 70000 is not a port (0-65535)',
    ],
    [
      'a fractional port',
      fwd({ protocol: 'tcp', dport: 22.5, verdict: 'drop' }),
      'firewall.forward[0].dport: 22.5 is not a port (0-65535)',
    ],
    [
      'a port in text out of range',
      fwd({ protocol: 'udp', dport: ['53', '99999'], verdict: 'drop' }),
      'firewall.forward[0].dport[1]: "99999" is not a port (0-65535)',
    ],
    [
      'a backwards range',
      fwd({ protocol: 'tcp', dport: '8100-8000', verdict: 'drop' }),
      'firewall.forward[0].dport: range 8100-8000 runs backwards',
    ],
    [
      'a malformed range',
      fwd({ protocol: 'tcp', sport: '1-2-3', verdict: 'drop' }),
      'firewall.forward[0].sport: "1-2-3" is not a port (0-65535)',
    ],
    [
      'a port of the wrong type',
      fwd({ protocol: 'tcp', dport: true, verdict: 'drop' }),
      'firewall.forward[0].dport: a port or "FROM-TO", not true',
    ],
    [
      'an ICMP type without a protocol',
      fwd({ 'icmp-type': 8, verdict: 'drop' }),
      'firewall.forward[0].icmp-type: needs "protocol" icmp or icmpv6 (one of them)',
    ],
    [
      'an ICMP type with both ICMPs',
      fwd({ protocol: ['icmp', 'icmpv6'], 'icmp-type': 3, verdict: 'drop' }),
      'firewall.forward[0].icmp-type: needs "protocol" icmp or icmpv6 (one of them)',
    ],
    [
      'an ICMPv6 name under icmp',
      fwd({ protocol: 'icmp', 'icmp-type': 'packet-too-big', verdict: 'drop' }),
      'firewall.forward[0].icmp-type: "packet-too-big" is not an icmp type (echo-reply, destination-unreachable, source-quench, redirect, echo-request, router-advertisement, router-solicitation, time-exceeded, parameter-problem, timestamp-request, timestamp-reply, or 0-255)',
    ],
    [
      'an ICMP type out of range',
      fwd({ protocol: 'icmpv6', 'icmp-type': [1, 300], verdict: 'drop' }),
      'firewall.forward[0].icmp-type[1]: 300 is not an ICMP type (0-255)',
    ],
    [
      'an ICMP code without a protocol',
      fwd({ 'icmp-code': 13, verdict: 'drop' }),
      'firewall.forward[0].icmp-code: needs "protocol" icmp or icmpv6 (one of them)',
    ],
    [
      'an ICMP code out of range',
      fwd({ protocol: 'icmp', 'icmp-code': -1, verdict: 'drop' }),
      'firewall.forward[0].icmp-code: -1 is not an ICMP code (0-255)',
    ],
    [
      'a bad state',
      fwd({ state: ['new', 'closed'], verdict: 'drop' }),
      'firewall.forward[0].state[1]: "closed" is not a state (new, established, related, invalid)',
    ],
    [
      'a comment too long',
      fwd({ comment: 'x'.repeat(129), verdict: 'drop' }),
      'firewall.forward[0].comment: a one-line string of at most 128 characters',
    ],
    [
      'a comment on two lines',
      fwd({ comment: 'a\nb', verdict: 'drop' }),
      'firewall.forward[0].comment: a one-line string of at most 128 characters',
    ],
  ])('%s', (_name, json, message) => {
    const got = error(json, ['lan0', 'wan0']);
    expect(got).toBe(message);
    expect(got).not.toContain('\n');
  });

  it('names the rule by its index in its chain', () => {
    const rules = [
      { verdict: 'drop' },
      { verdict: 'drop' },
      { verdict: 'drop' },
      { protocol: 'tcp', dport: 'x', verdict: 'drop' },
    ];
    expect(error({ forward: rules })).toBe('firewall.forward[3].dport: "x" is not a port (0-65535)');
  });

  it('never throws, whatever the JSON', () => {
    for (const json of [
      null,
      undefined,
      0,
      'x',
      [1],
      { input: null },
      { input: [null] },
      { policy: null },
      { stateful: null },
    ])
      expect(() => parseFirewallConfig(json)).not.toThrow();
  });
});

describe('firewallFromFlags', () => {
  const flags = (allow: string[], policy: string[] = [], ifs?: string[]) => {
    const r = firewallFromFlags(allow, policy, ifs);
    if (!r.ok) throw new Error(r.error);
    return r.value;
  };

  it('makes one accept rule for new connections per service, then the policy rules, in both chains', () => {
    const config = flags(
      ['rl0,tcp:22,udp:53', 'rr0,tcp:8000-8100,icmp,icmp6,tcp'],
      ['rl0,drop', 'rr0,accept'],
    );
    const expected = [
      'iif rl0 protocol tcp dport 22 ct state new accept',
      'iif rl0 protocol udp dport 53 ct state new accept',
      'iif rr0 protocol tcp dport 8000-8100 ct state new accept',
      'iif rr0 protocol icmp ct state new accept',
      'iif rr0 protocol icmpv6 ct state new accept',
      'iif rr0 protocol tcp ct state new accept',
      'iif rl0 drop',
      'iif rr0 accept',
    ];
    expect(config.input.rules.map(describeRule)).toEqual(expected);
    expect(config.forward.rules.map(describeRule)).toEqual(expected);
    expect(config).toMatchObject({ acceptEstablished: true, dropInvalid: true });
    expect(config.input.policy).toBe('accept');
    expect(config.forward.rules[3]!.protocol).toEqual([IPPROTO_ICMP]);
    expect(config.forward.rules[4]!.protocol).toEqual([IPPROTO_ICMPV6]);
  });

  it('drops new connections on a policy-drop interface but lets established ones and allowed services through', () => {
    const fw = compileFirewall(flags(['wan0,tcp:22'], ['wan0,drop']));
    const tcp = (dport: number) =>
      Uint8Array.of(
        0x9c,
        0x40,
        dport >> 8,
        dport & 255,
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
        0x50,
        0x02,
        0xff,
        0xff,
        0,
        0,
        0,
        0,
      );
    const ssh = packetInfo(
      ipv6Packet({ src: v6('2001:db8::9'), dst: v6('fd00::1'), nextHeader: 6, payload: tcp(22) }),
    )!;
    const web = packetInfo(
      ipv6Packet({ src: v6('2001:db8::9'), dst: v6('fd00::1'), nextHeader: 6, payload: tcp(80) }),
    )!;
    expect(evaluate(fw, 'input', ssh, 'new', 'wan0', undefined, 64).verdict).toBe('accept');
    expect(evaluate(fw, 'forward', web, 'new', 'wan0', 'lan0', 64).verdict).toBe('drop');
    expect(evaluate(fw, 'forward', web, 'established', 'wan0', 'lan0', 64).verdict).toBe('accept');
    expect(evaluate(fw, 'forward', web, 'new', 'lan0', 'wan0', 64).verdict).toBe('accept');
  });

  it.each<[string[], string[], string]>([
    [['rl0'], [], '--allow rl0: give what to allow: IF,tcp:22 (or udp:53, tcp:8000-8100, icmp, icmp6)'],
    [[',tcp:22'], [], '--allow ,tcp:22: an interface name, not ""'],
    [['rl0,tcp:99999'], [], '--allow rl0,tcp:99999: "99999" is not a port (0-65535)'],
    [['rl0,tcp:90-80'], [], '--allow rl0,tcp:90-80: range 90-80 runs backwards'],
    [
      ['rl0,sctp:9'],
      [],
      '--allow rl0,sctp:9: "sctp:9" is not tcp:PORT, udp:PORT, tcp:FROM-TO, tcp, udp, icmp or icmp6',
    ],
    [['rl0,icmp:8'], [], '--allow rl0,icmp:8: icmp has no ports: icmp:8'],
    [['xx0,tcp:22'], [], '--allow xx0,tcp:22: no interface "xx0" (there are rl0, rr0)'],
    [[], ['rl0'], '--policy rl0: IF,drop or IF,accept'],
    [[], ['rl0,drop,now'], '--policy rl0,drop,now: IF,drop or IF,accept'],
    [[], ['rl0,reject'], '--policy rl0,reject: accept or drop, not "reject"'],
    [[], ['rl0,drop', 'rl0,accept'], '--policy rl0,accept: a second policy for rl0'],
  ])('refuses --allow %j --policy %j', (allow, policy, message) => {
    expect(firewallFromFlags(allow, policy, ['rl0', 'rr0'])).toEqual({ ok: false, error: message });
  });

  it('appends flag rules after the file rules, keeping the file policies', () => {
    const file = parsed({
      policy: { input: 'drop' },
      input: [{ protocol: 'udp', dport: 53, verdict: 'accept' }],
    });
    const r = appendFirewallRules(file, flags(['rl0,tcp:22']));
    expect(r.ok && r.value.input.rules.map(describeRule)).toEqual([
      'protocol udp dport 53 accept',
      'iif rl0 protocol tcp dport 22 ct state new accept',
    ]);
    expect(r.ok && r.value.input.policy).toBe('drop');
    const full = parsed({ input: Array.from({ length: MAX_RULES_PER_CHAIN }, () => ({ verdict: 'drop' })) });
    expect(appendFirewallRules(full, flags(['rl0,tcp:22']))).toEqual({
      ok: false,
      error: `firewall: at most ${MAX_RULES_PER_CHAIN} rules per chain, flags included`,
    });
  });
});
