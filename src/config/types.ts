// The validated, normalised config: what the rest of cutover reads. Durations are milliseconds,
// addresses are `host:port` strings, paths are absolute. The schema (schema.ts) produces exactly this.

export type SlotName = 'blue' | 'green';
export const SLOTS: readonly SlotName[] = ['blue', 'green'];

export interface Config {
  /** Absolute path of the config file, and its folder. */
  file: string;
  dir: string;
  api: { listen: string; hosts: string[]; metricsToken: boolean };
  /** Absolute; default `.cutover` beside the config file. */
  stateDir: string;
  /** Where releases, events, tokens and route tables live: SQLite in stateDir, or an etcd cluster (a fleet). */
  store: StoreConfig;
  /** How a controller with an etcd store works with the routers of its fleet. */
  fleet: FleetConfig;
  /** The long-lived process that owns the listeners, the routers and the replicas (src/daemon/). */
  supervisor: SupervisorConfig;
  services: Record<string, ServiceConfig>;
  /** Services released together (`cutover deploy --group`), by group name. */
  groups: Record<string, string[]>;
  /** Webhooks told about release events. */
  notifications: NotificationsConfig;
  /** Plain HTTP that answers ACME HTTP-01 and redirects everything else to https. */
  httpRedirect?: string;
}

/** The release events a webhook can ask for. */
export const WEBHOOK_EVENTS = [
  'release-started',
  'gate-failed',
  'analysis-failed',
  'promoted',
  'rolled-back',
  'retired',
  'failed',
  'aborted',
  'hook-failed',
  'certificate-failed',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** Where a release runs hooks, in the order it reaches them. */
export const HOOK_POINTS = [
  'beforeProvision',
  'afterProvision',
  'beforeSwitch',
  'afterSwitch',
  'afterPromote',
  'beforeRetire',
  'onRollback',
  'onFailure',
] as const;
export type HookPoint = (typeof HOOK_POINTS)[number];

export type HookConfig =
  | { kind: 'command'; run: string; timeout: number }
  | { kind: 'webhook'; url: string; headers: Record<string, string>; timeout: number };

export type HooksConfig = Partial<Record<HookPoint, HookConfig[]>>;

export interface WebhookConfig {
  url: string;
  events: WebhookEvent[];
  /** Name of the environment variable that holds the HMAC-SHA256 key (never the key itself). */
  secret?: string;
}

export interface NotificationsConfig {
  webhooks: WebhookConfig[];
}

export type StoreConfig = { kind: 'sqlite' } | { kind: 'etcd'; endpoints: string[]; prefix: string };

export interface FleetConfig {
  /** Whether `cutover up` also routes users' traffic (as a fleet router in its own process). */
  router: boolean;
  /** How long a switch waits for every live router to serve the new generation. */
  ackTimeout: number;
  /** After ackTimeout: `fail` the switch (it is recorded; the release step fails), or `proceed`. */
  onLaggingRouters: 'fail' | 'proceed';
}

export interface SupervisorConfig {
  /** How long routers and replicas keep serving with no controller attached, in ms; then all stop. */
  grace: number;
}

export interface StaticProvider {
  kind: 'static';
  blue: string[];
  green: string[];
}

export interface ProcessProvider {
  kind: 'process';
  command: string[];
  replicas: number;
  /** Replicas a new slot starts with for its gates and preview; scaled up to `replicas` before the switch. */
  previewReplicas?: number;
  /** Absolute; the config file's folder unless provider.cwd says otherwise. */
  cwd: string;
  env: Record<string, string>;
  /** SIGTERM, then SIGKILL after this. */
  stopGrace: number;
}

export interface KubernetesProvider {
  kind: 'kubernetes';
  namespace: string;
  /** The app label and the Deployments' prefix (`<name>-blue`); unset: the service name. */
  name?: string;
  /** With `{version}`. */
  image: string;
  /** The container port: targets are `<pod IP>:<port>`. */
  port: number;
  replicas: number;
  /** Pods a new slot starts with for its gates and preview; scaled up to `replicas` before the switch. */
  previewReplicas?: number;
  env: Record<string, string>;
  /** ms until every replica of a slot must be ready. */
  rolloutTimeout: number;
  /** Absolute; unset: in-cluster service account, else $KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string;
  context?: string;
}

export type ProviderConfig = StaticProvider | ProcessProvider | KubernetesProvider;
export type ProviderKind = ProviderConfig['kind'];

/** The embedded router (default): users' traffic arrives at `listen`. */
export interface RouterTraffic {
  kind: 'router';
}

/** HAProxy driven through its runtime API: the slots' targets are dynamic servers of `backend`. */
export interface HaproxyTraffic {
  kind: 'haproxy';
  /** The stats socket (`level admin`): an absolute path of a unix socket, or `host:port`. */
  socket: string;
  backend: string;
}

/** nginx: cutover writes `upstream <upstream> { ... }` into `upstreamFile`, checks, then reloads. */
export interface NginxTraffic {
  kind: 'nginx';
  /** Absolute. */
  upstreamFile: string;
  upstream: string;
  /** Run after the file is written and checked (default `nginx -s reload`). */
  reload: string[];
  /** Run before the reload; a failure refuses the change and puts the old file back (default `nginx -t`). */
  check: string[];
}

/** Caddy driven through its admin API: the upstreams of the reverse_proxy in the route with `@id` `route`. */
export interface CaddyTraffic {
  kind: 'caddy';
  /** The admin endpoint, like http://127.0.0.1:2019. */
  admin: string;
  route: string;
}

interface DnsTrafficCommon {
  kind: 'dns';
  /** With the final dot: `example.test.` */
  zone: string;
  /** The name users resolve, with the final dot: `web.example.test.` */
  record: string;
  /** Seconds; resolvers may serve the old addresses this long after a switch. */
  ttl: number;
  /** ms a switch waits for the authoritative server to answer the new addresses. */
  timeout: number;
  /** `host:port` where the switch is confirmed by a query; unset: see each api. */
  nameserver?: string;
}

/** DNS through the PowerDNS HTTP API: the record's A/AAAA RRsets are replaced by the live slot's addresses. */
export interface PowerDnsTraffic extends DnsTrafficCommon {
  api: 'powerdns';
  /** The API's base URL, like http://127.0.0.1:8081 (no trailing slash). */
  server: string;
  serverId: string;
  /** Name of the environment variable holding the API key (never the key itself). */
  apiKeyEnv: string;
}

/** DNS through RFC 2136 dynamic updates signed with TSIG, to the zone's primary (BIND, Knot, PowerDNS). */
export interface Rfc2136Traffic extends DnsTrafficCommon {
  api: 'rfc2136';
  /** `host:port` of the primary. */
  server: string;
  tsig: { name: string; algorithm: 'hmac-sha256'; secretEnv: string };
}

/** DNS: the record's addresses are the live slot's (PowerDNS HTTP API or RFC 2136 updates). */
export type DnsTraffic = PowerDnsTraffic | Rfc2136Traffic;

/** A Kubernetes Service whose selector picks the live slot's pods. */
export interface KubernetesServiceTraffic {
  kind: 'kubernetes-service';
  service: string;
  namespace: string;
  /** The selector key whose value is the live slot's name. */
  selectorKey: string;
  /** An HTTPRoute whose backendRefs `<service>-blue`/`<service>-green` carry the weights of a shift. */
  httpRoute?: string;
  /** Absolute; unset: in-cluster service account, else $KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string;
  context?: string;
}

export type TrafficConfig = RouterTraffic | HaproxyTraffic | NginxTraffic | CaddyTraffic | DnsTraffic | KubernetesServiceTraffic;
export type TrafficKind = TrafficConfig['kind'];

export interface HealthConfig {
  path: string;
  interval: number;
  timeout: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  /** Expected status; default any 2xx/3xx. */
  expectStatus?: number;
  headers: Record<string, string>;
}

export interface TimeoutsConfig {
  /** Upstream TCP connect. */
  connect: number;
  /** Client must send a whole request head within this. */
  headers: number;
  /** Idle keep-alive client connection is closed after this. */
  idle: number;
  /** Upstream must start its response head within this after the request head is sent. */
  response: number;
  /** Idle pooled upstream connection is closed after this. */
  upstreamIdle: number;
  /** A request body must make progress within this (reset on every read), or the client gets 408. */
  body: number;
}

/** A page the router answers with, read from its file when the config was loaded. */
export interface PageFile {
  file: string;
  body: string;
  contentType: string;
}

/** The page of `cutover maintenance on`. */
export interface MaintenanceConfig {
  /** Default: a plain HTML page (router/pages.ts). */
  page?: PageFile;
  /** ms; sent as Retry-After in seconds. */
  retryAfter: number;
  message?: string;
}

export interface LimitsConfig {
  /** Largest request head in bytes; larger gets 431. */
  maxHeaderBytes: number;
  /** Most header lines; more gets 431. */
  maxHeaders: number;
  /** Largest request body in bytes; larger gets 413. No limit when unset. */
  maxRequestBody?: number;
  /** Most open client connections per listener (0: no limit); more get 503 and are closed. */
  maxConnections: number;
}

export interface HttpGateRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  expect: {
    status?: number;
    headers?: Record<string, string>;
    body?: string;
    bodyRegex?: string;
    json?: Record<string, unknown>;
    maxLatency?: number;
  };
}

export type GateConfig =
  | { http: { requests: HttpGateRequest[]; timeout: number } }
  | { command: { run: string; timeout: number } }
  | { load: { rate: number; duration: number; connections: number; maxErrorRate: number; maxP99?: number; timeout?: number } }
  | { mirror: { share: number; duration: number; maxErrorRateDelta: number } };

export type ShiftConfig = 'instant' | { steps: number[]; hold: number };

export interface AnalysisRule {
  metric: 'error_rate' | 'p50' | 'p90' | 'p99' | 'mean' | 'prometheus' | 'web';
  max?: number;
  min?: number;
  baseline?: number;
  /** prometheus: the PromQL query. */
  query?: string;
  /** web: the HTTP API asked, and the path to the number in its JSON answer. */
  url?: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  jsonPath?: string;
  timeout?: number;
  /** Measured and shown, never acted on. */
  dryRun?: boolean;
}

export interface AnalysisConfig {
  interval: number;
  window: number;
  rules: AnalysisRule[];
  minSamples: number;
  failureLimit: number;
  inconclusive: 'hold' | 'rollback' | 'pass';
  /** Analysis goes on, every watchInterval, while a promoted release's standby slot exists. */
  watchStandby: boolean;
  watchInterval: number;
  /** Idempotent requests the new slot fails are retried once on the standby slot while a release shifts or observes. */
  retryOnStandby: boolean;
  /** Most retries a second per router process. */
  retryBudget: number;
  /** Lower-case name of a header that marks a request as idempotent, for the retry. */
  retryHeader?: string;
  prometheus?: { url: string };
}

/** TLS on a service's listener: a certificate and key on disk (reloaded when they change), or ACME. */
export type TlsConfig = { certificate: string; key: string } | { acme: AcmeConfig };

export interface AcmeConfig {
  email: string;
  /** The ACME directory URL (Let's Encrypt by default). */
  directory: string;
  /** Renew when this much validity is left (ms), at most a third of the lifetime. */
  renewBefore: number;
}

export interface ServiceConfig {
  name: string;
  /**
   * Where the embedded router listens. With an external balancer (`traffic`) it may be left out of
   * the file: the router then takes a free loopback port (INTERNAL_LISTEN), for preview and gates only.
   */
  listen: string;
  /** Host names this service answers on its listener (exact, or `*.` wildcards); empty: any. */
  hosts: string[];
  /** Only requests under this path are this service's. */
  pathPrefix?: string;
  /** Remove pathPrefix from the path sent upstream. */
  stripPrefix: boolean;
  tls?: TlsConfig;
  /** The file's httpRedirect listener, on every service with tls (it serves them all). */
  httpRedirect?: string;
  /** stateDir/acme, on every service with tls.acme. */
  acmeStorage?: string;
  /** Router processes sharing the listener (reusePort). 1 = in the daemon's own process. */
  workers: number;
  drain: number;
  timeouts: TimeoutsConfig;
  limits: LimitsConfig;
  /** Add a `Via` header to proxied messages (off by default). */
  via: boolean;
  /** Peers (addresses or CIDRs) whose forwarding headers are appended to instead of replaced. */
  trustedProxies: string[];
  /** Pages for the router's own answers, by status ("502"); the rest get plain text. */
  errorPages: Record<string, PageFile>;
  /** buffer.requests: bodies are read whole (at most maxMemory bytes) before the upstream is connected. */
  buffer: { requests: boolean; maxMemory: number };
  /** Response compression; off unless enabled. */
  compression: { enabled: boolean; types: string[]; minSize: number; encodings: ('br' | 'zstd' | 'gzip')[] };
  maintenance: MaintenanceConfig;
  provider: ProviderConfig;
  /** What moves users' traffic between the slots: the embedded router, or an external balancer. */
  traffic: TrafficConfig;
  health: HealthConfig;
  gates: GateConfig[];
  approval: 'auto' | 'manual';
  approvalTimeout?: number;
  onTimeout: 'abort' | 'promote';
  /** A release with no event for this long is flagged (and with onProgressDeadline abort, stopped). */
  progressDeadline?: number;
  onProgressDeadline: 'flag' | 'abort';
  shift: ShiftConfig;
  /** Whether a switch is refused when the slots differ besides their version (`cutover parity`). */
  parity: { strict: boolean };
  analysis: AnalysisConfig;
  standby: number;
  preview: { header: string; cookie?: string; listen?: string };
  sticky: { cookie: string; attributes: string };
  migrations?: { expand?: string; contract?: string; lint?: string; database?: string };
  /** Commands and webhooks at the points of a release; empty when none. */
  hooks: HooksConfig;
}
