/**
 * `oasis demo`: a narrated tour of Oasis — ARP and NDP, ping and ping6 with fragments, an HTTP GET
 * served by Oasis, iperf3 both ways, then a router leg (traceroute, ping and ping6 with SLAAC, a
 * transfer through an Oasis router) — with summary tables. As root with /dev/net/tun the peers are
 * kernels of private network namespaces (demo/tap.ts, demo/routed-tap.ts); otherwise, or with
 * `--in-process`, the same tour runs between Oasis stacks on in-process links (demo/memory.ts,
 * demo/routed-memory.ts).
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Command } from './command.js';
import { inProcessTour } from './demo/memory.js';
import { inNamespace, tapTour } from './demo/tap.js';

const USAGE = `Usage: oasis demo [--in-process]

A narrated tour: ARP and NDP, ping and ping6 with fragments, an HTTP GET served by Oasis and iperf3
in each direction; then a router leg: two hosts that reach each other only through an Oasis router,
with a traceroute, ping and ping6 (the far host configured by SLAAC from the router's
advertisements), a TCP transfer with its throughput and the router's counters. Summary tables at
the end; exits 0 if every step passed.

As root with /dev/net/tun, the peers are kernels of private network namespaces: one reached through
a fresh TAP, then two joined by \`oasis router\`; everything created is deleted at the end. Otherwise
the same tour runs between Oasis stacks on in-process links, and says so; nothing then reaches a
real network.

Options:
  --in-process   run the in-process tour even as root
  -h, --help     show this help`;

const OPTIONS = {
  'in-process': { type: 'boolean' },
  // Internal: the TAP tour, run by `oasis demo` itself inside the namespace it created.
  inside: { type: 'string' },
} as const;

/** Why the kernel cannot be the peer (all the reasons that apply), or undefined if it can. */
export function whyInProcess(forced: boolean, uid: number | undefined, hasTun: boolean): string | undefined {
  if (forced) return '--in-process was given';
  const reasons: string[] = [];
  if (uid !== 0) reasons.push(`this process is not root (uid ${uid ?? 'unknown'})`);
  if (!hasTun) reasons.push('/dev/net/tun is missing');
  return reasons.length > 0 ? reasons.join(' and ') : undefined;
}

async function runDemo(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: OPTIONS, strict: true });
  if (values.inside) return tapTour(values.inside);
  const reason = whyInProcess(values['in-process'] ?? false, process.getuid?.(), existsSync('/dev/net/tun'));
  return reason === undefined ? inNamespace() : inProcessTour(reason);
}

export const demoCommand: Command = {
  summary: 'a narrated tour of Oasis: the kernel as its peer as root, else in process',
  usage: USAGE,
  run: runDemo,
};
