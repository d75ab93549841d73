// The vocabulary of analysis: what a metric source measures, how one rule is judged, and the record of
// a run that the store keeps with its release. Everything here is plain JSON (type aliases, so a value
// is assignable to the store's JsonObject without a cast).
import type { AnalysisConfig, AnalysisRule, SlotName } from '../config/types.ts';

export type Verdict = 'pass' | 'fail' | 'inconclusive';

/** What the controller does with a run's verdict: go on, roll back, or wait for an operator. */
export type AnalysisAction = 'continue' | 'rollback' | 'hold';

/** Which traffic a measurement covers: one slot running one version, from `sinceMs` (epoch ms) to now. */
export type MeasureWindow = {
  slot: SlotName;
  version: string;
  sinceMs: number;
};

export type Measurement = {
  rule: AnalysisRule;
  slot: SlotName;
  /** error_rate: a share 0..1; p50/p90/p99/mean: milliseconds; prometheus: whatever the query returns. null: nothing to judge. */
  value: number | null;
  /** Requests behind the value (router), or series returned (prometheus: 0 or 1). */
  samples: number;
  /** Set when the source could not measure; such a measurement is inconclusive, never a pass. */
  error?: string;
  /** ISO 8601: when it was taken, and the start of the traffic it covers. */
  at: string;
  from: string;
};

/** One provider of numbers: the router's own counters, Prometheus, later others. */
export interface MetricSource {
  measure(rule: AnalysisRule, window: MeasureWindow): Promise<Measurement>;
  /** Takes a snapshot now, so that a window starting now starts exactly here (the router's ring). */
  checkpoint?(): Promise<void>;
}

/**
 * Which source answers which rule: `prometheus` rules go to Prometheus, `web` rules to their HTTP API,
 * the built-in metrics to `router`: the counters of whatever users' requests pass (the embedded router,
 * or an external balancer's, balancer-source.ts).
 */
export type Sources = {
  router: MetricSource;
  prometheus?: MetricSource;
  /** `web` rules: an HTTP API answering JSON (web-source.ts). */
  web?: MetricSource;
};

export type RuleResult = {
  rule: AnalysisRule;
  value: number | null;
  samples: number;
  /** The bound the value was held against: the one it broke, else the tightest; null when none could apply. */
  threshold: number | null;
  bound?: 'max' | 'min';
  /** The old slot's value measured before the shift, for rules with `baseline`. */
  baselineValue?: number | null;
  verdict: Verdict;
  /** One sentence with the rule, the value and the threshold. */
  reason: string;
};

/** The old slot's values, one measurement per rule with a `baseline`, taken just before the shift. */
export type Baseline = {
  slot: SlotName;
  version: string;
  at: string;
  measurements: Measurement[];
};

/** One judgement: every rule measured once, and the step verdict they make together. */
export type AnalysisTick = {
  at: string;
  /** `interval`: the sliding lookback; `window`: the whole run, judged once at its end. */
  kind: 'interval' | 'window';
  measurements: Measurement[];
  results: RuleResult[];
  verdict: Verdict;
  reason: string;
  /** Failed ticks in a row so far, counted against failureLimit. */
  consecutiveFailures: number;
};

export type AnalysisOutcome = {
  /** What was measured. An inconclusive run stays inconclusive here whatever the policy does with it. */
  verdict: Verdict;
  /** What the policy makes of it. */
  action: AnalysisAction;
  reason: string;
  /** Set when the run passes only because `inconclusive: pass` says so. */
  warning?: string;
  /** The rule results behind the verdict (the failing tick's, or the whole window's). */
  results: RuleResult[];
  at: string;
  /** True when stop() ended the run before its window did. */
  stopped?: boolean;
};

export type AnalysisSettings = Pick<AnalysisConfig, 'interval' | 'rules' | 'minSamples' | 'failureLimit' | 'inconclusive'>;

/** Everything one run measured and decided, for the store, `cutover status` and the API. */
export type AnalysisRun = {
  service: string;
  /** What the run watched: `step 10%`, `observing`. */
  label: string;
  slot: SlotName;
  version: string;
  settings: AnalysisSettings & { window: number; lookback: number };
  startedAt: string | null;
  endsAt: string | null;
  baseline: Baseline | null;
  ticks: AnalysisTick[];
  outcome: AnalysisOutcome | null;
};

export type AnalysisEvent =
  | { type: 'baseline'; baseline: Baseline }
  | { type: 'tick'; tick: AnalysisTick }
  | { type: 'outcome'; outcome: AnalysisOutcome };
