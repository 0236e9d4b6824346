/**
 * UDP datagrams (RFC 768).
 *
 *    0      7 8     15 16    23 24    31
 *   +--------+--------+--------+--------+
 *   |     Source      |   Destination   |
 *   |      Port       |      Port       |
 *   +--------+--------+--------+--------+
 *   |     Length      |    Checksum     |
 *   +--------+--------+--------+--------+
 *   |          data octets ...
 *   +---------------- ...
 *
 * Length counts header and data (so at least 8); bytes after it (link padding) are not payload.
 * The checksum covers a pseudo-header (RFC 768; RFC 8200 §8.1 for IPv6, whose pseudo-header length
 * is the UDP Length field), the header and the data. A transmitted 0 means "no checksum": accepted
 * over IPv4, malformed over IPv6 ("IPv6 receivers must discard UDP packets containing a zero
 * checksum", RFC 8200 §8.1; RFC 6936 zero-checksum tunnels are not supported). A computed 0 is sent
 * as 0xffff (RFC 768).
 *
 * Contract: `UdpPacket.check` validates lengths once; afterwards no getter reads out of bounds.
 * `parseUdp` never throws. Views alias the bytes they were built over. `emitUdp` throws only on a
 * programmer error (a buffer that cannot hold a datagram).
 */
import { setU16, u16 } from '../bytes.js';
import { finish, type PseudoHeader, pseudoHeaderSum, sum16, verifies } from '../checksum/index.js';
import { malformed, ok, type Result } from '../result.js';
import { IPPROTO_UDP } from '../ipproto.js';

/** IP protocol / IPv6 next-header number of UDP. */
export const UDP_HEADER_LEN = 8;
/** The Length field is 16 bits (IPv6 jumbograms, RFC 2675, are not supported). */
export const UDP_MAX_LEN = 0xffff;

const SRC_PORT = 0;
const DST_PORT = 2;
const LENGTH = 4;
const CHECKSUM = 6;

export interface UdpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
}

export interface UdpParseOptions {
  /** 'ignore' when the checksum was already verified (virtio DATA_VALID) or is not wanted. Default 'verify'. */
  readonly checksum?: 'verify' | 'ignore';
}

export interface UdpEmitOptions {
  /**
   * 'fill' (default) writes the full checksum; 'offload' writes the uncomplemented pseudo-header sum
   * for a device to finish (virtio NEEDS_CSUM: csum_start = the UDP header, csum_offset = 6).
   */
  readonly checksum?: 'fill' | 'offload';
}

export class UdpPacket {
  private constructor(readonly bytes: Uint8Array) {}

  static check(bytes: Uint8Array): Result<UdpPacket> {
    if (bytes.length < UDP_HEADER_LEN) return malformed('udp', 'truncated');
    const length = u16(bytes, LENGTH);
    if (length < UDP_HEADER_LEN) return malformed('udp', 'length-too-small');
    if (length > bytes.length) return malformed('udp', 'length-exceeds-buffer');
    return ok(new UdpPacket(bytes));
  }

  get srcPort(): number {
    return u16(this.bytes, SRC_PORT);
  }

  get dstPort(): number {
    return u16(this.bytes, DST_PORT);
  }

  /** Header plus data, in bytes (validated: 8 <= length <= bytes.length). */
  get length(): number {
    return u16(this.bytes, LENGTH);
  }

  get checksum(): number {
    return u16(this.bytes, CHECKSUM);
  }

  /** The data, cut to the Length field. */
  get payload(): Uint8Array {
    return this.bytes.subarray(UDP_HEADER_LEN, this.length);
  }

  /**
   * True when the checksum passes: it verifies over pseudo-header, header and data, or it is 0
   * ("no checksum") over IPv4. A 0 over IPv6 does not pass.
   */
  verifyChecksum(ph: PseudoHeader): boolean {
    if (this.checksum === 0) return ph.version === 4;
    const length = this.length;
    return verifies(sum16(this.bytes.subarray(0, length), pseudoHeaderSum(ph, IPPROTO_UDP, length)));
  }

  repr(): UdpRepr {
    return { srcPort: this.srcPort, dstPort: this.dstPort };
  }
}

/** Parses a datagram carried between the addresses of `ph`; verifies its checksum unless told not to. */
export function parseUdp(
  bytes: Uint8Array,
  ph: PseudoHeader,
  opts?: UdpParseOptions,
): Result<{ repr: UdpRepr; payload: Uint8Array }> {
  const r = UdpPacket.check(bytes);
  if (!r.ok) return r;
  const p = r.value;
  // A zero over IPv6 is a header error (RFC 8200 §8.1), not a verification result: rejected in both modes.
  if (ph.version === 6 && p.checksum === 0) return malformed('udp', 'zero-checksum-ipv6');
  if (opts?.checksum !== 'ignore' && !p.verifyChecksum(ph)) return malformed('udp', 'bad-checksum');
  return ok({ repr: p.repr(), payload: p.payload });
}

export function udpHeaderLen(_repr?: UdpRepr): number {
  return UDP_HEADER_LEN;
}

/**
 * Writes the header at the start of `buf`, whose length is the datagram's (header + payload, the
 * payload already placed at `buf[8..]`), and its checksum. Returns the header length.
 */
export function emitUdp(repr: UdpRepr, buf: Uint8Array, ph: PseudoHeader, opts?: UdpEmitOptions): number {
  const length = buf.length;
  if (length < UDP_HEADER_LEN) throw new RangeError('emitUdp: buffer too small');
  if (length > UDP_MAX_LEN) throw new RangeError('emitUdp: datagram longer than 65535 bytes');
  setU16(buf, SRC_PORT, repr.srcPort);
  setU16(buf, DST_PORT, repr.dstPort);
  setU16(buf, LENGTH, length);
  const phSum = pseudoHeaderSum(ph, IPPROTO_UDP, length);
  if (opts?.checksum === 'offload') {
    setU16(buf, CHECKSUM, phSum);
  } else {
    setU16(buf, CHECKSUM, 0);
    // RFC 768: a computed 0 is sent as all ones, since 0 means "no checksum".
    setU16(buf, CHECKSUM, finish(sum16(buf, phSum)) || 0xffff);
  }
  return UDP_HEADER_LEN;
}
