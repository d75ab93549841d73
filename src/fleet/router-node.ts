// A fleet router: the routers of a machine's services, fed by the route states in etcd instead of a
// controller in the same process. It reads `<p>/routes/`, then watches it from the revision it read,
// applies each service's states in generation order (never an older one than it serves), and
// publishes what it serves under `<p>/routers/<id>`, attached to a lease it keeps alive.
//
// When etcd cannot be reached it keeps serving its last tables and says `etcd: disconnected` in its
// status and metrics; the watch resumes from the last revision it saw when etcd answers again.
//
// Its routers run in this process (`cutover router`), or, in a `cutover up` controller, in the
// stateDir's supervisor (`hostFor`), where they outlive the controller: a restarted one attaches to
// them, learns the generation they serve and applies only what etcd holds beyond it.
import { hostname } from 'node:os';
import type { Config, ServiceConfig } from '../config/types.ts';
import { CutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { HealthChecker } from '../router/health.ts';
import { routerHostFor } from '../edge/host.ts';
import type { RouterHost } from '../router/host.ts';
import type { RouteSpec } from '../router/table.ts';
import { routerOptions } from '../traffic/router-options.ts';
import type { FleetEntry, FleetLease, FleetLink, FleetWatch } from '../store/fleet-link.ts';
import type { RouteState } from '../store/types.ts';
import { METRICS_PUBLISH_MS, type RouterCounters } from './fleet-metrics.ts';
import { metricsKey, parseJson, ROUTER_LEASE_TTL_S, routerKey, type RouterRecord } from './keys.ts';

/** Deadline of a read or a write of the router (the watch itself has none); a router-only process opens its link with it. */
export const REQUEST_TIMEOUT_MS = 2000;
/** How long a starting router tries to read its first tables before it gives up. */
const FIRST_READ_TIMEOUT_MS = 30_000;
/** How long a switch waits for the newly live slot's targets to pass this router's health checks. */
const HEALTHY_BEFORE_SWITCH_MS = 3000;
/** How long a starting router waits for its live targets before it listens anyway. */
const HEALTHY_BEFORE_LISTEN_MS = 10_000;
/** How often a router that could not publish or read tries again. */
const RETRY_MS = 500;

/** A service's routers outside this process (the supervisor's), which may be serving already when this router starts. */
export interface AdoptableHost {
  host: RouterHost;
  /** The generation they serve once `host.listen()` has attached to (or started) them; 0: none yet. */
  served(): Promise<number>;
}

/** Where a service's routers run; null: in this process (routerHostFor). */
export type FleetHostFactory = (cfg: ServiceConfig) => AdoptableHost | null;

export interface FleetRouterOptions {
  /** Unique in the fleet; a restarted router uses the same id. */
  id: string;
  config: Config;
  log: Logger;
  /** What it reads the route states from and publishes to: the store's (a controller that is also a router), or one of its own. */
  link: FleetLink;
  /** Routers that outlive this process (a controller's: the supervisor's); absent: all in this process. */
  hostFor?: FleetHostFactory | undefined;
}

export interface FleetRouterStatus {
  id: string;
  etcd: 'connected' | 'disconnected';
  /** When etcd was last reached (ISO 8601), null if never. */
  lastContact: string | null;
  services: Record<string, { generation: number; listen: string; live: string | null }>;
}

interface ServiceNode {
  cfg: ServiceConfig;
  host: RouterHost;
  /** Set for routers outside this process: what they serve once attached. */
  served: (() => Promise<number>) | null;
  /** Whether states may be applied yet: routers outside this process are attached to first. */
  attached: boolean;
  health: HealthChecker;
  /** The highest generation applied; specs are applied one at a time, in order. */
  generation: number;
  /** The state applied last. */
  state: RouteState | null;
  /** The newest state seen and not yet applied. */
  pending: RouteState | null;
  applying: boolean;
}

export class FleetRouter {
  readonly id: string;
  readonly #log: Logger;
  readonly #link: FleetLink;
  readonly #nodes = new Map<string, ServiceNode>();
  readonly #since = new Date().toISOString();
  #watcher: FleetWatch | null = null;
  #lease: FleetLease | null = null;
  #publishing = false;
  #publishAgain = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #metricsTimer: NodeJS.Timeout | null = null;
  #watchConnected = false;
  #leaseAlive = false;
  #lastContact: number | null = null;
  #closed = false;
  /** Called after a generation is applied (tests and the bench watch this). */
  onApplied: ((service: string, generation: number) => void) | null = null;

  static async start(opts: FleetRouterOptions): Promise<FleetRouter> {
    const router = new FleetRouter(opts);
    try {
      await router.#begin();
    } catch (err) {
      await router.close(0);
      throw err;
    }
    return router;
  }

  private constructor(opts: FleetRouterOptions) {
    this.id = opts.id;
    this.#log = opts.log.child({ component: 'fleet-router', router: opts.id });
    this.#link = opts.link;
    for (const cfg of Object.values(opts.config.services)) {
      const outside = opts.hostFor?.(cfg) ?? null;
      const host: RouterHost = outside?.host ?? routerHostFor(cfg, routerOptions(cfg), this.#log);
      const health = new HealthChecker(cfg.health, (address, healthy) => {
        host.setHealth(address, healthy);
        this.#log.info(healthy ? 'target healthy' : 'target unhealthy', { service: cfg.name, address });
      });
      this.#nodes.set(cfg.name, {
        cfg,
        host,
        served: outside === null ? null : () => outside.served(),
        attached: outside === null,
        health,
        generation: 0,
        state: null,
        pending: null,
        applying: false,
      });
    }
  }

  async #begin(): Promise<void> {
    const revision = await this.#firstRead();
    // Listen only once the live targets pass this router's own checks, so its first users get answers.
    await Promise.all(
      [...this.#nodes.values()].map(async (n) => {
        if (n.served !== null) return this.#attach(n, n.served);
        await this.#drain(n);
        await this.#waitHealthy(n, n.state, HEALTHY_BEFORE_LISTEN_MS);
        await n.host.listen();
      }),
    );
    this.#watch(revision);
    this.#publish();
    this.#metricsTimer = setInterval(() => void this.#publishCounters(), METRICS_PUBLISH_MS);
    this.#metricsTimer.unref();
  }

  /**
   * Routers outside this process: their targets are checked first (they serve on meanwhile, if they
   * run), then `listen` attaches to them (the same processes and listener when they run with the same
   * options) or starts them. A generation they serve already is not applied again, nor one older.
   */
  async #attach(n: ServiceNode, served: () => Promise<number>): Promise<void> {
    const read = n.pending;
    await this.#waitHealthy(n, read, HEALTHY_BEFORE_LISTEN_MS);
    await n.host.listen();
    const serving = await served();
    // Routers just started missed what the checks found before they ran.
    this.#pushHealth(n);
    if (serving > 0) {
      n.generation = serving;
      if (read !== null && n.pending === read && read.generation <= serving) {
        n.pending = null;
        n.state = read;
        if (read.generation < serving)
          this.#log.warn('the routers serve a newer generation than etcd holds; keeping it', {
            service: n.cfg.name,
            serving,
            etcd: read.generation,
          });
      }
      this.#log.info('attached to the routers already serving', { service: n.cfg.name, generation: serving });
    }
    n.attached = true;
    await this.#drain(n);
  }

  /** Tells the routers every verdict the health checks have reached so far. */
  #pushHealth(n: ServiceNode): void {
    const state = n.pending ?? n.state;
    if (state === null) return;
    for (const address of [...state.slots.blue.targets, ...state.slots.green.targets]) {
      const h = n.health.get(address);
      if (h?.healthy) n.host.setHealth(address, true);
      else if (h !== undefined && h.failures >= n.cfg.health.unhealthyThreshold) n.host.setHealth(address, false);
    }
  }

  /** The counters of every service, for the analysis of the controller (see fleet-metrics.ts). */
  async #publishCounters(): Promise<void> {
    const lease = this.#lease;
    if (lease === null || !this.#leaseAlive || this.#closed) return;
    const counters: RouterCounters = { since: this.#since, services: {} };
    for (const [name, n] of this.#nodes) {
      const m = await n.host.metrics();
      counters.services[name] = { slots: m.slots, connections: m.connections };
    }
    await lease.put(metricsKey(this.id), JSON.stringify(counters)).catch(() => {}); // the next round tries again; publishing the record says whether etcd answers
  }

  /** The route states as of one revision; retried until etcd answers or FIRST_READ_TIMEOUT_MS. */
  async #firstRead(): Promise<string> {
    const deadline = Date.now() + FIRST_READ_TIMEOUT_MS;
    for (;;) {
      try {
        return await this.#readAll();
      } catch (err) {
        if (Date.now() >= deadline) {
          throw new CutoverError(
            'CUTOVER_E_STORE_UNAVAILABLE',
            `router ${this.id} could not read the route tables from etcd within ${FIRST_READ_TIMEOUT_MS} ms (${(err as Error).message}); check that a quorum of the store's members is up`,
            503,
            { cause: err },
          );
        }
        await sleep(RETRY_MS);
      }
    }
  }

  /** Reads every route state, queues those newer than served, and gives the revision read. */
  async #readAll(): Promise<string> {
    const { entries, revision } = await this.#link.list(this.#link.routes, REQUEST_TIMEOUT_MS);
    this.#contact();
    for (const entry of entries) this.#offer(entry);
    // A state whose apply failed is still pending: try it again.
    for (const n of this.#nodes.values()) if (n.pending !== null) void this.#drain(n);
    return revision;
  }

  #watch(revision: string): void {
    const w = this.#link.watch(this.#link.routes, revision, {
      put: (entry) => this.#offer(entry),
      connected: () => {
        this.#watchConnected = true;
        this.#contact();
      },
      disconnected: (err) => {
        if (this.#watchConnected) this.#log.warn('etcd watch disconnected; serving the last route tables', { err });
        this.#watchConnected = false;
      },
      error: (err) => {
        // A cancelled watch (compacted revision): read everything again and watch from there.
        this.#log.warn('etcd watch failed; reading the route tables again', { err });
        this.#watchConnected = false;
        void w.cancel().catch(() => {});
        void this.#rewatch();
      },
    });
    this.#watcher = w;
  }

  async #rewatch(): Promise<void> {
    while (!this.#closed) {
      try {
        const revision = await this.#readAll();
        if (!this.#closed) this.#watch(revision);
        return;
      } catch {
        await sleep(RETRY_MS);
      }
    }
  }

  /** A route state from etcd: kept as the next to apply if it is newer than anything seen. */
  #offer(entry: FleetEntry): void {
    const state = parseJson<RouteState>(entry.value);
    if (state === null) return;
    const n = this.#nodes.get(state.service);
    if (n === undefined) return; // a service this machine does not route
    const newest = Math.max(n.generation, n.pending?.generation ?? 0);
    if (state.generation <= newest) return;
    n.pending = state;
    void this.#drain(n);
  }

  /** Applies the newest pending state; states that arrive meanwhile wait for the next turn. */
  async #drain(n: ServiceNode): Promise<void> {
    if (n.applying || !n.attached) return;
    n.applying = true;
    try {
      while (n.pending !== null && !this.#closed) {
        const state = n.pending;
        n.health.watch([...state.slots.blue.targets, ...state.slots.green.targets]);
        if (n.generation > 0) await this.#waitHealthy(n, state, HEALTHY_BEFORE_SWITCH_MS);
        // The router itself refuses an older generation, too.
        await n.host.apply(state as RouteSpec);
        if (n.pending === state) n.pending = null;
        n.generation = state.generation;
        n.state = state;
        this.#log.debug('applied', { service: n.cfg.name, generation: state.generation });
        this.onApplied?.(n.cfg.name, state.generation);
        this.#publish();
      }
    } catch (err) {
      this.#log.error('applying a route table failed', { service: n.cfg.name, err });
    } finally {
      n.applying = false;
    }
  }

  /**
   * Waits until the targets of the slots that take traffic in `state` pass this router's own health
   * checks (the controller saw them healthy from its machine, not from this one), for at most `ms`.
   */
  async #waitHealthy(n: ServiceNode, state: RouteState | null, ms: number): Promise<void> {
    if (state === null || state.live === null) return;
    const targets = (['blue', 'green'] as const)
      .filter((s) => state.weights[s] > 0 || s === state.live)
      .flatMap((s) => state.slots[s].targets);
    if (targets.length === 0) return;
    n.health.watch([...state.slots.blue.targets, ...state.slots.green.targets]);
    try {
      await n.health.waitHealthy(targets, ms);
    } catch (err) {
      this.#log.warn('serving generation with targets this router has not seen healthy', {
        service: n.cfg.name,
        generation: state.generation,
        targets: (err as Error).message,
      });
    }
  }

  /** Writes this router's record under its lease; coalesces writes asked for while one runs. */
  #publish(): void {
    if (this.#closed) return;
    if (this.#publishing) {
      this.#publishAgain = true;
      return;
    }
    this.#publishing = true;
    void (async () => {
      do {
        this.#publishAgain = false;
        try {
          const lease = this.#lease ?? this.#newLease();
          await lease.put(routerKey(this.id), JSON.stringify(this.record()));
          this.#leaseAlive = true;
          this.#contact();
        } catch (err) {
          if (this.#leaseAlive) this.#log.warn('cannot publish to etcd; serving the last route tables', { err });
          this.#leaseAlive = false;
          this.#dropLease();
          this.#retrySoon();
        }
      } while (this.#publishAgain && !this.#closed);
      this.#publishing = false;
    })();
  }

  #newLease(): FleetLease {
    const lease = this.#link.lease(ROUTER_LEASE_TTL_S, {
      keepaliveSucceeded: () => {
        this.#leaseAlive = true;
        this.#contact();
      },
      keepaliveFailed: () => {
        if (this.#leaseAlive) this.#log.warn('etcd keep-alive failed; serving the last route tables');
        this.#leaseAlive = false;
      },
      lost: () => {
        if (this.#lease !== lease) return;
        this.#log.warn('router lease lost; publishing again under a new one when etcd answers');
        this.#leaseAlive = false;
        this.#lease = null;
        this.#retrySoon();
      },
    });
    this.#lease = lease;
    return lease;
  }

  /** Stops keeping the lease alive (revoke stops the keep-alive first; its request may fail unseen). */
  #dropLease(): void {
    this.#lease?.revoke(REQUEST_TIMEOUT_MS).catch(() => {});
    this.#lease = null;
  }

  /** Publishes again and reads the tables again (they may have moved while etcd was away). */
  #retrySoon(): void {
    if (this.#retryTimer !== null || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#readAll().catch(() => {});
      this.#publish();
    }, RETRY_MS);
    this.#retryTimer.unref();
  }

  #contact(): void {
    this.#lastContact = Date.now();
  }

  get connected(): boolean {
    return this.#watchConnected && this.#leaseAlive;
  }

  record(): RouterRecord {
    const services: RouterRecord['services'] = {};
    for (const [name, n] of this.#nodes) services[name] = { generation: n.generation, listen: n.cfg.listen };
    return { id: this.id, host: hostname(), pid: process.pid, services, since: this.#since, updatedAt: new Date().toISOString() };
  }

  status(): FleetRouterStatus {
    const services: FleetRouterStatus['services'] = {};
    for (const [name, n] of this.#nodes) services[name] = { generation: n.generation, listen: n.cfg.listen, live: n.state?.live ?? null };
    return {
      id: this.id,
      etcd: this.connected ? 'connected' : 'disconnected',
      lastContact: this.#lastContact === null ? null : new Date(this.#lastContact).toISOString(),
      services,
    };
  }

  /** The router host of a service (its metrics, for a controller that is also a router). */
  host(service: string): RouterHost | null {
    return this.#nodes.get(service)?.host ?? null;
  }

  async close(grace = 0): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    if (this.#metricsTimer !== null) clearInterval(this.#metricsTimer);
    await this.#watcher?.cancel().catch(() => {});
    // Revoking removes the record at once, so no switch waits for a router that is gone.
    const lease = this.#lease;
    this.#lease = null;
    if (lease !== null) await withTimeout(lease.revoke(REQUEST_TIMEOUT_MS), REQUEST_TIMEOUT_MS).catch(() => {});
    for (const n of this.#nodes.values()) n.health.close();
    await Promise.all([...this.#nodes.values()].map((n) => n.host.close(grace)));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
