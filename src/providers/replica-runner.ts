// Where the process provider's replicas run. The local runner starts them as children of this
// process, under its watchdog: they die with it (a unit test). The supervisor's
// runner (src/daemon/supervised-replicas.ts) has the stateDir's supervisor start and keep them: they
// outlive the controller, and the next one adopts those it finds running instead of starting them again.
import type { SlotName } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { type BackoffPolicy, Replica } from './replica.ts';
import { SlotLog, type LogStream, type SlotLogOptions } from './slot-log.ts';
import type { LaunchSpec } from './template.ts';
import type { ReplicaExit, ReplicaState, ReplicaStatus } from './types.ts';
import { acquireWatchdog, releaseWatchdog, type Watchdog } from './watchdog-client.ts';

/** One replica as the provider drives it, wherever it runs. */
export interface ReplicaHandle {
  readonly id: string;
  readonly index: number;
  readonly port: number;
  readonly target: string;
  readonly state: ReplicaState;
  readonly restarts: number;
  readonly pid: number | null;
  /** The pid of the latest process, also after it exited. */
  readonly lastPid: number | null;
  /** The kernel's start time of `pid` (see processStartTime). */
  readonly startTime: string | null;
  /** Restarted when it dies; off while provisioning, where a death fails the release instead. */
  supervised: boolean;
  status(): ReplicaStatus;
  /** The last `n` lines it printed. */
  output(n?: number): string[];
  /** Resolves once the output of the last process has been read to its end, or after `ms`. */
  outputSettled(ms: number): Promise<void>;
  start(): void;
  stop(grace?: number): Promise<void>;
}

/** A slot's log: the replicas' output and what cutover did to them. */
export interface ReplicaLog {
  write(replica: number, stream: LogStream, lines: readonly string[]): void;
  close(): void;
}

export interface ReplicaSpec {
  id: string;
  service: string;
  slot: SlotName;
  version: string;
  index: number;
  host: string;
  port: number;
  launch: LaunchSpec;
  stopGrace: number;
  backoff: BackoffPolicy;
  /** The slot log its output goes to. */
  logPath: string;
}

export interface ReplicaCallbacks {
  onStart(replica: ReplicaHandle): void;
  /** `restartIn` null: it stays down. `error`: the program could not be started at all. */
  onExit(replica: ReplicaHandle, exit: ReplicaExit, restartIn: number | null, error: Error | null): void;
}

/** A replica found running when the provider started: what a new controller may adopt. */
export interface RunningReplica {
  id: string;
  service: string;
  slot: SlotName;
  version: string;
  index: number;
  host: string;
  port: number;
  /** null while it waits to be restarted after a death. */
  pid: number | null;
  startTime: string | null;
  /** Its provisioning had ended (it is restarted when it dies). */
  supervised: boolean;
  restarts: number;
  stopGrace: number;
  logPath: string;
}

export interface ReplicaRunner {
  /** Its replicas keep running when this controller goes (and can be adopted by the next one). */
  readonly outlivesController: boolean;
  create(spec: ReplicaSpec, callbacks: ReplicaCallbacks): ReplicaHandle;
  log(path: string, opts: SlotLogOptions): ReplicaLog;
  /** The service's replicas running now, started by an earlier controller. */
  running(service: string): Promise<RunningReplica[]>;
  /** Takes a running replica over, as if this controller had started it. */
  adopt(found: RunningReplica, callbacks: ReplicaCallbacks): ReplicaHandle;
  /** Stops a running replica nothing adopted. */
  discard(found: RunningReplica): Promise<void>;
  /** Lets go of what the runner holds; replicas that outlive the controller keep running. */
  close(): Promise<void>;
}

/** Children of this process, stopped by its watchdog once it is gone (even SIGKILLed). */
export class LocalReplicaRunner implements ReplicaRunner {
  readonly outlivesController = false;
  readonly #watchdog: Watchdog;
  readonly #owns: boolean;

  constructor(opts: { watchdog?: Watchdog; logger?: Logger } = {}) {
    this.#owns = opts.watchdog === undefined;
    this.#watchdog = opts.watchdog ?? acquireWatchdog(opts.logger);
  }

  create(spec: ReplicaSpec, callbacks: ReplicaCallbacks): ReplicaHandle {
    return new Replica({
      id: spec.id,
      index: spec.index,
      host: spec.host,
      port: spec.port,
      launch: () => spec.launch,
      log: this.#logs.get(spec.logPath) ?? new SlotLog(spec.logPath),
      watchdog: this.#watchdog,
      stopGrace: spec.stopGrace,
      backoff: spec.backoff,
      onStart: callbacks.onStart,
      onExit: callbacks.onExit,
    });
  }

  /** The provider writes a slot's log through the same object its replicas do. */
  readonly #logs = new Map<string, SlotLog>();

  log(path: string, opts: SlotLogOptions): ReplicaLog {
    const log = new SlotLog(path, opts);
    this.#logs.set(path, log);
    return {
      write: (replica, stream, lines) => log.write(replica, stream, lines),
      close: () => {
        if (this.#logs.get(path) === log) this.#logs.delete(path);
        log.close();
      },
    };
  }

  async running(): Promise<RunningReplica[]> {
    return [];
  }

  adopt(found: RunningReplica): ReplicaHandle {
    throw new Error(`replica ${found.id} cannot be adopted: this controller's replicas die with it`);
  }

  async discard(): Promise<void> {}

  async close(): Promise<void> {
    if (this.#owns) await releaseWatchdog(this.#watchdog);
  }
}
