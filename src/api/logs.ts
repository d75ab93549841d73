// GET /api/v1/services/{service}/logs: the last lines the service's replicas wrote (both slots merged
// in time order, or one with ?slot=), so `cutover logs` works wherever `cutover status` does. The CLI
// follows a log by asking again; the lines carry their time, so it prints only what is new.
import { badRequest } from '../errors.ts';
import { tailServiceLogs } from '../providers/logs.ts';
import type { ControlPlane } from './control.ts';
import type { Route } from './routes.ts';

/** The most lines one answer carries. */
export const MAX_LOG_LINES = 10_000;

export function logRoutes(daemon: ControlPlane): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/v1/services/{service}/logs',
      role: 'viewer',
      summary: "the last lines the service's replicas wrote, oldest first (?slot=blue|green, ?lines=N, default 100)",
      handler: async (c) => {
        const name = daemon.service(c.params.service!).name;
        const slot = c.query.get('slot') ?? undefined;
        if (slot !== undefined && slot !== 'blue' && slot !== 'green') throw badRequest(`slot must be blue or green, not "${slot}"`);
        const lines = Number(c.query.get('lines') ?? 100);
        if (!Number.isInteger(lines) || lines < 1 || lines > MAX_LOG_LINES)
          throw badRequest(`lines must be a whole number from 1 to ${MAX_LOG_LINES}`);
        return { service: name, lines: await tailServiceLogs(daemon.stateDir, name, { lines, ...(slot ? { slot } : {}) }) };
      },
    },
  ];
}
