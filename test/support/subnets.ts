/**
 * Subnets for interop tests, never the same for two live processes: test files run in parallel
 * forks (and other checkouts may run theirs on the same machine), so instead of hand-picking
 * addresses each test asks for a fresh numbered block and gives it back when done.
 *
 * Block n is `10.<112 + n / 256>.<n % 256>.0/24` and `fd6f:6173:6973:<n>::/64` (a ULA whose global ID
 * spells "oasis"), n < 1024: 10.112.0.0/14 holds every IPv4 block. Addresses are only ever configured
 * inside namespaces the tests create.
 *
 * Claims are files `<dir>/<n>.<pid>`. To take block n a process writes its claim, then lists the
 * claims on n again: if any other live process holds one, it withdraws and tries n + 1. Of two
 * processes racing for n, the one that lists last sees the other's claim, so at most one keeps it.
 * Claims of dead processes are ignored and swept.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipv6ToString, parseIpv6Addr } from '../../src/addr.js';

const BLOCKS = 1024;
const DIR = join(tmpdir(), 'oasis-test-subnets');

export interface Subnet {
  /** The block number. */
  readonly index: number;
  /** `10.x.y.0/24`. */
  readonly v4Prefix: string;
  /** `fd6f:6173:6973:n::/64`. */
  readonly v6Prefix: string;
  /** IPv4 host `n` of the /24 (`.1` is the kernel's side by convention, `.2` Oasis). */
  ip4(n: number): string;
  /** `ip4(n)/24`. */
  cidr4(n: number): string;
  /** IPv6 host `n` of the /64, in canonical form (RFC 5952), as Oasis and iproute2 print it. */
  ip6(n: number): string;
  /** `ip6(n)/64`. */
  cidr6(n: number): string;
  /** Gives the block back (idempotent; also done when the process exits). */
  release(): void;
}

/** Blocks held by this process, by number. */
const held = new Map<number, string>();

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, it is just not ours to signal.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Pids of the processes other than us that hold a live claim on block `n`; sweeps dead ones. */
function otherClaims(n: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync(DIR)) {
    const m = /^(\d+)\.(\d+)$/.exec(name);
    if (m === null || Number(m[1]) !== n) continue;
    const pid = Number(m[2]);
    if (pid === process.pid) continue;
    if (alive(pid)) pids.push(pid);
    else rmSync(join(DIR, name), { force: true });
  }
  return pids;
}

function block(index: number, file: string): Subnet {
  const a = 112 + (index >> 8);
  const b = index & 255;
  const v6 = (n: number) =>
    ipv6ToString(parseIpv6Addr(`fd6f:6173:6973:${index.toString(16)}::${n.toString(16)}`)!);
  return {
    index,
    v4Prefix: `10.${a}.${b}.0/24`,
    v6Prefix: `${v6(0)}/64`,
    ip4: (n) => `10.${a}.${b}.${n}`,
    cidr4: (n) => `10.${a}.${b}.${n}/24`,
    ip6: v6,
    cidr6: (n) => `${v6(n)}/64`,
    release() {
      if (held.get(index) !== file) return;
      held.delete(index);
      rmSync(file, { force: true });
    },
  };
}

/** A block no other live process holds; throws when all are taken. */
export function allocateSubnet(): Subnet {
  mkdirSync(DIR, { recursive: true });
  for (let n = 0; n < BLOCKS; n++) {
    if (held.has(n) || otherClaims(n).length > 0) continue;
    const file = join(DIR, `${n}.${process.pid}`);
    writeFileSync(file, '');
    // Listed after our claim was written: whoever raced us either sees it or is seen here.
    if (otherClaims(n).length > 0) {
      rmSync(file, { force: true });
      continue;
    }
    held.set(n, file);
    return block(n, file);
  }
  throw new Error(`no free test subnet: all ${BLOCKS} blocks in ${DIR} are held by live processes`);
}

process.on('exit', () => {
  for (const file of held.values()) rmSync(file, { force: true });
  held.clear();
});
