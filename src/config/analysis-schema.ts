// The schema of a shift (instant or steps) and of analysis: rules, timing, what an inconclusive verdict does.
import { z } from 'zod';
import { formatDuration } from './duration.ts';
import { query } from 'jsonpath-rfc9535';
import { duration, headerMap, nonEmpty, positiveInt, share } from './fields.ts';
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
  })
  .describe("Percentages of users' traffic on the new slot, going up and ending at 100, like [10, 50, 100].");

export const shift = z
  .union(
    [
      z.literal('instant'),
      z.strictObject({
        steps,
        hold: duration().prefault(DEFAULTS.shiftHold).describe('How long each step is held and judged before the next (default 30s).'),
      }),
    ],
    {
      error: (iss) =>
        iss.input === undefined
          ? undefined
          : `expected instant, or steps like { steps: [10, 50, 100], hold: 30s }, got ${JSON.stringify(iss.input)}`,
    },
  )
  .default(DEFAULTS.shift)
  .meta({ description: 'instant (one swap, the default), or { steps: [10, 50, 100], hold: 30s }.' });
true satisfies Same<z.output<typeof shift>, ShiftConfig>;

export const baseline = z
  .number()
  .positive({ error: "baseline is a multiple of the old slot's value, like 1.5, and must be above 0" })
  .describe("At most this multiple of the old slot's value over the same window, like 1.5 (default: not compared).");
const dryRun = z
  .boolean()
  .optional()
  .describe(
    'Measure and show this rule (status, events, dashboard) but never act on it: it cannot fail, hold or roll back a release (default false).',
  );
/** A web rule's URL, headers and body, like a prometheus rule's query with the API's address beside it. */
const webFields = {
  url: z
    .url({ protocol: /^https?$/, error: 'expected an http(s) URL, like https://api.datadoghq.com/api/v1/query?query=...' })
    .describe(
      'The HTTP API to ask; {{service}}, {{slot}}, {{version}}, {{window}} (like 30s), {{windowSeconds}}, {{start}} and {{end}} (epoch seconds) are filled in, URL-encoded.',
    ),
  method: z.enum(['GET', 'POST']).default('GET').describe('GET (default) or POST (with body).'),
  headers: headerMap
    .default({})
    .describe(
      'Request headers; ${NAME} in a value is the daemon environment variable NAME, so API keys stay out of the file (and out of logs and events).',
    ),
  body: z.string().optional().describe('A POST body (a GraphQL or JSON query); the same placeholders are filled in, JSON-escaped.'),
  jsonPath: z
    .string()
    .superRefine((p, ctx) => {
      const problem = jsonPathProblem(p);
      if (problem !== null) ctx.addIssue({ code: 'custom', message: problem, input: p });
    })
    .describe('An RFC 9535 JSONPath that picks the one number to judge from the answer, like $.series[0].pointlist[-1][1].'),
  timeout: duration(1).prefault('5s').describe('How long to wait for the answer (default 5s).'),
};

export const rule = z
  .discriminatedUnion('metric', [
    z.strictObject({
      metric: z.literal('error_rate').describe("error_rate: the new slot's 5xx and upstream errors as a fraction of its requests."),
      max: share('max').optional().describe('Highest error rate that passes, like 0.01 (default: no limit).'),
      min: share('min').optional().describe('Lowest error rate that passes (default: no limit).'),
      baseline: baseline.optional(),
      dryRun,
    }),
    z.strictObject({
      metric: z
        .enum(['p50', 'p90', 'p99', 'mean'])
        .describe("p50, p90, p99: a latency percentile of the new slot's requests; mean: their average."),
      max: duration().optional().describe('Slowest the percentile (or mean) may be, like 500ms (default: no limit).'),
      min: duration().optional().describe('Fastest the percentile may be (default: no limit).'),
      baseline: baseline.optional(),
      dryRun,
    }),
    z.strictObject({
      metric: z.literal('prometheus').describe('prometheus: the value of a PromQL query against analysis.prometheus.url.'),
      query: nonEmpty('a PromQL query').describe('The PromQL query; {{service}}, {{slot}}, {{version}} and {{window}} are filled in.'),
      max: z.number().optional().describe("Highest value of the query's result that passes (default: no limit)."),
      min: z.number().optional().describe("Lowest value of the query's result that passes (default: no limit)."),
      baseline: baseline.optional(),
      dryRun,
    }),
    z.strictObject({
      metric: z
        .literal('web')
        .describe('web: one number from the JSON answer of an HTTP API (Datadog, New Relic, a CloudWatch proxy), like a prometheus rule.'),
      ...webFields,
      max: z.number().optional().describe('Highest value that passes (default: no limit).'),
      min: z.number().optional().describe('Lowest value that passes (default: no limit).'),
      baseline: baseline.optional(),
      dryRun,
    }),
  ])
  .superRefine((r, ctx) => {
    if (r.max === undefined && r.min === undefined && r.baseline === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `a rule needs a bound: max, min or baseline, like { metric: ${r.metric}, max: ${r.metric === 'error_rate' ? '0.01' : r.metric === 'prometheus' || r.metric === 'web' ? '1' : '500ms'} }`,
        input: r,
      });
    }
    if (r.max !== undefined && r.min !== undefined && r.min > r.max) {
      ctx.addIssue({ code: 'custom', message: 'min is above max, so no value can pass; swap them', path: ['min'], input: r.min });
    }
  })
  .transform((r): AnalysisRule => r);

/** Why `path` is not a JSONPath cutover can use, or null. */
function jsonPathProblem(path: string): string | null {
  if (!path.startsWith('$')) return `a JSONPath starts with $, like $.data.value; got ${JSON.stringify(path)}`;
  try {
    query({}, path);
    return null;
  } catch (err) {
    return `${JSON.stringify(path)} is not a JSONPath (RFC 9535): ${(err as Error).message}`;
  }
}

export const analysis = z
  .strictObject({
    interval: duration(1).prefault(DEFAULTS.analysis.interval).describe('How often the rules are measured and judged (default 100ms).'),
    window: duration(1)
      .prefault(DEFAULTS.analysis.window)
      .describe('How long the new slot is watched after it has all the traffic, before promotion (default 5m).'),
    rules: z
      .array(rule)
      .prefault(() => DEFAULTS.analysis.rules.map((r) => ({ ...r })))
      .describe('What the new slot must meet; all must pass (default: error_rate at most 0.01).'),
    minSamples: z
      .int()
      .min(0)
      .default(DEFAULTS.analysis.minSamples)
      .describe('Fewest requests in a measurement for a verdict; fewer is inconclusive (default 20).'),
    failureLimit: positiveInt(1000)
      .default(DEFAULTS.analysis.failureLimit)
      .describe('Failed measurements in a row that roll the release back (default 2).'),
    inconclusive: z
      .enum(['hold', 'rollback', 'pass'])
      .default(DEFAULTS.analysis.inconclusive)
      .describe('Too little traffic to judge at the end of the window: hold (wait for `cutover promote`; default), rollback, or pass.'),
    watchStandby: z.boolean().default(DEFAULTS.analysis.watchStandby).meta({
      description:
        'After promotion, keep judging the new slot while the old one is on standby, and roll back to it at once when a rule fails (default true).',
    }),
    watchInterval: duration(1)
      .prefault(DEFAULTS.analysis.watchInterval)
      .meta({ description: 'How often the standby watch measures, at a lower rate than interval (default 1s).' }),
    retryOnStandby: z
      .boolean()
      .default(DEFAULTS.analysis.retryOnStandby)
      .describe(
        'While a release shifts or observes, an idempotent request (GET, HEAD, OPTIONS, or one marked by retryHeader) that the new slot answers 5xx or cannot be connected for is sent once more to the standby slot; the failure still counts for the analysis. Embedded router only (default false).',
      ),
    retryBudget: positiveInt(1_000_000)
      .default(DEFAULTS.analysis.retryBudget)
      .describe(
        "Most retries on the standby slot per second, per router process (a burst of one second of them), so a broken version cannot double the old one's load (default 100).",
      ),
    retryHeader: z
      .string()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, { error: 'retryHeader is a header name, like idempotency-key' })
      .transform((h) => h.toLowerCase())
      .optional()
      .describe(
        'A request header that marks any request as safe to send twice, like idempotency-key: such requests are retried on the standby too (default: none).',
      ),
    prometheus: z
      .strictObject({
        url: z
          .url({ protocol: /^https?$/, error: 'expected an http(s) URL, like http://127.0.0.1:9090' })
          .describe('The Prometheus server, like http://127.0.0.1:9090.'),
      })
      .optional()
      .describe('Where prometheus rules are queried (default: none).'),
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
  .prefault({ ...DEFAULTS.analysisWithoutSection })
  .describe(
    "Judging the new slot's live metrics while traffic moves and after; a failed verdict rolls back. Without this section: error_rate over 30s, passing when there is too little traffic.",
  );
true satisfies Same<z.output<typeof analysis>, AnalysisConfig>;
