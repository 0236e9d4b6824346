#!/usr/bin/env node
/**
 * Derives the expected values of the golden captures from tshark, so parser tests can compare our
 * output field by field without tshark at run time.
 *
 *   node scripts/golden-expect.mjs [file.pcap ...]   (default: every test/golden/*.pcap)
 *
 * For each capture it runs `tshark -T json` once over the frames as they are (no reassembly, raw TCP
 * sequence numbers, every checksum verified) and once more for `-T fields` with reassembly on, and
 * writes test/golden/expected/<name>.json. The schema is described in test/golden/README.md.
 * It fails when tshark reports a malformed frame or an expert warning or error.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const GOLDEN = join(ROOT, 'test/golden');
const EXPECTED = join(GOLDEN, 'expected');

const PREFS = [
  'tcp.relative_sequence_numbers:FALSE',
  'tcp.analyze_sequence_numbers:FALSE',
  'tcp.check_checksum:TRUE',
  'udp.check_checksum:TRUE',
  'ip.check_checksum:TRUE',
].flatMap((p) => ['-o', p]);
const NO_REASSEMBLY = ['ip.defragment:FALSE', 'ipv6.defragment:FALSE'].flatMap((p) => ['-o', p]);

// ---------------------------------------------------------------------------------------------------
// tshark's -T json repeats keys inside one object (two "ipv6.opt", a nested "ip" in "icmp"), and their
// order carries meaning (option order, extension header chain). JSON.parse would keep only the last,
// so this small parser keeps every entry, in order: an object is { entries: [[key, value], ...] }.

function parseOrderedJson(text) {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  };
  const fail = (what) => {
    throw new Error(`tshark JSON: expected ${what} at offset ${i}`);
  };
  const string = () => {
    if (text[i] !== '"') fail('"');
    let j = i + 1;
    let simple = true;
    while (text[j] !== '"') {
      if (text[j] === '\\') {
        simple = false;
        j++;
      }
      j++;
      if (j >= text.length) fail('end of string');
    }
    const raw = text.slice(i, j + 1);
    i = j + 1;
    return simple ? raw.slice(1, -1) : JSON.parse(raw);
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const entries = [];
      ws();
      if (text[i] === '}') {
        i++;
        return { entries };
      }
      for (;;) {
        ws();
        const k = string();
        ws();
        if (text[i++] !== ':') fail(':');
        entries.push([k, value()]);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return { entries };
        } else fail(', or }');
      }
    }
    if (c === '[') {
      i++;
      const items = [];
      ws();
      if (text[i] === ']') {
        i++;
        return items;
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return items;
        } else fail(', or ]');
      }
    }
    if (c === '"') return string();
    const m = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 40));
    if (!m) fail('a value');
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  const v = value();
  ws();
  if (i !== text.length) fail('end of input');
  return v;
}

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
/** Values of `key` directly in `node`, in order (arrays of values count one by one). */
function all(node, key) {
  if (!isObj(node)) return [];
  return node.entries.filter(([k]) => k === key).flatMap(([, v]) => (Array.isArray(v) ? v : [v]));
}
function one(node, key) {
  return all(node, key)[0];
}
/** Looks `key` up in `node` and in its `*_tree` children (tshark puts bit fields under a tree). */
function deep(node, key) {
  if (!isObj(node)) return undefined;
  for (const [k, v] of node.entries) {
    if (k === key) return v;
    if (k.endsWith('_tree') && isObj(v)) {
      const found = deep(v, key);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
/** tshark writes integers in decimal or, for hex-displayed fields, as 0x...; both become numbers. */
function num(s) {
  if (s === undefined) return undefined;
  const n = /^0x[0-9a-f]+$/i.test(s) ? Number.parseInt(s, 16) : Number(s);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${s}`);
  return n;
}
function bool(s) {
  if (s === undefined) return undefined;
  return s === '1' || s === 'True' || s === 'true';
}
const CHECKSUM_STATUS = { 0: 'bad', 1: 'good', 2: 'unverified', 3: 'not-present' };
function checksumStatus(s) {
  return s === undefined ? undefined : CHECKSUM_STATUS[s];
}
/** Drops undefined members so the JSON only names fields the frame has. */
function compact(o) {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

// ---------------------------------------------------------------------------------------------------
// One builder per protocol, from tshark's layer object to our plainly named, typed fields.

function eth(l) {
  return { dst: one(l, 'eth.dst'), src: one(l, 'eth.src'), type: num(one(l, 'eth.type')) };
}

function arp(l) {
  return {
    hardwareType: num(one(l, 'arp.hw.type')),
    protocolType: num(one(l, 'arp.proto.type')),
    hardwareSize: num(one(l, 'arp.hw.size')),
    protocolSize: num(one(l, 'arp.proto.size')),
    opcode: num(one(l, 'arp.opcode')),
    senderMac: one(l, 'arp.src.hw_mac'),
    senderIp: one(l, 'arp.src.proto_ipv4'),
    targetMac: one(l, 'arp.dst.hw_mac'),
    targetIp: one(l, 'arp.dst.proto_ipv4'),
  };
}

function ipv4(l) {
  const headerLength = num(one(l, 'ip.hdr_len'));
  return compact({
    version: num(one(l, 'ip.version')),
    headerLength,
    dscp: num(deep(l, 'ip.dsfield.dscp')),
    ecn: num(deep(l, 'ip.dsfield.ecn')),
    totalLength: num(one(l, 'ip.len')),
    id: num(one(l, 'ip.id')),
    df: bool(deep(l, 'ip.flags.df')),
    mf: bool(deep(l, 'ip.flags.mf')),
    // tshark counts the offset in 8-byte units (RFC 791 §3.1); we keep bytes.
    fragmentOffset: num(one(l, 'ip.frag_offset')) * 8,
    ttl: num(one(l, 'ip.ttl')),
    protocol: num(one(l, 'ip.proto')),
    checksum: num(one(l, 'ip.checksum')),
    checksumStatus: checksumStatus(one(l, 'ip.checksum.status')),
    src: one(l, 'ip.src'),
    dst: one(l, 'ip.dst'),
    options: headerLength > 20 ? one(l, 'ip.options') : undefined,
  });
}

/** Names of the IPv6 extension headers tshark shows, by its layer key. */
const IPV6_EXTENSIONS = {
  'ipv6.hopopts': { type: 'hop-by-hop', number: 0, prefix: 'ipv6.hopopts' },
  'ipv6.routing': { type: 'routing', number: 43, prefix: 'ipv6.routing' },
  'ipv6.dstopts': { type: 'destination', number: 60, prefix: 'ipv6.dstopts' },
};

function ipv6(l) {
  const extensions = [];
  for (const [k, v] of l.entries) {
    if (k === 'ipv6.fraghdr') {
      extensions.push({
        type: 'fragment',
        header: 44,
        nextHeader: num(one(v, 'ipv6.fraghdr.nxt')),
        // In 8-octet units on the wire (RFC 8200 §4.5); we keep bytes.
        offset: num(one(v, 'ipv6.fraghdr.offset')) * 8,
        more: bool(one(v, 'ipv6.fraghdr.more')),
        ident: num(one(v, 'ipv6.fraghdr.ident')),
      });
    } else if (k in IPV6_EXTENSIONS) {
      const x = IPV6_EXTENSIONS[k];
      extensions.push({
        type: x.type,
        header: x.number,
        nextHeader: num(one(v, `${x.prefix}.nxt`)),
        length: num(one(v, `${x.prefix}.len_oct`)),
        options: all(v, 'ipv6.opt').map((o) => {
          const type = num(one(o, 'ipv6.opt.type'));
          return compact({
            type,
            length: num(one(o, 'ipv6.opt.length')),
            routerAlert: type === 5 ? num(one(o, 'ipv6.opt.router_alert')) : undefined,
          });
        }),
      });
    }
  }
  return {
    version: num(one(l, 'ipv6.version')),
    trafficClass: num(one(l, 'ipv6.tclass')),
    flowLabel: num(one(l, 'ipv6.flow')),
    payloadLength: num(one(l, 'ipv6.plen')),
    nextHeader: num(one(l, 'ipv6.nxt')),
    hopLimit: num(one(l, 'ipv6.hlim')),
    src: one(l, 'ipv6.src'),
    dst: one(l, 'ipv6.dst'),
    extensions,
  };
}

function icmpv4(l) {
  const type = num(one(l, 'icmp.type'));
  const echo = type === 0 || type === 8;
  return compact({
    type,
    code: num(one(l, 'icmp.code')),
    checksum: num(one(l, 'icmp.checksum')),
    checksumStatus: checksumStatus(one(l, 'icmp.checksum.status')),
    // icmp.ident/icmp.seq are the big-endian readings (tshark also shows *_le ones).
    id: echo ? num(one(l, 'icmp.ident')) : undefined,
    seq: echo ? num(one(l, 'icmp.seq')) : undefined,
    mtu: num(one(l, 'icmp.mtu')),
    gateway: one(l, 'icmp.redir_gw'),
    quoted: type === 3 || type === 4 || type === 5 || type === 11 || type === 12 ? layers(l) : undefined,
  });
}

function ndOption(o) {
  const type = num(one(o, 'icmpv6.opt.type'));
  const opt = { type, length: num(one(o, 'icmpv6.opt.length')) * 8 };
  switch (type) {
    case 1:
    case 2:
      opt.linkLayerAddress = one(o, 'icmpv6.opt.linkaddr');
      break;
    case 3:
      opt.prefixLength = num(one(o, 'icmpv6.opt.prefix.length'));
      opt.onLink = bool(deep(o, 'icmpv6.opt.prefix.flag.l'));
      opt.autonomous = bool(deep(o, 'icmpv6.opt.prefix.flag.a'));
      opt.validLifetime = num(one(o, 'icmpv6.opt.prefix.valid_lifetime'));
      opt.preferredLifetime = num(one(o, 'icmpv6.opt.prefix.preferred_lifetime'));
      opt.prefix = one(o, 'icmpv6.opt.prefix');
      break;
    case 5:
      opt.mtu = num(one(o, 'icmpv6.opt.mtu'));
      break;
    case 25:
      opt.lifetime = num(one(o, 'icmpv6.opt.rdnss.lifetime'));
      opt.addresses = all(o, 'icmpv6.opt.rdnss');
      break;
    default:
      break;
  }
  return opt;
}

function icmpv6(l) {
  const type = num(one(l, 'icmpv6.type'));
  const echo = type === 128 || type === 129;
  const out = {
    type,
    code: num(one(l, 'icmpv6.code')),
    checksum: num(one(l, 'icmpv6.checksum')),
    checksumStatus: checksumStatus(one(l, 'icmpv6.checksum.status')),
    id: echo ? num(one(l, 'icmpv6.echo.identifier')) : undefined,
    seq: echo ? num(one(l, 'icmpv6.echo.sequence_number')) : undefined,
    mtu: type === 2 ? num(one(l, 'icmpv6.mtu')) : undefined,
    pointer: type === 4 ? num(one(l, 'icmpv6.pointer')) : undefined,
  };
  if (type === 134) {
    out.curHopLimit = num(one(l, 'icmpv6.nd.ra.cur_hop_limit'));
    out.managed = bool(deep(l, 'icmpv6.nd.ra.flag.m'));
    out.other = bool(deep(l, 'icmpv6.nd.ra.flag.o'));
    out.routerLifetime = num(one(l, 'icmpv6.nd.ra.router_lifetime'));
    out.reachableTime = num(one(l, 'icmpv6.nd.ra.reachable_time'));
    out.retransTimer = num(one(l, 'icmpv6.nd.ra.retrans_timer'));
  }
  if (type === 135) out.target = one(l, 'icmpv6.nd.ns.target_address');
  if (type === 136) {
    out.target = one(l, 'icmpv6.nd.na.target_address');
    out.router = bool(deep(l, 'icmpv6.nd.na.flag.r'));
    out.solicited = bool(deep(l, 'icmpv6.nd.na.flag.s'));
    out.override = bool(deep(l, 'icmpv6.nd.na.flag.o'));
  }
  if (type >= 133 && type <= 137) out.options = all(l, 'icmpv6.opt').map(ndOption);
  if (type === 143) {
    out.records = all(l, 'icmpv6.mldr.mar').map((r) => ({
      recordType: num(one(r, 'icmpv6.mldr.mar.record_type')),
      auxDataLength: num(one(r, 'icmpv6.mldr.mar.aux_data_len')),
      sources: all(r, 'icmpv6.mldr.mar.source_address'),
      multicastAddress: one(r, 'icmpv6.mldr.mar.multicast_address'),
    }));
  }
  if (type >= 1 && type <= 4) out.quoted = layers(l);
  return compact(out);
}

function udp(l) {
  const length = num(one(l, 'udp.length'));
  return compact({
    srcPort: num(one(l, 'udp.srcport')),
    dstPort: num(one(l, 'udp.dstport')),
    length,
    checksum: num(one(l, 'udp.checksum')),
    checksumStatus: checksumStatus(deep(l, 'udp.checksum.status') ?? one(l, 'udp.checksum.status')),
    payloadLength: length - 8,
  });
}

const TCP_FLAG_NAMES = [
  [0x001, 'FIN'],
  [0x002, 'SYN'],
  [0x004, 'RST'],
  [0x008, 'PSH'],
  [0x010, 'ACK'],
  [0x020, 'URG'],
  [0x040, 'ECE'],
  [0x080, 'CWR'],
  [0x100, 'AE'],
];

function tcpOption(tree) {
  const kind = num(one(tree, 'tcp.option_kind'));
  const length = num(one(tree, 'tcp.option_len'));
  switch (kind) {
    case 0:
      return { kind, name: 'eol' };
    case 1:
      return { kind, name: 'nop' };
    case 2:
      return { kind, name: 'mss', length, mss: num(one(tree, 'tcp.options.mss_val')) };
    case 3:
      return { kind, name: 'wscale', length, shift: num(one(tree, 'tcp.options.wscale.shift')) };
    case 4:
      return { kind, name: 'sack-permitted', length };
    case 5: {
      const lefts = all(tree, 'tcp.options.sack_le').map(num);
      const rights = all(tree, 'tcp.options.sack_re').map(num);
      return { kind, name: 'sack', length, blocks: lefts.map((left, i) => ({ left, right: rights[i] })) };
    }
    case 8:
      return {
        kind,
        name: 'timestamps',
        length,
        tsval: num(one(tree, 'tcp.options.timestamp.tsval')),
        tsecr: num(one(tree, 'tcp.options.timestamp.tsecr')),
      };
    default:
      return compact({ kind, name: 'unknown', length });
  }
}

function tcp(l) {
  const flags = num(one(l, 'tcp.flags'));
  const optionsTree = one(l, 'tcp.options_tree');
  const options = isObj(optionsTree)
    ? optionsTree.entries.filter(([k, v]) => k.endsWith('_tree') && isObj(v)).map(([, v]) => tcpOption(v))
    : [];
  return {
    srcPort: num(one(l, 'tcp.srcport')),
    dstPort: num(one(l, 'tcp.dstport')),
    seq: num(one(l, 'tcp.seq_raw')),
    ack: num(one(l, 'tcp.ack_raw')),
    headerLength: num(one(l, 'tcp.hdr_len')),
    flags,
    flagNames: TCP_FLAG_NAMES.filter(([bit]) => flags & bit).map(([, n]) => n),
    window: num(one(l, 'tcp.window_size_value')),
    checksum: num(one(l, 'tcp.checksum')),
    checksumStatus: checksumStatus(one(l, 'tcp.checksum.status')),
    urgent: num(one(l, 'tcp.urgent_pointer')),
    options,
    payloadLength: num(one(l, 'tcp.len')),
  };
}

/** The protocol layers directly inside `node` (a frame's layers, or the packet an ICMP error quotes). */
function layers(node) {
  const out = {};
  for (const [k, v] of node.entries) {
    if (!isObj(v)) continue;
    if (k === 'eth') out.eth = eth(v);
    else if (k === 'arp') out.arp = arp(v);
    else if (k === 'ip' && out.ipv4 === undefined) out.ipv4 = ipv4(v);
    else if (k === 'ipv6' && out.ipv6 === undefined) out.ipv6 = ipv6(v);
    else if (k === 'icmp') out.icmpv4 = icmpv4(v);
    else if (k === 'icmpv6') out.icmpv6 = icmpv6(v);
    else if (k === 'udp') out.udp = udp(v);
    else if (k === 'tcp') out.tcp = tcp(v);
  }
  return out;
}

const SEVERITY = { 2097152: 'chat', 4194304: 'note', 6291456: 'warn', 8388608: 'error' };
const GROUP = {
  16777216: 'checksum',
  33554432: 'sequence',
  50331648: 'response-code',
  67108864: 'request-code',
  83886080: 'undecoded',
  100663296: 'reassemble',
  117440512: 'malformed',
  134217728: 'debug',
  150994944: 'protocol',
  167772160: 'security',
  184549376: 'comment',
  201326592: 'decryption',
  218103808: 'assumption',
  234881024: 'deprecated',
};

const FRAME_GROUPS = new Set(['checksum', 'malformed', 'protocol', 'undecoded', 'reassemble']);

/** Every `_ws.expert` item and `_ws.malformed` marker anywhere in the frame's tree. */
function collectExpert(node, acc) {
  if (Array.isArray(node)) {
    for (const v of node) collectExpert(v, acc);
    return acc;
  }
  if (!isObj(node)) return acc;
  for (const [k, v] of node.entries) {
    if (k === '_ws.malformed') acc.malformed = true;
    if (k === '_ws.expert' && isObj(v)) {
      acc.expert.push({
        severity: SEVERITY[num(deep(v, '_ws.expert.severity'))] ?? 'unknown',
        group: GROUP[num(deep(v, '_ws.expert.group'))] ?? 'unknown',
        message: deep(v, '_ws.expert.message'),
      });
    }
    collectExpert(v, acc);
  }
  return acc;
}

/** "1795595396.815589000" to microseconds, exactly (a float would lose the last digits). */
function epochMicros(s) {
  const [sec, frac = ''] = s.split('.');
  return Number(sec) * 1_000_000 + Number(frac.padEnd(6, '0').slice(0, 6));
}

/** The link type from the pcap global header (offset 20, in the byte order the magic shows). */
function pcapLinkType(path) {
  const b = readFileSync(path).subarray(0, 24);
  const little = b.readUInt32LE(0) === 0xa1b2c3d4 || b.readUInt32LE(0) === 0xa1b23c4d;
  return little ? b.readUInt32LE(20) : b.readUInt32BE(20);
}

function tshark(args) {
  return execFileSync('tshark', args, {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Second pass, reassembly on: which frame completes which datagram, from which frames, how long. */
function reassembly(path) {
  const fields = [
    'frame.number',
    'ip.fragment',
    'ip.reassembled.length',
    'ipv6.fragment',
    'ipv6.reassembled.length',
    'icmp.checksum.status',
    'icmpv6.checksum.status',
    'udp.checksum.status',
  ];
  const out = tshark([
    '-r',
    path,
    ...PREFS,
    '-T',
    'fields',
    '-E',
    'occurrence=a',
    '-E',
    'aggregator=,',
    ...fields.flatMap((f) => ['-e', f]),
  ]);
  const byFrame = new Map();
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const [n, f4, l4, f6, l6, icmp4, icmp6, udpStatus] = line.split('\t');
    const frags = (f4 || f6 || '')
      .split(',')
      .filter((x) => x !== '')
      .map(Number);
    if (frags.length === 0) continue;
    // The checksum a reassembled datagram exposes is the last occurrence (outermost only here).
    const status = [icmp4, icmp6, udpStatus]
      .map((s) => (s ?? '').split(',').filter((x) => x !== '')[0])
      .find((s) => s !== undefined);
    byFrame.set(
      Number(n),
      compact({ fragments: frags, length: num(l4 || l6), checksumStatus: checksumStatus(status) }),
    );
  }
  return byFrame;
}

function expectFor(path) {
  const version = /TShark \(Wireshark\) (\S+)/.exec(tshark(['--version']))?.[1];
  const doc = parseOrderedJson(tshark(['-r', path, ...PREFS, ...NO_REASSEMBLY, '-T', 'json']));
  const reassembled = reassembly(path);
  const frames = [];
  const problems = [];
  for (const packet of doc) {
    const l = one(one(packet, '_source'), 'layers');
    const f = one(l, 'frame');
    const number = num(one(f, 'frame.number'));
    const { malformed, expert } = collectExpert(l, { malformed: false, expert: [] });
    const notable = expert.filter((e) => e.severity !== 'chat');
    // Sequence-analysis notes ("Connection reset (RST)", "No response seen") describe the exchange,
    // not the frame; anything about the frame's own bytes fails the run.
    if (malformed || notable.some((e) => e.severity === 'error' || FRAME_GROUPS.has(e.group))) {
      problems.push(`frame ${number}: ${malformed ? 'malformed ' : ''}${JSON.stringify(notable)}`);
    }
    frames.push(
      compact({
        number,
        timestampMicros: epochMicros(one(f, 'frame.time_epoch')),
        length: num(one(f, 'frame.len')),
        capturedLength: num(one(f, 'frame.cap_len')),
        protocols: one(f, 'frame.protocols'),
        ...layers(l),
        reassembly: reassembled.get(number),
        malformed,
        expert: notable,
      }),
    );
  }
  return {
    doc: {
      file: basename(path),
      generator: 'scripts/golden-expect.mjs',
      tshark: version,
      tsharkOptions: [...PREFS, ...NO_REASSEMBLY].filter((a) => a !== '-o'),
      linkType: pcapLinkType(path),
      frameCount: frames.length,
      frames,
    },
    problems,
  };
}

const files =
  process.argv.length > 2
    ? process.argv.slice(2)
    : readdirSync(GOLDEN)
        .filter((f) => f.endsWith('.pcap'))
        .map((f) => join(GOLDEN, f));
mkdirSync(EXPECTED, { recursive: true });
let failed = false;
for (const file of files) {
  const { doc, problems } = expectFor(resolve(file));
  const out = join(EXPECTED, `${basename(file, '.pcap')}.json`);
  writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`${basename(file)}: ${doc.frameCount} frames -> ${out}`);
  for (const p of problems) {
    failed = true;
    console.error(`  tshark flags ${p}`);
  }
}
// Written the way the repository's formatter wants them, so `biome check` stays clean.
const written = files.map((f) => join(EXPECTED, `${basename(f, '.pcap')}.json`));
execFileSync(join(ROOT, 'node_modules/.bin/biome'), ['format', '--write', ...written], { stdio: 'ignore' });
if (failed) process.exit(1);
