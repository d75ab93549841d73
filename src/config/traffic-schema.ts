// The `traffic` section of a service: what moves users' traffic between the slots. The embedded
// router is the default; the other kinds drive a balancer the team already runs (src/traffic/).
import path from 'node:path';
import { z } from 'zod';
import { parseHostPort } from './address.ts';
import { messageOf, nonEmpty, positiveInt } from './fields.ts';
import type {
  CaddyTraffic,
  DnsTraffic,
  HaproxyTraffic,
  KubernetesServiceTraffic,
  NginxTraffic,
  RouterTraffic,
  TrafficConfig,
  TrafficKind,
} from './types.ts';

export const TRAFFIC_DEFAULTS = {
  kind: 'router',
  nginxReload: ['nginx', '-s', 'reload'],
  nginxCheck: ['nginx', '-t'],
  caddyAdmin: 'http://127.0.0.1:2019',
  dnsTtl: 5,
  kubernetesNamespace: 'default',
  selectorKey: 'slot',
} as const;

/**
 * The kinds this build can drive. A kind whose adapter is not wired into the switch path yet is
 * refused by `cutover validate` (a key either works or is refused); each adapter adds its kind here
 * in the change that wires it.
 */
export const TRAFFIC_AVAILABLE: ReadonlySet<TrafficKind> = new Set<TrafficKind>(['router']);

const NAME = /^[A-Za-z0-9_.:-]+$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const FQDN = /^([a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9])?\.)+$/i;

const argv = z
  .union([nonEmpty('a command, like nginx -s reload'), z.array(nonEmpty('a program or argument')).min(1)], {
    error: (iss) =>
      iss.input === undefined ? undefined : 'expected a command: a string like nginx -s reload, or a list like [nginx, -s, reload]',
  })
  .transform((c) => (typeof c === 'string' ? c.trim().split(/\s+/) : c));

const httpUrl = (example: string) =>
  z.url({ protocol: /^https?$/, error: (iss) => `expected an http(s) URL, like ${example}, got ${JSON.stringify(iss.input)}` });

const name = (what: string, example: string) =>
  z.string().regex(NAME, { error: `expected ${what}, like ${example}: letters, digits and _ . : -` });

function kinds(dir: string) {
  const router = z.strictObject({ kind: z.literal('router') });
  true satisfies Same<z.output<typeof router>, RouterTraffic>;

  const haproxy = z.strictObject({
    kind: z.literal('haproxy'),
    socket: nonEmpty('a stats socket: a unix socket path or host:port')
      .transform((s) => (messageOf(() => parseHostPort(s)) === undefined ? s : path.resolve(dir, s)))
      .meta({ description: 'HAProxy stats socket with level admin: a unix socket path (relative to this file) or host:port.' }),
    backend: name('the backend name', 'web'),
  });
  true satisfies Same<z.output<typeof haproxy>, HaproxyTraffic>;

  const nginx = z.strictObject({
    kind: z.literal('nginx'),
    upstreamFile: nonEmpty('a file, like /etc/nginx/conf.d/web-upstream.conf')
      .transform((p) => path.resolve(dir, p))
      .meta({ description: 'The file cutover owns and rewrites; nginx.conf includes it.' }),
    upstream: name('the upstream name', 'web'),
    reload: argv
      .prefault([...TRAFFIC_DEFAULTS.nginxReload])
      .meta({ description: 'Run after the file is written (default nginx -s reload).' }),
    check: argv.prefault([...TRAFFIC_DEFAULTS.nginxCheck]).meta({ description: 'Run before the reload (default nginx -t).' }),
  });
  true satisfies Same<z.output<typeof nginx>, NginxTraffic>;

  const caddy = z.strictObject({
    kind: z.literal('caddy'),
    admin: httpUrl('http://127.0.0.1:2019')
      .default(TRAFFIC_DEFAULTS.caddyAdmin)
      .transform((u) => u.replace(/\/+$/, '')),
    route: name('the @id of the route', 'web'),
  });
  true satisfies Same<z.output<typeof caddy>, CaddyTraffic>;

  const dns = z.strictObject({
    kind: z.literal('dns'),
    server: nonEmpty('the DNS server: the PowerDNS API URL, or host:port for RFC 2136'),
    api: z.enum(['powerdns', 'rfc2136']),
    zone: z.string().regex(FQDN, { error: 'expected a zone with its final dot, like example.test.' }),
    record: z.string().regex(FQDN, { error: 'expected a record name with its final dot, like web.example.test.' }),
    ttl: positiveInt(86_400).default(TRAFFIC_DEFAULTS.dnsTtl).meta({ description: 'Seconds.' }),
  });
  true satisfies Same<z.output<typeof dns>, DnsTraffic>;

  const kubernetesService = z.strictObject({
    kind: z.literal('kubernetes-service'),
    service: z.string().regex(DNS_NAME, { error: 'expected a Kubernetes Service name: lowercase letters, digits, - and .' }),
    namespace: z
      .string()
      .regex(DNS_LABEL, { error: 'expected a Kubernetes namespace: lowercase letters, digits and -' })
      .default(TRAFFIC_DEFAULTS.kubernetesNamespace),
    selectorKey: nonEmpty('a label key, like slot').default(TRAFFIC_DEFAULTS.selectorKey),
  });
  true satisfies Same<z.output<typeof kubernetesService>, KubernetesServiceTraffic>;

  return [router, haproxy, nginx, caddy, dns, kubernetesService] as const;
}

/** `traffic:` of one service; relative paths resolve against the config file's folder `dir`. */
export function trafficSchema(dir: string) {
  return z
    .discriminatedUnion('kind', kinds(dir))
    .prefault({ kind: TRAFFIC_DEFAULTS.kind })
    .superRefine((t, ctx) => {
      if (!TRAFFIC_AVAILABLE.has(t.kind)) {
        ctx.addIssue({
          code: 'custom',
          message: `traffic kind ${t.kind} is not available in this version of cutover yet; use kind: router (the embedded router), or remove traffic`,
          path: ['kind'],
          input: t.kind,
        });
      }
    })
    .transform((t): TrafficConfig => t)
    .meta({ description: 'What moves traffic between the slots: router (default), haproxy, nginx, caddy, dns, kubernetes-service.' });
}

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
