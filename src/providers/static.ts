// The static provider: the operator runs both slots; cutover only knows their addresses.
// Provisioning returns the configured targets and records which version the slot now stands for;
// stopping is a no-op.
import type { SlotName, StaticProvider } from '../config/types.ts';
import { abortedError, closedError } from './errors.ts';
import type {
  Provider,
  ProviderCapabilities,
  ProvisionOptions,
  ReplicaListener,
  ReplicaStatus,
  SlotDeployment,
  SlotSpec,
} from './types.ts';

export class StaticProviderImpl implements Provider {
  readonly kind = 'static' as const;
  readonly service: string;
  readonly capabilities: ProviderCapabilities = { reprovisionAfterRestart: false, fixedTargets: true };
  readonly #config: StaticProvider;
  readonly #deployments = new Map<SlotName, SlotDeployment>();
  #closed = false;

  constructor(service: string, config: StaticProvider) {
    this.service = service;
    this.#config = config;
  }

  async provision(slot: SlotName, version: string, opts: ProvisionOptions = {}): Promise<SlotDeployment> {
    if (this.#closed) throw closedError(this.service);
    if (opts.signal?.aborted) {
      throw abortedError(this.service, slot, opts.signal.reason);
    }
    const deployment: SlotDeployment = { slot, version, targets: [...this.#config[slot]] };
    this.#deployments.set(slot, deployment);
    return { ...deployment, targets: [...deployment.targets] };
  }

  async stop(slot: SlotName): Promise<void> {
    this.#deployments.delete(slot);
  }

  configuredTargets(slot: SlotName): string[] {
    return [...this.#config[slot]];
  }

  async lastOutput(_slot: SlotName, _lines: number): Promise<string[]> {
    return [];
  }

  deployment(slot: SlotName): SlotDeployment | null {
    const d = this.#deployments.get(slot);
    return d ? { ...d, targets: [...d.targets] } : null;
  }

  replicas(_slot: SlotName): ReplicaStatus[] {
    return [];
  }

  /** The operator runs the slots: cutover knows how many addresses each has, not what runs there. */
  async slotSpec(slot: SlotName): Promise<SlotSpec | null> {
    const targets = this.#config[slot];
    if (targets.length === 0) return null;
    return {
      command: null,
      envNames: null,
      replicas: targets.length,
      configHash: null,
      view: { running: targets.length, detail: `${targets.length} address(es) you run: ${targets.join(', ')}`, envNames: null },
    };
  }

  onReplicaEvent(_listener: ReplicaListener): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#deployments.clear();
  }
}
