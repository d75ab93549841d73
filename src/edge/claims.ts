// Which services may share a listener, checked when the config is validated: every service on a shared
// `listen` names `hosts` and/or `pathPrefix`, no two claim the same host and prefix, and all of them
// agree on TLS. The problems carry the path of the key to fix.
import { normalisePrefix } from './match.ts';

export interface ListenerClaim {
  service: string;
  /** The listen address, normalised so equal listeners compare equal (`host:port`, host lower case). */
  listen: string;
  hosts?: readonly string[] | undefined;
  pathPrefix?: string | undefined;
  tls: boolean;
}

export interface ClaimProblem {
  path: PropertyKey[];
  message: string;
}

const HOST_PATTERN = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9]([a-z0-9-]{0,62}))*$/;

/** Why a `hosts` entry is not a host name or `*.` wildcard, or null when it is one. */
export function hostProblem(host: string): string | null {
  if (host !== host.toLowerCase()) return `${JSON.stringify(host)} has upper-case letters; host names are written in lower case`;
  if (host.includes(':')) return `${JSON.stringify(host)} has a port; hosts are names only (the port is in listen)`;
  if (host.includes('*') && !host.startsWith('*.'))
    return `${JSON.stringify(host)}: a wildcard is written *.example.com and stands for one label, at the start only`;
  if (host.length > 253 || !HOST_PATTERN.test(host))
    return `${JSON.stringify(host)} is not a host name, like app.example.com or *.example.com`;
  return null;
}

export function claimProblems(claims: readonly ListenerClaim[]): ClaimProblem[] {
  const problems: ClaimProblem[] = [];
  const byListen = new Map<string, ListenerClaim[]>();
  for (const c of claims) {
    const list = byListen.get(c.listen);
    if (list === undefined) byListen.set(c.listen, [c]);
    else list.push(c);
  }
  for (const [listen, group] of byListen) {
    if (group.length < 2) continue;
    const names = group.map((c) => c.service).join(', ');
    const lacking = group.filter((c) => (c.hosts === undefined || c.hosts.length === 0) && c.pathPrefix === undefined);
    // When none says which requests are its own, the first keeps the address and the others are named.
    for (const c of lacking.length === group.length ? lacking.slice(1) : lacking) {
      problems.push({
        path: ['services', c.service, 'listen'],
        message: `services ${names} share ${listen}, so each must say which requests are its own: add hosts (like [${c.service}.example.com]) or pathPrefix to ${c.service}, or give it its own listen`,
      });
    }
    const tls = group.filter((c) => c.tls);
    if (tls.length > 0 && tls.length < group.length) {
      for (const c of group.filter((g) => !g.tls)) {
        problems.push({
          path: ['services', c.service, 'tls'],
          message: `${listen} serves TLS for ${tls.map((t) => t.service).join(', ')} but ${c.service} has no tls; a listener is TLS for all of its services or none: add tls to ${c.service} or give it its own listen`,
        });
      }
    }
    const seen = new Map<string, string>();
    for (const c of group) {
      if (lacking.includes(c)) continue; // already named above
      const prefix = normalisePrefix(c.pathPrefix);
      const hosts = c.hosts === undefined || c.hosts.length === 0 ? [null] : c.hosts;
      hosts.forEach((h, i) => {
        const key = `${h ?? '(any host)'} ${prefix}`;
        const other = seen.get(key);
        if (other !== undefined && other !== c.service) {
          problems.push({
            path: h === null ? ['services', c.service, 'pathPrefix'] : ['services', c.service, 'hosts', i],
            message: `${other} already serves ${h ?? 'every host'} at ${prefix} on ${listen}; give ${c.service} another host or pathPrefix`,
          });
        } else {
          seen.set(key, c.service);
        }
      });
    }
  }
  return problems;
}
