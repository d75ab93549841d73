// A drill (`cutover drill <service> --errors 30% | --latency 2s`) is a release of the version that is
// live into the idle slot, marked in its data, whose new slot's answers the routers make fail on
// purpose (controller/shield.ts, router/faults.ts); analysis must roll it back within the MTTR goal.
// Its result is derived from the release's own events, like all state: passed when analysis rolled
// it back within the goal after traffic reached the new slot.
import type { JsonObject, ReleaseRecord, StoreEvent } from '../store/types.ts';

/** The MTTR goal a drill proves: traffic back on the old slot within this after it reached the new one. */
export const DRILL_GOAL_MS = 1000;

export interface DrillSpec {
  /** Share (0..1) of the new slot's answers that fail with 500. */
  errors: number;
  /** ms each of the new slot's answers is held; 0 for none. */
  latency: number;
  goalMs: number;
}

export interface DrillResult {
  errors: number;
  latency: number;
  goalMs: number;
  /** running until the release ends; passed when analysis rolled it back within the goal. */
  result: 'running' | 'passed' | 'failed';
  /** ms from traffic reaching the new slot to traffic back on the old one; null when it did not go back. */
  timeToRollbackMs: number | null;
  /** What happened, in a sentence. */
  summary: string;
}

export function drillData(spec: DrillSpec): JsonObject {
  return { drill: { errors: spec.errors, latency: spec.latency, goalMs: spec.goalMs } };
}

/** The drill a release is, or null for an ordinary release. */
export function drillOf(release: Pick<ReleaseRecord, 'data'>): DrillSpec | null {
  const d = release.data?.drill;
  if (d === null || typeof d !== 'object' || Array.isArray(d)) return null;
  const o = d as JsonObject;
  const num = (v: unknown, dflt: number) => (typeof v === 'number' && Number.isFinite(v) ? v : dflt);
  return { errors: num(o.errors, 0), latency: num(o.latency, 0), goalMs: num(o.goalMs, DRILL_GOAL_MS) };
}

/** The drill's result from the release and its events (oldest first); null for an ordinary release. */
export function drillResult(release: ReleaseRecord, events: readonly StoreEvent[]): DrillResult | null {
  const spec = drillOf(release);
  if (spec === null) return null;
  const base = { errors: spec.errors, latency: spec.latency, goalMs: spec.goalMs };
  const slot = release.slot;
  const from = release.fromSlot;
  const movedAt = events.find((e) => e.type === 'switch' && reachesSlot(e.data, slot));
  const backAt =
    movedAt && from !== null ? events.find((e) => e.seq > movedAt.seq && e.type === 'switch' && e.data?.to === from) : undefined;
  const ms = movedAt && backAt ? Date.parse(backAt.time) - Date.parse(movedAt.time) : null;
  switch (release.phase) {
    case 'pending':
    case 'provisioning':
    case 'verifying':
    case 'awaiting-approval':
    case 'shifting':
    case 'observing':
      return { ...base, result: 'running', timeToRollbackMs: null, summary: `drill running (${release.phase})` };
    case 'rolled-back': {
      const byAnalysis = (release.reason ?? '').startsWith('analysis failed');
      if (ms === null) return { ...base, result: 'failed', timeToRollbackMs: null, summary: `rolled back before traffic reached ${slot}` };
      if (!byAnalysis)
        return {
          ...base,
          result: 'failed',
          timeToRollbackMs: ms,
          summary: `analysis did not roll back; ${release.reason ?? 'rolled back'}`,
        };
      return ms <= spec.goalMs
        ? { ...base, result: 'passed', timeToRollbackMs: ms, summary: `analysis rolled back in ${ms} ms (goal ${spec.goalMs} ms)` }
        : {
            ...base,
            result: 'failed',
            timeToRollbackMs: ms,
            summary: `analysis rolled back in ${ms} ms, over the goal of ${spec.goalMs} ms`,
          };
    }
    case 'promoted':
    case 'retired':
      return { ...base, result: 'failed', timeToRollbackMs: null, summary: 'analysis did not roll back: the drill was promoted' };
    case 'failed':
    case 'aborted':
      return { ...base, result: 'failed', timeToRollbackMs: null, summary: `the drill ${release.phase} before traffic moved` };
    default: {
      const never: never = release.phase;
      throw new Error(`unknown phase ${String(never)}`);
    }
  }
}

function reachesSlot(data: JsonObject | undefined, slot: string): boolean {
  if (data === undefined) return false;
  if (data.to === slot) return true;
  const w = data.weights;
  return (
    w !== null &&
    typeof w === 'object' &&
    !Array.isArray(w) &&
    typeof (w as JsonObject)[slot] === 'number' &&
    ((w as JsonObject)[slot] as number) > 0
  );
}
