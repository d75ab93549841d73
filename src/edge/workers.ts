// A service on an edge listener with `workers: N` and no supervisor to hand it sockets: the router
// processes of its listen address (edge/worker-group.ts, one group per address in this process, so
// services sharing a listener share its processes) bind it with SO_REUSEPORT and serve. This process
// reads the same certificate files as they do (and again when they change), so the service's status
// shows its edge (hosts, prefix, certificates) as for a single-process edge. With ACME this process
// runs the one ACME client: the processes load the files it writes, and are handed its challenges.
import type { EdgeStatus } from '../controller/view.ts';
import type { Logger } from '../log.ts';
import type { RouterHost } from '../router/host.ts';
import type { RouterMetrics, RouterOptions } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import type { WorkerStatus } from '../router/workers.ts';
import { type AcmeHostState, AcmeService, type CertificateEvent } from './acme.ts';
import { CertStore } from './certs.ts';
import { CERTIFICATES_KEY, type ChallengeSink, challengeKey } from './challenge-sink.ts';
import type { EdgeConfig } from './host.ts';
import { normalisePrefix } from './match.ts';
import { EdgeWorkerGroup } from './worker-group.ts';

/** This process's router processes by listen address; the last service to leave stops them. */
const groups = new Map<string, { group: EdgeWorkerGroup; users: number; started: Promise<void> }>();

export class EdgeWorkersHost implements RouterHost {
  readonly #count: number;
  readonly #log: Logger;
  readonly #opts: RouterOptions;
  readonly #edge: EdgeConfig;
  readonly #certs: CertStore | null;
  readonly #acme: AcmeService | null = null;
  #group: EdgeWorkerGroup | null = null;
  /** How often the ACME client replaced the files (what the processes are told to load again). */
  #written = 0;
  /** Told of every ACME certificate obtained or renewed and every failed attempt (the runtime records them as events). */
  onCertificate: ((e: CertificateEvent) => void) | null = null;

  constructor(opts: RouterOptions, count: number, edge: EdgeConfig, log: Logger) {
    this.#count = count;
    this.#log = log;
    this.#opts = opts;
    this.#edge = edge;
    const tls = edge.tls;
    this.#certs = tls !== undefined ? new CertStore(log) : null;
    if (tls !== undefined && 'certificate' in tls) this.#certs?.addFiles(edge.hosts, tls.certificate, tls.key);
    if (tls !== undefined && 'acme' in tls && this.#certs !== null) {
      // Every process may be the one the ACME server reaches: each is handed every challenge.
      const sink: ChallengeSink = {
        httpReady: () => edge.httpRedirect !== undefined,
        set: (c) => this.#workers().setState(challengeKey(c), c),
        clear: (c) => this.#workers().setState(challengeKey(c), null),
        written: () => this.#workers().setState(CERTIFICATES_KEY, ++this.#written),
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

  #workers(): EdgeWorkerGroup {
    if (this.#group === null) throw new Error(`the router processes of ${this.#opts.service} are not started`);
    return this.#group;
  }

  async listen(): Promise<void> {
    const key = this.#opts.listen;
    let g = groups.get(key);
    if (g === undefined) {
      const group = new EdgeWorkerGroup(this.#count, this.#log.child({ listen: key }), null);
      g = { group, users: 0, started: group.start() };
      groups.set(key, g);
    }
    g.users++;
    this.#group = g.group;
    await g.started;
    await g.group.add(this.#opts.service, { opts: this.#opts, edge: this.#edge, spec: null, health: new Map() });
    this.#acme?.start();
  }

  acmeStatus(): AcmeHostState[] {
    return this.#acme?.status() ?? [];
  }

  apply(spec: RouteSpec): Promise<void> {
    return this.#workers().apply(this.#opts.service, spec);
  }

  setHealth(address: string, healthy: boolean): void {
    this.#group?.setHealth(this.#opts.service, address, healthy);
  }

  metrics(): Promise<RouterMetrics> {
    return this.#workers().metrics(this.#opts.service);
  }

  processes(): WorkerStatus[] {
    return this.#group?.processes(this.#opts.service) ?? [];
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
    const group = this.#group;
    this.#group = null;
    const g = groups.get(this.#opts.listen);
    if (group === null || g?.group !== group) return;
    if (--g.users > 0) return group.remove(this.#opts.service, grace);
    groups.delete(this.#opts.listen);
    await group.close(grace);
  }
}
