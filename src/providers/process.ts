// The process provider: runs each slot of a service as `replicas` child processes on this machine.
//
// provision() reserves a free port per replica, starts them (PORT, CUTOVER_SLOT, CUTOVER_VERSION,
// CUTOVER_SERVICE set; `{version}` replaced in command, cwd and env) and returns their targets once
// every replica has stayed up for `stableFor`; a replica that exits inside that window fails the
// release with its last output lines. Afterwards a replica that dies is restarted with backoff on the
// same port and counted. Output goes to `<stateDir>/logs/<service>/<slot>.log` (rotating).
//
// Replicas never outlive the daemon: each leads its own process group, and a watchdog process
// (watchdog.ts) kills every group once the daemon is gone, even when it was SIGKILLed.
//
// After a daemon restart nothing of the old replicas is left (the watchdog saw to that): the
// controller calls provision() again for the live slot and a standby slot, from the store. The new
// replicas get new ports, hence new targets; the router serves them once they are healthy.
import { stat } from 'node:fs/promises';
import type { ProcessProvider, SlotName } from '../config/types.ts';
import { SLOTS } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { abortedError, closedError, ProviderError } from './errors.ts';
import { slotLogPath, tailSlotLog } from './logs.ts';
import { releasePorts, REPLICA_HOST, reservePorts } from './ports.ts';
import { Replica, RESTART_BACKOFF, type BackoffPolicy } from './replica.ts';
import { SlotLog } from './slot-log.ts';
import { type ProvisionedSpec, provisionedSpec, slotSpecOf } from './spec.ts';
import { launchSpec } from './template.ts';
import type {
  Provider,
  ProviderCapabilities,
  ProvisionOptions,
  ReplicaEvent,
  ReplicaExit,
  ReplicaListener,
  ReplicaStatus,
  SlotDeployment,
  SlotSpec,
  StopOptions,
} from './types.ts';
import { acquireWatchdog, releaseWatchdog, type Watchdog } from './watchdog-client.ts';

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
  /** Default: the daemon-wide watchdog (acquired here, released by close()). */
  watchdog?: Watchdog;
  /** The environment replicas inherit; default process.env (CUTOVER_TOKEN is never passed on). */
  env?: NodeJS.ProcessEnv;
  backoff?: BackoffPolicy;
}

type Failure = { replica: Replica; exit: ReplicaExit; error: Error | null };

interface SlotRun {
  version: string;
  /** What it was provisioned with, for the parity report. */
  spec: ProvisionedSpec;
  replicas: Replica[];
  log: SlotLog;
  ready: boolean;
  /** Set while provisioning: hears the first exit, which fails the release. */
  onFailure: ((failure: Failure) => void) | null;
}

export class ProcessProviderImpl implements Provider {
  readonly kind = 'process' as const;
  readonly service: string;
  readonly capabilities: ProviderCapabilities = { replicasDieWithController: true, fixedTargets: false };
  readonly #opts: ProcessProviderOptions;
  readonly #watchdog: Watchdog;
  readonly #ownsWatchdog: boolean;
  readonly #slots = new Map<SlotName, SlotRun>();
  readonly #ops = new Map<SlotName, Promise<unknown>>();
  readonly #listeners = new Set<ReplicaListener>();
  /** Aborts provisioning in flight when the provider closes. */
  readonly #closing = new AbortController();
  #closed: Promise<void> | null = null;

  constructor(opts: ProcessProviderOptions) {
    this.#opts = opts;
    this.service = opts.service;
    this.#ownsWatchdog = opts.watchdog === undefined;
    this.#watchdog = opts.watchdog ?? acquireWatchdog(opts.logger);
  }

  provision(slot: SlotName, version: string, opts: ProvisionOptions = {}): Promise<SlotDeployment> {
    return this.#serial(slot, () => this.#provision(slot, version, opts));
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
    return run?.ready ? slotSpecOf(run.spec, this.replicas(slot)) : null;
  }

  onReplicaEvent(listener: ReplicaListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort(closedError(this.service));
      await Promise.all(SLOTS.map((slot) => this.#serial(slot, () => this.#stopSlot(slot))));
      if (this.#ownsWatchdog) await releaseWatchdog(this.#watchdog);
    })();
    return this.#closed;
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
    if (signal.aborted) throw this.#abortReason(slot, signal);

    const config = this.#opts.config;
    const service = this.service;
    await this.#checkLaunchable(slot, version);
    const ports = await reservePorts(config.replicas, REPLICA_HOST);
    const log = new SlotLog(slotLogPath(this.#opts.stateDir, service, slot), {
      ...this.#opts.log,
      onError: (err) => this.#opts.logger?.warn('cannot write the slot log', { service, slot, err }),
    });
    log.write(-1, 'cutover', [`provisioning version ${version}: ${config.replicas} replica(s) of ${JSON.stringify(config.command)}`]);
    const run: SlotRun = { version, spec: provisionedSpec(config), replicas: [], log, ready: false, onFailure: null };
    this.#slots.set(slot, run);
    run.replicas = ports.map((port, index) => this.#replica(slot, run, index, port));

    const stableFor = opts.stableFor ?? this.#opts.stableFor ?? DEFAULT_STABLE_FOR;
    const failure = await new Promise<Failure | 'aborted' | null>((resolve) => {
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
      for (const replica of run.replicas) if (!settled) replica.start();
    });

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
    throw new ProviderError('CUTOVER_E_PROVISION_FAILED', this.#failureMessage(slot, version, stableFor, failure, lastLines), {
      ...(failure.error ? { cause: failure.error } : {}),
      failure: { replica: failure.replica.index, exit: failure.exit, lastLines },
    });
  }

  #replica(slot: SlotName, run: SlotRun, index: number, port: number): Replica {
    const config = this.#opts.config;
    const service = this.service;
    return new Replica({
      index,
      host: REPLICA_HOST,
      port,
      launch: () => launchSpec(config, { service, slot, version: run.version, port, baseEnv: this.#opts.env ?? process.env }),
      log: run.log,
      watchdog: this.#watchdog,
      stopGrace: config.stopGrace,
      backoff: this.#opts.backoff ?? RESTART_BACKOFF,
      onStart: (replica) => this.#emit({ type: 'replica-start', ...this.#eventBase(slot, run, replica, replica.pid) }),
      onExit: (replica, exit, restartIn, error) => {
        if (restartIn !== null) {
          this.#opts.logger?.warn('replica died; restarting it', { service, slot, replica: index, ...exit, restartIn });
        }
        this.#emit({ type: 'replica-exit', ...this.#eventBase(slot, run, replica, replica.lastPid), ...exit, restartIn });
        if (replica.state !== 'stopped' || restartIn !== null) return;
        run.onFailure?.({ replica, exit, error });
      },
    });
  }

  #eventBase(slot: SlotName, run: SlotRun, replica: Replica, pid: number | null) {
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
    if (!run) return;
    run.ready = false;
    run.log.write(-1, 'cutover', [`stopping version ${run.version}`]);
    await Promise.all(run.replicas.map((r) => r.stop(grace)));
    // Their last words may still be in the pipes.
    await Promise.all(run.replicas.map((r) => r.outputSettled(OUTPUT_SETTLE_MS)));
    releasePorts(run.replicas.map((r) => r.port));
    run.log.write(-1, 'cutover', [`stopped version ${run.version}`]);
    run.log.close();
    if (this.#slots.get(slot) === run) this.#slots.delete(slot);
  }

  /** Fail before reserving anything when the command or cwd cannot work, naming the config key. */
  async #checkLaunchable(slot: SlotName, version: string): Promise<void> {
    let cwd: string | undefined;
    try {
      ({ cwd } = launchSpec(this.#opts.config, { service: this.service, slot, version, port: 0, baseEnv: {} }));
    } catch (err) {
      throw new ProviderError('CUTOVER_E_PROVISION_FAILED', `${this.service}: ${(err as Error).message}`, { cause: err });
    }
    if (cwd === undefined) return;
    const isDir = await stat(cwd).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) {
      throw new ProviderError(
        'CUTOVER_E_PROVISION_FAILED',
        `${this.service}/${slot}: the working directory ${cwd} (provider.cwd for version ${version}) is not a directory; create it or fix provider.cwd, then deploy again`,
      );
    }
  }

  #abortReason(slot: SlotName, signal: AbortSignal): ProviderError {
    if (this.#closing.signal.aborted) return closedError(this.service);
    return abortedError(this.service, slot, signal.reason);
  }

  #failureMessage(slot: SlotName, version: string, stableFor: number, failure: Failure, lines: string[]): string {
    const who = `replica ${failure.replica.index} of ${this.service}/${slot} (version ${version})`;
    if (failure.error) {
      return `${who} could not be started: ${failure.error.message}. Check that provider.command names a program on PATH or by absolute path, and that provider.cwd exists, then deploy again`;
    }
    const { code, signal } = failure.exit;
    const how = code !== null ? `exited with code ${code}` : `was killed by ${signal}`;
    const output = lines.length > 0 ? `its last output:\n${lines.map((l) => `  | ${l}`).join('\n')}` : 'it printed nothing';
    return `${who} ${how} within ${stableFor} ms of starting; ${output}\nFix the application or provider.command, then deploy again (\`cutover logs ${this.service} --slot ${slot}\` has the whole log)`;
  }
}
