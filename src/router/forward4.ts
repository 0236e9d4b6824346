/**
 * IPv4 forwarding (RFC 1812 §5.2, §5.3): the decision for one received packet, and fragmentation of
 * a forwarded one. Pure: no clock, no I/O; the FIB is the `route4` function of the context.
 *
 * Order of the checks in `decide4` (each a drop reason of forward.ts, so every outcome is traceable):
 *  1. header validation, checksum included (RFC 1812 §5.2.2, §4.2.2.5) -> 'malformed', silently;
 *  2. local delivery (RFC 1812 §5.2.3): one of our addresses on any interface (weak host), the limited
 *     broadcast, a multicast group (not forwarded: no multicast routing), the ingress subnet's broadcast;
 *  3. destinations never forwarded: 0/8, 127/8, class E (§5.3.7); another connected subnet's broadcast
 *     (RFC 2644 turns directed-broadcast forwarding off by default); {prefix, 0} (§4.2.3.1(2));
 *  4. invalid sources (§5.3.7, §4.2.2.11): 0/8, 127/8, multicast, class E and 255.255.255.255, a
 *     directed broadcast of ours; then our own addresses; then IPv4 link-local either side (RFC 3927 §7:
 *     "A router MUST NOT forward a packet with an IPv4 Link-Local source or destination address");
 *  5. the ingress interface's reverse-path filter (BCP 38; RFC 3704 §2.2 strict, §2.4 loose);
 *  6. options (RFC 791 §3.1): a bad length or pointer -> Parameter Problem pointing at it;
 *  7. the route: none -> Destination Unreachable net (RFC 1812 §5.2.7.1, code 0);
 *  8. TTL (§5.3.1): the forwarded copy would have TTL 0 -> Time Exceeded code 0 (§5.2.7.3);
 *  9. a strict source route whose next hop is not on-link -> Destination Unreachable code 5;
 * 10. size: over the egress MTU with DF -> Fragmentation Needed with the egress MTU (code 4, RFC 1191
 *     §4, §5.2.7.1), without DF -> 'fragment';
 * 11. forward, with a redirect when §5.2.7.2's three conditions hold and an error may be sent.
 * Every ICMP error (and the redirect) is subject to §4.3.2.7 (`mayAnswerIcmpv4Error`); when it may
 * not be sent the packet is dropped under the `-suppressed` reason. Since the driver calls this only
 * for frames unicast to our MAC, the link-layer broadcast rules of §5.3.4 are met before we start.
 *
 * Options are forwarded as they are (RFC 1812 §5.3.13.1 for unknown ones): Record Route and Timestamp
 * are not filled in, and a source-routed packet is forwarded towards its destination field, which
 * is the next hop of the route. Packets to our own addresses, options and all, are the host's.
 */
import { type Ipv4Addr, IPV4_BROADCAST, ipv4Mask, isIpv4Multicast } from '../addr.js';
import { setU16, u16 } from '../bytes.js';
import { finish, sum16 } from '../checksum/index.js';
import { planFragments } from '../fragments/plan.js';
import {
  type Icmpv4Repr,
  mayAnswerIcmpv4Error,
  TIME_EXCEEDED_TTL,
  UNREACH_FRAG_NEEDED,
  UNREACH_NET,
  UNREACH_SOURCE_ROUTE,
} from '../ipv4/icmp.js';
import { IPV4_MIN_HEADER_LEN, Ipv4Packet } from '../ipv4/wire.js';
import { clampMssFor } from './clamp.js';
import type {
  Decision4,
  ForwardContext,
  ForwardDropReason,
  ForwardInterface,
  Redirect,
  Route4,
} from './forward.js';

/** RFC 791 §3.1 option types (copied flag, class, number). */
const OPT_EOL = 0;
const OPT_NOP = 1;
const OPT_RECORD_ROUTE = 7;
const OPT_TIMESTAMP = 68;
const OPT_LSRR = 131;
const OPT_SSRR = 137;
/** RFC 791 §3.1: "The copied flag indicates that this option is copied into all fragments". */
const OPT_COPIED = 0x80;

const FLAGS_FRAG = 6;
const TTL = 8;
const CHECKSUM = 10;
/** RFC 1812 §5.2.5: "If a router fragments a packet, it MUST copy these [reserved] bits into each fragment." */
const FLAG_RESERVED = 0x8000;
const FLAG_MF = 0x2000;

const LOCAL: Decision4 = Object.freeze({ kind: 'local' });

type ErrorReason = 'bad-option' | 'no-route' | 'source-route-failed' | 'ttl-expired' | 'too-big';

function drop(reason: ForwardDropReason): Decision4 {
  return { kind: 'drop', reason };
}

/** The error, or a silent drop when RFC 1812 §4.3.2.7 forbids an error about this packet. */
function error4(packet: Uint8Array, icmp: Icmpv4Repr, reason: ErrorReason): Decision4 {
  if (!mayAnswerIcmpv4Error(packet)) return { kind: 'drop', reason: `${reason}-suppressed` };
  return { kind: 'icmp-error', icmp, reason };
}

export function findInterface(ctx: ForwardContext, index: number): ForwardInterface | undefined {
  for (const i of ctx.interfaces) if (i.index === index) return i;
  return undefined;
}

function inPrefix4(a: Ipv4Addr, net: Ipv4Addr, prefixLen: number): boolean {
  return ((a ^ net) & ipv4Mask(prefixLen)) === 0;
}

/** What an address is to the router, as bits (`addressRole4`): one of its own addresses. */
const OURS = 1;
/** The broadcast address {prefix, -1} of a connected subnet; /31 and /32 have none (RFC 3021 §2.2). */
const BROADCAST = 2;
/** The same, of a subnet of the ingress interface. */
const INGRESS_BROADCAST = 4;
/** The network address {prefix, 0} of a connected subnet (/31 and /32 excepted, as above). */
const NETWORK = 8;

/** Every role `a` has on the router's interfaces, in one pass over their addresses (per packet). */
function addressRole4(ctx: ForwardContext, a: Ipv4Addr, ingress: ForwardInterface): number {
  let role = 0;
  for (const i of ctx.interfaces) {
    for (const c of i.ipv4) {
      if (c.address === a) role |= OURS;
      if (c.prefixLen > 30) continue;
      const mask = ipv4Mask(c.prefixLen);
      if ((c.address | ~mask) >>> 0 === a) role |= i === ingress ? BROADCAST | INGRESS_BROADCAST : BROADCAST;
      if ((c.address & mask) >>> 0 === a) role |= NETWORK;
    }
  }
  return role;
}

/** 169.254/16 (RFC 3927 §2.1). */
function isLinkLocal4(a: Ipv4Addr): boolean {
  return a >>> 16 === 0xa9fe;
}

function rpFilterPasses4(iface: ForwardInterface, src: Ipv4Addr, ctx: ForwardContext): boolean {
  switch (iface.rpFilter) {
    case 'off':
      return true;
    case 'loose':
      // RFC 3704 §2.4: any route to the source will do, a default route included.
      return ctx.route4(src) !== undefined;
    case 'strict':
      // RFC 3704 §2.2: the route back to the source must leave by the interface it came in on.
      return ctx.route4(src)?.iface === iface.index;
  }
}

interface OptionScan {
  /** Offset from the IPv4 header of the octet in error (RFC 792 Parameter Problem pointer). */
  readonly problem: number | undefined;
  readonly sourceRoute: boolean;
  readonly strictRoute: boolean;
}

/**
 * Walks the options of the header `b[0..headerLen)` (RFC 791 §3.1). Like Linux: an option without
 * room for its length octet points at its type, a length below 2 or past the header at the length,
 * a route (record, loose, strict) shorter than 3 or with a pointer below 4 and a timestamp shorter
 * than 4 or with a pointer below 5 at the offending octet, a second source route at its type.
 * Other options are passed over by their length (RFC 1812 §4.2.2.6: unknown ones are ignored).
 */
function scanOptions(b: Uint8Array, headerLen: number): OptionScan {
  let sourceRoute = false;
  let strictRoute = false;
  const bad = (at: number): OptionScan => ({ problem: at, sourceRoute, strictRoute });
  let p = IPV4_MIN_HEADER_LEN;
  while (p < headerLen) {
    const type = b[p]!;
    if (type === OPT_EOL) break;
    if (type === OPT_NOP) {
      p++;
      continue;
    }
    if (p + 1 >= headerLen) return bad(p);
    const len = b[p + 1]!;
    if (len < 2 || p + len > headerLen) return bad(p + 1);
    switch (type) {
      case OPT_LSRR:
      case OPT_SSRR:
        if (sourceRoute) return bad(p);
        sourceRoute = true;
        strictRoute = type === OPT_SSRR;
        if (len < 3) return bad(p + 1);
        if (b[p + 2]! < 4) return bad(p + 2);
        break;
      case OPT_RECORD_ROUTE:
        if (len < 3) return bad(p + 1);
        if (b[p + 2]! < 4) return bad(p + 2);
        break;
      case OPT_TIMESTAMP:
        if (len < 4) return bad(p + 1);
        if (b[p + 2]! < 5) return bad(p + 2);
        break;
    }
    p += len;
  }
  return sourceRoute ? { problem: undefined, sourceRoute, strictRoute } : NO_OPTION_PROBLEM;
}

/** `scanOptions` of a header without source routes or problems (shared: none is made per packet). */
const NO_OPTION_PROBLEM: OptionScan = Object.freeze({
  problem: undefined,
  sourceRoute: false,
  strictRoute: false,
});

/**
 * The options a non-first fragment carries: those with the copied flag, verbatim and in order
 * (RFC 791 §3.2: "only those options which have the copy flag set are copied"). NOP and EOL have
 * it clear. `undefined` if the options do not parse.
 */
function copiedOptions(options: Uint8Array): Uint8Array | undefined {
  const out: number[] = [];
  let p = 0;
  while (p < options.length) {
    const type = options[p]!;
    if (type === OPT_EOL) break;
    if (type === OPT_NOP) {
      p++;
      continue;
    }
    if (p + 1 >= options.length) return undefined;
    const len = options[p + 1]!;
    if (len < 2 || p + len > options.length) return undefined;
    if ((type & OPT_COPIED) !== 0) for (let i = p; i < p + len; i++) out.push(options[i]!);
    p += len;
  }
  return Uint8Array.from(out);
}

/** Header length of the non-first fragments: 20 plus the copied options, padded to 4 octets. */
function laterHeaderLen(copied: Uint8Array): number {
  return IPV4_MIN_HEADER_LEN + ((copied.length + 3) & ~3);
}

/** Does every fragment have room for at least 8 data octets after its header? */
function fragmentable(headerLen: number, laterLen: number, mtu: number): boolean {
  return mtu - headerLen >= 8 && mtu - laterLen >= 8;
}

/** RFC 1812 §5.2.7.2: out the interface it came in on, source on the next hop's subnet, no source route. */
function redirect4(
  p: Ipv4Packet,
  ingress: ForwardInterface,
  route: Route4,
  nextHop: Ipv4Addr,
  sourceRoute: boolean,
  ctx: ForwardContext,
): Redirect<Ipv4Addr> | undefined {
  if (route.iface !== ingress.index || !ctx.sendRedirects || sourceRoute) return undefined;
  const src = p.src;
  if (
    !ingress.ipv4.some(
      (c) => inPrefix4(src, c.address, c.prefixLen) && inPrefix4(nextHop, c.address, c.prefixLen),
    )
  )
    return undefined;
  // A redirect is an ICMP error message: §4.3.2.7 applies to it too.
  if (!mayAnswerIcmpv4Error(p.bytes)) return undefined;
  return { gateway: nextHop };
}

/**
 * What to do with `packet` (the Ethernet payload of a frame unicast to interface `ingress`).
 * `segmentLen`, for a GSO super-frame (src/link/gso.ts `gsoSegmentIpLen`), is the IP length of the
 * largest packet it stands for: the size check uses it, not the super-frame's length (RFC 1812
 * §5.2.6: what must fit the next hop is each packet put on the wire).
 */
export function decide4(
  packet: Uint8Array,
  ingress: number,
  ctx: ForwardContext,
  segmentLen?: number,
): Decision4 {
  const inIface = findInterface(ctx, ingress);
  if (inIface === undefined) return drop('unknown-interface');
  const checked = Ipv4Packet.check(packet);
  if (!checked.ok) return drop('malformed');
  const p = checked.value;
  const src = p.src;
  const dst = p.dst;

  const dstRole = addressRole4(ctx, dst, inIface);
  if (dst === IPV4_BROADCAST || isIpv4Multicast(dst) || (dstRole & (OURS | INGRESS_BROADCAST)) !== 0)
    return LOCAL;
  const dstNet = dst >>> 24;
  if (dstNet === 0 || dstNet === 127 || dstNet >= 240) return drop('martian-destination');
  if ((dstRole & BROADCAST) !== 0) return drop('directed-broadcast');
  if ((dstRole & NETWORK) !== 0) return drop('obsolete-broadcast');

  const srcNet = src >>> 24;
  const srcRole = addressRole4(ctx, src, inIface);
  if (srcNet === 0 || srcNet === 127 || srcNet >= 224 || (srcRole & BROADCAST) !== 0)
    return drop('martian-source');
  if ((srcRole & OURS) !== 0) return drop('own-source');
  if (isLinkLocal4(src) || isLinkLocal4(dst)) return drop('link-local');
  if (!rpFilterPasses4(inIface, src, ctx)) return drop('rp-filter');

  const options = scanOptions(packet, p.headerLen);
  if (options.problem !== undefined)
    return error4(packet, { type: 'parameter-problem', code: 0, pointer: options.problem }, 'bad-option');

  const route = ctx.route4(dst);
  if (route === undefined)
    return error4(packet, { type: 'dest-unreachable', code: UNREACH_NET, nextHopMtu: 0 }, 'no-route');
  const out = findInterface(ctx, route.iface);
  if (out === undefined) return drop('unknown-interface');
  // RFC 1812 §5.3.1: "If the TTL is reduced to zero (or less), the packet MUST be discarded".
  if (p.ttl <= 1) return error4(packet, { type: 'time-exceeded', code: TIME_EXCEEDED_TTL }, 'ttl-expired');
  // RFC 791 §3.1 (strict source route): the next address must be reached directly.
  if (options.strictRoute && route.gateway !== undefined)
    return error4(
      packet,
      { type: 'dest-unreachable', code: UNREACH_SOURCE_ROUTE, nextHopMtu: 0 },
      'source-route-failed',
    );

  const nextHop = route.gateway ?? dst;
  const redirect = redirect4(p, inIface, route, nextHop, options.sourceRoute, ctx);
  if ((segmentLen ?? p.totalLen) > out.mtu) {
    if (p.dontFragment)
      return error4(
        packet,
        { type: 'dest-unreachable', code: UNREACH_FRAG_NEEDED, nextHopMtu: Math.min(out.mtu, 0xffff) },
        'too-big',
      );
    const copied = copiedOptions(p.options);
    if (copied === undefined || !fragmentable(p.headerLen, laterHeaderLen(copied), out.mtu))
      return drop('mtu-too-small');
    return redirect === undefined
      ? { kind: 'fragment', egress: out.index, nextHop, mtu: out.mtu }
      : { kind: 'fragment', egress: out.index, nextHop, mtu: out.mtu, redirect };
  }
  const clamp = ctx.clampMss ? clampMssFor(out.mtu, 4) : undefined;
  // Written out case by case: spreading optional fields costs a property copy per packet.
  if (clamp === undefined)
    return redirect === undefined
      ? { kind: 'forward', egress: out.index, nextHop }
      : { kind: 'forward', egress: out.index, nextHop, redirect };
  return redirect === undefined
    ? { kind: 'forward', egress: out.index, nextHop, clampMssTo: clamp }
    : { kind: 'forward', egress: out.index, nextHop, redirect, clampMssTo: clamp };
}

/**
 * Cuts a forwarded IPv4 packet into fragments that fit `mtu` (RFC 791 §3.2, RFC 1812 §5.2.6), each
 * written into a buffer from `alloc(len)` (its first `len` bytes; the driver passes views with link
 * headroom) and returned as a view of exactly `len` bytes. This function decrements the TTL: every
 * fragment leaves with the packet's TTL minus one and a freshly computed header checksum (the
 * header changed in total length, flags and offset, so there is nothing to update incrementally);
 * `packet` itself is not modified.
 *
 * - A packet that is itself a fragment: offsets add to its own, and MF stays set on every piece
 *   unless the packet was the last fragment (then only its last piece has MF clear).
 * - The first piece keeps all options; the others only those with the copied flag.
 * - Type of service, identification and the reserved flag are copied (RFC 1812 §5.2.5).
 * - A packet that fits is returned as one piece, with the TTL decremented.
 * `undefined` when the packet must not or cannot be fragmented: not a valid IPv4 header (checksum not
 * rechecked: `decide4` did), DF set, TTL below 2, bad options, or no room for 8 data octets.
 */
export function fragmentForward4(
  packet: Uint8Array,
  mtu: number,
  alloc: (len: number) => Uint8Array,
): Uint8Array[] | undefined {
  const checked = Ipv4Packet.check(packet, { checksum: 'ignore' });
  if (!checked.ok) return undefined;
  const p = checked.value;
  if (p.dontFragment || p.ttl < 2) return undefined;
  const headerLen = p.headerLen;
  const copied = copiedOptions(p.options);
  if (copied === undefined) return undefined;
  const laterLen = laterHeaderLen(copied);
  const payload = p.payload;
  if (headerLen + payload.length > mtu && !fragmentable(headerLen, laterLen, mtu)) return undefined;
  const plan = planFragments(payload.length, mtu, headerLen, 0, laterLen);
  const reserved = u16(packet, FLAGS_FRAG) & FLAG_RESERVED;
  const baseOffset = p.fragOffset;
  const lastOriginal = !p.moreFragments;
  const out: Uint8Array[] = [];
  for (let i = 0; i < plan.length; i++) {
    const piece = plan[i]!;
    const hl = i === 0 ? headerLen : laterLen;
    const len = hl + piece.length;
    const buf = alloc(len);
    if (buf.length < len) throw new RangeError('fragmentForward4: alloc gave a buffer too small');
    const f = buf.length === len ? buf : buf.subarray(0, len);
    f.set(packet.subarray(0, IPV4_MIN_HEADER_LEN));
    if (i === 0) f.set(packet.subarray(IPV4_MIN_HEADER_LEN, headerLen), IPV4_MIN_HEADER_LEN);
    else {
      f.set(copied, IPV4_MIN_HEADER_LEN);
      // RFC 791 §3.1: the padding is zero (End of Option List).
      f.fill(0, IPV4_MIN_HEADER_LEN + copied.length, hl);
    }
    f[0] = 0x40 | (hl >>> 2);
    setU16(f, 2, len);
    const more = piece.more || !lastOriginal;
    setU16(f, FLAGS_FRAG, reserved | (more ? FLAG_MF : 0) | ((baseOffset + piece.offset) >>> 3));
    f[TTL] = p.ttl - 1;
    setU16(f, CHECKSUM, 0);
    setU16(f, CHECKSUM, finish(sum16(f.subarray(0, hl))));
    f.set(payload.subarray(piece.offset, piece.offset + piece.length), hl);
    out.push(f);
  }
  return out;
}
