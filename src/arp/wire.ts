/**
 * ARP packets for Ethernet and IPv4 (RFC 826, "Packet format"; RFC 5227 for probes/announcements).
 *
 *   offset  field   size
 *   0       ar$hrd  2    hardware type (1 = Ethernet)
 *   2       ar$pro  2    protocol type (0x0800 = IPv4)
 *   4       ar$hln  1    hardware address length (6)
 *   5       ar$pln  1    protocol address length (4)
 *   6       ar$op   2    opcode (1 = request, 2 = reply)
 *   8       ar$sha  6    sender hardware address
 *   14      ar$spa  4    sender protocol address
 *   18      ar$tha  6    target hardware address
 *   24      ar$tpa  4    target protocol address
 *
 * Only hardware type 1 (Ethernet) with protocol 0x0800 (IPv4), hln 6 and pln 4 is understood; other
 * hardware or protocol types are `unsupported`, and so are opcodes other than request (1) and reply (2)
 * (RARP's 3/4, InARP's 8/9). Bytes after the 28th are Ethernet padding (frames are at least 60 bytes)
 * and ignored.
 *
 * Contract: `ArpPacket.check` validates everything once; afterwards no getter reads out of bounds.
 * `parseArp` never throws. Views alias the bytes they were built over.
 */
import { type Ipv4Addr, type Mac, readIpv4, readMac, writeIpv4, writeMac } from '../addr.js';
import { setU16, u16 } from '../bytes.js';
import { malformed, ok, type Result, unsupported } from '../result.js';

export const ARP_HTYPE_ETHERNET = 1;
export const ARP_PTYPE_IPV4 = 0x0800;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;
/** Length of an Ethernet/IPv4 ARP packet; everything after it is padding. */
export const ARP_LEN = 28;

const HTYPE = 0;
const PTYPE = 2;
const HLEN = 4;
const PLEN = 5;
const OPER = 6;
const SHA = 8;
const SPA = 14;
const THA = 18;
const TPA = 24;

export type ArpOperation = 'request' | 'reply';

export interface ArpRepr {
  readonly operation: ArpOperation;
  readonly senderMac: Mac;
  readonly senderIp: Ipv4Addr;
  /** Zero in a request (RFC 826 leaves it unspecified; RFC 5227 §2.1.1 says 0). */
  readonly targetMac: Mac;
  readonly targetIp: Ipv4Addr;
}

export class ArpPacket {
  private constructor(readonly bytes: Uint8Array) {}

  static check(bytes: Uint8Array): Result<ArpPacket> {
    if (bytes.length < ARP_LEN) return malformed('arp', 'truncated');
    if (u16(bytes, HTYPE) !== ARP_HTYPE_ETHERNET) return unsupported('arp', 'hardware-type');
    if (u16(bytes, PTYPE) !== ARP_PTYPE_IPV4) return unsupported('arp', 'protocol-type');
    // Ethernet/IPv4 with other address lengths contradicts the types: broken, not merely unknown.
    if (bytes[HLEN] !== 6 || bytes[PLEN] !== 4) return malformed('arp', 'address-length');
    const op = u16(bytes, OPER);
    if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return unsupported('arp', 'operation');
    return ok(new ArpPacket(bytes));
  }

  get hardwareType(): number {
    return u16(this.bytes, HTYPE);
  }

  get protocolType(): number {
    return u16(this.bytes, PTYPE);
  }

  get hardwareLen(): number {
    return this.bytes[HLEN]!;
  }

  get protocolLen(): number {
    return this.bytes[PLEN]!;
  }

  /** The raw opcode: 1 or 2 after `check`. */
  get opcode(): number {
    return u16(this.bytes, OPER);
  }

  get operation(): ArpOperation {
    return this.opcode === ARP_OP_REQUEST ? 'request' : 'reply';
  }

  get senderMac(): Mac {
    return readMac(this.bytes, SHA);
  }

  get senderIp(): Ipv4Addr {
    return readIpv4(this.bytes, SPA);
  }

  get targetMac(): Mac {
    return readMac(this.bytes, THA);
  }

  get targetIp(): Ipv4Addr {
    return readIpv4(this.bytes, TPA);
  }

  repr(): ArpRepr {
    return {
      operation: this.operation,
      senderMac: this.senderMac,
      senderIp: this.senderIp,
      targetMac: this.targetMac,
      targetIp: this.targetIp,
    };
  }
}

/** ARP carries no payload, so the result is the repr alone. Trailing padding is ignored. */
export function parseArp(bytes: Uint8Array): Result<ArpRepr> {
  const r = ArpPacket.check(bytes);
  if (!r.ok) return r;
  return ok(r.value.repr());
}

/** Always `ARP_LEN`: there are no options or variable fields for Ethernet/IPv4. */
export function arpHeaderLen(_repr?: ArpRepr): number {
  return ARP_LEN;
}

/** Writes the 28-byte packet at the start of `buf` (which may be longer, e.g. padded to 46). Returns 28. */
export function emitArp(repr: ArpRepr, buf: Uint8Array): number {
  if (buf.length < ARP_LEN) throw new RangeError('emitArp: buffer too small');
  setU16(buf, HTYPE, ARP_HTYPE_ETHERNET);
  setU16(buf, PTYPE, ARP_PTYPE_IPV4);
  buf[HLEN] = 6;
  buf[PLEN] = 4;
  setU16(buf, OPER, repr.operation === 'request' ? ARP_OP_REQUEST : ARP_OP_REPLY);
  writeMac(buf, SHA, repr.senderMac);
  writeIpv4(buf, SPA, repr.senderIp);
  writeMac(buf, THA, repr.targetMac);
  writeIpv4(buf, TPA, repr.targetIp);
  return ARP_LEN;
}
