// What moves users' traffic between the slots: the embedded router, or a balancer the team already
// runs (HAProxy, nginx, Caddy, DNS, a Kubernetes Service). Each is one adapter behind this interface;
// the controller asks an adapter what it can do (capabilities), never which kind it is.
import type { SlotName } from '../config/types.ts';
import { CutoverError } from '../errors.ts';

export interface TrafficCapabilities {
  /** A switch loses no request: in-flight requests finish, idle keep-alive connections move over. */
  lossless: boolean;
  /** It can split traffic by weights, so progressive shifts (`steps`) work. */
  weighted: boolean;
  /**
   * `apply` resolves once the authority answers the new state, but clients follow only later (DNS
   * caches until the TTL runs out): analysis of the new slot should start after that.
   */
  eventual: boolean;
}

/** The part of a service's route state an adapter makes the balancer serve. */
export interface TrafficState {
  generation: number;
  live: SlotName | null;
  /** Percent per slot; they add up to 100 once a slot is live, both 0 before. */
  weights: Record<SlotName, number>;
  slots: Record<SlotName, { version: string | null; targets: string[] }>;
}

/** What the balancer really does now, read back from it (never from cutover's own memory). */
export interface ObservedTraffic {
  /** The share of new requests per slot, in percent, as the balancer is configured now; null if unknown. */
  weights: Record<SlotName, number> | null;
  /** Per slot, the addresses the balancer sends traffic to now (none for a slot it serves nothing). */
  targets: Record<SlotName, string[]>;
  /** One line for people: what the balancer was asked and answered (`backend web: 2 servers up`). */
  detail: string;
  /** Standing caveats an operator should know (`a switch may drop in-flight keep-alive requests`). */
  notes?: string[];
}

/** One server's counters as the balancer keeps them: they only grow, until the balancer restarts. */
export interface ServerCounters {
  /** Requests the server answered, plus those that failed on it (no connection, a broken response). */
  requests: number;
  /** Of those: answers of class 5xx, plus the failed ones (the balancer answered them 502/503/504). */
  errors: number;
  /** The balancer's own average total time of the server's recent requests, in ms (HAProxy: its last 1024); null: not reported. */
  recentMeanMs: number | null;
}

/** Every server of both slots as the balancer counts it now, and which run of the balancer counted. */
export interface BalancerCounters {
  /** Changes when the balancer restarts (its counters start again from 0). */
  process: string;
  /** Per slot, per server name. */
  slots: Record<SlotName, Record<string, ServerCounters>>;
}

export interface TrafficAdapter {
  /** `router`, `haproxy`, `nginx`, `caddy`, `dns`, `kubernetes-service`: for status and logs only. */
  readonly kind: string;
  readonly capabilities: TrafficCapabilities;
  /**
   * ms after a switch until clients follow it (an eventual adapter: DNS waits out the record's TTL);
   * analysis of the new slot should start only then. Absent: at once.
   */
  readonly settleAfter?: number;
  /**
   * Makes the balancer serve `state`; resolves once it does (an eventual adapter: once the authority
   * answers it). Idempotent: applying the same state again is harmless, which is how drift is
   * repaired and how a restarted balancer gets its state back. Throws a CutoverError coded
   * CUTOVER_E_TRAFFIC_UNREACHABLE or CUTOVER_E_TRAFFIC_REFUSED when the balancer cannot be reached or
   * refuses the change; the caller then records no switch.
   */
  apply(state: TrafficState): Promise<void>;
  /** What the balancer really does now, for status and drift. Throws like apply when unreachable. */
  observe(): Promise<ObservedTraffic>;
  /**
   * The balancer's per-server request counters, for analysis (users' requests go through the
   * balancer, so the embedded router never sees them). Absent: the balancer keeps none cutover can
   * read per slot. Throws like apply when unreachable.
   */
  counters?(): Promise<BalancerCounters>;
  close(): Promise<void>;
}

/** The balancer did not answer (no socket, connection refused, timed out). */
export function trafficUnreachable(kind: string, message: string, cause?: unknown): CutoverError {
  return new CutoverError('CUTOVER_E_TRAFFIC_UNREACHABLE', `${kind}: ${message}`, 503, cause === undefined ? undefined : { cause });
}

/** The balancer answered and refused the change (a bad config, an unknown backend, a failed reload). */
export function trafficRefused(kind: string, message: string, cause?: unknown): CutoverError {
  return new CutoverError('CUTOVER_E_TRAFFIC_REFUSED', `${kind}: ${message}`, 502, cause === undefined ? undefined : { cause });
}
