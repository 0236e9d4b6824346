/**
 * The real traffic the fuzzer starts from: every Ethernet frame of the golden Linux captures
 * (test/golden/README.md says how each was made), and helpers that turn one into a frame for a host
 * of the simulated world.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LINKTYPE_ETHERNET, parsePcap } from '../../src/link/pcap.js';
import { assemble, dissect, EXT_FRAGMENT, isFragment, setIpv4Addrs, setIpv6Addrs } from './packet.js';
import type { Endpoint } from './mutate.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden');
const FILES = ['arp.pcap', 'icmp.pcap', 'icmp-errors.pcap', 'icmp6.pcap', 'tcp.pcap', 'udp.pcap'];

/** Every frame of the golden captures (copies), in file order. */
export function goldenFrames(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of FILES) {
    const r = parsePcap(new Uint8Array(readFileSync(join(GOLDEN, f))));
    if (!r.ok) throw new Error(`${f}: ${r.error.kind}`);
    if (r.value.linkType !== LINKTYPE_ETHERNET) throw new Error(`${f}: link type ${r.value.linkType}`);
    for (const rec of r.value.frames) out.push(rec.bytes.slice());
  }
  return out;
}

/**
 * A first fragment (offset 0, more to come) of the captures' fragmented pings, IPv4 or IPv6,
 * readdressed from `from` to `to` with the identification `id`.
 */
export function firstFragment(
  frames: readonly Uint8Array[],
  family: 4 | 6,
  from: Endpoint,
  to: Endpoint,
  id: number,
): Uint8Array {
  for (const f of frames) {
    const p = dissect(f);
    if (p === undefined || p.family !== (family === 4 ? 'ipv4' : 'ipv6') || !isFragment(p)) continue;
    p.dstMac = to.mac;
    p.srcMac = from.mac;
    if (p.family === 'ipv4') {
      // Offset 0 with MF (RFC 791 §3.1 flags): the first of several.
      if (p.ip[6] !== 0x20 || p.ip[7] !== 0) continue;
      p.ip[4] = (id >>> 8) & 0xff;
      p.ip[5] = id & 0xff;
      setIpv4Addrs(p, from.v4, to.v4);
    } else {
      const frag = p.ext.find((e) => e.type === EXT_FRAGMENT);
      if (frag === undefined || frag.bytes[2] !== 0 || frag.bytes[3] !== 1) continue;
      new DataView(frag.bytes.buffer, frag.bytes.byteOffset, 8).setUint32(4, id >>> 0);
      setIpv6Addrs(p, from.v6, to.v6);
    }
    return assemble(p);
  }
  throw new Error(`no first IPv${family} fragment in the golden captures`);
}
