// A release that holds on an inconclusive analysis waits for a person; every place that shows a
// release (status, deploy --wait in a terminal or a log) says so the same way: why, and what to run.
import type { AnalysisSummary } from '../analysis/summary.ts';
import type { ReleaseStatus } from '../api/types.ts';

export interface Hold {
  label: string;
  /** Why it holds, as the analysis said it (`12 requests on green, fewer than minSamples 20: ...`). */
  reason: string;
  /** What to run: `cutover promote web` to go on, `cutover rollback web` to go back. */
  promote: string;
  rollback: string;
}

const MOVING = new Set(['shifting', 'observing']);

/** The hold the release waits in, or null when it does not wait for anyone. */
export function holdOf(service: string, r: Pick<ReleaseStatus, 'phase' | 'analysis'>): Hold | null {
  if (!MOVING.has(r.phase)) return null;
  const last: AnalysisSummary | undefined = r.analysis.at(-1);
  if (last === undefined || last.action !== 'hold') return null;
  return { label: last.label, reason: last.reason, promote: `cutover promote ${service}`, rollback: `cutover rollback ${service}` };
}

/** One line: `HOLDING (observing): <why>; run `cutover promote web` to go on, or `cutover rollback web``. */
export function holdLine(h: Hold): string {
  return `HOLDING (${h.label}): ${h.reason}; run \`${h.promote}\` to go on, or \`${h.rollback}\``;
}
