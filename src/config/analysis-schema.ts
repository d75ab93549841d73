// The schema of a shift (instant or steps) and of analysis: rules, timing, what an inconclusive verdict does.
import { z } from 'zod';
import { formatDuration } from './duration.ts';
import { duration, nonEmpty, positiveInt, share } from './fields.ts';
import type { AnalysisConfig, AnalysisRule, ShiftConfig } from './types.ts';
import { DEFAULTS, type Same } from './defaults.ts';

export const steps = z
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

export const shift = z
  .union([z.literal('instant'), z.strictObject({ steps, hold: duration().prefault(DEFAULTS.shiftHold) })], {
    error: (iss) =>
      iss.input === undefined
        ? undefined
        : `expected instant, or steps like { steps: [10, 50, 100], hold: 30s }, got ${JSON.stringify(iss.input)}`,
  })
  .default(DEFAULTS.shift)
  .meta({ description: 'instant (one swap), or { steps: [10, 50, 100], hold: 30s }.' });
true satisfies Same<z.output<typeof shift>, ShiftConfig>;

export const baseline = z.number().positive({ error: "baseline is a multiple of the old slot's value, like 1.5, and must be above 0" });
export const rule = z
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

export const analysis = z
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
