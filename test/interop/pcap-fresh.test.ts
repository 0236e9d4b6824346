/**
 * `oasis pcap` against tshark on a capture made now, of traffic the parsers have never seen: two
 * private namespaces joined by a veth pair, tcpdump on one end, and the kernel sending ARP, ICMP echo
 * (fragmented too), ICMPv6 echo to a link-local and a global address (fragmented too) with the NDP
 * and MLD it brings along, a TCP exchange both ways with FINs, RSTs from a closed port, UDP over
 * both versions and ICMP/ICMPv6 port unreachables. Every line `oasis pcap` prints is rebuilt from
 * the fields tshark dissected in the same frame, in tcpdump's words (as src/format.ts writes them),
 * and compared whole: protocol, addresses, ports, TCP flags, sequence numbers and options, ICMP
 * types and lengths; no line says malformed or bad checksum, and tshark finds none either.
 *
 * Checksum offload is off on both ends (`ethtool -K <if> tx off`, or the same ioctl from python3 if
 * ethtool is missing): with it on, TCP and UDP leave the veth with a partial checksum and every frame
 * would read as bad to both tools.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { useLab } from '../support/lab.js';
import { canTap, type NetNs, type RunResult } from '../support/netns.js';
import { hasTshark } from '../support/oasis.js';

function hasTool(name: string): boolean {
  try {
    execFileSync(name, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const hasTcpdump = hasTool('tcpdump');

// A's and B's addresses, host 1 and 2 of a subnet picked when the suite starts (support/subnets.ts).
let A4: string;
let B4: string;
let A6: string;
let B6: string;
// Fixed ports, none of which tshark hands to an application dissector (the column would then name it).
const TCP4 = 45001;
const TCP6 = 45002;
const UDP4 = 45004;
const UDP6 = 45006;
const CLOSED = 45999;

/**
 * SIOCETHTOOL with ETHTOOL_STXCSUM (linux/ethtool.h, struct ethtool_value {cmd, data}), then
 * ETHTOOL_GTXCSUM to read it back: what `ethtool -K IF tx off` does, for hosts without ethtool.
 */
const TX_CSUM_OFF_PY = `
import array, fcntl, socket, struct, sys
def ethtool(cmd, data):
    value = array.array('I', [cmd, data])
    ifreq = struct.pack('16sP', sys.argv[1].encode(), value.buffer_info()[0]).ljust(40, b'\\0')
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, 0x8946, ifreq)
    return value[1]
ethtool(0x17, 0)
sys.exit(ethtool(0x16, 0))
`;

function txChecksumOff(ns: NetNs, ifname: string): void {
  if (hasTool('ethtool')) ns.run('ethtool', '-K', ifname, 'tx', 'off');
  else ns.run('python3', '-c', TX_CSUM_OFF_PY, ifname);
}

/** Throws with the command's output unless it exited with 0. */
function must(r: RunResult, what: string): RunResult {
  if (r.code !== 0) throw new Error(`${what} exited with ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Waits for a child to exit; resolves with its exit code (or signal). */
function exited(child: ChildProcess): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((res) => child.on('close', (code, signal) => res(code ?? signal)));
}

/** Until something listens on that port in `ns` (`ss -l`). */
function listening(ns: NetNs, proto: 'tcp' | 'udp', port: number): Promise<void> {
  const flag = proto === 'tcp' ? '-Hlnt' : '-Hlnu';
  return until(`${proto}/${port} listening`, () => ns.run('ss', flag, `sport = :${port}`).trim() !== '');
}

/** The interface's IPv6 link-local address once it is usable (DAD finished). */
function linkLocal(ns: NetNs, ifname: string): string | undefined {
  const [info] = JSON.parse(ns.run('ip', '-6', '-j', 'addr', 'show', 'dev', ifname));
  const addr = (info?.addr_info ?? []).find(
    (a: { scope: string; tentative?: boolean }) => a.scope === 'link' && !a.tentative,
  );
  return addr?.local;
}

// ---------------------------------------------------------------------------------------------------
// tshark's reading.

const FIELDS = [
  'frame.number',
  'frame.time_relative',
  'frame.len',
  'eth.src',
  'eth.dst',
  '_ws.col.Protocol',
  'arp.opcode',
  'arp.src.hw_mac',
  'arp.src.proto_ipv4',
  'arp.dst.hw_mac',
  'arp.dst.proto_ipv4',
  'ip.src',
  'ip.dst',
  'ip.len',
  'ip.hdr_len',
  'ip.id',
  'ip.flags.mf',
  'ip.frag_offset',
  'ip.proto',
  'ip.checksum.status',
  'ipv6.src',
  'ipv6.dst',
  'ipv6.plen',
  'ipv6.nxt',
  'ipv6.hopopts.len_oct',
  'ipv6.fraghdr.nxt',
  'ipv6.fraghdr.offset',
  'ipv6.fraghdr.more',
  'icmp.type',
  'icmp.code',
  'icmp.ident',
  'icmp.seq',
  'icmp.checksum.status',
  'icmpv6.type',
  'icmpv6.code',
  'icmpv6.echo.identifier',
  'icmpv6.echo.sequence_number',
  'icmpv6.nd.ns.target_address',
  'icmpv6.nd.na.target_address',
  'icmpv6.checksum.status',
  'tcp.srcport',
  'tcp.dstport',
  'tcp.flags.str',
  'tcp.seq_raw',
  'tcp.ack_raw',
  'tcp.window_size_value',
  'tcp.urgent_pointer',
  'tcp.len',
  'tcp.option_kind',
  'tcp.options.mss_val',
  'tcp.options.wscale.shift',
  'tcp.options.timestamp.tsval',
  'tcp.options.timestamp.tsecr',
  'tcp.options.sack_le',
  'tcp.options.sack_re',
  'tcp.checksum.status',
  'udp.srcport',
  'udp.dstport',
  'udp.length',
  'udp.checksum.status',
  '_ws.malformed',
] as const;
type Field = (typeof FIELDS)[number];
/** Every occurrence of each field, outermost first (an ICMP error's quote comes second). */
type Row = Record<Field, string[]>;

const CHECKSUM_STATUS: readonly Field[] = [
  'ip.checksum.status',
  'icmp.checksum.status',
  'icmpv6.checksum.status',
  'tcp.checksum.status',
  'udp.checksum.status',
];

function tshark(file: string): Row[] {
  const prefs = [
    'ip.defragment:FALSE',
    'ipv6.defragment:FALSE',
    'tcp.relative_sequence_numbers:FALSE',
    'tcp.analyze_sequence_numbers:FALSE',
    'ip.check_checksum:TRUE',
    'tcp.check_checksum:TRUE',
    'udp.check_checksum:TRUE',
  ];
  const out = execFileSync(
    'tshark',
    [
      '-r',
      file,
      ...prefs.flatMap((p) => ['-o', p]),
      '-T',
      'fields',
      '-E',
      'separator=|',
      // _ws.malformed's text holds commas; nothing holds a semicolon.
      '-E',
      'aggregator=;',
      '-E',
      'occurrence=a',
      ...FIELDS.flatMap((f) => ['-e', f]),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 },
  );
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const v = l.split('|');
      if (v.length !== FIELDS.length) throw new Error(`tshark line with ${v.length} fields: ${l}`);
      return Object.fromEntries(FIELDS.map((k, i) => [k, v[i] === '' ? [] : v[i]!.split(';')])) as Row;
    });
}

/** The outermost occurrence of a field, '' when absent. */
const f1 = (r: Row, f: Field): string => r[f][0] ?? '';
const num = (r: Row, f: Field): number => Number(f1(r, f));

const PROTOCOL_NAMES: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMP6' };
/** tshark's Protocol column for the same numbers. */
const TSHARK_NAMES: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6' };

/** tshark's TCP flag string (`·······AP···`) in tcpdump's letters and order: F S R P . U E W. */
function tcpFlags(str: string): string {
  const letters = new Set(str.replace(/·/g, ''));
  for (const l of letters) if (!'FSRPAUEC'.includes(l)) throw new Error(`TCP flag ${l} in ${str}`);
  const order: [string, string][] = [
    ['F', 'F'],
    ['S', 'S'],
    ['R', 'R'],
    ['P', 'P'],
    ['A', '.'],
    ['U', 'U'],
    ['E', 'E'],
    ['C', 'W'],
  ];
  return order.map(([t, ours]) => (letters.has(t) ? ours : '')).join('') || 'none';
}

/** The options in the order they came (tcp.option_kind), as tcpdump words them. */
function tcpOptions(r: Row): string {
  const sackLe = [...r['tcp.options.sack_le']];
  const sackRe = [...r['tcp.options.sack_re']];
  return r['tcp.option_kind']
    .map((kind) => {
      switch (kind) {
        case '1':
          return 'nop';
        case '2':
          return `mss ${f1(r, 'tcp.options.mss_val')}`;
        case '3':
          return `wscale ${f1(r, 'tcp.options.wscale.shift')}`;
        case '4':
          return 'sackOK';
        case '5': {
          const blocks = sackLe.splice(0).map((le, i) => `{${le}:${sackRe[i]}}`);
          return `sack ${blocks.length} ${blocks.join('')}`;
        }
        case '8':
          return `TS val ${f1(r, 'tcp.options.timestamp.tsval')} ecr ${f1(r, 'tcp.options.timestamp.tsecr')}`;
        default:
          throw new Error(`TCP option kind ${kind} not expected from Linux`);
      }
    })
    .join(',');
}

/** A TCP line from tshark's fields: RFC 9293 §3.1 header fields in tcpdump's layout. */
function tcpLine(r: Row, src: string, dst: string): string {
  const flags = tcpFlags(f1(r, 'tcp.flags.str'));
  const len = num(r, 'tcp.len');
  const seq = num(r, 'tcp.seq_raw');
  const parts = [`Flags [${flags}]`];
  if (len > 0) parts.push(`seq ${seq}:${(seq + len) >>> 0}`);
  else if (/[SFR]/.test(flags)) parts.push(`seq ${seq}`);
  if (flags.includes('.')) parts.push(`ack ${f1(r, 'tcp.ack_raw')}`);
  parts.push(`win ${f1(r, 'tcp.window_size_value')}`);
  if (flags.includes('U')) parts.push(`urg ${f1(r, 'tcp.urgent_pointer')}`);
  if (r['tcp.option_kind'].length > 0) parts.push(`options [${tcpOptions(r)}]`);
  parts.push(`length ${len}`);
  return `${src}.${f1(r, 'tcp.srcport')} > ${dst}.${f1(r, 'tcp.dstport')}: ${parts.join(', ')}`;
}

/**
 * The line `oasis pcap` must print for this frame, built from tshark's fields alone; or, for a
 * message whose wording is not spelled out here, a pattern holding its addresses and length.
 */
function expectedLine(r: Row): string | RegExp {
  const protocol = f1(r, '_ws.col.Protocol');
  if (r['arp.opcode'].length > 0) {
    expect(protocol).toBe('ARP');
    const macs = `${f1(r, 'eth.src')} > ${f1(r, 'eth.dst')}`;
    const len = num(r, 'frame.len') - 14;
    const op = f1(r, 'arp.opcode');
    if (op === '2')
      return `${macs}, ARP, Reply ${f1(r, 'arp.src.proto_ipv4')} is-at ${f1(r, 'arp.src.hw_mac')}, length ${len}`;
    expect(op).toBe('1');
    const tha = f1(r, 'arp.dst.hw_mac');
    const shown = tha === '00:00:00:00:00:00' ? '' : ` (${tha})`;
    return `${macs}, ARP, Request who-has ${f1(r, 'arp.dst.proto_ipv4')}${shown} tell ${f1(r, 'arp.src.proto_ipv4')}, length ${len}`;
  }

  if (r['ip.src'].length > 0) {
    const [src, dst] = [f1(r, 'ip.src'), f1(r, 'ip.dst')];
    const payloadLen = num(r, 'ip.len') - num(r, 'ip.hdr_len');
    const offset = num(r, 'ip.frag_offset') * 8; // tshark counts 8-octet units (RFC 791 §3.1)
    const more = f1(r, 'ip.flags.mf') === '1';
    const proto = num(r, 'ip.proto');
    if (more || offset > 0) {
      const what = offset === 0 ? PROTOCOL_NAMES[proto] : `ip-proto-${proto}`;
      expect(protocol).toBe(offset === 0 ? TSHARK_NAMES[proto] : 'IPv4');
      return `IP ${src} > ${dst}: ${what} (frag ${Number(f1(r, 'ip.id'))}:${payloadLen}@${offset}${more ? '+' : ''})`;
    }
    if (r['icmp.type'].length > 0) {
      expect(protocol).toBe('ICMP');
      const head = `IP ${src} > ${dst}: ICMP `;
      const tail = `, length ${payloadLen}`;
      const [type, code] = [f1(r, 'icmp.type'), f1(r, 'icmp.code')];
      if (type === '8' || type === '0') {
        const what = type === '8' ? 'echo request' : 'echo reply';
        return `${head}${what}, id ${f1(r, 'icmp.ident')}, seq ${f1(r, 'icmp.seq')}${tail}`;
      }
      // RFC 792: port unreachable quotes the datagram; tcpdump names its destination and port.
      if (type === '3' && code === '3' && r['udp.dstport'].length > 0)
        return `${head}${r['ip.dst'][1]} udp port ${f1(r, 'udp.dstport')} unreachable${tail}`;
      return new RegExp(`^${esc(head)}.*${esc(tail)}$`);
    }
    if (r['tcp.srcport'].length > 0) {
      expect(protocol).toBe('TCP');
      return `IP ${tcpLine(r, src, dst)}`;
    }
    if (r['udp.srcport'].length > 0) {
      expect(protocol).toBe('UDP');
      return `IP ${src}.${f1(r, 'udp.srcport')} > ${dst}.${f1(r, 'udp.dstport')}: UDP, length ${num(r, 'udp.length') - 8}`;
    }
    throw new Error(`frame ${f1(r, 'frame.number')}: IPv4 carrying protocol ${proto}, not expected`);
  }

  if (r['ipv6.src'].length > 0) {
    const [src, dst] = [f1(r, 'ipv6.src'), f1(r, 'ipv6.dst')];
    const plen = num(r, 'ipv6.plen');
    if (r['ipv6.fraghdr.offset'].length > 0) {
      // Linux puts the Fragment header right after the IPv6 header (RFC 8200 §4.5).
      expect(f1(r, 'ipv6.nxt')).toBe('44');
      const offset = num(r, 'ipv6.fraghdr.offset') * 8;
      const nxt = num(r, 'ipv6.fraghdr.nxt');
      expect(protocol).toBe(offset === 0 ? TSHARK_NAMES[nxt] : 'IPv6');
      const what = offset === 0 ? ` ${PROTOCOL_NAMES[nxt]}` : '';
      return `IP6 ${src} > ${dst}: frag (${offset}|${plen - 8})${what}`;
    }
    if (r['icmpv6.type'].length > 0) {
      expect(protocol).toBe('ICMPv6');
      // MLD reports carry a Hop-by-Hop header with Router Alert (RFC 3810 §5).
      const hbh = f1(r, 'ipv6.nxt') === '0';
      const head = `IP6 ${src} > ${dst}: ${hbh ? 'HBH ' : ''}ICMP6, `;
      const tail = `, length ${plen - (hbh ? num(r, 'ipv6.hopopts.len_oct') : 0)}`;
      const [type, code] = [f1(r, 'icmpv6.type'), f1(r, 'icmpv6.code')];
      const echo = () =>
        `id ${num(r, 'icmpv6.echo.identifier')}, seq ${num(r, 'icmpv6.echo.sequence_number')}`;
      const words: Record<string, (() => string) | undefined> = {
        '128': () => `echo request, ${echo()}`,
        '129': () => `echo reply, ${echo()}`,
        '133': () => 'router solicitation',
        '134': () => 'router advertisement',
        '135': () => `neighbor solicitation, who has ${f1(r, 'icmpv6.nd.ns.target_address')}`,
        '136': () => `neighbor advertisement, tgt is ${f1(r, 'icmpv6.nd.na.target_address')}`,
        '143': () => 'multicast listener report v2',
      };
      // RFC 4443 §3.1 code 4: the quote's destination and port.
      if (type === '1' && code === '4' && r['udp.dstport'].length > 0)
        words['1'] = () =>
          `destination unreachable, unreachable port, ${r['ipv6.dst'][1]} udp port ${f1(r, 'udp.dstport')}`;
      const body = words[type];
      return body ? `${head}${body()}${tail}` : new RegExp(`^${esc(head)}.*${esc(tail)}$`);
    }
    if (r['tcp.srcport'].length > 0) {
      expect(protocol).toBe('TCP');
      return `IP6 ${tcpLine(r, src, dst)}`;
    }
    if (r['udp.srcport'].length > 0) {
      expect(protocol).toBe('UDP');
      return `IP6 ${src}.${f1(r, 'udp.srcport')} > ${dst}.${f1(r, 'udp.dstport')}: UDP, length ${num(r, 'udp.length') - 8}`;
    }
    throw new Error(`frame ${f1(r, 'frame.number')}: IPv6 next header ${f1(r, 'ipv6.nxt')}, not expected`);
  }
  throw new Error(`frame ${f1(r, 'frame.number')}: ${protocol}, not expected on this link`);
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What kinds of traffic a frame is, for the check that the capture holds all that was asked for. */
function kinds(r: Row): string[] {
  const k: string[] = [];
  const v4frag = f1(r, 'ip.flags.mf') === '1' || num(r, 'ip.frag_offset') > 0;
  const v6frag = r['ipv6.fraghdr.offset'].length > 0;
  if (r['arp.opcode'].length > 0) k.push(`arp ${f1(r, 'arp.opcode')}`);
  if (v4frag) k.push(`ipv4 fragment${num(r, 'ip.frag_offset') > 0 ? ' at offset' : ''}`);
  if (v6frag) k.push(`ipv6 fragment${num(r, 'ipv6.fraghdr.offset') > 0 ? ' at offset' : ''}`);
  if (v4frag || v6frag) return k;
  if (r['icmp.type'].length > 0) k.push(`icmp ${f1(r, 'icmp.type')}/${f1(r, 'icmp.code')}`);
  if (r['icmpv6.type'].length > 0) {
    const scope = f1(r, 'ipv6.dst').startsWith('fe80:') ? ' link-local' : '';
    k.push(`icmp6 ${f1(r, 'icmpv6.type')}/${f1(r, 'icmpv6.code')}${scope}`);
  }
  if (r['icmp.type'].length > 0 || r['icmpv6.type'].length > 0) return k;
  const v = r['ip.src'].length > 0 ? 'v4' : 'v6';
  if (r['udp.srcport'].length > 0) k.push(`udp ${v}`);
  if (r['tcp.srcport'].length > 0) {
    const flags = tcpFlags(f1(r, 'tcp.flags.str'));
    const from = [A4, A6].includes(f1(r, 'ip.src') || f1(r, 'ipv6.src')) ? 'A' : 'B';
    if (flags.includes('S')) k.push(`tcp ${v} ${flags}`);
    if (flags.includes('F')) k.push(`tcp ${v} fin from ${from}`);
    if (flags.includes('R')) k.push(`tcp ${v} rst`);
    if (num(r, 'tcp.len') > 0) k.push(`tcp ${v} data from ${from}`);
  }
  return k;
}

// ---------------------------------------------------------------------------------------------------

describe.skipIf(!(canTap && hasTshark && hasTcpdump))(
  'oasis pcap on fresh Linux traffic, against tshark',
  () => {
    const lab = useLab();
    let dir: string;
    let file: string;
    let tcpdumpSaid = '';
    let rows: Row[];
    let lines: string[];
    let code: number;
    let errors: string;

    beforeAll(async () => {
      dir = lab.dir();
      file = join(dir, 'fresh.pcap');
      const subnet = lab.subnet();
      [A4, B4, A6, B6] = [subnet.ip4(1), subnet.ip4(2), subnet.ip6(1), subnet.ip6(2)];
      const [nsA, nsB] = [lab.namespace(), lab.namespace()];
      const ifA = lab.tapName();
      const ifB = lab.tapName();
      nsA.run('ip', 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB.name);
      for (const [ns, ifname] of [
        [nsA, ifA],
        [nsB, ifB],
      ] as const) {
        // Every error is sent, whatever the pace.
        ns.run('sysctl', '-qw', 'net.ipv4.icmp_ratelimit=0', 'net.ipv6.icmp.ratelimit=0');
        txChecksumOff(ns, ifname);
      }
      // B's link-local address is usable at once; A's goes through DAD (an NS from ::, RFC 4862 §5.4).
      nsB.run('sysctl', '-qw', `net.ipv6.conf.${ifB}.accept_dad=0`);
      nsA.run('ip', 'addr', 'add', `${A4}/24`, 'dev', ifA);
      nsB.run('ip', 'addr', 'add', `${B4}/24`, 'dev', ifB);
      nsA.run('ip', '-6', 'addr', 'add', `${A6}/64`, 'dev', ifA, 'nodad');
      nsB.run('ip', '-6', 'addr', 'add', `${B6}/64`, 'dev', ifB, 'nodad');

      // A's end is up (no carrier yet) so tcpdump can open it, and sees everything from B's link-up on.
      nsA.run('ip', 'link', 'set', ifA, 'up');
      const tcpdump = nsA.spawn('tcpdump', [
        '-i',
        ifA,
        '-s',
        '0',
        '-U',
        '-n',
        '-Z',
        'root',
        '--immediate-mode',
        '-w',
        file,
      ]);
      tcpdump.stderr?.on('data', (d: Buffer) => {
        tcpdumpSaid += d.toString();
      });
      const tcpdumpDone = exited(tcpdump);
      await until('tcpdump listening', () => tcpdumpSaid.includes('listening on'));
      nsB.run('ip', 'link', 'set', ifB, 'up');

      // ARP (RFC 826): arping's broadcast request, then unicast ones; each answered.
      must(await nsA.exec('arping', ['-c', '2', '-w', '3', '-I', ifA, B4]), 'arping');
      // ICMP echo, then 3000 bytes: fragmented by both hosts (RFC 791 §2.3).
      must(await nsA.exec('ping', ['-c', '2', '-i', '0.2', '-W', '2', B4]), 'ping');
      must(await nsA.exec('ping', ['-c', '1', '-W', '2', '-s', '3000', B4]), 'ping -s 3000');

      // TCP both ways (a few KB each), FINs from both (nc -N shuts down after its input).
      const fromA = 'from A over TCP, '.repeat(300);
      const fromB = 'from B over TCP, '.repeat(250);
      writeFileSync(join(dir, 'a.txt'), fromA);
      writeFileSync(join(dir, 'b.txt'), fromB);
      for (const [v, addr, port, sport] of [
        ['-4', B4, TCP4, 40001],
        ['-6', B6, TCP6, 40002],
      ] as const) {
        const server = nsB.spawn('sh', [
          '-c',
          `exec nc ${v} -l -s ${addr} -p ${port} <${dir}/b.txt >${dir}/b${v}.out`,
        ]);
        await listening(nsB, 'tcp', port);
        must(
          await nsA.exec('sh', [
            '-c',
            `nc ${v} -N -w 3 -p ${sport} ${addr} ${port} <${dir}/a.txt >${dir}/a${v}.out`,
          ]),
          `nc ${v} client`,
        );
        await exited(server);
        expect(readFileSync(join(dir, `a${v}.out`), 'utf8')).toBe(fromB);
        expect(readFileSync(join(dir, `b${v}.out`), 'utf8')).toBe(fromA);
      }
      // A SYN to a closed port draws a RST (RFC 9293 §3.10.7.1).
      await nsA.exec('nc', ['-4', '-z', '-w', '1', '-p', '40003', B4, String(CLOSED)]);
      await nsA.exec('nc', ['-6', '-z', '-w', '1', '-p', '40004', B6, String(CLOSED)]);

      // IPv6: B's link-local address once A's own is through DAD; echo to it and to B's global address.
      let bLinkLocal: string | undefined;
      await until('link-local addresses', () => {
        bLinkLocal = linkLocal(nsB, ifB);
        return bLinkLocal !== undefined && linkLocal(nsA, ifA) !== undefined;
      });
      must(await nsA.exec('ping', ['-6', '-c', '1', '-W', '2', `${bLinkLocal}%${ifA}`]), 'ping6 link-local');
      must(await nsA.exec('ping', ['-6', '-c', '2', '-i', '0.2', '-W', '2', B6]), 'ping6');
      must(await nsA.exec('ping', ['-6', '-c', '1', '-W', '2', '-s', '3000', B6]), 'ping6 -s 3000');

      // UDP to a listener over both versions, then to a closed port: ICMP 3/3 and ICMPv6 1/4 come back.
      for (const [v, addr, port, sport] of [
        ['-4', B4, UDP4, 40005],
        ['-6', B6, UDP6, 40006],
      ] as const) {
        const out = join(dir, `udp${v}.out`);
        const server = nsB.spawn('sh', ['-c', `exec nc ${v} -u -l -s ${addr} -p ${port} >${out}`]);
        await listening(nsB, 'udp', port);
        must(
          await nsA.exec('sh', ['-c', `printf 'udp ${v}\\n' | nc ${v} -u -q 0 -p ${sport} ${addr} ${port}`]),
          `nc -u ${v}`,
        );
        await until(`UDP ${v} received`, () => statSync(out).size > 0);
        server.kill('SIGTERM');
        await exited(server);
        await nsA.exec('sh', [
          '-c',
          `printf 'closed\\n' | nc ${v} -u -q 0 -p ${sport + 2} ${addr} ${CLOSED}`,
        ]);
      }

      await sleep(300); // the last answers
      tcpdump.kill('SIGINT');
      await tcpdumpDone;

      rows = tshark(file);
      const out: string[] = [];
      const err: string[] = [];
      const log = vi
        .spyOn(console, 'log')
        .mockImplementation((...x: unknown[]) => void out.push(x.join(' ')));
      const error = vi
        .spyOn(console, 'error')
        .mockImplementation((...x: unknown[]) => void err.push(x.join(' ')));
      try {
        code = await main(['pcap', file]);
      } finally {
        log.mockRestore();
        error.mockRestore();
      }
      lines = out
        .join('\n')
        .split('\n')
        .filter((l) => l !== '');
      errors = err.join('\n');
    }, 30_000);

    it('prints one line per frame tcpdump captured and tshark read', () => {
      expect(errors).toBe('');
      expect(code).toBe(0);
      const captured = /(\d+) packets? captured/.exec(tcpdumpSaid);
      expect(captured, tcpdumpSaid).not.toBeNull();
      expect(rows.length).toBe(Number(captured![1]));
      expect(lines.length).toBe(rows.length);
    });

    it('captured every kind of traffic asked for, with valid checksums and nothing malformed', () => {
      const seen = new Set(rows.flatMap(kinds));
      const wanted = [
        'arp 1',
        'arp 2',
        'icmp 8/0',
        'icmp 0/0',
        'ipv4 fragment',
        'ipv4 fragment at offset',
        'icmp 3/3',
        'icmp6 128/0 link-local',
        'icmp6 129/0 link-local',
        'icmp6 128/0',
        'icmp6 129/0',
        'ipv6 fragment',
        'ipv6 fragment at offset',
        'icmp6 135/0',
        'icmp6 136/0',
        'icmp6 143/0',
        'icmp6 1/4',
        'udp v4',
        'udp v6',
      ];
      for (const v of ['v4', 'v6'])
        wanted.push(
          `tcp ${v} S`,
          `tcp ${v} S.`,
          `tcp ${v} data from A`,
          `tcp ${v} data from B`,
          `tcp ${v} fin from A`,
          `tcp ${v} fin from B`,
          `tcp ${v} rst`,
        );
      expect([...seen].filter((k) => wanted.includes(k)).sort()).toEqual([...wanted].sort());
      for (const r of rows) {
        const n = f1(r, 'frame.number');
        expect(r['_ws.malformed'], `frame ${n}`).toEqual([]);
        // Never bad (0); and with offload off, every whole TCP and UDP segment verified good (1).
        for (const f of CHECKSUM_STATUS) expect(r[f], `frame ${n} ${f}`).not.toContain('0');
        const whole = r['ip.flags.mf'][0] !== '1' && num(r, 'ip.frag_offset') === 0;
        const plain = r['icmp.type'].length === 0 && r['icmpv6.type'].length === 0;
        if (whole && plain && r['ipv6.fraghdr.offset'].length === 0) {
          if (r['tcp.srcport'].length > 0) expect(f1(r, 'tcp.checksum.status'), `frame ${n}`).toBe('1');
          if (r['udp.srcport'].length > 0) expect(f1(r, 'udp.checksum.status'), `frame ${n}`).toBe('1');
        }
        // Segmented as on a wire: nothing over the 1500-byte MTU.
        expect(num(r, 'frame.len'), `frame ${n}`).toBeLessThanOrEqual(1514);
      }
    });

    it('each line says what tshark read in the frame: protocol, addresses, ports, flags, lengths', () => {
      for (const [i, line] of lines.entries()) {
        const r = rows[i]!;
        const m = /^ *(\d+) {2}(\d+\.\d{6}) {2}(.*)$/.exec(line);
        expect(m, line).not.toBeNull();
        const [, number, time, summary] = m!;
        expect(number).toBe(f1(r, 'frame.number'));
        expect(time, line).toBe(/^\d+\.\d{6}/.exec(f1(r, 'frame.time_relative'))?.[0]);
        expect(summary, line).not.toMatch(/malformed|unsupported|bad .*cksum|\?/);
        const want = expectedLine(r);
        if (typeof want === 'string') expect(summary, `frame ${number}`).toBe(want);
        else expect(summary, `frame ${number}`).toMatch(want);
      }
    });
  },
);
