// The API's answers as types, for the CLI and other clients: importing these loads no daemon code.
import type { ServiceStatus } from '../controller/view.ts';
import type { FleetStatus } from '../fleet/control.ts';
import type { ParityReport } from '../controller/parity.ts';

export type { ReleaseStatus, ServiceStatus, TargetStatus } from '../controller/view.ts';
export type { FleetStatus } from '../fleet/control.ts';
export type { TrafficStatus } from '../controller/traffic-control.ts';
export type { ParityReport } from '../controller/parity.ts';

/** One router process of a service, as the supervisor runs it. */
export interface RouterProcessStatus {
  worker: number;
  /** null while it is being started again. */
  pid: number | null;
  /** The generation it serves; -1 before its first table. */
  generation: number;
  /** When the current process started (ISO 8601). */
  startedAt: string;
  restarts: number;
}

/** The routers of one service under the supervisor. */
export interface RouterGroupStatus {
  service: string;
  listen: string;
  generation: number;
  processes: RouterProcessStatus[];
}

/** The supervisor of a stateDir: what it runs, and how many controllers are attached to it. */
export interface SupervisorStatus {
  pid: number;
  startedAt: string;
  /** Controllers attached now (a restart has two for a moment). */
  controllers: number;
  routers: RouterGroupStatus[];
  /** The process provider's replicas it keeps, every service's. */
  replicas: number;
}

/** GET /services/{service}: the status; in a fleet its routers and leader, else its router processes. */
export type ServiceAnswer = ServiceStatus & {
  /** What differs between the two slots besides the version (null when it cannot be read now). */
  parity?: ParityReport | null;
  fleet?: FleetStatus;
  supervisor?: { pid: number; controllers: number; routers: RouterGroupStatus | null };
};
