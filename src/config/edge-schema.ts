// The edge keys of a service (`hosts`, `pathPrefix`, `stripPrefix`, `tls`) and the checks that relate
// services to each other on a shared listener (src/edge/claims.ts says which may share one).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { claimProblems, hostProblem, type ListenerClaim } from '../edge/claims.ts';
import { parseHostPort } from './address.ts';
import { nonEmpty, record } from './fields.ts';
import type { TlsConfig } from './types.ts';

export const EDGE_DEFAULTS = { stripPrefix: true } as const;

export const hosts = z
  .array(
    z.string().superRefine((h, ctx) => {
      const message = hostProblem(h);
      if (message !== null) ctx.addIssue({ code: 'custom', message, input: h });
    }),
  )
  .default([])
  .meta({
    description: 'Host names this service answers on its listener: exact (app.example.com) or one-label wildcards (*.example.com).',
  });

export const pathPrefix = z
  .string()
  .regex(/^\/[^\s?#]*$/, { error: (iss) => `expected a path prefix starting with /, like /api, got ${JSON.stringify(iss.input)}` })
  .optional()
  .meta({ description: 'Only requests under this path (at a segment boundary) are this service’s; the longest prefix wins.' });

export const stripPrefix = z
  .boolean()
  .default(EDGE_DEFAULTS.stripPrefix)
  .meta({ description: 'Remove pathPrefix from the path sent upstream (default true).' });

function file(dir: string, what: string) {
  return nonEmpty(what)
    .transform((p) => path.resolve(dir, p))
    .superRefine((p, ctx) => {
      if (!existsSync(p))
        ctx.addIssue({
          code: 'custom',
          message: `${p} does not exist; write the path of the PEM file (relative to this config file)`,
          input: p,
        });
    });
}

export function tls(dir: string) {
  return z
    .strictObject({
      certificate: file(dir, 'a PEM certificate file (with its chain), like certs/app.pem'),
      key: file(dir, 'a PEM private key file, like certs/app.key'),
    })
    .optional()
    .meta({ description: 'Terminate TLS on the listener with this certificate for the service’s hosts (reloaded when the files change).' })
    .transform((t): TlsConfig | undefined => t);
}

/** The listen address as sharing compares it: same host (lower case) and port. */
function listenKey(text: string): string | null {
  try {
    const { host, port } = parseHostPort(text);
    return `${host.toLowerCase()}:${port}`;
  } catch {
    return null;
  }
}

/** Whether two `listen` values are the same socket, which services may share (claims decide how). */
export function sameSharedListen(a: unknown, b: unknown): boolean {
  if (typeof a !== 'string' || typeof b !== 'string') return false;
  const ka = listenKey(a);
  return ka !== null && ka === listenKey(b);
}

/** Problems of services on shared listeners, with the path of the key to fix; input may be partly parsed. */
export function edgeProblems(services: unknown): { path: PropertyKey[]; message: string }[] {
  const claims: ListenerClaim[] = [];
  const problems: { path: PropertyKey[]; message: string }[] = [];
  const byListen = new Map<string, { name: string; header: unknown }[]>();
  for (const [name, raw] of Object.entries(record(services) ?? {})) {
    const s = record(raw);
    const key = typeof s?.listen === 'string' ? listenKey(s.listen) : null;
    if (s === undefined || key === null) continue;
    const h = Array.isArray(s.hosts) ? s.hosts.filter((x): x is string => typeof x === 'string') : undefined;
    claims.push({
      service: name,
      listen: key,
      hosts: h,
      pathPrefix: typeof s.pathPrefix === 'string' ? s.pathPrefix : undefined,
      tls: s.tls !== undefined,
    });
    const edgeKeys = s.tls !== undefined || (h !== undefined && h.length > 0) || s.pathPrefix !== undefined;
    if (edgeKeys && typeof s.workers === 'number' && s.workers > 1) {
      problems.push({
        path: ['services', name, 'workers'],
        message: 'a service with hosts, pathPrefix or tls runs in the daemon’s own router for now; remove workers (or set it to 1)',
      });
    }
    const list = byListen.get(key) ?? [];
    list.push({ name, header: record(s.preview)?.header });
    byListen.set(key, list);
  }
  for (const [listen, group] of byListen) {
    const first = group[0];
    if (group.length < 2 || first === undefined) continue;
    // A request head is read before its service is known, so the preview header is the listener's.
    const header = (v: unknown): string => (typeof v === 'string' ? v.toLowerCase() : 'x-cutover-preview');
    for (const g of group.slice(1)) {
      if (header(g.header) !== header(first.header)) {
        problems.push({
          path: ['services', g.name, 'preview', 'header'],
          message: `services sharing ${listen} use one preview header; ${first.name} uses ${header(first.header)}, so use it here too`,
        });
      }
    }
  }
  return [...problems, ...claimProblems(claims)];
}
