// What cutover keeps durably: releases and their phases, the event log they are derived from, the
// route state of every service, and API tokens. `Store` is the one interface; SQLite (one machine)
// and etcd (a fleet) implement it, and test/fixtures/memory-store.ts for unit tests. Nothing here speaks SQL.

import type { SlotName } from '../config/types.ts';
import type { FleetLink } from './fleet-link.ts';

import type { Phase } from '../lifecycle.ts';

/** A release's phase; defined, with its moves, by the lifecycle (src/lifecycle.ts). */
export type { Phase };
export type { FleetLink };

/** A JSON-serialisable object. Stores keep a copy (a JSON round trip), never the caller's object. */
export type JsonObject = Record<string, unknown>;

export interface ReleaseRecord {
  id: string;
  service: string;
  version: string;
  /** The slot this release deploys into (the idle slot when it started). */
  slot: SlotName;
  /** The slot that was live when it started; null for a service's first release. */
  fromSlot: SlotName | null;
  phase: Phase;
  /** ISO 8601, UTC. */
  createdAt: string;
  updatedAt: string;
  /** Reason given with the latest transition. */
  reason?: string;
  /** What the controller must remember across a restart (standby deadline, shift step, ...). */
  data?: JsonObject;
}

export type EventType =
  | 'phase' // a release changed phase; written only by createRelease/transition
  | 'switch' // the route table changed (live slot, weights)
  | 'gate' // a gate started, passed or failed
  | 'analysis' // an analysis verdict
  | 'health' // a target became healthy or unhealthy
  | 'provider' // a slot's targets were started or stopped
  | 'migration' // expand/contract migrations ran
  | 'traffic' // an external balancer was asked to serve a generation, or did not take it (before its `switch`)
  | 'approval' // a release waits for, or got, manual approval
  | 'hook' // a lifecycle hook (command or webhook) ran, with its outcome
  | 'certificate' // an edge certificate was obtained or renewed (ACME), or an attempt failed
  | 'audit'; // anything else an operator did (tokens, config reloads, ...)

export interface StoreEvent {
  /** Store-wide, strictly increasing, never reused: the order of events. */
  seq: number;
  /** ISO 8601, UTC. */
  time: string;
  service: string;
  releaseId: string | null;
  type: EventType;
  /** Set on `phase` events: the phase the release entered. */
  phase?: Phase;
  /** Who did it: `controller`, `api:<token name>`, `cli`, ... */
  actor: string;
  reason: string;
  data: JsonObject;
}

/** Who did something and why; every write that records an event takes one. */
export interface EventInput {
  actor: string;
  reason: string;
  data?: JsonObject;
}

export interface NewEvent extends EventInput {
  service: string;
  releaseId?: string | null;
  /** `phase` events are written by createRelease and transition only. */
  type: Exclude<EventType, 'phase'>;
}

export interface NewRelease {
  /** Generated when absent: sortable by creation time. */
  id?: string;
  service: string;
  version: string;
  slot: SlotName;
  fromSlot: SlotName | null;
  data?: JsonObject;
}

export interface TransitionInput extends EventInput {
  /**
   * Refuse (CUTOVER_E_CONFLICT) unless the release is in this phase (or one of these) now: lets two
   * actors race (the controller advancing, an operator aborting) without one overwriting the other.
   */
  from?: Phase | readonly Phase[];
  /** Shallow-merged into the release's `data` in the same write. */
  releaseData?: JsonObject;
}

export interface EventQuery {
  releaseId?: string;
  service?: string;
  /** Only events with a larger seq (resuming a stream). */
  afterSeq?: number;
  /** Default 1000. */
  limit?: number;
  /** `asc` (default) from the oldest matching event; `desc` from the newest. */
  order?: 'asc' | 'desc';
}

export interface SlotState {
  version: string | null;
  /** `host:port` addresses. */
  targets: string[];
}

/** What the route table of a service is built from; `generation` rises with every change. */
export interface RouteState {
  service: string;
  live: SlotName | null;
  /** Percent of live traffic per slot; they add up to 100 once a slot is live. */
  weights: Record<SlotName, number>;
  generation: number;
  slots: Record<SlotName, SlotState>;
  /** While a release is proven: requests with its secret token reach this slot. Every store keeps it. */
  preview?: { slot: SlotName; token: string } | null;
  /** A share (0..1) of live GET/HEAD requests copied to this slot, answers discarded. */
  mirror?: { slot: SlotName; share: number } | null;
  /** During a progressive shift: the key of the cookie that pins clients to a slot. */
  sticky?: { key: string } | null;
  /** While a release shifts or observes (analysis.retryOnStandby): idempotent requests the new slot fails go once to the standby. */
  retry?: { from: SlotName; to: SlotName; perSecond: number; header: string | null } | null;
  /** During a drill: a share of the new slot's answers fail (errors, 0..1) or wait (latency, ms). */
  faults?: { slot: SlotName; errors: number; latency: number } | null;
  /** `cutover pause`: new requests wait up to `timeout` ms for `cutover resume`, then get 503. */
  paused?: { timeout: number } | null;
  /** `cutover maintenance on`: every user request gets the maintenance page, with this message. */
  maintenance?: { message: string | null } | null;
}

export interface PutRouteOptions {
  /** The generation read before this change; 0 when the service has no route state yet. */
  expectGeneration: number;
  /** Appended in the same write (a `switch` event, say), so the change and its record go together. */
  event?: NewEvent;
}

export type TokenRole = 'viewer' | 'deployer' | 'admin';

export interface TokenRecord {
  id: string;
  name: string;
  role: TokenRole;
  /** Hash of the secret (the secret itself is never stored). */
  hash: string;
  createdAt: string;
  revokedAt: string | null;
}

export interface NewToken {
  id?: string;
  name: string;
  role: TokenRole;
  hash: string;
}

export interface Store {
  /**
   * Creates a release in phase `pending` and appends its first `phase` event, in one write.
   * Refuses with CUTOVER_E_CONFLICT, naming the running release, while the service has a release in
   * a non-terminal phase.
   */
  createRelease(release: NewRelease, event: EventInput): Promise<ReleaseRecord>;
  /**
   * Moves a release to `phase` and appends the `phase` event, in one write that is durable before the
   * promise resolves: only then may the caller make the transition's effect visible. Refuses
   * (CUTOVER_E_CONFLICT) a move the phase table does not allow, including any move out of a terminal
   * phase; CUTOVER_E_NOT_FOUND for an unknown release.
   */
  transition(releaseId: string, phase: Phase, event: TransitionInput): Promise<{ release: ReleaseRecord; event: StoreEvent }>;
  /** Appends an event that is not a phase change. */
  appendEvent(event: NewEvent): Promise<StoreEvent>;
  getRelease(id: string): Promise<ReleaseRecord | null>;
  /** The service's release in a non-terminal phase, if any (there is at most one). */
  activeRelease(service: string): Promise<ReleaseRecord | null>;
  /** Every release in a non-terminal phase, across services: what a restarted controller resumes. */
  activeReleases(): Promise<ReleaseRecord[]>;
  /** Newest first; default limit 50. */
  listReleases(service: string, options?: { limit?: number }): Promise<ReleaseRecord[]>;
  /** Ordered by seq (see EventQuery.order). */
  events(query?: EventQuery): Promise<StoreEvent[]>;
  getRouteState(service: string): Promise<RouteState | null>;
  listRouteStates(): Promise<RouteState[]>;
  /**
   * Compare-and-set: writes `state` only if the stored generation is still `expectGeneration`
   * (CUTOVER_E_CONFLICT otherwise), and `state.generation` must be higher than it.
   */
  putRouteState(state: RouteState, options: PutRouteOptions): Promise<RouteState>;
  /**
   * Present when the store can write several services' route states in one transaction (a grouped
   * release switches its members together): each as putRouteState would, all or none.
   */
  putRouteStates?(changes: { state: RouteState; options: PutRouteOptions }[]): Promise<RouteState[]>;
  createToken(token: NewToken): Promise<TokenRecord>;
  /** The token with this hash, unless it is unknown or revoked. */
  findTokenByHash(hash: string): Promise<TokenRecord | null>;
  /** Every token, revoked ones included, oldest first. */
  listTokens(): Promise<TokenRecord[]>;
  /** Idempotent: revoking a revoked token keeps its first `revokedAt`. CUTOVER_E_NOT_FOUND if unknown. */
  revokeToken(id: string): Promise<TokenRecord>;
  /**
   * Present when the store can carry a fleet (etcd): the keys, leases and election the fleet's
   * routers, leader and counters coordinate over (fleet-link.ts; the fleet never gets the store's
   * client). A store without it runs one machine's routers in the daemon's own process.
   */
  fleet?(): FleetLink;
  /**
   * Present when the process provider's replicas outlive the controller (the supervisor of the
   * stateDir runs them): the record of each replica, written before it starts, that a new controller
   * adopts them by. The records are those of this machine's stateDir only (SQLite: its own file;
   * etcd: keyed by node), so controllers on two machines sharing a store never take each other's.
   * A store without it (the memory store of unit tests) runs replicas that die with their controller.
   */
  replicas?(): ReplicaBook;
  /** Idempotent. */
  close(): Promise<void>;
}

/** One replica of the process provider, as recorded before it is started (pid and start time once it is). */
export interface ReplicaRecord {
  /** Chosen before the start; the supervisor knows the replica by it. */
  id: string;
  service: string;
  slot: SlotName;
  version: string;
  index: number;
  /** `host:port`: the target it serves. */
  address: string;
  /** null until the process runs. */
  pid: number | null;
  /** The kernel's start time of that pid (/proc/<pid>/stat), so a reused pid is never taken for it. */
  startTime: string | null;
}

/** One node's replicas on record, per service; writes are durable before they resolve. */
export interface ReplicaBook {
  /** Inserts or replaces each record (by id), in one write. */
  put(records: readonly ReplicaRecord[]): Promise<void>;
  remove(ids: readonly string[]): Promise<void>;
  list(service: string): Promise<ReplicaRecord[]>;
}
