/**
 * The firewall's configuration (pure): the `firewall` section of `oasis router --config FILE.json`,
 * validated completely, and the short flag form `--allow IF,tcp:22` / `--policy IF,drop`.
 *
 * JSON (every key optional; unknown keys are errors):
 *
 *   "firewall": {
 *     "stateful": true,                       // or false, or {"accept-established": B, "drop-invalid": B}
 *     "policy": { "input": "accept", "forward": "drop" },     // accept (default) or drop
 *     "input":   [ RULE, ... ],               // packets to the router itself
 *     "forward": [ RULE, ... ]                // packets through it; first match wins
 *   }
 *   RULE = {
 *     "iif": "rl0" | ["rl0", ...],            "oif": ... (forward only)
 *     "family": "ip" | "ip6",
 *     "saddr": "10.0.0.0/8" | "fd00::/8" | "10.1.2.3" | [...],   "daddr": ...
 *     "protocol": "tcp" | "udp" | "icmp" | "icmpv6" | "sctp" | ... | 0-255 | [...],
 *     "sport": 22 | "8000-8100" | [...],      "dport": ...       (protocol tcp and/or udp)
 *     "icmp-type": "echo-request" | 8 | [...], "icmp-code": 13 | [...]  (protocol icmp or icmpv6)
 *     "state": "new" | ["new", "established", "related", "invalid"],
 *     "verdict": "accept" | "drop" | "reject",   (required)
 *     "comment": "text"
 *   }
 *
 * Every mistake is one line naming the field, e.g. `firewall.forward[3].dport: 70000 is not a port
 * (0-65535)`. A rule that could never match (an IPv6 prefix in an ICMP rule, oif on the input chain)
 * is refused rather than kept silently dead.
 *
 * Flags: `--allow IF,SPEC[,SPEC...]` accepts new connections arriving on IF, to the router (input)
 * or through it (forward); SPEC is `tcp:22`, `udp:53`, `tcp:8000-8100`, `tcp`, `udp`, `icmp` or
 * `icmp6`. `--policy IF,drop` (or `accept`) ends both chains with a rule for what else arrives on IF:
 * with the stateful default that is every new connection. Flag rules come after the file's.
 *
 * Contract: `parseFirewallConfig` and `firewallFromFlags` never throw; they return the
 * configuration or the one-line error.
 */
import { ipv4Mask, ipv6Equal, ipv6Prefix, parseIpv4Cidr, parseIpv6Cidr } from '../addr.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../ipproto.js';
import { err, ok, type Result } from '../result.js';
import {
  type ChainConfig,
  CONNTRACK_STATES,
  type ConntrackState,
  DEFAULT_FIREWALL_CONFIG,
  type FirewallConfig,
  type FirewallRule,
  type IpPrefix,
  MAX_MATCH_ENTRIES,
  MAX_RULES_PER_CHAIN,
  type Policy,
  type PortRange,
  type Verdict,
} from './firewall.js';

/** A configuration mistake, carried to the API's boundary and returned as a `Result`. */
class Invalid {
  constructor(readonly message: string) {}
}

function fail(path: string, message: string): never {
  throw new Invalid(`${path}: ${message}`);
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value or a non-empty list of them, each checked by `one`. */
function list<T>(v: unknown, path: string, one: (x: unknown, p: string) => T): T[] {
  const items = Array.isArray(v) ? v : [v];
  if (items.length === 0) fail(path, 'an empty list matches nothing; leave the field out to match anything');
  if (items.length > MAX_MATCH_ENTRIES) fail(path, `at most ${MAX_MATCH_ENTRIES} entries`);
  return items.map((x, i) => one(x, Array.isArray(v) ? `${path}[${i}]` : path));
}

export const PROTOCOLS: Readonly<Record<string, number>> = {
  icmp: IPPROTO_ICMP,
  tcp: IPPROTO_TCP,
  udp: IPPROTO_UDP,
  gre: 47,
  esp: 50,
  ah: 51,
  icmpv6: IPPROTO_ICMPV6,
  icmp6: IPPROTO_ICMPV6,
  'ipv6-icmp': IPPROTO_ICMPV6,
  sctp: 132,
  udplite: 136,
};

/** nftables' names (`nft describe icmp type`, `icmpv6 type`). */
const ICMP_TYPES: Readonly<Record<string, number>> = {
  'echo-reply': 0,
  'destination-unreachable': 3,
  'source-quench': 4,
  redirect: 5,
  'echo-request': 8,
  'router-advertisement': 9,
  'router-solicitation': 10,
  'time-exceeded': 11,
  'parameter-problem': 12,
  'timestamp-request': 13,
  'timestamp-reply': 14,
};

const ICMPV6_TYPES: Readonly<Record<string, number>> = {
  'destination-unreachable': 1,
  'packet-too-big': 2,
  'time-exceeded': 3,
  'parameter-problem': 4,
  'echo-request': 128,
  'echo-reply': 129,
  'mld-listener-query': 130,
  'mld-listener-report': 131,
  'mld-listener-done': 132,
  'nd-router-solicit': 133,
  'nd-router-advert': 134,
  'nd-neighbor-solicit': 135,
  'nd-neighbor-advert': 136,
  'nd-redirect': 137,
  'mld2-listener-report': 143,
};

function has(table: Readonly<Record<string, number>>, key: string): boolean {
  return Object.hasOwn(table, key);
}

function interfaceName(v: unknown, path: string, known: readonly string[] | undefined): string {
  if (typeof v !== 'string' || v === '') fail(path, `an interface name, not ${show(v)}`);
  if (v.length > 15 || /[\s/,]/.test(v))
    fail(path, `${show(v)} is not an interface name (at most 15 characters, no spaces, '/' or ',')`);
  if (known !== undefined && !known.includes(v))
    fail(path, `no interface ${show(v)} (there are ${known.join(', ')})`);
  return v;
}

function prefix(v: unknown, path: string): IpPrefix {
  if (typeof v !== 'string') fail(path, `an address or ADDR/LEN, not ${show(v)}`);
  if (v.includes(':')) {
    const p = parseIpv6Cidr(v);
    if (p === undefined) fail(path, `${show(v)} is not an IPv6 address or prefix`);
    if (!ipv6Equal(ipv6Prefix(p.address, p.prefixLen), p.address)) fail(path, `host bits set in ${v}`);
    return { version: 6, address: p.address, prefixLen: p.prefixLen };
  }
  const p = parseIpv4Cidr(v);
  if (p === undefined) fail(path, `${show(v)} is not an IPv4 address or prefix`);
  if ((p.address & ~ipv4Mask(p.prefixLen)) >>> 0 !== 0) fail(path, `host bits set in ${v}`);
  return { version: 4, address: p.address, prefixLen: p.prefixLen };
}

function protocol(v: unknown, path: string): number {
  if (typeof v === 'string' && has(PROTOCOLS, v)) return PROTOCOLS[v]!;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255) return v;
  return fail(path, `${show(v)} is not a protocol (${Object.keys(PROTOCOLS).join(', ')}, or 0-255)`);
}

function port(text: string, whole: unknown, path: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) fail(path, `${show(whole)} is not a port (0-65535)`);
  return Number(text);
}

function portRange(v: unknown, path: string): PortRange {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 65535) fail(path, `${show(v)} is not a port (0-65535)`);
    return { from: v, to: v };
  }
  if (typeof v !== 'string') fail(path, `a port or "FROM-TO", not ${show(v)}`);
  const dash = v.indexOf('-');
  if (dash < 0) {
    const p = port(v, v, path);
    return { from: p, to: p };
  }
  const from = port(v.slice(0, dash), v, path);
  const to = port(v.slice(dash + 1), v, path);
  if (from > to) fail(path, `range ${v} runs backwards`);
  return { from, to };
}

function byte(v: unknown, path: string, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255)
    fail(path, `${show(v)} is not ${what} (0-255)`);
  return v;
}

function conntrackState(v: unknown, path: string): ConntrackState {
  if (typeof v !== 'string' || !(CONNTRACK_STATES as readonly string[]).includes(v))
    fail(path, `${show(v)} is not a state (${CONNTRACK_STATES.join(', ')})`);
  return v as ConntrackState;
}

function verdict(v: unknown, path: string): Verdict {
  if (v !== 'accept' && v !== 'drop' && v !== 'reject') fail(path, `accept, drop or reject, not ${show(v)}`);
  return v;
}

function policy(v: unknown, path: string): Policy {
  if (v !== 'accept' && v !== 'drop') fail(path, `accept or drop, not ${show(v)}`);
  return v;
}

const RULE_KEYS = [
  'iif',
  'oif',
  'family',
  'saddr',
  'daddr',
  'protocol',
  'sport',
  'dport',
  'icmp-type',
  'icmp-code',
  'state',
  'verdict',
  'comment',
] as const;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function rule(
  v: unknown,
  path: string,
  chain: 'input' | 'forward',
  known: readonly string[] | undefined,
): FirewallRule {
  if (!isObject(v)) fail(path, `a rule is a JSON object, not ${show(v)}`);
  for (const key of Object.keys(v))
    if (!(RULE_KEYS as readonly string[]).includes(key))
      fail(`${path}.${key}`, `unknown field (known: ${RULE_KEYS.join(', ')})`);
  const at = (key: string) => `${path}.${key}`;
  if (v.verdict === undefined) fail(at('verdict'), 'missing: accept, drop or reject');
  const r: Mutable<FirewallRule> = { verdict: verdict(v.verdict, at('verdict')) };
  if (v.iif !== undefined) r.iif = list(v.iif, at('iif'), (x, p) => interfaceName(x, p, known));
  if (v.oif !== undefined) {
    if (chain === 'input')
      fail(at('oif'), 'the input chain has no egress interface (its packets are for the router)');
    r.oif = list(v.oif, at('oif'), (x, p) => interfaceName(x, p, known));
  }
  if (v.family !== undefined) {
    if (v.family !== 'ip' && v.family !== 'ip6') fail(at('family'), `ip or ip6, not ${show(v.family)}`);
    r.family = v.family === 'ip' ? 4 : 6;
  }
  if (v.protocol !== undefined) r.protocol = list(v.protocol, at('protocol'), protocol);
  // The family the rule is confined to by its protocol (ICMP is IPv4's, ICMPv6 IPv6's).
  const protos = r.protocol ?? [];
  const icmpFamily =
    protos.length > 0 && protos.every((p) => p === IPPROTO_ICMP)
      ? 4
      : protos.length > 0 && protos.every((p) => p === IPPROTO_ICMPV6)
        ? 6
        : undefined;
  if (r.family !== undefined && icmpFamily !== undefined && r.family !== icmpFamily)
    fail(
      at('protocol'),
      `${icmpFamily === 4 ? 'icmp is IPv4' : 'icmpv6 is IPv6'}'s, but family is ${r.family === 4 ? 'ip' : 'ip6'}`,
    );
  const family = r.family ?? icmpFamily;
  for (const key of ['saddr', 'daddr'] as const) {
    if (v[key] === undefined) continue;
    const ps = list(v[key], at(key), prefix);
    const wrong = ps.find((p) => family !== undefined && p.version !== family);
    if (wrong !== undefined)
      fail(
        at(key),
        `an IPv${wrong.version} prefix in a rule for IPv${family} only (family or protocol): it could never match`,
      );
    r[key] = ps;
  }
  if (r.saddr !== undefined && r.daddr !== undefined) {
    const fams = (ps: readonly IpPrefix[]) => new Set(ps.map((p) => p.version));
    const s = fams(r.saddr);
    const d = fams(r.daddr);
    if (![...s].some((f) => d.has(f)))
      fail(
        at('daddr'),
        `only IPv${[...d][0]} prefixes, but saddr has only IPv${[...s][0]} ones: the rule could never match`,
      );
  }
  for (const key of ['sport', 'dport'] as const) {
    if (v[key] === undefined) continue;
    if (r.protocol === undefined || !r.protocol.every((p) => p === IPPROTO_TCP || p === IPPROTO_UDP))
      fail(at(key), 'ports need "protocol" tcp, udp or both');
    r[key] = list(v[key], at(key), portRange);
  }
  if (v['icmp-type'] !== undefined) {
    if (icmpFamily === undefined) fail(at('icmp-type'), 'needs "protocol" icmp or icmpv6 (one of them)');
    const names = icmpFamily === 4 ? ICMP_TYPES : ICMPV6_TYPES;
    r.icmpType = list(v['icmp-type'], at('icmp-type'), (x, p) => {
      if (typeof x === 'string') {
        if (!has(names, x))
          fail(
            p,
            `${show(x)} is not an ${icmpFamily === 4 ? 'icmp' : 'icmpv6'} type (${Object.keys(names).join(', ')}, or 0-255)`,
          );
        return names[x]!;
      }
      return byte(x, p, 'an ICMP type');
    });
  }
  if (v['icmp-code'] !== undefined) {
    if (icmpFamily === undefined) fail(at('icmp-code'), 'needs "protocol" icmp or icmpv6 (one of them)');
    r.icmpCode = list(v['icmp-code'], at('icmp-code'), (x, p) => byte(x, p, 'an ICMP code'));
  }
  if (v.state !== undefined) r.state = list(v.state, at('state'), conntrackState);
  if (v.comment !== undefined) {
    if (typeof v.comment !== 'string' || v.comment.length > 128 || /[\n\r]/.test(v.comment))
      fail(at('comment'), 'a one-line string of at most 128 characters');
    r.comment = v.comment;
  }
  return r;
}

function chainRules(
  v: unknown,
  path: string,
  chain: 'input' | 'forward',
  known: readonly string[] | undefined,
): FirewallRule[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(path, `a list of rules, not ${show(v)}`);
  if (v.length > MAX_RULES_PER_CHAIN) fail(path, `at most ${MAX_RULES_PER_CHAIN} rules`);
  return v.map((r, i) => rule(r, `${path}[${i}]`, chain, known));
}

function stateful(v: unknown, path: string): { acceptEstablished: boolean; dropInvalid: boolean } {
  if (v === undefined) return { acceptEstablished: true, dropInvalid: true };
  if (typeof v === 'boolean') return { acceptEstablished: v, dropInvalid: v };
  if (!isObject(v)) fail(path, `true, false or {"accept-established": B, "drop-invalid": B}, not ${show(v)}`);
  for (const key of Object.keys(v))
    if (key !== 'accept-established' && key !== 'drop-invalid')
      fail(`${path}.${key}`, 'unknown field (known: accept-established, drop-invalid)');
  const flag = (key: string): boolean => {
    const x = v[key];
    if (x === undefined) return true;
    if (typeof x !== 'boolean') fail(`${path}.${key}`, `true or false, not ${show(x)}`);
    return x;
  };
  return { acceptEstablished: flag('accept-established'), dropInvalid: flag('drop-invalid') };
}

function guarded<T>(f: () => T): Result<T, string> {
  try {
    return ok(f());
  } catch (e) {
    if (e instanceof Invalid) return err(e.message);
    throw e;
  }
}

/**
 * Validates the `firewall` section of the router's JSON configuration (the value under the key,
 * already parsed by `JSON.parse`). With `interfaces`, every interface a rule names must be one of them.
 */
export function parseFirewallConfig(
  json: unknown,
  interfaces?: readonly string[],
): Result<FirewallConfig, string> {
  return guarded(() => {
    const path = 'firewall';
    if (!isObject(json)) fail(path, `a JSON object, not ${show(json)}`);
    for (const key of Object.keys(json))
      if (!['stateful', 'policy', 'input', 'forward'].includes(key))
        fail(`${path}.${key}`, 'unknown field (known: stateful, policy, input, forward)');
    const pol = json.policy;
    if (pol !== undefined && !isObject(pol))
      fail(`${path}.policy`, `{"input": P, "forward": P}, not ${show(pol)}`);
    for (const key of Object.keys(pol ?? {}))
      if (key !== 'input' && key !== 'forward')
        fail(`${path}.policy.${key}`, 'unknown chain (input, forward)');
    const chain = (name: 'input' | 'forward'): ChainConfig => ({
      policy: pol?.[name] === undefined ? 'accept' : policy(pol[name], `${path}.policy.${name}`),
      rules: chainRules(json[name], `${path}.${name}`, name, interfaces),
    });
    return {
      ...stateful(json.stateful, `${path}.stateful`),
      input: chain('input'),
      forward: chain('forward'),
    };
  });
}

/** `tcp:22` and the like: the protocol and the destination ports it allows. */
function allowSpec(spec: string, what: string): Pick<FirewallRule, 'protocol' | 'dport'> {
  const colon = spec.indexOf(':');
  const name = colon < 0 ? spec : spec.slice(0, colon);
  const ports = colon < 0 ? undefined : spec.slice(colon + 1);
  switch (name) {
    case 'tcp':
    case 'udp': {
      const protocol = [name === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP];
      if (ports === undefined) return { protocol };
      return { protocol, dport: [portRange(ports, what)] };
    }
    case 'icmp':
    case 'icmp6':
    case 'icmpv6':
      if (ports !== undefined) fail(what, `${name} has no ports: ${spec}`);
      return { protocol: [name === 'icmp' ? IPPROTO_ICMP : IPPROTO_ICMPV6] };
    default:
      return fail(what, `${show(spec)} is not tcp:PORT, udp:PORT, tcp:FROM-TO, tcp, udp, icmp or icmp6`);
  }
}

/**
 * The short flag form: each `--allow IF,SPEC[,SPEC...]` accepts new connections arriving on IF
 * (both chains), then each `--policy IF,drop|accept` ends both chains with a rule for the rest of
 * what arrives on IF. Stateful, chain policies accept. Errors name the flag as given.
 */
export function firewallFromFlags(
  allow: readonly string[],
  policies: readonly string[],
  interfaces?: readonly string[],
): Result<FirewallConfig, string> {
  return guarded(() => {
    const rules: FirewallRule[] = [];
    for (const flag of allow) {
      const what = `--allow ${flag}`;
      const [name, ...specs] = flag.split(',');
      interfaceName(name, what, interfaces);
      if (specs.length === 0)
        fail(what, 'give what to allow: IF,tcp:22 (or udp:53, tcp:8000-8100, icmp, icmp6)');
      for (const spec of specs)
        rules.push({ iif: [name!], ...allowSpec(spec, what), state: ['new'], verdict: 'accept' });
    }
    const seen = new Set<string>();
    for (const flag of policies) {
      const what = `--policy ${flag}`;
      const [name, value, extra] = flag.split(',');
      interfaceName(name, what, interfaces);
      if (extra !== undefined || value === undefined) fail(what, 'IF,drop or IF,accept');
      if (seen.has(name!)) fail(what, `a second policy for ${name}`);
      seen.add(name!);
      rules.push({ iif: [name!], verdict: policy(value, what) });
    }
    if (rules.length > MAX_RULES_PER_CHAIN) fail('--allow', `at most ${MAX_RULES_PER_CHAIN} rules`);
    return {
      ...DEFAULT_FIREWALL_CONFIG,
      input: { policy: 'accept', rules },
      forward: { policy: 'accept', rules },
    };
  });
}

/** `base` with the rules of `extra` (flags) after its own, in both chains; `base`'s policies and switches. */
export function appendFirewallRules(
  base: FirewallConfig,
  extra: FirewallConfig,
): Result<FirewallConfig, string> {
  const input = [...base.input.rules, ...extra.input.rules];
  const forward = [...base.forward.rules, ...extra.forward.rules];
  if (input.length > MAX_RULES_PER_CHAIN || forward.length > MAX_RULES_PER_CHAIN)
    return err(`firewall: at most ${MAX_RULES_PER_CHAIN} rules per chain, flags included`);
  return ok({
    ...base,
    input: { policy: base.input.policy, rules: input },
    forward: { policy: base.forward.policy, rules: forward },
  });
}
