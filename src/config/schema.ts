// The schema of cutover.yaml: what may be written (the input side, published as JSON Schema for
// editors) and what the rest of cutover reads (the output side, exactly `Config`).
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { parseHostPort, sameListener, type HostPort } from './address.ts';
import { formatDuration } from './duration.ts';
import {
  address,
  always,
  command,
  cookieName,
  duration,
  headerMap,
  headerName,
  httpStatus,
  messageOf,
  nonEmpty,
  positiveInt,
  record,
  share,
  storeUrl,
  urlPath,
} from './fields.ts';
import type {
  AnalysisConfig,
  AnalysisRule,
  Config,
  NotificationsConfig,
  FleetConfig,
  GateConfig,
  HealthConfig,
  HttpGateRequest,
  KubernetesProvider,
  LimitsConfig,
  ProcessProvider,
  ProviderKind,
  ServiceConfig,
  ShiftConfig,
  StaticProvider,
  SupervisorConfig,
  TimeoutsConfig,
} from './types.ts';
import { WEBHOOK_EVENTS } from './types.ts';
import { edgeProblems, hosts, pathPrefix, sameSharedListen, size, stripPrefix, tls } from './edge-schema.ts';
import { hooksSchema } from './hooks-schema.ts';
import { trafficSchema } from './traffic-schema.ts';

/** Defaults, as a user would write them. */
export const DEFAULTS = {
  apiListen: '127.0.0.1:9900',
  stateDir: '.cutover',
  workers: 1,
  drain: '30s',
  timeouts: { connect: '5s', headers: '10s', idle: '60s', response: '60s', upstreamIdle: '4s', body: '30s' },
  limits: { maxHeaderBytes: 16384, maxHeaders: 100, maxConnections: 0 },
  via: false,
  health: { path: '/', interval: '1s', timeout: '1s', healthyThreshold: 1, unhealthyThreshold: 2 },
  approval: 'auto',
  onTimeout: 'abort',
  shift: 'instant',
  shiftHold: '30s',
  // 100 ms ticks over a 1 s lookback, two failed ticks in a row: a version that answers 500 is rolled
  // back about 0.2 s after it goes live, one that answers slowly about 0.2 s after its requests pass
  // the rule's max (README, "Analysis timing"). minSamples keeps a trickle of traffic from deciding.
  analysis: {
    interval: '100ms',
    window: '5m',
    rules: [{ metric: 'error_rate', max: 0.01 }],
    minSamples: 20,
    failureLimit: 2,
    inconclusive: 'hold',
    // While the old slot waits on standby after promotion, analysis goes on at one tick a second.
    watchStandby: true,
    watchInterval: '1s',
  },
  // A service whose file has no analysis section did not ask for a 5-minute watch that can hold: it
  // gets a short one over the router's error rate that rolls back on evidence of failure and goes on
  // (with a warning in the events) when there is too little traffic to judge.
  analysisWithoutSection: { window: '30s', inconclusive: 'pass' },
  standby: '30m',
  previewHeader: 'x-cutover-preview',
  stickyCookie: 'cutover-slot',
  stickyAttributes: 'Path=/; HttpOnly; SameSite=Lax',
  replicas: 1,
  stopGrace: '10s',
  kubernetesNamespace: 'default',
  kubernetesRolloutTimeout: '5m',
  httpGateTimeout: '1m',
  httpGateMethod: 'GET',
  commandGateTimeout: '5m',
  loadGateConnections: 10,
  loadGateMaxErrorRate: 0.01,
  mirrorMaxErrorRateDelta: 0.01,
  store: 'sqlite',
  fleet: { router: true, ackTimeout: '5s', onLaggingRouters: 'fail' },
  supervisorGrace: '60s',
} as const;

/** Where the embedded router listens when an external balancer has the users and `listen` is left out: a free loopback port. */
export const INTERNAL_LISTEN = '127.0.0.1:0';

/** What to write when there is no service yet. */
export const NO_SERVICES =
  'describe at least one service, like services: { web: { listen: 127.0.0.1:8080, provider: { command: node app.js } } }';

export const SERVICE_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

// ---- router -------------------------------------------------------------------------------------

const timeouts = z
  .strictObject({
    connect: duration(1).prefault(DEFAULTS.timeouts.connect),
    headers: duration(1).prefault(DEFAULTS.timeouts.headers),
    idle: duration(1).prefault(DEFAULTS.timeouts.idle),
    response: duration(1).prefault(DEFAULTS.timeouts.response),
    upstreamIdle: duration(1).prefault(DEFAULTS.timeouts.upstreamIdle),
    body: duration(1)
      .prefault(DEFAULTS.timeouts.body)
      .meta({ description: 'A request body must make progress (bytes arrive) within this, or the client gets 408 and is closed.' }),
  })
  .prefault({});
true satisfies Same<z.output<typeof timeouts>, TimeoutsConfig>;

const limits = z
  .strictObject({
    maxHeaderBytes: z.int().min(1024).max(1_048_576).default(DEFAULTS.limits.maxHeaderBytes),
    maxHeaders: positiveInt(10_000).default(DEFAULTS.limits.maxHeaders),
    maxRequestBody: size
      .optional()
      .meta({ description: 'Largest request body (bytes, or 10MB, 512KiB); larger gets 413. No limit when unset.' }),
    maxConnections: z.int().min(0).max(10_000_000).default(DEFAULTS.limits.maxConnections).meta({
      description: 'Most client connections open at once per listener (0: no limit); beyond it a connection gets 503 and is closed.',
    }),
  })
  .prefault({});
true satisfies Same<z.output<typeof limits>, LimitsConfig>;

// ---- providers ----------------------------------------------------------------------------------

const processCommand = z
  .union(
    [
      nonEmpty('a command, like node app.js'),
      z
        .array(nonEmpty('a program or argument'))
        .min(1, { error: 'the command list is empty; write the program and its arguments, like [node, app.js]' }),
    ],
    {
      error: (iss) =>
        iss.input === undefined ? undefined : 'expected a command: a string like node app.js, or a list like [node, app.js]',
    },
  )
  .transform((c) => (typeof c === 'string' ? c.trim().split(/\s+/) : c));

function processProvider(dir: string) {
  return z.strictObject({
    kind: z.literal('process').default('process'),
    command: processCommand,
    replicas: positiveInt(1000).default(DEFAULTS.replicas),
    cwd: nonEmpty('a folder')
      .default('.')
      .transform((p) => path.resolve(dir, p))
      .meta({
        description: "The folder replicas start in; relative to this file, and this file's folder by default. {version} is replaced.",
      }),
    env: z
      .record(
        z.string().regex(ENV_NAME, {
          error: (iss) => `${JSON.stringify(iss.input)} is not a valid environment variable name; use letters, digits and _`,
        }),
        z
          .union([z.string(), z.number(), z.boolean()], { error: 'expected a string (numbers and true/false are turned into strings)' })
          .transform(String),
      )
      .default({}),
    stopGrace: duration().prefault(DEFAULTS.stopGrace),
  });
}
true satisfies Same<z.output<ReturnType<typeof processProvider>>, ProcessProvider>;

const staticProvider = z
  .strictObject({
    kind: z.literal('static'),
    blue: z.array(address).min(1, { error: 'blue needs at least one address, like [127.0.0.1:3001]' }),
    green: z.array(address).default([]),
    // Named so that it is refused with a reason instead of as an unknown key: it was accepted once
    // and never run. A key either works or validate refuses it.
    hooks: z.unknown().optional().meta({ description: 'Not supported: refused by validate.' }),
  })
  .superRefine((p, ctx) => {
    if (p.hooks !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message:
          'provider.hooks is not run by cutover: the static provider only knows your addresses, you start and stop what runs there; remove provider.hooks',
        path: ['hooks'],
        input: p.hooks,
      });
    }
  })
  .transform(({ hooks: _, ...p }): StaticProvider => p);
true satisfies Same<z.output<typeof staticProvider>, StaticProvider>;

/**
 * The provider kinds this build can run. A kind whose provider is not built yet is refused by
 * `cutover validate` rather than by `up` later; a provider adds its kind here in the change that
 * builds it.
 */
export const PROVIDERS_AVAILABLE: ReadonlySet<ProviderKind> = new Set<ProviderKind>(['process', 'static', 'kubernetes']);

function kubernetesProvider(dir: string) {
  return z.strictObject({
    kind: z.literal('kubernetes'),
    namespace: z
      .string()
      .regex(DNS_LABEL, { error: 'expected a Kubernetes namespace: lowercase letters, digits and -' })
      .default(DEFAULTS.kubernetesNamespace),
    name: z
      .string()
      .regex(DNS_LABEL, { error: 'expected a name for the app label and the Deployments: lowercase letters, digits and -' })
      .optional()
      .meta({ description: 'The app label; the slots run as the Deployments <name>-blue and <name>-green (default: the service name).' }),
    image: nonEmpty('a container image, like registry.example/web:{version}')
      .refine((i) => i.includes('{version}'), {
        error: 'the image must contain {version}, like registry.example/web:{version}, so each release runs its own version',
      })
      .meta({ description: 'The container image; {version} is replaced by the release version.' }),
    port: z.int().min(1).max(65535).meta({ description: 'The port the container listens on (PORT is set to it).' }),
    replicas: positiveInt(1000).default(DEFAULTS.replicas),
    env: z
      .record(
        z.string().regex(ENV_NAME, { error: (iss) => `${JSON.stringify(iss.input)} is not a valid environment variable name` }),
        z.union([z.string(), z.number(), z.boolean()]).transform(String),
      )
      .default({}),
    rolloutTimeout: duration(1)
      .prefault(DEFAULTS.kubernetesRolloutTimeout)
      .meta({ description: 'How long a slot may take until every replica is ready.' }),
    kubeconfig: nonEmpty('a kubeconfig file')
      .transform((p) => path.resolve(dir, p))
      .optional()
      .meta({ description: 'Default: the pod service account in a cluster, else $KUBECONFIG or ~/.kube/config.' }),
    context: nonEmpty('a kubeconfig context').optional(),
  });
}
true satisfies Same<z.output<ReturnType<typeof kubernetesProvider>>, KubernetesProvider>;

// ---- health and gates ---------------------------------------------------------------------------

const health = z
  .strictObject({
    path: urlPath.default(DEFAULTS.health.path),
    interval: duration(1).prefault(DEFAULTS.health.interval),
    timeout: duration(1).prefault(DEFAULTS.health.timeout),
    healthyThreshold: positiveInt(100).default(DEFAULTS.health.healthyThreshold),
    unhealthyThreshold: positiveInt(100).default(DEFAULTS.health.unhealthyThreshold),
    expectStatus: httpStatus.optional(),
    headers: headerMap.default({}),
  })
  .prefault({});
true satisfies Same<z.output<typeof health>, HealthConfig>;

const httpGateRequest = z.strictObject({
  method: z
    .string()
    .regex(/^[A-Za-z]+$/, { error: 'expected an HTTP method, like GET or POST' })
    .toUpperCase()
    .default(DEFAULTS.httpGateMethod),
  path: urlPath,
  headers: headerMap.default({}),
  body: z.string().optional(),
  expect: z
    .strictObject({
      status: httpStatus.optional(),
      headers: headerMap.optional(),
      body: z.string().optional(),
      bodyRegex: z
        .string()
        .superRefine((source, ctx) => {
          const message = messageOf(() => new RegExp(source));
          if (message)
            ctx.addIssue({ code: 'custom', message: `not a valid regular expression (${message}); fix or quote it`, input: source });
        })
        .optional(),
      json: z.record(z.string(), z.unknown()).optional(),
      maxLatency: duration(1).optional(),
    })
    .prefault({}),
});
true satisfies Same<z.output<typeof httpGateRequest>, HttpGateRequest>;

const gateKinds = {
  http: z.strictObject({
    requests: z
      .array(httpGateRequest)
      .min(1, { error: 'an http gate needs at least one request, like [{ path: /, expect: { status: 200 } }]' }),
    timeout: duration(1).prefault(DEFAULTS.httpGateTimeout),
  }),
  command: z.strictObject({
    run: command,
    timeout: duration(1).prefault(DEFAULTS.commandGateTimeout),
  }),
  load: z.strictObject({
    rate: z.number().positive({ error: 'rate is requests per second and must be above 0' }),
    duration: duration(1),
    connections: positiveInt(10_000).default(DEFAULTS.loadGateConnections),
    maxErrorRate: share('maxErrorRate').default(DEFAULTS.loadGateMaxErrorRate),
    maxP99: duration(1).optional(),
    timeout: duration(1).optional(),
  }),
  mirror: z.strictObject({
    share: z
      .number()
      .gt(0, { error: 'share is the fraction of live requests to mirror, above 0 and at most 1, like 0.1' })
      .max(1, { error: 'share is the fraction of live requests to mirror, above 0 and at most 1, like 0.1' }),
    duration: duration(1),
    maxErrorRateDelta: share('maxErrorRateDelta').default(DEFAULTS.mirrorMaxErrorRateDelta),
  }),
};
const GATE_KINDS = Object.keys(gateKinds).join(', ');

const gate = z
  .strictObject({
    http: gateKinds.http.optional(),
    command: gateKinds.command.optional(),
    load: gateKinds.load.optional(),
    mirror: gateKinds.mirror.optional(),
  })
  .meta({ minProperties: 1, maxProperties: 1, description: `One gate: exactly one of ${GATE_KINDS}.` })
  .transform((g, ctx): GateConfig => {
    const kinds = Object.keys(g).filter((k) => g[k as keyof typeof g] !== undefined);
    if (kinds.length === 1) {
      if (g.http) return { http: g.http };
      if (g.command) return { command: g.command };
      if (g.load) return { load: g.load };
      if (g.mirror) return { mirror: g.mirror };
    }
    // An unknown key (`htpp`) already says what is wrong; zod runs this transform despite it.
    if (ctx.issues.length === 0) {
      const message =
        kinds.length === 0
          ? `a gate needs one of ${GATE_KINDS}`
          : `a gate has exactly one kind, this one has ${kinds.join(' and ')}; make each its own list item`;
      ctx.addIssue({ code: 'custom', message, input: g });
    }
    return z.NEVER;
  });

// ---- shift and analysis -------------------------------------------------------------------------

const steps = z
  .array(z.int().min(1).max(100, { error: 'steps are percentages of traffic, at most 100' }))
  .min(1, { error: 'write the steps as percentages ending with 100, like [10, 50, 100]' })
  .superRefine((s, ctx) => {
    for (let i = 1; i < s.length; i++) {
      if ((s[i] as number) <= (s[i - 1] as number)) {
        ctx.addIssue({
          code: 'custom',
          message: `steps must go up: ${s[i]} comes after ${s[i - 1]}; write them like [10, 50, 100]`,
          path: [i],
          input: s[i],
        });
      }
    }
    if (s.length > 0 && s[s.length - 1] !== 100) {
      ctx.addIssue({ code: 'custom', message: 'the last step must be 100 (all traffic); add it, like [10, 50, 100]', input: s });
    }
  });

const shift = z
  .union([z.literal('instant'), z.strictObject({ steps, hold: duration().prefault(DEFAULTS.shiftHold) })], {
    error: (iss) =>
      iss.input === undefined
        ? undefined
        : `expected instant, or steps like { steps: [10, 50, 100], hold: 30s }, got ${JSON.stringify(iss.input)}`,
  })
  .default(DEFAULTS.shift)
  .meta({ description: 'instant (one swap), or { steps: [10, 50, 100], hold: 30s }.' });
true satisfies Same<z.output<typeof shift>, ShiftConfig>;

const baseline = z.number().positive({ error: "baseline is a multiple of the old slot's value, like 1.5, and must be above 0" });
const rule = z
  .discriminatedUnion('metric', [
    z.strictObject({
      metric: z.literal('error_rate'),
      max: share('max').optional(),
      min: share('min').optional(),
      baseline: baseline.optional(),
    }),
    z.strictObject({
      metric: z.enum(['p50', 'p90', 'p99']),
      max: duration().optional(),
      min: duration().optional(),
      baseline: baseline.optional(),
    }),
    z.strictObject({
      metric: z.literal('prometheus'),
      query: nonEmpty('a PromQL query'),
      max: z.number().optional(),
      min: z.number().optional(),
      baseline: baseline.optional(),
    }),
  ])
  .superRefine((r, ctx) => {
    if (r.max === undefined && r.min === undefined && r.baseline === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `a rule needs a bound: max, min or baseline, like { metric: ${r.metric}, max: ${r.metric === 'error_rate' ? '0.01' : r.metric === 'prometheus' ? '1' : '500ms'} }`,
        input: r,
      });
    }
    if (r.max !== undefined && r.min !== undefined && r.min > r.max) {
      ctx.addIssue({ code: 'custom', message: 'min is above max, so no value can pass; swap them', path: ['min'], input: r.min });
    }
  })
  .transform((r): AnalysisRule => r);

const analysis = z
  .strictObject({
    interval: duration(1).prefault(DEFAULTS.analysis.interval),
    window: duration(1).prefault(DEFAULTS.analysis.window),
    rules: z.array(rule).prefault(() => DEFAULTS.analysis.rules.map((r) => ({ ...r }))),
    minSamples: z.int().min(0).default(DEFAULTS.analysis.minSamples),
    failureLimit: positiveInt(1000).default(DEFAULTS.analysis.failureLimit),
    inconclusive: z.enum(['hold', 'rollback', 'pass']).default(DEFAULTS.analysis.inconclusive),
    watchStandby: z.boolean().default(DEFAULTS.analysis.watchStandby).meta({
      description:
        'After promotion, keep judging the new slot while the old one is on standby, and roll back to it at once when a rule fails.',
    }),
    watchInterval: duration(1)
      .prefault(DEFAULTS.analysis.watchInterval)
      .meta({ description: 'How often the standby watch measures (a lower rate than interval).' }),
    prometheus: z
      .strictObject({ url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL, like http://127.0.0.1:9090' }) })
      .optional(),
  })
  .superRefine((a, ctx) => {
    if (a.window < a.interval) {
      ctx.addIssue({
        code: 'custom',
        message: `window (${formatDuration(a.window)}) is shorter than interval (${formatDuration(a.interval)}); make it at least one interval`,
        path: ['window'],
        input: a.window,
      });
    }
    a.rules.forEach((r, i) => {
      if (r.metric === 'prometheus' && !a.prometheus) {
        ctx.addIssue({
          code: 'custom',
          message: 'a prometheus rule needs analysis.prometheus.url, like { url: http://127.0.0.1:9090 }',
          path: ['rules', i, 'metric'],
          input: r.metric,
        });
      }
    });
  })
  .prefault({ ...DEFAULTS.analysisWithoutSection });
true satisfies Same<z.output<typeof analysis>, AnalysisConfig>;

// ---- fleet --------------------------------------------------------------------------------------

const fleet = z
  .strictObject({
    router: z
      .boolean()
      .default(DEFAULTS.fleet.router)
      .meta({ description: 'With an etcd store: whether `cutover up` also routes traffic (false: a controller only).' }),
    ackTimeout: duration(1)
      .prefault(DEFAULTS.fleet.ackTimeout)
      .meta({ description: 'How long a switch waits for every live router to serve it.' }),
    onLaggingRouters: z
      .enum(['fail', 'proceed'])
      .default(DEFAULTS.fleet.onLaggingRouters)
      .meta({ description: 'After ackTimeout: fail the switch, or proceed without the lagging routers.' }),
  })
  .prefault({});
true satisfies Same<z.output<typeof fleet>, FleetConfig>;

// ---- supervisor ---------------------------------------------------------------------------------

const supervisor = z
  .strictObject({
    grace: duration(1).prefault(DEFAULTS.supervisorGrace).meta({
      description:
        'How long the supervisor keeps routers and replicas serving with no controller attached; after it, it drains and stops them all.',
    }),
  })
  .prefault({});
true satisfies Same<z.output<typeof supervisor>, SupervisorConfig>;

// ---- notifications ------------------------------------------------------------------------------

const webhook = z.strictObject({
  url: z
    .url({
      protocol: /^https?$/,
      error: (iss) => `expected an http(s) URL, like https://hooks.slack.com/services/..., got ${JSON.stringify(iss.input)}`,
    })
    .meta({ description: 'Where the JSON body is POSTed (Slack-compatible: it has a `text`).' }),
  events: z
    .array(z.enum(WEBHOOK_EVENTS, { error: `an event is one of ${WEBHOOK_EVENTS.join(', ')}` }))
    .min(1, { error: `name at least one event: ${WEBHOOK_EVENTS.join(', ')}` })
    .meta({ description: 'Which release events are sent to this URL.' }),
  secret: z
    .string()
    .regex(ENV_NAME, {
      error: 'secret names an environment variable that holds the secret (like CUTOVER_WEBHOOK_SECRET), not the secret itself',
    })
    .optional()
    .meta({ description: 'Name of an environment variable holding the HMAC-SHA256 key; the body is signed in X-Cutover-Signature.' }),
});
const notifications = z
  .strictObject({ webhooks: z.array(webhook).default([]) })
  .prefault({})
  .meta({ description: 'Webhooks told about release events; a slow or failing receiver never holds up a release.' });
true satisfies Same<z.output<typeof notifications>, NotificationsConfig>;

// ---- service and file ---------------------------------------------------------------------------

function validCidr(v: string): boolean {
  const slash = v.indexOf('/');
  const ip = slash < 0 ? v : v.slice(0, slash);
  const family = isIP(ip);
  if (family === 0) return false;
  if (slash < 0) return true;
  const bits = v.slice(slash + 1);
  return /^[0-9]{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

function service(dir: string) {
  return z
    .strictObject({
      listen: address.optional().meta({
        description:
          "Where users' traffic arrives: host:port. Optional with an external balancer (traffic), whose users do not pass the router.",
      }),
      hosts,
      pathPrefix,
      stripPrefix,
      tls: tls(dir),
      workers: positiveInt(256).default(DEFAULTS.workers),
      drain: duration().prefault(DEFAULTS.drain),
      timeouts,
      limits,
      via: z.boolean().default(DEFAULTS.via),
      trustedProxies: z
        .array(
          z.string().refine((v) => validCidr(v), {
            error: 'expected an IP address or CIDR, like 10.0.0.0/8, 127.0.0.1 or fd00::/8',
          }),
        )
        .default([])
        .meta({
          description:
            'Peers whose X-Forwarded-For/-Proto/-Host, Forwarded and X-Real-IP are kept and appended to; from anyone else they are replaced.',
        }),
      provider: z.discriminatedUnion('kind', [processProvider(dir), staticProvider, kubernetesProvider(dir)]).superRefine((p, ctx) => {
        if (!PROVIDERS_AVAILABLE.has(p.kind)) {
          ctx.addIssue({
            code: 'custom',
            message: `provider kind ${p.kind} is not available in this version of cutover yet; use kind: process (cutover runs the slots) or kind: static (addresses you run)`,
            path: ['kind'],
            input: p.kind,
          });
        }
      }),
      traffic: trafficSchema(dir),
      health,
      gates: z.array(gate).default([]),
      approval: z.enum(['auto', 'manual']).default(DEFAULTS.approval),
      approvalTimeout: duration(1).optional(),
      onTimeout: z
        .enum(['abort', 'promote'])
        .optional()
        .meta({ description: 'What happens when approvalTimeout runs out (default abort).' }),
      progressDeadline: duration(1).optional().meta({
        description: 'A release that records nothing for this long is flagged in status and events (Argo: progressDeadlineSeconds).',
      }),
      onProgressDeadline: z.enum(['flag', 'abort']).optional().meta({
        description:
          'What a release past its progressDeadline does: flag (default), or abort: aborted before traffic moved, rolled back to the standby slot after.',
      }),
      shift,
      analysis,
      standby: duration().prefault(DEFAULTS.standby),
      preview: z
        .strictObject({
          header: headerName.default(DEFAULTS.previewHeader),
          cookie: cookieName.optional(),
          listen: address.optional(),
        })
        .prefault({}),
      sticky: z
        .strictObject({
          cookie: cookieName.default(DEFAULTS.stickyCookie),
          attributes: z.string().default(DEFAULTS.stickyAttributes),
        })
        .prefault({}),
      hooks: hooksSchema,
      migrations: z
        .strictObject({
          expand: command.optional(),
          contract: command.optional(),
          lint: nonEmpty('a file pattern, like db/expand/*.sql')
            .transform((p) => path.resolve(dir, p))
            .optional(),
          database: nonEmpty('a database').optional(),
        })
        .optional(),
    })
    .superRefine((s, ctx) => {
      const v = record(s) ?? {};
      const kind = record(v.traffic)?.kind ?? 'router';
      if (v.listen === undefined && kind === 'router') {
        ctx.addIssue({
          code: 'custom',
          message:
            "listen is where users' traffic arrives at the embedded router; write it, like listen: 127.0.0.1:8080 (only a service with an external balancer in traffic may leave it out)",
          path: ['listen'],
          input: v.listen,
        });
      }
      if (v.listen === undefined && (v.tls !== undefined || v.pathPrefix !== undefined || (Array.isArray(v.hosts) && v.hosts.length > 0))) {
        ctx.addIssue({
          code: 'custom',
          message: 'hosts, pathPrefix and tls are for the listener users reach; write listen, or leave them to the external balancer',
          path: ['listen'],
          input: v.listen,
        });
      }
      if (v.listen === undefined && typeof v.workers === 'number' && v.workers > 1) {
        ctx.addIssue({
          code: 'custom',
          message: 'workers share the listen address; write listen, or leave workers at 1 (users come through the external balancer)',
          path: ['workers'],
          input: v.workers,
        });
      }
      if (v.approvalTimeout !== undefined && v.approval === 'auto') {
        ctx.addIssue({
          code: 'custom',
          message: 'approvalTimeout only applies with approval: manual; set that or remove approvalTimeout',
          path: ['approvalTimeout'],
          input: v.approvalTimeout,
        });
      }
      if (v.onTimeout !== undefined && v.approvalTimeout === undefined) {
        ctx.addIssue({
          code: 'custom',
          message:
            'onTimeout says what happens when approvalTimeout runs out; set approvalTimeout (with approval: manual) or remove onTimeout',
          path: ['onTimeout'],
          input: v.onTimeout,
        });
      }
      if (v.onProgressDeadline !== undefined && v.progressDeadline === undefined) {
        ctx.addIssue({
          code: 'custom',
          message:
            'onProgressDeadline says what happens when progressDeadline runs out; set progressDeadline (like 10m) or remove onProgressDeadline',
          path: ['onProgressDeadline'],
          input: v.onProgressDeadline,
        });
      }
      for (const problem of dnsAndKubernetesProblems(v)) ctx.addIssue({ code: 'custom', ...problem });
    }, always)
    .transform(
      (s): Omit<ServiceConfig, 'name'> => ({
        ...s,
        listen: s.listen ?? INTERNAL_LISTEN,
        onTimeout: s.onTimeout ?? DEFAULTS.onTimeout,
        onProgressDeadline: s.onProgressDeadline ?? 'flag',
      }),
    );
}

/**
 * What DNS and a Kubernetes Service selector cannot do, refused at validate rather than at the first
 * switch: weights (DNS never; a selector only with an HTTPRoute), and DNS slots it cannot tell apart
 * (a record holds addresses, no ports: process replicas all run on 127.0.0.1, static ones must be IPs).
 */
function dnsAndKubernetesProblems(v: Record<string, unknown>): { message: string; path: PropertyKey[]; input: unknown }[] {
  const traffic = record(v.traffic);
  const provider = record(v.provider);
  const out: { message: string; path: PropertyKey[]; input: unknown }[] = [];
  const steps = record(v.shift)?.steps !== undefined;
  if (traffic?.kind === 'dns') {
    if (steps)
      out.push({ message: 'traffic kind dns cannot split traffic by weights; use shift: instant', path: ['shift'], input: v.shift });
    if (provider !== undefined && (provider.kind ?? 'process') === 'process')
      out.push({
        message:
          'traffic kind dns tells slots apart by IP address, and the process provider runs both slots on 127.0.0.1; use provider kind static (or kubernetes) with each slot on its own IPs',
        path: ['traffic', 'kind'],
        input: traffic.kind,
      });
    if (provider?.kind === 'static') {
      const hosts = (slot: string) =>
        (Array.isArray(provider[slot]) ? (provider[slot] as unknown[]) : []).flatMap((a) => {
          try {
            return [parseHostPort(a).host];
          } catch {
            return []; // reported by the address's own schema
          }
        });
      const blue = hosts('blue');
      const green = hosts('green');
      const named = [...blue, ...green].filter((h) => !isIP(h));
      if (named.length > 0)
        out.push({
          message: `traffic kind dns puts IP addresses in the record; ${named.join(', ')} ${named.length === 1 ? 'is a host name' : 'are host names'}: write the slots' addresses as IPs`,
          path: ['provider'],
          input: provider,
        });
      const shared = blue.filter((h) => green.includes(h));
      if (shared.length > 0)
        out.push({
          message: `traffic kind dns tells slots apart by IP address; blue and green share ${[...new Set(shared)].join(', ')}: give each slot its own IPs`,
          path: ['provider'],
          input: provider,
        });
    }
  }
  if (traffic?.kind === 'kubernetes-service' && steps && traffic.httpRoute === undefined)
    out.push({
      message: 'a Service selector picks one slot at a time; set traffic.httpRoute for shift steps, or use shift: instant',
      path: ['shift'],
      input: v.shift,
    });
  return out;
}

/** Every listener address in a (possibly partly parsed) config, with its path, in file order. */
function listeners(value: unknown): { path: PropertyKey[]; text: string; address: HostPort }[] {
  const out: { path: PropertyKey[]; text: string; address: HostPort }[] = [];
  const add = (p: PropertyKey[], text: unknown): void => {
    if (typeof text !== 'string') return;
    try {
      out.push({ path: p, text, address: parseHostPort(text) });
    } catch {
      // Reported by the field's own schema.
    }
  };
  const root = record(value);
  add(['api', 'listen'], record(root?.api)?.listen);
  add(['httpRedirect'], root?.httpRedirect);
  for (const [name, svc] of Object.entries(record(root?.services) ?? {})) {
    add(['services', name, 'listen'], record(svc)?.listen);
    add(['services', name, 'preview', 'listen'], record(record(svc)?.preview)?.listen);
  }
  return out;
}

const dotted = (p: PropertyKey[]): string => p.map(String).join('.');

/** The whole file, for one config file (relative paths in it resolve against its folder). */
export function configSchema(file: string) {
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  return z
    .strictObject({
      $schema: z.string().optional().meta({ description: 'Ignored; lets editors find this schema.' }),
      notifications,
      store: storeUrl.prefault(DEFAULTS.store),
      fleet,
      supervisor,
      api: z
        .strictObject({
          listen: address.default(DEFAULTS.apiListen),
          hosts: z
            .array(
              z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, { error: 'expected a host name, like cutover.internal' }),
            )
            .default([])
            .meta({
              description:
                'Names (besides IP addresses and localhost) by which the API is reached; any other Host is refused (DNS rebinding).',
            }),
          metricsToken: z
            .boolean()
            .default(false)
            .meta({ description: '/metrics asks for a viewer token, like the API (Prometheus: bearer_token).' }),
        })
        .prefault({}),
      httpRedirect: address.optional().meta({
        description: 'Plain HTTP listener (like 0.0.0.0:80) that answers ACME HTTP-01 challenges and redirects everything else to https.',
      }),
      stateDir: nonEmpty('a folder').default(DEFAULTS.stateDir).meta({ description: 'Store, logs and tokens; relative to this file.' }),
      services: z
        .record(
          // Names are checked in the file's own check below, so a misnamed service still gets its body checked.
          z.string().meta({ pattern: SERVICE_NAME.source }),
          service(dir),
          { error: (iss) => (iss.input === null ? `no services are defined; ${NO_SERVICES}` : undefined) },
        )
        .refine((s) => Object.keys(s).length > 0, {
          error: `no services are defined; ${NO_SERVICES}`,
        }),
    })
    .superRefine((c, ctx) => {
      for (const name of Object.keys(record(record(c)?.services) ?? {})) {
        if (!SERVICE_NAME.test(name)) {
          ctx.addIssue({
            code: 'custom',
            message: `service name ${JSON.stringify(name)} must start with a lowercase letter and hold only a-z, 0-9 and -, at most 63 characters; rename it`,
            path: ['services', name],
            input: name,
          });
        }
      }
      const seen = listeners(c);
      seen.forEach((l, i) => {
        // Services may share a listen address (the edge checks below say how); nothing else may.
        const shared = (o: (typeof seen)[number]): boolean =>
          o.path.length === 3 &&
          l.path.length === 3 &&
          o.path[2] === 'listen' &&
          l.path[2] === 'listen' &&
          sameSharedListen(o.text, l.text);
        const first = seen.slice(0, i).find((o) => sameListener(o.address, l.address) && !shared(o));
        if (first) {
          const api = first.path[0] === 'api' ? ', where the API listens; move it with api.listen' : '';
          ctx.addIssue({
            code: 'custom',
            message: `${l.text} clashes with ${dotted(first.path)} (${first.text}${api}); give every listener its own address`,
            path: l.path,
            input: l.text,
          });
        }
      });
      const anyTls = Object.values(record(record(c)?.services) ?? {}).some((svc) => record(svc)?.tls !== undefined);
      if (record(c)?.httpRedirect !== undefined && !anyTls)
        ctx.addIssue({
          code: 'custom',
          message: 'httpRedirect sends plain HTTP to https, but no service has tls; add tls to a service or remove httpRedirect',
          path: ['httpRedirect'],
          input: record(c)?.httpRedirect,
        });
      for (const p of edgeProblems(record(c)?.services))
        ctx.addIssue({ code: 'custom', message: p.message, path: p.path, input: undefined });
    }, always)
    .transform(
      (c): Config => ({
        file: abs,
        dir,
        api: c.api,
        stateDir: path.resolve(dir, c.stateDir),
        notifications: c.notifications,
        store: c.store,
        fleet: c.fleet,
        supervisor: c.supervisor,
        ...(c.httpRedirect !== undefined ? { httpRedirect: c.httpRedirect } : {}),
        services: Object.fromEntries(
          Object.entries(c.services).map(([name, s]) => [
            name,
            {
              name,
              ...s,
              // What a TLS service's listener needs from the file's top level.
              ...(s.tls !== undefined && c.httpRedirect !== undefined ? { httpRedirect: c.httpRedirect } : {}),
              ...(s.tls !== undefined && 'acme' in s.tls ? { acmeStorage: path.join(path.resolve(dir, c.stateDir), 'acme') } : {}),
            },
          ]),
        ),
      }),
    )
    .meta({ title: 'cutover.yaml', description: 'The config of cutover, blue-green releases for HTTP services.' });
}

// Compile-time proof that the schema produces the shapes the rest of cutover reads.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
true satisfies Same<z.output<ReturnType<typeof service>>, Omit<ServiceConfig, 'name'>>;
true satisfies Same<z.output<ReturnType<typeof configSchema>>, Config>;
