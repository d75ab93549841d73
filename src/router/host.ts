// Runs a service's router either in this process or as `workers` processes that share the listener
// (SO_REUSEPORT). Either way `apply` resolves only once every router serves the new generation.
import { fork, type ChildProcess } from 'node:child_process';
import { CutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { addSnapshot, emptySnapshot } from './metrics.ts';
import { Router, type RouterMetrics, type RouterOptions } from './router.ts';
import type { RouteSpec } from './table.ts';
import type { ParentMessage, WorkerMessage } from './worker.ts';

export interface RouterHost {
  listen(): Promise<void>;
  /** The address the router listens on once it does (a configured port 0 becomes the real port); absent: the configured one. */
  boundAddress?(): string | null;
  apply(spec: RouteSpec): Promise<void>;
  setHealth(address: string, healthy: boolean): void;
  metrics(): Promise<RouterMetrics>;
  close(grace?: number): Promise<void>;
}

export const APPLY_TIMEOUT_MS = 5000;

export class LocalRouterHost implements RouterHost {
  readonly router: Router;
  #bound: string | null = null;
  constructor(opts: RouterOptions) {
    this.router = new Router({ ...opts, reusePort: false });
  }
  async listen(): Promise<void> {
    const { host, port } = await this.router.listen();
    this.#bound = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  }
  boundAddress(): string | null {
    return this.#bound;
  }
  async apply(spec: RouteSpec): Promise<void> {
    this.router.apply(spec);
  }
  setHealth(address: string, healthy: boolean): void {
    this.router.setHealth(address, healthy);
  }
  async metrics(): Promise<RouterMetrics> {
    return this.router.metrics();
  }
  close(grace = 0): Promise<void> {
    return this.router.close(grace);
  }
}

interface Worker {
  index: number;
  child: ChildProcess;
  generation: number;
  listening: boolean;
}

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

  constructor(opts: RouterOptions, count: number, log: Logger) {
    this.opts = { ...opts, reusePort: true };
    this.count = count;
    this.log = log;
  }

  async listen(): Promise<void> {
    await Promise.all(Array.from({ length: this.count }, (_, i) => this.spawn(i)));
  }

  private spawn(index: number): Promise<void> {
    const child = fork(new URL('./worker.ts', import.meta.url), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, CUTOVER_WORKER: String(index) },
    });
    const w: Worker = { index, child, generation: -1, listening: false };
    this.workers[index] = w;
    const send = (m: ParentMessage): void => {
      if (child.connected) child.send(m);
    };
    return new Promise((resolve, reject) => {
      child.on('message', (m: WorkerMessage) => {
        switch (m.t) {
          case 'listening':
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
        w.listening = false;
        if (this.closing) return;
        this.log.error('router worker died; starting it again', { service: this.opts.service, worker: index, code, signal });
        reject(new CutoverError('CUTOVER_E_INTERNAL', `router worker ${index} exited (${signal ?? code}) while starting`, 500));
        setTimeout(() => {
          if (!this.closing) this.spawn(index).catch((err) => this.log.error('router worker restart failed', { err }));
        }, 100).unref();
      });
      send({ t: 'init', opts: this.opts });
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
    const out: RouterMetrics = {
      generation: this.spec?.generation ?? 0,
      slots: { blue: emptySnapshot(), green: emptySnapshot() },
      connections: 0,
    };
    for (const p of parts) {
      if (p === null) continue;
      out.slots.blue = addSnapshot(out.slots.blue, p.slots.blue);
      out.slots.green = addSnapshot(out.slots.green, p.slots.green);
      out.connections += p.connections;
      out.generation = Math.min(out.generation, p.generation);
    }
    return out;
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
