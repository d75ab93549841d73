// The `traffic` section of a service: what moves users' traffic between the slots. The embedded
// router is the default; the other kinds drive a balancer the team already runs (src/traffic/).
import path from 'node:path';
import { z } from 'zod';
import { parseHostPort } from './address.ts';
import { address, duration, messageOf, nonEmpty, positiveInt } from './fields.ts';
import type {
  CaddyTraffic,
  HaproxyTraffic,
  KubernetesServiceTraffic,
  NginxTraffic,
  PowerDnsTraffic,
  Rfc2136Traffic,
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
  dnsTimeout: '10s',
  pdnsApiKeyEnv: 'PDNS_API_KEY',
  tsigSecretEnv: 'CUTOVER_TSIG_SECRET',
  kubernetesNamespace: 'default',
  selectorKey: 'slot',
} as const;

/**
 * The kinds this build can drive. A kind whose adapter is not wired into the switch path yet is
 * refused by `cutover validate` (a key either works or is refused); each adapter adds its kind here
 * in the change that wires it.
 */
export const TRAFFIC_AVAILABLE: ReadonlySet<TrafficKind> = new Set<TrafficKind>([
  'router',
  'haproxy',
  'nginx',
  'caddy',
  'dns',
  'kubernetes-service',
]);

const NAME = /^[A-Za-z0-9_.:-]+$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const FQDN = /^([a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9])?\.)+$/i;

const argv = z
  .union([nonEmpty('a command, like nginx -s reload'), z.array(nonEmpty('a program or argument')).min(1)], {
    error: (iss) =>
      iss.input === undefined ? undefined : 'expected a command: a string like nginx -s reload, or a list like [nginx, -s, reload]',
  })
  .transform((c) => (typeof c === 'string' ? c.trim().split(/\s+/) : c));

const httpUrl = (example: string) =>
  z.url({ protocol: /^https?$/, error: (iss) => `expected an http(s) URL, like ${example}, got ${JSON.stringify(iss.input)}` });

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envName = (key: string, example: string) =>
  z.string().regex(ENV_NAME, {
    error: `${key} names an environment variable that holds the secret (like ${example}), not the secret itself`,
  });

const name = (what: string, example: string) =>
  z.string().regex(NAME, { error: `expected ${what}, like ${example}: letters, digits and _ . : -` });

function kinds(dir: string) {
  const router = z.strictObject({
    kind: z.literal('router').describe("router (the default): cutover's embedded router on listen moves the traffic."),
  });
  true satisfies Same<z.output<typeof router>, RouterTraffic>;

  const haproxy = z.strictObject({
    kind: z.literal('haproxy').describe("haproxy: cutover adds the slots' targets to a backend through HAProxy's runtime API."),
    socket: nonEmpty('a stats socket: a unix socket path or host:port')
      .transform((s) => (messageOf(() => parseHostPort(s)) === undefined ? s : path.resolve(dir, s)))
      .meta({ description: 'HAProxy stats socket with level admin: a unix socket path (relative to this file) or host:port.' }),
    backend: name('the backend name', 'web').describe('The backend cutover fills with dynamic servers, one per target.'),
  });
  true satisfies Same<z.output<typeof haproxy>, HaproxyTraffic>;

  const nginx = z.strictObject({
    kind: z.literal('nginx').describe('nginx: cutover writes an upstream file and reloads nginx (a reload may drop keep-alive requests).'),
    upstreamFile: nonEmpty('a file, like /etc/nginx/conf.d/web-upstream.conf')
      .transform((p) => path.resolve(dir, p))
      .meta({ description: 'The file cutover owns and rewrites; nginx.conf includes it.' }),
    upstream: name('the upstream name', 'web').describe('The name of the upstream block cutover writes in upstreamFile.'),
    reload: argv
      .prefault([...TRAFFIC_DEFAULTS.nginxReload])
      .meta({ description: 'Run after the file is written (default nginx -s reload).' }),
    check: argv.prefault([...TRAFFIC_DEFAULTS.nginxCheck]).meta({ description: 'Run before the reload (default nginx -t).' }),
  });
  true satisfies Same<z.output<typeof nginx>, NginxTraffic>;

  const caddy = z.strictObject({
    kind: z.literal('caddy').describe("caddy: cutover patches a route's upstreams through Caddy's admin API."),
    admin: httpUrl('http://127.0.0.1:2019')
      .default(TRAFFIC_DEFAULTS.caddyAdmin)
      .transform((u) => u.replace(/\/+$/, ''))
      .describe("Caddy's admin API (default http://127.0.0.1:2019)."),
    route: name('the @id of the route', 'web').describe('The @id of the Caddy route whose reverse_proxy handler’s upstreams cutover sets.'),
  });
  true satisfies Same<z.output<typeof caddy>, CaddyTraffic>;

  // DNS: one object per api, so each names only the keys its server needs.
  const dnsCommon = {
    kind: z
      .literal('dns')
      .describe("dns: cutover sets an A/AAAA record to the live slot's addresses (switches are eventual: clients cache)."),
    zone: z
      .string()
      .regex(FQDN, { error: 'expected a zone with its final dot, like example.test.' })
      .describe('The zone that holds the record, with its final dot.'),
    record: z
      .string()
      .regex(FQDN, { error: 'expected a record name with its final dot, like web.example.test.' })
      .describe('The name users resolve, with its final dot; cutover owns its A/AAAA records.'),
    ttl: positiveInt(86_400)
      .default(TRAFFIC_DEFAULTS.dnsTtl)
      .meta({ description: 'TTL of the record in seconds; analysis of a new slot starts this long after the switch (default 5).' }),
    timeout: duration(1)
      .prefault(TRAFFIC_DEFAULTS.dnsTimeout)
      .meta({ description: 'How long a switch waits for the authoritative server to answer the new addresses (default 10s).' }),
  };
  const powerdns = z.strictObject({
    ...dnsCommon,
    api: z.literal('powerdns').describe('powerdns: the record is set through the PowerDNS HTTP API.'),
    server: httpUrl('http://127.0.0.1:8081')
      .transform((u) => u.replace(/\/+$/, ''))
      .meta({ description: 'The PowerDNS HTTP API (webserver) base URL.' }),
    serverId: name('the PowerDNS server id', 'localhost')
      .default('localhost')
      .describe('The PowerDNS server id in the API path (default localhost).'),
    apiKeyEnv: envName('apiKeyEnv', 'PDNS_API_KEY')
      .default(TRAFFIC_DEFAULTS.pdnsApiKeyEnv)
      .meta({ description: 'Environment variable holding the API key (X-API-Key); default PDNS_API_KEY.' }),
    nameserver: address.optional().meta({ description: 'Where the switch is confirmed by a DNS query (default: the API host, port 53).' }),
  });
  const rfc2136 = z.strictObject({
    ...dnsCommon,
    api: z.literal('rfc2136').describe('rfc2136: the record is set by dynamic updates signed with TSIG (bind9 and others).'),
    server: address.meta({ description: 'The primary server that takes dynamic updates (RFC 2136): host:port.' }),
    tsig: z
      .strictObject({
        name: z
          .string()
          .regex(FQDN, { error: 'expected the TSIG key name with its final dot, like cutover.' })
          .describe('The TSIG key name, with its final dot, as the server knows it.'),
        algorithm: z.literal('hmac-sha256').default('hmac-sha256').describe('The TSIG algorithm; hmac-sha256 (the default) only.'),
        secretEnv: envName('secretEnv', 'CUTOVER_TSIG_SECRET')
          .default(TRAFFIC_DEFAULTS.tsigSecretEnv)
          .meta({ description: 'Environment variable holding the base64 secret, as tsig-keygen prints it; default CUTOVER_TSIG_SECRET.' }),
      })
      .describe('The TSIG key the updates are signed with.'),
    nameserver: address.optional().meta({ description: 'Where the switch is confirmed by a DNS query (default: server).' }),
  });
  const dns = z.discriminatedUnion('api', [powerdns, rfc2136], {
    error: (iss) =>
      iss.code === 'invalid_union' ? 'api is powerdns (the PowerDNS HTTP API) or rfc2136 (dynamic updates with TSIG)' : undefined,
  });
  true satisfies Same<z.output<typeof powerdns>, PowerDnsTraffic>;
  true satisfies Same<z.output<typeof rfc2136>, Rfc2136Traffic>;

  const kubernetesService = z.strictObject({
    kind: z.literal('kubernetes-service').describe("kubernetes-service: cutover patches a Service's selector to the live slot."),
    service: z
      .string()
      .regex(DNS_NAME, { error: 'expected a Kubernetes Service name: lowercase letters, digits, - and .' })
      .describe('The Service whose selector cutover sets.'),
    namespace: z
      .string()
      .regex(DNS_LABEL, { error: 'expected a Kubernetes namespace: lowercase letters, digits and -' })
      .default(TRAFFIC_DEFAULTS.kubernetesNamespace)
      .describe('The namespace of the Service (default default).'),
    selectorKey: z
      .string()
      .regex(LABEL_KEY, { error: 'expected a label key, like slot or app.example.com/slot' })
      .default(TRAFFIC_DEFAULTS.selectorKey)
      .meta({
        description:
          "The Service selector's key whose value is the live slot (blue or green); the kubernetes provider labels pods with it.",
      }),
    httpRoute: z
      .string()
      .regex(DNS_NAME, { error: 'expected a Gateway API HTTPRoute name: lowercase letters, digits, - and .' })
      .optional()
      .meta({
        description:
          'A Gateway API HTTPRoute in the same namespace whose backendRefs <service>-blue and <service>-green get the weights of a progressive shift.',
      }),
    kubeconfig: nonEmpty('a kubeconfig file')
      .transform((p) => path.resolve(dir, p))
      .optional()
      .meta({ description: 'The kubeconfig file (default: the pod service account in a cluster, else $KUBECONFIG or ~/.kube/config).' }),
    context: nonEmpty('a kubeconfig context').optional().describe("The kubeconfig's context to use (default: its current-context)."),
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
