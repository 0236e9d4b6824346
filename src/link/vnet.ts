/**
 * The virtio-net header a TAP opened with `IFF_VNET_HDR` puts in front of every frame, both ways
 * (docs/TAP.md "Offloads"; Linux include/uapi/linux/virtio_net.h, `struct virtio_net_hdr`):
 *
 * ```
 *  0       1       2               4               6               8              10
 * +-------+-------+---------------+---------------+---------------+---------------+
 * | flags |gso_typ|    hdr_len    |   gso_size    |  csum_start   |  csum_offset  |
 * +-------+-------+---------------+---------------+---------------+---------------+
 * ```
 *
 * The u16 fields are in the device's byte order; a TAP not told otherwise (`TUNSETVNETLE`/`BE`) uses
 * the host's, little-endian on every machine Oasis runs on (x86-64, arm64), as tap.ts assumes.
 * `flags`: NEEDS_CSUM (the checksum at `csum_start + csum_offset` holds only the pseudo-header sum;
 * the rest is summed from `csum_start` to the end), DATA_VALID (the kernel verified the checksum).
 * `gso_type`: the frame is a super-frame to be cut into `gso_size`-byte payloads (TCPv4, TCPv6, UDP
 * L4), with ECN (0x80) when its first segment carries CWR.
 *
 * Pure: no Node API. Parsing never throws; `emitVnetHdr` throws only on a buffer too small (a bug).
 *
 * Sending a super-frame through the stack: the IP layer makes it in a buffer of its own
 * (`newGsoPacket` in stack/packet.ts) and tags that buffer here (`tagGso`); a link finds the tag by
 * the frame's buffer (`gsoTagOf`), so the tag survives the neighbour caches' queues without a field
 * on every frame, and untagged frames (every other one) cost one WeakMap miss. A TAP that has written
 * such a frame gives its buffer back (`recycleGsoBuffer`) for the next one: a fresh 64 KiB
 * ArrayBuffer is zeroed and counted by the GC as external memory, per super-frame.
 */
import { ok, type Result, unsupported, type WireError, malformed } from '../result.js';

/** The header size Oasis uses: see `TapLink` (10, the kernel's default, keeps the IP header 8-aligned). */
export const VNET_HDR_LEN = 10;

export const VNET_F_NEEDS_CSUM = 1;
export const VNET_F_DATA_VALID = 2;

export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
/** UFO (whole datagrams cut into IP fragments): deprecated, never asked for. */
export const VNET_GSO_UDP = 3;
export const VNET_GSO_TCPV6 = 4;
/** USO (Linux 6.2+): cut into separate UDP datagrams of `gso_size` bytes each. */
export const VNET_GSO_UDP_L4 = 5;
export const VNET_GSO_ECN = 0x80;

/** TUNSETOFFLOAD bits (include/uapi/linux/if_tun.h). */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;

export interface VnetHdr {
  readonly flags: number;
  readonly gsoType: number;
  readonly hdrLen: number;
  readonly gsoSize: number;
  readonly csumStart: number;
  readonly csumOffset: number;
}

/** The same fields, written in place for every frame a TAP reads (no allocation per frame). */
export interface MutableVnetHdr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export function emptyVnetHdr(): MutableVnetHdr {
  return { flags: 0, gsoType: VNET_GSO_NONE, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

/** What a link accepts on send (and so may receive): the bits the kernel took in TUNSETOFFLOAD. */
export interface Offloads {
  readonly csum: boolean;
  readonly tso4: boolean;
  readonly tso6: boolean;
  readonly tsoEcn: boolean;
  readonly uso4: boolean;
  readonly uso6: boolean;
}

/** A link with offloads: the metadata of the frame being handled, and what it accepts. */
export interface OffloadLink {
  /** Undefined when the link carries no vnet header (offloads off). */
  readonly offloads: Offloads | undefined;
  /** The header of the frame the receive handler is running for; valid only during that call. */
  readonly rxVnet: VnetHdr;
}

/** The offloads of `link` when it is a link that has them, else undefined. */
export function offloadsOf(link: object): Offloads | undefined {
  return (link as Partial<OffloadLink>).offloads;
}

/** The vnet header of the frame `link` is delivering now, when `link` carries them. */
export function rxVnetOf(link: object): VnetHdr | undefined {
  return (link as Partial<OffloadLink>).offloads === undefined ? undefined : (link as OffloadLink).rxVnet;
}

/** Whether the kernel vouches for the transport checksum of the frame (RFC 1122 §4.2.2.7 is met there). */
export function checksumTrusted(h: VnetHdr | undefined): boolean {
  return h !== undefined && (h.flags & (VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) !== 0;
}

function vnetError(kind: string): { readonly ok: false; readonly error: WireError } {
  return malformed('ethernet', `vnet-${kind}`);
}

/**
 * Reads the header at the start of `b` into `into`; false when `b` is too short or the header is not
 * one Oasis can act on (unknown flag bits, an unknown GSO type, a GSO type without a segment size).
 */
export function readVnetHdr(b: Uint8Array, into: MutableVnetHdr): boolean {
  if (b.length < VNET_HDR_LEN) return false;
  const flags = b[0]!;
  const gsoType = b[1]!;
  into.flags = flags;
  into.gsoType = gsoType;
  into.hdrLen = b[2]! | (b[3]! << 8);
  into.gsoSize = b[4]! | (b[5]! << 8);
  into.csumStart = b[6]! | (b[7]! << 8);
  into.csumOffset = b[8]! | (b[9]! << 8);
  if ((flags & ~(VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) !== 0) return false;
  const base = gsoType & ~VNET_GSO_ECN;
  if (base === VNET_GSO_NONE) return gsoType === VNET_GSO_NONE;
  if (base !== VNET_GSO_TCPV4 && base !== VNET_GSO_TCPV6 && base !== VNET_GSO_UDP_L4) return false;
  return into.gsoSize > 0;
}

/** Parses a vnet header (never throws): the header, or why Oasis cannot act on it. */
export function parseVnetHdr(b: Uint8Array): Result<VnetHdr, WireError> {
  if (b.length < VNET_HDR_LEN) return vnetError('short');
  const h = emptyVnetHdr();
  if (readVnetHdr(b, h)) return ok(h);
  if ((h.flags & ~(VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) !== 0)
    return unsupported('ethernet', 'vnet-flags');
  if ((h.gsoType & ~VNET_GSO_ECN) === VNET_GSO_NONE || h.gsoSize > 0)
    return unsupported('ethernet', 'vnet-gso-type');
  return vnetError('no-gso-size');
}

/** Writes `h` at the start of `buf` (at least VNET_HDR_LEN bytes). */
export function emitVnetHdr(h: VnetHdr, buf: Uint8Array): void {
  if (buf.length < VNET_HDR_LEN) throw new RangeError('emitVnetHdr: buffer too small');
  buf[0] = h.flags;
  buf[1] = h.gsoType;
  buf[2] = h.hdrLen & 0xff;
  buf[3] = h.hdrLen >>> 8;
  buf[4] = h.gsoSize & 0xff;
  buf[5] = h.gsoSize >>> 8;
  buf[6] = h.csumStart & 0xff;
  buf[7] = h.csumStart >>> 8;
  buf[8] = h.csumOffset & 0xff;
  buf[9] = h.csumOffset >>> 8;
}

/** Super-frames waiting in the stack or a link, by the buffer they own (see the file comment). */
const gsoTags = new WeakMap<ArrayBufferLike, VnetHdr>();

/** Room for a vnet header, an Ethernet header and the largest IP packet of a super-frame. */
const GSO_BUFFER_LEN = VNET_HDR_LEN + 14 + 40 + 0xffff;
/**
 * Buffers given back, at most MAX_SPARE_GSO of them (4 MiB). A TAP writes what one driver callback
 * queued only when the callback ends, so one ACK burst may take a buffer for every super-frame that
 * several connections' windows release at once (16 per 1 MiB send buffer). With 32, `oasis iperf3 -c
 * -P 4` ran dry: fresh buffers, their external memory and a Mark-Compact every ~90 ms (58 in 5 s
 * against 4), and 11.7 against 14.8 Gbit/s (bench/PROFILE.md).
 */
const spareGsoBuffers: ArrayBuffer[] = [];
const MAX_SPARE_GSO = 64;

/** A buffer for one super-frame of `bytes` in all: a spare one when it fits, else a fresh one. */
export function gsoBuffer(bytes: number): ArrayBuffer {
  if (bytes > GSO_BUFFER_LEN) return new ArrayBuffer(bytes);
  return spareGsoBuffers.pop() ?? new ArrayBuffer(GSO_BUFFER_LEN);
}

/**
 * Gives back the buffer of a super-frame made by the stack (`gsoBuffer`, tagged), once nothing refers
 * to the frame any more: called by the link that wrote it. Any other frame is left alone.
 */
export function recycleGsoBuffer(frame: Uint8Array): void {
  const b = frame.buffer;
  if (b.byteLength !== GSO_BUFFER_LEN || !gsoTags.delete(b)) return;
  if (spareGsoBuffers.length < MAX_SPARE_GSO) spareGsoBuffers.push(b as ArrayBuffer);
}

/** Marks `buffer`, which holds exactly one super-frame (and its headroom), as one. */
export function tagGso(buffer: ArrayBufferLike, h: VnetHdr): void {
  gsoTags.set(buffer, h);
}

/** The vnet header of a super-frame made by the stack, found by its buffer; undefined for any other frame. */
export function gsoTagOf(frame: Uint8Array): VnetHdr | undefined {
  return gsoTags.get(frame.buffer);
}
