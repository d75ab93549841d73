// The router host of a service's runtime in a fleet. The runtime records a route state in etcd and
// then "applies" it here: that waits until every live router serves the new generation, for at most
// `fleet.ackTimeout`. Routers that lag are named; `fleet.onLaggingRouters` decides whether the switch
// then fails (it stays recorded: the routers catch up when they can) or proceeds.
import type { FleetConfig } from '../config/types.ts';
import { CutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RouterHost } from '../router/host.ts';
import type { RouterMetrics } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';
import type { Lagging, RouterRegistry } from './registry.ts';

export class FleetAckHost implements RouterHost {
  readonly #service: string;
  readonly #registry: RouterRegistry;
  readonly #fleet: FleetConfig;
  readonly #log: Logger;
  /** The fleet's summed counters of the service (see fleet-metrics.ts), for the analysis. */
  readonly #metrics: () => Promise<RouterMetrics>;
  #started = false;
  /** What the last wait found; status shows it. */
  lastLagging: Lagging[] = [];

  constructor(service: string, registry: RouterRegistry, fleet: FleetConfig, log: Logger, metrics: () => Promise<RouterMetrics>) {
    this.#service = service;
    this.#registry = registry;
    this.#fleet = fleet;
    this.#log = log;
    this.#metrics = metrics;
  }

  async listen(): Promise<void> {}

  async apply(spec: RouteSpec): Promise<void> {
    // The state a runtime starts with is what the routers already serve or will read on their own:
    // a controller starting (or taking over) does not wait for them.
    if (!this.#started) {
      this.#started = true;
      return;
    }
    const lagging = await this.#registry.waitFor(this.#service, spec.generation, this.#fleet.ackTimeout);
    this.lastLagging = lagging;
    if (lagging.length === 0) return;
    const names = lagging.map((l) => `${l.id} (serving ${l.generation})`).join(', ');
    if (this.#fleet.onLaggingRouters === 'proceed') {
      this.#log.warn('routers lag behind a switch; proceeding (fleet.onLaggingRouters: proceed)', {
        service: this.#service,
        generation: spec.generation,
        lagging: names,
      });
      return;
    }
    throw new CutoverError(
      'CUTOVER_E_SWITCH_TIMEOUT',
      `generation ${spec.generation} of ${this.#service} is recorded in etcd, but router${lagging.length === 1 ? '' : 's'} ${names} did not serve it within ${this.#fleet.ackTimeout} ms; ` +
        'they catch up when they reach etcd again: check them with `cutover status`, or set fleet.onLaggingRouters: proceed to go on without them',
      503,
    );
  }

  setHealth(): void {}

  metrics(): Promise<RouterMetrics> {
    return this.#metrics();
  }

  async close(): Promise<void> {}
}
