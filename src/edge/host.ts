// A service's router on an edge listener: the router keeps its route table, pools and counters, and
// the listener (shared by every service naming the same `listen`, looked up in a registry keyed by
// that address) owns the socket, TLS and the choice of service per request.
import type { ServiceConfig } from '../config/types.ts';
import type { EdgeStatus } from '../controller/view.ts';
import type { Logger } from '../log.ts';
import { LocalRouterHost, type RouterHost, WorkerRouterHost } from '../router/host.ts';
import { Router, type RouterMetrics, type RouterOptions } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import {
  type AcmeChallenges,
  type AcmeHostState,
  type AcmeOptions,
  AcmeService,
  acmeChallenges,
  type CertificateEvent,
  loadAcmeFiles,
} from './acme.ts';
import { EdgeListener } from './listener.ts';
import { EdgeWorkersHost } from './workers.ts';
import { RedirectListener, type RedirectRoute } from './redirect.ts';
import { buildEdgeTable, type EdgeTable, isMiss, matchRoute, normalisePrefix } from './match.ts';

/** The edge part of a service's config, as the router side needs it. */
export interface EdgeConfig {
  hosts: readonly string[];
  pathPrefix?: string | undefined;
  stripPrefix: boolean;
  tls?: { certificate: string; key: string } | { acme: { email: string; directory: string; renewBefore: number } } | undefined;
  /** The file's top-level httpRedirect listener, started with the first TLS service. */
  httpRedirect?: string | undefined;
  /** Where ACME keeps its account and certificates (stateDir/acme). */
  acmeStorage?: string | undefined;
}

/** The edge part of a service's config. */
export function edgeConfigOf(cfg: ServiceConfig): EdgeConfig {
  return {
    hosts: cfg.hosts,
    pathPrefix: cfg.pathPrefix,
    stripPrefix: cfg.stripPrefix,
    tls: cfg.tls,
    httpRedirect: cfg.httpRedirect,
    acmeStorage: cfg.acmeStorage,
  };
}

/** Whether a service needs an edge listener rather than a plain socket of its own. */
export function needsEdge(edge: EdgeConfig): boolean {
  return edge.tls !== undefined || edge.hosts.length > 0 || edge.pathPrefix !== undefined;
}

/** Edge listeners of this process by listen address; the last service to leave closes one. */
export class EdgeListeners {
  private readonly byAddress = new Map<string, EdgeListener>();
  private readonly redirects = new Map<string, { listener: RedirectListener; users: number; started: Promise<void> }>();
  readonly challenges: AcmeChallenges;
  /** Listeners bind with SO_REUSEPORT: this process is one of a service's `workers` (edge/worker.ts). */
  readonly reusePort: boolean;
  /**
   * Sockets the supervisor owns and handed to this worker, by the address they are bound to: the
   * shared listener, the httpRedirect listener, each service's preview listener. Listened on, never bound here.
   */
  readonly handed: ReadonlyMap<string, object>;

  constructor(challenges: AcmeChallenges = acmeChallenges, reusePort = false, handed: ReadonlyMap<string, object> = new Map()) {
    this.challenges = challenges;
    this.reusePort = reusePort;
    this.handed = handed;
  }

  /** TLS services other processes serve, for the redirect listener (setRedirectRoutes). */
  private remote: EdgeTable<number> = buildEdgeTable<number>([]);

  /** Every TLS service of the supervisor's router processes, those of other listen addresses among them. */
  setRedirectRoutes(routes: RedirectRoute[]): void {
    this.remote = buildEdgeTable(
      routes.map((r) => ({ service: r.service, hosts: r.hosts, pathPrefix: r.pathPrefix, stripPrefix: false, value: r.port })),
    );
  }

  /** The httpRedirect listener at `listen`, started once for all TLS services. */
  async redirect(listen: string, log: Logger): Promise<RedirectListener> {
    let r = this.redirects.get(listen);
    if (r === undefined) {
      const listener = new RedirectListener({
        listen,
        challenges: this.challenges,
        log,
        reusePort: this.reusePort,
        handle: this.handed.get(listen),
        portFor: (host, path) => {
          for (const l of this.byAddress.values()) if (l.proto === 'https' && l.serves(host, path)) return l.address().port;
          const m = matchRoute(this.remote, host, path);
          return isMiss(m) ? null : m.route.value;
        },
      });
      r = { listener, users: 0, started: listener.start() };
      this.redirects.set(listen, r);
    }
    r.users++;
    await r.started;
    return r.listener;
  }

  async leaveRedirect(listen: string): Promise<void> {
    const r = this.redirects.get(listen);
    if (r === undefined || --r.users > 0) return;
    this.redirects.delete(listen);
    await r.listener.close();
  }

  get(listen: string, tlsOn: boolean, log: Logger): EdgeListener {
    let l = this.byAddress.get(listen);
    if (l === undefined) {
      l = new EdgeListener({
        listen,
        tls: tlsOn,
        log,
        challenges: this.challenges,
        reusePort: this.reusePort,
        handle: this.handed.get(listen),
      });
      this.byAddress.set(listen, l);
    }
    return l;
  }

  async leave(l: EdgeListener, service: string, grace: number): Promise<void> {
    l.remove(service);
    if (l.size > 0) return;
    if (this.byAddress.get(l.listen) === l) this.byAddress.delete(l.listen);
    await l.close(grace);
  }

  all(): EdgeListener[] {
    return [...this.byAddress.values()];
  }
}

export const edgeListeners = new EdgeListeners();

/**
 * Retry and timeout of ACME attempts (tests shorten them). `filesOnly`: this is a router process
 * whose ACME client runs in the controller (edge/worker.ts): it serves the certificate files that
 * client writes and answers the challenges it is handed, and orders nothing itself.
 */
export type EdgeAcmeTuning = Pick<AcmeOptions, 'retryBase' | 'retryMax' | 'attemptTimeout'> & { filesOnly?: boolean };

export class EdgeRouterHost implements RouterHost {
  readonly router: Router;
  private readonly edge: EdgeConfig;
  private readonly log: Logger;
  private readonly registry: EdgeListeners;
  private listener: EdgeListener | null = null;
  private acme: AcmeService | null = null;
  private redirect: string | null = null;
  /** What takes this service's certificates out of the listener's store when it leaves (others stay). */
  private readonly certRemovals: (() => void)[] = [];
  /** Told of every ACME certificate obtained or renewed and every failed attempt (the runtime records them as events). */
  onCertificate: ((e: CertificateEvent) => void) | null = null;

  /** Retry and timeout of ACME attempts (tests shorten them); `filesOnly`: the ACME client runs elsewhere. */
  private readonly acmeTuning: EdgeAcmeTuning;

  constructor(
    opts: RouterOptions,
    edge: EdgeConfig,
    log: Logger,
    registry: EdgeListeners = edgeListeners,
    acmeTuning: EdgeAcmeTuning = {},
  ) {
    this.acmeTuning = acmeTuning;
    // The preview listener is shared like the main one when this is one of several workers.
    this.router = new Router({ ...opts, reusePort: registry.reusePort });
    this.edge = edge;
    this.log = log;
    this.registry = registry;
  }

  /**
   * Claims the service's hosts and certificate on its listener without accepting connections: a
   * router process started again joins every service of its listener first, then listens
   * (edge/worker.ts), so it never accepts a connection for a host it does not serve yet.
   */
  join(): EdgeListener {
    if (this.listener !== null) return this.listener;
    const tlsConfig = this.edge.tls;
    const l = this.registry.get(this.router.opts.listen, tlsConfig !== undefined, this.log);
    this.listener = l;
    if (tlsConfig !== undefined && 'certificate' in tlsConfig && l.certs !== null)
      this.certRemovals.push(l.certs.addFiles(this.edge.hosts, tlsConfig.certificate, tlsConfig.key));
    l.add({
      service: this.router.opts.service,
      hosts: this.edge.hosts.map((h) => h.toLowerCase()),
      pathPrefix: normalisePrefix(this.edge.pathPrefix),
      stripPrefix: this.edge.stripPrefix,
      value: this.router,
    });
    return l;
  }

  async listen(): Promise<void> {
    const tlsConfig = this.edge.tls;
    const l = this.join();
    await l.start();
    const preview = this.router.opts.previewListen;
    await this.router.listenPreview(preview === undefined ? undefined : this.registry.handed.get(preview));
    if (tlsConfig !== undefined && this.edge.httpRedirect !== undefined) {
      await this.registry.redirect(this.edge.httpRedirect, this.log);
      this.redirect = this.edge.httpRedirect;
    }
    if (tlsConfig !== undefined && 'acme' in tlsConfig && l.certs !== null && this.acmeTuning.filesOnly) {
      this.certRemovals.push(loadAcmeFiles(l.certs, this.edge.hosts, this.edge.acmeStorage ?? 'acme', tlsConfig.acme.directory));
    } else if (tlsConfig !== undefined && 'acme' in tlsConfig && l.certs !== null) {
      this.acme = new AcmeService({
        service: this.router.opts.service,
        hosts: this.edge.hosts,
        ...tlsConfig.acme,
        storage: this.edge.acmeStorage ?? 'acme',
        certs: l.certs,
        log: this.log,
        challenges: this.registry.challenges,
        ...this.acmeTuning,
        onCertificate: (e) => this.onCertificate?.(e),
      });
      this.acme.start();
      const certs = l.certs;
      // What this process's ACME client issued (setPem) leaves with the service too.
      this.certRemovals.push(() => {
        for (const h of this.edge.hosts) certs.removeSource(`acme:${h}`);
      });
    }
  }

  /** Loads the listener's certificate files again now (the ACME client elsewhere replaced them). */
  reloadCertificates(): void {
    this.listener?.certs?.reload();
  }

  /** Where each ACME certificate of this service stands (empty without ACME). */
  acmeStatus(): AcmeHostState[] {
    return this.acme?.status() ?? [];
  }

  /** For the service's status: what it claims on its listener, its certificates and ACME's progress. */
  edgeStatus(): EdgeStatus {
    const mine = (hosts: readonly string[]): boolean => hosts.length === 0 || hosts.some((h) => this.edge.hosts.includes(h));
    return {
      hosts: this.edge.hosts,
      pathPrefix: normalisePrefix(this.edge.pathPrefix),
      tls: this.edge.tls !== undefined,
      certificates: (this.listener?.certs?.info() ?? []).filter((c) => mine(c.hosts)),
      acme: this.acmeStatus(),
    };
  }

  /** The ACME client of this service, for tests and renewals on demand. */
  acmeService(): AcmeService | null {
    return this.acme;
  }

  /** The port the listener got (listen on port 0 in tests). */
  address(): { host: string; port: number } {
    const a = (this.listener as EdgeListener).address();
    return { host: a.address, port: a.port };
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

  async close(grace = 0): Promise<void> {
    this.acme?.close();
    this.acme = null;
    if (this.redirect !== null) await this.registry.leaveRedirect(this.redirect);
    this.redirect = null;
    const l = this.listener;
    this.listener = null;
    // Its hosts no longer get its certificate (the listener's other services keep theirs), and a
    // service that joins again later adds its pair afresh, not a second copy beside the old one.
    for (const remove of this.certRemovals.splice(0)) remove();
    if (l !== null) await this.registry.leave(l, this.router.opts.service, grace);
    await this.router.close(grace);
  }
}

/** The router host a service's config asks for: an edge listener, worker processes, or this process. */
export function routerHostFor(cfg: ServiceConfig, opts: RouterOptions, log: Logger): RouterHost {
  const edge = edgeConfigOf(cfg);
  if (needsEdge(edge) && cfg.workers > 1) {
    // The listen address's processes serve every service on it (one count for all, as validate asks); with ACME, this process runs the client.
    return new EdgeWorkersHost(opts, cfg.workers, edge, log);
  }
  if (needsEdge(edge)) return new EdgeRouterHost(opts, edge, log);
  return cfg.workers > 1 ? new WorkerRouterHost(opts, cfg.workers, log) : new LocalRouterHost(opts);
}
