// What the steps of a release share: the service's runtime, the store, the provider and a logger.
import type { Logger } from '../log.ts';
import type { GroupBarrier } from './group.ts';
import type { Provider } from '../providers/types.ts';
import type { Store } from '../store/types.ts';
import type { ServiceRuntime } from './service.ts';

/** The actor of everything the controller does by itself. */
export const CONTROLLER = 'controller';

export interface StepContext {
  rt: ServiceRuntime;
  store: Store;
  provider: Provider;
  log: Logger;
  service: string;
  /** The config file's folder: where command gates run. */
  configDir: string;
  /** The groups' barrier: a grouped release waits there until its whole group switches together. */
  group?: GroupBarrier;
}
