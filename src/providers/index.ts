// Picks the provider a service's config names. The daemon creates one per service and closes them all
// on shutdown; process providers share one replica runner (the supervisor's, or this process's watchdog); a kubernetes provider finds its API server here.
import type { ServiceConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { KubeClient, loadConnection, type KubeConnection } from '../kubernetes/client.ts';
import { ProviderError } from './errors.ts';
import { DEFAULT_SLOT_LABEL, KubernetesProviderImpl } from './kubernetes.ts';
import { ProcessProviderImpl } from './process.ts';
import { StaticProviderImpl } from './static.ts';
import type { Provider } from './types.ts';
import type { ReplicaRunner } from './replica-runner.ts';
import type { ReplicaBook } from '../store/types.ts';

export interface ProviderContext {
  stateDir: string;
  logger?: Logger;
  /** Where process replicas run and are recorded when they outlive the controller (the supervisor's). */
  replicas?: { runner: ReplicaRunner; book: ReplicaBook };
}

export function createProvider(service: ServiceConfig, ctx: ProviderContext): Provider {
  const config = service.provider;
  switch (config.kind) {
    case 'process':
      return new ProcessProviderImpl({
        service: service.name,
        config,
        stateDir: ctx.stateDir,
        health: service.health,
        ...(ctx.replicas ? { runner: ctx.replicas.runner, book: ctx.replicas.book } : {}),
        ...(ctx.logger ? { logger: ctx.logger.child({ service: service.name }) } : {}),
      });
    case 'static':
      return new StaticProviderImpl(service.name, config);
    case 'kubernetes': {
      let conn: KubeConnection;
      try {
        conn = loadConnection({ kubeconfig: config.kubeconfig, context: config.context });
      } catch (err) {
        throw new ProviderError(
          'CUTOVER_E_PROVISION_FAILED',
          `service ${service.name}: cannot find the Kubernetes API (${(err as Error).message}); run cutover in a pod with a service account, or set provider.kubeconfig`,
          { cause: err },
        );
      }
      return new KubernetesProviderImpl({
        service: service.name,
        config,
        client: new KubeClient(conn),
        // Pods carry the label the Service selector switches on, so the two always agree.
        slotLabel: service.traffic.kind === 'kubernetes-service' ? service.traffic.selectorKey : DEFAULT_SLOT_LABEL,
        health: service.health,
      });
    }
    default: {
      const never: never = config;
      throw new Error(`unknown provider ${JSON.stringify(never)}`);
    }
  }
}

export type * from './types.ts';
export { ProviderError, isProviderError, type ProviderErrorCode } from './errors.ts';
export { tailServiceLogs, tailSlotLog, slotLogPath } from './logs.ts';
export { ProcessProviderImpl, type ProcessProviderOptions } from './process.ts';
export { StaticProviderImpl } from './static.ts';
export { KubernetesProviderImpl } from './kubernetes.ts';
