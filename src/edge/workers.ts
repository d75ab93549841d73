// A service on an edge listener of its own with `workers: N`: the workers (edge/worker.ts) serve,
// and this process reads the same certificate files as they do (and again when they change), so the
// service's status shows its edge (hosts, prefix, certificates) as for a single-process edge. With
// ACME this process runs the one ACME client: the workers load the files it writes, and are handed
// its challenges.
import type { EdgeStatus } from '../controller/view.ts';
import type { Logger } from '../log.ts';
import type { RouterHost } from '../router/host.ts';
import type { RouterMetrics, RouterOptions } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import { WorkerRouterHost } from '../router/workers.ts';
import { type AcmeHostState, AcmeService, type CertificateEvent } from './acme.ts';
import { CertStore } from './certs.ts';
import { CERTIFICATES_KEY, type ChallengeSink, challengeKey } from './challenge-sink.ts';
import type { EdgeConfig } from './host.ts';
import { normalisePrefix } from './match.ts';

export class EdgeWorkersHost implements RouterHost {
  readonly #workers: WorkerRouterHost;
  readonly #edge: EdgeConfig;
  readonly #certs: CertStore | null;
  readonly #acme: AcmeService | null = null;
  /** How often the ACME client replaced the files (what the workers are told to load again). */
  #written = 0;
  /** Told of every ACME certificate obtained or renewed and every failed attempt (the runtime records them as events). */
  onCertificate: ((e: CertificateEvent) => void) | null = null;

  constructor(opts: RouterOptions, count: number, edge: EdgeConfig, log: Logger) {
    const workers = new WorkerRouterHost(opts, count, log, undefined, { module: new URL('./worker.ts', import.meta.url), extra: { edge } });
    this.#workers = workers;
    this.#edge = edge;
    const tls = edge.tls;
    this.#certs = tls !== undefined ? new CertStore(log) : null;
    if (tls !== undefined && 'certificate' in tls) this.#certs?.addFiles(edge.hosts, tls.certificate, tls.key);
    if (tls !== undefined && 'acme' in tls && this.#certs !== null) {
      // Every worker may be the one the ACME server reaches: each is handed every challenge.
      const sink: ChallengeSink = {
        httpReady: () => edge.httpRedirect !== undefined,
        set: (c) => workers.setState(challengeKey(c), c),
        clear: (c) => workers.setState(challengeKey(c), null),
        written: () => workers.setState(CERTIFICATES_KEY, ++this.#written),
      };
      this.#acme = new AcmeService({
        service: opts.service,
        hosts: edge.hosts,
        ...tls.acme,
        storage: edge.acmeStorage ?? 'acme',
        certs: this.#certs,
        log,
        challenges: sink,
        onCertificate: (e) => this.onCertificate?.(e),
      });
    }
  }

  async listen(): Promise<void> {
    await this.#workers.listen();
    this.#acme?.start();
  }

  acmeStatus(): AcmeHostState[] {
    return this.#acme?.status() ?? [];
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
      acme: this.acmeStatus(),
    };
  }

  async close(grace = 0): Promise<void> {
    this.#acme?.close();
    this.#certs?.close();
    await this.#workers.close(grace);
  }
}
