// One service at run time: its router (in-process or workers), the balancer that moves its traffic,
// the health of its targets, and its route state. Every change of the route state goes through one
// sequence (see change()): written to the store before any router sees it, and for an external
// balancer recorded as an intent first and as a route state only once the balancer took it
// (controller/traffic-control.ts). What each change records is built in route-changes.ts.
import { BalancerSource, NoEvidenceSource } from '../analysis/balancer-source.ts';
import { PrometheusSource } from '../analysis/prometheus-source.ts';
import { DEFAULT_RETAIN_MS, RouterSource } from '../analysis/router-source.ts';
import type { MetricSource, Sources } from '../analysis/types.ts';
import { WebSource } from '../analysis/web-source.ts';
import type { ServiceConfig, SlotName } from '../config/types.ts';
import { CutoverError, conflict } from '../errors.ts';
import type { Logger } from '../log.ts';
import { HealthChecker, type TargetHealth } from '../router/health.ts';
import { routerHostFor } from '../edge/host.ts';
import type { RouterHost } from '../router/host.ts';
import type { RouterMetrics } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import type { RouteState, Store } from '../store/types.ts';
import { routerOptions } from '../traffic/router-options.ts';
import { createTrafficAdapter } from '../traffic/index.ts';
import { recordCertificates } from './certificates.ts';
import { type StartProvider, startState } from './start-state.ts';
import { TrafficControl } from './traffic-control.ts';
import {
  type Change,
  type HoldChange,
  type RoutePatch,
  clearLiveChange,
  holdChange,
  routesChange,
  slotChange,
  switchChange,
} from './route-changes.ts';
import type { EdgeStatusSource, ServiceStatus, ServiceView, SwitchCommand } from './view.ts';
import { unwritableIn } from '../store/faults.ts';
import { untilWritten } from './wait.ts';

/** The source of the built-in metrics; `why` is set when it has no evidence to give. */
type BuiltinSource = MetricSource & { start(): Promise<void>; close(): void; readonly why?: string };

export class ServiceRuntime implements ServiceView, SwitchCommand {
  readonly cfg: ServiceConfig;
  private readonly store: Store;
  private readonly log: Logger;
  readonly host: RouterHost;
  private readonly health: HealthChecker;
  private state: RouteState | null = null;
  /**
   * What analysis reads, one per service: the built-in metrics from the counters of whatever users'
   * requests pass (the embedded router, or the external balancer: HAProxy's), and Prometheus when configured.
   */
  readonly sources: Sources;
  private readonly builtin: BuiltinSource;
  /** Changes of the route state are serialised: each reads the generation the previous one wrote. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Aborted by close(): a write still waiting for the stateDir (see restarted) gives up then. */
  private readonly closing = new AbortController();
  /** The balancer that moves users' traffic, and the order its changes are recorded in. */
  readonly traffic: TrafficControl;

  /**
   * `host`: where route states are applied: the supervisor's router processes (src/daemon/), or in a
   * fleet the fleet's (see src/fleet/ack-host.ts), where applying a state recorded in etcd waits
   * until every live router serves it. Without one (an edge listener, which the supervisor does not
   * run yet) the router runs in this process.
   */
  constructor(cfg: ServiceConfig, store: Store, log: Logger, host?: RouterHost) {
    this.cfg = cfg;
    this.store = store;
    this.log = log.child({ service: cfg.name });
    const opts = routerOptions(cfg);
    this.host = host ?? routerHostFor(cfg, opts, this.log);
    recordCertificates(this.host, store, cfg.name, this.log);
    this.traffic = new TrafficControl(createTrafficAdapter(cfg.traffic, { log: this.log }), store, this.log, cfg.name, () => this.state);
    this.health = new HealthChecker(cfg.health, (address, healthy) => {
      this.host.setHealth(address, healthy);
      this.log.info(healthy ? 'target healthy' : 'target unhealthy', { address, error: this.health.get(address)?.lastError ?? undefined });
    });
    // The ring must reach back over a whole observation plus the old slot's baseline before it.
    const retain = Math.max(DEFAULT_RETAIN_MS, cfg.analysis.window + 2 * 60_000);
    const ring = { interval: cfg.analysis.interval, retain };
    const kind = this.traffic.kind;
    const counters = this.traffic.counters;
    // Behind an external balancer the embedded router carries no user request (only preview and
    // gates): its counters would pass a bad version on no evidence.
    this.builtin =
      kind === 'router'
        ? new RouterSource(() => this.host.metrics(), ring)
        : counters !== null
          ? new BalancerSource(counters, { ...ring, kind })
          : new NoEvidenceSource(kind);
    const router: MetricSource = this.builtin;
    const prom = cfg.analysis.prometheus;
    const web = new WebSource({ service: cfg.name });
    this.sources = prom ? { router, web, prometheus: new PrometheusSource({ url: prom.url, service: cfg.name }) } : { router, web };
  }

  get name(): string {
    return this.cfg.name;
  }

  /** `provider`: asked whether the slots' addresses are fixed (then they start live, see start-state.ts). */
  async start(provider: StartProvider): Promise<void> {
    const state = await startState(this.cfg, this.store, provider);
    this.state = state;
    await this.host.listen();
    await this.host.apply(state as RouteSpec);
    await this.traffic.start(state);
    this.health.watch([...state.slots.blue.targets, ...state.slots.green.targets]);
    await this.startBuiltin();
  }

  private async startBuiltin(): Promise<void> {
    const b = this.builtin;
    if (b.why !== undefined && this.cfg.analysis.rules.some((r) => r.metric !== 'prometheus')) {
      this.log.warn('analysis has no evidence source', { why: b.why });
    }
    // A balancer that cannot be read yet only leaves gaps in the ring; a measurement says why.
    await b.start().catch((err: Error) => this.log.warn('cannot read the counters analysis judges yet', { error: err.message }));
  }

  routeState(): RouteState {
    if (this.state === null) throw new CutoverError('CUTOVER_E_INTERNAL', `service ${this.cfg.name} is not started`, 500);
    return this.state;
  }

  /**
   * The one way the route state changes: queued behind the change before it, `build` reads the
   * state and says what comes next (null: nothing to do), the store records it with its event
   * (compare-and-set on the generation read; around the external balancer's apply, see
   * TrafficControl.commit), and only then do the health checks and routers see it.
   */
  private change(build: (state: RouteState) => Change | null): Promise<RouteState> {
    const run = async (): Promise<RouteState> => {
      const state = this.routeState();
      const change = build(state);
      if (change === null) return state;
      const { next, event, log, always } = change;
      await this.traffic.commit(
        state,
        next,
        { ...event, service: this.cfg.name },
        async (recorded) => {
          this.state = recorded;
          this.health.watch([...recorded.slots.blue.targets, ...recorded.slots.green.targets]);
          await this.host.apply(recorded as RouteSpec);
        },
        { always: always ?? false },
      );
      this.log.info(log[0], log[1]);
      return next;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  /** Moves all traffic to `slot`: recorded in the store, then applied on every router. */
  switchTo(slot: SlotName, actor: string, reason: string, opts: { force?: boolean; releaseId?: string } = {}): Promise<RouteState> {
    return this.change((state) => switchChange(state, slot, this.cfg.name, (a) => this.health.get(a), actor, reason, opts));
  }

  /**
   * A switch of several services in one store transaction (a grouped release, controller/group.ts):
   * `runtimes` in a fixed order (by name, so two of these never wait on each other), each holding its
   * queue of changes while the store writes every member's next state at once; then each applies its
   * own. Only for the embedded router: there is no external balancer to ask first.
   */
  static async switchTogether(
    store: Store,
    switches: { rt: ServiceRuntime; slot: SlotName; actor: string; reason: string; releaseId: string }[],
  ): Promise<void> {
    const write = store.putRouteStates?.bind(store);
    if (write === undefined) {
      await Promise.all(switches.map((s) => s.rt.switchTo(s.slot, s.actor, s.reason, { releaseId: s.releaseId })));
      return;
    }
    const ordered = [...switches].sort((a, b) => a.rt.name.localeCompare(b.rt.name));
    const all = async (): Promise<void> => {
      const plans = ordered.map((s) => {
        const state = s.rt.routeState();
        return {
          s,
          state,
          change: switchChange(state, s.slot, s.rt.name, (a) => s.rt.health.get(a), s.actor, s.reason, { releaseId: s.releaseId }),
        };
      });
      const recorded = await write(
        plans.map((p) => ({
          state: p.change.next,
          options: { expectGeneration: p.state.generation, event: { ...p.change.event, service: p.s.rt.name } },
        })),
      );
      await Promise.all(
        recorded.map(async (state, i) => {
          const { s, change } = plans[i]!;
          s.rt.state = state;
          s.rt.health.watch([...state.slots.blue.targets, ...state.slots.green.targets]);
          await s.rt.host.apply(state as RouteSpec);
          s.rt.log.info(change.log[0], change.log[1]);
        }),
      );
    };
    const held = ordered.reduceRight<() => Promise<void>>((inner, s) => () => s.rt.exclusive(inner), all);
    await held();
  }

  /** Runs `fn` after every change queued before it, holding the queue until it ends. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => {});
    return p;
  }

  /**
   * Records what `slot` runs (a version and its targets; null and [] for nothing) as a new generation,
   * then applies it. Targets of a slot that is not live carry no user traffic; the health checker
   * starts checking new targets at once, and the router serves a target only once it is healthy.
   */
  setSlot(
    slot: SlotName,
    deployment: { version: string | null; targets: string[] },
    actor: string,
    reason: string,
    releaseId?: string,
  ): Promise<RouteState> {
    return this.change((state) => slotChange(state, slot, deployment, actor, reason, releaseId));
  }

  /**
   * After a daemon restart: `slot` runs its recorded version again, on new targets. Recorded and
   * applied like setSlot; but when the stateDir cannot be written (full, read-only) users must not
   * wait for the disk, so the new targets are served at once, under the recorded generation, and
   * recorded as soon as the store takes writes. The one write served before it is recorded, and
   * why that is safe: the slot, its version and every weight stay as recorded; only where the same
   * version answers changed, and a daemon that dies meanwhile starts that version again anyway.
   */
  async restarted(slot: SlotName, version: string, targets: string[], actor: string, reason: string): Promise<void> {
    try {
      await this.setSlot(slot, { version, targets }, actor, reason);
      return;
    } catch (err) {
      if (unwritableIn(err) === null) throw err;
      this.log.warn('the store cannot be written: serving the restarted slot before it is recorded', { slot, version, targets });
    }
    await this.change((state) => {
      // Same generation: the store's compare-and-set still matches it; the router takes an equal one.
      this.state = { ...state, slots: { ...state.slots, [slot]: { version, targets: [...targets] } } };
      this.health.watch([...this.state.slots.blue.targets, ...this.state.slots.green.targets]);
      void this.host.apply(this.state as RouteSpec);
      return null;
    });
    const record = (): Promise<RouteState> =>
      this.change((state) => ({
        next: { ...state, generation: state.generation + 1 },
        event: { releaseId: null, type: 'provider', actor, reason, data: { slot, version, targets, generation: state.generation + 1 } },
        log: ['slot set', { slot, version, targets, generation: state.generation + 1 }],
      }));
    untilWritten(record, this.closing.signal, () => {}).catch((err) => {
      if (!this.closing.signal.aborted) this.log.warn('could not record the restarted slot', { slot, err });
    });
  }

  /**
   * Changes what a release sets beside the live slot: weights of a progressive shift with their sticky
   * key, the preview route (its token stays out of events and logs) and the mirror. Recorded as a new
   * generation, then applied, like switchTo.
   */
  setRoutes(patch: RoutePatch, actor: string, reason: string, releaseId?: string): Promise<RouteState> {
    return this.change((state) => routesChange(state, patch, actor, reason, releaseId));
  }

  /**
   * Pause, resume, maintenance on/off (`cutover pause|resume|maintenance`): recorded as a new
   * generation with its event, then applied on every router, like a switch, so it survives a restart
   * of the controller and reaches every listener (HTTP/1.1, TLS, HTTP/2). The two are independent:
   * maintenance answers while it is on, and a pause still set when it goes off holds again.
   */
  setHold(change: HoldChange, actor: string, reason: string): Promise<RouteState> {
    if (this.cfg.traffic.kind !== 'router') {
      return Promise.reject(
        conflict(
          `${this.cfg.name}'s users come through ${this.cfg.traffic.kind}, not cutover's router, so it cannot pause them or show them a maintenance page; do it on ${this.cfg.traffic.kind}`,
        ),
      );
    }
    return this.change((state) => holdChange(state, change, actor, reason));
  }

  /** No slot takes traffic any more: the listener answers 503 "no release yet" (a failed first release). */
  clearLive(actor: string, reason: string, releaseId?: string): Promise<RouteState> {
    return this.change((state) => clearLiveChange(state, actor, reason, releaseId));
  }

  /**
   * Resolves once every target is healthy; rejects at the timeout (or abort) naming those that are
   * not, with their last health error.
   */
  async waitHealthy(targets: string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      const bad = targets.filter((a) => !this.health.get(a)?.healthy);
      if (bad.length === 0) return;
      if (Date.now() >= deadline) {
        throw new CutoverError(
          'CUTOVER_E_SLOT_UNHEALTHY',
          `not healthy within ${timeoutMs} ms: ${bad.map((a) => `${a} (${this.health.get(a)?.lastError ?? 'not checked yet'})`).join(', ')}`,
          409,
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(50, this.cfg.health.interval)));
    }
  }

  /** Where the embedded router listens: `listen`, or the free port it took when an external balancer has the users. */
  listenAddress(): string {
    return this.host.boundAddress?.() ?? this.cfg.listen;
  }

  targetHealth(address: string): TargetHealth | undefined {
    return this.health.get(address);
  }

  status(): ServiceStatus {
    const s = this.routeState();
    const slot = (name: SlotName) => ({
      version: s.slots[name].version,
      targets: s.slots[name].targets.map((address) => {
        const h = this.health.get(address);
        return { address, healthy: h?.healthy ?? false, lastError: h?.lastError ?? null };
      }),
    });
    return {
      service: this.cfg.name,
      listen: this.listenAddress(),
      live: s.live,
      weights: { blue: s.weights.blue, green: s.weights.green },
      generation: s.generation,
      paused: s.paused ?? null,
      maintenance: s.maintenance ?? null,
      slots: { blue: slot('blue'), green: slot('green') },
      traffic: this.traffic.status(),
      analysisSource: this.analysisSource(),
      release: null,
      ...edgeOf(this.host),
    };
  }

  /** Where the built-in analysis metrics come from, and why there is no evidence when there is none. */
  private analysisSource(): ServiceStatus['analysisSource'] {
    const why = this.builtin.why;
    return why === undefined ? { source: this.traffic.kind, note: null } : { source: 'none', note: why };
  }

  metrics(): Promise<RouterMetrics> {
    return this.host.metrics();
  }

  async close(grace: number): Promise<void> {
    this.closing.abort();
    this.builtin.close();
    this.health.close();
    await this.traffic.close();
    await this.host.close(grace);
  }
}

/** The edge part of a status, from a host that has one (an edge listener's). */
function edgeOf(host: RouterHost): { edge?: ServiceStatus['edge'] } {
  const source = host as Partial<EdgeStatusSource>;
  return typeof source.edgeStatus === 'function' ? { edge: source.edgeStatus() } : {};
}
