/**
 * Router Solicitations (RFC 4861 §6.3.7): up to MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL
 * apart, to all-routers, from the link-local address with a Source Link-Layer Address option.
 */
import { IPV6_UNSPECIFIED } from '../../addr.js';
import { ALL_ROUTERS, type Draft, isAssigned, sendMulticast, sourceLinkAddr } from './draft.js';

/**
 * Starts soliciting once the link-local address is usable. `delayed`: wait a random time in
 * [0, MAX_RTR_SOLICITATION_DELAY) first; §6.3.7: not needed when DAD already waited one.
 */
export function startRs(d: Draft, delayed: boolean): void {
  const c = d.config;
  // A router sends none: it takes nothing from advertisements (README: "The router role").
  if (!c.acceptRa || c.router !== undefined || c.maxRtrSolicitations === 0 || d.get('disabled')) return;
  // §6.3.7: "SHOULD send at least one solicitation in the case where an advertisement is received
  // prior to having sent a solicitation".
  const max = d.get('raSeen') ? 1 : c.maxRtrSolicitations;
  if (delayed) {
    d.set('rs', { sent: 0, max, due: d.now + Math.floor(d.random() * c.maxRtrSolicitationDelay) });
    return;
  }
  sendRs(d);
  d.set('rs', max > 1 ? { sent: 1, max, due: d.now + c.rtrSolicitationInterval } : null);
}

export function rsTick(d: Draft): void {
  const rs = d.get('rs');
  if (rs === null || rs.due > d.now) return;
  sendRs(d);
  const sent = rs.sent + 1;
  d.set('rs', sent < rs.max ? { ...rs, sent, due: d.now + d.config.rtrSolicitationInterval } : null);
}

/** §6.3.7: after a valid RA with a non-zero router lifetime, "MUST desist from sending additional solicitations". */
export function desistRs(d: Draft): void {
  d.set('raSeen', true);
  const rs = d.get('rs');
  if (rs === null) return;
  d.set('rs', rs.sent === 0 ? { ...rs, max: 1 } : null);
}

function sendRs(d: Draft): void {
  const ll = d.get('addresses').find((a) => a.origin === 'link-local' && isAssigned(a));
  // §4.1: the unspecified source when no address is assigned, and then no SLLAO (§6.1.1).
  if (ll === undefined) {
    sendMulticast(d, ALL_ROUTERS, IPV6_UNSPECIFIED, { kind: 'router-solicitation', options: [] });
  } else {
    sendMulticast(d, ALL_ROUTERS, ll.address, { kind: 'router-solicitation', options: [sourceLinkAddr(d)] });
  }
  d.count('rs-sent');
}
