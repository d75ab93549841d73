// The schema of health checks and gates (http, command, load, mirror): what must pass on the idle slot.
import { z } from 'zod';
import { command, duration, headerMap, httpStatus, messageOf, positiveInt, share, urlPath } from './fields.ts';
import type { GateConfig, HealthConfig, HttpGateRequest } from './types.ts';
import { DEFAULTS, type Same } from './defaults.ts';

export const health = z
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

export const httpGateRequest = z.strictObject({
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

export const gateKinds = {
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
export const GATE_KINDS = Object.keys(gateKinds).join(', ');

export const gate = z
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
