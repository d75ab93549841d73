// Picks the provider a service's config names. The daemon creates one per service and closes them all
// on shutdown; process providers share one watchdog.
import type { ServiceConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { ProviderError } from './errors.ts';
import { ProcessProviderImpl } from './process.ts';
import { StaticProviderImpl } from './static.ts';
import type { Provider } from './types.ts';

export interface ProviderContext {
  stateDir: string;
  logger?: Logger;
}

export function createProvider(service: ServiceConfig, ctx: ProviderContext): Provider {
  const config = service.provider;
  switch (config.kind) {
    case 'process':
      return new ProcessProviderImpl({
        service: service.name,
        config,
        stateDir: ctx.stateDir,
        ...(ctx.logger ? { logger: ctx.logger.child({ service: service.name }) } : {}),
      });
    case 'static':
      return new StaticProviderImpl(service.name, config);
    case 'kubernetes':
      throw new ProviderError(
        'CUTOVER_E_PROVIDER_UNSUPPORTED',
        `service ${service.name}: the kubernetes provider is not available in this build; use provider.kind process or static`,
      );
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
