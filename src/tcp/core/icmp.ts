/**
 * ICMP errors about our segments (RFC 1122 §4.2.3.9, RFC 5927), already classified by the driver into
 * the errno Linux reports for them (`SoftError`).
 *
 * - RFC 5927 §4.1: an error is believed only when the sequence number it quotes is in flight,
 *   SND.UNA <= SEG.SEQ < SND.NXT; an off-path attacker has to guess it. Our SND.NXT goes back to
 *   SND.UNA after a timeout (go-back-N), so the upper bound is SND.MAX, the RFC's SND.NXT.
 * - RFC 1122 §4.2.3.9: unreachable codes 0, 1, 5, Time Exceeded and Parameter Problem are soft errors
 *   ("TCP MUST NOT abort the connection"), codes 2-4 hard ("SHOULD abort"). As Linux (tcp_v4_err),
 *   whose behaviour Node's users expect, every error ends an open in SYN-SENT at once, and in every
 *   other state it is only kept and reported if the connection times out ("report it to the
 *   application only when and if the TCP connection times out", the §4.2.3.9 DISCUSSION); so a hard
 *   error does not abort a synchronized connection (a deviation, in src/tcp/README.md).
 * - Fragmentation Needed (RFC 1191) and Packet Too Big (RFC 8201) carry an MTU: once the same check
 *   passed they lower the connection's MSS (pmtu.ts) and are no error at all, in any state.
 */
import { seqLe, seqLt } from '../seq.js';
import type { Draft } from './draft.js';
import { pathMtuLowered } from './pmtu.js';
import { flowKey } from './secrets.js';
import type { TcpEvent } from './types.js';

export function icmpError(d: Draft, e: Extract<TcpEvent, { kind: 'icmp-error' }>): void {
  const t = d.get(flowKey(e.local, e.localPort, e.remote, e.remotePort));
  if (t === undefined || t.state === 'TimeWait') {
    d.count('icmp-no-connection');
    return;
  }
  if (d.config.rfc5927 && !(seqLe(t.sndUna, e.seq) && seqLt(e.seq, t.sndMax))) {
    d.count('icmp-out-of-window');
    return;
  }
  if (e.mtu !== undefined) {
    pathMtuLowered(d, t, e.mtu);
    return;
  }
  if (t.state === 'SynSent') {
    d.count('icmp-aborted');
    d.remove(t.key, 'unreachable', e.error);
    return;
  }
  d.count('icmp-soft-error');
  t.softError = e.error;
}
