/**
 * Ethernet II frames with optional IEEE 802.1Q tags.
 *
 *   0                   6                  12      [12      14      16]     12|16   14|18
 *   +-------------------+-------------------+-------+---------------+-------+----------
 *   | destination MAC   | source MAC        | TPID  | TCI           | type  | payload
 *   +-------------------+-------------------+-------+---------------+-------+----------
 *                                            (0x8100, only when tagged; IEEE 802.1Q §9.6)
 *
 * The frame check sequence is not present: TAP devices and pcap captures hand over frames without it.
 * Contract: `EthernetFrame.check` validates lengths once; afterwards no getter reads out of bounds.
 * `parseEthernet` never throws. Views alias the frame they were built over.
 */
import { type Mac, readMac, writeMac } from '../addr.js';
import { setU16, u16 } from '../bytes.js';
import { malformed, ok, type Result } from '../result.js';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_IPV6 = 0x86dd;

const DST = 0;
const SRC = 6;
const TYPE = 12;
const UNTAGGED_HEADER_LEN = 14;
const TAG_LEN = 4;
/** Tags we follow before giving up (802.1ad QinQ gives two; more is not seen in practice). */
const MAX_TAGS = 2;

export interface VlanTag {
  /** Priority code point, 3 bits. */
  readonly pcp: number;
  /** Drop eligible indicator. */
  readonly dei: boolean;
  /** VLAN identifier, 12 bits. */
  readonly vid: number;
  /** Tag protocol identifier: 0x8100 (802.1Q) or 0x88a8 (802.1ad). */
  readonly tpid: number;
}

export interface EthernetRepr {
  readonly dst: Mac;
  readonly src: Mac;
  /** Outermost first. */
  readonly vlans: readonly VlanTag[];
  readonly ethertype: number;
}

export class EthernetFrame {
  private constructor(
    readonly bytes: Uint8Array,
    /** Offset of the inner EtherType field. */
    private readonly typeOffset: number,
  ) {}

  static check(bytes: Uint8Array): Result<EthernetFrame> {
    if (bytes.length < UNTAGGED_HEADER_LEN) return malformed('ethernet', 'truncated');
    let off = TYPE;
    let tags = 0;
    for (;;) {
      const t = u16(bytes, off);
      if (t !== ETHERTYPE_VLAN && t !== ETHERTYPE_QINQ) break;
      if (++tags > MAX_TAGS) return malformed('ethernet', 'too-many-tags');
      off += TAG_LEN;
      if (bytes.length < off + 2) return malformed('ethernet', 'truncated-tag');
    }
    // Values up to 1500 are IEEE 802.3 lengths (LLC frames), not EtherTypes.
    if (u16(bytes, off) < 0x0600) return malformed('ethernet', 'length-not-ethertype');
    return ok(new EthernetFrame(bytes, off));
  }

  get dst(): Mac {
    return readMac(this.bytes, DST);
  }

  get src(): Mac {
    return readMac(this.bytes, SRC);
  }

  get ethertype(): number {
    return u16(this.bytes, this.typeOffset);
  }

  get headerLen(): number {
    return this.typeOffset + 2;
  }

  /** Whether the frame carries VLAN tags (`vlans` lists them). */
  get tagged(): boolean {
    return this.typeOffset !== TYPE;
  }

  get vlans(): VlanTag[] {
    const tags: VlanTag[] = [];
    for (let off = TYPE; off < this.typeOffset; off += TAG_LEN) {
      const tci = u16(this.bytes, off + 2);
      tags.push({
        tpid: u16(this.bytes, off),
        pcp: tci >>> 13,
        dei: (tci & 0x1000) !== 0,
        vid: tci & 0x0fff,
      });
    }
    return tags;
  }

  get payload(): Uint8Array {
    return this.bytes.subarray(this.typeOffset + 2);
  }

  repr(): EthernetRepr {
    return { dst: this.dst, src: this.src, vlans: this.vlans, ethertype: this.ethertype };
  }
}

export function parseEthernet(bytes: Uint8Array): Result<{ repr: EthernetRepr; payload: Uint8Array }> {
  const r = EthernetFrame.check(bytes);
  if (!r.ok) return r;
  return ok({ repr: r.value.repr(), payload: r.value.payload });
}

export function ethernetHeaderLen(repr: Pick<EthernetRepr, 'vlans'>): number {
  return UNTAGGED_HEADER_LEN + TAG_LEN * repr.vlans.length;
}

/** Writes the header at the start of `buf`; the payload goes at `ethernetHeaderLen(repr)`. Returns the header length. */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array): number {
  const len = ethernetHeaderLen(repr);
  if (buf.length < len) throw new RangeError('emitEthernet: buffer too small');
  writeMac(buf, DST, repr.dst);
  writeMac(buf, SRC, repr.src);
  let off = TYPE;
  for (const tag of repr.vlans) {
    setU16(buf, off, tag.tpid);
    setU16(buf, off + 2, ((tag.pcp & 7) << 13) | (tag.dei ? 0x1000 : 0) | (tag.vid & 0x0fff));
    off += TAG_LEN;
  }
  setU16(buf, off, repr.ethertype);
  return len;
}
