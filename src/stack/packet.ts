/**
 * Outgoing packets are built inside-out in one buffer that keeps room for the Ethernet header in
 * front (ARCHITECTURE.md "Zero-copy and ownership"). The IP packet is a view into that buffer, so
 * the neighbour caches can queue the packet and the driver can later write the Ethernet header in
 * front of it without copying. Only packets made by `newPacket` may be passed to `frameOf`.
 */
export const LINK_HEADROOM = 14;

/** A fresh IP packet of `length` bytes with link headroom in front of it. */
export function newPacket(length: number): Uint8Array {
  return new Uint8Array(LINK_HEADROOM + length).subarray(LINK_HEADROOM);
}

/** The frame around a packet made by `newPacket`: the headroom plus the packet. */
export function frameOf(packet: Uint8Array): Uint8Array {
  if (packet.byteOffset < LINK_HEADROOM) throw new Error('frameOf: packet has no link headroom');
  return new Uint8Array(packet.buffer, packet.byteOffset - LINK_HEADROOM, packet.length + LINK_HEADROOM);
}
