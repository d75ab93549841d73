// What a store that can carry a fleet gives the fleet (src/fleet/) to coordinate over: keys under the
// installation's prefix, read and watched by directory, written under leases that keep them alive
// only while their writer lives, and a leader election. Exactly what the fleet calls and no more, so
// the fleet never holds the store's client (it cannot write a release, an event or a route state) and
// knows nothing of etcd; src/store/etcd-fleet.ts implements it over the etcd store's connection.
//
// Every key and directory here is relative to the installation's prefix (`routers/web-1`, not
// `/cutover/prod/routers/web-1`); a directory ends with `/`.

/** One key and its value (UTF-8). */
export interface FleetEntry {
  key: string;
  value: string;
}

export interface FleetWatchHandlers {
  put(entry: FleetEntry): void;
  delete?(key: string): void;
  /** The watch reaches the store (again). */
  connected?(): void;
  /** The watch lost the store; it resumes by itself from the last change it saw. */
  disconnected?(err: Error): void;
  /** The watch ended for good (its revision was compacted, say): read again and watch anew. */
  error(err: Error): void;
}

export interface FleetWatch {
  cancel(): Promise<void>;
}

export interface FleetLeaseHandlers {
  keepaliveSucceeded?(): void;
  keepaliveFailed?(): void;
  /** The lease expired or was revoked by the store: the keys put under it are gone. */
  lost?(): void;
}

/** Keys put under a lease vanish with it; it is kept alive until revoked or lost. */
export interface FleetLease {
  put(key: string, value: string): Promise<void>;
  revoke(timeoutMs: number): Promise<void>;
}

/** One candidate's campaign: it leads from `wait()` until it resigns or its lease is lost (`onError`). */
export interface FleetCampaign {
  /** Resolves once this campaign leads (never, if it resigns first); rejects when it cannot campaign. */
  wait(): Promise<void>;
  resign(): Promise<void>;
  /** The campaign failed (its lease was lost): it no longer leads. */
  onError(handler: (err: Error) => void): void;
}

/** An election of one leader among campaigns bound to leases of a TTL; the oldest campaign leads. */
export interface FleetElection {
  campaign(value: string): FleetCampaign;
  /** The leading campaign's value; undefined when nobody leads. */
  leader(): Promise<string | undefined>;
}

export interface FleetLink {
  /** The directory of the store's route states (RouteState JSON, one key per service): what routers serve. */
  readonly routes: string;
  /** Every key under `dir`, and the revision they were read at (where a watch starts from). */
  list(dir: string, timeoutMs?: number): Promise<{ entries: FleetEntry[]; revision: string }>;
  /** Every change under `dir` made after `revision`, until cancelled. */
  watch(dir: string, afterRevision: string, handlers: FleetWatchHandlers): FleetWatch;
  /** A lease of `ttlSeconds`, kept alive from now on. */
  lease(ttlSeconds: number, handlers: FleetLeaseHandlers): FleetLease;
  election(name: string, ttlSeconds: number): FleetElection;
}
