// An ACME service whose routers the supervisor runs. The ACME client (account, orders, renewals,
// retries, `certificate` events, status) stays in this controller: one per service, however many
// router processes serve it. The certificates it obtains are files in stateDir/acme, which the router
// processes load and reload themselves (edge/acme.ts loadAcmeFiles), so a renewal reaches every one
// without a dropped connection; its challenges reach them through the supervisor (`challenges`).
import { type AcmeHostState, type AcmeOptions, AcmeService, type CertificateEvent } from '../edge/acme.ts';
import { CertStore } from '../edge/certs.ts';
import { type Challenge, type ChallengeSink, challengeKey } from '../edge/challenge-sink.ts';
import type { EdgeConfig } from '../edge/host.ts';
import type { AcmeConfig } from '../config/types.ts';
import type { EdgeStatus } from '../controller/view.ts';
import type { Logger } from '../log.ts';
import type { RouterOptions } from '../router/router.ts';
import { SupervisedEdgeHost } from './supervised-host.ts';
import type { SupervisorClient } from './supervisor-client.ts';

/** The challenges of one service's ACME client, handed to the supervisor's router processes. */
export class SupervisorChallenges implements ChallengeSink {
  readonly #client: SupervisorClient;
  readonly #service: string;
  readonly #http: boolean;
  readonly #pending = new Map<string, Challenge>();

  /** `http`: an httpRedirect listener answers HTTP-01 for this service. */
  constructor(client: SupervisorClient, service: string, http: boolean) {
    this.#client = client;
    this.#service = service;
    this.#http = http;
  }

  httpReady(): boolean {
    return this.#http;
  }

  set(c: Challenge): Promise<void> {
    this.#pending.set(challengeKey(c), c);
    return this.#send();
  }

  clear(c: Challenge): Promise<void> {
    this.#pending.delete(challengeKey(c));
    return this.#send();
  }

  reset(): Promise<void> {
    this.#pending.clear();
    return this.#send();
  }

  async written(): Promise<void> {
    await this.#client.request({ op: 'certificates', service: this.#service });
  }

  /** The whole pending set each time: the supervisor's copy is never one change behind or ahead. */
  async #send(): Promise<void> {
    await this.#client.request({ op: 'challenges', service: this.#service, challenges: Object.fromEntries(this.#pending) });
  }
}

export class SupervisedAcmeHost extends SupervisedEdgeHost {
  /** What the client obtained, for status; the routers load the same certificates from the files. */
  readonly #certs: CertStore;
  readonly #acme: AcmeService;
  /** Told of every certificate obtained or renewed and every failed attempt (the runtime records them as events). */
  onCertificate: ((e: CertificateEvent) => void) | null = null;

  constructor(
    client: SupervisorClient,
    opts: RouterOptions,
    workers: number,
    log: Logger,
    edge: EdgeConfig,
    /** The client's settings (the routers' `edge` carries only the directory of its files). */
    acme: AcmeConfig,
    tuning: Pick<AcmeOptions, 'retryBase' | 'retryMax' | 'attemptTimeout'> = {},
  ) {
    super(client, opts, workers, log, edge);
    this.#certs = new CertStore(log);
    this.#acme = new AcmeService({
      service: opts.service,
      hosts: edge.hosts,
      ...acme,
      storage: edge.acmeStorage ?? 'acme',
      certs: this.#certs,
      log,
      challenges: new SupervisorChallenges(client, opts.service, edge.httpRedirect !== undefined),
      ...tuning,
      onCertificate: (e) => this.onCertificate?.(e),
    });
  }

  /** The routers first: they answer the challenges of the orders the client places once started. */
  override async listen(): Promise<void> {
    await super.listen();
    this.#acme.start();
  }

  acmeStatus(): AcmeHostState[] {
    return this.#acme.status();
  }

  override edgeStatus(): EdgeStatus {
    return { ...super.edgeStatus(), certificates: this.#certs.info(), acme: this.#acme.status() };
  }

  override async close(): Promise<void> {
    this.#acme.close();
    this.#certs.close();
    await super.close();
  }
}
