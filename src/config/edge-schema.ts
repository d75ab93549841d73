// The edge keys of a service (`hosts`, `pathPrefix`, `stripPrefix`, `tls`) and the checks that relate
// services to each other on a shared listener (src/edge/claims.ts says which may share one).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { claimProblems, hostProblem, type ListenerClaim } from '../edge/claims.ts';
import { parseHostPort } from './address.ts';
import { always, duration, nonEmpty, record } from './fields.ts';
import { DEFAULT_TYPES, ENCODINGS } from '../router/compress.ts';
import type { TlsConfig } from './types.ts';

export const LETS_ENCRYPT = 'https://acme-v02.api.letsencrypt.org/directory';
export const EDGE_DEFAULTS = { stripPrefix: true, acmeDirectory: LETS_ENCRYPT } as const;

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

const UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** A size in bytes: a whole number, or with a unit (10MB, 512KiB). */
export const size = z
  .union([z.int().min(0), z.string()], { error: 'expected a size: bytes as a number, or with a unit, like 10MB or 512KiB' })
  .transform((v, ctx) => {
    if (typeof v === 'number') return v;
    const m = /^([0-9]+(?:\.[0-9]+)?)\s*([a-z]+)$/i.exec(v.trim());
    const unit = m ? UNITS[(m[2] as string).toLowerCase()] : undefined;
    if (!m || unit === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `${JSON.stringify(v)} is not a size; write bytes, or a number with B, KB, MB, GB, KiB, MiB or GiB`,
        input: v,
      });
      return z.NEVER;
    }
    return Math.round(Number(m[1]) * unit);
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

const acme = z.strictObject({
  email: z
    .email({ error: 'expected the e-mail address the ACME server may write to about expiring certificates, like ops@example.com' })
    .describe('The account’s e-mail address; the ACME server may write to it about expiring certificates.'),
  directory: z
    .url({ protocol: /^https?$/, error: 'expected the URL of an ACME directory, like https://acme-v02.api.letsencrypt.org/directory' })
    .default(EDGE_DEFAULTS.acmeDirectory)
    .meta({
      description:
        "The ACME server's directory URL (default Let's Encrypt, https://acme-v02.api.letsencrypt.org/directory); a private CA's root is trusted through NODE_EXTRA_CA_CERTS.",
    }),
  renewBefore: duration(60_000).prefault('480h').meta({
    description: 'Renew when this much validity is left (default 480h = 20 days; durations stop at 596h), at most a third of the lifetime.',
  }),
});

export function tls(dir: string) {
  return z
    .strictObject({
      certificate: file(dir, 'a PEM certificate file (with its chain), like certs/app.pem')
        .optional()
        .describe('A PEM certificate file with its chain, relative to this file; reloaded when it changes.'),
      key: file(dir, 'a PEM private key file, like certs/app.key')
        .optional()
        .describe('The PEM private key of the certificate, relative to this file; reloaded when it changes.'),
      acme: acme.optional().describe('Obtain and renew certificates for the service’s hosts from an ACME server (HTTP-01 or TLS-ALPN-01).'),
    })
    .superRefine((t, ctx) => {
      const files = t.certificate !== undefined || t.key !== undefined;
      if (files && t.acme !== undefined)
        ctx.addIssue({
          code: 'custom',
          message: 'tls takes either certificate and key, or acme; remove one',
          path: ['acme'],
          input: t.acme,
        });
      else if (!files && t.acme === undefined)
        ctx.addIssue({ code: 'custom', message: 'tls needs certificate and key (PEM files), or acme: { email }', input: t });
      else if (files && (t.certificate === undefined || t.key === undefined))
        ctx.addIssue({
          code: 'custom',
          message: 'tls needs both certificate and key',
          path: [t.certificate === undefined ? 'certificate' : 'key'],
          input: t,
        });
    }, always)
    .optional()
    .meta({
      description:
        'Terminate TLS on the listener: certificate and key files for the service’s hosts (reloaded when they change), or acme: { email, directory } to obtain them.',
    })
    .transform((t): TlsConfig | undefined => {
      if (t === undefined) return undefined;
      if (t.acme !== undefined) return { acme: t.acme };
      return { certificate: t.certificate as string, key: t.key as string };
    });
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
  const byListen = new Map<string, { name: string; header: unknown; workers: number }[]>();
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
    const acmeOn = record(s.tls)?.acme !== undefined;
    if (acmeOn && (h === undefined || h.length === 0))
      problems.push({
        path: ['services', name, 'hosts'],
        message: 'tls.acme obtains certificates for the hosts a service names; list them, like hosts: [app.example.com]',
      });
    if (acmeOn)
      h?.forEach((host, i) => {
        if (host.startsWith('*.'))
          problems.push({
            path: ['services', name, 'hosts', i],
            message: `${host}: a wildcard certificate needs the DNS-01 challenge, which cutover does not answer; name the hosts, or use tls: { certificate, key }`,
          });
      });
    const workers = typeof s.workers === 'number' ? s.workers : 1;
    const list = byListen.get(key) ?? [];
    list.push({ name, header: record(s.preview)?.header, workers });
    byListen.set(key, list);
  }
  for (const [listen, group] of byListen) {
    const first = group[0];
    if (group.length < 2 || first === undefined) continue;
    // One listener's router processes serve all of its services (edge/worker-group.ts): one count for all.
    for (const g of group.slice(1)) {
      if (g.workers !== first.workers)
        problems.push({
          path: ['services', g.name, 'workers'],
          message: `services sharing ${listen} run in the same router processes, and ${first.name} has workers: ${first.workers}; give ${g.name} workers: ${first.workers} too (or every service on it the same count)`,
        });
    }
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

/** Default of buffer.maxMemory: 1 MiB, as kamal-proxy buffers in memory. */
export const BUFFER_MAX_MEMORY = 1024 * 1024;

export const buffer = z
  .strictObject({
    requests: z
      .boolean()
      .default(false)
      .describe(
        'Read every request body whole before the upstream is connected, so a slow client holds no upstream connection (default false).',
      ),
    maxMemory: size
      .default(BUFFER_MAX_MEMORY)
      .refine((n) => n >= 1 && n <= 1024 ** 3, { error: 'maxMemory is from 1 byte to 1GiB' })
      .describe(
        'Largest request body buffered (bytes, or 1MiB, 512KiB; default 1MiB); a larger one gets 413. Bodies are kept in memory only.',
      ),
  })
  .prefault({})
  .describe('Request buffering: with requests: true, a body is read whole (up to maxMemory) before its upstream is connected.');

export const compression = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe('Compress answers the upstream did not compress, when the client accepts it (default false).'),
    types: z
      .array(
        z.string().regex(/^[a-z0-9][a-z0-9!#$&^_.+-]*\/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*)$/, {
          error: (iss) => `${JSON.stringify(iss.input)} is not a media type; write one like application/json, or a family like text/*`,
        }),
      )
      .min(1)
      .default([...DEFAULT_TYPES])
      .describe(`Media types compressed (text/* for a family; default ${DEFAULT_TYPES.join(', ')}); event streams never are.`),
    minSize: size.default(1024).describe('Answers with a Content-Length below this go as they are (bytes, or 1KiB; default 1KiB).'),
    encodings: z
      .array(z.enum(ENCODINGS as unknown as ['br', 'zstd', 'gzip']))
      .min(1)
      .default([...ENCODINGS])
      .describe('Encodings offered, preferred first, among those the client accepts (default br, zstd, gzip).'),
  })
  .prefault({})
  .describe(
    'Response compression (off by default): br, zstd or gzip as the client accepts, for identity answers of the listed types, over HTTP/1.1 and HTTP/2.',
  );
