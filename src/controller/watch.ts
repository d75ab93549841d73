// The standby watch: once a release is promoted, its old slot waits on standby (for `standby`) so a
// rollback is one route-table swap. While it waits, analysis goes on at a lower rate
// (analysis.watchInterval) over what is left of the standby time, and a failing rule rolls back to
// the standby slot at once: a version that starts failing just after its observation window is not
// left live. Nothing to judge (no traffic) is no reason to act: the watch then simply goes on.
import type { ReleaseRecord } from '../store/types.ts';
import { analyse, loadBaseline } from './analysis.ts';
import { isInstantRollback } from './rollback.ts';
import type { TrafficHost } from './shift.ts';
import { msUntil, type Runner } from './wait.ts';

export const WATCH_LABEL = 'standby watch';

/**
 * Watches a promoted release until its standby time is over. Returns true when it rolled the release
 * back (the caller does nothing more), false when the time ran out and the standby slot may retire.
 */
export async function watchStandby(host: TrafficHost, release: ReleaseRecord, runner: Runner): Promise<boolean> {
  const { ctx } = host;
  const cfg = ctx.rt.cfg.analysis;
  const window = msUntil(release.data?.standbyUntil);
  // An instant rollback's standby is the version it rolled back from: never a way out.
  if (!cfg.watchStandby || release.fromSlot === null || window < cfg.watchInterval || isInstantRollback(release)) return false;
  const d = await analyse(ctx, release, {
    label: WATCH_LABEL,
    window,
    baseline: await loadBaseline(ctx, release),
    runner,
    track: (r) => host.track(release.id, r),
    // A quiet service at night is not a failure, and nobody is asked to promote twice.
    settings: { interval: cfg.watchInterval, inconclusive: 'pass' },
  });
  if (d.next !== 'rollback') return false;
  await host.analysisRollback(release, d.reason);
  return true;
}
