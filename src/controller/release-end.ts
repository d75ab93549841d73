// How a release ends on its own: a failed step (before traffic moved the release fails and its slot
// is stopped; after, it rolls back), the clean-up of a slot whose release ended before traffic moved
// (the standby it displaced then comes back, see standby.ts), and promoted -> retired (the standby
// slot drained and stopped, then the contract migration).
import type { ReleaseRecord } from '../store/types.ts';
import { hasTraffic } from '../lifecycle.ts';
import { unwritableIn } from '../store/faults.ts';
import { CONTROLLER } from './context.ts';
import { afterTrafficHooks, notifyHooks } from './hooks.ts';
import { contractAfterRetire } from './migrate.ts';
import { rollBackFirst, rollBackTo, type RollbackHost } from './rollback.ts';
import { closePreview } from './verify.ts';
import { sleep } from './wait.ts';

/** A step failed: before traffic moved the release fails and its slot is stopped; after, it rolls back. */
export async function failRelease(host: RollbackHost, release: ReleaseRecord, err: unknown): Promise<void> {
  const { ctx } = host;
  const reason = err instanceof Error ? err.message : String(err);
  ctx.log.warn('release step failed', { release: release.id, phase: release.phase, reason });
  if (hasTraffic(release.phase)) {
    // A first release has no old slot: back to where it started, no live slot ("no release yet"),
    // which loses nothing (its targets are not healthy) and lets a fixed version be deployed.
    if (release.fromSlot === null) await rollBackFirst(host, release, `${release.phase} failed: ${reason}`);
    else await rollBackTo(host, release, CONTROLLER, `${release.phase} failed: ${reason}`, false);
    return;
  }
  let ended: ReleaseRecord;
  try {
    ({ release: ended } = await ctx.store.transition(release.id, 'failed', { from: release.phase, actor: CONTROLLER, reason }));
  } catch (e) {
    // A refused write is retried by the runner; anything else means someone moved the release first.
    if (unwritableIn(e) !== null) throw e;
    ctx.log.warn('could not record the failure (someone moved the release first)', { release: release.id, err: e });
    return;
  }
  notifyHooks(ctx, ended, 'onFailure', reason);
  await host.clearIdle(ended);
}

/** After a release ended before traffic moved: its slot runs nothing any more (see standby.ts for what comes back). */
export async function stopIdleSlot(host: RollbackHost, release: ReleaseRecord): Promise<void> {
  const { ctx } = host;
  const slot = release.slot;
  await host.untilWritten(release.id, () => closePreview(ctx, release));
  if (ctx.rt.routeState().live === slot) return; // never touch the live slot
  if (!ctx.provider.capabilities.fixedTargets) {
    // The release is recorded ended: its slot must stop, however long the disk takes to record that.
    await host.untilWritten(release.id, () =>
      ctx.rt.setSlot(
        slot,
        { version: null, targets: [] },
        CONTROLLER,
        `release ${release.id} ${release.phase}: ${slot} is stopped`,
        release.id,
      ),
    );
  }
  await ctx.provider.stop(slot);
}

/**
 * At resume: a release that ended before traffic moved while its slot still names its version or is
 * open to preview (the controller died during the clean-up): the clean-up is finished now.
 */
export async function finishCleanUp(host: RollbackHost, release: ReleaseRecord): Promise<void> {
  const state = host.ctx.rt.routeState();
  if (state.live === release.slot) return;
  if (state.slots[release.slot].version !== release.version && state.preview?.slot !== release.slot) return;
  host.ctx.log.info('finishing the clean-up of a release that ended before traffic moved', { release: release.id, phase: release.phase });
  await stopIdleSlot(host, release);
}

/** promoted -> retired: record it, then stop the standby slot. */
export async function retire(host: RollbackHost, release: ReleaseRecord, actor: string, reason: string): Promise<void> {
  const { ctx } = host;
  if (release.fromSlot !== null) {
    // Recorded and notified; a failing one does not keep the standby slot from retiring.
    await afterTrafficHooks(ctx, release, 'beforeRetire', reason);
  }
  await ctx.store.transition(release.id, 'retired', { from: 'promoted', actor, reason });
  const standby = release.fromSlot;
  if (standby !== null && ctx.rt.routeState().live === standby) return; // old code is live: no contract either
  if (standby !== null) {
    // Long-lived connections still on the old slot get their drain time before it stops.
    const drained = Date.parse(String(release.data?.switchedAt)) + ctx.rt.cfg.drain;
    if (drained > Date.now()) await sleep(drained - Date.now());
    // Recorded first; a static slot's addresses are the operator's and stay.
    if (!ctx.provider.capabilities.fixedTargets) {
      await host.untilWritten(release.id, () =>
        ctx.rt.setSlot(standby, { version: null, targets: [] }, actor, `release ${release.id} retired: ${standby} is stopped`, release.id),
      );
    }
    await ctx.provider.stop(standby);
  }
  // A rollback's version is the old code the contract migration would break: it never runs after one.
  if (release.data?.rollback !== undefined) return;
  // No old code is left: the destructive half of the schema change may run now.
  await contractAfterRetire(ctx, release, actor);
}
