// The router processes of one edge listener (edge/worker.ts), every one serving every service on the
// listener: services join and leave while the processes run, each with its route table and target
// health kept here, so a process that dies is started again at once with all of them as they were.
// `apply` resolves once every process serves the service's new generation. The listening sockets
// are handed in by their owner (the supervisor), or, without one, bound by each process with
// SO_REUSEPORT.
import { type ChildProcess, fork } from 'node:child_process';
import { CutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RouterMetrics, RouterOptions } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import { APPLY_TIMEOUT_MS, ROUTER_EXEC_ARGV, START_TIMEOUT_MS, sumMetrics, type WorkerStatus } from '../router/workers.ts';
import type { EdgeConfig } from './host.ts';
import type { EdgeParentMessage, EdgeWorkerMessage } from './worker.ts';

const WORKER = new URL('./worker.ts', import.meta.url);
/** A process that dies this soon after it started waits this long before the next try (no hot loop). */
const CRASH_LOOP_MS = 1000;
const CRASH_LOOP_DELAY_MS = 500;

/** A service of the listener as every process (and every process started again) gets it. */
export interface EdgeServiceState {
  opts: RouterOptions;
  edge: EdgeConfig;
  spec: RouteSpec | null;
  health: Map<string, boolean>;
}

interface Proc {
  index: number;
  child: ChildProcess;
  startedAt: number;
  restarts: number;
  /** The generation each service serves in this process (absent: not added yet). */
  generations: Map<string, number>;
  /** Services an `add` was sent for, and who waits for the answer. */
  adding: Map<string, { resolve(): void; reject(err: Error): void }>;
  removing: Map<string, () => void>;
  sockets: Set<string>;
}

export class EdgeWorkerGroup {
  readonly count: number;
  readonly #log: Logger;
  /** Sockets the owner hands to every process, by address; null: the processes bind themselves. */
  readonly #sockets: Map<string, object> | null;
  readonly #services = new Map<string, EdgeServiceState>();
  readonly #procs: Proc[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #metricsWaiters = new Map<number, (m: RouterMetrics | null) => void>();
  #metricsSeq = 0;
  /** Keyed state every process is handed (setState: ACME challenges), again to one started later. */
  readonly #state = new Map<string, unknown>();
  readonly #stateWaiters = new Map<number, () => void>();
  #closing = false;
  /** A process that has not taken its services by then is stuck: killed and started again (as router/workers.ts). */
  readonly #startTimeoutMs: number;

  constructor(count: number, log: Logger, sockets: Map<string, object> | null, startTimeoutMs = START_TIMEOUT_MS) {
    this.#startTimeoutMs = startTimeoutMs;
    this.count = count;
    this.#log = log;
    this.#sockets = sockets === null ? null : new Map(sockets);
  }

  /** Starts the processes, each serving the services already added. */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.count }, (_, i) => this.#spawn(i)));
  }

  services(): string[] {
    return [...this.#services.keys()];
  }

  /** What a service serves here (its options, edge, route table and target health); undefined if it is not here. */
  state(service: string): EdgeServiceState | undefined {
    return this.#services.get(service);
  }

  /** Hands a socket to every process (before the service that listens on it is added). */
  addSocket(address: string, handle: object): void {
    if (this.#sockets === null || this.#sockets.has(address)) return;
    this.#sockets.set(address, handle);
    for (const p of this.#procs) this.#sendSocket(p, address);
  }

  /**
   * Hands every process `value` under `key` (null removes it): ACME challenges, and CERTIFICATES_KEY
   * to load the ACME files again. Resolves once every running process has it (or after
   * APPLY_TIMEOUT_MS); one started later gets it before its services.
   */
  async setState(key: string, value: unknown): Promise<void> {
    if (value === null) this.#state.delete(key);
    else this.#state.set(key, value);
    await Promise.all(
      this.#procs
        .filter((p) => p.child.connected)
        .map(
          (p) =>
            new Promise<void>((resolve) => {
              const id = ++this.#metricsSeq;
              const done = (): void => {
                clearTimeout(t);
                this.#stateWaiters.delete(id);
                resolve();
              };
              const t = setTimeout(done, APPLY_TIMEOUT_MS);
              this.#stateWaiters.set(id, done);
              this.#send(p, { t: 'state', id, key, value });
            }),
        ),
    );
  }

  /** Every process serves the service once this resolves. */
  async add(service: string, s: EdgeServiceState): Promise<void> {
    this.#services.set(service, s);
    await Promise.all(this.#procs.map((p) => this.#sendAdd(p, service)));
  }

  /** The service leaves every process: its exchanges in flight get `grace` to end. */
  async remove(service: string, grace: number): Promise<void> {
    this.#services.delete(service);
    await Promise.all(
      this.#procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            p.generations.delete(service);
            if (!p.child.connected) return resolve();
            const t = setTimeout(done, grace + 3000);
            function done(): void {
              clearTimeout(t);
              p.removing.delete(service);
              resolve();
            }
            p.removing.set(service, done);
            p.child.once('exit', done);
            this.#send(p, { t: 'remove', service, grace });
          }),
      ),
    );
  }

  async apply(service: string, spec: RouteSpec): Promise<void> {
    const s = this.#known(service);
    s.spec = spec;
    for (const p of this.#procs) if (p.generations.has(service)) this.#send(p, { t: 'apply', service, spec });
    const deadline = Date.now() + APPLY_TIMEOUT_MS;
    for (;;) {
      const lagging = this.#procs.filter((p) => (p.generations.get(service) ?? -1) < spec.generation);
      if (lagging.length === 0) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new CutoverError(
          'CUTOVER_E_SWITCH_TIMEOUT',
          `router workers ${lagging.map((p) => `${p.index} (pid ${p.child.pid}, serving generation ${p.generations.get(service) ?? -1})`).join(', ')} did not apply generation ${spec.generation} of ${service} within ${APPLY_TIMEOUT_MS}ms; check the daemon's log`,
          503,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(t);
          this.#waiters.delete(wake);
          resolve();
        };
        const t = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }

  setHealth(service: string, address: string, healthy: boolean): void {
    const s = this.#services.get(service);
    if (s === undefined) return;
    s.health.set(address, healthy);
    for (const p of this.#procs) if (p.generations.has(service)) this.#send(p, { t: 'health', service, address, healthy });
  }

  /** The service's counters summed over the processes. */
  async metrics(service: string): Promise<RouterMetrics> {
    const s = this.#known(service);
    const parts = await Promise.all(
      this.#procs.map(
        (p) =>
          new Promise<RouterMetrics | null>((resolve) => {
            if (!p.child.connected) return resolve(null);
            const id = ++this.#metricsSeq;
            const t = setTimeout(() => {
              this.#metricsWaiters.delete(id);
              resolve(null);
            }, 1000);
            this.#metricsWaiters.set(id, (m) => {
              clearTimeout(t);
              this.#metricsWaiters.delete(id);
              resolve(m);
            });
            this.#send(p, { t: 'metrics', service, id });
          }),
      ),
    );
    return sumMetrics(s.spec?.generation ?? 0, parts);
  }

  /** Every process as the service's status shows it: pid, the generation it serves of the service, uptime, restarts. */
  processes(service: string): WorkerStatus[] {
    return this.#procs.map((p) => ({
      worker: p.index,
      pid: p.child.exitCode === null && p.child.signalCode === null ? (p.child.pid ?? null) : null,
      generation: p.generations.get(service) ?? -1,
      startedAt: new Date(p.startedAt).toISOString(),
      restarts: p.restarts,
    }));
  }

  /** Stops every process; their exchanges in flight get `grace` to end. */
  async close(grace = 0): Promise<void> {
    this.#closing = true;
    await Promise.all(
      this.#procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
            p.child.once('exit', () => resolve());
            this.#send(p, { t: 'close', grace });
            setTimeout(() => p.child.kill('SIGKILL'), grace + 3000).unref();
          }),
      ),
    );
  }

  #known(service: string): EdgeServiceState {
    const s = this.#services.get(service);
    if (s === undefined) throw new CutoverError('CUTOVER_E_NOT_FOUND', `no router for ${service} on this listener`, 404);
    return s;
  }

  #send(p: Proc, m: EdgeParentMessage, handle?: object): void {
    if (p.child.connected) p.child.send(m, handle as never);
  }

  #sendSocket(p: Proc, address: string): void {
    const handle = this.#sockets?.get(address);
    if (handle === undefined || p.sockets.has(address)) return;
    p.sockets.add(address);
    this.#send(p, { t: 'socket', address }, handle);
  }

  /**
   * Sends the service's `add` to a process once; resolves when it serves it. `hold`: it accepts no
   * connection until the `listen` that follows the adds of a process being started.
   */
  #sendAdd(p: Proc, service: string, hold = false): Promise<void> {
    const s = this.#services.get(service);
    if (s === undefined || p.generations.has(service) || p.adding.has(service)) return Promise.resolve();
    for (const address of this.#sockets?.keys() ?? []) this.#sendSocket(p, address);
    return new Promise<void>((resolve, reject) => {
      p.adding.set(service, { resolve, reject });
      this.#send(p, {
        t: 'add',
        service,
        opts: s.opts,
        edge: s.edge,
        ...(s.spec !== null ? { spec: s.spec } : {}),
        health: [...s.health],
        ...(hold ? { hold } : {}),
      });
    });
  }

  #spawn(index: number): Promise<void> {
    const child = fork(WORKER, [], {
      execArgv: [...process.execArgv, ...ROUTER_EXEC_ARGV],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, CUTOVER_WORKER: String(index) },
    });
    // A message to a process that just died fails (EPIPE) as an 'error' event: unheard, it would end this
    // process (the supervisor, with every router in it). The 'exit' below does what a death needs.
    child.on('error', (err) => this.#log.warn('router worker channel error', { worker: index, err: err.message }));
    const before = this.#procs[index];
    const p: Proc = {
      index,
      child,
      startedAt: Date.now(),
      restarts: before === undefined ? 0 : before.restarts + 1,
      generations: new Map(),
      adding: new Map(),
      removing: new Map(),
      sockets: new Set(),
    };
    this.#procs[index] = p;
    child.on('message', (m: EdgeWorkerMessage) => {
      switch (m.t) {
        case 'added': {
          p.generations.set(m.service, m.generation);
          p.adding.get(m.service)?.resolve();
          p.adding.delete(m.service);
          // What changed while it was being added (the add carried the state of its moment).
          const s = this.#services.get(m.service);
          if (s?.spec != null && s.spec.generation > m.generation) this.#send(p, { t: 'apply', service: m.service, spec: s.spec });
          for (const [address, healthy] of s?.health ?? []) this.#send(p, { t: 'health', service: m.service, address, healthy });
          for (const wake of this.#waiters) wake();
          break;
        }
        case 'applied':
          if (p.generations.has(m.service)) p.generations.set(m.service, m.generation);
          for (const wake of this.#waiters) wake();
          break;
        case 'removed':
          p.removing.get(m.service)?.();
          break;
        case 'error':
          this.#log.error('router worker failed a step', { service: m.service, worker: index, err: m.message });
          p.adding.get(m.service)?.reject(new CutoverError('CUTOVER_E_LISTEN', m.message, 500));
          p.adding.delete(m.service);
          break;
        case 'metrics':
          this.#metricsWaiters.get(m.id)?.(m.data);
          break;
        case 'state-ack':
          this.#stateWaiters.get(m.id)?.();
          break;
      }
    });
    const stuck = setTimeout(() => {
      // Only while its first services are still unanswered (one whose add failed answered with its error).
      if (p.adding.size === 0 || child.exitCode !== null || child.signalCode !== null) return;
      this.#log.error('router worker did not start in time; starting it again', {
        worker: index,
        pid: child.pid,
        timeoutMs: this.#startTimeoutMs,
      });
      const err = new CutoverError(
        'CUTOVER_E_LISTEN',
        `router worker ${index} (pid ${child.pid}) did not take its services within ${this.#startTimeoutMs} ms; see the log`,
        500,
      );
      for (const a of p.adding.values()) a.reject(err);
      p.adding.clear();
      child.kill('SIGKILL');
    }, this.#startTimeoutMs);
    stuck.unref();
    child.on('exit', (code, signal) => {
      clearTimeout(stuck);
      const gone = new CutoverError('CUTOVER_E_INTERNAL', `router worker ${index} exited (${signal ?? code}) while starting`, 500);
      for (const a of p.adding.values()) a.reject(gone);
      p.adding.clear();
      for (const done of p.removing.values()) done();
      if (this.#closing) return;
      this.#log.error('router worker died; starting it again', { services: this.services(), worker: index, code, signal });
      // At once: the listener stays open meanwhile (the owner's socket, or SO_REUSEPORT siblings).
      const delay = Date.now() - p.startedAt < CRASH_LOOP_MS ? CRASH_LOOP_DELAY_MS : 0;
      setTimeout(() => {
        if (!this.#closing) this.#spawn(index).catch((err) => this.#log.error('router worker restart failed', { err }));
      }, delay).unref();
    });
    for (const [key, value] of this.#state) this.#send(p, { t: 'state', id: 0, key, value });
    // Every service first, then listen: on a shared socket a process that listened after its first
    // service would take connections for the hosts of the others before it served them (421, or
    // the first service's certificate).
    const added = Promise.all(this.services().map((s) => this.#sendAdd(p, s, true)));
    this.#send(p, { t: 'listen' });
    return added.then(() => clearTimeout(stuck));
  }
}
