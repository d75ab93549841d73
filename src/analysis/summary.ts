// A run record as `cutover status` and the API show it: where the run is, each rule's latest value
// against its threshold, and how many ticks passed, failed or could not judge. The full record
// (every measurement) stays in the store; this is the part a person reads.
import { describeRule, formatValue } from './judge.ts';
import type { AnalysisAction, AnalysisRun, Verdict } from './types.ts';

export type RuleStatus = {
  /** The rule as reasons name it; a dry-run rule ends with ` (dry-run)`. */
  rule: string;
  /** Measured and shown, never acted on. */
  dryRun: boolean;
  /** Formatted in the rule's unit (`0.4%`, `212ms`), or null when nothing could be measured. */
  value: string | null;
  threshold: string | null;
  verdict: Verdict;
  reason: string;
};

export type AnalysisSummary = {
  label: string;
  slot: string;
  version: string;
  /** `waiting` before start(), `running` until an outcome, then the outcome's verdict. */
  state: 'waiting' | 'running' | Verdict;
  action: AnalysisAction | null;
  reason: string;
  warning?: string;
  startedAt: string | null;
  endsAt: string | null;
  ticks: Record<Verdict, number>;
  consecutiveFailures: number;
  /** From the outcome when there is one, else from the latest tick. */
  rules: RuleStatus[];
};

export function summarize(run: AnalysisRun): AnalysisSummary {
  const ticks: Record<Verdict, number> = { pass: 0, fail: 0, inconclusive: 0 };
  for (const t of run.ticks) ticks[t.verdict]++;
  const last = run.ticks.at(-1);
  const results = run.outcome !== null && run.outcome.results.length > 0 ? run.outcome.results : (last?.results ?? []);
  const state = run.outcome?.verdict ?? (run.startedAt === null ? 'waiting' : 'running');
  const reason = run.outcome?.reason ?? last?.reason ?? (run.startedAt === null ? 'not started' : 'no measurement yet');
  return {
    label: run.label,
    slot: run.slot,
    version: run.version,
    state,
    action: run.outcome?.action ?? null,
    reason,
    ...(run.outcome?.warning !== undefined ? { warning: run.outcome.warning } : {}),
    startedAt: run.startedAt,
    endsAt: run.endsAt,
    ticks,
    consecutiveFailures: last?.consecutiveFailures ?? 0,
    rules: results.map((r) => ({
      rule: describeRule(r.rule),
      dryRun: r.rule.dryRun === true,
      value: r.value === null ? null : formatValue(r.rule, r.value),
      threshold: r.threshold === null ? null : `${r.bound === 'min' ? '>=' : '<='} ${formatValue(r.rule, r.threshold)}`,
      verdict: r.verdict,
      reason: r.reason,
    })),
  };
}
