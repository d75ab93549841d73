// The release of one service as a short script of idempotent steps over observed state (the store's
// release record, the route state, the provider's deployments), in the manner of argo-rollouts'
// reconcile steps. Each step records its transition in the store before its effect becomes visible,
// so a daemon that dies anywhere continues from the store when it starts again (see resume()).
import type { SlotName } from '../config/types.ts';
import { CutoverError, conflict, notFound } from '../errors.ts';
import type { Logger } from '../log.ts';
import { tailSlotLog } from '../providers/logs.ts';
import type { Provider } from '../providers/types.ts';
import { hasTraffic, isTerminal } from '../store/phases.ts';
import type { JsonObject, Phase, ReleaseRecord, Store } from '../store/types.ts';
import { restartSlots } from './resume.ts';
import type { ReleaseStatus, ServiceRuntime } from './service.ts';

/** How long a new slot's targets have to become healthy before the release fails. */
export const VERIFY_TIMEOUT = 60_000;
/** Lines of the slot's log quoted when its targets never become healthy. */
const LOG_LINES_IN_REASON = 20;
/** How long an abort, rollback or shutdown waits for the running step to notice and stop. */
const STEP_STOP_TIMEOUT = 15_000;
/** How often a release awaiting approval looks at the store again. */
const APPROVAL_POLL = 1000;

const CONTROLLER = 'controller';
const BEFORE_TRAFFIC: readonly Phase[] = ['pending', 'provisioning', 'verifying', 'awaiting-approval'];
const WITH_TRAFFIC: readonly Phase[] = ['shifting', 'observing', 'promoted'];

export function otherSlot(slot: SlotName): SlotName {
  return slot === 'blue' ? 'green' : 'blue';
}

interface Runner {
  id: string;
  abort: AbortController;
  done: Promise<void>;
  /** Wakes a step that waits (for approval); set while it waits. */
  wake: (() => void) | null;
}

export interface ReleaseControllerOptions {
  runtime: ServiceRuntime;
  provider: Provider;
  store: Store;
  stateDir: string;
  log: Logger;
}

export class ReleaseController {
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

  constructor(opts: ReleaseControllerOptions) {
    this.rt = opts.runtime;
    this.provider = opts.provider;
    this.store = opts.store;
    this.stateDir = opts.stateDir;
    this.service = opts.runtime.cfg.name;
    this.log = opts.log.child({ service: this.service, component: 'release' });
    this.resumed = new Promise((resolve) => (this.markResumed = resolve));
    // A replica that dies after provisioning is restarted by the provider; the event log says so.
    this.unsubscribe = this.provider.onReplicaEvent((e) => {
      if (e.type !== 'replica-exit' || e.restartIn === null) return;
      const how = e.code !== null ? `exited with code ${e.code}` : `was killed by ${e.signal}`;
      this.store
        .appendEvent({
          service: this.service,
          type: 'provider',
          actor: CONTROLLER,
          reason: `replica ${e.replica} of ${e.slot} (version ${e.version}, ${e.target}) ${how} after ${e.uptime} ms; restarting it in ${e.restartIn} ms (restart ${e.restarts + 1})`,
          data: { slot: e.slot, version: e.version, replica: e.replica, target: e.target, code: e.code, signal: e.signal, restarts: e.restarts },
        })
        .catch((err) => this.log.warn('cannot record a replica exit', { err }));
    });
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

  /** `cutover promote`: a release awaiting manual approval moves on to shifting. */
  async promote(actor: string): Promise<ReleaseRecord> {
    await this.resumed;
    const active = await this.requireActive('promote');
    if (active.phase !== 'awaiting-approval') {
      throw conflict(`release ${active.id} of ${this.service} is ${active.phase}, not awaiting-approval; only a release that waits for approval can be promoted`);
    }
    const { release } = await this.store.transition(active.id, 'shifting', { from: 'awaiting-approval', actor, reason: 'approved' });
    if (this.runner?.id === active.id) this.runner.wake?.();
    else this.run(active.id);
    return release;
  }

  /** `cutover abort`: before traffic moves, stop the idle slot and end the release; live is untouched. */
  async abort(actor: string, reason = 'aborted by the operator'): Promise<ReleaseRecord> {
    await this.resumed;
    const active = await this.requireActive('abort');
    if (!BEFORE_TRAFFIC.includes(active.phase)) {
      throw conflict(
        `release ${active.id} of ${this.service} is ${active.phase}: traffic has moved already, so it cannot be aborted; run \`cutover rollback ${this.service}\` instead`,
      );
    }
    const { release } = await this.store.transition(active.id, 'aborted', { from: BEFORE_TRAFFIC, actor, reason });
    await this.stopRunner(active.id);
    await this.clearIdle(release);
    return release;
  }

  /** `cutover rollback`: while the old slot is on standby, one route-table swap back to it. */
  async rollback(actor: string, reason = 'rolled back by the operator'): Promise<ReleaseRecord> {
    await this.resumed;
    const active = await this.store.activeRelease(this.service);
    if (active === null) {
      const [latest] = await this.store.listReleases(this.service, { limit: 1 });
      const previous = latest?.data?.fromVersion;
      if (latest?.phase === 'retired' && typeof previous === 'string') {
        throw conflict(
          `release ${latest.id} (version ${latest.version}) of ${this.service} is retired: its old slot was stopped, so there is no instant rollback. ` +
            `The slow path is a new release of the previous version: \`cutover deploy ${this.service} ${previous}\``,
        );
      }
      throw conflict(`${this.service} has no release with a slot on standby to roll back to; deploy the version you want with \`cutover deploy ${this.service} <version>\``);
    }
    if (!WITH_TRAFFIC.includes(active.phase)) {
      throw conflict(`release ${active.id} of ${this.service} is ${active.phase}: traffic has not moved, nothing to roll back; run \`cutover abort ${this.service}\` to stop it`);
    }
    if (active.fromSlot === null) {
      throw conflict(`release ${active.id} is the first release of ${this.service}: there is no older version to roll back to; deploy another version instead`);
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
    if (release === null || release.service !== this.service) throw notFound(`no release ${id} of ${this.service}; see \`cutover history ${this.service}\``);
    return release;
  }

  /** The active release, else the latest one, with its events: what status shows. */
  async releaseStatus(): Promise<ReleaseStatus | null> {
    const release = (await this.store.activeRelease(this.service)) ?? (await this.store.listReleases(this.service, { limit: 1 }))[0];
    if (!release) return null;
    return this.statusOf(release);
  }

  async statusOf(release: ReleaseRecord): Promise<ReleaseStatus> {
    const events = await this.store.events({ releaseId: release.id });
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
    if (this.provider.kind === 'process') await restartSlots({ runtime: this.rt, provider: this.provider, store: this.store, log: this.log }, active);
    if (active !== null && !this.closed) {
      this.log.info('resuming release', { release: active.id, phase: active.phase });
      this.run(active.id);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    if (this.runner) await this.stopRunner(this.runner.id);
  }

  // ---- the steps --------------------------------------------------------------------------------

  private run(id: string): void {
    if (this.closed) return;
    const abort = new AbortController();
    const runner: Runner = { id, abort, done: Promise.resolve(), wake: null };
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
    runner.wake?.();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([runner.done, new Promise((r) => (timer = setTimeout(r, STEP_STOP_TIMEOUT)))]);
    clearTimeout(timer);
  }

  private async drive(runner: Runner): Promise<void> {
    const signal = runner.abort.signal;
    for (;;) {
      if (signal.aborted) return;
      const release = await this.store.getRelease(runner.id);
      if (release === null || isTerminal(release.phase)) return;
      try {
        await this.step(release, runner);
      } catch (err) {
        // Whoever aborted the signal (abort, rollback, shutdown) owns what happens next.
        if (signal.aborted) return;
        await this.failed(release, err);
        return;
      }
    }
  }

  /** One idempotent step for the release's phase; it ends by recording the next phase. */
  private async step(release: ReleaseRecord, runner: Runner): Promise<void> {
    const signal = runner.abort.signal;
    const slot = release.slot;
    const cfg = this.rt.cfg;
    switch (release.phase) {
      case 'pending':
        await this.move(release, 'provisioning', `starting version ${release.version} in ${slot}`);
        return;
      case 'provisioning':
        await this.provisioned(release, signal);
        await this.move(release, 'verifying', `${slot} runs version ${release.version}; waiting until its targets are healthy`);
        return;
      case 'verifying': {
        const targets = await this.provisioned(release, signal);
        await this.healthy(release, targets, signal);
        const next = cfg.approval === 'manual' ? 'awaiting-approval' : 'shifting';
        await this.move(release, next, next === 'shifting' ? `every target of ${slot} is healthy` : `every target of ${slot} is healthy; waiting for \`cutover promote ${this.service}\``);
        return;
      }
      case 'awaiting-approval':
        await this.provisioned(release, signal);
        // promote() records shifting and wakes this; abort() records aborted and aborts the signal.
        // The poll covers an approval recorded before this started to wait.
        await new Promise<void>((resolve) => {
          const poll = setTimeout(resolve, APPROVAL_POLL);
          runner.wake = () => {
            clearTimeout(poll);
            resolve();
          };
          signal.addEventListener('abort', () => runner.wake?.(), { once: true });
        });
        runner.wake = null;
        return;
      case 'shifting': {
        const targets = await this.provisioned(release, signal);
        await this.healthy(release, targets, signal);
        if (this.rt.routeState().live !== slot) {
          await this.rt.switchTo(slot, CONTROLLER, `release ${release.id}: all traffic to version ${release.version}`, { releaseId: release.id });
        }
        const observeUntil = new Date(Date.now() + cfg.analysis.window).toISOString();
        const switchedAt = new Date().toISOString();
        await this.move(release, 'observing', `all traffic on ${slot}; observing for ${cfg.analysis.window} ms`, { observeUntil, switchedAt });
        return;
      }
      case 'observing': {
        await sleepUntil(release.data?.observeUntil, signal);
        const targets = this.rt.routeState().slots[slot].targets;
        await this.healthy(release, targets, signal);
        const standbyUntil = release.fromSlot === null ? null : new Date(Date.now() + cfg.standby).toISOString();
        await this.move(
          release,
          'promoted',
          release.fromSlot === null ? `version ${release.version} is live on ${slot}` : `version ${release.version} is live on ${slot}; ${release.fromSlot} stays on standby until ${standbyUntil}`,
          { standbyUntil },
        );
        return;
      }
      case 'promoted':
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

  private async move(release: ReleaseRecord, phase: Phase, reason: string, releaseData?: JsonObject): Promise<void> {
    await this.store.transition(release.id, phase, { from: release.phase, actor: CONTROLLER, reason, ...(releaseData ? { releaseData } : {}) });
    this.log.info('release phase', { release: release.id, phase, reason });
  }

  /** The release's slot runs its version (started now if it does not, e.g. after a restart), recorded in the route state. */
  private async provisioned(release: ReleaseRecord, signal: AbortSignal): Promise<string[]> {
    const running = this.provider.deployment(release.slot);
    const d = running?.version === release.version ? running : await this.provider.provision(release.slot, release.version, { signal });
    signal.throwIfAborted();
    await this.rt.setSlot(release.slot, { version: release.version, targets: d.targets }, CONTROLLER, `${release.slot} runs version ${release.version}`, release.id);
    return d.targets;
  }

  private async healthy(release: ReleaseRecord, targets: string[], signal: AbortSignal): Promise<void> {
    try {
      await this.rt.waitHealthy(targets, VERIFY_TIMEOUT, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      const lines = this.provider.kind === 'process' ? await tailSlotLog(this.stateDir, this.service, release.slot, LOG_LINES_IN_REASON).catch(() => []) : [];
      const output = lines.length > 0 ? `; the slot's last output:\n${lines.map((l) => `  | ${l}`).join('\n')}` : '';
      throw new CutoverError(
        'CUTOVER_E_SLOT_UNHEALTHY',
        `${this.service}/${release.slot} (version ${release.version}): ${(err as Error).message}${output}\nFix the application or health.path, then deploy again (\`cutover logs ${this.service} --slot ${release.slot}\`)`,
        409,
        { cause: err },
      );
    }
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
      await this.store.transition(release.id, 'rolled-back', { from: WITH_TRAFFIC, actor: CONTROLLER, reason: `${release.phase} failed: ${reason}` });
      await this.rt.clearLive(CONTROLLER, `release ${release.id} (the first) rolled back: no live slot`, release.id);
      return;
    }
    try {
      const { release: ended } = await this.store.transition(release.id, 'failed', { from: release.phase, actor: CONTROLLER, reason });
      await this.clearIdle(ended);
    } catch (e) {
      this.log.warn('could not record the failure (someone moved the release first)', { release: release.id, err: e });
    }
  }

  private async rollBackTo(release: ReleaseRecord, actor: string, reason: string, stopRunner = true): Promise<ReleaseRecord> {
    const from = release.fromSlot!;
    const { release: ended } = await this.store.transition(release.id, 'rolled-back', { from: WITH_TRAFFIC, actor, reason });
    if (stopRunner) await this.stopRunner(release.id);
    if (this.rt.routeState().live !== from) {
      await this.rt.switchTo(from, actor, `release ${release.id} rolled back: all traffic to ${from}`, { force: true, releaseId: release.id });
    }
    this.log.info('release rolled back', { release: release.id, live: from });
    return ended;
  }

  /** promoted -> retired: record it, then stop the standby slot. */
  private async retire(release: ReleaseRecord, actor: string, reason: string): Promise<void> {
    await this.store.transition(release.id, 'retired', { from: 'promoted', actor, reason });
    const standby = release.fromSlot;
    if (standby === null || this.rt.routeState().live === standby) return;
    // Long-lived connections still on the old slot get their drain time before it stops.
    const drained = Date.parse(String(release.data?.switchedAt)) + this.rt.cfg.drain;
    if (drained > Date.now()) await sleep(drained - Date.now());
    // Recorded first; a static slot's addresses are the operator's and stay.
    if (this.provider.kind !== 'static') {
      await this.rt.setSlot(standby, { version: null, targets: [] }, actor, `release ${release.id} retired: ${standby} is stopped`, release.id);
    }
    await this.provider.stop(standby);
  }

  /** After a release ended before traffic moved: its slot runs nothing any more. */
  private async clearIdle(release: ReleaseRecord): Promise<void> {
    const slot = release.slot;
    if (this.rt.routeState().live === slot) return; // never touch the live slot
    if (this.provider.kind !== 'static') {
      await this.rt.setSlot(slot, { version: null, targets: [] }, CONTROLLER, `release ${release.id} ${release.phase}: ${slot} is stopped`, release.id);
    }
    await this.provider.stop(slot);
  }

  private async requireActive(what: string): Promise<ReleaseRecord> {
    const active = await this.store.activeRelease(this.service);
    if (active === null) throw conflict(`${this.service} has no release in progress to ${what}; see \`cutover history ${this.service}\``);
    return active;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Sleeps until an ISO time kept in release data (a restarted daemon waits only what is left). */
function sleepUntil(iso: unknown, signal: AbortSignal): Promise<void> {
  const at = typeof iso === 'string' ? Date.parse(iso) : NaN;
  const ms = Number.isFinite(at) ? at - Date.now() : 0;
  return ms > 0 ? sleep(ms, signal) : Promise.resolve();
}
