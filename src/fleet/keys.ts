// What a fleet keeps in etcd beside the store's keys (etcd-keys.ts), under the same installation prefix:
//
//   <p>/routers/<router-id>     RouterRecord JSON, attached to the router's lease: present while it lives
//   <p>/election/leader/<lease> the controllers' campaign keys (etcd3's Election); the oldest one leads
//
// Routers watch `<p>/routes/` (the store's route states) and answer under `<p>/routers/`.

export const ROUTERS_DIR = 'routers/';
export const ELECTION_NAME = 'leader';

/** Seconds a router's key outlives its last keep-alive: how long a dead router can hold up a switch. */
export const ROUTER_LEASE_TTL_S = 2;
/** Seconds a dead leader keeps the lead before a follower takes over. */
export const LEADER_LEASE_TTL_S = 2;

export function routersDir(prefix: string): string {
  return `${prefix.replace(/\/+$/, '')}/${ROUTERS_DIR}`;
}

export function routerKey(prefix: string, id: string): string {
  return routersDir(prefix) + encodeURIComponent(id);
}

export function routesDir(prefix: string): string {
  return `${prefix.replace(/\/+$/, '')}/routes/`;
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

export function parseJson<T>(value: Buffer | string): T | null {
  try {
    return JSON.parse(value.toString()) as T;
  } catch {
    return null;
  }
}
