// The release of one service as a short script of idempotent steps over observed state (the store's
// release record, the route state, the provider's deployments), in the manner of argo-rollouts'
// reconcile steps. Each step records its transition in the store before its effect becomes visible,
// so a daemon that dies anywhere continues from the store when it starts again (see resume()).
import type { AnalysisRunner } from '../analysis/run.ts';
import type { SlotName } from '../config/types.ts';
import { CutoverError, conflict, notFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Provider } from '../providers/types.ts';
import { BEFORE_TRAFFIC_PHASES, hasTraffic, isBeforeTraffic, isTerminal, WITH_TRAFFIC_PHASES } from '../lifecycle.ts';
import type { JsonObject, Phase, ReleaseRecord, Store } from '../store/types.ts';
import { analysisSummaries } from './analysis.ts';
import { CONTROLLER, type StepContext } from './context.ts';
import type { MigrationResult } from '../migrations/runner.ts';
import { contractAfterRetire, contractBlocksRollback, contractNow, expandBeforeProvision } from './migrate.ts';
import { restartSlots } from './resume.ts';
import { provisionSlot, recordReplicaExits, waitSlotHealthy } from './slots.ts';
import type { ServiceRuntime } from './service.ts';
import type { ReleaseCommands, ReleaseStatus } from './view.ts';
import { observe, shift, type TrafficHost } from './shift.ts';
import { awaitApproval, closePreview, gateResults, verify, type VerifyHost } from './verify.ts';
import { unwritableIn } from '../store/faults.ts';
import { watchStandby } from './watch.ts';
import { type Runner, sleep, sleepUntil, storeBackoff, untilWritten, wake } from './wait.ts';
import { watchProgress } from './deadline.ts';
import { afterTrafficHooks, notifyHooks, requireHooks } from './hooks.ts';

/** How long an abort, rollback or shutdown waits for the running step to notice and stop. */
const STEP_STOP_TIMEOUT = 15_000;

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
}

export class ReleaseController implements ReleaseCommands, TrafficHost, VerifyHost {
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
  private waiting: { releaseId: string; reason: string; since: string } | null = null;
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
    this.ctx = {
      rt: this.rt,
      store: this.store,
      provider: this.provider,
      log: this.log,
      service: this.service,
      configDir: opts.configDir ?? process.cwd(),
    };
    const unrecord = recordReplicaExits(this.ctx);
    const unwatch = watchProgress(this);
    this.unsubscribe = () => {
      unrecord();
      unwatch();
    };
  }

  // ---- commands ---------------------------------------------------------------------------------

  /** Starts a release of `version` into the idle slot; the store refuses a second active release. */
  async deploy(version: string, actor: string): Promise<ReleaseRecord> {
    await this.resumed;
    const active = await this.store.activeRelease(this.service);
    if (active?.phase === 'promoted') {
      // Its standby slot is the idle slot the new release needs: retire it now, on purpose.
      await this.stopRunner(active.id);
      await this.retire(active, actor, `release of version ${version} was requested; the standby slot is reused for it`);
    }
    const state = this.rt.routeState();
    const slot = state.live === null ? 'blue' : otherSlot(state.live);
    const fromVersion = state.live === null ? null : state.slots[state.live].version;
    const release = await this.store.createRelease(
      { service: this.service, version, slot, fromSlot: state.live, data: { fromVersion } },
      { actor, reason: `deploy version ${version} into ${slot}` },
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

  /** `cutover rollback`: while the old slot is on standby, one route-table swap back to it. */
  /** `cutover migrations contract`: the contract migration, only once no old code is left. */
  async contract(actor: string): Promise<MigrationResult> {
    await this.resumed;
    return contractNow(this.ctx, actor);
  }

  async rollback(actor: string, reason = 'rolled back by the operator'): Promise<ReleaseRecord> {
    await this.resumed;
    const active = await this.store.activeRelease(this.service);
    if (active === null) {
      const [latest] = await this.store.listReleases(this.service, { limit: 1 });
      const previous = latest?.data?.fromVersion;
      const blocked = latest?.phase === 'retired' ? await contractBlocksRollback(this.ctx, latest) : null;
      if (blocked !== null) throw conflict(blocked);
      if (latest?.phase === 'retired' && typeof previous === 'string') {
        throw conflict(
          `release ${latest.id} (version ${latest.version}) of ${this.service} is retired: its old slot was stopped, so there is no instant rollback. ` +
            `The slow path is a new release of the previous version: \`cutover deploy ${this.service} ${previous}\``,
        );
      }
      throw conflict(
        `${this.service} has no release with a slot on standby to roll back to; deploy the version you want with \`cutover deploy ${this.service} <version>\``,
      );
    }
    if (!hasTraffic(active.phase)) {
      throw conflict(
        `release ${active.id} of ${this.service} is ${active.phase}: traffic has not moved, nothing to roll back; run \`cutover abort ${this.service}\` to stop it`,
      );
    }
    if (active.fromSlot === null) {
      throw conflict(
        `release ${active.id} is the first release of ${this.service}: there is no older version to roll back to; deploy another version instead`,
      );
    }
    const from = active.fromSlot;
    const targets = this.rt.routeState().slots[from].targets;
    if (!targets.some((a) => this.rt.targetHealth(a)?.healthy)) {
      throw new CutoverError(
        'CUTOVER_E_SLOT_UNHEALTHY',
        `the standby slot ${from} of ${this.service} has no healthy target, so traffic stays where it is; check \`cutover status ${this.service}\` and \`cutover logs ${this.service} --slot ${from}\``,
        409,
      );
    }
    return this.rollBackTo(active, actor, reason);
  }

  /** Newest first. */
  list(limit?: number): Promise<ReleaseRecord[]> {
    return this.store.listReleases(this.service, limit === undefined ? {} : { limit });
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

  async statusOf(release: ReleaseRecord): Promise<ReleaseStatus> {
    const events = await this.store.events({ releaseId: release.id, limit: 100_000 });
    const route = this.rt.routeState().preview;
    const previewing = isBeforeTraffic(release.phase) && route?.slot === release.slot;
    const cfg = this.rt.cfg;
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
      analysis: analysisSummaries(events, this.running?.releaseId === release.id ? this.running.run : null),
      waiting: this.waiting?.releaseId === release.id ? { reason: this.waiting.reason, since: this.waiting.since } : null,
    };
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
    if (this.provider.capabilities.replicasDieWithController)
      await restartSlots({ runtime: this.rt, provider: this.provider, store: this.store, log: this.log }, active);
    if (active !== null && !this.closed) {
      this.log.info('resuming release', { release: active.id, phase: active.phase });
      this.run(active.id);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
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

  private async stopRunner(id: string): Promise<void> {
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
          await this.failed(release, failure.err);
          return;
        }
        if (attempt > 0) this.wrote(runner.id, attempt);
        attempt = 0;
      } catch (err) {
        if (signal.aborted) return;
        const unwritable = unwritableIn(err);
        if (unwritable === null) throw err;
        this.cannotWrite(runner.id, unwritable, attempt);
        await sleep(storeBackoff(attempt++), signal).catch(() => {});
      }
    }
  }

  /** Runs a write whose effect must follow its record (see untilWritten), retried while the store refuses it. */
  private untilWritten<T>(releaseId: string, fn: () => Promise<T>): Promise<T> {
    const runner = this.runner;
    const signal = runner?.id === releaseId && !runner.abort.signal.aborted ? runner.abort.signal : this.closing.signal;
    return untilWritten(fn, signal, (err, attempt) =>
      err === null ? this.wrote(releaseId, attempt) : this.cannotWrite(releaseId, err, attempt),
    );
  }

  private cannotWrite(releaseId: string, err: CutoverError, attempt: number): void {
    if (this.waiting?.releaseId !== releaseId || this.waiting.reason !== err.message) {
      this.waiting = { releaseId, reason: err.message, since: this.waiting?.since ?? new Date().toISOString() };
    }
    if (attempt === 0)
      this.log.warn('the store cannot be written: the release waits and tries again', { release: releaseId, reason: err.message });
  }

  private wrote(releaseId: string, attempts: number): void {
    if (this.waiting?.releaseId === releaseId) this.waiting = null;
    this.log.info('the store takes writes again: the release goes on', { release: releaseId, attempts });
  }

  /** One idempotent step for the release's phase; it ends by recording the next phase. */
  private async step(release: ReleaseRecord, runner: Runner): Promise<void> {
    const signal = runner.abort.signal;
    const slot = release.slot;
    const _cfg = this.rt.cfg;
    switch (release.phase) {
      case 'pending':
        await this.move(release, 'provisioning', `starting version ${release.version} in ${slot}`);
        return;
      case 'provisioning':
        await requireHooks(this.ctx, release, 'beforeProvision', `version ${release.version} is about to start in ${slot}`);
        // Expand first: the new version needs its schema before it starts, and the old one keeps working.
        await expandBeforeProvision(this.ctx, release, signal);
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
        await shift(this, release, runner);
        return;
      case 'observing':
        await observe(this, release, runner);
        return;
      case 'promoted':
        if (await watchStandby(this, release, runner)) return;
        if (release.fromSlot !== null) await sleepUntil(release.data?.standbyUntil, signal);
        await this.retire(release, CONTROLLER, release.fromSlot === null ? 'first release: nothing on standby' : 'standby time is over');
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
    if (release.fromSlot !== null) {
      await this.rollBackTo(release, CONTROLLER, `analysis failed: ${reason}`, false);
      return;
    }
    const { release: ended } = await this.untilWritten(release.id, () =>
      this.store.transition(release.id, 'rolled-back', {
        from: WITH_TRAFFIC_PHASES,
        actor: CONTROLLER,
        reason: `analysis failed: ${reason}`,
      }),
    );
    await this.untilWritten(release.id, () =>
      this.rt.clearLive(CONTROLLER, `release ${release.id} (the first) rolled back: no live slot`, release.id),
    );
    notifyHooks(this.ctx, ended, 'onRollback', `analysis failed: ${reason}`);
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

  /** A step failed: before traffic moved the release fails and its slot is stopped; after, it rolls back. */
  private async failed(release: ReleaseRecord, err: unknown): Promise<void> {
    const reason = err instanceof Error ? err.message : String(err);
    this.log.warn('release step failed', { release: release.id, phase: release.phase, reason });
    if (hasTraffic(release.phase)) {
      if (release.fromSlot !== null) {
        await this.rollBackTo(release, CONTROLLER, `${release.phase} failed: ${reason}`, false);
        return;
      }
      // A first release has no old slot: back to where it started, no live slot ("no release yet"),
      // which loses nothing (its targets are not healthy) and lets a fixed version be deployed.
      const { release: ended } = await this.store.transition(release.id, 'rolled-back', {
        from: WITH_TRAFFIC_PHASES,
        actor: CONTROLLER,
        reason: `${release.phase} failed: ${reason}`,
      });
      await this.untilWritten(release.id, () =>
        this.rt.clearLive(CONTROLLER, `release ${release.id} (the first) rolled back: no live slot`, release.id),
      );
      notifyHooks(this.ctx, ended, 'onRollback', `${release.phase} failed: ${reason}`);
      return;
    }
    let ended: ReleaseRecord;
    try {
      ({ release: ended } = await this.store.transition(release.id, 'failed', { from: release.phase, actor: CONTROLLER, reason }));
    } catch (e) {
      // A refused write is retried by the runner; anything else means someone moved the release first.
      if (unwritableIn(e) !== null) throw e;
      this.log.warn('could not record the failure (someone moved the release first)', { release: release.id, err: e });
      return;
    }
    notifyHooks(this.ctx, ended, 'onFailure', reason);
    await this.clearIdle(ended);
  }

  private async rollBackTo(release: ReleaseRecord, actor: string, reason: string, stopRunner = true): Promise<ReleaseRecord> {
    const from = release.fromSlot!;
    const record = () => this.store.transition(release.id, 'rolled-back', { from: WITH_TRAFFIC_PHASES, actor, reason });
    // An operator's rollback is answered at once, refused or not; the controller's own (a failed
    // analysis or step) waits for the disk, so that the verdict is not lost to a retried step.
    const { release: ended } = stopRunner ? await record() : await this.untilWritten(release.id, record);
    if (stopRunner) await this.stopRunner(release.id);
    // Recorded rolled back: the switch back must follow, however long the disk takes to take it.
    await this.untilWritten(release.id, async () => {
      const state = this.rt.routeState();
      if (state.live === from && state.weights[from] === 100) return;
      await this.rt.switchTo(from, actor, `release ${release.id} rolled back: all traffic to ${from}`, {
        force: true,
        releaseId: release.id,
      });
    });
    this.log.info('release rolled back', { release: release.id, live: from });
    notifyHooks(this.ctx, ended, 'onRollback', reason);
    return ended;
  }

  /** promoted -> retired: record it, then stop the standby slot. */
  private async retire(release: ReleaseRecord, actor: string, reason: string): Promise<void> {
    if (release.fromSlot !== null) {
      // Recorded and notified; a failing one does not keep the standby slot from retiring.
      await afterTrafficHooks(this.ctx, release, 'beforeRetire', reason);
    }
    await this.store.transition(release.id, 'retired', { from: 'promoted', actor, reason });
    const standby = release.fromSlot;
    if (standby !== null && this.rt.routeState().live === standby) return; // old code is live: no contract either
    if (standby !== null) {
      // Long-lived connections still on the old slot get their drain time before it stops.
      const drained = Date.parse(String(release.data?.switchedAt)) + this.rt.cfg.drain;
      if (drained > Date.now()) await sleep(drained - Date.now());
      // Recorded first; a static slot's addresses are the operator's and stay.
      if (!this.provider.capabilities.fixedTargets) {
        await this.untilWritten(release.id, () =>
          this.rt.setSlot(
            standby,
            { version: null, targets: [] },
            actor,
            `release ${release.id} retired: ${standby} is stopped`,
            release.id,
          ),
        );
      }
      await this.provider.stop(standby);
    }
    // No old code is left: the destructive half of the schema change may run now.
    await contractAfterRetire(this.ctx, release, actor);
  }

  /** After a release ended before traffic moved: its slot runs nothing any more. */
  async clearIdle(release: ReleaseRecord): Promise<void> {
    const slot = release.slot;
    await this.untilWritten(release.id, () => closePreview(this.ctx, release));
    if (this.rt.routeState().live === slot) return; // never touch the live slot
    if (!this.provider.capabilities.fixedTargets) {
      // The release is recorded ended: its slot must stop, however long the disk takes to record that.
      await this.untilWritten(release.id, () =>
        this.rt.setSlot(
          slot,
          { version: null, targets: [] },
          CONTROLLER,
          `release ${release.id} ${release.phase}: ${slot} is stopped`,
          release.id,
        ),
      );
    }
    await this.provider.stop(slot);
  }

  private async requireActive(what: string): Promise<ReleaseRecord> {
    const active = await this.store.activeRelease(this.service);
    if (active === null) throw conflict(`${this.service} has no release in progress to ${what}; see \`cutover history ${this.service}\``);
    return active;
  }
}
