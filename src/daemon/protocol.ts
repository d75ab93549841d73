// What a controller and its supervisor say to each other over the unix socket in stateDir: one JSON
// object a line. A request carries an `id` and gets one answer with the same id.
import type { RouterGroupStatus, SupervisorStatus } from '../api/types.ts';
import type { RouterMetrics, RouterOptions } from '../router/router.ts';
import type { RouteSpec } from '../router/table.ts';

/** The socket's file name in stateDir. */
export const SOCKET_FILE = 'supervisor.sock';
export const LOG_FILE = 'supervisor.log';

export type { RouterGroupStatus, RouterProcessStatus, SupervisorStatus } from '../api/types.ts';

export type Request =
  | { op: 'attach'; grace: number }
  | { op: 'status' }
  /** Runs `workers` router processes for the service, reusing those that run with the same options. */
  | { op: 'routers'; service: string; opts: RouterOptions; workers: number }
  | { op: 'apply'; service: string; spec: RouteSpec; timeoutMs: number }
  | { op: 'health'; service: string; address: string; healthy: boolean }
  | { op: 'metrics'; service: string }
  /** Stops the routers of every service not named (a service taken out of the config). */
  | { op: 'retain'; services: string[]; grace: number }
  /** A deliberate stop: drain every router for its service's drain, stop everything, exit. */
  | { op: 'shutdown'; drain: Record<string, number> }
  /** The controller goes away on purpose (a restart): keep serving; the grace starts. */
  | { op: 'detach' };

export type Answer<R extends Request> = R extends { op: 'attach' | 'status' }
  ? SupervisorStatus
  : R extends { op: 'metrics' }
    ? RouterMetrics
    : R extends { op: 'routers' }
      ? RouterGroupStatus
      : null;

export type Wire =
  | ({ id: number } & Request)
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; code: string; message: string };
