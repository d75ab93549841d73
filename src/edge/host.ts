// A service's router on an edge listener: the router keeps its route table, pools and counters, and
// the listener (shared by every service naming the same `listen`, looked up in a registry keyed by
// that address) owns the socket, TLS and the choice of service per request.
import type { ServiceConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { LocalRouterHost, type RouterHost, WorkerRouterHost } from '../router/host.ts';
import { Router, type RouterMetrics, type RouterOptions } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import { EdgeListener } from './listener.ts';
import { normalisePrefix } from './match.ts';

/** The edge part of a service's config, as the router side needs it. */
export interface EdgeConfig {
  hosts: readonly string[];
  pathPrefix?: string | undefined;
  stripPrefix: boolean;
  tls?: { certificate: string; key: string } | undefined;
}

/** Whether a service needs an edge listener rather than a plain socket of its own. */
export function needsEdge(edge: EdgeConfig): boolean {
  return edge.tls !== undefined || edge.hosts.length > 0 || edge.pathPrefix !== undefined;
}

/** Edge listeners of this process by listen address; the last service to leave closes one. */
export class EdgeListeners {
  private readonly byAddress = new Map<string, EdgeListener>();

  get(listen: string, tlsOn: boolean, log: Logger): EdgeListener {
    let l = this.byAddress.get(listen);
    if (l === undefined) {
      l = new EdgeListener({ listen, tls: tlsOn, log });
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

export class EdgeRouterHost implements RouterHost {
  readonly router: Router;
  private readonly edge: EdgeConfig;
  private readonly log: Logger;
  private readonly registry: EdgeListeners;
  private listener: EdgeListener | null = null;

  constructor(opts: RouterOptions, edge: EdgeConfig, log: Logger, registry: EdgeListeners = edgeListeners) {
    this.router = new Router({ ...opts, reusePort: false });
    this.edge = edge;
    this.log = log;
    this.registry = registry;
  }

  async listen(): Promise<void> {
    const l = this.registry.get(this.router.opts.listen, this.edge.tls !== undefined, this.log);
    this.listener = l;
    if (this.edge.tls !== undefined) l.certs?.addFiles(this.edge.hosts, this.edge.tls.certificate, this.edge.tls.key);
    l.add({
      service: this.router.opts.service,
      hosts: this.edge.hosts.map((h) => h.toLowerCase()),
      pathPrefix: normalisePrefix(this.edge.pathPrefix),
      stripPrefix: this.edge.stripPrefix,
      value: this.router,
    });
    await l.start();
    await this.router.listenPreview();
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
    const l = this.listener;
    this.listener = null;
    if (l !== null) await this.registry.leave(l, this.router.opts.service, grace);
    await this.router.close(grace);
  }
}

/** The router host a service's config asks for: an edge listener, worker processes, or this process. */
export function routerHostFor(cfg: ServiceConfig, opts: RouterOptions, log: Logger): RouterHost {
  const edge: EdgeConfig = { hosts: cfg.hosts, pathPrefix: cfg.pathPrefix, stripPrefix: cfg.stripPrefix, tls: cfg.tls };
  if (needsEdge(edge)) return new EdgeRouterHost(opts, edge, log);
  return cfg.workers > 1 ? new WorkerRouterHost(opts, cfg.workers, log) : new LocalRouterHost(opts);
}
