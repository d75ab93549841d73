// A service's routers as the supervisor runs them: the runtime applies route tables and health
// through the supervisor's socket. Closing it leaves the routers serving (they outlive this
// controller); the daemon decides whether the supervisor drains them (a stop) or keeps them (a restart).
import type { ServiceConfig } from '../config/types.ts';
import type { EdgeStatus } from '../controller/view.ts';
import { CertStore } from '../edge/certs.ts';
import { type EdgeConfig, edgeConfigOf, needsEdge } from '../edge/host.ts';
import { normalisePrefix } from '../edge/match.ts';
import type { Logger } from '../log.ts';
import type { RouterHost } from '../router/host.ts';
import { APPLY_TIMEOUT_MS } from '../router/workers.ts';
import type { RouterMetrics, RouterOptions } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import type { RouterGroupStatus } from './protocol.ts';
import type { SupervisorClient } from './supervisor-client.ts';

/**
 * The edge a service's routers serve in the supervisor; undefined for a plain listener. The supervisor
 * runs every service's routers: plain ones, and edge ones (certificate files, ACME, or no TLS) alone on
 * a listener or sharing it, with the httpRedirect listener (supervisor-edges.ts). An ACME service's
 * client stays in the controller (supervised-acme.ts): its routers load the files it writes and are
 * handed its challenges. Of ACME they need only the directory (it names the folder of those files),
 * so changing the client's own settings (a SIGHUP) replaces no router process.
 */
export function supervisedEdge(cfg: ServiceConfig): EdgeConfig | undefined {
  const edge = edgeConfigOf(cfg);
  if (!needsEdge(edge)) return undefined;
  if (edge.tls !== undefined && 'acme' in edge.tls)
    return { ...edge, tls: { acme: { email: '', directory: edge.tls.acme.directory, renewBefore: 0 } } };
  return edge;
}

export class SupervisedRouterHost implements RouterHost {
  readonly #client: SupervisorClient;
  readonly #opts: RouterOptions;
  readonly #workers: number;
  readonly #log: Logger;
  #bound: string | null = null;
  /** The edge the supervisor's routers serve (SupervisedEdgeHost); undefined for a plain listener. */
  protected readonly edge: EdgeConfig | undefined;

  constructor(client: SupervisorClient, opts: RouterOptions, workers: number, log: Logger, edge?: EdgeConfig) {
    this.edge = edge;
    this.#client = client;
    this.#opts = opts;
    this.#workers = workers;
    this.#log = log;
  }

  async listen(): Promise<void> {
    const g = await this.#client.request({
      op: 'routers',
      service: this.#opts.service,
      opts: this.#opts,
      workers: this.#workers,
      ...(this.edge === undefined ? {} : { edge: this.edge }),
    });
    this.#bound = g.listen;
    this.#log.info('routers running', { generation: g.generation, pids: g.processes.map((p) => p.pid) });
  }

  /** Where the routers really listen (the port the supervisor got when `listen` names port 0). */
  boundAddress(): string | null {
    return this.#bound;
  }

  async apply(spec: RouteSpec): Promise<void> {
    await this.#client.request({ op: 'apply', service: this.#opts.service, spec, timeoutMs: APPLY_TIMEOUT_MS });
  }

  setHealth(address: string, healthy: boolean): void {
    this.#client.request({ op: 'health', service: this.#opts.service, address, healthy }).catch(() => {});
  }

  metrics(): Promise<RouterMetrics> {
    return this.#client.request({ op: 'metrics', service: this.#opts.service });
  }

  /** The router processes: pid, generation, uptime, restarts. */
  async processes(): Promise<RouterGroupStatus | null> {
    const s = await this.#client.request({ op: 'status' });
    return s.routers.find((r) => r.service === this.#opts.service) ?? null;
  }

  async close(): Promise<void> {}
}

/**
 * An edge service whose listener the supervisor's routers serve (edge/worker.ts, handed the socket):
 * they load the certificate files; this controller reads the same files (and again when they change)
 * so the service's status shows its edge as for an edge in this process.
 */
export class SupervisedEdgeHost extends SupervisedRouterHost {
  readonly #certs: CertStore | null;

  constructor(client: SupervisorClient, opts: RouterOptions, workers: number, log: Logger, edge: EdgeConfig) {
    super(client, opts, workers, log, edge);
    const tls = edge.tls;
    this.#certs = tls !== undefined && 'certificate' in tls ? new CertStore(log) : null;
    if (tls !== undefined && 'certificate' in tls) this.#certs?.addFiles(edge.hosts, tls.certificate, tls.key);
  }

  edgeStatus(): EdgeStatus {
    const edge = this.edge as EdgeConfig;
    return {
      hosts: edge.hosts,
      pathPrefix: normalisePrefix(edge.pathPrefix),
      tls: edge.tls !== undefined,
      certificates: this.#certs?.info() ?? [],
      acme: [],
    };
  }

  override async close(): Promise<void> {
    this.#certs?.close();
  }
}
