// What a fleet keeps beside the store's keys, under the same installation prefix (keys here are
// relative to it, as the fleet's link takes them; see src/store/fleet-link.ts):
//
//   routers/<router-id>         RouterRecord JSON, attached to the router's lease: present while it lives
//   router-metrics/<router-id>  RouterCounters JSON (fleet-metrics.ts), attached to the same lease
//   election/...                the controllers' campaign keys (the link's election `leader`); the oldest leads
//
// Routers watch the store's route states (the link's `routes`) and answer under `routers/`.

export const ROUTERS_DIR = 'routers/';
export const METRICS_DIR = 'router-metrics/';
export const ELECTION_NAME = 'leader';

/** Seconds a router's key outlives its last keep-alive: how long a dead router can hold up a switch. */
export const ROUTER_LEASE_TTL_S = 2;
/** Seconds a dead leader keeps the lead before a follower takes over. */
export const LEADER_LEASE_TTL_S = 2;

export function routerKey(id: string): string {
  return ROUTERS_DIR + encodeURIComponent(id);
}

export function metricsKey(id: string): string {
  return METRICS_DIR + encodeURIComponent(id);
}

/** What a router publishes: the generation of each service's route table it serves now. */
export interface RouterRecord {
  id: string;
  host: string;
  pid: number;
  /** Per service: the generation it serves and where it listens. */
  services: Record<string, { generation: number; listen: string }>;
  /** ISO 8601: when this router process started. */
  since: string;
  /** ISO 8601: when it last wrote this record. */
  updatedAt: string;
}

/** The campaign value of a controller: who it is and where its API answers. */
export interface LeaderRecord {
  id: string;
  api: string;
}

export function parseJson<T>(value: string): T | null {
  try {
    return JSON.parse(value) as T;
  } catch {
    return null;
  }
}
