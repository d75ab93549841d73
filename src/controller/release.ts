// The release of one service as a short script of idempotent steps over observed state (the store's
// release record, the route state, the provider's deployments), in the manner of argo-rollouts'
// reconcile steps. Each step records its transition in the store before its effect becomes visible,
// so a daemon that dies anywhere continues from the store when it starts again (see resume()). The
// commands and the runner live here; how a release ends is in release-end.ts and rollback.ts, the
// standby a failed release gives back in standby.ts, and what status shows in release-status.ts.
import type { AnalysisRunner } from '../analysis/run.ts';
import type { SlotName } from '../config/types.ts';
import { conflict, notFound } from '../errors.ts';
import { BEFORE_TRAFFIC_PHASES, isBeforeTraffic, isTerminal } from '../lifecycle.ts';
import type { Logger } from '../log.ts';
import type { MigrationResult } from '../migrations/runner.ts';
import type { Provider } from '../providers/types.ts';
import { unwritableIn } from '../store/faults.ts';
import type { JsonObject, Phase, ReleaseRecord, Store } from '../store/types.ts';
import { CONTROLLER, type StepContext } from './context.ts';
import { watchProgress } from './deadline.ts';
import { type DrillRequest, startDrill, withDrillResults } from './drill.ts';
import type { GroupBarrier } from './group.ts';
import { requireHooks } from './hooks.ts';
import { contractNow, expandBeforeProvision } from './migrate.ts';
import { killPoint } from './kill-points.ts';
import { failRelease, finishCleanUp, retire, stopIdleSlot } from './release-end.ts';
import { releaseStatus } from './release-status.ts';
import { restartSlots } from './resume.ts';
import { scaleUpBeforeSwitch } from './scale-up.ts';
import {
  finishRollback,
  isInstantRollback,
  planRollback,
  switchBackOwed,
  type RollbackHost,
  type RollbackOf,
  rollBackFirst,
  rollBackTo,
} from './rollback.ts';
import type { ServiceRuntime } from './service.ts';
import { observe, shift, type TrafficHost } from './shift.ts';
import { provisionSlot, recordReplicaExits, waitSlotHealthy } from './slots.ts';
import { awaitApproval, verify, type VerifyHost } from './verify.ts';
import type { ReleaseCommands, ReleaseStatus } from './view.ts';
import { type Displaced, restoreDue, restoredStandby, restoreStandby, StandbyTimer, standbyNow } from './standby.ts';
import { type Runner, StoreWaits, sleep, sleepUntil, storeBackoff, untilWritten, wake } from './wait.ts';
import { watchStandby } from './watch.ts';

/** How long an abort, rollback or shutdown waits for the running step to notice and stop. */
const STEP_STOP_TIMEOUT = 15_000;
/** How long `cutover rollback` to a version on standby waits for it to be live before it answers. */
const INSTANT_ROLLBACK_TIMEOUT = 15_000;

export function otherSlot(slot: SlotName): SlotName {
  return slot === 'blue' ? 'green' : 'blue';
}

export interface ReleaseControllerOptions {
  runtime: ServiceRuntime;
  provider: Provider;
  store: Store;
  stateDir: string;
  log: Logger;
  /** The config file's folder: command gates run there (default: the daemon's working folder). */
  configDir?: string;
  /** The groups' barrier, when the service is in a group (controller/group.ts). */
  group?: GroupBarrier;
}

export class ReleaseController implements ReleaseCommands, TrafficHost, VerifyHost, RollbackHost {
  private readonly rt: ServiceRuntime;
  private readonly provider: Provider;
  private readonly store: Store;
  private readonly stateDir: string;
  private readonly log: Logger;
  private readonly service: string;
  private runner: Runner | null = null;
  private closed = false;
  /** Commands wait until resume() has put the slots back: they must not race its route-state writes. */
  private resumed: Promise<void>;
  private markResumed: () => void = () => {};
  private readonly unsubscribe: () => void;
  readonly ctx: StepContext;
  /** The analysis run going on now, for status. */
  private running: { releaseId: string; run: AnalysisRunner } | null = null;
  /** Why a release waits now for the store to take its writes (a full or read-only stateDir), for status. */
  private readonly waits: StoreWaits;
  /** Stops a standby a failed release gave back once its time is over. */
  private readonly standbyTimer: StandbyTimer;
  /** Aborted by close(): what waits for the store outside a release's runner stops then. */
  private readonly closing = new AbortController();

  constructor(opts: ReleaseControllerOptions) {
    this.rt = opts.runtime;
    this.provider = opts.provider;
    this.store = opts.store;
    this.stateDir = opts.stateDir;
    this.service = opts.runtime.cfg.name;
    this.log = opts.log.child({ service: this.service, component: 'release' });
    this.resumed = new Promise((resolve) => (this.markResumed = resolve));
    this.standbyTimer = new StandbyTimer(() => this.ctx);
    this.waits = new StoreWaits(this.log);
    this.ctx = {
      rt: this.rt,
      store: this.store,
      provider: this.provider,
      log: this.log,
      service: this.service,
      configDir: opts.configDir ?? process.cwd(),
      ...(opts.group ? { group: opts.group } : {}),
    };
    const unrecord = recordReplicaExits(this.ctx);
    const unwatch = watchProgress(this);
    this.unsubscribe = () => {
      unrecord();
      unwatch();
    };
  }

  // ---- commands ---------------------------------------------------------------------------------

  /**
   * Starts a release of `version` into the idle slot; the store refuses a second active release.
   * `opts.data` goes into the release's data (a drill's marking), `opts.reason` replaces the first event's.
   */
  async deploy(version: string, actor: string, opts: { data?: JsonObject; reason?: string } = {}): Promise<ReleaseRecord> {
    await this.resumed;
    return this.start(version, actor, (slot) => opts.reason ?? `deploy version ${version} into ${slot}`, opts.data);
  }

  /**
   * A release of `version` into the idle slot. A standby there (a promoted release's old slot, or one
   * a failed release gave back) is displaced: recorded in the new release, which brings it back if it
   * ends before traffic moved (standby.ts).
   */
  private async start(version: string, actor: string, why: (slot: SlotName) => string, extra: JsonObject = {}): Promise<ReleaseRecord> {
    const active = await this.store.activeRelease(this.service);
    const [latest] = active === null ? await this.store.listReleases(this.service, { limit: 1 }) : [];
    const standby = standbyNow(this.rt.routeState(), active, latest);
    if (active?.phase === 'promoted') {
      // Its standby slot is the idle slot the new release needs: retire it now, on purpose.
      await this.stopRunner(active.id);
      await retire(this, active, actor, `release of version ${version} was requested; the standby slot is reused for it`);
    }
    this.standbyTimer.disarm();
    const state = this.rt.routeState();
    const slot = state.live === null ? 'blue' : otherSlot(state.live);
    const fromVersion = state.live === null ? null : state.slots[state.live].version;
    const displaced: Displaced | null =
      standby !== null && standby.slot === slot && standby.version !== version
        ? { release: standby.source, version: standby.version, until: standby.until }
        : null;
    const release = await this.store.createRelease(
      {
        service: this.service,
        version,
        slot,
        fromSlot: state.live,
        data: { fromVersion, ...(displaced ? { displacedStandby: displaced } : {}), ...extra },
      },
      { actor, reason: why(slot) },
    );
    this.log.info('release started', { release: release.id, version, slot });
    this.run(release.id);
    return release;
  }

  /**
   * `cutover promote`: a release awaiting manual approval moves on to shifting; during a progressive
   * shift the current step ends now (`full`: straight to 100%); while observing (or held by an
   * inconclusive analysis) the release is promoted now, on the operator's word.
   */
  async promote(actor: string, opts: { full?: boolean } = {}): Promise<ReleaseRecord> {
    await this.resumed;
    const active = await this.requireActive('promote');
    const full = opts.full === true;
    if (active.phase === 'awaiting-approval') {
      const { release } = await this.store.transition(active.id, 'shifting', {
        from: 'awaiting-approval',
        actor,
        reason: full ? 'approved, with all traffic at once (--full)' : 'approved',
      });
      if (this.runner?.id === active.id) {
        if (full) this.runner.promoted = { full, actor };
        wake(this.runner);
      } else this.run(active.id);
      return release;
    }
    if (active.phase !== 'shifting' && active.phase !== 'observing') {
      throw conflict(
        `release ${active.id} of ${this.service} is ${active.phase}, not awaiting-approval, shifting or observing: there is nothing to promote; see \`cutover status ${this.service}\``,
      );
    }
    await this.store.appendEvent({
      service: this.service,
      releaseId: active.id,
      type: 'approval',
      actor,
      reason:
        active.phase === 'observing'
          ? 'promoted by the operator: observation ends now'
          : full
            ? 'promoted by the operator: all traffic to the new version now (--full)'
            : 'promoted by the operator: on to the next step now',
      data: { full, phase: active.phase },
    });
    if (this.runner?.id !== active.id) this.run(active.id);
    const runner = this.runner;
    if (runner?.id === active.id) {
      runner.promoted = { full, actor };
      wake(runner);
    }
    return active;
  }

  /** `cutover abort`: before traffic moves, stop the idle slot and end the release; live is untouched. */
  async abort(actor: string, reason = 'aborted by the operator'): Promise<ReleaseRecord> {
    await this.resumed;
    const active = await this.requireActive('abort');
    if (!isBeforeTraffic(active.phase)) {
      throw conflict(
        `release ${active.id} of ${this.service} is ${active.phase}: traffic has moved already, so it cannot be aborted; run \`cutover rollback ${this.service}\` instead`,
      );
    }
    const { release } = await this.store.transition(active.id, 'aborted', { from: BEFORE_TRAFFIC_PHASES, actor, reason });
    await this.stopRunner(active.id);
    await this.clearIdle(release);
    return release;
  }

  /** `cutover migrations contract`: the contract migration, only once no old code is left. */
  async contract(actor: string): Promise<MigrationResult> {
    await this.resumed;
    return contractNow(this.ctx, actor);
  }

  /**
   * `cutover rollback [--to VERSION]`: while the old slot is on standby, one route-table swap back to
   * it; otherwise a release of the earlier version, named a rollback (see planRollback). An instant
   * one is answered once it is live.
   */
  async rollback(
    actor: string,
    reason = 'rolled back by the operator',
    opts: { to?: string; byRelease?: boolean } = {},
  ): Promise<ReleaseRecord> {
    await this.resumed;
    const plan = await planRollback(this.ctx, await this.store.activeRelease(this.service), opts.to, opts.byRelease === true);
    if (plan.kind === 'swap') return rollBackTo(this, plan.release, actor, reason);
    const rollback: RollbackOf = { from: plan.from, instant: plan.instant, reason };
    const release = await this.start(
      plan.version,
      actor,
      (slot) =>
        `rollback to version ${plan.version}${plan.from === null ? '' : ` from ${plan.from}`} (${reason}): ${plan.how}; into ${slot}`,
      { rollback: rollback as unknown as JsonObject },
    );
    return plan.instant ? this.settled(release.id, INSTANT_ROLLBACK_TIMEOUT) : release;
  }

  /** The release once it is promoted or ended, or as it is after `ms`. */
  private async settled(id: string, ms: number): Promise<ReleaseRecord> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = await this.get(id);
      if (r.phase === 'promoted' || isTerminal(r.phase) || Date.now() > deadline) return r;
      await sleep(20);
    }
  }

  /** `cutover drill`: a release of the live version whose new slot's answers fail on purpose (drill.ts). */
  async drill(req: DrillRequest, actor: string): Promise<ReleaseRecord> {
    await this.resumed;
    return startDrill(this, req, actor, this.closing.signal);
  }

  /** Newest first; a drill with its result. */
  async list(limit?: number): Promise<ReleaseRecord[]> {
    return withDrillResults(this.store, await this.store.listReleases(this.service, limit === undefined ? {} : { limit }));
  }

  async get(id: string): Promise<ReleaseRecord> {
    const release = await this.store.getRelease(id);
    if (release === null || release.service !== this.service)
      throw notFound(`no release ${id} of ${this.service}; see \`cutover history ${this.service}\``);
    return release;
  }

  /** The active release, else the latest one, with its events: what status shows. */
  async releaseStatus(): Promise<ReleaseStatus | null> {
    const release = (await this.store.activeRelease(this.service)) ?? (await this.store.listReleases(this.service, { limit: 1 }))[0];
    if (!release) return null;
    return this.statusOf(release);
  }

  statusOf(release: ReleaseRecord): Promise<ReleaseStatus> {
    return releaseStatus(this.ctx, release, {
      run: this.running?.releaseId === release.id ? this.running.run : null,
      waiting: this.waits.of(release.id),
    });
  }

  // ---- restart ----------------------------------------------------------------------------------

  /**
   * After a daemon restart: start the live slot (and a standby slot) again from the route state,
   * record their new targets, forget slots nothing needs, then continue the active release.
   * The router serves a re-provisioned slot only once its targets are healthy.
   */
  async resume(): Promise<void> {
    try {
      await this.restartSlots();
    } finally {
      this.markResumed();
    }
  }

  private async restartSlots(): Promise<void> {
    const active = await this.store.activeRelease(this.service);
    const [latest] = active === null ? await this.store.listReleases(this.service, { limit: 1 }) : [];
    // A release that ended before traffic moved, whose clean-up a killed controller may not have finished.
    const ended = latest?.phase === 'failed' || latest?.phase === 'aborted' ? latest : null;
    if (ended !== null) await finishCleanUp(this, ended);
    const standby = restoredStandby(this.rt.routeState(), latest);
    // Recorded rolled back, but the controller died before the switch back: the good slot runs again first.
    const owed = switchBackOwed(this.rt.routeState(), latest);
    if (this.provider.capabilities.reprovisionAfterRestart) {
      const extra = standby?.slot ?? owed?.fromSlot ?? null;
      const ctx = { runtime: this.rt, provider: this.provider, store: this.store, log: this.log };
      await restartSlots(ctx, active, extra, owed?.fromSlot ?? null);
    }
    if (owed !== null) await finishRollback(this, owed, this.closing.signal);
    if (standby !== null) this.standbyTimer.arm(standby);
    else if (ended !== null && !this.closed && (await restoreDue(this.ctx, ended))) await this.clearIdle(ended);
    if (active !== null && !this.closed) {
      this.log.info('resuming release', { release: active.id, phase: active.phase });
      this.run(active.id);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.standbyTimer.close();
    this.closing.abort(new Error('the controller is closing'));
    this.unsubscribe();
    if (this.runner) await this.stopRunner(this.runner.id);
  }

  // ---- the steps --------------------------------------------------------------------------------

  private run(id: string): void {
    if (this.closed) return;
    const abort = new AbortController();
    const runner: Runner = { id, abort, done: Promise.resolve(), promoted: null, wakers: new Set() };
    runner.done = this.drive(runner).catch((err) => this.log.error('release runner failed', { release: id, err }));
    this.runner = runner;
    void runner.done.then(() => {
      if (this.runner === runner) this.runner = null;
    });
  }

  async stopRunner(id: string): Promise<void> {
    const runner = this.runner;
    if (runner?.id !== id) return;
    runner.abort.abort(new Error('release taken over'));
    wake(runner);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([runner.done, new Promise((r) => (timer = setTimeout(r, STEP_STOP_TIMEOUT)))]);
    clearTimeout(timer);
  }

  /**
   * Steps until the release ends. A step the store refused (a full or read-only stateDir) is not a
   * failed release: the runner waits and runs it again (steps are idempotent) until the disk takes
   * the write, while the routers serve the last route table; an abort or rollback meanwhile stops it.
   * A step that failed for its own reason while its failure could not be recorded has the failure
   * recorded on the next turn, not the step run again.
   */
  private async drive(runner: Runner): Promise<void> {
    const signal = runner.abort.signal;
    let failure = null as { phase: Phase; err: unknown } | null;
    for (let attempt = 0; ; ) {
      if (signal.aborted) return;
      try {
        const release = await this.store.getRelease(runner.id);
        if (release === null || isTerminal(release.phase)) return;
        if (failure?.phase !== release.phase) failure = null;
        try {
          if (failure === null) await this.step(release, runner);
        } catch (err) {
          // Whoever aborted the signal (abort, rollback, shutdown) owns what happens next.
          if (signal.aborted) return;
          if (unwritableIn(err) !== null) throw err;
          failure = { phase: release.phase, err };
        }
        if (failure !== null) {
          await failRelease(this, release, failure.err);
          return;
        }
        if (attempt > 0) this.waits.wrote(runner.id, attempt);
        attempt = 0;
      } catch (err) {
        if (signal.aborted) return;
        const unwritable = unwritableIn(err);
        if (unwritable === null) throw err;
        this.waits.cannotWrite(runner.id, unwritable, attempt);
        await sleep(storeBackoff(attempt++), signal).catch(() => {});
      }
    }
  }

  /** Runs a write whose effect must follow its record (see untilWritten), retried while the store refuses it. */
  untilWritten<T>(releaseId: string, fn: () => Promise<T>): Promise<T> {
    const runner = this.runner;
    const signal = runner?.id === releaseId && !runner.abort.signal.aborted ? runner.abort.signal : this.closing.signal;
    return untilWritten(fn, signal, (err, attempt) =>
      err === null ? this.waits.wrote(releaseId, attempt) : this.waits.cannotWrite(releaseId, err, attempt),
    );
  }

  /** One idempotent step for the release's phase; it ends by recording the next phase. */
  private async step(release: ReleaseRecord, runner: Runner): Promise<void> {
    const signal = runner.abort.signal;
    const slot = release.slot;
    switch (release.phase) {
      case 'pending':
        await this.move(release, 'provisioning', `starting version ${release.version} in ${slot}`);
        return;
      case 'provisioning':
        await requireHooks(this.ctx, release, 'beforeProvision', `version ${release.version} is about to start in ${slot}`);
        // Expand first: the new version needs its schema before it starts, and the old one keeps working.
        // A version that stood by runs on the schema it has: an instant rollback expands nothing.
        if (!isInstantRollback(release)) await expandBeforeProvision(this.ctx, release, signal);
        await this.provisioned(release, signal);
        await requireHooks(this.ctx, release, 'afterProvision', `${slot} runs version ${release.version}`);
        await this.move(release, 'verifying', `${slot} runs version ${release.version}; waiting until its targets are healthy`);
        return;
      case 'verifying':
        await verify(this, release, signal);
        return;
      case 'awaiting-approval':
        await awaitApproval(this, release, runner);
        return;
      case 'shifting':
        await scaleUpBeforeSwitch(this.ctx, release, signal);
        await shift(this, release, runner);
        return;
      case 'observing':
        await observe(this, release, runner);
        return;
      case 'promoted':
        if (await watchStandby(this, release, runner)) return;
        if (release.fromSlot !== null) await sleepUntil(release.data?.standbyUntil, signal);
        await retire(this, release, CONTROLLER, release.fromSlot === null ? 'first release: nothing on standby' : 'standby time is over');
        return;
      case 'retired':
      case 'failed':
      case 'aborted':
      case 'rolled-back':
        return;
      default: {
        const never: never = release.phase;
        throw new Error(`unknown phase ${String(never)}`);
      }
    }
  }

  track(releaseId: string, run: AnalysisRunner | null): void {
    if (run !== null) this.running = { releaseId, run };
    else if (this.running?.releaseId === releaseId) this.running = null;
  }

  /** A failed analysis: the release ends rolled back, traffic on the old slot (or, for a first release, on none). */
  async analysisRollback(release: ReleaseRecord, reason: string): Promise<void> {
    this.log.warn('analysis failed: rolling back', { release: release.id, reason });
    if (release.fromSlot === null) await rollBackFirst(this, release, `analysis failed: ${reason}`);
    else await rollBackTo(this, release, CONTROLLER, `analysis failed: ${reason}`, false);
  }

  async move(release: ReleaseRecord, phase: Phase, reason: string, releaseData?: JsonObject): Promise<void> {
    await this.store.transition(release.id, phase, {
      from: release.phase,
      actor: CONTROLLER,
      reason,
      ...(releaseData ? { releaseData } : {}),
    });
    this.log.info('release phase', { release: release.id, phase, reason });
  }

  /** The release's slot runs its version (started now if it does not, e.g. after a restart), recorded in the route state. */
  provisioned(release: ReleaseRecord, signal: AbortSignal): Promise<string[]> {
    return provisionSlot(this.ctx, release, signal);
  }

  healthy(release: ReleaseRecord, targets: string[], signal: AbortSignal): Promise<void> {
    return waitSlotHealthy(this.ctx, release, targets, signal);
  }

  /**
   * After a release ended before traffic moved: its slot runs nothing of it any more, and the standby
   * it displaced is provisioned again there for the rest of its time. Idempotent (resume runs it again).
   */
  async clearIdle(release: ReleaseRecord): Promise<void> {
    killPoint('ended:recorded');
    const standing = restoredStandby(this.rt.routeState(), release);
    if (standing === null) {
      await stopIdleSlot(this, release);
      const restored = await restoreStandby(this.ctx, release, (fn) => this.untilWritten(release.id, fn));
      if (restored !== null) this.standbyTimer.arm(restored);
    } else this.standbyTimer.arm(standing);
  }

  private async requireActive(what: string): Promise<ReleaseRecord> {
    const active = await this.store.activeRelease(this.service);
    if (active === null) throw conflict(`${this.service} has no release in progress to ${what}; see \`cutover history ${this.service}\``);
    return active;
  }
}
