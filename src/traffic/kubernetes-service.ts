// The kubernetes-service adapter: the Service users reach selects the live slot's pods, by a JSON
// merge patch of one selector key (`{"spec":{"selector":{"slot":"green"}}}`; the other keys, like
// `app`, stay). With `httpRoute`, a Gateway API HTTPRoute's backendRefs `<service>-blue` and
// `<service>-green` carry the weights of a progressive shift; the route is read, its weights
// changed, and written back with its resourceVersion, so a concurrent edit is refused, not lost.
// Both are read first and written only when they differ from the state (most route changes, like
// opening a preview, leave the live slot alone), which also repairs drift.
//
// What the Service really does is read back from its EndpointSlices: the pod addresses it routes to.
import type { KubernetesServiceTraffic, SlotName } from '../config/types.ts';
import { FIELD_MANAGER, KubeApiError, KubeClient, type KubeConnection, loadConnection, MERGE_PATCH } from '../kubernetes/client.ts';
import { joinHostPort } from '../net/address.ts';
import {
  trafficRefused,
  trafficUnreachable,
  type ObservedTraffic,
  type TrafficAdapter,
  type TrafficCapabilities,
  type TrafficState,
} from './types.ts';

interface Service {
  spec?: { selector?: Record<string, string> };
}

interface BackendRef {
  name: string;
  kind?: string;
  group?: string;
  port?: number;
  weight?: number;
}

interface HttpRoute {
  metadata?: { resourceVersion?: string };
  spec?: { rules?: { backendRefs?: BackendRef[]; [k: string]: unknown }[] };
}

interface EndpointSlice {
  endpoints?: { addresses?: string[]; conditions?: { ready?: boolean; terminating?: boolean } }[];
  ports?: { port?: number }[];
}

const SLOTS: readonly SlotName[] = ['blue', 'green'];

export class KubernetesServiceAdapter implements TrafficAdapter {
  readonly kind = 'kubernetes-service';
  /**
   * Lossless: the old pods keep running (standby) and finish what they have. Eventual: the API
   * accepting the patch is not every node's kube-proxy having it; that follows within moments.
   */
  readonly capabilities: TrafficCapabilities;
  readonly #config: KubernetesServiceTraffic;
  readonly #client: KubeClient;

  constructor(config: KubernetesServiceTraffic, client: KubeClient) {
    this.#config = config;
    this.#client = client;
    this.capabilities = { lossless: true, weighted: config.httpRoute !== undefined, eventual: true };
  }

  get #ns(): string {
    return `/namespaces/${this.#config.namespace}`;
  }

  #servicePath(): string {
    return `/api/v1${this.#ns}/services/${this.#config.service}`;
  }

  #routePath(): string {
    return `/apis/gateway.networking.k8s.io/v1${this.#ns}/httproutes/${this.#config.httpRoute}`;
  }

  async apply(state: TrafficState): Promise<void> {
    if (state.live === null) return; // nothing is live: the Service is left as the operator made it
    const split = state.weights.blue > 0 && state.weights.green > 0;
    if (split && this.#config.httpRoute === undefined)
      throw trafficRefused(
        this.kind,
        `Service ${this.#config.service} selects one slot at a time; set traffic.httpRoute for weighted shifts, or use shift: instant`,
      );
    if (this.#config.httpRoute !== undefined) await this.#applyWeights(state);
    const key = this.#config.selectorKey;
    // Reconcile from what the Service says now: most route changes leave the live slot as it is.
    const current = await this.#call<Service>(`reading Service ${this.#config.service}`, { method: 'GET', path: this.#servicePath() });
    if (current.spec?.selector?.[key] === state.live) return;
    const patched = await this.#call<Service>(`patching the selector of Service ${this.#config.service}`, {
      method: 'PATCH',
      path: this.#servicePath(),
      query: { fieldManager: FIELD_MANAGER },
      contentType: MERGE_PATCH,
      body: { spec: { selector: { [key]: state.live } } },
    });
    const now = patched.spec?.selector?.[key];
    if (now !== state.live)
      throw trafficRefused(this.kind, `Service ${this.#config.service} still selects ${key}=${String(now)} after the patch`);
  }

  /** The weights of the route's backendRefs `<service>-blue|green`, as percentages of the state. */
  async #applyWeights(state: TrafficState): Promise<void> {
    const name = this.#config.httpRoute!;
    const route = await this.#call<HttpRoute>(`reading HTTPRoute ${name}`, { method: 'GET', path: this.#routePath() });
    const total = state.weights.blue + state.weights.green;
    const weightOf = (slot: SlotName): number =>
      total === 0 ? (slot === state.live ? 100 : 0) : Math.round((100 * state.weights[slot]) / total);
    let found = 0;
    let changed = false;
    const rules = (route.spec?.rules ?? []).map((rule) => ({
      ...rule,
      backendRefs: (rule.backendRefs ?? []).map((ref) => {
        const slot = this.#slotOf(ref);
        if (slot === null) return ref;
        found++;
        if ((ref.weight ?? 1) !== weightOf(slot)) changed = true;
        return { ...ref, weight: weightOf(slot) };
      }),
    }));
    if (found === 0)
      throw trafficRefused(
        this.kind,
        `HTTPRoute ${name} has no backendRef named ${this.#config.service}-blue or ${this.#config.service}-green; add both (see deploy/kubernetes/httproute.yaml)`,
      );
    if (!changed) return;
    // A merge patch replaces lists whole: the rules go back as they were, with only the weights changed.
    await this.#call(`patching the weights of HTTPRoute ${name}`, {
      method: 'PATCH',
      path: this.#routePath(),
      query: { fieldManager: FIELD_MANAGER },
      contentType: MERGE_PATCH,
      body: { metadata: { resourceVersion: route.metadata?.resourceVersion }, spec: { rules } },
    });
  }

  #slotOf(ref: BackendRef): SlotName | null {
    if ((ref.kind ?? 'Service') !== 'Service' || (ref.group ?? '') !== '') return null;
    return SLOTS.find((s) => ref.name === `${this.#config.service}-${s}`) ?? null;
  }

  async observe(): Promise<ObservedTraffic> {
    const c = this.#config;
    const svc = await this.#call<Service>(`reading Service ${c.service}`, { method: 'GET', path: this.#servicePath() });
    const selected = svc.spec?.selector?.[c.selectorKey];
    const targets: Record<SlotName, string[]> = { blue: [], green: [] };
    const live = selected === 'blue' || selected === 'green' ? selected : null;
    const addresses = await this.#endpoints(c.service);
    // With a route, each slot has its own Service (<service>-blue|green): its endpoints are the slot's.
    if (c.httpRoute !== undefined) for (const slot of SLOTS) targets[slot] = await this.#endpoints(`${c.service}-${slot}`);
    else if (live) targets[live] = addresses;
    let weights: Record<SlotName, number> | null = live ? { blue: live === 'blue' ? 100 : 0, green: live === 'green' ? 100 : 0 } : null;
    let detail = `Service ${c.namespace}/${c.service} selects ${c.selectorKey}=${selected ?? '(none)'}: ${addresses.length} ready endpoint${addresses.length === 1 ? '' : 's'}`;
    if (c.httpRoute !== undefined) {
      const route = await this.#call<HttpRoute>(`reading HTTPRoute ${c.httpRoute}`, { method: 'GET', path: this.#routePath() });
      const w: Record<SlotName, number> = { blue: 0, green: 0 };
      for (const rule of route.spec?.rules ?? [])
        for (const ref of rule.backendRefs ?? []) {
          const slot = this.#slotOf(ref);
          if (slot) w[slot] = ref.weight ?? 1;
        }
      const sum = w.blue + w.green;
      weights = sum === 0 ? null : { blue: (100 * w.blue) / sum, green: (100 * w.green) / sum };
      detail += `; HTTPRoute ${c.httpRoute} weights blue ${w.blue}, green ${w.green}`;
    }
    return { weights, targets, detail, notes: ['nodes follow a Service change as their kube-proxy (or CNI) sees it, within moments'] };
  }

  /** The ready, not terminating endpoints of a Service, as `address:port`. */
  async #endpoints(service: string): Promise<string[]> {
    const slices = await this.#call<{ items?: EndpointSlice[] }>(`listing the EndpointSlices of ${service}`, {
      method: 'GET',
      path: `/apis/discovery.k8s.io/v1${this.#ns}/endpointslices`,
      query: { labelSelector: `kubernetes.io/service-name=${service}` },
    });
    const out: string[] = [];
    for (const slice of slices.items ?? []) {
      const port = slice.ports?.[0]?.port;
      for (const ep of slice.endpoints ?? []) {
        if (ep.conditions?.ready === false || ep.conditions?.terminating === true) continue;
        for (const a of ep.addresses ?? []) out.push(port === undefined ? a : joinHostPort(a, port));
      }
    }
    return out;
  }

  async close(): Promise<void> {}

  async #call<T>(doing: string, req: Parameters<KubeClient['request']>[0]): Promise<T> {
    try {
      return await this.#client.request<T>(req);
    } catch (err) {
      const e = err as KubeApiError;
      if (!(err instanceof KubeApiError) || e.status === 0) throw trafficUnreachable(this.kind, `${doing}: ${e.message}`, err);
      const hint =
        e.status === 403
          ? '; give cutover the RBAC in deploy/kubernetes/rbac.yaml'
          : e.status === 409
            ? '; someone changed it meanwhile: switch again'
            : '';
      throw trafficRefused(this.kind, `${doing}: the API refused it (${e.message})${hint}`, err);
    }
  }
}

/** The adapter a `traffic: { kind: kubernetes-service }` section describes, with its API connection. */
export function createKubernetesServiceAdapter(
  config: KubernetesServiceTraffic,
  env: NodeJS.ProcessEnv = process.env,
): KubernetesServiceAdapter {
  let conn: KubeConnection;
  try {
    conn = loadConnection({ kubeconfig: config.kubeconfig, context: config.context }, env);
  } catch (err) {
    throw trafficUnreachable(
      'kubernetes-service',
      `cannot find the Kubernetes API (${(err as Error).message}); run cutover in a pod with a service account, or set traffic.kubeconfig`,
      err,
    );
  }
  return new KubernetesServiceAdapter(config, new KubeClient(conn));
}
