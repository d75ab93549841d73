// The kubernetes provider: each slot is a Deployment, `<name>-blue` and `<name>-green`, labelled as
// the usual blue-green manifests are (`app: <name>`, `<slot label>: blue|green`), running the image
// with `{version}` replaced. Provisioning applies the Deployment (server-side apply, so the same call
// creates or updates it), waits until its rollout is complete (every replica updated, ready and
// available, no old ones left), and returns the ready pods' `<pod IP>:<port>` as the slot's targets.
// A slot provisioned with fewer replicas (previewReplicas) is scaled up by a merge PATCH of the
// Deployment's spec.replicas, then waited for the same way. Stopping scales the Deployment to 0 and keeps it, so the Service and its history stay in place.
import type { KubernetesProvider, SlotName } from '../config/types.ts';
import { APPLY_PATCH, FIELD_MANAGER, KubeApiError, type KubeClient, MERGE_PATCH } from '../kubernetes/client.ts';
import { joinHostPort } from '../net/address.ts';
import { abortedError, closedError, ProviderError } from './errors.ts';
import { kubernetesSpec } from './spec.ts';
import { substitute } from './template.ts';
import type {
  Provider,
  ProviderCapabilities,
  ProvisionOptions,
  ReplicaListener,
  ReplicaStatus,
  SlotDeployment,
  SlotSpec,
} from './types.ts';

/** The slot label without a kubernetes-service traffic section (whose selectorKey is used instead). */
export const DEFAULT_SLOT_LABEL = 'slot';

/** The annotation (on the Deployment and its pods) naming the version a slot runs. */
export const VERSION_ANNOTATION = 'cutover/version';

export interface KubernetesProviderOptions {
  service: string;
  config: KubernetesProvider;
  client: KubeClient;
  /** The label key whose value is the slot's name: the Service selector's key (traffic.selectorKey). */
  slotLabel: string;
  /** The readiness probe's path and period, from the service's health config. */
  health: { path: string; interval: number };
  /** ms between rollout checks. */
  pollInterval?: number;
}

interface Deployment {
  metadata?: { generation?: number; annotations?: Record<string, string> };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

interface Pod {
  metadata?: { name?: string; deletionTimestamp?: string; annotations?: Record<string, string> };
  status?: {
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { restartCount?: number }[];
  };
}

const POLL_MS = 1000;

export class KubernetesProviderImpl implements Provider {
  readonly kind = 'kubernetes' as const;
  readonly service: string;
  /** Pods outlive the controller; their addresses are the cluster's, never the config's. */
  readonly capabilities: ProviderCapabilities = { reprovisionAfterRestart: false, fixedTargets: false };
  readonly #config: KubernetesProvider;
  readonly #client: KubeClient;
  readonly #slotLabel: string;
  readonly #health: { path: string; interval: number };
  readonly #poll: number;
  readonly #deployments = new Map<SlotName, SlotDeployment>();
  readonly #replicas = new Map<SlotName, ReplicaStatus[]>();
  /** The spec.replicas each slot's Deployment was last given (fewer than replicas while previewed). */
  readonly #applied = new Map<SlotName, number>();
  #closed = false;

  constructor(opts: KubernetesProviderOptions) {
    this.service = opts.service;
    this.#config = opts.config;
    this.#client = opts.client;
    this.#slotLabel = opts.slotLabel;
    this.#health = opts.health;
    this.#poll = opts.pollInterval ?? POLL_MS;
  }

  get #app(): string {
    return this.#config.name ?? this.service;
  }

  #name(slot: SlotName): string {
    return `${this.#app}-${slot}`;
  }

  #path(slot?: SlotName): string {
    const base = `/apis/apps/v1/namespaces/${this.#config.namespace}/deployments`;
    return slot === undefined ? base : `${base}/${this.#name(slot)}`;
  }

  /** The Deployment a slot runs `version` as: what server-side apply is given. */
  manifest(slot: SlotName, version: string, replicas = this.#config.replicas): unknown {
    const c = this.#config;
    const labels = { app: this.#app, [this.#slotLabel]: slot };
    const annotations = { [VERSION_ANNOTATION]: version };
    const env = [
      ...Object.entries(c.env).map(([name, value]) => ({ name, value: substitute(value, version) })),
      { name: 'PORT', value: String(c.port) },
      { name: 'CUTOVER_SLOT', value: slot },
      { name: 'CUTOVER_VERSION', value: version },
      { name: 'CUTOVER_SERVICE', value: this.service },
    ];
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: this.#name(slot),
        namespace: c.namespace,
        labels: { ...labels, 'app.kubernetes.io/managed-by': 'cutover' },
        annotations,
      },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels, annotations },
          spec: {
            containers: [
              {
                name: this.#app,
                image: substitute(c.image, version),
                ports: [{ name: 'http', containerPort: c.port }],
                env,
                readinessProbe: {
                  httpGet: { path: this.#health.path, port: c.port },
                  periodSeconds: Math.max(1, Math.round(this.#health.interval / 1000)),
                },
              },
            ],
          },
        },
      },
    };
  }

  async provision(slot: SlotName, version: string, opts: ProvisionOptions = {}): Promise<SlotDeployment> {
    if (this.#closed) throw closedError(this.service);
    if (opts.signal?.aborted) throw abortedError(this.service, slot, opts.signal.reason);
    const name = this.#name(slot);
    await this.#call(`applying Deployment ${name}`, {
      method: 'PATCH',
      path: this.#path(slot),
      query: { fieldManager: FIELD_MANAGER, force: 'true' },
      contentType: APPLY_PATCH,
      body: this.manifest(slot, version, opts.replicas),
    });
    try {
      await this.#rollout(slot, version, opts.signal);
    } catch (err) {
      // Whatever this call started is stopped: a failed or aborted slot runs nothing.
      await this.stop(slot).catch(() => {});
      if (opts.signal?.aborted) throw abortedError(this.service, slot, opts.signal.reason);
      throw err;
    }
    const targets = await this.#targets(slot, version);
    const deployment: SlotDeployment = { slot, version, targets };
    this.#deployments.set(slot, deployment);
    this.#applied.set(slot, opts.replicas ?? this.#config.replicas);
    return { ...deployment, targets: [...targets] };
  }

  /** Scales the slot's Deployment to `replicas` (a merge PATCH of spec.replicas) and waits for its rollout. */
  async scaleUp(slot: SlotName, opts: ProvisionOptions = {}): Promise<SlotDeployment> {
    if (this.#closed) throw closedError(this.service);
    const d = this.#deployments.get(slot);
    if (d === undefined)
      throw new ProviderError(
        'CUTOVER_E_PROVISION_FAILED',
        `Deployment ${this.#name(slot)} is not provisioned here: nothing to scale up; deploy again`,
      );
    const want = this.#config.replicas;
    if ((this.#applied.get(slot) ?? want) >= want) return this.deployment(slot)!;
    await this.#call(`scaling Deployment ${this.#name(slot)} to ${want}`, {
      method: 'PATCH',
      path: this.#path(slot),
      query: { fieldManager: FIELD_MANAGER },
      contentType: MERGE_PATCH,
      body: { spec: { replicas: want } },
    });
    // A failed scale-up leaves the slot as it was; the release that asked for it fails and stops it.
    await this.#rollout(slot, d.version, opts.signal);
    if (opts.signal?.aborted) throw abortedError(this.service, slot, opts.signal.reason);
    const targets = await this.#targets(slot, d.version);
    this.#deployments.set(slot, { slot, version: d.version, targets });
    this.#applied.set(slot, want);
    return { slot, version: d.version, targets: [...targets] };
  }

  /** Polls the Deployment until its rollout is complete, as `kubectl rollout status` judges it. */
  async #rollout(slot: SlotName, version: string, signal?: AbortSignal): Promise<void> {
    const name = this.#name(slot);
    const deadline = Date.now() + this.#config.rolloutTimeout;
    for (;;) {
      const d = await this.#call<Deployment>(`reading Deployment ${name}`, { method: 'GET', path: this.#path(slot) });
      const want = d.spec?.replicas ?? this.#config.replicas;
      const st = d.status ?? {};
      const stuck = st.conditions?.find((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded');
      if (stuck)
        throw new ProviderError(
          'CUTOVER_E_PROVISION_FAILED',
          `Deployment ${name} (${version}) did not progress: ${stuck.message ?? stuck.reason}; see kubectl describe deployment ${name} -n ${this.#config.namespace}`,
        );
      const current =
        d.metadata?.annotations?.[VERSION_ANNOTATION] === version &&
        (st.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
        (st.updatedReplicas ?? 0) === want &&
        (st.replicas ?? 0) === want &&
        (st.readyReplicas ?? 0) === want &&
        (st.availableReplicas ?? 0) === want;
      if (current) return;
      if (Date.now() >= deadline)
        throw new ProviderError(
          'CUTOVER_E_PROVISION_FAILED',
          `Deployment ${name} (${version}) has ${st.readyReplicas ?? 0} of ${want} replicas ready after ${this.#config.rolloutTimeout} ms; see kubectl describe deployment ${name} -n ${this.#config.namespace}, or raise provider.rolloutTimeout`,
        );
      await sleep(this.#poll, signal);
      if (signal?.aborted) throw abortedError(this.service, slot, signal.reason);
    }
  }

  /** The ready, not terminating pods of the slot that run `version`: `<pod IP>:<port>`. */
  async #targets(slot: SlotName, version: string): Promise<string[]> {
    const selector = `app=${this.#app},${this.#slotLabel}=${slot}`;
    const list = await this.#call<{ items?: Pod[] }>(`listing the pods of ${this.#name(slot)}`, {
      method: 'GET',
      path: `/api/v1/namespaces/${this.#config.namespace}/pods`,
      query: { labelSelector: selector },
    });
    const pods = (list.items ?? []).filter(
      (p) =>
        p.metadata?.deletionTimestamp === undefined &&
        p.metadata?.annotations?.[VERSION_ANNOTATION] === version &&
        p.status?.podIP !== undefined &&
        p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    const targets = pods.map((p) => joinHostPort(p.status!.podIP!, this.#config.port));
    this.#replicas.set(
      slot,
      pods.map((p, index) => ({
        index,
        target: targets[index]!,
        pid: null,
        state: 'running',
        restarts: (p.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0),
        lastExit: null,
      })),
    );
    if (targets.length === 0)
      throw new ProviderError(
        'CUTOVER_E_PROVISION_FAILED',
        `Deployment ${this.#name(slot)} is rolled out but no ready pod labelled ${selector} runs ${version}; check the labels and the readiness probe`,
      );
    return targets;
  }

  async stop(slot: SlotName): Promise<void> {
    this.#deployments.delete(slot);
    this.#replicas.delete(slot);
    this.#applied.delete(slot);
    try {
      await this.#client.request({
        method: 'PATCH',
        path: this.#path(slot),
        query: { fieldManager: FIELD_MANAGER },
        contentType: MERGE_PATCH,
        body: { spec: { replicas: 0 } },
      });
    } catch (err) {
      // A slot that was never created runs nothing: that is stopped.
      if (err instanceof KubeApiError && err.status === 404) return;
      throw this.#failure(`scaling Deployment ${this.#name(slot)} to 0`, err);
    }
  }

  deployment(slot: SlotName): SlotDeployment | null {
    const d = this.#deployments.get(slot);
    return d ? { ...d, targets: [...d.targets] } : null;
  }

  /** From what was applied and the ready pods seen at provisioning: parity asks the cluster nothing more. */
  async slotSpec(slot: SlotName): Promise<SlotSpec | null> {
    if (!this.#deployments.has(slot)) return null;
    const spec = kubernetesSpec(this.#config, this.replicas(slot).length);
    const applied = this.#applied.get(slot) ?? spec.replicas;
    return applied < spec.replicas ? { ...spec, previewReplicas: applied } : spec;
  }

  replicas(slot: SlotName): ReplicaStatus[] {
    return [...(this.#replicas.get(slot) ?? [])];
  }

  configuredTargets(_slot: SlotName): string[] {
    return [];
  }

  async lastOutput(): Promise<string[]> {
    // Pod logs are the cluster's (kubectl logs); the failure's reason names the Deployment instead.
    return [];
  }

  onReplicaEvent(_listener: ReplicaListener): () => void {
    return () => {};
  }

  /**
   * Forgets the slots without scaling them down: pods are the cluster's and keep serving while no
   * controller runs (a restarted controller provisions the recorded slots again, which is a no-op
   * apply of the same Deployment).
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#deployments.clear();
    this.#replicas.clear();
    this.#applied.clear();
  }

  async #call<T>(doing: string, req: Parameters<KubeClient['request']>[0]): Promise<T> {
    try {
      return await this.#client.request<T>(req);
    } catch (err) {
      throw this.#failure(doing, err);
    }
  }

  #failure(doing: string, err: unknown): ProviderError {
    const e = err as KubeApiError;
    const hint =
      e.status === 403
        ? '; give cutover the RBAC in deploy/kubernetes/rbac.yaml'
        : e.status === 0
          ? '; check the API server address and that it is reachable'
          : '';
    return new ProviderError('CUTOVER_E_PROVISION_FAILED', `kubernetes: ${doing} failed: ${e.message}${hint}`, { cause: err });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
