// A service on an edge listener of its own with `workers: N`: the workers (edge/worker.ts) serve,
// and this process reads the same certificate files as they do (and again when they change), so the
// service's status shows its edge (hosts, prefix, certificates) as for a single-process edge.
import type { EdgeStatus } from '../controller/view.ts';
import type { Logger } from '../log.ts';
import type { RouterHost } from '../router/host.ts';
import type { RouterMetrics, RouterOptions } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import { WorkerRouterHost } from '../router/workers.ts';
import { CertStore } from './certs.ts';
import type { EdgeConfig } from './host.ts';
import { normalisePrefix } from './match.ts';

export class EdgeWorkersHost implements RouterHost {
  readonly #workers: WorkerRouterHost;
  readonly #edge: EdgeConfig;
  readonly #certs: CertStore | null;

  constructor(opts: RouterOptions, count: number, edge: EdgeConfig, log: Logger) {
    this.#workers = new WorkerRouterHost(opts, count, log, undefined, { module: new URL('./worker.ts', import.meta.url), extra: { edge } });
    this.#edge = edge;
    const tls = edge.tls;
    // Validation refuses ACME with workers: only certificate files come here.
    this.#certs = tls !== undefined && 'certificate' in tls ? new CertStore(log) : null;
    if (tls !== undefined && 'certificate' in tls) this.#certs?.addFiles(edge.hosts, tls.certificate, tls.key);
  }

  listen(): Promise<void> {
    return this.#workers.listen();
  }

  apply(spec: RouteSpec): Promise<void> {
    return this.#workers.apply(spec);
  }

  setHealth(address: string, healthy: boolean): void {
    this.#workers.setHealth(address, healthy);
  }

  metrics(): Promise<RouterMetrics> {
    return this.#workers.metrics();
  }

  processes(): ReturnType<WorkerRouterHost['processes']> {
    return this.#workers.processes();
  }

  edgeStatus(): EdgeStatus {
    return {
      hosts: this.#edge.hosts,
      pathPrefix: normalisePrefix(this.#edge.pathPrefix),
      tls: this.#edge.tls !== undefined,
      certificates: this.#certs?.info() ?? [],
      acme: [],
    };
  }

  async close(grace = 0): Promise<void> {
    this.#certs?.close();
    await this.#workers.close(grace);
  }
}
