// How analysis judges, as pure functions: one measurement against one rule, the rules of one tick
// together, failed ticks in a row against failureLimit, and what an inconclusive run leads to.
// Nothing here measures or waits; run.ts does that.
import type { AnalysisConfig, AnalysisRule } from '../config/types.ts';
import type { AnalysisAction, Measurement, RuleResult, Verdict } from './types.ts';

export type JudgeOptions = {
  minSamples: number;
  /** The old slot's measurement of the same rule, taken before the shift (rules with `baseline`). */
  baseline?: Measurement | null;
};

/** `error_rate`, `p99`, `prometheus \`query\``, `web \`host/path $.path\``, ` (dry-run)` after: how a rule is named in reasons. */
export function describeRule(rule: AnalysisRule): string {
  const dry = rule.dryRun === true ? ' (dry-run)' : '';
  if (rule.metric === 'prometheus') return `prometheus \`${cut(rule.query ?? '', 80)}\`${dry}`;
  if (rule.metric === 'web') return `web \`${cut(`${webWhere(rule.url ?? '')} ${rule.jsonPath ?? ''}`, 100)}\`${dry}`;
  return `${rule.metric}${dry}`;
}

/** Host and path of a web rule's URL: its query string may carry a key, so it is never shown. */
export function webWhere(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return '(a URL)';
  }
}

function cut(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 3)}...` : s;
}

/** A value in the rule's unit: error rates as percentages, latencies in ms, query results as numbers. */
export function formatValue(rule: AnalysisRule, v: number): string {
  switch (rule.metric) {
    case 'error_rate':
      return `${round(v * 100)}%`;
    case 'p50':
    case 'p90':
    case 'p99':
    case 'mean':
      return `${round(v)}ms`;
    case 'prometheus':
    case 'web':
      return String(round(v));
    default: {
      const never: never = rule.metric;
      return String(never);
    }
  }
}

function round(v: number): number {
  if (v === 0 || !Number.isFinite(v)) return v;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(v))));
  return Number(v.toFixed(Math.min(digits, 6)));
}

/** Below this many requests a quantile is only the slowest request: p99 needs 100, p90 10. */
const QUANTILE_SAMPLES = { p50: 2, p90: 10, p99: 100 } as const;

/**
 * Samples a measurement needs before it can be judged. Router rules count requests against
 * minSamples, and a quantile needs enough requests to be more than the slowest one. A Prometheus
 * query yields one series, so it needs one: the query itself decides what is too little traffic
 * (an empty result is inconclusive).
 */
export function requiredSamples(rule: AnalysisRule, minSamples: number): number {
  switch (rule.metric) {
    case 'prometheus':
    case 'web':
      return 1;
    case 'error_rate':
    case 'mean':
      return Math.max(1, minSamples);
    case 'p50':
    case 'p90':
    case 'p99':
      return Math.max(QUANTILE_SAMPLES[rule.metric], minSamples);
    default: {
      const never: never = rule.metric;
      return never;
    }
  }
}

function whatSamples(rule: AnalysisRule): string {
  return rule.metric === 'prometheus' ? 'series' : rule.metric === 'web' ? 'values' : 'requests';
}

/** Why a measurement cannot be judged, or null when it can. */
function unusable(rule: AnalysisRule, m: Measurement, minSamples: number): string | null {
  if (m.error !== undefined) return `could not be measured on ${m.slot}: ${m.error}`;
  const need = requiredSamples(rule, minSamples);
  if (m.value === null || m.samples < need) {
    if (rule.metric === 'prometheus' || rule.metric === 'web') return `returned no data for ${m.slot}; nothing to judge`;
    const why = need > minSamples ? `the ${need} a ${rule.metric} needs` : `minSamples ${need}`;
    return `${m.samples} ${whatSamples(rule)} on ${m.slot}, fewer than ${why}: too little traffic to judge`;
  }
  return null;
}

/**
 * Judges one measurement. Absolute bounds first (`max`, `min`), then `baseline`: at most `baseline`
 * times the old slot's value. A bound that breaks fails the rule; a bound that cannot be checked
 * (too few samples, a source error, no usable baseline) makes it inconclusive, never a pass.
 */
export function judge(rule: AnalysisRule, m: Measurement, opts: JudgeOptions): RuleResult {
  const name = describeRule(rule);
  const base: Pick<RuleResult, 'rule' | 'value' | 'samples'> = { rule, value: m.value, samples: m.samples };
  let baselineValue: number | null | undefined;
  let baselineProblem: string | null = null;
  if (rule.baseline !== undefined) {
    const b = opts.baseline;
    baselineProblem =
      b === undefined || b === null ? 'no baseline was measured on the old slot before the shift' : unusable(rule, b, opts.minSamples);
    baselineValue = baselineProblem === null && b ? b.value : null;
    if (baselineProblem !== null && b) baselineProblem = `the old slot's baseline is unusable (${baselineProblem})`;
  }
  const withBaseline = baselineValue === undefined ? {} : { baselineValue };

  const problem = unusable(rule, m, opts.minSamples);
  if (problem !== null) {
    return { ...base, ...withBaseline, threshold: null, verdict: 'inconclusive', reason: `${name} ${problem}` };
  }
  const v = m.value as number;
  const fmt = (x: number): string => formatValue(rule, x);

  if (rule.max !== undefined && v > rule.max) {
    return {
      ...base,
      ...withBaseline,
      threshold: rule.max,
      bound: 'max',
      verdict: 'fail',
      reason: `${name} ${fmt(v)} on ${m.slot} is above the max ${fmt(rule.max)} (over ${m.samples} ${whatSamples(rule)})`,
    };
  }
  if (rule.min !== undefined && v < rule.min) {
    return {
      ...base,
      ...withBaseline,
      threshold: rule.min,
      bound: 'min',
      verdict: 'fail',
      reason: `${name} ${fmt(v)} on ${m.slot} is below the min ${fmt(rule.min)} (over ${m.samples} ${whatSamples(rule)})`,
    };
  }
  let relative: number | null = null;
  if (rule.baseline !== undefined) {
    if (baselineValue === null || baselineValue === undefined) {
      return {
        ...base,
        ...withBaseline,
        threshold: rule.max ?? rule.min ?? null,
        verdict: 'inconclusive',
        reason: `${name} ${fmt(v)} on ${m.slot} cannot be compared with the old slot: ${baselineProblem}`,
      };
    }
    relative = rule.baseline * baselineValue;
    const old = opts.baseline?.slot ?? 'the old slot';
    if (v > relative) {
      return {
        ...base,
        ...withBaseline,
        threshold: relative,
        bound: 'max',
        verdict: 'fail',
        reason: `${name} ${fmt(v)} on ${m.slot} is above ${rule.baseline}x ${old}'s ${fmt(baselineValue)} = ${fmt(relative)} (over ${m.samples} ${whatSamples(rule)})`,
      };
    }
  }
  const maxes = [rule.max, relative].filter((x): x is number => x !== undefined && x !== null);
  const threshold = maxes.length > 0 ? Math.min(...maxes) : (rule.min ?? null);
  const bound = maxes.length > 0 ? 'max' : 'min';
  const within = threshold === null ? '' : ` is within the ${bound} ${fmt(threshold)}`;
  return {
    ...base,
    ...withBaseline,
    threshold,
    bound,
    verdict: 'pass',
    reason: `${name} ${fmt(v)} on ${m.slot}${within} (over ${m.samples} ${whatSamples(rule)})`,
  };
}

/**
 * The verdict of one tick: any failed rule fails it, else any inconclusive rule makes it
 * inconclusive. Dry-run rules take no part; what they measured that was not a pass is added to the
 * reason, marked, so it is seen in events and status.
 */
export function combine(results: readonly RuleResult[]): { verdict: Verdict; reason: string } {
  const acting = results.filter((r) => r.rule.dryRun !== true);
  const dry = results.filter((r) => r.rule.dryRun === true && r.verdict !== 'pass');
  const note = dry.length === 0 ? '' : `; not acted on: ${dry.map((r) => `${r.reason} [${r.verdict}]`).join('; ')}`;
  if (acting.length === 0) {
    const none = results.length === 0 ? 'no analysis rules are configured' : 'every analysis rule is dry-run';
    return { verdict: 'pass', reason: `${none}${note}` };
  }
  for (const verdict of ['fail', 'inconclusive', 'pass'] as const) {
    const these = acting.filter((r) => r.verdict === verdict);
    if (these.length > 0) return { verdict, reason: `${these.map((r) => r.reason).join('; ')}${note}` };
  }
  throw new Error('unreachable: a rule result without a verdict');
}

/**
 * Failed ticks in a row after this one. A pass ends a streak; an inconclusive tick neither ends nor
 * extends it (no evidence either way), so fail, no data, fail still adds up to two.
 */
export function nextFailures(previous: number, verdict: Verdict): number {
  switch (verdict) {
    case 'fail':
      return previous + 1;
    case 'pass':
      return 0;
    case 'inconclusive':
      return previous;
    default: {
      const never: never = verdict;
      return never;
    }
  }
}

export type Decision = { action: AnalysisAction; warning?: string };

/** What a run's verdict means for the release: fail rolls back, pass continues, inconclusive follows the policy. */
export function decide(verdict: Verdict, reason: string, policy: AnalysisConfig['inconclusive']): Decision {
  switch (verdict) {
    case 'fail':
      return { action: 'rollback' };
    case 'pass':
      return { action: 'continue' };
    case 'inconclusive':
      switch (policy) {
        case 'hold':
          return { action: 'hold' };
        case 'rollback':
          return { action: 'rollback' };
        case 'pass':
          return {
            action: 'continue',
            warning: `analysis was inconclusive (${reason}); continuing only because analysis.inconclusive is pass`,
          };
        default: {
          const never: never = policy;
          return never;
        }
      }
    default: {
      const never: never = verdict;
      return never;
    }
  }
}
