/**
 * Helpers for the TCP interop tests: HTTP transfers with curl checked by SHA-256, Oasis's TCP
 * counters read from its status page, tshark's verdict on a capture, and a routed path of two
 * namespaces (a router R holding the TAP, a peer P behind it on a veth pair). Set-up and clean-up
 * go through support/lab.ts.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { NetNs, uniqueIfName } from './netns.js';
import { allocateSubnet, type Subnet } from './subnets.js';

/** SHA-256 (hex) of a file, streamed. */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

export interface GetResult {
  /** The `x-sha256` header Oasis sent. */
  readonly headerSha: string;
  /** SHA-256 of the body as received (sha256sum in the namespace). */
  readonly bodySha: string;
  readonly length: number;
  readonly status: number;
  readonly seconds: number;
}

/**
 * `curl URL | sha256sum` inside `ns`: the body never touches the disk; curl's `-w` writes the
 * header, length and status to stderr so they stay out of the hashed stream. curl gets the time
 * limit itself (`-m`): killing the shell at the deadline would leave curl holding the pipe.
 */
export async function curlGet(ns: NetNs, url: string, timeoutMs: number): Promise<GetResult> {
  const t0 = performance.now();
  const r = await ns.exec(
    'bash',
    [
      '-c',
      `set -o pipefail; curl -sS --fail -m ${curlSeconds(timeoutMs)} -w '%{stderr}RESULT %header{x-sha256} %{size_download} %{http_code}\\n' '${url}' | sha256sum`,
    ],
    timeoutMs + 5_000,
  );
  const seconds = (performance.now() - t0) / 1000;
  const m = /RESULT (\S*) (\d+) (\d+)/.exec(r.stderr);
  if (r.code !== 0 || !m) throw new Error(`curl ${url} failed (${r.code}): ${r.stderr}`);
  return {
    headerSha: m[1]!,
    bodySha: r.stdout.split(/\s/)[0]!,
    length: Number(m[2]),
    status: Number(m[3]),
    seconds,
  };
}

/** `curl --data-binary @file URL/sha256` inside `ns`: Oasis's answer `<hex>  <length>`. */
export async function curlPost(
  ns: NetNs,
  url: string,
  file: string,
  timeoutMs: number,
): Promise<{ sha: string; length: number; seconds: number }> {
  const t0 = performance.now();
  const r = await ns.exec(
    'curl',
    [
      '-sS',
      '--fail',
      '-m',
      curlSeconds(timeoutMs),
      '-H',
      'content-type: application/octet-stream',
      '--data-binary',
      `@${file}`,
      url,
    ],
    timeoutMs + 5_000,
  );
  const seconds = (performance.now() - t0) / 1000;
  const m = /^([0-9a-f]{64}) {2}(\d+)\n$/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new Error(`curl POST ${url} failed (${r.code}): ${r.stdout} ${r.stderr}`);
  return { sha: m[1]!, length: Number(m[2]), seconds };
}

/** curl's `-m` for a limit in milliseconds. */
function curlSeconds(timeoutMs: number): string {
  return String(Math.max(1, Math.ceil(timeoutMs / 1000)));
}

/** Oasis's TCP core counters, from the `tcp.counters` of its HTTP status page (`GET /`). */
export async function oasisTcpCounters(ns: NetNs, url: string): Promise<Record<string, number>> {
  const r = await ns.exec('curl', ['-sS', '--fail', '-m', '10', url], 15_000);
  if (r.code !== 0) throw new Error(`curl ${url} failed (${r.code}): ${r.stderr}`);
  return (JSON.parse(r.stdout) as { tcp: { counters: Record<string, number> } }).tcp.counters;
}

/** Sum of the retransmission counters of Oasis's TCP core. */
export function retransmissions(c: Record<string, number>): number {
  return (
    (c['retransmit-fast'] ?? 0) +
    (c['retransmit-rto'] ?? 0) +
    (c['retransmit-sack'] ?? 0) +
    (c['retransmit-partial'] ?? 0)
  );
}

/**
 * tshark options for a fast, per-frame verdict on large captures. Reassembling the TCP streams only
 * feeds the HTTP dissector 50 MB bodies and costs ~90 % of tshark's time (35 s against 2.4 s on a
 * 120 MB capture); without it the HTTP dissector misreads a body segment seen alone as a malformed
 * message, so HTTP (Node's, not Oasis's) is left undissected. Every IP/TCP check is per frame.
 */
const FAST = ['-o', 'tcp.desegment_tcp_streams:FALSE', '--disable-protocol', 'http'];

/**
 * Frames sent by `mac` that tshark finds malformed or with a bad IP/TCP/UDP/ICMP checksum: their
 * numbers, one a line (empty when all is well).
 */
export function tsharkBadFrames(pcap: string, mac: string): string {
  return execFileSync(
    'tshark',
    [
      '-r',
      pcap,
      ...FAST,
      '-o',
      'tcp.check_checksum:TRUE',
      '-o',
      'ip.check_checksum:TRUE',
      '-o',
      'udp.check_checksum:TRUE',
      '-Y',
      `(_ws.malformed || tcp.checksum.status == "Bad" || ip.checksum.status == "Bad" || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad" || icmpv6.checksum.status == "Bad") && eth.src == ${mac}`,
      '-T',
      'fields',
      '-e',
      'frame.number',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 },
  ).trim();
}

/** tshark's one-line summary and expert messages of some frames, for a failure message. */
export function tsharkDescribe(pcap: string, frames: string): string {
  const numbers = frames
    .split('\n')
    .filter((f) => f !== '')
    .slice(0, 20);
  if (numbers.length === 0) return '';
  return execFileSync(
    'tshark',
    [
      '-r',
      pcap,
      ...FAST,
      '-o',
      'tcp.check_checksum:TRUE',
      '-o',
      'ip.check_checksum:TRUE',
      '-Y',
      numbers.map((n) => `frame.number == ${n}`).join(' || '),
      '-T',
      'fields',
      '-e',
      'frame.number',
      '-e',
      '_ws.col.Info',
      '-e',
      '_ws.expert.message',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 },
  );
}

/** Number of frames in a capture that match a display filter. */
export function tsharkCount(pcap: string, filter: string): number {
  const out = execFileSync(
    'tshark',
    ['-r', pcap, ...FAST, '-Y', filter, '-T', 'fields', '-e', 'frame.number'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 64 << 20,
    },
  ).trim();
  return out === '' ? 0 : out.split('\n').length;
}

/**
 * Two namespaces joined by a veth pair, on two fresh subnets (support/subnets.ts):
 *
 *   P (peerNet .2) --veth-- R (peerNet .1 | tapNet .1, forwarding) --TAP-- Oasis (tapNet .2)
 *
 * R is the router (the TAP of `oasis up` goes there; its side of the TAP is configured by
 * `oasis up --host-ip`), P the peer, with a default route through R.
 */
export class RoutedPath {
  readonly tap = uniqueIfName();
  /** R's end of the veth pair. */
  readonly vethR = uniqueIfName();
  /** P's end of the veth pair. */
  readonly vethP = uniqueIfName();

  private constructor(
    readonly r: NetNs,
    readonly p: NetNs,
    /** The TAP's subnet: R is host 1, Oasis host 2. */
    readonly tapNet: Subnet,
    /** The veth pair's subnet: R is host 1, P host 2. */
    readonly peerNet: Subnet,
  ) {}

  /** Use `Lab.routedPath()`, which deletes it on close. */
  static create(): RoutedPath {
    const tapNet = allocateSubnet();
    const peerNet = allocateSubnet();
    let r: NetNs | undefined;
    let p: NetNs | undefined;
    try {
      r = NetNs.create();
      p = NetNs.create();
      const path = new RoutedPath(r, p, tapNet, peerNet);
      r.run('ip', 'link', 'add', path.vethR, 'type', 'veth', 'peer', 'name', path.vethP);
      r.run('ip', 'link', 'set', path.vethP, 'netns', p.name);
      r.run('ip', 'addr', 'add', peerNet.cidr4(1), 'dev', path.vethR);
      r.run('ip', 'link', 'set', path.vethR, 'up');
      p.run('ip', 'addr', 'add', peerNet.cidr4(2), 'dev', path.vethP);
      p.run('ip', 'link', 'set', path.vethP, 'up');
      p.run('ip', 'route', 'add', 'default', 'via', peerNet.ip4(1));
      r.run('sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
      return path;
    } catch (e) {
      p?.delete();
      r?.delete();
      tapNet.release();
      peerNet.release();
      throw e;
    }
  }

  /** Deletes both namespaces (the veth pair and the TAP's kernel side go with them). */
  delete(): void {
    this.p.delete();
    this.r.delete();
    this.tapNet.release();
    this.peerNet.release();
  }
}
