/**
 * Outgoing packets are built inside-out in one buffer that keeps room for the Ethernet header in
 * front (docs/ARCHITECTURE.md "Zero-copy and ownership"). The IP packet is a view into that buffer, so
 * the neighbour caches can queue the packet and the driver can later write the Ethernet header in
 * front of it without copying. Only packets made by `newPacket` may be passed to `frameOf`.
 *
 * Packets are cut from shared slabs (bytes.ts `Slabs`) rather than given an ArrayBuffer each;
 * whatever keeps a packet for long (the neighbour caches' queues) holds a compact copy instead
 * (`compactPacket`), or it would pin a whole slab.
 */
import { Slabs } from '../bytes.js';
import { finishPartialChecksum } from '../link/gso.js';
import { ETHERNET_HEADER_LEN } from '../link/link.js';
import {
  gsoBuffer,
  gsoTagOf,
  rxVnetOf,
  tagGso,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_LEN,
  type VnetHdr,
} from '../link/vnet.js';

export const LINK_HEADROOM = 14;

/** Bigger packets get a buffer of their own: they are rare and would waste the slab's tail. */
const packets = new Slabs(256 * 1024, 16 * 1024);

/** A fresh zeroed IP packet of `length` bytes with link headroom in front of it. */
export function newPacket(length: number): Uint8Array {
  return packets.take(LINK_HEADROOM + length).subarray(LINK_HEADROOM);
}

/**
 * An IP packet of `length` bytes to be sent as a super-frame (GSO, src/link/vnet.ts): in a buffer of
 * its own (the tag is found by buffer; one a TAP gave back, not zeroed), with room for the vnet
 * header in front of the Ethernet header so that a TAP writes it without a copy. `vnet` is the
 * header; the caller writes every byte of the packet before it is sent.
 */
export function newGsoPacket(length: number, vnet: VnetHdr): Uint8Array {
  const buffer = gsoBuffer(VNET_HDR_LEN + LINK_HEADROOM + length);
  tagGso(buffer, vnet);
  return new Uint8Array(buffer, VNET_HDR_LEN + LINK_HEADROOM, length);
}

/**
 * `packet` (made by `newPacket`) in a buffer of its own, for holding it long: a packet cut from a
 * slab would keep the whole slab alive. A super-frame already has its own (and keeps its tag).
 */
export function compactPacket(packet: Uint8Array): Uint8Array {
  if (packet.buffer.byteLength === LINK_HEADROOM + packet.length || gsoTagOf(packet) !== undefined)
    return packet;
  return ownCopy(packet);
}

/** The frame around a packet made by `newPacket`: the headroom plus the packet. */
export function frameOf(packet: Uint8Array): Uint8Array {
  if (packet.byteOffset < LINK_HEADROOM) throw new Error('frameOf: packet has no link headroom');
  return new Uint8Array(packet.buffer, packet.byteOffset - LINK_HEADROOM, packet.length + LINK_HEADROOM);
}

/** A copy of `packet` (from anywhere, a received frame say) with link headroom, for holding it long. */
export function ownCopy(packet: Uint8Array): Uint8Array {
  const own = new Uint8Array(LINK_HEADROOM + packet.length);
  own.set(packet, LINK_HEADROOM);
  return own.subarray(LINK_HEADROOM);
}

/**
 * Before a received packet is quoted in an ICMP error: a transport checksum the kernel left partial
 * (vnet NEEDS_CSUM: only the pseudo-header sum is in the field) is finished in place, or the quote
 * would carry what reads as a corrupt checksum (RFC 792, RFC 4443 §3: the quote is the packet as
 * sent). `packet` is the IP packet of the frame `link` is delivering now, right after its Ethernet
 * header.
 */
export function finishForQuote(link: object, packet: Uint8Array): void {
  const h = rxVnetOf(link);
  if (h !== undefined && (h.flags & VNET_F_NEEDS_CSUM) !== 0)
    finishPartialChecksum(packet, h.csumStart - ETHERNET_HEADER_LEN, h.csumOffset);
}
