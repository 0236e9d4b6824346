/**
 * Oasis: a TCP/IP stack in TypeScript that speaks raw Ethernet frames.
 *
 * This module is the package's public surface (`import … from 'oasis-net'`); every other file is
 * internal and may change. It is grouped the way a Node user meets it:
 *
 * - **Hosts and links**: a {@link Stack} is one host (ARP, IPv4, IPv6, ICMP, UDP, TCP). Give it a
 *   scheduler ({@link RealScheduler} for the wall clock, {@link VirtualScheduler} for simulated
 *   time) and interfaces on links: a Linux TAP device ({@link TapLink}), an in-process wire
 *   ({@link memoryPair}) or shared segment ({@link MemoryHub}), any of them behind seeded
 *   impairments ({@link impair}) and watched by a pcap capture ({@link PcapWriter}).
 * - **Sockets**: {@link createServer}, {@link connect} and {@link createSocket} take the stack first
 *   and otherwise read like `node:net` and `node:dgram`; TCP sockets are Node `Duplex` streams, so
 *   `http.createServer()` and `tls.connect({ socket })` run on them.
 * - **Addresses and results**: parsing and printing MAC, IPv4 and IPv6 addresses; the
 *   {@link Result} every parser returns instead of throwing.
 * - **Wire formats and pure cores**, one namespace per protocol: {@link ethernet}, {@link arp},
 *   {@link ipv4}, {@link ipv6}, {@link udp}, {@link tcp}, {@link fragments}, {@link checksum},
 *   {@link router}. Each has `parse` / `emit` / `headerLen` for its format, and the protocols with
 *   state have a pure core: `init`, `step(state, event) -> [state, outputs]` and `deadline(state)`,
 *   with time and randomness passed in, so the same events always give the same outputs.
 * - **Captures**: {@link formatFrame} prints a frame like tcpdump; {@link readCaptureFile},
 *   {@link parseCapture} and the streaming {@link CaptureReader} read pcap and pcapng files, and
 *   {@link PcapWriter} writes pcap files that tcpdump, tshark and Wireshark open.
 *
 * Simulated networks of whole stacks for tests are in `oasis-net/testing`, and fast-check
 * arbitraries for them in `oasis-net/testing/arbitraries`.
 *
 * ```ts
 * import { RealScheduler, Stack, connect, createServer, memoryPair, parseIpv4Cidr } from 'oasis-net';
 *
 * const scheduler = new RealScheduler();
 * const [wireA, wireB] = memoryPair(scheduler);
 * const a = new Stack({ scheduler });
 * const b = new Stack({ scheduler });
 * a.addInterface({ link: wireA, ipv4: [parseIpv4Cidr('10.0.0.1/24')!] });
 * b.addInterface({ link: wireB, ipv4: [parseIpv4Cidr('10.0.0.2/24')!] });
 * createServer(b, (socket) => socket.pipe(socket)).listen(7);
 * const socket = connect(a, { host: '10.0.0.2', port: 7 });
 * socket.end('hello');
 * socket.on('data', (d) => console.log(String(d))); // hello
 * ```
 *
 * @module oasis-net
 */

// ---------------------------------------------------------------------------------------------
// Hosts and links: a Stack is one host; it owns interfaces, each on a Link (a TAP device, an
// in-process wire or hub, possibly impaired); a Scheduler gives it time and timers.

export { osSecret, SECRET_LEN, Stack, type StackOptions } from './stack/stack.js';
export { Interface, type InterfaceConfig, type Ipv4Cidr, type Ipv6Cidr } from './stack/iface.js';
export type { EventLog, LogEvent } from './stack/log.js';
export { type Counters, STACK_COUNTERS, type StackCounter } from './stack/counters.js';
export type { Route, Routes } from './stack/routes.js';
export type { Forwarder } from './stack/layer.js';
// The layers a stack is made of (`stack.ipv4.ping(...)`, `stack.tcp`, `stack.udp`): made by the
// stack, never by hand, hence exported as types only.
export type { ArpLayer } from './stack/arp.js';
export type { Ipv4Layer, Ipv4Route, PingReply } from './stack/ipv4.js';
export type { Ipv6Layer, Ipv6Route, Ping6Reply } from './stack/ipv6.js';
export type { TcpLayer } from './stack/tcp.js';
export type { UdpLayer } from './stack/udp.js';
export {
  type CaptureHook,
  DROP_REASONS,
  type Direction,
  type DropReason as LinkDropReason,
  type FrameHandler,
  type Link,
  type LinkCounters,
} from './link/link.js';
export {
  MemoryHub,
  type MemoryHubOptions,
  type MemoryLinkOptions,
  MemoryPort,
  memoryPair,
} from './link/memory.js';
export {
  formatImpairment,
  ImpairedLink,
  type ImpairOptions,
  type ImpairStats,
  impair,
  parseImpairment,
} from './link/impair.js';
export { type OffloadCounters, TapLink, type TapOptions, type TapState } from './link/tap.js';
export { type PacketCounters, PacketLink, type PacketOptions } from './link/packet.js';
export type { Offloads, VnetHdr } from './link/vnet.js';
export { type Scheduler, type TimerId, VirtualScheduler } from './clock.js';
export { RealScheduler, type RealSchedulerOptions } from './link/real-clock.js';

// ---------------------------------------------------------------------------------------------
// Sockets: node:net and node:dgram shapes over a stack.

export { connect, createServer, createSocket } from './api/sockets.js';
export {
  type AddressInfo,
  type TcpConnectOptions,
  type TcpListenOptions,
  type TcpOnread,
  TcpServer,
  type TcpServerOptions,
  TcpSocket,
  type TcpSocketOptions,
} from './stack/tcp.js';
export {
  type RemoteInfo,
  type SendCallback,
  type UdpBindOptions,
  UdpSocket,
  type UdpSocketEvents,
  type UdpSocketOptions,
  type UdpSocketType,
} from './stack/udp.js';
/** The `Error` sockets report: Node's `code`, `errno`, `syscall`, and `address` / `port` when known. */
export type { SystemError } from './stack/errors.js';

// ---------------------------------------------------------------------------------------------
// Addresses and results: addresses are branded numbers (MAC, IPv4) and 16-byte arrays (IPv6);
// parsers return a Result rather than throw.

export {
  type Ipv4Addr,
  type Ipv6Addr,
  ipv4ToString,
  ipv6ToString,
  type Mac,
  macToString,
  parseIpv4Addr,
  parseIpv4Cidr,
  parseIpv6Addr,
  parseIpv6Cidr,
  parseMac,
} from './addr.js';
export { errorKey, type Layer, type Result, type WireError } from './result.js';

// ---------------------------------------------------------------------------------------------
// Wire formats and pure cores, one namespace per protocol (src/api/ lists what each one holds).

// Ethernet II frames and 802.1Q / 802.1ad tags.
export * as ethernet from './api/ethernet.js';
// ARP packets (RFC 826) and the neighbour cache as a pure core.
export * as arp from './api/arp.js';
// IPv4 headers (RFC 791) and ICMPv4 (`ipv4.icmp`, RFC 792).
export * as ipv4 from './api/ipv4.js';
// IPv6 (RFC 8200): headers, extension headers (`ipv6.ext`), ICMPv6 (`ipv6.icmp`), NDP and SLAAC (`ipv6.ndp`).
export * as ipv6 from './api/ipv6.js';
// UDP datagrams (RFC 768).
export * as udp from './api/udp.js';
// TCP segments and the whole protocol (RFC 9293) as a pure core.
export * as tcp from './api/tcp.js';
// IP fragmentation planning and bounded reassembly, for IPv4 and IPv6.
export * as fragments from './api/fragments.js';
// The Internet checksum (RFC 1071, RFC 1624).
export * as checksum from './api/checksum.js';
// A router's forwarding plane: the FIB and the forwarding decision.
export * as router from './api/router.js';

// ---------------------------------------------------------------------------------------------
// Captures: print frames, read pcap and pcapng files, write pcap files.

export { formatFrame } from './format.js';
export {
  type Capture,
  type CaptureError,
  type CaptureFormat,
  type CaptureFrame,
  type CaptureFrameHandler,
  CaptureReader,
  LINKTYPE_ETHERNET,
  type PcapFile,
  type PcapRecord,
  PcapWriter,
  type PcapWriterOptions,
  parseCapture,
  parsePcap,
  readCaptureFile,
  readPcapFile,
} from './link/pcap.js';
