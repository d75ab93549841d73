// The process provider's replicas as the supervisor keeps them: it starts each one for a controller,
// is its parent (so it sees every exit, with no polling), writes its output to the slot log,
// restarts it with backoff when it dies after provisioning (also while no controller is attached),
// and tells the attached controllers about starts and exits. The replicas outlive any controller;
// they stop when the supervisor does (after the routers drained), and a watchdog process stops them
// should the supervisor itself be killed, so nothing is orphaned.
import type { Logger } from '../log.ts';
import { Replica } from '../providers/replica.ts';
import type { ReplicaSpec, RunningReplica } from '../providers/replica-runner.ts';
import { SlotLog, type LogStream } from '../providers/slot-log.ts';
import type { ReplicaExit } from '../providers/types.ts';
import { acquireWatchdog, releaseWatchdog, type Watchdog } from '../providers/watchdog-client.ts';

/** Lines of a replica's output sent with an exit that leaves it down (a failed provisioning quotes them). */
const EXIT_LINES = 20;
/** A dead replica's last lines may still be in its pipes; wait this long for them at most. */
const OUTPUT_SETTLE_MS = 250;

/** What the supervisor tells its controllers unasked: about a replica, or that it stops on purpose. */
export type SupervisorNews = ReplicaNews | { push: 'stopping'; reason: string };

/** What the supervisor tells its controllers about a replica. */
export type ReplicaNews =
  | { push: 'replica-start'; id: string; pid: number; startTime: string | null; restarts: number }
  | {
      push: 'replica-exit';
      id: string;
      pid: number | null;
      exit: ReplicaExit;
      restartIn: number | null;
      /** The program could not be started at all. */
      error: string | null;
      /** Its last lines, when it stays down. */
      lastLines: string[];
      restarts: number;
    };

interface Kept {
  spec: ReplicaSpec;
  replica: Replica;
}

export class ReplicaKeeper {
  readonly #log: Logger;
  readonly #tell: (news: ReplicaNews) => void;
  readonly #kept = new Map<string, Kept>();
  readonly #logs = new Map<string, SlotLog>();
  #watchdog: Watchdog | null = null;

  constructor(log: Logger, tell: (news: ReplicaNews) => void) {
    this.#log = log;
    this.#tell = tell;
  }

  get size(): number {
    return this.#kept.size;
  }

  /** Starts a replica; its pid, or null when the program could not be started (the exit news says why). */
  start(spec: ReplicaSpec): { pid: number | null; startTime: string | null } {
    if (this.#kept.has(spec.id)) throw new Error(`replica ${spec.id} runs already`);
    this.#watchdog ??= acquireWatchdog(this.#log);
    const replica = new Replica({
      id: spec.id,
      index: spec.index,
      host: spec.host,
      port: spec.port,
      launch: () => spec.launch,
      log: this.#slotLog(spec.logPath),
      watchdog: this.#watchdog,
      stopGrace: spec.stopGrace,
      backoff: spec.backoff,
      onStart: (r) => this.#tell({ push: 'replica-start', id: r.id, pid: r.pid!, startTime: r.startTime, restarts: r.restarts }),
      onExit: (r, exit, restartIn, error) => {
        const news = {
          push: 'replica-exit' as const,
          id: r.id,
          pid: r.lastPid,
          exit,
          restartIn,
          error: error?.message ?? null,
          restarts: r.restarts,
        };
        if (restartIn !== null) {
          this.#tell({ ...news, lastLines: [] });
          return;
        }
        // Down for good (stopped, or dead while provisioning): forgotten once its last words are read.
        if (this.#kept.get(r.id)?.replica === r && r.state === 'stopped') this.#kept.delete(r.id);
        void r.outputSettled(OUTPUT_SETTLE_MS).then(() => this.#tell({ ...news, lastLines: r.output(EXIT_LINES) }));
      },
    });
    this.#kept.set(spec.id, { spec, replica });
    replica.start();
    return { pid: replica.pid, startTime: replica.startTime };
  }

  /** Its provisioning is over: from now on a death is followed by a restart. */
  supervise(id: string): void {
    const k = this.#kept.get(id);
    if (k !== undefined) k.replica.supervised = true;
  }

  async stop(id: string, grace?: number): Promise<void> {
    const k = this.#kept.get(id);
    if (k === undefined) return;
    await k.replica.stop(grace ?? k.spec.stopGrace);
    if (this.#kept.get(id) === k) this.#kept.delete(id);
  }

  /** A line the controller writes into a slot log (provisioning, stopping, adopting). */
  write(path: string, replica: number, stream: LogStream, lines: readonly string[]): void {
    this.#slotLog(path).write(replica, stream, lines);
  }

  running(service: string): RunningReplica[] {
    return [...this.#kept.values()]
      .filter((k) => k.spec.service === service)
      .map(({ spec, replica }) => ({
        id: spec.id,
        service: spec.service,
        slot: spec.slot,
        version: spec.version,
        index: spec.index,
        host: spec.host,
        port: spec.port,
        pid: replica.pid,
        startTime: replica.startTime,
        supervised: replica.supervised,
        restarts: replica.restarts,
        stopGrace: spec.stopGrace,
        logPath: spec.logPath,
      }));
  }

  /** Every replica, each for its own grace; then the watchdog goes. */
  async stopAll(): Promise<void> {
    if (this.#kept.size > 0) this.#log.info('stopping replicas', { replicas: this.#kept.size });
    await Promise.all([...this.#kept.keys()].map((id) => this.stop(id)));
    for (const log of this.#logs.values()) log.close();
    this.#logs.clear();
    if (this.#watchdog !== null) await releaseWatchdog(this.#watchdog);
    this.#watchdog = null;
  }

  #slotLog(path: string): SlotLog {
    let log = this.#logs.get(path);
    if (log === undefined) {
      log = new SlotLog(path, { onError: (err) => this.#log.warn('cannot write the slot log', { path, err }) });
      this.#logs.set(path, log);
    }
    return log;
  }
}
