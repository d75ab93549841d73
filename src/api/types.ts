// The API's answers as types, for the CLI and other clients: importing these loads no daemon code.
import type { ServiceStatus } from '../controller/view.ts';
import type { FleetStatus } from '../fleet/control.ts';

export type { ReleaseStatus, ServiceStatus, TargetStatus } from '../controller/view.ts';
export type { FleetStatus } from '../fleet/control.ts';
export type { TrafficStatus } from '../controller/traffic-control.ts';

/** GET /services/{service}: the status, and in a fleet its routers and leader. */
export type ServiceAnswer = ServiceStatus & { fleet?: FleetStatus };
