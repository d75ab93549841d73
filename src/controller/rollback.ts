// Rolling a release back once traffic moved: the checks `cutover rollback` makes before it touches
// anything, and the rollback itself: recorded rolled-back first, then one route-table swap back to
// the old slot (or, for a first release, no live slot at all).
import { CutoverError, conflict } from '../errors.ts';
import { hasTraffic, WITH_TRAFFIC_PHASES } from '../lifecycle.ts';
import type { ReleaseRecord } from '../store/types.ts';
import { CONTROLLER, type StepContext } from './context.ts';
import { notifyHooks } from './hooks.ts';
import { parityBeforeSwitch } from './parity.ts';
import { contractBlocksRollback } from './migrate.ts';

/** What the rollback steps need of the release controller. */
export interface RollbackHost {
  ctx: StepContext;
  /** Runs a write whose effect must follow its record, retried while the store refuses it. */
  untilWritten<T>(releaseId: string, fn: () => Promise<T>): Promise<T>;
  /** Stops the release's runner (when it runs) and waits for it to notice. */
  stopRunner(releaseId: string): Promise<void>;
}

/**
 * The release `cutover rollback` acts on: the active one once traffic moved, with a healthy old slot
 * to go back to. Anything else is refused with what to run instead, and nothing changes.
 */
export async function rollbackTarget(ctx: StepContext, active: ReleaseRecord | null): Promise<ReleaseRecord> {
  const service = ctx.service;
  if (active === null) {
    const [latest] = await ctx.store.listReleases(service, { limit: 1 });
    const previous = latest?.data?.fromVersion;
    const blocked = latest?.phase === 'retired' ? await contractBlocksRollback(ctx, latest) : null;
    if (blocked !== null) throw conflict(blocked);
    if (latest?.phase === 'retired' && typeof previous === 'string') {
      throw conflict(
        `release ${latest.id} (version ${latest.version}) of ${service} is retired: its old slot was stopped, so there is no instant rollback. ` +
          `The slow path is a new release of the previous version: \`cutover deploy ${service} ${previous}\``,
      );
    }
    throw conflict(
      `${service} has no release with a slot on standby to roll back to; deploy the version you want with \`cutover deploy ${service} <version>\``,
    );
  }
  if (!hasTraffic(active.phase)) {
    throw conflict(
      `release ${active.id} of ${service} is ${active.phase}: traffic has not moved, nothing to roll back; run \`cutover abort ${service}\` to stop it`,
    );
  }
  if (active.fromSlot === null) {
    throw conflict(
      `release ${active.id} is the first release of ${service}: there is no older version to roll back to; deploy another version instead`,
    );
  }
  const from = active.fromSlot;
  const targets = ctx.rt.routeState().slots[from].targets;
  if (!targets.some((a) => ctx.rt.targetHealth(a)?.healthy)) {
    throw new CutoverError(
      'CUTOVER_E_SLOT_UNHEALTHY',
      `the standby slot ${from} of ${service} has no healthy target, so traffic stays where it is; check \`cutover status ${service}\` and \`cutover logs ${service} --slot ${from}\``,
      409,
    );
  }
  return active;
}

/**
 * The release ends rolled back and all traffic goes to its old slot. `stopRunner`: an operator's
 * rollback, answered at once (refused or not), which stops the release's runner; the controller's
 * own (a failed analysis or step) waits for the disk, so that the verdict is not lost to a retried step.
 */
export async function rollBackTo(
  host: RollbackHost,
  release: ReleaseRecord,
  actor: string,
  reason: string,
  stopRunner = true,
): Promise<ReleaseRecord> {
  const { ctx } = host;
  const from = release.fromSlot!;
  const record = () => ctx.store.transition(release.id, 'rolled-back', { from: WITH_TRAFFIC_PHASES, actor, reason });
  const { release: ended } = stopRunner ? await record() : await host.untilWritten(release.id, record);
  if (stopRunner) await host.stopRunner(release.id);
  // Recorded rolled back: the switch back must follow, however long the disk takes to take it.
  await host.untilWritten(release.id, async () => {
    const state = ctx.rt.routeState();
    if (state.live === from && state.weights[from] === 100) return;
    await ctx.rt.switchTo(from, actor, `release ${release.id} rolled back: all traffic to ${from}`, {
      force: true,
      releaseId: release.id,
    });
  });
  ctx.log.info('release rolled back', { release: release.id, live: from });
  // What differed between the slots, on record; never awaited: a rollback is not delayed or refused for it.
  const parity = { provider: ctx.provider, cfg: ctx.rt.cfg, state: ctx.rt.routeState(), store: ctx.store, actor, releaseId: release.id };
  parityBeforeSwitch(parity, from, false).catch((err) => ctx.log.warn('cannot record parity at the rollback', { err }));
  notifyHooks(ctx, ended, 'onRollback', reason);
  return ended;
}

/** A first release has no old slot: it ends rolled back with no live slot ("no release yet"). */
export async function rollBackFirst(host: RollbackHost, release: ReleaseRecord, reason: string): Promise<void> {
  const { ctx } = host;
  const { release: ended } = await host.untilWritten(release.id, () =>
    ctx.store.transition(release.id, 'rolled-back', { from: WITH_TRAFFIC_PHASES, actor: CONTROLLER, reason }),
  );
  await host.untilWritten(release.id, () =>
    ctx.rt.clearLive(CONTROLLER, `release ${release.id} (the first) rolled back: no live slot`, release.id),
  );
  notifyHooks(ctx, ended, 'onRollback', reason);
}
