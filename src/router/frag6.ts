/**
 * IPv6 fragments in transit, for the firewall (pure): find a packet's Fragment header, judge a first
 * fragment by RFC 7112, and build the whole packet the firewall and conntrack look at.
 *
 * The router never fragments IPv6 (RFC 8200 §5: only the source does). With the firewall on it
 * reassembles a datagram's fragments only to judge the whole (as Linux's nf_defrag_ipv6 before
 * conntrack, so a rule cannot be evaded with tiny or overlapping fragments: RFC 1858, RFC 3128,
 * RFC 5722), then forwards the original fragments themselves when the whole is accepted — what
 * Linux's nf_conntrack_reasm did: the path sees exactly what the source sent, and the router has no
 * fragment size of its own to choose. The driver (driver.ts) keeps the originals.
 *
 * Never throws on any bytes; reads only inside the packet.
 */
import { setU16, u16, u32 } from '../bytes.js';
import {
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMPV6,
  IPPROTO_ROUTING,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from '../ipproto.js';

const IPV6_HEADER = 40;
const FRAGMENT_HEADER = 8;

export interface Fragment6 {
  /** Offset of the Fragment header from the start of the IPv6 header. */
  readonly at: number;
  /** The Fragment header's Next Header: the first header of the fragmentable part. */
  readonly nextHeader: number;
  /** Offset of the data in bytes (a multiple of 8). */
  readonly fragOffset: number;
  readonly more: boolean;
  readonly ident: number;
}

/**
 * The Fragment header of `packet` (bytes up to its Payload Length), found behind hop-by-hop,
 * routing, destination options and AH headers; undefined when there is none or the chain before it
 * runs past the packet. An atomic fragment (offset 0, M clear, RFC 6946) is reported too: the
 * caller tells it from one to reassemble with `needsReassembly`.
 */
export function fragment6Of(packet: Uint8Array): Fragment6 | undefined {
  if (packet.length < IPV6_HEADER) return undefined;
  const end = Math.min(packet.length, IPV6_HEADER + u16(packet, 4));
  let nh = packet[6]!;
  let off = IPV6_HEADER;
  // Every header is at least 8 octets, so the walk ends within (end - 40) / 8 steps.
  for (;;) {
    if (off + 8 > end) return undefined;
    switch (nh) {
      case IPPROTO_HOPOPTS:
      case IPPROTO_ROUTING:
      case IPPROTO_DSTOPTS:
        nh = packet[off]!;
        off += (packet[off + 1]! + 1) * 8;
        break;
      case IPPROTO_AH:
        // RFC 4302 §2.2: the AH Payload Length counts 32-bit words, minus 2.
        nh = packet[off]!;
        off += (packet[off + 1]! + 2) * 4;
        break;
      case IPPROTO_FRAGMENT: {
        const fo = u16(packet, off + 2);
        return {
          at: off,
          nextHeader: packet[off]!,
          fragOffset: fo & 0xfff8,
          more: (fo & 1) !== 0,
          ident: u32(packet, off + 4),
        };
      }
      default:
        return undefined;
    }
  }
}

/** A fragment that is one piece of a larger datagram (not an atomic fragment, RFC 6946). */
export function needsReassembly(f: Fragment6): boolean {
  return f.fragOffset !== 0 || f.more;
}

/**
 * RFC 7112 §5: "the first fragment MUST include the entire IPv6 Header Chain", the extension headers
 * and the upper-layer header; an intermediate system may drop one that does not. True when the
 * first fragment `packet` (whose Fragment header `f` is) carries every extension header after the
 * Fragment header and the upper-layer header: TCP's with its options (RFC 9293 §3.1, Data Offset),
 * UDP's 8 octets, ICMPv6's 4 (RFC 4443 §2.1). Other upper layers need only their header's start;
 * No Next Header needs nothing.
 */
export function firstFragmentComplete(packet: Uint8Array, f: Fragment6): boolean {
  const end = Math.min(packet.length, IPV6_HEADER + u16(packet, 4));
  let nh = f.nextHeader;
  let off = f.at + FRAGMENT_HEADER;
  for (;;) {
    switch (nh) {
      case IPPROTO_HOPOPTS:
      case IPPROTO_ROUTING:
      case IPPROTO_DSTOPTS:
        if (off + 2 > end) return false;
        nh = packet[off]!;
        off += (packet[off + 1]! + 1) * 8;
        if (off > end) return false;
        break;
      case IPPROTO_AH:
        if (off + 2 > end) return false;
        nh = packet[off]!;
        off += (packet[off + 1]! + 2) * 4;
        if (off > end) return false;
        break;
      // A second Fragment header in a first fragment's chain: never part of a sound chain.
      case IPPROTO_FRAGMENT:
        return false;
      case IPPROTO_TCP:
        return off + 20 <= end && off + (packet[off + 12]! >>> 4) * 4 <= end;
      case IPPROTO_UDP:
        return off + 8 <= end;
      case IPPROTO_ICMPV6:
        return off + 4 <= end;
      default:
        return off <= end;
    }
  }
}

/**
 * The reassembled packet: `header` (the first fragment's bytes up to and including its Fragment
 * header) then `data`, with the Payload Length of the whole and the Fragment header made atomic
 * (offset 0, M clear), so it reads as one packet (RFC 6946) wherever the chain is walked. `alloc`
 * gives the buffer (a packet with link headroom in the driver). Undefined when the whole would not
 * fit the 16-bit Payload Length (the reassembler's bound keeps it from happening).
 */
export function wholeDatagram6(
  header: Uint8Array,
  data: Uint8Array,
  alloc: (length: number) => Uint8Array,
): Uint8Array | undefined {
  const length = header.length + data.length;
  if (header.length < IPV6_HEADER + FRAGMENT_HEADER || length - IPV6_HEADER > 0xffff) return undefined;
  const out = alloc(length);
  out.set(header);
  out.set(data, header.length);
  setU16(out, 4, length - IPV6_HEADER);
  setU16(out, header.length - FRAGMENT_HEADER + 2, 0);
  return out;
}
