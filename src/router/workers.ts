// A service's router as `workers` processes sharing the listener (SO_REUSEPORT, or one listening
// socket their parent owns and hands over): `apply` resolves only once every one serves the new
// generation, and one that dies, or does not come up in time (30 s), is started again at once.
// Kept apart from host.ts so a process that only runs router processes (the supervisor) does not
// load the router itself.
import { fork, type ChildProcess } from 'node:child_process';
import { CutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RouterHost } from './host.ts';
import { addSnapshot, emptySnapshot } from './metrics.ts';
import type { RouterMetrics, RouterOptions } from './router.ts';
import type { RouteSpec } from './table.ts';
import type { ParentMessage, WorkerMessage } from './worker.ts';

export const APPLY_TIMEOUT_MS = 5000;

/**
 * V8 flags of every router process, for resident memory with many idle connections (bench/README.md,
 * "Router processes: what the allocator keeps"). The young generation is capped at 1 MiB semi-spaces:
 * under a burst of new connections V8 otherwise grows it to 64 MiB ones and keeps them, memory that
 * rises round after round of open and close. `--optimize-for-size` (which implies that cap) has V8
 * favour memory over speed in how it sizes and collects the heap: a router holding 10,000 idle
 * connections is ~16 MB smaller with it (2.4 against 4.1 KB each), at no CPU per request measured here.
 */
export const ROUTER_EXEC_ARGV = ['--max-semi-space-size=1', '--optimize-for-size'];

interface Worker {
  index: number;
  child: ChildProcess;
  generation: number;
  listening: boolean;
  startedAt: number;
  restarts: number;
}

/** One router process as status shows it. */
export interface WorkerStatus {
  worker: number;
  pid: number | null;
  generation: number;
  startedAt: string;
  restarts: number;
}

/** A worker that dies this soon after it started waits this long before the next try (no hot loop). */
const CRASH_LOOP_MS = 1000;
const CRASH_LOOP_DELAY_MS = 500;
/**
 * A worker that has not said it listens by then is stuck (seconds on a loaded machine is normal):
 * it is killed and started again, and whoever waits on it is told, instead of waiting forever.
 */
export const START_TIMEOUT_MS = 30_000;

export class WorkerRouterHost implements RouterHost {
  private readonly opts: RouterOptions;
  private readonly count: number;
  private readonly log: Logger;
  private readonly workers: Worker[] = [];
  private spec: RouteSpec | null = null;
  private readonly health = new Map<string, boolean>();
  private closing = false;
  private readonly waiters = new Set<() => void>();
  private metricsSeq = 0;
  private readonly metricsWaiters = new Map<number, (m: RouterMetrics) => void>();

  private readonly handles: { listen: object; preview?: object } | null;
  private readonly startTimeoutMs: number;

  /**
   * `handles`: listening sockets this process owns (the supervisor) and hands to every worker, so
   * they outlive any one worker; without them the workers listen themselves with SO_REUSEPORT.
   */
  constructor(
    opts: RouterOptions,
    count: number,
    log: Logger,
    handles?: { listen: object; preview?: object },
    startTimeoutMs = START_TIMEOUT_MS,
  ) {
    this.startTimeoutMs = startTimeoutMs;
    this.opts = { ...opts, reusePort: handles === undefined };
    this.count = count;
    this.log = log;
    this.handles = handles ?? null;
  }

  /** Every worker process: pid, the generation it serves, when it started and how often it restarted. */
  processes(): WorkerStatus[] {
    return this.workers.map((w) => ({
      worker: w.index,
      pid: w.child.exitCode === null && w.child.signalCode === null ? (w.child.pid ?? null) : null,
      generation: w.generation,
      startedAt: new Date(w.startedAt).toISOString(),
      restarts: w.restarts,
    }));
  }

  async listen(): Promise<void> {
    await Promise.all(Array.from({ length: this.count }, (_, i) => this.spawn(i)));
  }

  private spawn(index: number): Promise<void> {
    const child = fork(new URL('./worker.ts', import.meta.url), [], {
      execArgv: [...process.execArgv, ...ROUTER_EXEC_ARGV],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, CUTOVER_WORKER: String(index) },
    });
    // A message to a process that just died fails (EPIPE) as an 'error' event: unheard, it would end this
    // process (the supervisor, with every router in it). The 'exit' below does what a death needs.
    child.on('error', (err) =>
      this.log.warn('router worker channel error', { service: this.opts.service, worker: index, err: err.message }),
    );
    const restarts = this.workers[index] === undefined ? 0 : this.workers[index].restarts + 1;
    const w: Worker = { index, child, generation: -1, listening: false, startedAt: Date.now(), restarts };
    this.workers[index] = w;
    const send = (m: ParentMessage): void => {
      if (child.connected) child.send(m);
    };
    return new Promise((resolve, reject) => {
      const stuck = setTimeout(() => {
        if (w.listening || child.exitCode !== null || child.signalCode !== null) return;
        this.log.error('router worker did not start listening in time; starting it again', {
          service: this.opts.service,
          worker: index,
          pid: child.pid,
          timeoutMs: this.startTimeoutMs,
        });
        reject(
          new CutoverError(
            'CUTOVER_E_LISTEN',
            `router worker ${index} (pid ${child.pid}) did not start listening within ${this.startTimeoutMs} ms; see the log`,
            500,
          ),
        );
        child.kill('SIGKILL');
      }, this.startTimeoutMs);
      stuck.unref();
      child.on('message', (m: WorkerMessage) => {
        switch (m.t) {
          case 'listening':
            clearTimeout(stuck);
            w.listening = true;
            for (const [address, healthy] of this.health) send({ t: 'health', address, healthy });
            if (this.spec) send({ t: 'apply', spec: this.spec });
            resolve();
            break;
          case 'error':
            reject(new CutoverError('CUTOVER_E_LISTEN', m.message, 500));
            break;
          case 'applied':
            w.generation = m.generation;
            for (const wake of this.waiters) wake();
            break;
          case 'metrics':
            this.metricsWaiters.get(m.id)?.(m.data);
            break;
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(stuck);
        w.listening = false;
        if (this.closing) return;
        this.log.error('router worker died; starting it again', { service: this.opts.service, worker: index, code, signal });
        reject(new CutoverError('CUTOVER_E_INTERNAL', `router worker ${index} exited (${signal ?? code}) while starting`, 500));
        // At once: the listener stays open meanwhile (SO_REUSEPORT siblings, or the owner's socket).
        const delay = Date.now() - w.startedAt < CRASH_LOOP_MS ? CRASH_LOOP_DELAY_MS : 0;
        setTimeout(() => {
          if (!this.closing) this.spawn(index).catch((err) => this.log.error('router worker restart failed', { err }));
        }, delay).unref();
      });
      const now = { spec: this.spec ?? undefined, health: [...this.health] };
      if (this.handles === null) send({ t: 'init', opts: this.opts, ...now });
      else {
        if (this.handles.preview !== undefined) child.send({ t: 'preview' } satisfies ParentMessage, this.handles.preview as never);
        child.send({ t: 'init', opts: this.opts, handed: true, ...now } satisfies ParentMessage, this.handles.listen as never);
      }
    });
  }

  async apply(spec: RouteSpec): Promise<void> {
    this.spec = spec;
    for (const w of this.workers) if (w.child.connected) w.child.send({ t: 'apply', spec } satisfies ParentMessage);
    const deadline = Date.now() + APPLY_TIMEOUT_MS;
    for (;;) {
      const lagging = this.workers.filter((w) => w.generation < spec.generation);
      if (lagging.length === 0) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new CutoverError(
          'CUTOVER_E_SWITCH_TIMEOUT',
          `router workers ${lagging.map((w) => `${w.index} (pid ${w.child.pid}, serving generation ${w.generation})`).join(', ')} did not apply generation ${spec.generation} within ${APPLY_TIMEOUT_MS}ms; check the daemon's log`,
          503,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(t);
          this.waiters.delete(wake);
          resolve();
        };
        const t = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  setHealth(address: string, healthy: boolean): void {
    this.health.set(address, healthy);
    for (const w of this.workers) if (w.child.connected) w.child.send({ t: 'health', address, healthy } satisfies ParentMessage);
  }

  async metrics(): Promise<RouterMetrics> {
    const parts = await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<RouterMetrics | null>((resolve) => {
            if (!w.child.connected) return resolve(null);
            const id = ++this.metricsSeq;
            const t = setTimeout(() => {
              this.metricsWaiters.delete(id);
              resolve(null);
            }, 1000);
            this.metricsWaiters.set(id, (m) => {
              clearTimeout(t);
              this.metricsWaiters.delete(id);
              resolve(m);
            });
            w.child.send({ t: 'metrics', id } satisfies ParentMessage);
          }),
      ),
    );
    return sumMetrics(this.spec?.generation ?? 0, parts);
  }

  async close(grace = 0): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
            w.child.once('exit', () => resolve());
            if (w.child.connected) w.child.send({ t: 'close', grace } satisfies ParentMessage);
            const kill = setTimeout(() => w.child.kill('SIGKILL'), grace + 3000);
            kill.unref();
          }),
      ),
    );
  }
}

/**
 * The metrics of a service's router processes as one router's: counters summed, and the generation
 * the slowest process serves (at most `generation`, the one last applied); a process that did not
 * answer (null) is left out.
 */
export function sumMetrics(generation: number, parts: readonly (RouterMetrics | null)[]): RouterMetrics {
  const out: RouterMetrics = { generation, slots: { blue: emptySnapshot(), green: emptySnapshot() }, connections: 0 };
  for (const p of parts) {
    if (p === null) continue;
    out.slots.blue = addSnapshot(out.slots.blue, p.slots.blue);
    out.slots.green = addSnapshot(out.slots.green, p.slots.green);
    out.connections += p.connections;
    out.generation = Math.min(out.generation, p.generation);
  }
  return out;
}
