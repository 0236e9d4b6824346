/**
 * `oasis router`: an Oasis router across two or more TAP devices. Opens every TAP, moves kernel ends
 * into namespaces and configures them with iproute2 when asked, prints one line starting with
 * `ready` once every interface answers, logs to stderr, prints its counters as JSON on
 * SIGINT/SIGTERM (and every `--stats-interval` seconds as one line) and exits 0.
 *
 * A TAP whose device goes away (its namespace deleted, `ip link del`) is reopened every second and
 * configured again, so the router survives a neighbour being recreated; one merely set down and up
 * needs nothing.
 */
import { type ExecFileSyncOptionsWithStringEncoding, execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ipv4ToString, ipv6ToString, macToString } from '../addr.js';
import { addresses } from '../ipv6/ndp.js';
import { PcapWriter } from '../link/pcap.js';
import { RealScheduler } from '../link/real-clock.js';
import { PacketLink } from '../link/packet.js';
import { TapLink } from '../link/tap.js';
import { Router } from '../router/driver.js';
import type { Interface } from '../stack/iface.js';
import { osSecret } from '../stack/stack.js';
import { type Command, ConfigError, errorText, Interrupted, stopSignals } from './command.js';
import {
  parseRouterArgs,
  ROUTER_USAGE,
  type RouterConfig,
  type RouterInterfaceSpec,
} from './router-config.js';

/** How often a TAP whose device went away is reopened. */
const REOPEN_MS = 1000;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The kernel end of a TAP: into its namespace, MTU, the host's addresses, up. */
function configureKernelEnd(spec: RouterInterfaceSpec): void {
  // An AF_PACKET interface is taken over as it is (PacketLink brings it up).
  if (spec.kind === 'packet') return;
  if (spec.netns !== undefined) ip('link', 'set', 'dev', spec.name, 'netns', spec.netns);
  const inNs = spec.netns === undefined ? [] : ['-n', spec.netns];
  ip(...inNs, 'link', 'set', 'dev', spec.name, 'mtu', String(spec.mtu));
  if (spec.hostIp) ip(...inNs, 'addr', 'replace', spec.hostIp, 'dev', spec.name);
  // nodad: the kernel's address is usable at once; Oasis runs DAD for its own addresses.
  if (spec.hostIp6) ip(...inNs, '-6', 'addr', 'replace', spec.hostIp6, 'dev', spec.name, 'nodad');
  ip(...inNs, 'link', 'set', 'dev', spec.name, 'up');
}

/** How often capture files are written out, so `tshark -r` sees a live capture. */
const FLUSH_MS = 1000;

/**
 * Runs the router. `reread` parses the configuration again (the same flags, the `--config` file as it
 * is now): SIGHUP applies its firewall rules without losing tracked flows.
 */
export async function runRouter(config: RouterConfig, reread?: () => RouterConfig): Promise<number> {
  // Listen for the stop signals before anything else, so a signal right after `ready` is never lost.
  const stop = stopSignals();
  try {
    return await routeUntilStopped(config, stop.signal, stop.stopped, reread);
  } finally {
    stop.dispose();
  }
}

async function routeUntilStopped(
  config: RouterConfig,
  signal: AbortSignal,
  stopped: Promise<unknown>,
  reread: (() => RouterConfig) | undefined,
): Promise<number> {
  const taps: (TapLink | PacketLink)[] = [];
  const pcaps: PcapWriter[] = [];
  const closeAll = async () => {
    await Promise.all(taps.map((t) => t.close()));
    for (const p of pcaps) p.close();
  };
  // Everything that can fail on the system's side happens before the router exists; a failure
  // releases what was opened and exits at once.
  try {
    if (config.pcapDir !== undefined) {
      mkdirSync(config.pcapDir, { recursive: true });
      for (const spec of config.interfaces)
        pcaps.push(PcapWriter.open(join(config.pcapDir, `${spec.name}.pcap`), { flushIntervalMs: FLUSH_MS }));
    }
    for (const spec of config.interfaces) {
      const thread = spec.txThread === undefined ? {} : { txThread: spec.txThread };
      taps.push(
        spec.kind === 'packet'
          ? PacketLink.open(spec.name, { mtu: spec.mtu, version: spec.ring, ...thread })
          : TapLink.open(spec.name, { mtu: spec.mtu, vnetHdr: spec.offload, ...thread }),
      );
    }
    for (const spec of config.interfaces) configureKernelEnd(spec);
    if (config.user !== undefined) dropPrivileges(config.user);
  } catch (e) {
    await closeAll();
    throw e instanceof ConfigError ? e : new ConfigError(errorText(e));
  }

  const scheduler = new RealScheduler();
  const started = Date.now() * 1000 - performance.now() * 1000;
  const log = (time: number, message: string) =>
    process.stderr.write(`[${(time / 1000).toFixed(3)}] ${message}\n`);
  const router = new Router({
    scheduler,
    seed: config.seed,
    // The seed drives MACs and identifiers; ISNs, ports and cookies need an unguessable secret.
    secret: osSecret(),
    onLog: (e) => log(e.time, e.message),
    clampMss: config.clampMss,
  });
  const ifaces: Interface[] = config.interfaces.map((spec, i) => {
    const tap = taps[i]!;
    const pcap = pcaps[i];
    if (pcap !== undefined)
      tap.capture = (frame) => pcap.write(frame, Math.round(started + performance.now() * 1000));
    return router.addInterface({
      link: tap,
      mtu: spec.mtu,
      ipv4: spec.ipv4,
      ipv6: spec.ipv6,
      rpFilter: spec.rpFilter,
      ndpRouter: {
        advertise: spec.ra,
        prefixes: spec.ipv6.map((c) => ({ prefix: c.address, prefixLen: c.prefixLen })),
        mtu: spec.mtu,
        ...(spec.rdns.length > 0 ? { rdnss: { addresses: spec.rdns } } : {}),
      },
    });
  });
  for (const r of config.routes4) {
    const error = router.addRoute4(r.prefix, r.prefixLen, r.via, r.metric);
    if (error !== undefined) {
      await router.close();
      await closeAll();
      throw new ConfigError(`--route ${ipv4ToString(r.prefix)}/${r.prefixLen}: ${error}`);
    }
  }
  for (const r of config.routes6) {
    const dev = r.dev === undefined ? undefined : config.interfaces.findIndex((s) => s.name === r.dev);
    const error = router.addRoute6(r.prefix, r.prefixLen, r.via, {
      ...(dev === undefined ? {} : { iface: dev }),
      ...(r.metric === undefined ? {} : { metric: r.metric }),
    });
    if (error !== undefined) {
      await router.close();
      await closeAll();
      throw new ConfigError(`--route6 ${ipv6ToString(r.prefix)}/${r.prefixLen}: ${error}`);
    }
  }

  if (config.filter !== undefined) {
    const error = router.filterWith({ ...config.filter, secret: osSecret() });
    if (error !== undefined) {
      await router.close();
      await closeAll();
      throw new ConfigError(error);
    }
  }

  // Ready means answering: IPv6 addresses answer once duplicate address detection is over.
  const settled = () =>
    ifaces.every((i) => !i.ipv6Enabled || addresses(i.ndp).every((a) => a.state !== 'tentative'));
  for (let waited = 0; !settled() && waited < 10_000 && !signal.aborted; waited += 50)
    await new Promise((r) => setTimeout(r, 50));
  if (signal.aborted) {
    await router.close();
    scheduler.cancelAll();
    await closeAll();
    throw new Interrupted(signal.reason instanceof Error ? signal.reason.message : 'interrupted');
  }
  const fields = ifaces.map((iface, i) => {
    const spec = config.interfaces[i]!;
    const addrs = [
      ...spec.ipv4.map((c) => `${ipv4ToString(c.address)}/${c.prefixLen}`),
      ...spec.ipv6.map((c) => `${ipv6ToString(c.address)}/${c.prefixLen}`),
    ];
    log(
      scheduler.now(),
      `${spec.name}: mac ${macToString(iface.mac)}${spec.netns ? `, kernel end in ${spec.netns}` : ''}`,
    );
    return `${spec.name}=${addrs.join(',') || '-'}`;
  });
  console.log(`ready ${fields.join(' ')} seed=${config.seed}`);

  const status = () => ({
    counters: router.stack.counters.snapshot(),
    interfaces: Object.fromEntries(taps.map((t) => [t.name, t.counters])),
    // Payload copies on the forwarding path: the router's own (neighbour queues, fragments) and the
    // frames a TAP had to copy because its write was blocked while the lender needed its buffer.
    copiedPayloadBytes: router.copiedPayloadBytes,
    lentFramesCopied: taps.reduce((n, t) => n + t.counters.lentCopied, 0),
    // Frames copied into the TAPs' transmit threads (tx-thread=on), and the flushes that went there.
    ...(taps.some((t) => t instanceof TapLink && t.txThreadFlushes > 0)
      ? {
          txThread: Object.fromEntries(
            taps.flatMap((t) =>
              t instanceof TapLink ? [[t.name, { flushes: t.txThreadFlushes, bytes: t.txThreadBytes }]] : [],
            ),
          ),
        }
      : {}),
    // Super-frames and partial checksums: forwarded whole, or cut / finished in software; and what
    // each TAP read and wrote with vnet headers.
    offload: router.offload,
    tapOffload: Object.fromEntries(
      taps.flatMap((t) =>
        t instanceof TapLink && t.offloads !== undefined ? [[t.name, t.offloadCounters]] : [],
      ),
    ),
    // The AF_PACKET rings' own counters (docs/PACKET.md), when there are kind=packet interfaces.
    ...(taps.some((t) => t instanceof PacketLink)
      ? {
          packet: Object.fromEntries(
            taps.flatMap((t) => {
              if (!(t instanceof PacketLink)) return [];
              t.readKernelStats();
              return [[t.name, { ...t.packetCounters }]];
            }),
          ),
        }
      : {}),
    reassemblyPeakBytes: Math.max(
      router.stack.ipv4.reassemblyPeakBytes,
      router.stack.ipv6.reassemblyPeakBytes,
    ),
    // Per-rule packet and byte counters, the connection table and NAT's, when they are on.
    ...(router.filterStats() === undefined ? {} : { filter: router.filterStats() }),
  });
  const stats =
    config.statsInterval === undefined
      ? undefined
      : setInterval(() => console.log(JSON.stringify(status())), config.statsInterval * 1000);
  // Kernel ends to configure again: their device went away and was opened anew.
  const unconfigured = new Set<number>();
  const reopen = setInterval(() => {
    config.interfaces.forEach((spec, i) => {
      const tap = taps[i]!;
      if (tap instanceof TapLink && tap.state === 'gone' && tap.reopen()) {
        unconfigured.add(i);
        router.stack.restartInterface(ifaces[i]!);
      }
      if (!unconfigured.has(i)) return;
      try {
        configureKernelEnd(spec);
        unconfigured.delete(i);
        log(scheduler.now(), `${spec.name}: device back, kernel end configured again`);
      } catch (e) {
        log(scheduler.now(), `${spec.name}: device back, not configured yet: ${errorText(e)}`);
      }
    });
  }, REOPEN_MS);

  // SIGHUP: the firewall's rules, masquerades and port forwards again, from the configuration as it
  // is now, keeping tracked flows and NAT mappings. Interfaces and routes stay as they were started.
  const onHangup = () => {
    if (reread === undefined) return;
    try {
      const next = reread();
      // Nothing to filter before or now: the filter stays off.
      const refused =
        next.filter === undefined && router.filterStats() === undefined
          ? undefined
          : router.reloadFilter(next.filter ?? {}, osSecret());
      if (refused !== undefined) throw new Error(refused);
      log(
        scheduler.now(),
        'reloaded the firewall rules and NAT (masquerades, port forwards; interfaces and routes are kept as started)',
      );
    } catch (e) {
      log(scheduler.now(), `reload refused, the rules stay as they were: ${errorText(e)}`);
    }
  };
  process.on('SIGHUP', onHangup);

  await stopped;
  process.off('SIGHUP', onHangup);
  clearInterval(reopen);
  if (stats !== undefined) clearInterval(stats);
  console.log(JSON.stringify(status(), null, 2));
  await router.close();
  scheduler.cancelAll();
  for (const p of pcaps) p.close();
  return 0;
}

/** `--user NAME`: give up root once the TAPs are open (their fds stay usable). */
function dropPrivileges(user: string): void {
  let ids: { uid: number; gid: number };
  try {
    // id's own complaint is not shown: the one line below says it.
    const quiet: ExecFileSyncOptionsWithStringEncoding = {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    };
    const uid = Number(execFileSync('id', ['-u', user], quiet).trim());
    const gid = Number(execFileSync('id', ['-g', user], quiet).trim());
    ids = { uid, gid };
  } catch {
    throw new ConfigError(`--user: no such user: ${user}`);
  }
  process.setgroups?.([ids.gid]);
  process.setgid?.(ids.gid);
  process.setuid?.(ids.uid);
}

export const routerCommand: Command = {
  summary: 'forward IPv4 and IPv6 between TAP devices or AF_PACKET interfaces',
  usage: ROUTER_USAGE,
  run: (args) => runRouter(parseRouterArgs(args), () => parseRouterArgs(args)),
};
