/**
 * Our addresses: the link-local one (RFC 4862 §5.3), static ones, SLAAC ones (§5.5.3); Duplicate
 * Address Detection (§5.4); lifetimes (§5.5.4); solicited-node group membership (RFC 4861 §7.2.1);
 * source address choice for our solicitations (RFC 4861 §7.2.2).
 */
import {
  eui64InterfaceId,
  type Ipv6Addr,
  IPV6_UNSPECIFIED,
  ipv6Equal,
  isIpv6LinkLocal,
  type Mac,
  solicitedNode,
} from '../../addr.js';
import type { NdpOption } from '../icmp.js';
import {
  type Draft,
  findAddress,
  forgetNeighbour,
  isAssigned,
  lifetimeMs,
  prefixMatch,
  randomDelay,
  sendMulticast,
  TWO_HOURS,
} from './draft.js';
import { startAdvertising } from './advertise.js';
import { startRs } from './rs.js';
import type { AddressEvent, AddressOrigin, NdpAddress } from './types.js';

type PrefixInfo = Extract<NdpOption, { kind: 'prefix-info' }>;

/** fe80::/64 with the modified EUI-64 interface identifier (RFC 4862 §5.3, RFC 4291 appendix A). */
export function linkLocalAddress(mac: Mac): Ipv6Addr {
  const a = new Uint8Array(16);
  a[0] = 0xfe;
  a[1] = 0x80;
  a.set(eui64InterfaceId(mac), 8);
  return a as Ipv6Addr;
}

/** `prefix`'s first 64 bits with our interface identifier (RFC 4862 §5.5.3 (d)). */
function slaacAddress(prefix: Uint8Array, mac: Mac): Ipv6Addr {
  const a = new Uint8Array(16);
  a.set(prefix.subarray(0, 8));
  a.set(eui64InterfaceId(mac), 8);
  return a as Ipv6Addr;
}

/** An address holds its solicited-node group while it is tentative or assigned. */
function holdsGroup(a: NdpAddress): boolean {
  return a.state !== 'duplicated';
}

function sameGroup(a: Uint8Array, b: Uint8Array): boolean {
  return a[13] === b[13] && a[14] === b[14] && a[15] === b[15];
}

/** RFC 4861 §7.2.1: join on the first address of a group, leave when no address maps to it any more. */
function groupHeldByOthers(addrs: readonly NdpAddress[], a: NdpAddress): boolean {
  return addrs.some((x) => x !== a && holdsGroup(x) && sameGroup(x.address, a.address));
}

function emit(d: Draft, a: NdpAddress, state: AddressEvent): void {
  d.out.push({ kind: 'address', address: a.address, prefixLen: a.prefixLen, state });
}

function replace(d: Draft, old: NdpAddress, next: NdpAddress | null): void {
  const addrs = d.get('addresses');
  d.set(
    'addresses',
    next === null ? addrs.filter((x) => x !== old) : addrs.map((x) => (x === old ? next : x)),
  );
}

/** `start`: the link-local address and the static ones, each through DAD after a random delay. */
export function startAddresses(d: Draft): void {
  const c = d.config;
  const forever = Number.POSITIVE_INFINITY;
  const ll = { address: linkLocalAddress(c.mac), prefixLen: 64, origin: 'link-local' as const };
  for (const spec of [ll, ...c.staticAddresses.map((s) => ({ ...s, origin: 'static' as const }))]) {
    // RFC 4862 §5.4.2: the first solicitation after (re)initialisation waits a random delay.
    addAddress(d, { ...spec, preferredUntil: forever, validUntil: forever }, true);
  }
  const now = findAddress(d.get('addresses'), ll.address);
  // With DAD off the link-local address is usable at once; §6.3.7 then wants the random delay for RS.
  if (now !== undefined && isAssigned(now)) {
    startRs(d, true);
    startAdvertising(d);
  }
}

interface NewAddress {
  readonly address: Ipv6Addr;
  readonly prefixLen: number;
  readonly origin: AddressOrigin;
  readonly preferredUntil: number;
  readonly validUntil: number;
}

function addAddress(d: Draft, spec: NewAddress, delayed: boolean): void {
  const c = d.config;
  const dadOff = c.dupAddrDetectTransmits === 0;
  const a: NdpAddress = {
    ...spec,
    state: dadOff ? (spec.preferredUntil > d.now ? 'preferred' : 'deprecated') : 'tentative',
    dad: dadOff ? null : { sent: 0, due: delayed ? d.now + randomDelay(d) : d.now },
  };
  forgetNeighbour(d, a.address);
  const addrs = d.get('addresses');
  // RFC 4862 §5.4.2: join the solicited-node group before the first solicitation.
  if (!groupHeldByOthers(addrs, a)) d.out.push({ kind: 'join', group: solicitedNode(a.address) });
  d.set('addresses', [...addrs, a]);
  emit(d, a, a.state);
  if (a.dad !== null && a.dad.due <= d.now) stepDad(d, a);
}

/** One DAD step of a tentative address whose step is due: a solicitation, or success. */
function stepDad(d: Draft, a: NdpAddress): void {
  const dad = a.dad!;
  const c = d.config;
  if (dad.sent < c.dupAddrDetectTransmits) {
    // RFC 4862 §5.4.2: from the unspecified address to the target's solicited-node address, no SLLAO.
    sendMulticast(d, solicitedNode(a.address), IPV6_UNSPECIFIED, {
      kind: 'neighbor-solicitation',
      target: a.address,
      options: [],
    });
    d.count('dad-ns-sent');
    replace(d, a, { ...a, dad: { sent: dad.sent + 1, due: d.now + d.get('retransTimer') } });
    return;
  }
  // RetransTimer after the last solicitation without a conflict: the address is unique.
  const next: NdpAddress = { ...a, state: a.preferredUntil > d.now ? 'preferred' : 'deprecated', dad: null };
  replace(d, a, next);
  emit(d, next, next.state);
  d.count('dad-succeeded');
  // RFC 4861 §6.3.7: DAD already waited a random delay, so the first RS goes out now. A router
  // starts advertising: RAs come from the link-local address (§6.1.2), usable only now.
  if (a.origin === 'link-local') {
    startRs(d, false);
    startAdvertising(d);
  }
}

/** `tick`: DAD steps, then lifetimes (RFC 4862 §5.5.4). */
export function addressTick(d: Draft): void {
  for (const a of d.get('addresses')) {
    if (a.validUntil <= d.now) {
      // "An invalid address MUST NOT be used ... and MUST NOT be recognized as a destination".
      replace(d, a, null);
      if (holdsGroup(a) && !groupHeldByOthers(d.get('addresses'), a))
        d.out.push({ kind: 'leave', group: solicitedNode(a.address) });
      emit(d, a, 'removed');
      d.count('address-expired');
    } else if (a.dad !== null && a.dad.due <= d.now) {
      stepDad(d, a);
    } else if (a.state === 'preferred' && a.preferredUntil <= d.now) {
      const next: NdpAddress = { ...a, state: 'deprecated' };
      replace(d, a, next);
      emit(d, next, 'deprecated');
    }
  }
}

/**
 * RFC 4862 §5.4.3/§5.4.4: another node solicits or advertises our tentative address. It is marked
 * duplicated and never assigned. Returns whether it was the link-local address (§5.4.5: IP
 * operation SHOULD then be disabled).
 */
export function dadFailed(d: Draft, a: NdpAddress, mac: Mac): boolean {
  const next: NdpAddress = { ...a, state: 'duplicated', dad: null };
  replace(d, a, next);
  if (!groupHeldByOthers(d.get('addresses'), a))
    d.out.push({ kind: 'leave', group: solicitedNode(a.address) });
  emit(d, next, 'duplicated');
  const disabled = a.origin === 'link-local';
  d.out.push({ kind: 'dad-failed', address: a.address, mac, disabled });
  d.count('dad-failed');
  return disabled;
}

/** Stops every DAD in progress (the interface is disabled). */
export function stopDad(d: Draft): void {
  d.set(
    'addresses',
    d.get('addresses').map((a) => (a.dad === null ? a : { ...a, dad: null })),
  );
}

/** RFC 4862 §5.5.3: one Prefix Information option of a valid RA. */
export function slaacPrefix(d: Draft, o: PrefixInfo, multicastRa: boolean): void {
  const c = d.config;
  // (a) not autonomous: ignore.
  if (!c.slaac || !o.autonomous) return;
  // (b) the link-local prefix, (c) preferred > valid: "silently ignore the Prefix Information option".
  // (d) "if the sum of the prefix length and interface identifier length does not equal 128 bits,
  // the Prefix Information option MUST be ignored" (our identifier is 64 bits, RFC 4291 §2.5.1).
  if (isIpv6LinkLocal(o.prefix) || o.preferredLifetime > o.validLifetime || o.prefixLen !== 64) {
    d.count('slaac-ignored');
    return;
  }
  const addrs = d.get('addresses');
  const existing = addrs.find(
    (a) => a.origin === 'slaac' && a.prefixLen === o.prefixLen && prefixMatch(a.address, o.prefix, 64),
  );
  if (existing !== undefined) {
    updateLifetimes(d, existing, o);
    return;
  }
  const valid = lifetimeMs(o.validLifetime);
  if (valid === 0) return;
  const address = slaacAddress(o.prefix, c.mac);
  // "an address already in the list ... happens to be identical to the newly created address".
  if (addrs.some((a) => ipv6Equal(a.address, address))) {
    d.count('slaac-ignored');
    return;
  }
  if (addrs.filter((a) => a.origin === 'slaac').length >= c.maxAutoconfAddresses) {
    d.count('slaac-list-full');
    return;
  }
  const preferredUntil = d.now + lifetimeMs(o.preferredLifetime);
  // RFC 4862 §5.4.2: DAD waits a random delay when the RA reached several nodes at once (multicast).
  addAddress(
    d,
    { address, prefixLen: 64, origin: 'slaac', preferredUntil, validUntil: d.now + valid },
    multicastRa,
  );
  d.count('slaac-added');
}

/** RFC 4862 §5.5.3 (e): the preferred lifetime is reset; the valid lifetime follows the two-hour rule. */
function updateLifetimes(d: Draft, a: NdpAddress, o: PrefixInfo): void {
  const received = lifetimeMs(o.validLifetime);
  const remaining = a.validUntil - d.now;
  let validUntil = a.validUntil;
  // 1. "greater than 2 hours or greater than RemainingLifetime": take it.
  if (received > TWO_HOURS || received > remaining) validUntil = d.now + received;
  // 2. RemainingLifetime <= 2 hours: ignore (no SEND here). 3. Otherwise: 2 hours.
  else if (remaining > TWO_HOURS) validUntil = d.now + TWO_HOURS;
  // The preferred lifetime never outlives the valid one (RFC 4861 §4.6.2).
  const preferredUntil = Math.min(d.now + lifetimeMs(o.preferredLifetime), validUntil);
  let state = a.state;
  if (state === 'preferred' && preferredUntil <= d.now) state = 'deprecated';
  else if (state === 'deprecated' && preferredUntil > d.now) state = 'preferred';
  if (validUntil === a.validUntil && preferredUntil === a.preferredUntil && state === a.state) return;
  const next: NdpAddress = { ...a, state, preferredUntil, validUntil };
  replace(d, a, next);
  if (state !== a.state) emit(d, next, state);
}

/**
 * The address our solicitation to `target` comes from (RFC 4861 §7.2.2): `hint` (the prompting
 * packet's source) when it is ours and assigned, else a preferred address of the target's scope,
 * a deprecated one, the link-local one, or the unspecified address when nothing is assigned.
 */
export function sourceFor(addrs: readonly NdpAddress[], target: Uint8Array, hint?: Uint8Array): Ipv6Addr {
  if (hint !== undefined) {
    const h = findAddress(addrs, hint);
    if (h !== undefined && isAssigned(h)) return h.address;
  }
  const ll = addrs.find((a) => isIpv6LinkLocal(a.address) && isAssigned(a));
  if (isIpv6LinkLocal(target)) return ll?.address ?? IPV6_UNSPECIFIED;
  const global = addrs.filter((a) => !isIpv6LinkLocal(a.address) && isAssigned(a));
  const best =
    global.find((a) => a.state === 'preferred' && prefixMatch(target, a.address, a.prefixLen)) ??
    global.find((a) => a.state === 'preferred') ??
    global[0] ??
    ll;
  return best?.address ?? IPV6_UNSPECIFIED;
}
