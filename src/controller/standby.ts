// The standby a release displaced. A release deployed while an older version stood by reuses that
// standby's slot (a service has two), so when it ends failed or aborted before traffic moved, the
// displaced version is provisioned again in its slot for the rest of its standby time: things are
// left as they were, and `cutover rollback` is instant again. What stands by is derived from the
// ended release's record and the route state, so a restarted controller finishes what a killed one
// began and knows the standby without any other record.
import type { SlotName } from '../config/types.ts';
import type { ReleaseRecord, RouteState } from '../store/types.ts';
import { CONTROLLER, type StepContext } from './context.ts';
import { contractBlocksRollback } from './migrate.ts';
import { msUntil } from './wait.ts';

/** Recorded in a release's data: the standby its slot held when it started. */
export interface Displaced {
  /** The release whose old slot stood by. */
  release: string;
  version: string;
  /** ISO 8601: when that standby time is over. */
  until: string;
}

/** A version standing by in a slot that is not live, until its time is over. */
export interface Standby {
  slot: SlotName;
  version: string;
  until: string;
  /** The release whose old slot it is. */
  source: string;
  /** The release that displaced it and ended before traffic moved; null for a promoted release's own standby. */
  restoredBy: string | null;
}

export function displacedOf(release: ReleaseRecord | undefined | null): Displaced | null {
  const d = release?.data?.displacedStandby as Partial<Displaced> | undefined;
  if (typeof d?.release !== 'string' || typeof d.version !== 'string' || typeof d.until !== 'string') return null;
  return { release: d.release, version: d.version, until: d.until };
}

/** What a release started now would displace: the old slot of a promoted release, or a restored standby. */
export function standbyNow(state: RouteState, active: ReleaseRecord | null, latest: ReleaseRecord | undefined): Standby | null {
  if (active !== null) {
    if (active.phase !== 'promoted' || active.fromSlot === null) return null;
    const version = state.slots[active.fromSlot].version;
    const until = active.data?.standbyUntil;
    if (version === null || typeof until !== 'string' || msUntil(until) === 0) return null;
    return { slot: active.fromSlot, version, until, source: active.id, restoredBy: null };
  }
  return restoredStandby(state, latest);
}

/** The latest release ended before traffic moved and its slot holds the version it displaced, on standby. */
export function restoredStandby(state: RouteState, latest: ReleaseRecord | undefined): Standby | null {
  if (latest === undefined || (latest.phase !== 'failed' && latest.phase !== 'aborted')) return null;
  const d = displacedOf(latest);
  if (d === null || msUntil(d.until) === 0 || state.live === latest.slot) return null;
  if (state.slots[latest.slot].version !== d.version) return null;
  return { slot: latest.slot, version: d.version, until: d.until, source: d.release, restoredBy: latest.id };
}

/**
 * After `release` ended before traffic moved and its slot was stopped: the version it displaced runs
 * there again, recorded (an event first, then the slot) for the rest of its standby time. Returns
 * that standby, or null when there is none to bring back (its time is over, the contract migration
 * removed what it needs, the slot is live) or it could not start (said in the events).
 */
export async function restoreStandby(
  ctx: StepContext,
  release: ReleaseRecord,
  untilWritten: <T>(fn: () => Promise<T>) => Promise<T>,
): Promise<Standby | null> {
  const d = displacedOf(release);
  const slot = release.slot;
  if (d === null || ctx.rt.routeState().live === slot) return null;
  const event = (reason: string, data: Record<string, unknown> = {}) =>
    untilWritten(() =>
      ctx.store.appendEvent({
        service: ctx.service,
        releaseId: release.id,
        type: 'provider',
        actor: CONTROLLER,
        reason,
        data: { slot, version: d.version, until: d.until, standby: true, ...data },
      }),
    );
  if (msUntil(d.until) === 0) {
    await event(`the standby time of version ${d.version} (until ${d.until}) is over: ${slot} stays stopped`, { restored: false });
    return null;
  }
  const source = await ctx.store.getRelease(d.release);
  const blocked = source === null ? null : await contractBlocksRollback(ctx, source);
  if (blocked !== null) {
    await event(`version ${d.version} is not provisioned again in ${slot}: ${blocked}`, { restored: false });
    return null;
  }
  await event(
    `release ${release.id} ended ${release.phase} before traffic moved: version ${d.version}, which it displaced, is provisioned again in ${slot}, on standby until ${d.until}`,
  );
  try {
    const running = ctx.provider.deployment(slot);
    const dep = running?.version === d.version ? running : await ctx.provider.provision(slot, d.version);
    await untilWritten(() =>
      ctx.rt.setSlot(
        slot,
        { version: d.version, targets: dep.targets },
        CONTROLLER,
        `${slot} runs version ${d.version} again, on standby until ${d.until}: \`cutover rollback ${ctx.service}\` is instant`,
        release.id,
      ),
    );
  } catch (err) {
    ctx.log.warn('cannot provision the displaced standby again', { release: release.id, slot, version: d.version, err });
    await ctx.provider.stop(slot).catch(() => {});
    await event(
      `version ${d.version} could not be provisioned again in ${slot}: ${(err as Error).message}; a rollback to it is a release through its gates`,
      { restored: false },
    );
    return null;
  }
  return { slot, version: d.version, until: d.until, source: d.release, restoredBy: release.id };
}

/** A restart owes `release` its displaced standby: due, not yet back, and not given up on (an event says why). */
export async function restoreDue(ctx: StepContext, release: ReleaseRecord): Promise<boolean> {
  const d = displacedOf(release);
  if (d === null || msUntil(d.until) === 0 || restoredStandby(ctx.rt.routeState(), release) !== null) return false;
  const events = await ctx.store.events({ releaseId: release.id, limit: 100_000 });
  return !events.some((e) => e.type === 'provider' && e.data.standby === true && e.data.restored === false);
}

/** The restored standby's time is over: its slot is stopped, recorded first. Nothing when something else uses the slot now. */
export async function expireStandby(ctx: StepContext, standby: Standby): Promise<void> {
  const active = await ctx.store.activeRelease(ctx.service);
  const [latest] = await ctx.store.listReleases(ctx.service, { limit: 1 });
  if (active !== null || latest?.id !== standby.restoredBy) return;
  const state = ctx.rt.routeState();
  if (state.live === standby.slot || state.slots[standby.slot].version !== standby.version) return;
  if (!ctx.provider.capabilities.fixedTargets) {
    await ctx.rt.setSlot(
      standby.slot,
      { version: null, targets: [] },
      CONTROLLER,
      `the standby time of version ${standby.version} is over: ${standby.slot} is stopped`,
      latest.id,
    );
  }
  await ctx.provider.stop(standby.slot);
}

/** Stops a restored standby when its time is over (unless a release has taken its slot by then). */
export class StandbyTimer {
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  readonly #ctx: () => StepContext;

  constructor(ctx: () => StepContext) {
    this.#ctx = ctx;
  }

  arm(standby: Standby): void {
    this.disarm();
    if (this.#closed) return;
    const timer = setTimeout(() => {
      if (this.#timer !== timer) return;
      this.#timer = null;
      const ctx = this.#ctx();
      expireStandby(ctx, standby).catch((err) => ctx.log.warn('cannot stop the standby whose time is over', { err }));
    }, msUntil(standby.until));
    timer.unref();
    this.#timer = timer;
  }

  disarm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  close(): void {
    this.#closed = true;
    this.disarm();
  }
}
