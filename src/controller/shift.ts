// Moving traffic and watching it: `shifting` puts the new slot live in one swap, or step by step
// through weights (clients pinned to the slot they first got by a sticky cookie keyed by the
// release), with an analysis run held over every step; `observing` runs analysis over the window
// after 100%. A failed run rolls back by itself; an operator's promote moves on (--full: to 100%).
import { formatDuration } from '../config/duration.ts';
import type { SlotName } from '../config/types.ts';
import type { AnalysisRunner } from '../analysis/run.ts';
import type { JsonObject, Phase, ReleaseRecord } from '../store/types.ts';
import { analyse, ensureBaseline, loadBaseline } from './analysis.ts';
import { isInstantRollback } from './rollback.ts';
import { CONTROLLER, type StepContext } from './context.ts';
import { notifyHooks } from './hooks.ts';
import { groupOf } from './group.ts';
import { armShield, disarmShield } from './shield.ts';
import { closePreview } from './verify.ts';
import { msUntil, sleep, sleepUntil, type Runner } from './wait.ts';

/** What the steps of shift and observe need from the controller. */
export interface TrafficHost {
  ctx: StepContext;
  provisioned(release: ReleaseRecord, signal: AbortSignal): Promise<string[]>;
  healthy(release: ReleaseRecord, targets: string[], signal: AbortSignal): Promise<void>;
  move(release: ReleaseRecord, phase: Phase, reason: string, releaseData?: JsonObject): Promise<void>;
  /** One swap back to the old slot; the release ends rolled-back with `reason`. */
  analysisRollback(release: ReleaseRecord, reason: string): Promise<void>;
  track(releaseId: string, run: AnalysisRunner | null): void;
}

/** The weights of one step: `w` percent to the new slot, the rest to the old one. */
export function stepWeights(from: SlotName, to: SlotName, w: number): Record<SlotName, number> {
  const weights = { blue: 0, green: 0 };
  weights[to] = w;
  weights[from] = 100 - w;
  return weights;
}

/**
 * The index of the step to (re)start from, given the new slot's share now: 0 before any traffic
 * moved, the step it was in when a restarted daemon resumes, or -1 when only 100% is left.
 */
export function resumeStep(steps: readonly number[], share: number): number {
  if (share <= 0) return 0;
  return steps.findIndex((w) => w >= share);
}

export async function shift(host: TrafficHost, release: ReleaseRecord, runner: Runner): Promise<void> {
  const { ctx } = host;
  const cfg = ctx.rt.cfg;
  const signal = runner.abort.signal;
  const slot = release.slot;
  const from = release.fromSlot;
  const targets = await host.provisioned(release, signal);
  await host.healthy(release, targets, signal);
  await closePreview(ctx, release);
  await armShield(ctx, release);
  const baseline = await ensureBaseline(ctx, release);
  // An instant rollback goes back to the version that stood by at once, and is not watched after.
  const instant = isInstantRollback(release);
  const steps = cfg.shift === 'instant' || from === null || instant ? [] : cfg.shift.steps.filter((w) => w < 100);
  const state = ctx.rt.routeState();
  if (steps.length > 0 && from !== null && cfg.shift !== 'instant' && state.live === from) {
    const hold = cfg.shift.hold;
    for (let i = resumeStep(steps, state.weights[slot]); i >= 0 && i < steps.length; i++) {
      const w = steps[i] as number;
      await ctx.rt.setRoutes(
        { weights: stepWeights(from, slot, w), sticky: { key: release.id } },
        CONTROLLER,
        `release ${release.id}: step ${i + 1} of ${steps.length + 1}: ${w}% of new clients to version ${release.version} on ${slot}`,
        release.id,
      );
      // Each step's clients move over the TTL of an eventual balancer before the step is judged.
      if (ctx.rt.traffic.settleAfter > 0) await sleep(ctx.rt.traffic.settleAfter, signal);
      const d = await analyse(ctx, release, {
        label: `step ${w}%`,
        window: hold,
        baseline,
        runner,
        track: (r) => host.track(release.id, r),
      });
      if (d.next === 'rollback') return host.analysisRollback(release, d.reason);
      if (d.next === 'full') break;
    }
  }
  // A promote given while shifting was about the shift: observing starts without it.
  runner.promoted = null;
  // A grouped release waits for its whole group here; the last to arrive switches every member.
  if (ctx.group && groupOf(release) !== null) await ctx.group.arrive(release, signal);
  const now = ctx.rt.routeState();
  if (now.live !== slot || now.weights[slot] !== 100) {
    await ctx.rt.switchTo(slot, CONTROLLER, `release ${release.id}: all traffic to version ${release.version}`, { releaseId: release.id });
  }
  // A first release has nothing to roll back to: it is promoted once its gates passed, unwatched.
  const window = from === null || instant ? 0 : cfg.analysis.window;
  const watch =
    from === null
      ? 'a first release has nothing to roll back to: promoted without an analysis window'
      : instant
        ? 'an instant rollback is promoted without an analysis window'
        : `observing for ${formatDuration(window)}`;
  // An eventual balancer (DNS) answers the new slot at once, but clients follow only as their cached
  // answers expire: the window starts after that, so it judges the new slot's traffic, not the rest.
  const settle = from === null || instant ? 0 : ctx.rt.traffic.settleAfter;
  const at = Date.now();
  await host.move(
    release,
    'observing',
    settle > 0
      ? `all traffic on ${slot}; clients follow within ${formatDuration(settle)} (the balancer is eventual), then ${watch}`
      : `all traffic on ${slot}; ${watch}`,
    {
      observeFrom: new Date(at + settle).toISOString(),
      observeUntil: new Date(at + settle + window).toISOString(),
      switchedAt: new Date(at).toISOString(),
    },
  );
  notifyHooks(ctx, { ...release, phase: 'observing' }, 'afterSwitch', `all traffic on ${slot}`);
}

export async function observe(host: TrafficHost, release: ReleaseRecord, runner: Runner): Promise<void> {
  const { ctx } = host;
  const cfg = ctx.rt.cfg;
  const signal = runner.abort.signal;
  const slot = release.slot;
  // After a restart the slot runs again on new targets: it must be healthy, or the release rolls back.
  await host.healthy(release, ctx.rt.routeState().slots[slot].targets, signal);
  if (release.fromSlot === null) {
    await host.move(release, 'promoted', `version ${release.version} is live on ${slot}: a first release is promoted once its gates pass`, {
      standbyUntil: null,
    });
    return;
  }
  if (!isInstantRollback(release)) {
    // Clients of an eventual balancer are still moving until observeFrom (a restarted daemon waits what is left).
    await sleepUntil(release.data?.observeFrom, signal);
    // A restarted daemon observes only what is left of the window, with a fresh run (at least one interval).
    const window = Math.max(cfg.analysis.interval, msUntil(release.data?.observeUntil));
    const baseline = await loadBaseline(ctx, release);
    const d = await analyse(ctx, release, { label: 'observing', window, baseline, runner, track: (r) => host.track(release.id, r) });
    if (d.next === 'rollback') return host.analysisRollback(release, d.reason);
  }
  // Never promote a slot that is not healthy now (a failure here rolls back).
  await host.healthy(release, ctx.rt.routeState().slots[slot].targets, signal);
  await disarmShield(ctx, release);
  const standbyUntil = release.fromSlot === null ? null : new Date(Date.now() + cfg.standby).toISOString();
  await host.move(
    release,
    'promoted',
    release.fromSlot === null
      ? `version ${release.version} is live on ${slot}`
      : `version ${release.version} is live on ${slot}; ${release.fromSlot} stays on standby until ${standbyUntil}`,
    { standbyUntil },
  );
  notifyHooks(ctx, { ...release, phase: 'promoted' }, 'afterPromote', `version ${release.version} is live on ${slot}`);
}
