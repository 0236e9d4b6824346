/**
 * An existing Linux interface (a veth end, a NIC) through an `AF_PACKET` socket with memory-mapped
 * rings (docs/PACKET.md; the kernel's Documentation/networking/packet_mmap.rst).
 *
 * Opening: `socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)` (protocol 0: nothing is
 * queued before the rings exist), `PACKET_VERSION` TPACKET_V3, `PACKET_LOSS` (the kernel skips a
 * transmit frame it cannot send instead of stopping at it), `PACKET_IGNORE_OUTGOING` (Linux 4.20+;
 * before that outgoing frames are skipped by their `sll_pkttype`), `PACKET_RX_RING` and
 * `PACKET_TX_RING` (both `struct tpacket_req3`), one `mmap` of both rings (receive ring first), then
 * `bind` to the interface with ETH_P_ALL and `PACKET_ADD_MEMBERSHIP` PACKET_MR_PROMISC (dropped by
 * the kernel when the socket closes).
 *
 * Owning the interface (`own`, the default; docs/PACKET.md "Owning the interface"): Oasis answers
 * ARP, NDP and TCP there, so the kernel must not. Opening refuses an interface on which the kernel
 * has IPv4 or global IPv6 addresses; otherwise it sets IFF_NOARP and IFF_UP (SIOCSIFFLAGS) and
 * `net.ipv6.conf.IF.disable_ipv6=1`, and close() puts back what it changed. The stack picks a MAC of
 * its own (`mac` is undefined): frames to it are PACKET_OTHERHOST for the kernel, which its IP
 * layers drop before looking at them, even with forwarding on.
 *
 * Receiving (TPACKET_V3): the kernel fills blocks of frames and hands a block over (block_status
 * TP_STATUS_USER) when it is full or its retire timeout (`retireMs`) expires; the socket polls
 * readable then. One wake-up walks every ready block, in ring order, and every frame of each; each
 * frame goes to the handler as a view into the mapped ring (no copy), and the block goes back to
 * the kernel (TP_STATUS_KERNEL) once the handler has returned for its last frame. A frame lent on
 * from a view (link.ts) is copied by whoever keeps it past the handler: a PacketLink copies it into
 * its transmit ring at send time, a TapLink into its queue (`keepable`). TPACKET_V3 wakes the reader
 * per block, not per frame: a lone frame (a ping) waits for its block's retire timer, which the
 * kernel runs on its tick (`retireMs` 1 rounds up to 4 ms at HZ=250). It trades latency for frames
 * per wake-up (docs/PACKET.md "Latency"); `version: 2` (TPACKET_V2) has slots of a fixed size and a
 * wake-up per frame instead, walked and given back the same way.
 *
 * Frames the link cannot hand up as they are: a frame longer than the MTU allows (a GSO super-frame
 * from a peer with TSO/GSO on) or cut short by the ring (tp_snaplen < tp_len) is dropped, counted as
 * `oversize` and in `packetCounters` (`superFrames`, `truncated`): the peer must have TSO/GSO off.
 * A frame whose transport checksum the peer left to offload (TP_STATUS_CSUMNOTREADY: the field holds
 * the pseudo-header sum) gets it finished in place (`checksumsFinished`). A VLAN tag the kernel took
 * out into the frame's metadata (TP_STATUS_VLAN_VALID) is put back in front of the payload.
 *
 * Sending (PACKET_TX_RING, TPACKET_V3 frames of fixed size): send() copies the frame into the next
 * free slot behind its 48-byte `tpacket3_hdr` and a `virtio_net_hdr` (PACKET_VNET_HDR) whose
 * `hdr_len` is the whole frame, sets `tp_len` and marks it TP_STATUS_SEND_REQUEST. That header
 * makes the kernel copy the frame into the skb's linear part: without it the skb points into the
 * ring's pages, and an interface without scatter-gather (a veth with offloads off) copies it out
 * again into a reallocated head (`pskb_expand_head`, docs/PACKET.md "The virtio header");
 * one `send(fd, NULL, 0, MSG_DONTWAIT)` at the end of the callback (or microtask) hands the kernel
 * every frame marked: made here for a frame or two, by the transmit thread (transmit-thread.ts)
 * for a burst, so the kernel's work for them runs on another CPU. A slot is free again once the
 * kernel has released its skb (TP_STATUS_AVAILABLE). When the ring is full, frames wait in a
 * bounded queue (`txQueueLen`; past it a `queue-full` drop) and the poll also waits for
 * writability, as TapLink does on EAGAIN.
 *
 * Lifetime: the poll handle keeps the process alive; close() flushes, stops the poll, stops the
 * transmit thread after its last send(), closes the socket, unmaps the rings and restores the
 * interface. Views of the receive ring must not be used after close() (they are valid during the
 * handler only, as the Link contract says).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import koffi from 'koffi';
import { frameLayout, finishPartialChecksum } from './gso.js';
import {
  addLendingArea,
  admitOutgoing,
  type CaptureHook,
  checkFrameSize,
  deliverIncoming,
  type FrameHandler,
  keepable,
  type LendingArea,
  type Link,
  type LinkCounters,
  lentFrom,
  maxFrameLen,
  newCounters,
  removeLendingArea,
} from './link.js';
import { TransmitThread, TX_THREAD_BURST } from './transmit-thread.js';
import {
  type Attachment,
  attachPoll,
  freePollHandle,
  libcLibrary,
  loadUv,
  markUnflushed,
  newPollHandle,
  startPoll,
  stopPoll,
  systemError,
  UV_READABLE,
  UV_WRITABLE,
} from './uv-poll.js';

export interface PacketOptions {
  /** IP MTU of the link (default: the interface's own MTU). */
  readonly mtu?: number;
  /** Receive ring: bytes per block (a multiple of the page size; default 32 KiB). */
  readonly blockSize?: number;
  /** Receive ring: blocks (default 256). */
  readonly blocks?: number;
  /** Receive ring: how long the kernel fills a block before handing it over, in ms (default 1). */
  readonly retireMs?: number;
  /**
   * The ring format (default 3): TPACKET_V3 hands frames over by blocks (one wake-up for many, a
   * lone frame waiting for its block's retire timer); TPACKET_V2 by frames of a fixed size (a
   * wake-up per frame at low rates, no timer: the latency of a TAP). Both rings take it.
   */
  readonly version?: 2 | 3;
  /**
   * Transmit ring slots (default 4096, 8 MiB at MTU 1500): room for the event loop to run ahead of
   * the transmit thread through a burst of reads, rather than drop what the queue cannot hold.
   */
  readonly txFrames?: number;
  /** Frames that may wait for a free transmit slot before tail drop (default 1024). */
  readonly txQueueLen?: number;
  /**
   * Hand bursts of frames to the kernel from a thread of their own (default: where the machine has
   * more than one CPU), so the kernel's work for them (a veth peer's whole receive path) runs beside
   * the event loop, not in it; a frame or two with the thread idle still goes out at once from the
   * event loop. See transmit-thread.ts.
   */
  readonly txThread?: boolean;
  /**
   * Take the interface over (default true): refuse it while the kernel has IPv4 or global IPv6
   * addresses on it, turn the kernel's ARP and IPv6 off there and bring it up; close() restores.
   */
  readonly own?: boolean;
}

/** What the packet ring did, beside the link counters. */
export interface PacketCounters {
  /** Wake-ups that found at least one block (V2: frame), and the V3 blocks walked. */
  wakeups: number;
  blocks: number;
  /** Frames longer than the MTU allows (GSO super-frames from a peer with TSO/GSO on): dropped. */
  superFrames: number;
  /** Frames the ring cut short (tp_snaplen < tp_len): dropped. */
  truncated: number;
  /** Transport checksums left to offload by the peer (TP_STATUS_CSUMNOTREADY), finished here. */
  checksumsFinished: number;
  /** VLAN tags the kernel had taken out of a frame, put back. */
  vlanRestored: number;
  /** Our own outgoing frames seen by the socket (only where PACKET_IGNORE_OUTGOING is missing). */
  outgoingSkipped: number;
  /** Sends that found the transmit ring full (the frame waited, or was dropped past txQueueLen). */
  txRingFull: number;
  /** Hand-overs of marked frames to the kernel: `send()` calls, and kicks of the transmit thread. */
  txKicks: number;
  /** The part of txKicks that went to the transmit thread. */
  txThreadKicks: number;
  /** Frames the kernel dropped because the receive ring was full (PACKET_STATISTICS tp_drops). */
  kernelDrops: number;
  /** Errors the socket reported (ENETDOWN while the interface went down), cleared and polled again. */
  socketErrors: number;
}

/** What `own` changed on the interface, to be put back by close(). */
interface Owned {
  readonly setNoArp: boolean;
  readonly setUp: boolean;
  /** The previous disable_ipv6 text, when it was changed. */
  readonly ipv6Before: string | undefined;
}

// include/uapi/linux/socket.h, if_ether.h, if_packet.h, if.h, sockios.h; asm-generic/mman-common.h.
const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_ERROR = 4;
const SOL_PACKET = 263;
const ETH_P_ALL = 0x0003;
const PACKET_ADD_MEMBERSHIP = 1;
const PACKET_RX_RING = 5;
const PACKET_STATISTICS = 6;
const PACKET_VERSION = 10;
const PACKET_TX_RING = 13;
const PACKET_LOSS = 14;
const PACKET_IGNORE_OUTGOING = 23;
const PACKET_VNET_HDR = 15;
/** `struct virtio_net_hdr`: flags u8, gso_type u8, hdr_len u16, gso_size u16, csum_start u16, csum_offset u16. */
const VIRTIO_NET_HDR_LEN = 10;
const PACKET_MR_PROMISC = 1;
const TPACKET_V2 = 1;
const TPACKET_V3 = 2;
const PACKET_OUTGOING = 4;
const TP_STATUS_KERNEL = 0;
const TP_STATUS_USER = 1;
const TP_STATUS_CSUMNOTREADY = 1 << 3;
const TP_STATUS_VLAN_VALID = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID = 1 << 6;
const TP_STATUS_AVAILABLE = 0;
const TP_STATUS_SEND_REQUEST = 1;
const TP_STATUS_WRONG_FORMAT = 1 << 2;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MSG_DONTWAIT = 0x40;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;
const IFF_NOARP = 0x80;
const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;
const IFR_FLAGS = 16;
const SC_PAGESIZE = 30; // _SC_PAGESIZE, glibc's bits/confname.h

/**
 * `struct tpacket_block_desc` (48 bytes): version u32, offset_to_priv u32, then `tpacket_hdr_v1`:
 * block_status u32 @8, num_pkts u32 @12, offset_to_first_pkt u32 @16, blk_len u32 @20, seq u64 @24,
 * two timestamps @32 and @40.
 */
const BLOCK_STATUS = 8;
const BLOCK_NUM_PKTS = 12;
const BLOCK_FIRST = 16;
/**
 * `struct tpacket3_hdr` (48 bytes): tp_next_offset u32 @0, tp_sec @4, tp_nsec @8, tp_snaplen @12,
 * tp_len @16, tp_status @20, tp_mac u16 @24, tp_net u16 @26, then `tpacket_hdr_variant1`: tp_rxhash
 * @28, tp_vlan_tci u32 @32, tp_vlan_tpid u16 @36; padding to 48. A `struct sockaddr_ll` follows
 * (sll_pkttype u8 at its offset 10): TPACKET3_HDRLEN = 48 + 20 = 68.
 */
const H_NEXT = 0;

/** Where the fields of a frame header lie, per TPACKET version. */
interface HdrLayout {
  readonly version: 2 | 3;
  readonly snaplen: number;
  readonly len: number;
  readonly status: number;
  readonly mac: number;
  readonly vlanTci: number;
  readonly vlanTpid: number;
  /** sll_pkttype of the `sockaddr_ll` behind the header. */
  readonly pkttype: number;
  /** tp_hdrlen: the header and the `sockaddr_ll` (20 bytes). */
  readonly hdrLen: number;
  /** Where a transmitted frame's data starts in its slot: tp_hdrlen - sizeof(sockaddr_ll) (af_packet.c). */
  readonly txData: number;
}

const V3: HdrLayout = {
  version: 3,
  snaplen: 12,
  len: 16,
  status: 20,
  mac: 24,
  vlanTci: 32, // a u32; the TCI is its low 16 bits
  vlanTpid: 36,
  pkttype: 48 + 10,
  hdrLen: 48 + 20,
  txData: 48,
};

/**
 * `struct tpacket2_hdr` (32 bytes): tp_status u32 @0, tp_len @4, tp_snaplen @8, tp_mac u16 @12,
 * tp_net u16 @14, tp_sec @16, tp_nsec @20, tp_vlan_tci u16 @24, tp_vlan_tpid u16 @26, padding to 32;
 * the `sockaddr_ll` at 32: TPACKET2_HDRLEN = 52. One frame per slot, the reader woken per frame.
 */
const V2: HdrLayout = {
  version: 2,
  snaplen: 8,
  len: 4,
  status: 0,
  mac: 12,
  vlanTci: 24,
  vlanTpid: 26,
  pkttype: 32 + 10,
  hdrLen: 32 + 20,
  txData: 32,
};
const TPACKET_ALIGNMENT = 16;

/**
 * 256 blocks of 32 KiB (8 MiB). A block goes up when full or when its retire timer fires (`retireMs`,
 * rounded up by the kernel to its timer tick: 4 ms at HZ=250). Small blocks fill, and so go up, after
 * some 20 full-sized frames: a TCP window much larger than a block keeps them coming without waiting
 * for the timer. Many blocks: at low rates each may go up nearly empty, and the ring must cover the
 * time this process is not scheduled (256 timer ticks) before the kernel drops frames.
 */
const DEFAULT_BLOCK_SIZE = 32 * 1024;
const DEFAULT_BLOCKS = 256;
const DEFAULT_RETIRE_MS = 1;
const DEFAULT_TX_FRAMES = 4096;
/** The receive ring's nominal frame size (TPACKET_V3 packs frames by their size; this only checks). */
const RX_FRAME_SIZE = 2048;

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  setsockopt: (fd: number, level: number, name: number, value: Uint8Array, len: number) => number;
  getsockopt: (fd: number, level: number, name: number, value: Uint8Array, len: Int32Array) => number;
  bind: (fd: number, addr: Uint8Array, len: number) => number;
  ioctl: (fd: number, req: number, type: string, arg: Uint8Array) => number;
  ifNameToIndex: (name: string) => number;
  mmap: (addr: null, len: number, prot: number, flags: number, fd: number, off: number) => unknown;
  munmap: (addr: unknown, len: number) => number;
  send: (fd: number, buf: null, len: number, flags: number) => number;
  close: (fd: number) => number;
  sysconf: (name: number) => number;
  errno: () => number;
  EAGAIN: number;
}

let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc !== undefined) return libc;
  if (process.platform !== 'linux') throw new Error('PacketLink: Linux only');
  const lib = libcLibrary();
  const errnos = koffi.os.errno;
  libc = {
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    setsockopt: lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, void *value, _Inout_ int32_t *len)'),
    bind: lib.func('int bind(int fd, const void *addr, uint32_t len)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long req, ...)'),
    ifNameToIndex: lib.func('unsigned int if_nametoindex(const char *name)'),
    mmap: lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)'),
    munmap: lib.func('int munmap(void *addr, size_t len)'),
    send: lib.func('long send(int fd, const void *buf, size_t len, int flags)'),
    close: lib.func('int close(int fd)'),
    sysconf: lib.func('long sysconf(int name)'),
    errno: () => koffi.errno(),
    EAGAIN: errnos.EAGAIN ?? 11,
  };
  return libc;
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** `struct tpacket_req3` (7 × u32). */
function tpacketReq3(blockSize: number, blockNr: number, frameSize: number, retireMs: number): Uint8Array {
  const b = new Uint8Array(28);
  const v = new DataView(b.buffer);
  v.setUint32(0, blockSize, true);
  v.setUint32(4, blockNr, true);
  v.setUint32(8, frameSize, true);
  v.setUint32(12, (blockSize / frameSize) * blockNr, true);
  v.setUint32(16, retireMs, true); // tp_retire_blk_tov; must be 0 for a transmit ring
  return b; // tp_sizeof_priv and tp_feature_req_word: 0
}

/** `struct tpacket_req` (4 × u32), for TPACKET_V2. */
function tpacketReq(blockSize: number, blockNr: number, frameSize: number): Uint8Array {
  return tpacketReq3(blockSize, blockNr, frameSize, 0).subarray(0, 16);
}

function int32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n, true); // native int, little-endian on x86-64 and arm64
  return b;
}

/** The addresses the kernel holds on `name` that make it answer there itself (iproute2's JSON). */
function kernelAddresses(name: string): string[] {
  let out: string;
  try {
    out = execFileSync('ip', ['-j', 'addr', 'show', 'dev', name], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error(`PacketLink.open(${name}): needs iproute2's 'ip' to check the kernel's addresses`);
    throw new Error(`PacketLink.open(${name}): ip addr show: ${(e as { stderr?: string }).stderr?.trim()}`);
  }
  const [info] = JSON.parse(out) as {
    addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
  }[];
  return (info?.addr_info ?? [])
    .filter((a) => a.family === 'inet' || (a.family === 'inet6' && a.scope !== 'link'))
    .map((a) => `${a.local}/${a.prefixlen}`);
}

function ipv6SysctlPath(name: string): string {
  return `/proc/sys/net/ipv6/conf/${name}/disable_ipv6`;
}

/** Reads, or with `set`, changes the interface flags (SIOCGIFFLAGS / SIOCSIFFLAGS on `fd`). */
function ifFlags(c: Libc, fd: number, name: string, set?: number): number {
  const ifr = new Uint8Array(IFREQ_SIZE);
  ifr.set(new TextEncoder().encode(name));
  if (set === undefined) {
    if (c.ioctl(fd, SIOCGIFFLAGS, 'void *', ifr) < 0)
      throw systemError(`PacketLink(${name}): SIOCGIFFLAGS`, c.errno());
    return ifr[IFR_FLAGS]! | (ifr[IFR_FLAGS + 1]! << 8);
  }
  ifr[IFR_FLAGS] = set & 0xff; // native short
  ifr[IFR_FLAGS + 1] = (set >>> 8) & 0xff;
  if (c.ioctl(fd, SIOCSIFFLAGS, 'void *', ifr) < 0)
    throw systemError(`PacketLink(${name}): SIOCSIFFLAGS`, c.errno());
  return set;
}

/** The transmit ring's slots: data of at most `maxFrame` bytes behind the header, 16-aligned. */
function txGeometry(maxFrame: number, frames: number, page: number, txData: number) {
  let frameSize = TPACKET_ALIGNMENT;
  while (frameSize < txData + VIRTIO_NET_HDR_LEN + maxFrame) frameSize *= 2;
  const blockSize = Math.max(page, align(frameSize, page));
  const perBlock = blockSize / frameSize;
  const blockNr = Math.ceil(frames / perBlock);
  return { frameSize, blockSize, blockNr, frames: blockNr * perBlock };
}

export class PacketLink implements Link {
  readonly name: string;
  readonly mtu: number;
  readonly counters: LinkCounters = newCounters();
  readonly packetCounters: PacketCounters = {
    wakeups: 0,
    blocks: 0,
    superFrames: 0,
    truncated: 0,
    checksumsFinished: 0,
    vlanRestored: 0,
    outgoingSkipped: 0,
    txRingFull: 0,
    txKicks: 0,
    txThreadKicks: 0,
    kernelDrops: 0,
    socketErrors: 0,
  };
  capture?: CaptureHook | undefined;
  /** The interface's index. */
  readonly ifindex: number;

  private handler: FrameHandler | undefined;
  private burstEnd: (() => void) | undefined;
  private readonly fd: number;
  private att: Attachment | undefined;
  private readonly map: unknown;
  private readonly mapLen: number;
  /** Both rings, mapped: the receive ring at 0, the transmit ring at `rxLen`. */
  private readonly ring: ArrayBuffer;
  private readonly bytes: Uint8Array;
  private readonly u32: Uint32Array;
  private readonly area: LendingArea;
  private readonly hdr: HdrLayout;
  private readonly blockSize: number;
  private readonly blockNr: number;
  private rxBlock = 0;
  /** TPACKET_V2: the receive ring's frame size, frames, and the next frame to look at. */
  private readonly rxFrameSize: number;
  private readonly rxFrames: number;
  private rxFrame = 0;
  private readonly rxLen: number;
  private readonly maxFrame: number;
  /**
   * Views of received frames, reused while a frame's offset and length match: TPACKET_V2 by slot
   * (a dense array: an array written at scattered large indexes turns into a dictionary, and its
   * lookups megamorphic), TPACKET_V3 by offset (its frames are packed, so offsets are sparse).
   */
  private readonly slotViews: (Uint8Array | undefined)[];
  private readonly offsetViews = new Map<number, Uint8Array>();
  private txThread: TransmitThread | undefined;
  private readonly txFrameSize: number;
  private readonly txFrames: number;
  private txHead = 0;
  /** Slots marked since the last send(). */
  private marked = 0;
  /** Frames waiting for a free slot (copies where they were lent). */
  private readonly backlog: (Uint8Array | undefined)[];
  private backlogHead = 0;
  private backlogCount = 0;
  private blocked = false;
  private flushQueued = false;
  private readonly owned: Owned | undefined;
  /** Until handleClosed() has closed the socket. */
  private fdOpen = true;
  private closing = false;
  private closed: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;

  private constructor(
    name: string,
    fd: number,
    ifindex: number,
    mtu: number,
    map: unknown,
    geometry: {
      hdr: HdrLayout;
      blockSize: number;
      blockNr: number;
      rxFrameSize: number;
      rxLen: number;
      txFrameSize: number;
      txFrames: number;
      mapLen: number;
    },
    txQueueLen: number,
    owned: Owned | undefined,
  ) {
    this.name = name;
    this.fd = fd;
    this.ifindex = ifindex;
    this.mtu = mtu;
    this.map = map;
    this.mapLen = geometry.mapLen;
    this.ring = koffi.view(map, geometry.mapLen);
    this.bytes = new Uint8Array(this.ring);
    this.u32 = new Uint32Array(this.ring);
    this.area = { buffer: this.ring, start: 0, end: geometry.rxLen };
    this.hdr = geometry.hdr;
    this.blockSize = geometry.blockSize;
    this.blockNr = geometry.blockNr;
    this.rxFrameSize = geometry.rxFrameSize;
    this.rxFrames = geometry.rxLen / geometry.rxFrameSize;
    this.slotViews = new Array<Uint8Array | undefined>(this.hdr.version === 2 ? this.rxFrames : 0).fill(
      undefined,
    );
    this.rxLen = geometry.rxLen;
    this.maxFrame = maxFrameLen(mtu, 2);
    this.txFrameSize = geometry.txFrameSize;
    this.txFrames = geometry.txFrames;
    this.backlog = new Array(txQueueLen);
    this.owned = owned;
  }

  /**
   * Opens an AF_PACKET socket with both rings on the existing interface `name` (CAP_NET_RAW, and
   * CAP_NET_ADMIN to own it). Throws an Error with `code` when the kernel refuses, or with a
   * sentence when the kernel still has addresses there; leaves nothing changed then.
   */
  static open(name: string, opts: PacketOptions = {}): PacketLink {
    for (const [key, min, max] of [
      ['blocks', 1, 4096],
      ['retireMs', 1, 60_000],
      ['txFrames', 1, 65536],
      ['txQueueLen', 1, Number.MAX_SAFE_INTEGER],
    ] as const) {
      const v = opts[key];
      if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max))
        throw new Error(`PacketLink.open: ${key} must be an integer in [${min}, ${max}], got ${v}`);
    }
    const nameBytes = new TextEncoder().encode(name);
    if (nameBytes.length === 0 || nameBytes.length >= IFNAMSIZ || /[\s/]/.test(name) || name.includes('\0'))
      throw new Error(`PacketLink.open: invalid interface name ${JSON.stringify(name)}`);
    const c = loadLibc();
    loadUv();
    const ifindex = c.ifNameToIndex(name);
    if (ifindex === 0) throw systemError(`PacketLink.open(${name}): no such interface`, c.errno());
    let mtu = opts.mtu;
    if (mtu === undefined) mtu = Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
    if (!(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535))
      throw new Error(`PacketLink.open: mtu must be an integer in [68, 65535], got ${mtu}`);
    const own = opts.own ?? true;
    if (own) {
      const addrs = kernelAddresses(name);
      if (addrs.length > 0)
        throw Object.assign(
          new Error(
            `PacketLink.open(${name}): the kernel has addresses on ${name} (${addrs.join(', ')}): it would ` +
              `answer ARP/NDP and reset Oasis's connections there. Remove them first ` +
              `('ip addr flush dev ${name}'): Oasis takes the interface over`,
          ),
          { code: 'EADDRINUSE' },
        );
    }
    const page = c.sysconf(SC_PAGESIZE) > 0 ? c.sysconf(SC_PAGESIZE) : 4096;
    const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (!(Number.isInteger(blockSize) && blockSize >= page && blockSize % page === 0 && blockSize <= 1 << 30))
      throw new Error(
        `PacketLink.open: blockSize must be a multiple of the page size (${page}), got ${blockSize}`,
      );
    const blockNr = opts.blocks ?? DEFAULT_BLOCKS;
    if (opts.version !== undefined && opts.version !== 2 && opts.version !== 3)
      throw new Error(`PacketLink.open: version must be 2 or 3, got ${opts.version}`);
    const hdr = opts.version === 2 ? V2 : V3;
    const tx = txGeometry(maxFrameLen(mtu, 2), opts.txFrames ?? DEFAULT_TX_FRAMES, page, hdr.txData);
    // TPACKET_V2 slots: the frame at TPACKET_ALIGN(tp_hdrlen + 16) - 14 (af_packet.c tpacket_rcv).
    let rxFrameSize = RX_FRAME_SIZE;
    if (hdr.version === 2)
      while (rxFrameSize < 80 + VIRTIO_NET_HDR_LEN + maxFrameLen(mtu, 2)) rxFrameSize *= 2;
    if (blockSize % rxFrameSize !== 0)
      throw new Error(
        `PacketLink.open: blockSize must hold whole ${rxFrameSize}-byte frames, got ${blockSize}`,
      );

    const fd = c.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw systemError(`PacketLink.open(${name}): socket(AF_PACKET)`, c.errno());
    let map: unknown;
    let mapLen = 0;
    let handle: unknown;
    let owned: Owned | undefined;
    try {
      const opt = (what: string, level: number, key: number, value: Uint8Array) => {
        if (c.setsockopt(fd, level, key, value, value.length) < 0)
          throw systemError(`PacketLink.open(${name}): ${what}`, c.errno());
      };
      opt('PACKET_VERSION', SOL_PACKET, PACKET_VERSION, int32(hdr.version === 2 ? TPACKET_V2 : TPACKET_V3));
      opt('PACKET_LOSS', SOL_PACKET, PACKET_LOSS, int32(1));
      // Linux 4.20+; before that, outgoing frames are recognised by their sll_pkttype.
      c.setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, int32(1), 4);
      // Received frames get the header too (Linux 5.8+), in front of tp_mac: the frame is found the same way.
      opt('PACKET_VNET_HDR', SOL_PACKET, PACKET_VNET_HDR, int32(1));
      const retire = opts.retireMs ?? DEFAULT_RETIRE_MS;
      opt(
        'PACKET_RX_RING',
        SOL_PACKET,
        PACKET_RX_RING,
        hdr.version === 2
          ? tpacketReq(blockSize, blockNr, rxFrameSize)
          : tpacketReq3(blockSize, blockNr, rxFrameSize, retire),
      );
      opt(
        'PACKET_TX_RING',
        SOL_PACKET,
        PACKET_TX_RING,
        hdr.version === 2
          ? tpacketReq(tx.blockSize, tx.blockNr, tx.frameSize)
          : tpacketReq3(tx.blockSize, tx.blockNr, tx.frameSize, 0),
      );
      const rxLen = blockSize * blockNr;
      mapLen = rxLen + tx.blockSize * tx.blockNr;
      map = c.mmap(null, mapLen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      // MAP_FAILED is (void *) -1.
      if (map === null || koffi.address(map) === 0xffff_ffff_ffff_ffffn) {
        map = undefined;
        throw systemError(`PacketLink.open(${name}): mmap`, c.errno());
      }
      // struct sockaddr_ll (20 bytes): family u16, protocol be16, ifindex i32, hatype, pkttype, halen, addr.
      const sll = new Uint8Array(20);
      const sv = new DataView(sll.buffer);
      sv.setUint16(0, AF_PACKET, true);
      sv.setUint16(2, ETH_P_ALL, false);
      sv.setInt32(4, ifindex, true);
      // Up before bind: binding to a device that is down leaves ENETDOWN pending on the socket.
      if (own) owned = takeOver(c, fd, name);
      if (c.bind(fd, sll, sll.length) < 0) throw systemError(`PacketLink.open(${name}): bind`, c.errno());
      // struct packet_mreq (16 bytes): mr_ifindex i32, mr_type u16, mr_alen u16, mr_address[8].
      const mreq = new Uint8Array(16);
      const mv = new DataView(mreq.buffer);
      mv.setInt32(0, ifindex, true);
      mv.setUint16(4, PACKET_MR_PROMISC, true);
      opt('PACKET_ADD_MEMBERSHIP promisc', SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq);
      handle = newPollHandle(fd, `PacketLink.open(${name})`);
      const link = new PacketLink(
        name,
        fd,
        ifindex,
        mtu,
        map,
        {
          hdr,
          blockSize,
          blockNr,
          rxFrameSize,
          rxLen,
          txFrameSize: tx.frameSize,
          txFrames: tx.frames,
          mapLen,
        },
        opts.txQueueLen ?? 1024,
        owned,
      );
      addLendingArea(link.area);
      link.att = attachPoll(link, fd, handle);
      link.watch();
      if (opts.txThread ?? availableParallelism() > 1) link.txThread = new TransmitThread(fd);
      return link;
    } catch (e) {
      if (owned !== undefined) restore(c, fd, name, owned);
      if (map !== undefined) c.munmap(map, mapLen);
      c.close(fd);
      throw e;
    }
  }

  /** Frames waiting for a free transmit slot. */
  get txQueued(): number {
    return this.backlogCount;
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  onBurstEnd(fn: () => void): void {
    this.burstEnd = fn;
  }

  send(frame: Uint8Array): void {
    if (!admitOutgoing(this, frame, this.closing)) return;
    if (this.backlogCount === 0 && this.put(frame)) {
      if (lentFrom(frame) !== undefined) this.counters.lent++;
      return;
    }
    this.packetCounters.txRingFull++;
    const cap = this.backlog.length;
    if (this.backlogCount >= cap) {
      this.counters.drops['queue-full']++;
      return;
    }
    // Kept past the lender's callback: copied if lent (counted in lent and lentCopied).
    this.backlog[(this.backlogHead + this.backlogCount) % cap] = keepable(this, frame);
    this.backlogCount++;
    if (!this.blocked) {
      this.blocked = true;
      this.watch();
    }
  }

  /** Copies `frame` into the next transmit slot and marks it; false when that slot is still busy. */
  private put(frame: Uint8Array): boolean {
    const off = this.rxLen + this.txHead * this.txFrameSize;
    const hdr = this.hdr;
    const si = (off + hdr.status) >> 2;
    let status = Atomics.load(this.u32, si);
    if (status === TP_STATUS_WRONG_FORMAT) {
      // PACKET_LOSS makes the kernel skip such frames; count one found anyway and reuse the slot.
      this.counters.drops['io-error']++;
      status = TP_STATUS_AVAILABLE;
    }
    if (status !== TP_STATUS_AVAILABLE) return false;
    // TPACKET_V3 transmit slots are of fixed size: tp_next_offset must be 0.
    if (hdr.version === 3) this.u32[(off + H_NEXT) >> 2] = 0;
    const bytes = this.bytes;
    const at = off + hdr.txData;
    const len = frame.length;
    // virtio_net_hdr, little-endian: no offload, and the whole frame (to 64 KiB) is header (hdr_len).
    const linear = Math.min(len, 0xffff);
    bytes.fill(0, at, at + VIRTIO_NET_HDR_LEN);
    bytes[at + 2] = linear & 0xff;
    bytes[at + 3] = linear >>> 8;
    bytes.set(frame, at + VIRTIO_NET_HDR_LEN);
    this.u32[(off + hdr.len) >> 2] = VIRTIO_NET_HDR_LEN + len;
    // The status last, after the data (a sequentially consistent store).
    Atomics.store(this.u32, si, TP_STATUS_SEND_REQUEST);
    this.txHead = this.txHead + 1 === this.txFrames ? 0 : this.txHead + 1;
    this.counters.framesOut++;
    this.counters.bytesOut += frame.length;
    this.marked++;
    if (!this.flushQueued) {
      this.flushQueued = true;
      markUnflushed(this);
    }
    return true;
  }

  /** @internal Moves waiting frames into free slots and hands the kernel what is marked. */
  flush(): void {
    this.flushQueued = false;
    if (this.att === undefined) return;
    const cap = this.backlog.length;
    while (this.backlogCount > 0) {
      const f = this.backlog[this.backlogHead]!;
      if (!this.put(f)) break;
      this.backlog[this.backlogHead] = undefined;
      this.backlogHead = (this.backlogHead + 1) % cap;
      this.backlogCount--;
    }
    if (this.marked > 0) {
      // A frame or two go at once (latency), unless the thread is at it already: a second sender
      // would wait on the kernel's ring lock while the thread's send() works.
      const thread = this.txThread;
      const byThread = thread !== undefined && (this.marked >= TX_THREAD_BURST || thread.busy);
      this.marked = 0;
      this.packetCounters.txKicks++;
      if (byThread) {
        this.packetCounters.txThreadKicks++;
        thread.kick();
      } else {
        const c = loadLibc();
        if (c.send(this.fd, null, 0, MSG_DONTWAIT) < 0) {
          const e = c.errno();
          // ENETDOWN while the interface is down: the frames stay marked and go with the next send.
          if (e !== c.EAGAIN && e !== 105 /* ENOBUFS */) this.counters.drops['io-error']++;
        }
      }
    }
    const wantWritable = this.backlogCount > 0;
    if (wantWritable !== this.blocked) {
      this.blocked = wantWritable;
      this.watch();
    }
  }

  /** @internal libuv's poll callback. */
  handleEvents(a: Attachment, status: number, events: number): void {
    if (a !== this.att || this.closing) return;
    if (status < 0) {
      // An error pending on the socket (ENETDOWN when the interface goes down or away): libuv
      // stopped the poll. Reading SO_ERROR clears it; then poll again.
      const c = loadLibc();
      const err = new Uint8Array(4);
      c.getsockopt(this.fd, SOL_SOCKET, SO_ERROR, err, new Int32Array([4]));
      this.packetCounters.socketErrors++;
      this.watch();
      return;
    }
    if (events & UV_WRITABLE) this.flush();
    if (events & UV_READABLE) {
      try {
        this.drain();
      } finally {
        this.burstEnd?.();
      }
    }
  }

  /** @internal libuv has let go of the handle. */
  handleClosed(a: Attachment): void {
    freePollHandle(a);
    const c = loadLibc();
    const finish = () => {
      this.readKernelStats();
      if (this.owned !== undefined) restore(c, this.fd, this.name, this.owned);
      c.close(this.fd);
      this.fdOpen = false;
      // No view of the rings is used past here (the handler's views were valid during its call only).
      c.munmap(this.map, this.mapLen);
      this.resolveClosed?.();
    };
    // The thread's last send() before the interface is given back and the fd goes (it would
    // otherwise send on whatever reuses the number); one that has not ended by then keeps both.
    const thread = this.txThread;
    if (thread === undefined || thread.stop()) finish();
    else void thread.exited.then(finish);
  }

  /** Adds what the kernel dropped for want of room in the receive ring to `kernelDrops` (and resets it there). */
  readKernelStats(): void {
    if (!this.fdOpen) return;
    const c = loadLibc();
    // struct tpacket_stats_v3: tp_packets, tp_drops, tp_freeze_q_cnt (reading resets them).
    const st = new Uint8Array(12);
    const len = new Int32Array([12]);
    if (c.getsockopt(this.fd, SOL_PACKET, PACKET_STATISTICS, st, len) === 0)
      this.packetCounters.kernelDrops += new DataView(st.buffer).getUint32(4, true);
  }

  /** Writes what is queued (best effort), stops polling, closes the socket and restores the interface. */
  close(): Promise<void> {
    if (this.closed === undefined) {
      this.flush();
      this.closing = true;
      for (; this.backlogCount > 0; this.backlogCount--) {
        this.backlog[this.backlogHead] = undefined;
        this.backlogHead = (this.backlogHead + 1) % this.backlog.length;
        this.counters.drops.closed++;
      }
      removeLendingArea(this.area);
      this.slotViews.fill(undefined);
      this.offsetViews.clear();
      this.closed = new Promise((resolve) => {
        this.resolveClosed = resolve;
      });
      if (this.att !== undefined) {
        stopPoll(this.att);
        this.att = undefined;
      }
    }
    return this.closed;
  }

  private watch(): void {
    if (this.att !== undefined) startPoll(this.att, this.blocked, `PacketLink(${this.name})`);
  }

  /** Walks every block the kernel has handed over, each frame to the handler, then gives it back. */
  private drain(): void {
    if (this.hdr.version === 2) return this.drainFrames();
    const u32 = this.u32;
    let walked = 0;
    while (walked < this.blockNr && !this.closing) {
      const base = this.rxBlock * this.blockSize;
      const si = (base + BLOCK_STATUS) >> 2;
      if ((Atomics.load(u32, si) & TP_STATUS_USER) === 0) break;
      walked++;
      try {
        const n = u32[(base + BLOCK_NUM_PKTS) >> 2]!;
        let off = base + u32[(base + BLOCK_FIRST) >> 2]!;
        for (let i = 0; i < n && !this.closing; i++) {
          this.frame(off);
          const next = u32[(off + H_NEXT) >> 2]!;
          if (next === 0) break;
          off += next;
        }
      } finally {
        // The handler and every send it made are done with the block (lent frames were copied). The
        // rings stay mapped until libuv has closed the handle, even when the handler closed the link.
        Atomics.store(u32, si, TP_STATUS_KERNEL);
        this.rxBlock = this.rxBlock + 1 === this.blockNr ? 0 : this.rxBlock + 1;
      }
    }
    if (walked > 0) {
      this.packetCounters.wakeups++;
      this.packetCounters.blocks += walked;
    }
  }

  /** TPACKET_V2: every frame the kernel has handed over, in ring order, each given back after its handler. */
  private drainFrames(): void {
    const u32 = this.u32;
    const size = this.rxFrameSize;
    let walked = 0;
    while (walked < this.rxFrames && !this.closing) {
      const si = (this.rxFrame * size) >> 2; // tp_status at 0
      if ((Atomics.load(u32, si) & TP_STATUS_USER) === 0) break;
      walked++;
      try {
        this.frame(this.rxFrame * size);
      } finally {
        Atomics.store(u32, si, TP_STATUS_KERNEL);
        this.rxFrame = this.rxFrame + 1 === this.rxFrames ? 0 : this.rxFrame + 1;
      }
    }
    if (walked > 0) this.packetCounters.wakeups++;
  }

  /** A view of the `n` bytes at `mac` of the frame whose header is at `h`. */
  private viewOf(h: number, mac: number, n: number): Uint8Array {
    const slot = this.hdr.version === 2 ? h / this.rxFrameSize : -1;
    let view = slot >= 0 ? this.slotViews[slot] : this.offsetViews.get(mac);
    if (view === undefined || view.length !== n || view.byteOffset !== mac) {
      view = new Uint8Array(this.ring, mac, n);
      if (slot >= 0) this.slotViews[slot] = view;
      else this.offsetViews.set(mac, view);
    }
    return view;
  }

  /** One received frame, its header (`tpacket3_hdr` or `tpacket2_hdr`) at `h`. */
  private frame(h: number): void {
    const u32 = this.u32;
    const bytes = this.bytes;
    const counters = this.counters;
    const pc = this.packetCounters;
    const hdr = this.hdr;
    if (bytes[h + hdr.pkttype] === PACKET_OUTGOING) {
      pc.outgoingSkipped++;
      return;
    }
    const snap = u32[(h + hdr.snaplen) >> 2]!;
    const len = u32[(h + hdr.len) >> 2]!;
    const status = u32[(h + hdr.status) >> 2]!;
    let mac = h + (bytes[h + hdr.mac]! | (bytes[h + hdr.mac + 1]! << 8));
    let n = snap;
    if (snap < len) {
      pc.truncated++;
      counters.drops.oversize++;
      return;
    }
    if ((status & TP_STATUS_VLAN_VALID) !== 0 && mac - 4 >= h + hdr.hdrLen && n >= 12) {
      // The kernel keeps a received VLAN tag in the metadata: put it back behind the MAC addresses.
      const tci = bytes[h + hdr.vlanTci]! | (bytes[h + hdr.vlanTci + 1]! << 8);
      const tpid =
        (status & TP_STATUS_VLAN_TPID_VALID) !== 0
          ? bytes[h + hdr.vlanTpid]! | (bytes[h + hdr.vlanTpid + 1]! << 8)
          : 0x8100;
      bytes.copyWithin(mac - 4, mac, mac + 12);
      mac -= 4;
      n += 4;
      bytes[mac + 12] = tpid >>> 8;
      bytes[mac + 13] = tpid & 0xff;
      bytes[mac + 14] = tci >>> 8;
      bytes[mac + 15] = tci & 0xff;
      pc.vlanRestored++;
    }
    if (n > this.maxFrame) {
      pc.superFrames++;
      counters.drops.oversize++;
      return;
    }
    const view = this.viewOf(h, mac, n);
    const bad = checkFrameSize(view, this.mtu);
    if (bad !== undefined) {
      if (bad === 'oversize') pc.superFrames++;
      counters.drops[bad]++;
      return;
    }
    if ((status & TP_STATUS_CSUMNOTREADY) !== 0) {
      // The peer left its transport checksum to offload: the field holds the pseudo-header sum.
      const at = frameLayout(view);
      if (at.ok && finishPartialChecksum(view, at.value.l4, at.value.protocol === 6 ? 16 : 6, at.value.end))
        pc.checksumsFinished++;
    }
    deliverIncoming(this, this.handler, view);
  }
}

/** Turns the kernel's ARP and IPv6 off on `name` and brings it up; returns what to undo. */
function takeOver(c: Libc, fd: number, name: string): Owned {
  const flags = ifFlags(c, fd, name);
  const setNoArp = (flags & IFF_NOARP) === 0;
  const setUp = (flags & IFF_UP) === 0;
  const path = ipv6SysctlPath(name);
  let ipv6Before: string | undefined;
  if (existsSync(path)) {
    const before = readFileSync(path, 'utf8').trim();
    if (before !== '1') {
      writeFileSync(path, '1');
      ipv6Before = before;
    }
  }
  try {
    if (setNoArp || setUp) ifFlags(c, fd, name, flags | IFF_NOARP | IFF_UP);
  } catch (e) {
    if (ipv6Before !== undefined) writeFileSync(path, ipv6Before);
    throw e;
  }
  return { setNoArp, setUp, ipv6Before };
}

/** Puts back what takeOver changed (best effort: the interface may be gone). */
function restore(c: Libc, fd: number, name: string, o: Owned): void {
  try {
    if (o.setNoArp || o.setUp) {
      let flags = ifFlags(c, fd, name);
      if (o.setNoArp) flags &= ~IFF_NOARP;
      if (o.setUp) flags &= ~IFF_UP;
      ifFlags(c, fd, name, flags);
    }
  } catch {
    // The interface went away with its namespace: nothing to restore.
  }
  try {
    if (o.ipv6Before !== undefined) writeFileSync(ipv6SysctlPath(name), o.ipv6Before);
  } catch {
    // likewise
  }
}
