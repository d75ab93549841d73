// Faults a drill injects (`cutover drill <service> --errors 30% | --latency 2s`): while a drill's
// release has traffic on its new slot, that slot's answers fail (a share of them answered 500 by the
// router before they reach the app) or come late (held for `latency` ms before the request goes on).
// They are counted as the slot's own answers, so analysis judges them like a bad version's.
import type { SlotName } from '../config/types.ts';
import type { SlotPool } from './pool.ts';

/** What the controller puts in the route spec during a drill. */
export interface FaultSpec {
  slot: SlotName;
  /** Share of requests (0..1) answered 500. */
  errors: number;
  /** ms each request is held before it goes to the upstream; 0 for none. */
  latency: number;
}

export interface FaultRule {
  readonly pool: SlotPool;
  readonly errors: number;
  readonly latency: number;
}

/** What drawFault says for one request: none, an error, or (a positive number) a wait of that many ms. */
export const FAULT_NONE = 0;
export const FAULT_ERROR = -1;
/** The connection's own mark: the wait is running. */
export const FAULT_WAITING = -2;

/** The answer the client gets for an injected error (x-cutover-error marks it as the router's own). */
export const INJECTED_ERROR = 'internal server error: injected by a cutover drill';

export function faultRule(spec: FaultSpec | null | undefined, blue: SlotPool, green: SlotPool): FaultRule | null {
  if (!spec || !(spec.errors > 0 || spec.latency > 0)) return null;
  return { pool: spec.slot === 'blue' ? blue : green, errors: Math.min(1, Math.max(0, spec.errors)), latency: Math.max(0, spec.latency) };
}

/** Which fault (if any) one request to `pool` gets: FAULT_NONE, FAULT_ERROR or a wait in ms; `random` returns [0, 1). */
export function drawFault(rule: FaultRule, pool: SlotPool, random: () => number): number {
  if (pool !== rule.pool) return FAULT_NONE;
  if (rule.errors > 0 && random() < rule.errors) return FAULT_ERROR;
  return rule.latency > 0 ? Math.max(1, Math.round(rule.latency)) : FAULT_NONE;
}
