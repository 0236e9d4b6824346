/**
 * Errors as Node's sockets report them, and ICMP errors as Linux classifies them.
 *
 * - Node's system errors (lib/internal/errors.js): an `Error` with `errno` (negative, libuv's
 *   `-errno` on Linux), `code`, `syscall` and, for connect/bind/send/listen, `address` and `port`; the
 *   message is `<syscall> <code> <address>:<port>` (listen's is `listen <code>: <strerror>
 *   <address>:<port>`). The numbers come from `os.constants.errno`, so they are the platform's.
 * - ICMP errors about our own datagrams (RFC 1122 §3.2.2.1, §4.1.3.3, §4.2.3.9; RFC 4443 §3), named by
 *   the errno Linux gives them (net/ipv4/icmp.c icmp_err_convert, net/ipv6/icmp.c
 *   icmpv6_err_convert) with its "fatal" flag: TCP uses every one of them as a soft error, a connected
 *   UDP socket reports only the fatal (hard) ones, as Linux's udp_err does.
 */
import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import type { SoftError } from '../tcp/core/index.js';

export type { SoftError } from '../tcp/core/index.js';

/** The fields Node puts on a system error. */
export interface SystemError extends Error {
  errno: number;
  code: string;
  syscall: string;
  address?: string;
  port?: number;
}

/** libuv's UV_EAI_NONAME, what Node reports for a name that does not resolve (not an `os` errno). */
const UV_EAI_NONAME = -3008;

/** Node's (negative) errno for a code: libuv's `-errno` on Unix. */
export function errnoOf(code: string): number {
  const n = (constants.errno as Record<string, number | undefined>)[code];
  return n === undefined ? 0 : -n;
}

/** Like Node's `exceptionWithHostPort`: `connect ECONNREFUSED 10.0.0.2:80`. */
export function systemError(
  syscall: string,
  code: string,
  address?: string,
  port?: number,
  details?: string,
): SystemError {
  let where = '';
  if (address !== undefined && port !== undefined && port > 0) where = ` ${address}:${port}`;
  else if (address !== undefined) where = ` ${address}`;
  const e = new Error(`${syscall} ${code}${where}${details ? ` - Local (${details})` : ''}`) as SystemError;
  // Node's own key order: errno, code, syscall, then address and port when given.
  e.errno = errnoOf(code);
  e.code = code;
  e.syscall = syscall;
  if (address !== undefined) e.address = address;
  if (port !== undefined && port > 0) e.port = port;
  return e;
}

/** Like Node's `uvExceptionWithHostPort` (listen): `listen EADDRINUSE: address already in use :::80`. */
export function listenError(code: string, address: string, port: number): SystemError {
  const errno = errnoOf(code);
  const text = getSystemErrorMap().get(errno)?.[1] ?? code;
  const e = new Error(`listen ${code}: ${text} ${address}:${port}`) as SystemError;
  e.code = code;
  e.errno = errno;
  e.syscall = 'listen';
  e.address = address;
  e.port = port;
  return e;
}

/** What Node reports for a host that is not an address and does not resolve (Oasis has no resolver). */
export function notFoundError(hostname: string): SystemError & { hostname: string } {
  const e = new Error(`getaddrinfo ENOTFOUND ${hostname}`) as SystemError & { hostname: string };
  e.errno = UV_EAI_NONAME;
  e.code = 'ENOTFOUND';
  e.syscall = 'getaddrinfo';
  e.hostname = hostname;
  return e;
}

/** An ICMP error classified: Linux's errno and whether it is "fatal" (a hard error). */
export interface IcmpClass {
  readonly error: SoftError;
  readonly hard: boolean;
}

/** ICMPv4 Destination Unreachable by code (RFC 792, RFC 1812 §5.2.7.1), as icmp_err_convert. */
const UNREACH4: readonly IcmpClass[] = [
  { error: 'ENETUNREACH', hard: false }, // 0 net unreachable
  { error: 'EHOSTUNREACH', hard: false }, // 1 host unreachable
  { error: 'ENOPROTOOPT', hard: true }, // 2 protocol unreachable
  { error: 'ECONNREFUSED', hard: true }, // 3 port unreachable
  { error: 'EHOSTUNREACH', hard: false }, // 4 fragmentation needed: not used (see icmpv4Class)
  { error: 'EOPNOTSUPP', hard: false }, // 5 source route failed
  { error: 'ENETUNREACH', hard: true }, // 6 destination network unknown
  { error: 'EHOSTDOWN', hard: true }, // 7 destination host unknown
  { error: 'ENONET', hard: true }, // 8 source host isolated
  { error: 'ENETUNREACH', hard: true }, // 9 network administratively prohibited
  { error: 'EHOSTUNREACH', hard: true }, // 10 host administratively prohibited
  { error: 'ENETUNREACH', hard: false }, // 11 network unreachable for TOS
  { error: 'EHOSTUNREACH', hard: false }, // 12 host unreachable for TOS
  { error: 'EHOSTUNREACH', hard: true }, // 13 communication administratively prohibited
  { error: 'EHOSTUNREACH', hard: true }, // 14 host precedence violation
  { error: 'EHOSTUNREACH', hard: true }, // 15 precedence cutoff in effect
];

/** ICMPv6 Destination Unreachable by code (RFC 4443 §3.1), as icmpv6_err_convert. */
const UNREACH6: readonly IcmpClass[] = [
  { error: 'ENETUNREACH', hard: false }, // 0 no route to destination
  { error: 'EACCES', hard: true }, // 1 administratively prohibited
  { error: 'EHOSTUNREACH', hard: false }, // 2 beyond scope of source address
  { error: 'EHOSTUNREACH', hard: false }, // 3 address unreachable
  { error: 'ECONNREFUSED', hard: true }, // 4 port unreachable
  { error: 'EACCES', hard: true }, // 5 source address failed ingress/egress policy
  { error: 'EACCES', hard: true }, // 6 reject route to destination
];

/**
 * An ICMPv4 error for the transports, or undefined when it is not theirs: Fragmentation Needed is
 * path-MTU information (not acted on: PMTUD is not implemented), Source Quench is ignored (RFC 6633
 * §3: "hosts MUST NOT send ... and SHOULD silently ignore"), other codes are unknown.
 */
export function icmpv4Class(
  type: 'dest-unreachable' | 'time-exceeded' | 'parameter-problem',
  code: number,
): IcmpClass | undefined {
  switch (type) {
    case 'dest-unreachable':
      return code === 4 ? undefined : UNREACH4[code];
    case 'time-exceeded':
      return { error: 'EHOSTUNREACH', hard: false };
    case 'parameter-problem':
      return { error: 'EPROTO', hard: true };
  }
}

/** An ICMPv6 error for the transports (Packet Too Big is path-MTU information, not used). */
export function icmpv6Class(
  type: 'dest-unreachable' | 'time-exceeded' | 'parameter-problem',
  code: number,
): IcmpClass | undefined {
  switch (type) {
    case 'dest-unreachable':
      return UNREACH6[code] ?? { error: 'EPROTO', hard: true };
    case 'time-exceeded':
      return { error: 'EHOSTUNREACH', hard: false };
    case 'parameter-problem':
      return { error: 'EPROTO', hard: true };
  }
}

/** A next hop that never answered ARP or NDP: Linux answers itself with host unreachable. */
export const NEIGHBOUR_UNREACHABLE: IcmpClass = { error: 'EHOSTUNREACH', hard: false };

/**
 * An ICMP error about a datagram of ours, for the transport protocol that sent it: the quoted
 * datagram's addresses (`local` is its source, one of ours) and the start of its transport header.
 */
export interface TransportError<A> {
  readonly kind: IcmpClass;
  readonly local: A;
  readonly remote: A;
  /** The quoted transport header, at least its first 8 bytes (RFC 792); valid only during the call. */
  readonly header: Uint8Array;
  /**
   * Fragmentation Needed (RFC 1191) / Packet Too Big (RFC 8201): the path MTU it announces, made
   * usable (tcp/core/pmtu.ts `announcedMtu`). `kind` is then PATH_MTU: not an error for any socket.
   */
  readonly mtu?: number;
}

/**
 * The class given to path-MTU messages: soft, so a connected UDP socket ignores it (as Linux without
 * IP_RECVERR); TCP acts on `mtu` instead (RFC 1122 §4.2.3.9 leaves Datagram Too Big to PMTUD).
 */
export const PATH_MTU: IcmpClass = { error: 'EHOSTUNREACH', hard: false };
