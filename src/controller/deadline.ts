// The progress deadline (`progressDeadline`, like Argo's progressDeadlineSeconds): a release whose
// last event is older than the deadline is stuck (a health check that never passes, a hook or gate
// that hangs, an analysis holding with nobody there). It is flagged once per phase, as an event of
// the release that status and history show; with `onProgressDeadline: abort` it is also ended safely:
// aborted before traffic moved (the live slot untouched), rolled back to the standby slot after.
// Waiting for an operator's approval (approvalTimeout is its deadline) and a promoted release's
// standby time are not stuck.
import { formatMs } from '../gates/common.ts';
import { hasTraffic, isBeforeTraffic } from '../lifecycle.ts';
import type { ReleaseRecord } from '../store/types.ts';
import { CONTROLLER, type StepContext } from './context.ts';

/** How often the deadline is checked; a release is flagged at most this late. */
const CHECK_EVERY_MS = 1000;

export interface DeadlineHost {
  ctx: StepContext;
  abort(actor: string, reason: string): Promise<unknown>;
  rollback(actor: string, reason: string): Promise<unknown>;
}

/** Starts checking; returns the function that stops it. Does nothing without a progressDeadline. */
export function watchProgress(host: DeadlineHost): () => void {
  const { ctx } = host;
  const deadline = ctx.rt.cfg.progressDeadline;
  if (deadline === undefined) return () => {};
  const flagged = new Set<string>();
  let busy = false;
  const check = async (): Promise<void> => {
    const release = await ctx.store.activeRelease(ctx.service);
    if (release === null || release.phase === 'awaiting-approval' || release.phase === 'promoted') return;
    const key = `${release.id}/${release.phase}`;
    if (flagged.has(key)) return;
    const [last] = await ctx.store.events({ releaseId: release.id, order: 'desc', limit: 1 });
    const since = Date.parse(last?.time ?? release.updatedAt);
    if (Date.now() - since < deadline) return;
    flagged.add(key);
    await stuck(host, release, `no progress for ${formatMs(deadline)} in ${release.phase} (progressDeadline)`);
  };
  const timer = setInterval(
    () => {
      if (busy) return;
      busy = true;
      check()
        .catch((err) => ctx.log.warn('cannot check the progress deadline', { err }))
        .finally(() => (busy = false));
    },
    Math.min(CHECK_EVERY_MS, deadline),
  );
  timer.unref();
  return () => clearInterval(timer);
}

async function stuck(host: DeadlineHost, release: ReleaseRecord, reason: string): Promise<void> {
  const { ctx } = host;
  const abort = ctx.rt.cfg.onProgressDeadline === 'abort';
  const action = !abort
    ? 'flagged'
    : isBeforeTraffic(release.phase)
      ? 'aborting it'
      : hasTraffic(release.phase) && release.fromSlot !== null
        ? 'rolling it back to the standby slot'
        : 'flagged (a first release has no slot to roll back to)';
  ctx.log.warn('release past its progress deadline', { release: release.id, phase: release.phase, action });
  await ctx.store.appendEvent({
    service: ctx.service,
    releaseId: release.id,
    type: 'audit',
    actor: CONTROLLER,
    reason: `${reason}: ${action}`,
    data: { kind: 'progress-deadline', phase: release.phase, action },
  });
  if (!abort) return;
  if (isBeforeTraffic(release.phase)) await host.abort(CONTROLLER, reason);
  else if (hasTraffic(release.phase) && release.fromSlot !== null) await host.rollback(CONTROLLER, reason);
}
