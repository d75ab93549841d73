// One replica of a slot: a child process leading its own process group, its output captured into the
// slot log and a ring of last lines, restarted with exponential backoff when it dies on its own, and
// stopped with SIGTERM then SIGKILL to the whole group.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { groupAlive, processStartTime, signalGroup } from './groups.ts';
import { LineRing, LineSplitter } from './output.ts';
import type { LogStream, SlotLog } from './slot-log.ts';
import type { LaunchSpec } from './template.ts';
import type { ReplicaExit, ReplicaState, ReplicaStatus } from './types.ts';
import type { Watchdog } from './watchdog-client.ts';

export interface BackoffPolicy {
  /** First delay after a death, doubled after each further one... */
  initial: number;
  /** ...up to this. */
  max: number;
  /** A replica up this long has recovered: its next death waits `initial` again. */
  resetAfter: number;
}

export const RESTART_BACKOFF: BackoffPolicy = { initial: 100, max: 10_000, resetAfter: 30_000 };
/** Lines of output kept in memory per replica. */
export const RING_LINES = 100;
/** How often a stop looks whether the group is gone during its grace. */
const STOP_POLL_MS = 25;
/** After SIGKILL the kernel ends the group; this only bounds waiting for its exit to be reported. */
const KILL_WAIT_MS = 5000;

export function restartDelay(policy: BackoffPolicy, consecutiveDeaths: number): number {
  return Math.min(policy.max, policy.initial * 2 ** consecutiveDeaths);
}

export interface ReplicaOptions {
  /** How the store and the supervisor know it. */
  id: string;
  index: number;
  host: string;
  port: number;
  launch: () => LaunchSpec;
  log: SlotLog;
  watchdog: Watchdog;
  stopGrace: number;
  backoff: BackoffPolicy;
  onStart: (replica: Replica) => void;
  /** `restartIn` null: it stays down. `error`: the program could not be started at all. */
  onExit: (replica: Replica, exit: ReplicaExit, restartIn: number | null, error: Error | null) => void;
}

export class Replica {
  readonly id: string;
  readonly index: number;
  readonly port: number;
  readonly target: string;
  state: ReplicaState = 'stopped';
  /** Restarted when it dies; off while provisioning, where a death fails the release instead. */
  supervised = false;
  restarts = 0;
  lastExit: ReplicaExit | null = null;
  readonly #opts: ReplicaOptions;
  readonly #ring = new LineRing(RING_LINES);
  #child: ChildProcess | null = null;
  #pid: number | null = null;
  #lastPid: number | null = null;
  #startedAt = 0;
  #startTime: string | null = null;
  #deaths = 0;
  #timer: NodeJS.Timeout | null = null;
  #exitWaiters: (() => void)[] = [];
  #outputClosed: Promise<void> = Promise.resolve();

  constructor(opts: ReplicaOptions) {
    this.#opts = opts;
    this.id = opts.id;
    this.index = opts.index;
    this.port = opts.port;
    this.target = `${opts.host}:${opts.port}`;
  }

  get pid(): number | null {
    return this.#pid;
  }

  /** The kernel's start time of the running process: with the pid, it names that process for good. */
  get startTime(): string | null {
    return this.#pid === null ? null : this.#startTime;
  }

  /** The pid of the latest process, also after it exited. */
  get lastPid(): number | null {
    return this.#lastPid;
  }

  status(): ReplicaStatus {
    return { index: this.index, target: this.target, pid: this.#pid, state: this.state, restarts: this.restarts, lastExit: this.lastExit };
  }

  /** The last `n` lines the replica printed (stdout and stderr), oldest first. */
  output(n?: number): string[] {
    return this.#ring.last(n);
  }

  /** Resolves once the output of the last process has been read to its end, or after `ms`. */
  async outputSettled(ms: number): Promise<void> {
    await Promise.race([this.#outputClosed, sleep(ms, undefined, { ref: false })]);
  }

  start(): void {
    this.state = 'starting';
    this.#startedAt = Date.now();
    this.#lastPid = null;
    let child: ChildProcess;
    try {
      const spec = this.#opts.launch();
      child = spawn(spec.file, spec.args, {
        cwd: spec.cwd,
        env: spec.env,
        // Its own process group (and session): the group can be signalled as one, and the daemon's
        // terminal signals (Ctrl-C) do not reach it; the daemon decides how replicas stop.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      this.#exited(null, null, err as Error);
      return;
    }
    this.#child = child;
    if (child.pid !== undefined) {
      this.#pid = child.pid;
      this.#lastPid = child.pid;
      this.#startTime = processStartTime(child.pid);
      this.#opts.watchdog.watch(child.pid, this.#opts.stopGrace);
    }
    this.#outputClosed = new Promise((resolve) => child.once('close', () => resolve()));
    this.#capture(child, 'out');
    this.#capture(child, 'err');
    child.on('error', (err) => {
      // Without a pid the program never ran (ENOENT, EACCES); later errors are failed kill()s.
      if (child.pid === undefined && this.#child === child) this.#exited(null, null, err);
    });
    child.once('exit', (code, signal) => {
      if (this.#child === child) this.#exited(code, signal, null);
    });
    if (child.pid !== undefined) {
      this.state = 'running';
      this.#opts.log.write(this.index, 'cutover', [
        `started pid ${child.pid} on ${this.target}${this.restarts ? ` (restart ${this.restarts})` : ''}`,
      ]);
      this.#opts.onStart(this);
    }
  }

  /** SIGTERM to the group, SIGKILL to whatever of it is left after `grace` ms. */
  async stop(grace = this.#opts.stopGrace): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const pgid = this.#pid;
    if (this.#child === null || pgid === null) {
      // Not running, waiting to restart, or a spawn whose failure is still to be reported.
      this.#child = null;
      this.state = 'stopped';
      return;
    }
    this.state = 'stopping';
    const exited = new Promise<void>((resolve) => this.#exitWaiters.push(resolve));
    const deadline = Date.now() + grace;
    this.#opts.log.write(this.index, 'cutover', [`stopping pid ${pgid}: SIGTERM, SIGKILL after ${grace} ms`]);
    signalGroup(pgid, 'SIGTERM');
    await Promise.race([exited, sleep(grace, undefined, { ref: false })]);
    // The leader may be gone while processes it started still finish their work: they get the
    // rest of the grace too.
    while (Date.now() < deadline && groupAlive(pgid)) await sleep(STOP_POLL_MS);
    if (groupAlive(pgid)) {
      this.#opts.log.write(this.index, 'cutover', [`pid ${pgid} did not stop within ${grace} ms; sent SIGKILL`]);
      signalGroup(pgid, 'SIGKILL');
    }
    await Promise.race([exited, sleep(KILL_WAIT_MS, undefined, { ref: false })]);
    this.#opts.watchdog.unwatch(pgid);
    this.state = 'stopped';
  }

  #capture(child: ChildProcess, stream: 'out' | 'err'): void {
    const source = stream === 'out' ? child.stdout : child.stderr;
    if (!source) return;
    const splitter = new LineSplitter();
    source.setEncoding('utf8');
    source.on('data', (chunk: string) => this.#lines(stream, splitter.push(chunk)));
    source.on('end', () => this.#lines(stream, splitter.flush()));
    source.on('error', () => {});
  }

  #lines(stream: LogStream, lines: string[]): void {
    if (lines.length === 0) return;
    for (const line of lines) this.#ring.push(line);
    this.#opts.log.write(this.index, stream, lines);
  }

  #exited(code: number | null, signal: NodeJS.Signals | null, error: Error | null): void {
    const pgid = this.#pid;
    this.#child = null;
    this.#pid = null;
    const exit: ReplicaExit = { code, signal, uptime: Date.now() - this.#startedAt, at: Date.now() };
    this.lastExit = exit;
    const how = error ? `could not be started: ${error.message}` : code !== null ? `exited with code ${code}` : `was killed by ${signal}`;
    if (this.state === 'stopping') {
      this.#opts.log.write(this.index, 'cutover', [`pid ${pgid} ${how}`]);
      for (const resolve of this.#exitWaiters.splice(0)) resolve();
      this.#opts.onExit(this, exit, null, null);
      return;
    }
    if (pgid !== null) {
      // Whatever it started dies with it: a leftover child would hold the port the restart needs.
      signalGroup(pgid, 'SIGKILL');
      this.#opts.watchdog.unwatch(pgid);
    }
    if (!this.supervised) {
      this.state = 'stopped';
      this.#opts.log.write(this.index, 'cutover', [`${pgid === null ? 'it' : `pid ${pgid}`} ${how} after ${exit.uptime} ms`]);
      this.#opts.onExit(this, exit, null, error);
      return;
    }
    if (exit.uptime >= this.#opts.backoff.resetAfter) this.#deaths = 0;
    const delay = restartDelay(this.#opts.backoff, this.#deaths++);
    this.state = 'backoff';
    this.#opts.log.write(this.index, 'cutover', [
      `${pgid === null ? 'it' : `pid ${pgid}`} ${how} after ${exit.uptime} ms; restarting in ${delay} ms`,
    ]);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.restarts++;
      this.start();
    }, delay);
    this.#opts.onExit(this, exit, delay, error);
  }
}
