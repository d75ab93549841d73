// The edge part of `cutover status`: what a service claims on its listener, the certificates it
// serves with their expiry (and why one did not load), and where each ACME host stands: a failed
// attempt with its reason and when it is tried again.
import type { ServiceStatus } from '../api/types.ts';
import { localTime } from './time.ts';

type EdgeStatus = NonNullable<ServiceStatus['edge']>;

export function formatEdge(e: EdgeStatus, now = Date.now()): string[] {
  const claims = `${e.hosts.length > 0 ? e.hosts.join(', ') : 'any host'}${e.pathPrefix !== '/' ? ` ${e.pathPrefix}` : ''}`;
  const lines = [`  edge: ${claims}${e.tls ? ' over TLS' : ''}`];
  for (const c of e.certificates) {
    const state = c.error !== null ? `NOT LOADED: ${c.error}` : `valid until ${localTime(c.notAfter, now)}`;
    lines.push(`    certificate ${c.hosts.join(', ')}  ${c.source}  ${state}`);
  }
  for (const a of e.acme) {
    if (a.state === 'error') {
      const next = a.nextAttempt === null ? '' : `; next attempt ${localTime(a.nextAttempt, now)}`;
      lines.push(`    acme ${a.host}  FAILED (${a.failures}x): ${a.error ?? 'unknown error'}${next}`);
    } else if (a.state === 'valid') lines.push(`    acme ${a.host}  valid until ${localTime(a.notAfter, now)}`);
    else lines.push(`    acme ${a.host}  obtaining a certificate`);
  }
  return lines;
}
