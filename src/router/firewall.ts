/**
 * Firewall rules (pure): two chains as in nftables, each an ordered rule list with a default policy,
 * compiled once into arrays of numbers and evaluated per packet without allocating.
 *
 *   input    packets addressed to the router itself (the forwarding decision said 'local')
 *   forward  packets the router forwards (ingress and egress interface known)
 *
 * `evaluate(fw, chain, info, ct, ingress, egress, hopLimit)` decides in this order:
 *  1. ICMPv6 that IPv6 needs (RFC 4890, `isEssentialIcmpv6` below): accept, whatever the policy;
 *  2. stateful (on by default, `acceptEstablished`): packets of established and related flows accept;
 *  3. (`dropInvalid`, on by default) packets conntrack calls invalid drop;
 *  4. the chain's rules, first match wins (a rule matches when every match it has holds; a list
 *     inside a match is any-of);
 *  5. the chain's policy.
 * The decision names what decided (`rule`: the rule's index, or 'policy', 'established', 'related',
 * 'invalid', 'icmpv6') and a `slot` into the per-chain counters, which live outside the immutable
 * rules (`createCounters`, `countDecision`, `firewallStats`).
 *
 * Matches: ingress / egress interface (by name), source / destination prefix (IPv4 and IPv6; a rule
 * whose prefixes are all of the other family never matches), protocol (the upper layer, after IPv6
 * extension headers), source / destination port ranges (only TCP and UDP packets match a port
 * match), ICMP type and code (only ICMP packets of the rule's family), conntrack state. Verdicts
 * accept, drop and reject (reject.ts builds the reply: TCP RST for TCP, ICMP administratively
 * prohibited otherwise). Configuration and its validation: firewall-config.ts.
 *
 * Contract: `compileFirewall` throws only on a rule that firewall-config.ts would have refused (a
 * programmer's error); `evaluate` never throws, allocates nothing and does not mutate its inputs.
 */
import type { Ipv4Addr, Ipv6Addr } from '../addr.js';
import { ipv4Mask, ipv4ToString, ipv6ToString } from '../addr.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../ipproto.js';
import type { PacketInfo } from './packet-info.js';

export type Chain = 'input' | 'forward';
export type Verdict = 'accept' | 'drop' | 'reject';
/** nftables base chains take accept or drop as policy; reject is a rule's verdict. */
export type Policy = 'accept' | 'drop';
/** What connection tracking says about the packet. */
export type ConntrackState = 'new' | 'established' | 'related' | 'invalid';

export const CONNTRACK_STATES: readonly ConntrackState[] = ['new', 'established', 'related', 'invalid'];

export type IpPrefix =
  | { readonly version: 4; readonly address: Ipv4Addr; readonly prefixLen: number }
  | { readonly version: 6; readonly address: Ipv6Addr; readonly prefixLen: number };

/** Inclusive port range. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** One rule; an absent match matches everything. Lists are any-of. */
export interface FirewallRule {
  readonly iif?: readonly string[];
  readonly oif?: readonly string[];
  readonly family?: 4 | 6;
  readonly saddr?: readonly IpPrefix[];
  readonly daddr?: readonly IpPrefix[];
  /** IP protocol numbers (IPv6: the upper-layer protocol after extension headers). */
  readonly protocol?: readonly number[];
  readonly sport?: readonly PortRange[];
  readonly dport?: readonly PortRange[];
  readonly icmpType?: readonly number[];
  readonly icmpCode?: readonly number[];
  readonly state?: readonly ConntrackState[];
  readonly verdict: Verdict;
  readonly comment?: string;
}

export interface ChainConfig {
  readonly policy: Policy;
  readonly rules: readonly FirewallRule[];
}

export interface FirewallConfig {
  /** Accept packets of established and related flows before the rules (stateful, the default). */
  readonly acceptEstablished: boolean;
  /** Drop packets that conntrack calls invalid before the rules (the default). */
  readonly dropInvalid: boolean;
  readonly input: ChainConfig;
  readonly forward: ChainConfig;
}

/** Rules per chain; a chain is walked per packet, so its length is bounded. */
export const MAX_RULES_PER_CHAIN = 1024;
/** Entries in one match list (interfaces, prefixes, ports, ...). */
export const MAX_MATCH_ENTRIES = 64;

/** Both policies accept, no rules, stateful: established/related accepted, invalid dropped. */
export const DEFAULT_FIREWALL_CONFIG: FirewallConfig = {
  acceptEstablished: true,
  dropInvalid: true,
  input: { policy: 'accept', rules: [] },
  forward: { policy: 'accept', rules: [] },
};

/** Who decided: a rule's index in its chain, or one of the steps around the rules. */
export type DecidedBy = number | 'policy' | 'established' | 'related' | 'invalid' | 'icmpv6';

export interface FirewallDecision {
  readonly verdict: Verdict;
  readonly rule: DecidedBy;
  /** Index into the chain's counters (`ChainCounters`). */
  readonly slot: number;
}

/** The counter slots after a chain's rules: rule i is slot i, then these in this order. */
const AFTER_RULES = ['policy', 'established', 'related', 'invalid', 'icmpv6'] as const;

const STATE_BIT: Record<ConntrackState, number> = { new: 1, established: 2, related: 4, invalid: 8 };

/*
 * The compiled form: each chain is one Int32Array program, a block per rule, walked by `evaluate`.
 * One flat array of numbers is what V8 reads fastest (a first version with an object and small
 * typed arrays per rule took several times longer per rule).
 *
 *   block := NEXT INDEX PROTO DLO DHI test* OP_MATCH
 *            NEXT: offset of the next block; INDEX: the rule's. PROTO, DLO, DHI: a pre-test in the
 *            block's head, so that most blocks are skipped in a tight loop: the protocol (-1: any,
 *            or several, tested by OP_PROTO) and a destination-port interval (the rule's one range;
 *            the hull of several, tested by OP_DPORT; -1..65535 without a port match).
 *   test  := OP_FAMILY v                      the packet's IP version is v
 *          | OP_PROTO n v*                    its protocol is one of n values
 *          | OP_DPORT n (from to)*n            its destination port is in one of the ranges
 *          | OP_SPORT1 from to | OP_SPORT n (from to)*n
 *          | OP_ICMP_TYPE n v* | OP_ICMP_CODE n v*
 *          | OP_STATE mask                    conntrack's state bit is in mask
 *          | OP_IIF1 id | OP_IIF n id* | OP_OIF1 id | OP_OIF n id*   (names numbered at compile time)
 *          | OP_SADDR4 net mask | OP_DADDR4 net mask                  one IPv4 prefix
 *          | OP_SADDR n4 (net mask)*n4 n6 (net0..3 mask0..3)*n6       any list, by the packet's version
 *          | OP_DADDR ...
 * A failed test jumps to NEXT. Tests come cheapest and most selective first. Port tests see -1 for
 * a packet that is neither TCP nor UDP, ICMP tests -1 for one that is not ICMP of its version, so
 * neither can match there.
 */
const OP_MATCH = 0;
const OP_FAMILY = 1;
const OP_PROTO = 2;
const OP_DPORT = 3;
const OP_SPORT1 = 4;
const OP_SPORT = 5;
const OP_ICMP_TYPE = 6;
const OP_ICMP_CODE = 7;
const OP_STATE = 8;
const OP_IIF1 = 9;
const OP_IIF = 10;
const OP_OIF1 = 11;
const OP_OIF = 12;
const OP_SADDR4 = 13;
const OP_DADDR4 = 14;
const OP_SADDR = 15;
const OP_DADDR = 16;

interface CompiledChain {
  readonly code: Int32Array;
  /** By rule index. */
  readonly decisions: readonly FirewallDecision[];
  /** Whether some rule compares IPv6 addresses: only then are a packet's read as words. */
  readonly v6Addresses: boolean;
  readonly policy: FirewallDecision;
  readonly established: FirewallDecision;
  readonly related: FirewallDecision;
  readonly invalid: FirewallDecision;
  readonly icmpv6: FirewallDecision;
}

/** A configuration compiled for `evaluate`. Immutable. */
export interface Firewall {
  readonly config: FirewallConfig;
  readonly input: CompiledChain;
  readonly forward: CompiledChain;
  /** Interface names used by some rule, numbered. */
  readonly interfaceIds: ReadonlyMap<string, number>;
}

function decision(verdict: Verdict, rule: DecidedBy, slot: number): FirewallDecision {
  return Object.freeze({ verdict, rule, slot });
}

/** The 32-bit word `k` (0-3) of an IPv6 address, as a signed int like the program's words. */
function word6(a: Uint8Array, k: number): number {
  return (a[4 * k]! << 24) | (a[4 * k + 1]! << 16) | (a[4 * k + 2]! << 8) | a[4 * k + 3]!;
}

function mask6(prefixLen: number, k: number): number {
  const bits = Math.max(0, Math.min(32, prefixLen - 32 * k));
  return bits === 0 ? 0 : (0xffff_ffff << (32 - bits)) | 0;
}

function emitPrefixes(out: number[], op4: number, op: number, list: readonly IpPrefix[]): void {
  const four = list.filter((p) => p.version === 4);
  const six = list.filter((p) => p.version === 6);
  if (four.length === 1 && six.length === 0) {
    const mask = ipv4Mask(four[0]!.prefixLen);
    out.push(op4, (four[0]!.address & mask) | 0, mask | 0);
    return;
  }
  out.push(op, four.length);
  for (const p of four) {
    const mask = ipv4Mask(p.prefixLen);
    out.push((p.address & mask) | 0, mask | 0);
  }
  out.push(six.length);
  for (const p of six) {
    for (let k = 0; k < 4; k++) out.push(word6(p.address, k) & mask6(p.prefixLen, k));
    for (let k = 0; k < 4; k++) out.push(mask6(p.prefixLen, k));
  }
}

function emitRule(out: number[], rule: FirewallRule, index: number, ids: Map<string, number>): void {
  const idOf = (name: string): number => {
    let id = ids.get(name);
    if (id === undefined) {
      id = ids.size;
      ids.set(name, id);
    }
    return id;
  };
  const start = out.length;
  const protos = rule.protocol ?? [];
  const dports = rule.dport ?? [];
  out.push(
    0,
    index,
    protos.length === 1 ? protos[0]! : -1,
    dports.length === 0 ? -1 : Math.min(...dports.map((r) => r.from)),
    dports.length === 0 ? 65535 : Math.max(...dports.map((r) => r.to)),
  );
  const list = (op1: number, op: number, values: readonly number[]) => {
    if (op1 >= 0 && values.length === 1) out.push(op1, values[0]!);
    else out.push(op, values.length, ...values);
  };
  const ranges = (op1: number, op: number, rs: readonly PortRange[]) => {
    if (op1 >= 0 && rs.length === 1) out.push(op1, rs[0]!.from, rs[0]!.to);
    else {
      out.push(op, rs.length);
      for (const r of rs) out.push(r.from, r.to);
    }
  };
  if (rule.family !== undefined) out.push(OP_FAMILY, rule.family);
  // The head holds a single protocol or range; several (or none: an empty list matches nothing) need the test.
  if (rule.protocol !== undefined && protos.length !== 1) list(-1, OP_PROTO, protos);
  if (rule.dport !== undefined && dports.length !== 1) ranges(-1, OP_DPORT, dports);
  if (rule.sport !== undefined) ranges(OP_SPORT1, OP_SPORT, rule.sport);
  if (rule.icmpType !== undefined) list(-1, OP_ICMP_TYPE, rule.icmpType);
  if (rule.icmpCode !== undefined) list(-1, OP_ICMP_CODE, rule.icmpCode);
  if (rule.state !== undefined) {
    let mask = 0;
    for (const st of rule.state) mask |= STATE_BIT[st];
    out.push(OP_STATE, mask);
  }
  if (rule.iif !== undefined) list(OP_IIF1, OP_IIF, rule.iif.map(idOf));
  if (rule.oif !== undefined) list(OP_OIF1, OP_OIF, rule.oif.map(idOf));
  if (rule.saddr !== undefined) emitPrefixes(out, OP_SADDR4, OP_SADDR, rule.saddr);
  if (rule.daddr !== undefined) emitPrefixes(out, OP_DADDR4, OP_DADDR, rule.daddr);
  out.push(OP_MATCH);
  out[start] = out.length;
}

function compileChain(chain: ChainConfig, ids: Map<string, number>): CompiledChain {
  if (chain.rules.length > MAX_RULES_PER_CHAIN)
    throw new RangeError(`compileFirewall: more than ${MAX_RULES_PER_CHAIN} rules in a chain`);
  const code: number[] = [];
  for (let i = 0; i < chain.rules.length; i++) emitRule(code, chain.rules[i]!, i, ids);
  const n = chain.rules.length;
  return {
    code: Int32Array.from(code),
    decisions: chain.rules.map((r, i) => decision(r.verdict, i, i)),
    v6Addresses: chain.rules.some((r) =>
      [...(r.saddr ?? []), ...(r.daddr ?? [])].some((p) => p.version === 6),
    ),
    policy: decision(chain.policy, 'policy', n),
    established: decision('accept', 'established', n + 1),
    related: decision('accept', 'related', n + 2),
    invalid: decision('drop', 'invalid', n + 3),
    icmpv6: decision('accept', 'icmpv6', n + 4),
  };
}

/** Compiles a validated configuration (firewall-config.ts) once; evaluate with `evaluate`. */
export function compileFirewall(config: FirewallConfig): Firewall {
  const ids = new Map<string, number>();
  return {
    config,
    input: compileChain(config.input, ids),
    forward: compileChain(config.forward, ids),
    interfaceIds: ids,
  };
}

/**
 * ICMPv6 that IPv6 needs to work, accepted under any policy (RFC 4890). The exact list:
 *  - input chain only, hop limit 255 only: Router Solicitation 133, Router Advertisement 134,
 *    Neighbor Solicitation 135, Neighbor Advertisement 136, Redirect 137 — RFC 4890 §4.4.1 (address
 *    configuration and router selection "must not be dropped"; Redirect is §4.4.4's policy choice,
 *    passed here because the host validates it and a router ignores it). Hop limit 255 proves an
 *    on-link sender (RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2, §8.1); with any other the NDP core
 *    would discard the message anyway, so only those are exempt from the rules.
 *  - both chains, any conntrack state: Packet Too Big 2 — RFC 4890 §4.3.1 and §4.4.1: path MTU
 *    discovery (RFC 8201) fails without it, and a PTB may quote a flow conntrack never saw (the
 *    router's own traffic, a flow that timed out).
 *  - both chains, when conntrack says `related` (the error quotes a tracked flow): Destination
 *    Unreachable 1, Time Exceeded 3, Parameter Problem 4, every code — RFC 4890 §4.3.1 and §4.4.1
 *    (must not be dropped), §4.3.2 and §4.4.2 (the codes that "normally should not be"); tying them
 *    to a tracked flow stands in for §3.2's scoping of errors to the site's own traffic.
 * Not on the list, left to the rules: echo request and reply (RFC 4890 §4.3.1 keeps them for
 * connectivity checks, but whether the router or a host answers pings is the policy's choice), MLD
 * 130-132 and 143 (§4.4.1; Oasis runs no MLD), and everything else.
 */
export function isEssentialIcmpv6(
  chain: Chain,
  info: PacketInfo,
  ct: ConntrackState,
  hopLimit: number,
): boolean {
  if (info.version !== 6 || info.protocol !== IPPROTO_ICMPV6) return false;
  const type = info.icmpType;
  if (type === 2) return true;
  if (type === 1 || type === 3 || type === 4) return ct === 'related';
  return chain === 'input' && type >= 133 && type <= 137 && hopLimit === 255;
}

/**
 * The verdict of `chain` on a packet: `info` its summary, `ct` what conntrack says, `ingress` and
 * `egress` the interface names (`egress` undefined on the input chain), `hopLimit` the IPv6 hop
 * limit as received (for RFC 4890's NDP exemption; ignored for IPv4). Pure and allocation-free.
 */
export function evaluate(
  fw: Firewall,
  chain: Chain,
  info: PacketInfo,
  ct: ConntrackState,
  ingress: string | undefined,
  egress: string | undefined,
  hopLimit: number,
): FirewallDecision {
  const c = chain === 'input' ? fw.input : fw.forward;
  const version = info.version;
  const protocol = info.protocol;
  if (version === 6 && protocol === IPPROTO_ICMPV6 && isEssentialIcmpv6(chain, info, ct, hopLimit))
    return c.icmpv6;
  const { config } = fw;
  if (config.acceptEstablished) {
    if (ct === 'established') return c.established;
    if (ct === 'related') return c.related;
  }
  if (config.dropInvalid && ct === 'invalid') return c.invalid;
  const code = c.code;
  const end = code.length;
  if (end === 0) return c.policy;
  // The packet's fields, read once; -1 where a match kind cannot apply (see the program's comment).
  const stateBit = STATE_BIT[ct];
  const iif = ingress === undefined ? -1 : (fw.interfaceIds.get(ingress) ?? -1);
  const oif = egress === undefined ? -1 : (fw.interfaceIds.get(egress) ?? -1);
  const ported = protocol === IPPROTO_TCP || protocol === IPPROTO_UDP;
  const icmp = protocol === (version === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
  const sport = ported ? info.srcPort : -1;
  const dport = ported ? info.dstPort : -1;
  const icmpType = icmp ? info.icmpType : -1;
  const icmpCode = icmp ? info.icmpCode : -1;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let d0 = 0;
  let d1 = 0;
  let d2 = 0;
  let d3 = 0;
  if (version === 4) {
    s0 = (info.src as number) | 0;
    d0 = (info.dst as number) | 0;
  } else if (c.v6Addresses) {
    const s = info.src as Uint8Array;
    const d = info.dst as Uint8Array;
    s0 = word6(s, 0);
    s1 = word6(s, 1);
    s2 = word6(s, 2);
    s3 = word6(s, 3);
    d0 = word6(d, 0);
    d1 = word6(d, 1);
    d2 = word6(d, 2);
    d3 = word6(d, 3);
  }
  let pc = 0;
  rules: while (pc < end) {
    const proto = code[pc + 2]!;
    if ((proto !== protocol && proto !== -1) || dport < code[pc + 3]! || dport > code[pc + 4]!) {
      pc = code[pc]!;
      continue;
    }
    let k = pc + 5;
    for (;;) {
      const op = code[k]!;
      switch (op) {
        case OP_MATCH:
          return c.decisions[code[pc + 1]!]!;
        case OP_FAMILY:
          if (code[k + 1] !== version) break;
          k += 2;
          continue;
        case OP_SPORT1:
          if (sport < code[k + 1]! || sport > code[k + 2]!) break;
          k += 3;
          continue;
        case OP_STATE:
          if ((code[k + 1]! & stateBit) === 0) break;
          k += 2;
          continue;
        case OP_IIF1:
          if (code[k + 1] !== iif) break;
          k += 2;
          continue;
        case OP_OIF1:
          if (code[k + 1] !== oif) break;
          k += 2;
          continue;
        case OP_SADDR4:
          if (version !== 4 || ((s0 ^ code[k + 1]!) & code[k + 2]!) !== 0) break;
          k += 3;
          continue;
        case OP_DADDR4:
          if (version !== 4 || ((d0 ^ code[k + 1]!) & code[k + 2]!) !== 0) break;
          k += 3;
          continue;
        case OP_PROTO:
        case OP_ICMP_TYPE:
        case OP_ICMP_CODE:
        case OP_IIF:
        case OP_OIF: {
          const v =
            op === OP_PROTO
              ? protocol
              : op === OP_ICMP_TYPE
                ? icmpType
                : op === OP_ICMP_CODE
                  ? icmpCode
                  : op === OP_IIF
                    ? iif
                    : oif;
          // -1 (no such field, unknown interface) is never in a list.
          let j = k + 2;
          const stop = j + code[k + 1]!;
          while (j < stop && code[j] !== v) j++;
          if (j === stop || v < 0) break;
          k = stop;
          continue;
        }
        case OP_DPORT:
        case OP_SPORT: {
          const v = op === OP_DPORT ? dport : sport;
          let j = k + 2;
          const stop = j + 2 * code[k + 1]!;
          while (j < stop && (v < code[j]! || v > code[j + 1]!)) j += 2;
          if (j === stop) break;
          k = stop;
          continue;
        }
        case OP_SADDR:
        case OP_DADDR: {
          const src = op === OP_SADDR;
          const at6 = k + 2 + 2 * code[k + 1]!;
          const stop = at6 + 1 + 8 * code[at6]!;
          let hit = false;
          if (version === 4) {
            const a = src ? s0 : d0;
            for (let j = k + 2; j < at6 && !hit; j += 2) hit = ((a ^ code[j]!) & code[j + 1]!) === 0;
          } else {
            const w0 = src ? s0 : d0;
            const w1 = src ? s1 : d1;
            const w2 = src ? s2 : d2;
            const w3 = src ? s3 : d3;
            for (let j = at6 + 1; j < stop && !hit; j += 8)
              hit =
                ((w0 ^ code[j]!) & code[j + 4]!) === 0 &&
                ((w1 ^ code[j + 1]!) & code[j + 5]!) === 0 &&
                ((w2 ^ code[j + 2]!) & code[j + 6]!) === 0 &&
                ((w3 ^ code[j + 3]!) & code[j + 7]!) === 0;
          }
          if (!hit) break;
          k = stop;
          continue;
        }
        default:
          // Not emitted by `emitRule`: the rule does not match.
          break;
      }
      pc = code[pc]!;
      continue rules;
    }
  }
  return c.policy;
}

// --- Descriptions ---------------------------------------------------------------------------------

const PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  1: 'icmp',
  6: 'tcp',
  17: 'udp',
  47: 'gre',
  50: 'esp',
  51: 'ah',
  58: 'icmpv6',
  132: 'sctp',
  136: 'udplite',
};

export function protocolName(n: number): string {
  return PROTOCOL_NAMES[n] ?? String(n);
}

export function prefixToString(p: IpPrefix): string {
  return p.version === 4
    ? `${ipv4ToString(p.address)}/${p.prefixLen}`
    : `${ipv6ToString(p.address)}/${p.prefixLen}`;
}

function set(items: readonly string[]): string {
  return items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`;
}

/**
 * One line in nftables' words, e.g. `iif rl0 ip saddr 10.0.0.0/8 tcp dport 22 ct state new accept`,
 * for the router's JSON counters.
 */
export function describeRule(rule: FirewallRule): string {
  const parts: string[] = [];
  if (rule.iif !== undefined) parts.push(`iif ${set(rule.iif)}`);
  if (rule.oif !== undefined) parts.push(`oif ${set(rule.oif)}`);
  if (rule.family !== undefined) parts.push(rule.family === 4 ? 'ip' : 'ip6');
  if (rule.saddr !== undefined) parts.push(`saddr ${set(rule.saddr.map(prefixToString))}`);
  if (rule.daddr !== undefined) parts.push(`daddr ${set(rule.daddr.map(prefixToString))}`);
  if (rule.protocol !== undefined) parts.push(`protocol ${set(rule.protocol.map(protocolName))}`);
  const ports = (rs: readonly PortRange[]) =>
    set(rs.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)));
  if (rule.sport !== undefined) parts.push(`sport ${ports(rule.sport)}`);
  if (rule.dport !== undefined) parts.push(`dport ${ports(rule.dport)}`);
  if (rule.icmpType !== undefined) parts.push(`icmp type ${set(rule.icmpType.map(String))}`);
  if (rule.icmpCode !== undefined) parts.push(`icmp code ${set(rule.icmpCode.map(String))}`);
  if (rule.state !== undefined) parts.push(`ct state ${set(rule.state)}`);
  parts.push(rule.verdict);
  if (rule.comment !== undefined) parts.push(`comment ${JSON.stringify(rule.comment)}`);
  return parts.join(' ');
}

// --- Counters -------------------------------------------------------------------------------------

/** Packets and bytes per slot: slot i is rule i; then policy, established, related, invalid, icmpv6. */
export interface ChainCounters {
  readonly packets: Float64Array;
  readonly bytes: Float64Array;
}

export interface FirewallCounters {
  readonly input: ChainCounters;
  readonly forward: ChainCounters;
}

function chainCounters(n: number): ChainCounters {
  return {
    packets: new Float64Array(n + AFTER_RULES.length),
    bytes: new Float64Array(n + AFTER_RULES.length),
  };
}

/** Zeroed counters shaped for `fw`. */
export function createCounters(fw: Firewall): FirewallCounters {
  return {
    input: chainCounters(fw.config.input.rules.length),
    forward: chainCounters(fw.config.forward.rules.length),
  };
}

/** Adds one packet of `bytes` to the slot of `d`. (The counters are the caller's mutable state.) */
export function countDecision(
  counters: FirewallCounters,
  chain: Chain,
  d: FirewallDecision,
  bytes: number,
): void {
  const c = counters[chain];
  c.packets[d.slot]! += 1;
  c.bytes[d.slot]! += bytes;
}

/**
 * Counters for a reloaded `next` firewall: a rule of `next` whose description equals a rule of
 * `prev` in the same chain keeps its counts (the first unused such rule), as do the slots after
 * the rules; new rules start at zero.
 */
export function carryCounters(prev: Firewall, counters: FirewallCounters, next: Firewall): FirewallCounters {
  const out = createCounters(next);
  for (const chain of ['input', 'forward'] as const) {
    const before = prev.config[chain].rules.map(describeRule);
    const used = new Set<number>();
    next.config[chain].rules.forEach((rule, i) => {
      const text = describeRule(rule);
      const j = before.findIndex((t, k) => t === text && !used.has(k));
      if (j < 0) return;
      used.add(j);
      out[chain].packets[i] = counters[chain].packets[j]!;
      out[chain].bytes[i] = counters[chain].bytes[j]!;
    });
    const n = before.length;
    const m = next.config[chain].rules.length;
    for (let k = 0; k < AFTER_RULES.length; k++) {
      out[chain].packets[m + k] = counters[chain].packets[n + k]!;
      out[chain].bytes[m + k] = counters[chain].bytes[n + k]!;
    }
  }
  return out;
}

export interface CounterPair {
  readonly packets: number;
  readonly bytes: number;
}

export interface ChainStats {
  readonly policy: Policy;
  readonly rules: readonly ({ readonly rule: string } & CounterPair)[];
  /** Packets decided by the policy, the stateful steps and RFC 4890's list. */
  readonly byPolicy: CounterPair;
  readonly established: CounterPair;
  readonly related: CounterPair;
  readonly invalid: CounterPair;
  readonly icmpv6: CounterPair;
}

/** The counters as plain JSON, each rule described (`describeRule`). */
export function firewallStats(
  fw: Firewall,
  counters: FirewallCounters,
): { readonly input: ChainStats; readonly forward: ChainStats } {
  const stats = (chain: Chain): ChainStats => {
    const cfg = fw.config[chain];
    const c = counters[chain];
    const n = cfg.rules.length;
    const pair = (slot: number): CounterPair => ({ packets: c.packets[slot]!, bytes: c.bytes[slot]! });
    return {
      policy: cfg.policy,
      rules: cfg.rules.map((r, i) => ({ rule: describeRule(r), ...pair(i) })),
      byPolicy: pair(n),
      established: pair(n + 1),
      related: pair(n + 2),
      invalid: pair(n + 3),
      icmpv6: pair(n + 4),
    };
  };
  return { input: stats('input'), forward: stats('forward') };
}
