// The route table: an immutable object the request path reads with one property load. Every change
// makes a new table with a higher generation; a switch is one reference swap in the router.
import { performance } from 'node:perf_hooks';
import type { SlotName } from '../config/types.ts';
import { type FaultRule, type FaultSpec, faultRule } from './faults.ts';
import type { SlotPool } from './pool.ts';
import { type RetryRule, type RetrySpec, retryRule } from './retry.ts';

/** The serialisable description of a route table: what the controller decides and workers receive. */
export interface RouteSpec {
  service: string;
  generation: number;
  /** The slot that has (most of) the traffic, or null before the first release. */
  live: SlotName | null;
  /** Share of new requests per slot, 0..100; they add up to 100 when live is set. */
  weights: { blue: number; green: number };
  slots: { blue: SlotSpec; green: SlotSpec };
  /** While a release is proven: requests carrying its secret token (header or cookie) reach this slot. */
  preview?: { slot: SlotName; token: string } | null;
  /** Copy this share (0..1) of live GET/HEAD requests to `slot`; the answers are discarded. */
  mirror?: { slot: SlotName; share: number } | null;
  /** During a progressive shift: a cookie keyed by the release pins a client to the slot it first got. */
  sticky?: { key: string } | null;
  /** While a release shifts or observes: idempotent requests the new slot fails are retried on the standby (retry.ts). */
  retry?: RetrySpec | null;
  /** During a drill: faults injected into the new slot's answers (faults.ts). */
  faults?: FaultSpec | null;
  /** `cutover pause`: new requests wait up to `timeout` ms for a resume (then 503); in-flight ones go on. */
  paused?: { timeout: number } | null;
  /** `cutover maintenance on`: every user request gets the maintenance page (503 with Retry-After). */
  maintenance?: { message: string | null } | null;
}

export interface SlotSpec {
  version: string | null;
  targets: string[];
}

export interface RouteTable {
  readonly spec: RouteSpec;
  readonly generation: number;
  readonly blue: SlotPool;
  readonly green: SlotPool;
  /** Precomputed at build time: the pool that takes all new requests, or null when weights split them. */
  readonly only: SlotPool | null;
  /** Weighted split: the share (0..1) of new requests that go to blue. */
  readonly blueShare: number;
  readonly hasTraffic: boolean;
  readonly previewPool: SlotPool | null;
  readonly previewToken: string;
  readonly mirrorPool: SlotPool | null;
  readonly mirrorShare: number;
  /** The sticky cookie's value prefix (`<key>.`), or '' when no shift is pinning clients. */
  readonly stickyPrefix: string;
  /** Retry on standby, or null (then it costs one load per request). */
  readonly retry: RetryRule | null;
  /** A drill's faults, or null. */
  readonly faults: FaultRule | null;
  /** Paused or in maintenance: users' requests go to the hold queue (maintenance.ts), not to a slot. */
  readonly held: boolean;
}

/** `previous`: the table this one replaces; its retry budget carries over, so a new generation does not refill it. */
export function buildTable(spec: RouteSpec, blue: SlotPool, green: SlotPool, previous: RouteTable | null = null): RouteTable {
  const hasTraffic = spec.live !== null && spec.weights.blue + spec.weights.green > 0;
  let only: SlotPool | null = null;
  if (hasTraffic) {
    if (spec.weights.green === 0) only = blue;
    else if (spec.weights.blue === 0) only = green;
  }
  return Object.freeze({
    spec,
    generation: spec.generation,
    blue,
    green,
    only,
    blueShare: hasTraffic ? spec.weights.blue / (spec.weights.blue + spec.weights.green) : 0,
    hasTraffic,
    previewPool: spec.preview ? (spec.preview.slot === 'blue' ? blue : green) : null,
    previewToken: spec.preview?.token ?? '',
    mirrorPool: spec.mirror && spec.mirror.share > 0 ? (spec.mirror.slot === 'blue' ? blue : green) : null,
    mirrorShare: spec.mirror?.share ?? 0,
    stickyPrefix: only === null && hasTraffic && spec.sticky ? `${spec.sticky.key}.` : '',
    retry: retryRule(spec.retry, blue, green, previous?.retry ?? null, performance.now()),
    faults: faultRule(spec.faults, blue, green),
    held: !!spec.paused || !!spec.maintenance,
  });
}

export function emptySpec(service: string): RouteSpec {
  return {
    service,
    generation: 0,
    live: null,
    weights: { blue: 0, green: 0 },
    slots: { blue: { version: null, targets: [] }, green: { version: null, targets: [] } },
  };
}

/** The spec after moving all traffic to `slot`, one generation later. */
export function switchedSpec(spec: RouteSpec, slot: SlotName): RouteSpec {
  return {
    ...spec,
    generation: spec.generation + 1,
    live: slot,
    weights: slot === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 },
  };
}
