/**
 * Ethernet II frames with 802.1Q / 802.1ad tags. `parse(frame)` gives an {@link EthernetRepr} and the
 * payload (a view into the frame, not a copy); `emit(repr, buf)` writes a header into a buffer whose
 * first {@link headerLen} bytes are left for it; {@link EthernetFrame} reads fields in place.
 *
 * ```ts
 * import { ethernet } from 'oasis-net';
 * const r = ethernet.parse(frame);
 * if (r.ok && r.value.repr.ethertype === ethernet.ETHERTYPE_IPV4) handle(r.value.payload);
 * ```
 *
 * @module
 */
export {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_QINQ,
  ETHERTYPE_VLAN,
  EthernetFrame,
  type EthernetRepr,
  emitEthernet as emit,
  ethernetHeaderLen as headerLen,
  parseEthernet as parse,
  type VlanTag,
} from '../ethernet/wire.js';
