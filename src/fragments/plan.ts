/**
 * Output fragmentation planning, shared by IPv4 and IPv6 (pure).
 *
 *   RFC 791 §3.2 ("An Example Fragmentation Procedure"): every fragment but the last carries the
 *   largest multiple of 8 data octets that fits the MTU after its header; the last carries the rest.
 *   RFC 8200 §4.5: the same over the fragmentable part, with an 8-octet Fragment header in every
 *   fragment packet; "Each complete fragment, except possibly the last ("rightmost") one, is an integer
 *   multiple of 8 octets long."
 *
 * Headers are the caller's business:
 * - IPv4: `fragHeaderLen` is 0. `headerLen` is the first fragment's header (all options) and
 *   `laterHeaderLen` the header of the others, which carry only the options whose copied flag is set
 *   (RFC 791 §3.1 "Options"); it defaults to `headerLen`, which is always safe.
 * - IPv6: `headerLen` is the per-fragment headers (IPv6 header plus Hop-by-Hop/Routing), the payload is
 *   everything after them (extension and upper-layer headers included, RFC 8200 §4.5), and
 *   `fragHeaderLen` is 8.
 * A single-element plan means "send unfragmented": no Fragment header (RFC 8200 §4.5 after RFC 8021:
 * no atomic fragments), MF = 0 and offset 0 for IPv4.
 */

export interface FragmentPlan {
  /** Offset in bytes into the payload (a multiple of 8). */
  readonly offset: number;
  readonly length: number;
  /** MF / M flag: true on every fragment but the last. */
  readonly more: boolean;
}

/**
 * The largest IPv4 Total Length / IPv6 Payload Length; it also keeps every offset within the 13-bit
 * offset field (8191 * 8 = 65 528, RFC 791 §3.1, RFC 8200 §4.5).
 */
const MAX_PAYLOAD = 65_535;

function isLen(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/**
 * Cuts `payloadLen` bytes into fragments whose packets (header + fragment header + data) fit `mtu`.
 * Throws a RangeError (a programmer error: the caller clamps the MTU to the protocol minimum, 68 for
 * IPv4 and 1280 for IPv6) when no 8-byte fragment fits or the payload cannot be expressed.
 */
export function planFragments(
  payloadLen: number,
  mtu: number,
  headerLen: number,
  fragHeaderLen: number,
  laterHeaderLen: number = headerLen,
): readonly FragmentPlan[] {
  if (![payloadLen, mtu, headerLen, fragHeaderLen, laterHeaderLen].every(isLen)) {
    throw new RangeError('planFragments: lengths must be non-negative integers');
  }
  if (payloadLen > MAX_PAYLOAD) throw new RangeError(`planFragments: payload ${payloadLen} > ${MAX_PAYLOAD}`);
  if (headerLen + payloadLen <= mtu) return [{ offset: 0, length: payloadLen, more: false }];

  const firstRoom = floor8(mtu - headerLen - fragHeaderLen);
  const laterRoom = floor8(mtu - laterHeaderLen - fragHeaderLen);
  if (firstRoom < 8 || laterRoom < 8) {
    throw new RangeError(`planFragments: MTU ${mtu} leaves no room for 8 bytes of data`);
  }
  const plan: FragmentPlan[] = [];
  let offset = 0;
  let room = firstRoom;
  while (payloadLen - offset > room) {
    plan.push({ offset, length: room, more: true });
    offset += room;
    room = laterRoom;
  }
  plan.push({ offset, length: payloadLen - offset, more: false });
  return plan;
}

function floor8(n: number): number {
  return n < 0 ? 0 : n - (n % 8);
}
