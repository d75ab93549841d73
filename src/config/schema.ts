// The schema of cutover.yaml: what may be written (the input side, published as JSON Schema for
// editors) and what the rest of cutover reads (the output side, exactly `Config`). The service's parts live beside it
// (provider-, gate-, analysis-, edge-, traffic-, hooks-schema.ts) and the checks across fields and services
// in cross-checks.ts; this file puts them together.
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { fileProblems, serviceProblems } from './cross-checks.ts';
import { address, always, command, cookieName, duration, headerName, nonEmpty, positiveInt, storeUrl } from './fields.ts';
import type { Config, NotificationsConfig, FleetConfig, LimitsConfig, ServiceConfig, SupervisorConfig, TimeoutsConfig } from './types.ts';
import { WEBHOOK_EVENTS } from './types.ts';
import { buffer, compression, hosts, pathPrefix, size, stripPrefix, tls } from './edge-schema.ts';
import { hooksSchema } from './hooks-schema.ts';
import { errorPages, maintenance } from './pages-schema.ts';
import { trafficSchema } from './traffic-schema.ts';

import { type Same, DEFAULTS, ENV_NAME, INTERNAL_LISTEN, NO_SERVICES, SERVICE_NAME, stickyAttributes } from './defaults.ts';
import { kubernetesProvider, PROVIDERS_AVAILABLE, processProvider, staticProvider } from './provider-schema.ts';
import { gate, health } from './gate-schema.ts';
import { analysis, shift } from './analysis-schema.ts';

export { DEFAULTS, INTERNAL_LISTEN, NO_SERVICES, SERVICE_NAME } from './defaults.ts';
export { PROVIDERS_AVAILABLE } from './provider-schema.ts';

// ---- router -------------------------------------------------------------------------------------

const timeouts = z
  .strictObject({
    connect: duration(1)
      .prefault(DEFAULTS.timeouts.connect)
      .describe(
        'How long the router waits to connect to a target; then another healthy target of the slot is tried, or the client gets 504 (default 5s).',
      ),
    headers: duration(1)
      .prefault(DEFAULTS.timeouts.headers)
      .describe("How long a client has to send a request's headers; after it, 408 and the connection is closed (default 10s)."),
    idle: duration(1)
      .prefault(DEFAULTS.timeouts.idle)
      .describe('How long a keep-alive client connection may wait for its next request before it is closed (default 60s).'),
    response: duration(1)
      .prefault(DEFAULTS.timeouts.response)
      .describe("How long a target has to start its answer (the response's headers); after it, 504 (default 60s)."),
    upstreamIdle: duration(1)
      .prefault(DEFAULTS.timeouts.upstreamIdle)
      .describe(
        'How long an idle pooled connection to a target is kept for reuse; keep it below the app’s own keep-alive timeout (default 4s).',
      ),
    body: duration(1).prefault(DEFAULTS.timeouts.body).meta({
      description: 'A request body must make progress (bytes arrive) within this, or the client gets 408 and is closed (default 30s).',
    }),
  })
  .prefault({})
  .describe('Timeouts of the router on this service’s listener and towards its targets.');
true satisfies Same<z.output<typeof timeouts>, TimeoutsConfig>;

const limits = z
  .strictObject({
    maxHeaderBytes: z
      .int()
      .min(1024)
      .max(1_048_576)
      .default(DEFAULTS.limits.maxHeaderBytes)
      .describe('Largest request head (request line and headers) in bytes; larger gets 431 (default 16384).'),
    maxHeaders: positiveInt(10_000)
      .default(DEFAULTS.limits.maxHeaders)
      .describe('Most header fields in one request; more gets 431 (default 100).'),
    maxRequestBody: size
      .optional()
      .meta({ description: 'Largest request body (bytes, or 10MB, 512KiB); larger gets 413. No limit when unset.' }),
    maxConnections: z.int().min(0).max(10_000_000).default(DEFAULTS.limits.maxConnections).meta({
      description:
        'Most client connections open at once per listener (0: no limit, the default); beyond it a connection gets 503 and is closed.',
    }),
  })
  .prefault({})
  .describe('Limits on what clients may send to this service’s listener.');
true satisfies Same<z.output<typeof limits>, LimitsConfig>;

// ---- fleet --------------------------------------------------------------------------------------

const fleet = z
  .strictObject({
    router: z
      .boolean()
      .default(DEFAULTS.fleet.router)
      .meta({ description: 'With an etcd store: whether `cutover up` also routes traffic (false: a controller only; default true).' }),
    ackTimeout: duration(1)
      .prefault(DEFAULTS.fleet.ackTimeout)
      .meta({ description: 'How long a switch waits for every live router to serve it (default 5s).' }),
    onLaggingRouters: z
      .enum(['fail', 'proceed'])
      .default(DEFAULTS.fleet.onLaggingRouters)
      .meta({ description: 'After ackTimeout: fail the switch (default), or proceed without the lagging routers.' }),
  })
  .prefault({})
  .describe('A fleet of routers sharing the route table through an etcd store.');
true satisfies Same<z.output<typeof fleet>, FleetConfig>;

// ---- supervisor ---------------------------------------------------------------------------------

const supervisor = z
  .strictObject({
    grace: duration(1).prefault(DEFAULTS.supervisorGrace).meta({
      description:
        'How long the supervisor keeps routers and replicas serving with no controller attached; after it, it drains and stops them all (default 60s).',
    }),
  })
  .prefault({})
  .describe('The long-lived process that owns the listeners and keeps routers and replicas running.');
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
  .strictObject({
    webhooks: z.array(webhook).default([]).describe('URLs POSTed a JSON body on the release events they name (default none).'),
  })
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
      workers: positiveInt(256)
        .default(DEFAULTS.workers)
        .describe('Router processes sharing the listener, to use more cores; a switch is done when all serve it (default 1).'),
      drain: duration()
        .prefault(DEFAULTS.drain)
        .describe(
          'How long long-lived connections (WebSocket, streams) on the old slot may run after a switch before they are closed (default 30s).',
        ),
      timeouts,
      limits,
      via: z.boolean().default(DEFAULTS.via).describe('Add a Via header to requests and answers (default false).'),
      buffer,
      compression,
      errorPages: errorPages(dir),
      maintenance: maintenance(dir),
      trustedProxies: z
        .array(
          z.string().refine((v) => validCidr(v), {
            error: 'expected an IP address or CIDR, like 10.0.0.0/8, 127.0.0.1 or fd00::/8',
          }),
        )
        .default([])
        .meta({
          description:
            'Peers whose X-Forwarded-For/-Proto/-Host, Forwarded and X-Real-IP are kept and appended to; from anyone else they are replaced (default: none).',
        }),
      provider: z
        .discriminatedUnion('kind', [processProvider(dir), staticProvider, kubernetesProvider(dir)])
        .superRefine((p, ctx) => {
          if (!PROVIDERS_AVAILABLE.has(p.kind)) {
            ctx.addIssue({
              code: 'custom',
              message: `provider kind ${p.kind} is not available in this version of cutover yet; use kind: process (cutover runs the slots) or kind: static (addresses you run)`,
              path: ['kind'],
              input: p.kind,
            });
          }
        })
        .describe(
          'Where the slots run: process (cutover starts them on this machine, the default), static (addresses you run), kubernetes.',
        ),
      traffic: trafficSchema(dir),
      health,
      gates: z
        .array(gate)
        .default([])
        .describe('Checks run on the idle slot, in order, before any user sees it; one failing fails the release (default: none).'),
      approval: z
        .enum(['auto', 'manual'])
        .default(DEFAULTS.approval)
        .describe('auto (default): traffic moves once the gates pass; manual: the release waits for `cutover promote`.'),
      approvalTimeout: duration(1)
        .optional()
        .describe('With approval: manual, how long a release waits for `cutover promote` (default: forever).'),
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
      parity: z
        .strictObject({
          strict: z
            .boolean()
            .default(false)
            .describe(
              'Refuse a switch to a slot that differs from the other besides its version (command, variable names, replicas, config hash, what runs), with CUTOVER_E_PARITY_DRIFT (default false: reported only).',
            ),
        })
        .prefault({})
        .describe('The check, before every switch, of what differs between the two slots besides the version (`cutover parity`).'),
      analysis,
      standby: duration()
        .prefault(DEFAULTS.standby)
        .describe('How long the old slot keeps running after promotion, for an instant rollback, before it is retired (default 30m).'),
      preview: z
        .strictObject({
          header: headerName
            .default(DEFAULTS.previewHeader)
            .describe('A request with this header holding the preview token goes to the idle slot (default x-cutover-preview).'),
          cookie: cookieName
            .optional()
            .describe('A cookie holding the preview token does the same as the header, for browsers (default cutover-preview).'),
          listen: address.optional().describe('A listener of its own that always serves the idle slot (default: none).'),
        })
        .prefault({})
        .describe('How testers reach the idle slot before users do.'),
      sticky: z
        .strictObject({
          cookie: cookieName
            .default(DEFAULTS.stickyCookie)
            .describe('During a progressive shift, the cookie that keeps a client on one slot (default cutover-slot).'),
          attributes: z
            .string()
            .regex(/^[\x20-\x7e]*$/, { error: 'cookie attributes are printable ASCII on one line, like Path=/; HttpOnly; SameSite=Lax' })
            .optional()
            .describe(
              'Attributes of the sticky cookie, sent as written (default Path=/; HttpOnly; SameSite=Lax, and Secure when the service has tls).',
            ),
        })
        .prefault({})
        .describe('Keeping a client on one slot while a progressive shift splits traffic.'),
      hooks: hooksSchema,
      migrations: z
        .strictObject({
          expand: command
            .optional()
            .describe('Command run before the new version starts (additive schema changes); failing fails the release.'),
          contract: command
            .optional()
            .describe(
              'Command run when the old slot is retired (removals), since no old code is left; also `cutover migrations contract`.',
            ),
          lint: nonEmpty('a file pattern, like db/expand/*.sql')
            .transform((p) => path.resolve(dir, p))
            .optional()
            .describe('SQL files of the expand step checked for changes that break the running version (`cutover migrations lint`).'),
          database: nonEmpty('a database')
            .optional()
            .describe(
              "The environment variable (set in cutover's own) that holds the database URL the migration commands get (default: none).",
            ),
        })
        .optional()
        .describe('Expand/contract database migrations around a release (default: none).'),
    })
    .superRefine((s, ctx) => {
      for (const p of serviceProblems(s)) ctx.addIssue({ code: 'custom', ...p });
    }, always)
    .transform(
      (s): Omit<ServiceConfig, 'name'> => ({
        ...s,
        listen: s.listen ?? INTERNAL_LISTEN,
        onTimeout: s.onTimeout ?? DEFAULTS.onTimeout,
        onProgressDeadline: s.onProgressDeadline ?? 'flag',
        sticky: { cookie: s.sticky.cookie, attributes: s.sticky.attributes ?? stickyAttributes(s.tls !== undefined) },
      }),
    );
}

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
          listen: address.default(DEFAULTS.apiListen).describe('Where the API and the dashboard listen (default 127.0.0.1:9900).'),
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
            .meta({ description: '/metrics asks for a viewer token, like the API (Prometheus: bearer_token; default false).' }),
        })
        .prefault({})
        .describe('The HTTP API, the dashboard and /metrics.'),
      httpRedirect: address.optional().meta({
        description: 'Plain HTTP listener (like 0.0.0.0:80) that answers ACME HTTP-01 challenges and redirects everything else to https.',
      }),
      groups: z
        .record(
          z.string().regex(SERVICE_NAME, { error: 'a group name is like a service name: lowercase letters, digits and -, like shop' }),
          z
            .array(z.string())
            .min(2, { error: 'a group holds at least two services, like [web, api]' })
            .describe('Its services (names under services).'),
        )
        .default({})
        .describe(
          'Services released together (`cutover deploy --group NAME VERSION`): switched together and rolled back together when any member fails, like { shop: [web, api, worker] } (default: none).',
        ),
      stateDir: nonEmpty('a folder')
        .default(DEFAULTS.stateDir)
        .meta({ description: 'Store, logs and tokens; relative to this file (default .cutover).' }),
      services: z
        .record(
          // Names are checked in the file's own check below, so a misnamed service still gets its body checked.
          z.string().meta({ pattern: SERVICE_NAME.source }),
          service(dir),
          { error: (iss) => (iss.input === null ? `no services are defined; ${NO_SERVICES}` : undefined) },
        )
        .refine((s) => Object.keys(s).length > 0, {
          error: `no services are defined; ${NO_SERVICES}`,
        })
        .describe('The services cutover releases, by name (lowercase letters, digits and -).'),
    })
    .superRefine((c, ctx) => {
      for (const p of fileProblems(c)) ctx.addIssue({ code: 'custom', ...p });
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
        groups: c.groups,
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
true satisfies Same<z.output<ReturnType<typeof service>>, Omit<ServiceConfig, 'name'>>;
true satisfies Same<z.output<ReturnType<typeof configSchema>>, Config>;
