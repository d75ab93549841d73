// The composition root `cutover up` runs: the store, a runtime per service (router + health), a
// release controller per service, the API (with events, metrics, traffic and the dashboard) and the
// webhooks, wired together. With a store that can carry a fleet (etcd) it also campaigns for
// leadership: only the leader runs the services' runtimes and releases (a follower's API refuses
// changes, naming the leader), and its switches wait for the fleet's routers (see src/fleet/).
// The routers and the process provider's replicas run under the stateDir's supervisor
// (supervisor.ts), which outlives this process: a controller that stops on purpose asks it to drain
// and stop; one that restarts or dies leaves the routers serving and the replicas running, and the
// next one attaches to the routers and adopts the replicas. In a fleet the supervisor's routers are
// this controller's fleet router's (fed from etcd by it, see src/fleet/router-node.ts), so a
// controller that dies leaves them serving their last table until the next one attaches.
import { mkdirSync } from 'node:fs';
import type { Config } from '../config/types.ts';
import { CutoverError, ConfigError, notFound } from '../errors.ts';
import { loadConfig } from '../config/load.ts';
import type { Logger } from '../log.ts';
import { ApiServer } from '../api/server.ts';
import { Authenticator, daemonAdminToken } from '../api/auth.ts';
import { EventFeed, eventsRoute } from '../api/events.ts';
import { holdRoutes } from '../api/hold.ts';
import { groupRoutes } from '../api/groups.ts';
import { MetricsExporter } from '../api/metrics.ts';
import { TrafficSampler, trafficRoute } from '../api/traffic.ts';
import { dashboardFiles } from '../api/ui.ts';
import { WebhookNotifier } from '../notify/webhooks.ts';
import { createProvider, type Provider } from '../providers/index.ts';
import type { ControlPlane } from '../api/control.ts';
import type { ServiceAnswer, SupervisorStatus } from '../api/types.ts';
import type { SlotName } from '../config/types.ts';
import { type ParityReport, parityBeforeSwitch, parityReport } from '../controller/parity.ts';
import { ReleaseController } from '../controller/release.ts';
import { GroupCoordinator } from '../controller/group.ts';
import { ServiceRuntime } from '../controller/service.ts';
import { FleetControl } from '../fleet/control.ts';
import type { AdoptableHost } from '../fleet/router-node.ts';
import type { RouteState, Store } from '../store/types.ts';
import { routerOptions } from '../traffic/router-options.ts';
import { openStore } from './store.ts';
import { SupervisedAcmeHost } from './supervised-acme.ts';
import { SupervisedEdgeHost, SupervisedRouterHost, supervisedEdge } from './supervised-host.ts';
import { startDataPlane, startFleetSupervisor } from './data-plane.ts';
import type { SupervisorClient } from './supervisor-client.ts';
import { SupervisedReplicaRunner } from './supervised-replicas.ts';

export class Daemon implements ControlPlane {
  readonly config: Config;
  private readonly log: Logger;
  #store: Store | null = null;
  private readonly runtimes = new Map<string, ServiceRuntime>();
  private readonly providers = new Map<string, Provider>();
  private readonly controllers = new Map<string, ReleaseController>();
  /** Grouped releases over the controllers (config `groups`); made with the services. */
  private groupCoordinator: GroupCoordinator | null = null;
  private api: ApiServer | null = null;
  /** With an etcd store: the routers, the election, this process's own fleet router. */
  private fleet: FleetControl | null = null;
  /** The store's new events, for the SSE stream, the webhooks and the dashboard. */
  private feed: EventFeed | null = null;
  private notifier: WebhookNotifier | null = null;
  private traffic: TrafficSampler | null = null;
  /** The stateDir's supervisor, which runs the routers (in a fleet: the fleet router's) and the process replicas. */
  #supervisor: SupervisorClient | null = null;
  #replicaRunner: SupervisedReplicaRunner | null = null;
  apiAddress = '';
  adminTokenFile: string | null = null;

  readonly #attaching: Promise<SupervisorClient> | null;
  /** What `cutover up` does once this controller has handed over (it starts the code on disk). */
  onRestart: (() => void) | null = null;
  /** What `cutover up` does on `cutover down` (POST /api/v1/shutdown): the same stop as SIGTERM. */
  onShutdown: (() => void) | null = null;
  #restarting = false;
  #closing = false;

  /** `supervisor`: the data plane, when the caller started it already (see startDataPlane). */
  constructor(config: Config, log: Logger, opts: { supervisor?: Promise<SupervisorClient> } = {}) {
    this.config = config;
    this.log = log;
    this.#attaching = opts.supervisor ?? null;
  }

  async start(): Promise<void> {
    mkdirSync(this.config.stateDir, { recursive: true, mode: 0o700 });
    // The supervisor starts (or answers) while the store opens: both take a moment.
    const attaching: Promise<SupervisorClient | null> =
      this.#attaching ??
      (this.config.store.kind === 'etcd' ? startFleetSupervisor(this.config, this.log) : startDataPlane(this.config, this.log));
    attaching.catch(() => {});
    try {
      this.#store = await openStore(this.config);
    } catch (err) {
      // Nothing was started: the supervisor, if this one started it, leaves after its grace.
      void attaching.then(
        (c) => c?.detach(),
        () => {},
      );
      throw err;
    }
    const admin = daemonAdminToken(this.config.stateDir);
    this.adminTokenFile = admin.file;
    try {
      const link = this.#store.fleet?.();
      this.#supervisor = await attaching;
      if (this.#supervisor !== null) this.#watchSupervisor(this.#supervisor);
      if (link !== undefined) {
        const sup = this.#supervisor;
        this.fleet = await FleetControl.start(this.config, link, this.log, sup === null ? undefined : (cfg) => this.fleetHost(cfg.name));
        await this.#retain(this.config.fleet.router);
      } else {
        await this.startServices();
        await this.#retain(true);
      }
      this.feed = new EventFeed(this.#store, this.log);
      this.notifier = new WebhookNotifier(this.config.notifications.webhooks, {
        log: this.log,
        release: (id) => this.store().getRelease(id),
      });
      // In a fleet only the leader notifies, so a webhook is not sent once per controller.
      if (this.notifier.size > 0) this.feed.subscribe((e) => (this.fleet === null || this.fleet.leading) && this.notifier?.handle(e));
      await this.feed.start();
      this.api = new ApiServer(this, new Authenticator(admin.tokens, this.#store), this.log, {
        metrics: new MetricsExporter(this),
        routes: [
          eventsRoute(this.feed, this.#store),
          trafficRoute(this, (this.traffic = new TrafficSampler(this))),
          ...holdRoutes(this),
          ...groupRoutes(this),
        ],
        open: dashboardFiles(),
        hosts: this.config.api.hosts,
        metricsToken: this.config.api.metricsToken,
      });
      const a = await this.api.listen(this.config.api.listen);
      this.apiAddress = `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
      if (this.fleet !== null) {
        // The leader resumes the releases where the last leader left them in the store.
        this.fleet.campaign(this.apiAddress, {
          elected: async () => {
            await this.startServices();
            this.resumeAll();
          },
          lost: () => this.stopServices(),
        });
      } else {
        this.resumeAll();
      }
    } catch (err) {
      await this.close(0);
      throw err;
    }
  }

  /** Starts a runtime (routes and health) and a release controller per service. */
  private async startServices(): Promise<void> {
    const store = this.store();
    const groups = new GroupCoordinator(
      this.config.groups,
      (n) => {
        const controller = this.controllers.get(n);
        const rt = this.runtimes.get(n);
        return controller && rt ? { controller, rt } : undefined;
      },
      store,
      this.log,
    );
    const grouped = new Set(Object.values(this.config.groups).flat());
    for (const [name, cfg] of Object.entries(this.config.services)) {
      let provider = this.providers.get(name);
      if (provider === undefined) {
        const book = store.replicas?.();
        if (this.#supervisor !== null && book !== undefined) this.#replicaRunner ??= new SupervisedReplicaRunner(this.#supervisor);
        provider = createProvider(cfg, {
          stateDir: this.config.stateDir,
          logger: this.log,
          ...(this.#replicaRunner !== null && book !== undefined ? { replicas: { runner: this.#replicaRunner, book } } : {}),
        });
        this.providers.set(name, provider);
      }
      const rt = new ServiceRuntime(cfg, store, this.log, this.fleet?.hostFor(name) ?? this.supervisedHost(name));
      try {
        await rt.start(provider);
      } catch (err) {
        await rt.close(0);
        throw err;
      }
      // Listed once started: in a fleet this runs after `up` has printed and the API answers.
      this.runtimes.set(name, rt);
      this.controllers.set(
        name,
        new ReleaseController({
          runtime: rt,
          provider,
          store,
          stateDir: this.config.stateDir,
          configDir: this.config.dir,
          log: this.log,
          ...(grouped.has(name) ? { group: groups } : {}),
        }),
      );
    }
    // Only now: a group asked for while its members were still starting would name them unknown.
    this.groupCoordinator = groups;
  }

  /** A service taken out of the config (or `fleet.router` turned off): its routers drain and stop. */
  async #retain(routers: boolean): Promise<void> {
    await this.#supervisor?.request({
      op: 'retain',
      services: routers ? Object.keys(this.config.services) : [],
      grace: 0,
    });
  }

  /** The fleet router's routers of a service in the supervisor, which says what they serve; null: in this process. */
  private fleetHost(name: string): AdoptableHost | null {
    const host = this.supervisedHost(name);
    if (host === undefined) return null;
    return { host, served: async () => (await host.processes())?.generation ?? 0 };
  }

  /** The service's routers in the supervisor; undefined without one. */
  private supervisedHost(name: string): SupervisedRouterHost | undefined {
    const cfg = this.config.services[name]!;
    if (this.#supervisor === null) return undefined;
    const log = this.log.child({ service: name });
    const edge = supervisedEdge(cfg);
    if (edge !== undefined && cfg.tls !== undefined && 'acme' in cfg.tls)
      return new SupervisedAcmeHost(this.#supervisor, routerOptions(cfg), cfg.workers, log, edge, cfg.tls.acme);
    if (edge !== undefined) return new SupervisedEdgeHost(this.#supervisor, routerOptions(cfg), cfg.workers, log, edge);
    return new SupervisedRouterHost(this.#supervisor, routerOptions(cfg), cfg.workers, log);
  }

  /**
   * Slots start again and releases continue in the background: the API answers meanwhile, and the
   * router serves a slot only once its targets are healthy.
   */
  private resumeAll(): void {
    for (const [name, controller] of this.controllers) {
      controller.resume().catch((err) => this.log.error('resume failed', { service: name, err }));
    }
    this.groupCoordinator?.resume().catch((err) => this.log.error('resuming the groups failed', { err }));
  }

  /** Grouped releases; in a fleet only the leader has them. */
  groups(): GroupCoordinator {
    if (this.fleet !== null && !this.fleet.leading) throw this.fleet.notLeaderError();
    if (this.groupCoordinator === null) throw new CutoverError('CUTOVER_E_INTERNAL', 'the services are not started yet; try again', 503);
    return this.groupCoordinator;
  }

  /** A leader that lost its lease stops its releases and runtimes; the providers' slots keep running. */
  private async stopServices(): Promise<void> {
    this.groupCoordinator?.close();
    this.groupCoordinator = null;
    await Promise.all([...this.controllers.values()].map((c) => c.close()));
    await Promise.all([...this.runtimes.values()].map((rt) => rt.close(0)));
    this.controllers.clear();
    this.runtimes.clear();
  }

  get configFile(): string {
    return this.config.file;
  }

  get stateDir(): string {
    return this.config.stateDir;
  }

  /** The store, once started. */
  store(): Store {
    if (this.#store === null) throw new Error('the daemon is not started');
    return this.#store;
  }

  hasService(name: string): boolean {
    return this.runtimes.has(name);
  }

  services(): ServiceRuntime[] {
    return [...this.runtimes.values()];
  }

  service(name: string): ServiceRuntime {
    if (this.fleet !== null && !this.fleet.leading) throw this.fleet.notLeaderError();
    const rt = this.runtimes.get(name);
    // A controller just elected starts its services after `leading` turns true: a service of the
    // config not listed yet is on its way, not unknown.
    if (!rt && this.groupCoordinator === null && name in this.config.services) {
      throw new CutoverError('CUTOVER_E_INTERNAL', `service "${name}" is still starting on this leader; try again in a moment`, 503);
    }
    if (!rt) throw notFound(`no service "${name}"; services: ${[...this.runtimes.keys()].join(', ') || '(none)'}`);
    return rt;
  }

  releases(name: string): ReleaseController {
    this.service(name);
    return this.controllers.get(name)!;
  }

  /** The operator's switch; parity is checked first, and with parity.strict a drift is refused unless forced. */
  async switchTo(name: string, slot: SlotName, actor: string, reason: string, opts: { force: boolean }): Promise<RouteState> {
    const rt = this.service(name);
    const provider = this.providers.get(name);
    if (provider !== undefined && rt.routeState().live !== slot)
      await parityBeforeSwitch(
        { provider, cfg: rt.cfg, state: rt.routeState(), store: this.store(), actor, releaseId: null },
        slot,
        !opts.force,
      );
    return rt.switchTo(slot, actor, reason, opts);
  }

  /** What differs between the service's two slots besides the version, now. */
  async parity(name: string): Promise<ParityReport> {
    const rt = this.service(name);
    const provider = this.providers.get(name);
    if (provider === undefined) throw notFound(`no provider for "${name}" yet; try again once the daemon has started`);
    return parityReport(provider, rt.cfg, rt.routeState());
  }

  setHold(name: string, change: Parameters<ServiceRuntime['setHold']>[0], actor: string, reason: string): Promise<RouteState> {
    return this.service(name).setHold(change, actor, reason);
  }

  /** A service's route state and target health, with its active (or latest) release. */
  async status(name: string): Promise<ServiceAnswer> {
    const status = this.service(name).status();
    const release = (await this.controllers.get(name)?.releaseStatus()) ?? null;
    const parity = await this.parity(name).catch(() => null);
    const sup = await this.supervisor();
    return {
      ...status,
      release,
      parity,
      ...(this.fleet === null ? {} : { fleet: this.fleet.status(name) }),
      ...(sup === null
        ? {}
        : { supervisor: { pid: sup.pid, controllers: sup.controllers, routers: sup.routers.find((r) => r.service === name) ?? null } }),
    };
  }

  /**
   * SIGHUP, `cutover restart`: checks the config on disk first (invalid: nothing changes, the reason
   * is thrown), then hands over: this controller stops its releases and API, leaves the routers to
   * the supervisor, and `onRestart` starts the new controller from the code and config on disk. In a
   * fleet it resigns first, and its fleet router's routers serve their last table meanwhile.
   */
  async restart(): Promise<{ pid: number }> {
    if (this.#supervisor === null || this.onRestart === null) {
      throw new CutoverError(
        'CUTOVER_E_CONFLICT',
        'this controller cannot restart in place (no supervisor runs its routers or replicas); restart it with its service manager',
        409,
      );
    }
    if (this.#restarting)
      throw new CutoverError('CUTOVER_E_CONFLICT', 'a restart is already under way; wait for the API to answer again', 409);
    try {
      await loadConfig(this.config.file);
    } catch (err) {
      const problems = err instanceof ConfigError ? `: ${err.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}` : '';
      const message = err instanceof Error ? err.message : String(err);
      this.log.error('restart refused: the config on disk does not validate; nothing changed', {
        file: this.config.file,
        reason: message + problems,
      });
      throw new CutoverError(
        'CUTOVER_E_CONFIG_INVALID',
        `${message}${problems}. Nothing changed; fix ${this.config.file} and restart again`,
        400,
        {
          cause: err,
        },
      );
    }
    this.#restarting = true;
    this.log.info('restarting in place: handing the routers over to the next controller', { pid: process.pid });
    // After the answer has left: the API closes as part of the handover.
    setTimeout(() => {
      this.close(5000, 'restart').then(
        () => this.onRestart?.(),
        (err) => {
          this.log.error('handover failed; the supervisor keeps serving for its grace', { err });
          process.exit(1);
        },
      );
    }, 50);
    return { pid: process.pid };
  }

  /**
   * A supervisor that goes away while this controller runs: when it said it stops on purpose (SIGTERM
   * to it), this controller stops too; when it died (SIGKILL, a crash: its routers and, through its
   * watchdog, its replicas died with it), this controller restarts in place, which starts a new
   * supervisor and brings the routers and the live slots back from the store.
   */
  #watchSupervisor(client: SupervisorClient): void {
    let stopping = false;
    client.onNews((n) => {
      if (n.push === 'stopping') stopping = true;
    });
    void client.closed.then(() => {
      if (this.#closing || this.#restarting) return;
      if (stopping) {
        this.log.warn('the supervisor stopped on purpose: this controller stops too');
        this.onShutdown?.();
        return;
      }
      if (this.onRestart === null) {
        this.log.error('the supervisor is gone and this controller cannot restart in place; restart it');
        return;
      }
      this.log.error('the supervisor is gone (killed?): restarting in place to start a new one and bring the data plane back');
      this.#restarting = true;
      this.close(5000, 'restart').then(
        () => this.onRestart?.(),
        (err) => {
          this.log.error('could not hand over after the supervisor died', { err });
          process.exit(1);
        },
      );
    });
  }

  /** `cutover down`: answered first, then the same deliberate stop as SIGTERM. */
  async shutdown(): Promise<{ pid: number }> {
    if (this.onShutdown === null) {
      throw new CutoverError('CUTOVER_E_CONFLICT', 'this controller cannot stop itself; stop it with its service manager', 409);
    }
    if (this.#restarting) throw new CutoverError('CUTOVER_E_CONFLICT', 'a restart is under way; wait for the API to answer again', 409);
    this.log.info('stopping on request: draining the routers, then stopping the replicas', { pid: process.pid });
    setTimeout(() => this.onShutdown?.(), 50);
    return { pid: process.pid };
  }

  async supervisor(): Promise<SupervisorStatus | null> {
    if (this.#supervisor === null || !this.#supervisor.connected) return null;
    return this.#supervisor.request({ op: 'status' });
  }

  /**
   * `stop` (SIGTERM, SIGINT, `cutover down`): everything drains and stops, the ports close.
   * `restart` (SIGHUP, `cutover restart`): this controller goes; the supervisor keeps the routers
   * serving for the next one.
   */
  async close(grace: number, how: 'stop' | 'restart' = 'stop'): Promise<void> {
    this.#closing = true;
    this.feed?.close();
    this.traffic?.close();
    await this.notifier?.close();
    await this.api?.close();
    this.groupCoordinator?.close();
    await Promise.all([...this.controllers.values()].map((c) => c.close()));
    // Resigns once its releases are stopped, so a follower takes over at once.
    await this.fleet?.close(grace);
    await Promise.all([...this.runtimes.values()].map((rt) => rt.close(grace)));
    if (how === 'restart') await this.#supervisor?.detach();
    else {
      // The routers drain first: the replicas behind them answer until the last exchange ends.
      const drain = Object.fromEntries(Object.values(this.config.services).map((s) => [s.name, s.drain]));
      await this.#supervisor?.shutdown(drain);
    }
    await Promise.all([...this.providers.values()].map((p) => p.close()));
    await this.#replicaRunner?.close();
    await this.#store?.close();
  }
}
