// Runs a service's router either in this process or as `workers` processes that share the listener
// (SO_REUSEPORT, or one listening socket their parent owns and hands over). Either way `apply`
// resolves only once every router serves the new generation.
import { Router, type RouterMetrics, type RouterOptions } from './router.ts';
import type { RouteSpec } from './table.ts';

export interface RouterHost {
  listen(): Promise<void>;
  /** The address the router listens on once it does (a configured port 0 becomes the real port); absent: the configured one. */
  boundAddress?(): string | null;
  apply(spec: RouteSpec): Promise<void>;
  setHealth(address: string, healthy: boolean): void;
  metrics(): Promise<RouterMetrics>;
  close(grace?: number): Promise<void>;
}

export { APPLY_TIMEOUT_MS, WorkerRouterHost, type WorkerStatus } from './workers.ts';

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
