// Rolling back. While a release that moved traffic has its old slot on standby: the checks
// `cutover rollback` makes before it touches anything, and the rollback itself (recorded rolled-back
// first, then one route-table swap back to the old slot; for a first release, no live slot at all).
// Otherwise, whenever an earlier version is known, a rollback is a release of that version, named as
// such: instant when it stands by (a standby a failed release gave back), else through its gates.
// And after a restart: the switch back of a rollback recorded just before the controller died.
import { CutoverError, conflict } from '../errors.ts';
import { hasTraffic, WITH_TRAFFIC_PHASES } from '../lifecycle.ts';
import type { ReleaseRecord, RouteState } from '../store/types.ts';
import { CONTROLLER, type StepContext } from './context.ts';
import { notifyHooks } from './hooks.ts';
import { killPoint } from './kill-points.ts';
import { parityBeforeSwitch } from './parity.ts';
import { contractBlocksRollback } from './migrate.ts';
import { standbyNow } from './standby.ts';

/** What the rollback steps need of the release controller. */
export interface RollbackHost {
  ctx: StepContext;
  /** Runs a write whose effect must follow its record, retried while the store refuses it. */
  untilWritten<T>(releaseId: string, fn: () => Promise<T>): Promise<T>;
  /** Stops the release's runner (when it runs) and waits for it to notice. */
  stopRunner(releaseId: string): Promise<void>;
  /** After a release ended before traffic moved: its slot is stopped, and the standby it displaced comes back. */
  clearIdle(release: ReleaseRecord): Promise<void>;
}

/**
 * The active release `cutover rollback` swaps back: once traffic moved, with a healthy old slot to
 * go back to. Anything else is refused with what to run instead, and nothing changes.
 */
export async function rollbackTarget(ctx: StepContext, active: ReleaseRecord): Promise<ReleaseRecord> {
  const service = ctx.service;
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
  killPoint('rollback:start');
  const { release: ended } = stopRunner ? await record() : await host.untilWritten(release.id, record);
  killPoint('rollback:recorded');
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
  killPoint('rollback:switched');
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

/** Recorded in a rollback release's data: what it goes back from, and whether it is the instant kind. */
export interface RollbackOf {
  /** The live version when the rollback was asked for. */
  from: string | null;
  /** The version stood by: no gates, no shift steps, no analysis; one swap (see isInstantRollback). */
  instant: boolean;
  reason: string;
}

/** A rollback release of a version that stood by: it goes straight to the swap and is promoted unwatched. */
export function isInstantRollback(release: ReleaseRecord): boolean {
  return (release.data?.rollback as Partial<RollbackOf> | undefined)?.instant === true;
}

export type RollbackPlan =
  /** The active release moved traffic and its old slot stands by: one swap back, the release ends rolled back. */
  | { kind: 'swap'; release: ReleaseRecord }
  /** Nothing to swap back to: a release of `version`, named a rollback (instant when it stands by). */
  | { kind: 'release'; version: string; instant: boolean; from: string | null; how: string };

/**
 * What `cutover rollback [--to VERSION]` does. With a release whose old slot stands by (and no other
 * `to`), one swap back; without `byRelease` (the controller's own rollbacks) nothing else. Otherwise, whenever an earlier version is known (`to`, the standby a failed
 * release gave back, or the version live before the live one), a release of it: instant when it
 * stands by, else through its gates. Refused when nothing earlier is known, or the contract migration
 * removed what older versions need.
 */
export async function planRollback(
  ctx: StepContext,
  active: ReleaseRecord | null,
  to: string | undefined,
  byRelease: boolean,
): Promise<RollbackPlan> {
  const service = ctx.service;
  const state = ctx.rt.routeState();
  if (!byRelease) {
    // The controller's own rollbacks (a group, a progress deadline, a drill) only ever swap back.
    if (active === null) throw conflict(`${service} has no release with a slot on standby to roll back to`);
    return { kind: 'swap', release: await rollbackTarget(ctx, active) };
  }
  if (active !== null) {
    const standby = hasTraffic(active.phase) && active.fromSlot !== null ? state.slots[active.fromSlot].version : null;
    if (to !== undefined && to !== standby && hasTraffic(active.phase) && active.phase !== 'promoted') {
      throw conflict(
        `release ${active.id} of ${service} is ${active.phase}: roll it back first (\`cutover rollback ${service}\`${standby === null ? '' : `, back to version ${standby}`}), then \`cutover rollback ${service} --to ${to}\``,
      );
    }
    if (to === undefined || to === standby || active.phase !== 'promoted')
      return { kind: 'swap', release: await rollbackTarget(ctx, active) };
  }
  const releases = await ctx.store.listReleases(service, { limit: 50 });
  const standby = standbyNow(state, active, releases[0]);
  const live = state.live === null ? null : state.slots[state.live].version;
  // The release that made the live version live, and the version live before it.
  const maker = releases.find((r) => r.version === live && (r.phase === 'promoted' || r.phase === 'retired'));
  const previous = typeof maker?.data?.fromVersion === 'string' ? maker.data.fromVersion : null;
  const version = to ?? standby?.version ?? previous;
  if (version === null) {
    throw conflict(
      `${service} has no earlier version to roll back to (nothing on standby, and no version was live before ${live ?? 'this one'}); deploy the version you want with \`cutover deploy ${service} <version>\``,
    );
  }
  if (version === live) throw conflict(`version ${version} of ${service} is live already: there is nothing to roll back`);
  const blocked = maker === undefined ? null : await contractBlocksRollback(ctx, maker);
  if (blocked !== null) throw conflict(blocked);
  const ready =
    standby !== null && standby.version === version && state.slots[standby.slot].targets.some((a) => ctx.rt.targetHealth(a)?.healthy);
  const how = ready
    ? `version ${version} stands by in ${standby.slot}: all traffic back to it at once, without gates`
    : `version ${version} is not on standby: a release of ${version} through its gates`;
  return { kind: 'release', version, instant: ready, from: live, how };
}

/** How long a restarted controller waits for the good slot before it completes a rollback's switch back. */
const SWITCH_BACK_TIMEOUT = 60_000;

/**
 * The latest release is recorded rolled back, yet traffic is not all on its old slot (for a first
 * release: its slot is still live): the controller died between the record and the switch back.
 * The switch is owed; resume completes it.
 */
export function switchBackOwed(state: RouteState, latest: ReleaseRecord | undefined): ReleaseRecord | null {
  if (latest?.phase !== 'rolled-back') return null;
  if (latest.fromSlot === null) return state.live === latest.slot ? latest : null;
  const from = latest.fromSlot;
  if (state.live === from && state.weights[from] === 100) return null;
  return state.slots[from].targets.length > 0 ? latest : null;
}

/**
 * Completes a rollback from its record: once the old slot is healthy (started again by resume), all
 * traffic goes back to it, and the rejected slot, which nothing needs now, is stopped as a restart
 * stops every slot nothing needs. A good slot that never turns healthy keeps the traffic where it is
 * (never on a slot that is not healthy), said in the log and the events.
 */
export async function finishRollback(host: RollbackHost, release: ReleaseRecord, signal: AbortSignal): Promise<void> {
  const { ctx } = host;
  const from = release.fromSlot;
  const rejected = release.slot;
  if (from === null) {
    await host.untilWritten(release.id, () =>
      ctx.rt.clearLive(
        CONTROLLER,
        `release ${release.id} (the first) was recorded rolled back before the controller stopped: no live slot`,
        release.id,
      ),
    );
    return;
  }
  try {
    await ctx.rt.waitHealthy(ctx.rt.routeState().slots[from].targets, SWITCH_BACK_TIMEOUT, signal);
  } catch (err) {
    if (signal.aborted) return;
    ctx.log.error('cannot complete a rollback: the old slot is not healthy', { release: release.id, slot: from, err });
    await ctx.store
      .appendEvent({
        service: ctx.service,
        releaseId: release.id,
        type: 'switch',
        actor: CONTROLLER,
        reason: `release ${release.id} is rolled back, but ${from} has no healthy target, so traffic stays where it is; check \`cutover status ${ctx.service}\` and switch with \`cutover switch ${ctx.service} ${from}\``,
        data: { to: from, done: false },
      })
      .catch(() => {});
    return;
  }
  await host.untilWritten(release.id, () =>
    ctx.rt.switchTo(
      from,
      CONTROLLER,
      `release ${release.id} was recorded rolled back before the controller stopped: all traffic to ${from} now`,
      {
        force: true,
        releaseId: release.id,
      },
    ),
  );
  ctx.log.info('rollback completed after a restart', { release: release.id, live: from });
  if (!ctx.provider.capabilities.fixedTargets) {
    await host.untilWritten(release.id, () =>
      ctx.rt.setSlot(
        rejected,
        { version: null, targets: [] },
        CONTROLLER,
        `release ${release.id} rolled back: ${rejected} is stopped`,
        release.id,
      ),
    );
  }
  await ctx.provider.stop(rejected);
}
