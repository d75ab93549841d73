// A release as status shows it: its record and events, the preview route while it is proven (the
// token is hidden from viewers by the API), its gate results and analysis summaries, the step of a
// progressive shift, a drill's result, and why it waits when the store cannot take its writes.
import type { AnalysisRunner } from '../analysis/run.ts';
import { isBeforeTraffic } from '../lifecycle.ts';
import type { ReleaseRecord } from '../store/types.ts';
import { analysisSummaries } from './analysis.ts';
import type { StepContext } from './context.ts';
import { drillResult } from './drill-spec.ts';
import { shiftStep } from './shift-step.ts';
import { gateResults } from './verify.ts';
import type { ReleaseStatus } from './view.ts';

/** What only the running controller knows of the release: its analysis run now, and why it waits. */
export interface LiveState {
  run: AnalysisRunner | null;
  waiting: { reason: string; since: string } | null;
}

export async function releaseStatus(ctx: StepContext, release: ReleaseRecord, live: LiveState): Promise<ReleaseStatus> {
  const events = await ctx.store.events({ releaseId: release.id, limit: 100_000 });
  const route = ctx.rt.routeState().preview;
  const previewing = isBeforeTraffic(release.phase) && route?.slot === release.slot;
  const cfg = ctx.rt.cfg;
  return {
    id: release.id,
    version: release.version,
    phase: release.phase,
    slot: release.slot,
    fromSlot: release.fromSlot,
    reason: release.reason ?? null,
    createdAt: release.createdAt,
    updatedAt: release.updatedAt,
    data: release.data ?? {},
    events,
    preview: previewing
      ? {
          header: cfg.preview.header,
          cookie: cfg.preview.cookie ?? 'cutover-preview',
          listen: cfg.preview.listen ?? null,
          token: route.token,
        }
      : null,
    gates: gateResults(events),
    analysis: analysisSummaries(events, live.run),
    step: shiftStep(cfg.shift, release, ctx.rt.routeState().weights),
    waiting: live.waiting,
    drill: drillResult(release, events),
  };
}
