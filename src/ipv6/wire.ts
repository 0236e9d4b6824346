/**
 * The IPv6 fixed header (RFC 8200 §3).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Version| Traffic Class |           Flow Label                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |         Payload Length        |  Next Header  |   Hop Limit   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                     Source Address (128 bits)                 |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                  Destination Address (128 bits)               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The payload (extension headers and upper layer) is `payloadLen` bytes; anything after it is link
 * padding (Ethernet pads short frames to 60 bytes) and is cut off. Extension headers are walked by
 * `walkExtHeaders` (ext.ts).
 *
 * Contract: `Ipv6Packet.check` validates lengths once; afterwards no getter reads out of bounds.
 * `parseIpv6` never throws. Views (src, dst, payload) alias the packet they were built over.
 */
import { type Ipv6Addr, readIpv6 } from '../addr.js';
import { setU16, setU32, u16, u32 } from '../bytes.js';
import { malformed, ok, type Result, unsupported } from '../result.js';
import { IPPROTO_HOPOPTS } from '../ipproto.js';

export const IPV6_HEADER_LEN = 40;
/** RFC 8200 §5: every link carries at least 1280-byte packets; ICMPv6 errors fit in it (RFC 4443 §2.4(c)). */
export const IPV6_MIN_MTU = 1280;

const VERSION_TC_FLOW = 0;
const PAYLOAD_LEN = 4;
const NEXT_HEADER = 6;
const HOP_LIMIT = 7;
const SRC = 8;
const DST = 24;

export interface Ipv6Repr {
  /** 8 bits: DSCP (6) and ECN (2). */
  readonly trafficClass: number;
  /** 20 bits. */
  readonly flowLabel: number;
  /** First extension header or the upper-layer protocol. */
  readonly nextHeader: number;
  readonly hopLimit: number;
  /** Views into the packet on parse: copy before retaining past the frame handler. */
  readonly src: Ipv6Addr;
  readonly dst: Ipv6Addr;
}

export class Ipv6Packet {
  private constructor(readonly bytes: Uint8Array) {}

  static check(bytes: Uint8Array): Result<Ipv6Packet> {
    if (bytes.length < IPV6_HEADER_LEN) return malformed('ipv6', 'truncated');
    if (bytes[VERSION_TC_FLOW]! >>> 4 !== 6) return malformed('ipv6', 'bad-version');
    const payloadLen = u16(bytes, PAYLOAD_LEN);
    // RFC 2675 §3: a zero Payload Length with a hop-by-hop header announces a jumbogram.
    if (payloadLen === 0 && bytes[NEXT_HEADER] === IPPROTO_HOPOPTS) return unsupported('ipv6', 'jumbogram');
    if (IPV6_HEADER_LEN + payloadLen > bytes.length) return malformed('ipv6', 'truncated-payload');
    return ok(new Ipv6Packet(bytes));
  }

  get version(): number {
    return this.bytes[VERSION_TC_FLOW]! >>> 4;
  }

  get trafficClass(): number {
    return (u16(this.bytes, VERSION_TC_FLOW) >>> 4) & 0xff;
  }

  get flowLabel(): number {
    return u32(this.bytes, VERSION_TC_FLOW) & 0xf_ffff;
  }

  get payloadLen(): number {
    return u16(this.bytes, PAYLOAD_LEN);
  }

  get nextHeader(): number {
    return this.bytes[NEXT_HEADER]!;
  }

  get hopLimit(): number {
    return this.bytes[HOP_LIMIT]!;
  }

  get src(): Ipv6Addr {
    return readIpv6(this.bytes, SRC);
  }

  get dst(): Ipv6Addr {
    return readIpv6(this.bytes, DST);
  }

  /** Extension headers and upper layer, without link padding. */
  get payload(): Uint8Array {
    return this.bytes.subarray(IPV6_HEADER_LEN, IPV6_HEADER_LEN + this.payloadLen);
  }

  repr(): Ipv6Repr {
    return {
      trafficClass: this.trafficClass,
      flowLabel: this.flowLabel,
      nextHeader: this.nextHeader,
      hopLimit: this.hopLimit,
      src: this.src,
      dst: this.dst,
    };
  }
}

export function parseIpv6(bytes: Uint8Array): Result<{ repr: Ipv6Repr; payload: Uint8Array }> {
  const r = Ipv6Packet.check(bytes);
  if (!r.ok) return r;
  return ok({ repr: r.value.repr(), payload: r.value.payload });
}

export function ipv6HeaderLen(): number {
  return IPV6_HEADER_LEN;
}

/**
 * Writes the fixed header at the start of `buf`, which holds exactly the header and the payload
 * (Payload Length = `buf.length - 40`). Returns the header length.
 */
export function emitIpv6(repr: Ipv6Repr, buf: Uint8Array): number {
  const payloadLen = buf.length - IPV6_HEADER_LEN;
  if (payloadLen < 0) throw new RangeError('emitIpv6: buffer too small');
  if (payloadLen > 0xffff)
    throw new RangeError('emitIpv6: payload over 65535 bytes (jumbograms unsupported)');
  setU32(
    buf,
    VERSION_TC_FLOW,
    ((6 << 28) | ((repr.trafficClass & 0xff) << 20) | (repr.flowLabel & 0xf_ffff)) >>> 0,
  );
  setU16(buf, PAYLOAD_LEN, payloadLen);
  buf[NEXT_HEADER] = repr.nextHeader;
  buf[HOP_LIMIT] = repr.hopLimit;
  buf.set(repr.src, SRC);
  buf.set(repr.dst, DST);
  return IPV6_HEADER_LEN;
}
