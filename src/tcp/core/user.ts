/**
 * User calls (RFC 9293 §3.10.1-3.10.5): OPEN (listen/connect), SEND, RECEIVE, CLOSE (as `shutdown` for
 * the sending side and `close` for both), ABORT. They return a reply value and never throw; sending
 * happens in the step's output phase.
 */
import { canWrite, type Draft, sendSpace } from './draft.js';
import { dataEnd, sendReset, sendSyn, windowUpdateDue } from './output.js';
import { pathMtuLowered } from './pmtu.js';
import { ropeAppend, ropeAppendShared, ropeDrop, ropeRead, ropeTakeInto } from './rope.js';
import { flowKey, initialSeq, portHashes, tsOffset } from './secrets.js';
import { newTcb } from './tcb.js';
import {
  type ConnectParams,
  type ConnOptions,
  type FlowKey,
  type IpAddr,
  isSynchronized,
  type KeepaliveConfig,
  type TcpReply,
  type TcpUserError,
} from './types.js';

function validKeepalive(k: KeepaliveConfig): boolean {
  return k.idle > 0 && k.interval > 0 && Number.isInteger(k.count) && k.count >= 1;
}

function fail(error: TcpUserError): TcpReply {
  return { kind: 'error', error };
}

const OK: TcpReply = { kind: 'ok' };

function validPort(p: number): boolean {
  return Number.isInteger(p) && p >= 1 && p <= 65_535;
}

export function listen(
  d: Draft,
  port: number,
  backlog: number | undefined,
  addr: IpAddr | undefined,
): TcpReply {
  if (!validPort(port)) return fail('invalid-argument');
  if (d.listeners.has(port)) return fail('port-in-use');
  const b = backlog ?? d.config.defaultBacklog;
  if (!(Number.isInteger(b) && b >= 0)) return fail('invalid-argument');
  d.setListener(port, { port, addr: addr ?? null, backlog: b, pending: 0, cookieAt: null });
  return OK;
}

/** Stops listening; embryonic connections of the listener are reset (they have no user yet). */
export function unlisten(d: Draft, port: number): TcpReply {
  if (!d.listeners.has(port)) return fail('no-connection');
  d.setListener(port, null);
  for (const key of embryos(d, port)) {
    const t = d.get(key)!;
    sendReset(d, t, t.sndNxt, false);
    d.remove(key, 'refused');
  }
  return OK;
}

function embryos(d: Draft, port: number): FlowKey[] {
  const out: FlowKey[] = [];
  for (const t of d.allConnections()) {
    if (t.passive && t.state === 'SynReceived' && t.localPort === port) out.push(t.key);
  }
  return out;
}

/** RFC 6056 §3.3.4 algorithm 4; `null` when every port of the range is taken for this destination. */
function ephemeralPort(d: Draft, local: IpAddr, remote: IpAddr, remotePort: number): number | null {
  const c = d.config;
  const num = c.ephemeralMax - c.ephemeralMin + 1;
  const { offset, index } = portHashes(d.key, local, remote, remotePort, d.portTable.length);
  const table = d.portTable.slice();
  let port: number | null = null;
  for (let count = num; count > 0; count--) {
    const candidate = c.ephemeralMin + ((offset + table[index]!) % num);
    table[index] = (table[index]! + 1) >>> 0;
    if (d.listeners.has(candidate)) continue;
    if (d.has(flowKey(local, candidate, remote, remotePort))) continue;
    port = candidate;
    break;
  }
  d.portTable = table;
  return port;
}

/** Active OPEN (§3.10.1): a SYN-SENT TCB and our SYN. */
export function connect(d: Draft, p: ConnectParams): TcpReply {
  if (!validPort(p.remotePort) || (p.localPort !== undefined && !validPort(p.localPort))) {
    return fail('invalid-argument');
  }
  if (d.size >= d.config.maxConnections) return fail('no-resources');
  let localPort = p.localPort ?? null;
  if (localPort === null) {
    localPort = ephemeralPort(d, p.local, p.remote, p.remotePort);
    if (localPort === null) return fail('no-ports');
  } else if (d.has(flowKey(p.local, localPort, p.remote, p.remotePort))) {
    return fail('connection-exists');
  }
  const now = d.now;
  const t = newTcb(d.config, {
    local: p.local,
    localPort,
    remote: p.remote,
    remotePort: p.remotePort,
    iss: initialSeq(d.key, now, p.local, localPort, p.remote, p.remotePort),
    tsOffset: tsOffset(d.key, p.local, localPort, p.remote, p.remotePort),
    passive: false,
    now,
  });
  if (p.options?.noDelay !== undefined) t.noDelay = p.options.noDelay;
  if (p.options?.keepalive !== undefined) t.keepalive = p.options.keepalive;
  const times = p.options?.keepaliveTimes;
  if (times !== undefined && validKeepalive(times)) t.keepaliveTimes = times;
  t.rexmt = { mode: 'syn', at: now + t.rtt.rto, count: 0, backoff: 0 };
  t.rttSeq = t.iss;
  t.rttAt = now;
  sendSyn(d, t);
  d.create(t);
  return { kind: 'connected', flow: t.key, localPort };
}

/**
 * SEND (§3.10.2): queue what fits in the send buffer (queued before ESTABLISHED too); copied, or
 * `shared` (kept as it is: the caller never writes it again).
 */
export function send(d: Draft, flow: FlowKey, data: Uint8Array, shared: boolean): TcpReply {
  const t = d.get(flow);
  if (t === undefined) return fail('no-connection');
  if (!canWrite(t)) return fail('closing');
  const n = Math.min(sendSpace(t, d.config, d.sndMem), data.length);
  if (n > 0) {
    const taken = data.subarray(0, n);
    t.sndq = shared ? ropeAppendShared(t.sndq, taken) : ropeAppend(t.sndq, taken);
  }
  if (n < data.length) {
    t.writeBlocked = true;
    if (n < d.config.sndBuf - t.sndq.length) d.count('send-memory-pressure');
  }
  return { kind: 'sent', accepted: n };
}

/**
 * RECEIVE (§3.10.3): take received bytes, as views or copied `into` a buffer; reading may open the
 * window enough for an update.
 */
export function recv(
  d: Draft,
  flow: FlowKey,
  max: number | undefined,
  into: Uint8Array | undefined,
): TcpReply {
  const t = d.get(flow);
  if (t === undefined) return fail('no-connection');
  const n = Math.min(
    max ?? Number.POSITIVE_INFINITY,
    into?.length ?? Number.POSITIVE_INFINITY,
    t.rcvq.length,
  );
  let data: Uint8Array[] = [];
  if (n > 0 && into !== undefined) t.rcvq = ropeTakeInto(t.rcvq, n, into);
  else if (n > 0) {
    data = ropeRead(t.rcvq, 0, n);
    t.rcvq = ropeDrop(t.rcvq, n);
  }
  if (n > 0 && isSynchronized(t.state) && !t.rcvFin && windowUpdateDue(d, t)) {
    d.count('window-update');
    t.ackNow = true;
  }
  const remaining = t.rcvq.length;
  return { kind: 'data', data, length: n, remaining, eof: t.rcvFin && remaining === 0 };
}

/** CLOSE of the sending side: a FIN after the queued data (§3.10.4, half-close §3.6.1). */
export function shutdown(d: Draft, flow: FlowKey): TcpReply {
  const t = d.get(flow);
  if (t === undefined) return fail('no-connection');
  if (t.finSeq !== null) return OK;
  switch (t.state) {
    case 'SynSent':
    case 'SynReceived':
      // Sent once the connection is established (§3.10.4 "queue for processing").
      t.finSeq = dataEnd(t);
      return OK;
    case 'Established':
      t.finSeq = dataEnd(t);
      t.state = 'FinWait1';
      return OK;
    case 'CloseWait':
      t.finSeq = dataEnd(t);
      t.state = 'LastAck';
      return OK;
    default:
      return fail('closing');
  }
}

/** CLOSE of both sides: no more reads. Unread data makes it an abort (RFC 9293 SHLD-3, as Linux). */
export function close(d: Draft, flow: FlowKey): TcpReply {
  const t = d.get(flow);
  if (t === undefined) return fail('no-connection');
  if (t.state === 'SynSent') {
    d.remove(flow, 'local');
    return OK;
  }
  if (t.rcvq.length > 0 && t.state !== 'TimeWait') {
    d.count('aborted');
    sendReset(d, t, t.sndNxt, true);
    d.remove(flow, 'aborted');
    return OK;
  }
  t.userClosed = true;
  if (
    t.finSeq === null &&
    (t.state === 'SynReceived' || t.state === 'Established' || t.state === 'CloseWait')
  ) {
    shutdown(d, flow);
  }
  if (t.state === 'FinWait2' && t.finWait2At === null) t.finWait2At = d.now + d.config.finWait2Timeout;
  return OK;
}

/** ABORT (§3.10.5): <SEQ=SND.NXT><CTL=RST> where the peer may know us, then forget the connection. */
export function abort(d: Draft, flow: FlowKey): TcpReply {
  const t = d.get(flow);
  if (t === undefined) return fail('no-connection');
  d.count('aborted');
  switch (t.state) {
    case 'SynReceived':
    case 'Established':
    case 'FinWait1':
    case 'FinWait2':
    case 'CloseWait':
      sendReset(d, t, t.sndNxt, false);
      break;
    default:
      break;
  }
  d.remove(flow, 'aborted');
  return OK;
}

export function setOptions(d: Draft, flow: FlowKey, o: ConnOptions): TcpReply {
  const t = d.get(flow);
  if (t === undefined) return fail('no-connection');
  if (o.noDelay !== undefined) t.noDelay = o.noDelay;
  if (o.tsoMax !== undefined) {
    if (!(Number.isInteger(o.tsoMax) && o.tsoMax >= 0 && o.tsoMax <= 0xffff)) return fail('invalid-argument');
    t.tsoMax = o.tsoMax;
  }
  if (o.keepaliveTimes !== undefined) {
    if (!validKeepalive(o.keepaliveTimes)) return fail('invalid-argument');
    t.keepaliveTimes = o.keepaliveTimes;
    // Re-armed by the output routine from the new idle time.
    if (t.keepaliveProbes === 0) t.keepaliveAt = null;
  }
  if (o.keepalive !== undefined) {
    t.keepalive = o.keepalive;
    if (!o.keepalive) t.keepaliveAt = null;
  }
  // The driver's RFC 1191 §6.3 cache says how big a packet the path carries.
  if (o.pathMtu !== undefined && o.pathMtu > 0) pathMtuLowered(d, t, o.pathMtu);
  return OK;
}
