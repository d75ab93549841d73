// API paths that pause, resume and put a service in maintenance (`cutover pause|resume|maintenance`).
// Each change is recorded in the store before any router sees it (ServiceRuntime.setHold).
import { z } from 'zod';
import { duration } from '../config/fields.ts';
import type { RouteState } from '../store/types.ts';
import type { ControlPlane } from './control.ts';
import { actorOf, type Ctx, type Route } from './routes.ts';

/** How long a paused service holds a request when the pause names no timeout. */
export const DEFAULT_PAUSE_TIMEOUT_MS = 30_000;
/** Longest a request may be held: clients and balancers in front give up long before. */
export const MAX_PAUSE_TIMEOUT_MS = 3_600_000;

const reason = z.string().max(500).describe('why, for the event log and the audit log');

export const PauseBody = z.strictObject({
  timeout: duration(1)
    .refine((ms) => ms <= MAX_PAUSE_TIMEOUT_MS, { error: 'a pause holds a request at most 1h; write a shorter timeout' })
    .optional()
    .describe('how long a new request waits for the resume before it gets 503 (default 30s, at most 1h)'),
  reason: reason.optional(),
});
export const ResumeBody = z.strictObject({ reason: reason.optional() });
export const MaintenanceBody = z.strictObject({
  enabled: z.boolean({ error: 'expected enabled: true (maintenance on) or false (off), like {"enabled": true}' }),
  message: z
    .string()
    .min(1)
    .max(1000)
    .optional()
    .describe('shown on the maintenance page in place of {{message}}; only with enabled: true'),
  reason: reason.optional(),
});

export const HoldAnswer = z.object({
  service: z.string(),
  generation: z.number(),
  paused: z.object({ timeout: z.number().describe('ms') }).nullable(),
  maintenance: z.object({ message: z.string().nullable() }).nullable(),
});

function answer(service: string, s: RouteState): z.infer<typeof HoldAnswer> {
  return { service, generation: s.generation, paused: s.paused ?? null, maintenance: s.maintenance ?? null };
}

export function holdRoutes(daemon: ControlPlane): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/v1/services/{service}/pause',
      role: 'deployer',
      summary: 'hold new requests (each up to the timeout, then 503) until resume; requests already running finish',
      body: PauseBody,
      answer: HoldAnswer,
      handler: async (c: Ctx<z.infer<typeof PauseBody>>) => {
        const service = c.params.service!;
        const timeout = c.body.timeout ?? DEFAULT_PAUSE_TIMEOUT_MS;
        return answer(service, await daemon.setHold(service, { paused: { timeout } }, actorOf(c), c.body.reason ?? 'operator pause'));
      },
    },
    {
      method: 'POST',
      path: '/api/v1/services/{service}/resume',
      role: 'deployer',
      summary: 'end a pause: the held requests go on in the order they came',
      body: ResumeBody,
      answer: HoldAnswer,
      handler: async (c: Ctx<z.infer<typeof ResumeBody>>) => {
        const service = c.params.service!;
        return answer(service, await daemon.setHold(service, { paused: null }, actorOf(c), c.body.reason ?? 'operator resume'));
      },
    },
    {
      method: 'POST',
      path: '/api/v1/services/{service}/maintenance',
      role: 'deployer',
      summary: 'maintenance on (every user request gets the maintenance page: 503 with Retry-After) or off',
      body: MaintenanceBody.refine((b) => b.enabled || b.message === undefined, {
        error: 'message is for the maintenance page; send it with enabled: true',
        path: ['message'],
      }),
      answer: HoldAnswer,
      handler: async (c: Ctx<z.infer<typeof MaintenanceBody>>) => {
        const service = c.params.service!;
        const change = { maintenance: c.body.enabled ? { message: c.body.message ?? null } : null };
        const why = c.body.reason ?? (c.body.enabled ? 'operator maintenance on' : 'operator maintenance off');
        return answer(service, await daemon.setHold(service, change, actorOf(c), why));
      },
    },
  ];
}
