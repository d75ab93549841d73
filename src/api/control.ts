// What the API needs of the running daemon, and nothing more: read-only views of the services,
// their release commands, the switch, the store (tokens, audit, events). The daemon (src/daemon/)
// provides it; the API never sees the daemon's parts.
import type { SlotName } from '../config/types.ts';
import type { HoldCommand, ReleaseCommands, ServiceView } from '../controller/view.ts';
import type { RouteState, Store } from '../store/types.ts';
import type { ParityReport, ServiceAnswer, SupervisorStatus } from './types.ts';

export interface ControlPlane {
  /** The config file the daemon runs from: a release checks it still validates. */
  readonly configFile: string;
  /** Where the replicas' logs are (the logs route reads them). */
  readonly stateDir: string;
  store(): Store;
  hasService(name: string): boolean;
  services(): readonly ServiceView[];
  /** CUTOVER_E_NOT_FOUND for an unknown service; in a fleet, a follower refuses naming the leader. */
  service(name: string): ServiceView;
  releases(service: string): ReleaseCommands;
  switchTo(service: string, slot: SlotName, actor: string, reason: string, opts: { force: boolean }): Promise<RouteState>;
  /** Pause/resume, maintenance on/off: recorded, then applied on every router (see HoldCommand). */
  setHold(service: string, change: Parameters<HoldCommand['setHold']>[0], actor: string, reason: string): Promise<RouteState>;
  /** What differs between the service's two slots besides the version, read now. */
  parity(service: string): Promise<ParityReport>;
  /** The service's status with its active (or latest) release, and in a fleet its routers. */
  status(service: string): Promise<ServiceAnswer>;
  /** The supervisor and its router processes; null in a fleet (its routers are in `status`). */
  supervisor(): Promise<SupervisorStatus | null>;
  /** Validates the config on disk and restarts the controller in place; the routers keep serving. */
  restart(): Promise<{ pid: number }>;
  /** A deliberate stop, as SIGTERM: the routers drain, the replicas stop, the listeners close, the controller exits. */
  shutdown(): Promise<{ pid: number }>;
}
