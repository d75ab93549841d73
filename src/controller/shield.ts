// What the routers do for a release while its traffic moves, beside the weights: retry on standby
// (analysis.retryOnStandby: an idempotent request the new slot fails goes once to the old slot) and,
// during a drill, the faults injected into the new slot's answers. Both are set in the route table
// when the shift starts (before any user reaches the new slot) and cleared before the release is
// promoted; a switch back to the old slot clears them too (ServiceRuntime.switchTo).
import type { ReleaseRecord, RouteState } from '../store/types.ts';
import { CONTROLLER, type StepContext } from './context.ts';
import { drillOf } from './drill-spec.ts';

export type ShieldRoutes = Pick<RouteState, 'retry' | 'faults'>;

/** The retry and fault routes `release` asks for while its traffic moves. */
export function shieldRoutes(ctx: StepContext, release: ReleaseRecord): ShieldRoutes {
  const a = ctx.rt.cfg.analysis;
  const from = release.fromSlot;
  const drill = drillOf(release);
  return {
    retry:
      // `cutover validate` refuses retryOnStandby with an external balancer: the embedded router retries.
      a.retryOnStandby && from !== null ? { from: release.slot, to: from, perSecond: a.retryBudget, header: a.retryHeader ?? null } : null,
    faults: drill === null || from === null ? null : { slot: release.slot, errors: drill.errors, latency: drill.latency },
  };
}

/** Before traffic moves to the new slot: the routers retry and inject as the release asks (nothing when it asks for neither). */
export async function armShield(ctx: StepContext, release: ReleaseRecord): Promise<void> {
  const want = shieldRoutes(ctx, release);
  const s = ctx.rt.routeState();
  if (same(s.retry, want.retry) && same(s.faults, want.faults)) return;
  const what = [want.retry && `retry on ${want.retry.to}`, want.faults && 'drill faults on'].filter(Boolean).join(', ');
  await ctx.rt.setRoutes(
    want,
    CONTROLLER,
    `release ${release.id}: ${what || 'no retry, no faults'} while traffic moves to ${release.slot}`,
    release.id,
  );
}

/** Before promotion: the shield and the drill's faults end with the shift and observation. */
export async function disarmShield(ctx: StepContext, release: ReleaseRecord): Promise<void> {
  const s = ctx.rt.routeState();
  if (!s.retry && !s.faults) return;
  await ctx.rt.setRoutes({ retry: null, faults: null }, CONTROLLER, `release ${release.id}: retry on standby and faults off`, release.id);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}
