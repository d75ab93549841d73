// The schema of health checks and gates (http, command, load, mirror): what must pass on the idle slot.
import { z } from 'zod';
import { command, duration, headerMap, httpStatus, messageOf, positiveInt, share, urlPath } from './fields.ts';
import type { GateConfig, HealthConfig, HttpGateRequest } from './types.ts';
import { DEFAULTS, type Same } from './defaults.ts';

export const health = z
  .strictObject({
    path: urlPath.default(DEFAULTS.health.path).describe('The path every target is checked on with GET (default /).'),
    interval: duration(1).prefault(DEFAULTS.health.interval).describe('How often each target is checked (default 1s).'),
    timeout: duration(1).prefault(DEFAULTS.health.timeout).describe('How long one check may take before it counts as failed (default 1s).'),
    healthyThreshold: positiveInt(100)
      .default(DEFAULTS.health.healthyThreshold)
      .describe('Passed checks in a row that make a target healthy (default 1).'),
    unhealthyThreshold: positiveInt(100)
      .default(DEFAULTS.health.unhealthyThreshold)
      .describe('Failed checks in a row that make a target unhealthy (default 2).'),
    expectStatus: httpStatus.optional().describe('The status a healthy target answers (default: any 2xx or 3xx).'),
    headers: headerMap.default({}).describe('Headers sent with every check, like a Host (default: none).'),
  })
  .prefault({})
  .describe("How each target's health is checked; the router serves only healthy targets.");
true satisfies Same<z.output<typeof health>, HealthConfig>;

export const httpGateRequest = z.strictObject({
  method: z
    .string()
    .regex(/^[A-Za-z]+$/, { error: 'expected an HTTP method, like GET or POST' })
    .toUpperCase()
    .default(DEFAULTS.httpGateMethod)
    .describe('The HTTP method (default GET).'),
  path: urlPath.describe('The path requested on the idle slot, like /api/orders.'),
  headers: headerMap.default({}).describe('Headers sent with the request (default: none).'),
  body: z.string().optional().describe('The request body (default: none).'),
  expect: z
    .strictObject({
      status: httpStatus.optional().describe('The status the answer must have (default: any).'),
      headers: headerMap.optional().describe('Headers the answer must have, with these values (default: none).'),
      body: z.string().optional().describe('Text the answer’s body must contain (default: none).'),
      bodyRegex: z
        .string()
        .superRefine((source, ctx) => {
          const message = messageOf(() => new RegExp(source));
          if (message)
            ctx.addIssue({ code: 'custom', message: `not a valid regular expression (${message}); fix or quote it`, input: source });
        })
        .optional()
        .describe('A regular expression the answer’s body must match (default: none).'),
      json: z
        .record(z.string(), z.unknown())
        .optional()
        .describe('JSON paths (like data.items[0].id) and the values the answer’s JSON body must hold there (default: none).'),
      maxLatency: duration(1).optional().describe('The answer must arrive within this (default: no limit).'),
    })
    .prefault({})
    .describe('What the answer must be for the gate to pass (default: anything).'),
});
true satisfies Same<z.output<typeof httpGateRequest>, HttpGateRequest>;

export const gateKinds = {
  http: z.strictObject({
    requests: z
      .array(httpGateRequest)
      .min(1, { error: 'an http gate needs at least one request, like [{ path: /, expect: { status: 200 } }]' })
      .describe('Requests sent to the idle slot, in order; each must meet its expect.'),
    timeout: duration(1).prefault(DEFAULTS.httpGateTimeout).describe('How long the whole suite may take (default 1m).'),
  }),
  command: z.strictObject({
    run: command.describe(
      'A shell command that must exit 0; CUTOVER_PREVIEW_URL, CUTOVER_PREVIEW_TOKEN, CUTOVER_TARGETS and CUTOVER_VERSION are set.',
    ),
    timeout: duration(1)
      .prefault(DEFAULTS.commandGateTimeout)
      .describe('How long the command may run before it fails the gate (default 5m).'),
  }),
  load: z.strictObject({
    rate: z
      .number()
      .positive({ error: 'rate is requests per second and must be above 0' })
      .describe('Requests per second sent to the idle slot.'),
    duration: duration(1).describe('How long the load runs.'),
    connections: positiveInt(10_000).default(DEFAULTS.loadGateConnections).describe('Connections the load is sent over (default 10).'),
    maxErrorRate: share('maxErrorRate')
      .default(DEFAULTS.loadGateMaxErrorRate)
      .describe('Most errors (5xx, connection errors, timeouts) as a fraction of requests (default 0.01).'),
    maxP99: duration(1).optional().describe('Slowest the 99th percentile latency may be (default: no limit).'),
    timeout: duration(1).optional().describe('How long the gate may take in all (default: its duration plus 30s).'),
  }),
  mirror: z.strictObject({
    share: z
      .number()
      .gt(0, { error: 'share is the fraction of live requests to mirror, above 0 and at most 1, like 0.1' })
      .max(1, { error: 'share is the fraction of live requests to mirror, above 0 and at most 1, like 0.1' })
      .describe('The fraction of live GET/HEAD requests copied to the idle slot, whose answers are discarded, like 0.1.'),
    duration: duration(1).describe('How long live requests are mirrored.'),
    maxErrorRateDelta: share('maxErrorRateDelta')
      .default(DEFAULTS.mirrorMaxErrorRateDelta)
      .describe("How much higher the idle slot's error rate may be than the live slot's over the mirrored requests (default 0.01)."),
  }),
};
export const GATE_KINDS = Object.keys(gateKinds).join(', ');

export const gate = z
  .strictObject({
    http: gateKinds.http.optional().describe('An HTTP suite: requests sent to the idle slot, each with what its answer must be.'),
    command: gateKinds.command.optional().describe('A command (like npm run e2e) run against the idle slot; it passes by exiting 0.'),
    load: gateKinds.load.optional().describe('Synthetic load on the idle slot, judged by its error rate and p99.'),
    mirror: gateKinds.mirror.optional().describe('A share of live requests copied to the idle slot, judged against the live slot.'),
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
