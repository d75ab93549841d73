// Request bodies of the API, validated at the edge. The OpenAPI document is generated from these.
import { z } from 'zod';
import { ROLES } from './auth.ts';

/** A version names a build: it goes into commands, paths and log lines, so it stays plain. */
export const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const reason = z.string().max(500).describe('why, for the event log and the audit log');

export const ReleaseBody = z.strictObject({
  version: z.string({ error: 'expected a version, like {"version": "v2"}' }).regex(VERSION_PATTERN, {
    error:
      'a version is 1-64 characters: letters, digits, dot, underscore and dash, starting with a letter or digit (like v2 or 1.4.0-rc.1)',
  }),
});
export const ActionBody = z.strictObject({ reason: reason.optional() });
export const DrillBody = z
  .strictObject({
    errors: z
      .number()
      .gt(0, { error: 'errors is the share of answers that fail, above 0 and at most 1, like 0.3' })
      .max(1, { error: 'errors is the share of answers that fail, above 0 and at most 1, like 0.3' })
      .optional()
      .describe("share of the new slot's answers that fail with 500 (0..1)"),
    latency: z
      .int({ error: 'latency is in milliseconds, like 2000' })
      .min(1, { error: 'latency is in milliseconds, at least 1, like 2000' })
      .max(60_000, { error: 'latency is at most 60000 ms (a minute)' })
      .optional()
      .describe("ms each of the new slot's answers waits"),
  })
  .refine((b) => b.errors !== undefined || b.latency !== undefined, {
    error: 'a drill needs a fault: {"errors": 0.3} or {"latency": 2000}, or both',
  });
export const RollbackBody = z.strictObject({
  reason: reason.optional(),
  to: z
    .string()
    .regex(VERSION_PATTERN, { error: 'a version is 1-64 characters: letters, digits, dot, underscore and dash (like v2)' })
    .optional()
    .describe('the version to go back to; at once when it stands by, else by a release of it through its gates'),
});
export const PromoteBody = z.strictObject({
  full: z.boolean().optional().describe('during a progressive shift: all traffic to the new version now, skipping the remaining steps'),
});
export const SwitchBody = z.strictObject({
  slot: z.enum(['blue', 'green']),
  force: z.boolean().optional().describe('switch even when the slot has no healthy target'),
  reason: reason.optional(),
});
export const TokenBody = z.strictObject({
  role: z.enum(ROLES as [string, ...string[]] as ['viewer', 'deployer', 'admin'], { error: 'role is one of viewer, deployer, admin' }),
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, {
      error: 'a token name is 1-64 letters, digits, dot, underscore, @ or dash, like ci-deployer',
    })
    .optional()
    .describe('who or what uses the token; shown in the audit log'),
});

/** Answers worth describing in the OpenAPI document. */
export const ErrorAnswer = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export const TokenAnswer = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(['viewer', 'deployer', 'admin']),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
});
export const NewTokenAnswer = TokenAnswer.extend({ token: z.string().describe('the secret: shown once, stored only as a hash') });
export const WhoAmI = z.object({ name: z.string(), role: z.enum(['viewer', 'deployer', 'admin']) });
export const AuditEntry = z.object({
  seq: z.number(),
  time: z.string(),
  service: z.string().describe('the service, or * for the daemon (tokens)'),
  actor: z.string(),
  reason: z.string(),
  data: z.object({ method: z.string(), path: z.string(), status: z.number(), role: z.string(), remote: z.string() }).loose(),
});
