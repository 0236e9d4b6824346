/**
 * The floor under Oasis's ping figure: the least a Node program on a TAP must do to answer a ping.
 * It opens the TAP the way `oasis up` does (TapLink, vnet header on), answers ARP requests and ICMP
 * echo requests for 10.93.1.2 by rewriting copies of them, and nothing else: no stack, no timers.
 * What Oasis takes beyond this program is the stack's; what this program takes beyond the kernel's
 * own reply is Node's, libuv's and koffi's. `bench/ping.ts` starts it as
 * `node build/bench/ping-floor.js TAPNAME` in a namespace; it prints `ready` once the TAP is open.
 */
import { TapLink } from '../src/link/tap.js';

const MAC = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
const FLOOR_IP = [10, 93, 1, 2] as const;

function isOurs(f: Uint8Array, at: number): boolean {
  return (
    f[at] === FLOOR_IP[0] &&
    f[at + 1] === FLOOR_IP[1] &&
    f[at + 2] === FLOOR_IP[2] &&
    f[at + 3] === FLOOR_IP[3]
  );
}

/** The reply to `f` (an Ethernet frame), or undefined when it is not a request for FLOOR_IP. */
function floorReply(f: Uint8Array): Uint8Array | undefined {
  if (f.length >= 42 && f[12] === 0x08 && f[13] === 0x06 && f[21] === 1 && isOurs(f, 38)) {
    // RFC 826: the reply goes back to the sender, with our address as the sender's.
    const r = new Uint8Array(42);
    r.set(f.subarray(6, 12), 0);
    r.set(MAC, 6);
    r.set(f.subarray(12, 20), 12);
    r[21] = 2;
    r.set(MAC, 22);
    r.set(FLOOR_IP, 28);
    r.set(f.subarray(22, 32), 32);
    return r;
  }
  const ihl = ((f[14] ?? 0) & 0x0f) * 4;
  const icmp = 14 + ihl;
  if (
    f.length < icmp + 8 ||
    f[12] !== 0x08 ||
    f[13] !== 0x00 ||
    f[23] !== 1 ||
    f[icmp] !== 8 ||
    !isOurs(f, 30)
  ) {
    return undefined;
  }
  // RFC 792: addresses swapped, type 0, the checksum recomputed; the rest echoed as it came.
  const r = f.slice();
  r.set(f.subarray(6, 12), 0);
  r.set(MAC, 6);
  r.set(f.subarray(30, 34), 26);
  r.set(f.subarray(26, 30), 30);
  r[icmp] = 0;
  r[icmp + 2] = 0;
  r[icmp + 3] = 0;
  let sum = 0;
  for (let i = icmp; i < r.length; i += 2) sum += (r[i]! << 8) | (r[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  sum = ~sum & 0xffff;
  r[icmp + 2] = sum >> 8;
  r[icmp + 3] = sum & 0xff;
  return r;
}

const link = TapLink.open(process.argv[2]!, { vnetHdr: true });
link.onFrame((f) => {
  const r = floorReply(f);
  if (r !== undefined) link.send(r);
});
process.on('SIGINT', () => void link.close().then(() => process.exit(0)));
console.log('ready');
