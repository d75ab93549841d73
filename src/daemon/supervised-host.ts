// A service's routers as the supervisor runs them: the runtime applies route tables and health
// through the supervisor's socket. Closing it leaves the routers serving (they outlive this
// controller); the daemon decides whether the supervisor drains them (a stop) or keeps them (a restart).
import type { ServiceConfig } from '../config/types.ts';
import { needsEdge } from '../edge/host.ts';
import type { Logger } from '../log.ts';
import type { RouterHost } from '../router/host.ts';
import { APPLY_TIMEOUT_MS } from '../router/workers.ts';
import type { RouterMetrics, RouterOptions } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import type { RouterGroupStatus } from './protocol.ts';
import type { SupervisorClient } from './supervisor-client.ts';

/** Whether the supervisor runs the service's routers: not yet behind an edge listener (TLS, hosts, paths). */
export function supervised(cfg: ServiceConfig): boolean {
  return !needsEdge({ hosts: cfg.hosts, pathPrefix: cfg.pathPrefix, stripPrefix: cfg.stripPrefix, tls: cfg.tls });
}

export class SupervisedRouterHost implements RouterHost {
  readonly #client: SupervisorClient;
  readonly #opts: RouterOptions;
  readonly #workers: number;
  readonly #log: Logger;
  #bound: string | null = null;

  constructor(client: SupervisorClient, opts: RouterOptions, workers: number, log: Logger) {
    this.#client = client;
    this.#opts = opts;
    this.#workers = workers;
    this.#log = log;
  }

  async listen(): Promise<void> {
    const g = await this.#client.request({ op: 'routers', service: this.#opts.service, opts: this.#opts, workers: this.#workers });
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
