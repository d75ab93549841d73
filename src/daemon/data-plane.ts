// The data plane first: attaches to (or starts) the stateDir's supervisor and asks it for every
// service's routers, while the rest of the controller is still loading. A restart or a new `cutover
// up` finds the routers running and this costs nothing; a first start overlaps two process boots.
import type { Config } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { routerOptions } from '../traffic/router-options.ts';
import { SupervisorClient } from './supervisor-client.ts';

export async function startDataPlane(config: Config, log: Logger): Promise<SupervisorClient> {
  const client = await SupervisorClient.attach(config.stateDir, config.supervisor.grace, log);
  const { supervisedEdge } = await import('./supervised-host.ts');
  // Errors surface again when the service's runtime asks for the same routers.
  await Promise.all(
    Object.values(config.services).map((cfg) => {
      const edge = supervisedEdge(cfg);
      return client
        .request({ op: 'routers', service: cfg.name, opts: routerOptions(cfg), workers: cfg.workers, ...(edge ? { edge } : {}) })
        .catch(() => {});
    }),
  );
  return client;
}

/**
 * A fleet controller's supervisor: it runs the fleet router's routers (unless `fleet.router: false`)
 * and keeps the process provider's replicas, so that both outlive this controller; null when it has
 * neither to do. The routers are asked for by the fleet router once it has read etcd, not here.
 */
export async function startFleetSupervisor(config: Config, log: Logger): Promise<SupervisorClient | null> {
  const services = Object.values(config.services);
  const routers = config.fleet.router && services.length > 0;
  if (!routers && !services.some((s) => s.provider.kind === 'process')) return null;
  return SupervisorClient.attach(config.stateDir, config.supervisor.grace, log);
}
