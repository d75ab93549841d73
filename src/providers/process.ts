// The process provider: runs each slot of a service as `replicas` child processes on this machine.
//
// provision() reserves a free port per replica, records the replicas (when a book is given: slot,
// version, address; pid and start time once they run), starts them (PORT, CUTOVER_SLOT,
// CUTOVER_VERSION, CUTOVER_SERVICE set; `{version}` replaced in command, cwd and env) and returns
// their targets once every replica has stayed up for `stableFor`; a replica that exits inside that
// window fails the release with its last output lines. Afterwards a replica that dies is restarted
// with backoff on the same port and counted. A slot provisioned with fewer replicas (previewReplicas,
// ProvisionOptions.replicas) is brought up to `replicas` by scaleUp(), the new ones on new ports and
// judged like provision()'s. Output goes to `<stateDir>/logs/<service>/<slot>.log`.
//
// Where replicas run is the runner's business (replica-runner.ts). Under `cutover up` the stateDir's
// supervisor runs them: they outlive the controller, and a new controller adopts the replicas it
// finds running (provision() of the slot and version they were recorded with, pid and start time
// as recorded, health check passing) instead of starting them again; those nothing adopts are
// stopped by adoptionDone(). With the local runner (unit tests, no supervisor) they are children of
// this process and die with it (its watchdog, watchdog.ts, sees to that even after a SIGKILL). The
// judgements that need no state (may these be adopted, can this launch, why it failed) are in
// process-checks.ts.
import { randomUUID } from 'node:crypto';
import type { ProcessProvider, SlotName } from '../config/types.ts';
import { SLOTS } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { HealthConfig } from '../config/types.ts';
import type { ReplicaBook, ReplicaRecord } from '../store/types.ts';
import { abortedError, closedError, ProviderError } from './errors.ts';
import { slotLogPath, tailSlotLog } from './logs.ts';
import { releasePorts, REPLICA_HOST, reservePorts } from './ports.ts';
import { RESTART_BACKOFF, type BackoffPolicy } from './replica.ts';
import {
  LocalReplicaRunner,
  type ReplicaCallbacks,
  type ReplicaHandle,
  type ReplicaLog,
  type ReplicaRunner,
  type RunningReplica,
} from './replica-runner.ts';
import { type ProvisionedSpec, provisionedSpec, slotSpecOf } from './spec.ts';
import { checkLaunchable, type Failure, failureMessage, unadoptable } from './process-checks.ts';
import { launchSpec } from './template.ts';
import type {
  Provider,
  ProviderCapabilities,
  ProvisionOptions,
  ReplicaEvent,
  ReplicaListener,
  ReplicaStatus,
  SlotDeployment,
  SlotSpec,
  StopOptions,
} from './types.ts';
import type { Watchdog } from './watchdog-client.ts';

/** How long every replica must stay up before provisioning succeeds, unless told otherwise. */
export const DEFAULT_STABLE_FOR = 1000;
/** Lines of a failed replica's output quoted in the reason. */
export const FAILURE_LINES = 20;
/** A dead replica's last lines may still be in its pipes; wait this long for them at most. */
const OUTPUT_SETTLE_MS = 250;

export interface ProcessProviderOptions {
  service: string;
  config: ProcessProvider;
  stateDir: string;
  logger?: Logger;
  stableFor?: number;
  log?: { maxBytes?: number; files?: number };
  /** For the default (local) runner: default the daemon-wide watchdog (acquired here, released by close()). */
  watchdog?: Watchdog;
  /** Where replicas run; default this process (LocalReplicaRunner). */
  runner?: ReplicaRunner;
  /** Where replicas are recorded before they start; a runner whose replicas outlive the controller needs one to adopt them. */
  book?: ReplicaBook;
  /** The service's health check, which a replica found running must pass to be adopted. */
  health?: HealthConfig;
  /** The environment replicas inherit; default process.env (CUTOVER_TOKEN is never passed on). */
  env?: NodeJS.ProcessEnv;
  backoff?: BackoffPolicy;
}

interface SlotRun {
  version: string;
  /** What it was provisioned with, for the parity report. */
  spec: ProvisionedSpec;
  replicas: ReplicaHandle[];
  log: ReplicaLog;
  ready: boolean;
  /** Set while provisioning: hears the first exit, which fails the release. */
  onFailure: ((failure: Failure) => void) | null;
}

export class ProcessProviderImpl implements Provider {
  readonly kind = 'process' as const;
  readonly service: string;
  readonly capabilities: ProviderCapabilities = { reprovisionAfterRestart: true, fixedTargets: false };
  readonly #opts: ProcessProviderOptions;
  readonly #runner: ReplicaRunner;
  readonly #ownsRunner: boolean;
  /** Replicas an earlier controller started that still run, per slot, until adopted or discarded. */
  #found: Promise<Map<SlotName, { found: RunningReplica; record: ReplicaRecord | null }[]>> | null = null;
  /** Records the store refused (a full stateDir): written with the next write that works. */
  readonly #unrecorded = new Map<string, ReplicaRecord>();
  readonly #slots = new Map<SlotName, SlotRun>();
  readonly #ops = new Map<SlotName, Promise<unknown>>();
  readonly #listeners = new Set<ReplicaListener>();
  /** Aborts provisioning in flight when the provider closes. */
  readonly #closing = new AbortController();
  #closed: Promise<void> | null = null;

  constructor(opts: ProcessProviderOptions) {
    this.#opts = opts;
    this.service = opts.service;
    this.#ownsRunner = opts.runner === undefined;
    this.#runner =
      opts.runner ??
      new LocalReplicaRunner({ ...(opts.watchdog ? { watchdog: opts.watchdog } : {}), ...(opts.logger ? { logger: opts.logger } : {}) });
  }

  provision(slot: SlotName, version: string, opts: ProvisionOptions = {}): Promise<SlotDeployment> {
    return this.#serial(slot, () => this.#provision(slot, version, opts));
  }

  scaleUp(slot: SlotName, opts: ProvisionOptions = {}): Promise<SlotDeployment> {
    return this.#serial(slot, () => this.#scaleUp(slot, opts));
  }

  stop(slot: SlotName, opts: StopOptions = {}): Promise<void> {
    return this.#serial(slot, () => this.#stopSlot(slot, opts.grace));
  }

  configuredTargets(_slot: SlotName): string[] {
    return [];
  }

  lastOutput(slot: SlotName, lines: number): Promise<string[]> {
    return tailSlotLog(this.#opts.stateDir, this.service, slot, lines).catch(() => []);
  }

  deployment(slot: SlotName): SlotDeployment | null {
    const run = this.#slots.get(slot);
    return run?.ready ? { slot, version: run.version, targets: run.replicas.map((r) => r.target) } : null;
  }

  replicas(slot: SlotName): ReplicaStatus[] {
    return this.#slots.get(slot)?.replicas.map((r) => r.status()) ?? [];
  }

  async slotSpec(slot: SlotName): Promise<SlotSpec | null> {
    const run = this.#slots.get(slot);
    if (!run?.ready) return null;
    const spec = await slotSpecOf(run.spec, this.replicas(slot));
    return run.replicas.length < spec.replicas ? { ...spec, previewReplicas: run.replicas.length } : spec;
  }

  onReplicaEvent(listener: ReplicaListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Stops every slot, unless the replicas outlive the controller: then they are left running for the
   * next controller to adopt (a deliberate stop has the supervisor stop them after the routers drain).
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort(closedError(this.service));
      if (!this.#runner.outlivesController) await Promise.all(SLOTS.map((slot) => this.#serial(slot, () => this.#stopSlot(slot))));
      else await Promise.all(SLOTS.map((slot) => this.#serial(slot, async () => this.#slots.get(slot)?.log.close())));
      if (this.#ownsRunner) await this.#runner.close();
    })();
    return this.#closed;
  }

  /**
   * After a restart, once every slot the controller needs was provisioned: replicas nothing adopted
   * stop, but for the slots in `later` (a release's own, provisioned next; stop() stops them too).
   */
  async adoptionDone(later: readonly SlotName[] = []): Promise<void> {
    const found = await this.#foundBySlot();
    await Promise.all(
      SLOTS.filter((slot) => !later.includes(slot)).map((slot) =>
        this.#serial(slot, async () => {
          const left = found.get(slot) ?? [];
          found.delete(slot);
          await this.#discard(slot, left, 'no slot the controller needs runs it');
        }),
      ),
    );
  }

  /** One operation at a time per slot, in call order; a failed one does not block the next. */
  #serial<T>(slot: SlotName, fn: () => Promise<T>): Promise<T> {
    const next = (this.#ops.get(slot) ?? Promise.resolve()).then(fn, fn);
    this.#ops.set(
      slot,
      next.catch(() => {}),
    );
    return next;
  }

  async #provision(slot: SlotName, version: string, opts: ProvisionOptions): Promise<SlotDeployment> {
    if (this.#closing.signal.aborted) throw closedError(this.service);
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.#closing.signal]) : this.#closing.signal;
    const current = this.#slots.get(slot);
    if (current?.ready && current.version === version) return this.deployment(slot)!;
    if (current) await this.#stopSlot(slot);
    else {
      const adopted = await this.#adopt(slot, version);
      if (adopted !== null) return adopted;
    }
    if (signal.aborted) throw this.#abortReason(slot, signal);

    const config = this.#opts.config;
    await checkLaunchable(this.#opts.config, this.service, slot, version);
    const count = opts.replicas ?? config.replicas;
    const ports = await reservePorts(count, REPLICA_HOST);
    const log = this.#slotLog(slot);
    log.write(-1, 'cutover', [`provisioning version ${version}: ${count} replica(s) of ${JSON.stringify(config.command)}`]);
    const run: SlotRun = { version, spec: provisionedSpec(config), replicas: [], log, ready: false, onFailure: null };
    this.#slots.set(slot, run);
    run.replicas = ports.map((port, index) => this.#replica(slot, run, index, port));
    // On record before they start: a controller that dies from here on leaves replicas the next one
    // knows (or, started but not yet recorded with their pid, ones the supervisor stops as unadopted).
    await this.#record(run.replicas.map((r) => this.#recordOf(slot, run, r)));

    const stableFor = opts.stableFor ?? this.#opts.stableFor ?? DEFAULT_STABLE_FOR;
    const failure = await this.#startStable(run, run.replicas, stableFor, signal);
    if (failure === null) {
      for (const replica of run.replicas) replica.supervised = true;
      run.ready = true;
      log.write(-1, 'cutover', [`provisioned version ${version} at ${run.replicas.map((r) => r.target).join(' ')}`]);
      return this.deployment(slot)!;
    }
    if (failure === 'aborted') {
      await this.#stopSlot(slot);
      throw this.#abortReason(slot, signal);
    }
    await failure.replica.outputSettled(OUTPUT_SETTLE_MS);
    const lastLines = failure.replica.output(FAILURE_LINES);
    await this.#stopSlot(slot);
    throw new ProviderError('CUTOVER_E_PROVISION_FAILED', failureMessage(this.service, slot, version, stableFor, failure, lastLines), {
      ...(failure.error ? { cause: failure.error } : {}),
      failure: { replica: failure.replica.index, exit: failure.exit, lastLines },
    });
  }

  /** Starts `replicas` (of `run`) and resolves once all stayed up for `stableFor`, or at the first failure. */
  #startStable(run: SlotRun, replicas: ReplicaHandle[], stableFor: number, signal: AbortSignal): Promise<Failure | 'aborted' | null> {
    return new Promise<Failure | 'aborted' | null>((resolve) => {
      let settled = false;
      const timer = setTimeout(() => done(null), stableFor);
      const onAbort = (): void => done('aborted');
      const done = (result: Failure | 'aborted' | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        run.onFailure = null;
        resolve(result);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      run.onFailure = done;
      // A replica that cannot even be spawned settles this at once; the rest are then not started.
      for (const replica of replicas) if (!settled) replica.start();
    });
  }

  /**
   * Adds replicas to a ready slot until it runs `replicas`, on new ports, recorded before they start;
   * returned once the new ones stayed up for `stableFor`. A new one that fails stops the new ones only.
   */
  async #scaleUp(slot: SlotName, opts: ProvisionOptions): Promise<SlotDeployment> {
    if (this.#closing.signal.aborted) throw closedError(this.service);
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.#closing.signal]) : this.#closing.signal;
    const run = this.#slots.get(slot);
    if (!run?.ready) {
      throw new ProviderError('CUTOVER_E_PROVISION_FAILED', `${this.service}/${slot} runs nothing to scale up; deploy again`);
    }
    const want = this.#opts.config.replicas;
    const have = run.replicas.length;
    if (have >= want) return this.deployment(slot)!;
    const ports = await reservePorts(want - have, REPLICA_HOST);
    run.log.write(-1, 'cutover', [`scaling version ${run.version} from ${have} to ${want} replica(s)`]);
    const added = ports.map((port, i) => this.#replica(slot, run, have + i, port));
    await this.#record(added.map((r) => this.#recordOf(slot, run, r)));
    const stableFor = opts.stableFor ?? this.#opts.stableFor ?? DEFAULT_STABLE_FOR;
    const failure = await this.#startStable(run, added, stableFor, signal);
    if (failure === null) {
      for (const replica of added) replica.supervised = true;
      run.replicas.push(...added);
      run.log.write(-1, 'cutover', [`scaled version ${run.version} to ${want} replicas at ${run.replicas.map((r) => r.target).join(' ')}`]);
      return this.deployment(slot)!;
    }
    if (failure !== 'aborted') await failure.replica.outputSettled(OUTPUT_SETTLE_MS);
    const lastLines = failure === 'aborted' ? [] : failure.replica.output(FAILURE_LINES);
    await Promise.all(added.map((r) => r.stop()));
    releasePorts(added.map((r) => r.port));
    await this.#forget(added.map((r) => r.id));
    if (failure === 'aborted') throw this.#abortReason(slot, signal);
    throw new ProviderError('CUTOVER_E_PROVISION_FAILED', failureMessage(this.service, slot, run.version, stableFor, failure, lastLines), {
      ...(failure.error ? { cause: failure.error } : {}),
      failure: { replica: failure.replica.index, exit: failure.exit, lastLines },
    });
  }

  #slotLog(slot: SlotName): ReplicaLog {
    return this.#runner.log(slotLogPath(this.#opts.stateDir, this.service, slot), {
      ...this.#opts.log,
      onError: (err) => this.#opts.logger?.warn('cannot write the slot log', { service: this.service, slot, err }),
    });
  }

  #replica(slot: SlotName, run: SlotRun, index: number, port: number): ReplicaHandle {
    const config = this.#opts.config;
    const service = this.service;
    return this.#runner.create(
      {
        id: randomUUID(),
        service,
        slot,
        version: run.version,
        index,
        host: REPLICA_HOST,
        port,
        launch: launchSpec(config, { service, slot, version: run.version, port, baseEnv: this.#opts.env ?? process.env }),
        stopGrace: config.stopGrace,
        backoff: this.#opts.backoff ?? RESTART_BACKOFF,
        logPath: slotLogPath(this.#opts.stateDir, service, slot),
      },
      this.#callbacks(slot, run),
    );
  }

  #callbacks(slot: SlotName, run: SlotRun): ReplicaCallbacks {
    const service = this.service;
    return {
      onStart: (replica) => {
        // Its pid and start time, on record as soon as it runs (a restart after a death: the new ones).
        void this.#record([this.#recordOf(slot, run, replica)]);
        this.#emit({ type: 'replica-start', ...this.#eventBase(slot, run, replica, replica.pid) });
      },
      onExit: (replica, exit, restartIn, error) => {
        const index = replica.index;
        if (restartIn !== null) {
          this.#opts.logger?.warn('replica died; restarting it', { service, slot, replica: index, ...exit, restartIn });
        }
        this.#emit({ type: 'replica-exit', ...this.#eventBase(slot, run, replica, replica.lastPid), ...exit, restartIn });
        if (replica.state !== 'stopped' || restartIn !== null) return;
        run.onFailure?.({ replica, exit, error });
      },
    };
  }

  #recordOf(slot: SlotName, run: SlotRun, r: ReplicaHandle): ReplicaRecord {
    return {
      id: r.id,
      service: this.service,
      slot,
      version: run.version,
      index: r.index,
      address: r.target,
      pid: r.pid,
      startTime: r.startTime,
    };
  }

  /**
   * Writes replica records. A store that cannot write now (a full or read-only stateDir) does not
   * keep a slot from starting: users may be waiting for it, and the supervisor stops whatever no
   * controller adopts, so an unrecorded replica is never left behind; the records are written with
   * the next write that works.
   */
  async #record(records: ReplicaRecord[]): Promise<void> {
    const book = this.#opts.book;
    if (book === undefined) return;
    for (const r of records) this.#unrecorded.set(r.id, r);
    const batch = [...this.#unrecorded.values()];
    try {
      await book.put(batch);
      for (const r of batch) if (this.#unrecorded.get(r.id) === r) this.#unrecorded.delete(r.id);
    } catch (err) {
      this.#opts.logger?.warn('cannot record replicas in the store; they run, and are recorded once it takes writes', {
        service: this.service,
        err,
      });
    }
  }

  async #forget(ids: string[]): Promise<void> {
    for (const id of ids) this.#unrecorded.delete(id);
    await this.#opts.book
      ?.remove(ids)
      .catch((err) => this.#opts.logger?.warn('cannot remove replica records', { service: this.service, err }));
  }

  /** What an earlier controller left running, matched with its records; stale records are removed. */
  #foundBySlot(): Promise<Map<SlotName, { found: RunningReplica; record: ReplicaRecord | null }[]>> {
    this.#found ??= (async () => {
      const bySlot = new Map<SlotName, { found: RunningReplica; record: ReplicaRecord | null }[]>();
      if (!this.#runner.outlivesController) return bySlot;
      const [running, records] = await Promise.all([
        this.#runner.running(this.service),
        this.#opts.book?.list(this.service).catch(() => []) ?? Promise.resolve([]),
      ]);
      const byId = new Map(records.map((r) => [r.id, r]));
      for (const found of running) {
        const list = bySlot.get(found.slot) ?? [];
        list.push({ found, record: byId.get(found.id) ?? null });
        bySlot.set(found.slot, list);
        byId.delete(found.id);
      }
      // Records of replicas that no longer run (stopped while no controller listened, or never started).
      if (byId.size > 0) await this.#forget([...byId.keys()]);
      return bySlot;
    })();
    return this.#found;
  }

  /**
   * Takes over the slot's replicas an earlier controller started, when they are exactly what the
   * store says the slot ran: recorded with this slot, version and address, the same pid and start
   * time (never a reused pid), done provisioning, and each passes its health check. Otherwise they
   * are stopped and the slot starts afresh.
   */
  async #adopt(slot: SlotName, version: string): Promise<SlotDeployment | null> {
    const bySlot = await this.#foundBySlot();
    const candidates = bySlot.get(slot) ?? [];
    bySlot.delete(slot);
    if (candidates.length === 0) return null;
    const why = await unadoptable(version, candidates, this.#opts.health);
    if (why !== null) {
      await this.#discard(slot, candidates, why);
      return null;
    }
    const log = this.#slotLog(slot);
    // Its spec as this config says: what the earlier controller provisioned it with is not on record.
    const run: SlotRun = { version, spec: provisionedSpec(this.#opts.config), replicas: [], log, ready: true, onFailure: null };
    const callbacks = this.#callbacks(slot, run);
    run.replicas = candidates
      .map((c) => c.found)
      .sort((a, b) => a.index - b.index)
      .map((found) => this.#runner.adopt(found, callbacks));
    for (const r of run.replicas) r.supervised = true;
    this.#slots.set(slot, run);
    const pids = run.replicas.map((r) => r.pid).join(', ');
    log.write(-1, 'cutover', [`adopted version ${version} at ${run.replicas.map((r) => r.target).join(' ')} (pids ${pids})`]);
    this.#opts.logger?.info('replicas adopted', { service: this.service, slot, version, pids });
    await this.#record(run.replicas.map((r) => this.#recordOf(slot, run, r)));
    return this.deployment(slot)!;
  }

  async #discard(slot: SlotName, candidates: { found: RunningReplica }[], why: string): Promise<void> {
    if (candidates.length === 0) return;
    this.#opts.logger?.info('replicas found running are stopped, not adopted', {
      service: this.service,
      slot,
      pids: candidates.map((c) => c.found.pid),
      why,
    });
    await Promise.all(candidates.map((c) => this.#runner.discard(c.found)));
    await this.#forget(candidates.map((c) => c.found.id));
  }

  #eventBase(slot: SlotName, run: SlotRun, replica: ReplicaHandle, pid: number | null) {
    return {
      service: this.service,
      slot,
      version: run.version,
      replica: replica.index,
      target: replica.target,
      pid,
      restarts: replica.restarts,
      slotRestarts: run.replicas.reduce((sum, r) => sum + r.restarts, 0),
    };
  }

  #emit(event: ReplicaEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        this.#opts.logger?.error('a replica event listener threw', { err });
      }
    }
  }

  async #stopSlot(slot: SlotName, grace?: number): Promise<void> {
    const run = this.#slots.get(slot);
    if (!run) {
      // Replicas an earlier controller left in this slot, not adopted: stopping the slot stops them.
      if (this.#found !== null) {
        const found = await this.#found;
        const left = found.get(slot) ?? [];
        found.delete(slot);
        await this.#discard(slot, left, 'the slot was stopped');
      }
      return;
    }
    run.ready = false;
    run.log.write(-1, 'cutover', [`stopping version ${run.version}`]);
    await Promise.all(run.replicas.map((r) => r.stop(grace)));
    // Their last words may still be in the pipes.
    await Promise.all(run.replicas.map((r) => r.outputSettled(OUTPUT_SETTLE_MS)));
    releasePorts(run.replicas.map((r) => r.port));
    await this.#forget(run.replicas.map((r) => r.id));
    run.log.write(-1, 'cutover', [`stopped version ${run.version}`]);
    run.log.close();
    if (this.#slots.get(slot) === run) this.#slots.delete(slot);
  }

  #abortReason(slot: SlotName, signal: AbortSignal): ProviderError {
    if (this.#closing.signal.aborted) return closedError(this.service);
    return abortedError(this.service, slot, signal.reason);
  }
}
