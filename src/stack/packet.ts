/**
 * Outgoing packets are built inside-out in one buffer that keeps room for the Ethernet header in
 * front (ARCHITECTURE.md "Zero-copy and ownership"). The IP packet is a view into that buffer, so
 * the neighbour caches can queue the packet and the driver can later write the Ethernet header in
 * front of it without copying. Only packets made by `newPacket` may be passed to `frameOf`.
 *
 * Packets are carved one after another out of shared zeroed slabs rather than given an ArrayBuffer
 * each: a buffer per frame cost a malloc, a free on V8's sweeper thread and contention on the
 * allocator's lock between the two (perf showed ~8 % of a core in futex wake-ups at 0.9 Gbit/s).
 * A slab is freed by the garbage collector once no packet cut from it is referenced; whatever keeps
 * a packet for long (the neighbour caches' queues) holds a compact copy instead (`compactPacket`).
 */
export const LINK_HEADROOM = 14;

const SLAB_BYTES = 256 * 1024;
/** Bigger packets get a buffer of their own: they are rare and would waste the slab's tail. */
const SLAB_MAX_PACKET = 16 * 1024;

let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

/** A fresh zeroed IP packet of `length` bytes with link headroom in front of it. */
export function newPacket(length: number): Uint8Array {
  const need = LINK_HEADROOM + length;
  if (need > SLAB_MAX_PACKET) return new Uint8Array(need).subarray(LINK_HEADROOM);
  if (slabUsed + need > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const start = slabUsed;
  // 8-byte alignment keeps every packet's words aligned for the checksum's wide reads.
  slabUsed = (start + need + 7) & ~7;
  return slab.subarray(start + LINK_HEADROOM, start + need);
}

/**
 * `packet` (made by `newPacket`) in a buffer of its own, for holding it long: a packet cut from a
 * slab would keep the whole slab alive.
 */
export function compactPacket(packet: Uint8Array): Uint8Array {
  if (packet.buffer.byteLength === LINK_HEADROOM + packet.length) return packet;
  const own = new Uint8Array(LINK_HEADROOM + packet.length);
  own.set(packet, LINK_HEADROOM);
  return own.subarray(LINK_HEADROOM);
}

/** The frame around a packet made by `newPacket`: the headroom plus the packet. */
export function frameOf(packet: Uint8Array): Uint8Array {
  if (packet.byteOffset < LINK_HEADROOM) throw new Error('frameOf: packet has no link headroom');
  return new Uint8Array(packet.buffer, packet.byteOffset - LINK_HEADROOM, packet.length + LINK_HEADROOM);
}
