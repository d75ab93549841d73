// The route-state changes of a service, as pure functions: from the current route state and what was
// asked, the next state, the event that records it and what the log says (or null: nothing changes).
// ServiceRuntime (service.ts) runs each through its one sequence: store first, then the routers.
import type { SlotName } from '../config/types.ts';
import { CutoverError, conflict } from '../errors.ts';
import type { TargetHealth } from '../router/health.ts';
import { switchedSpec, type RouteSpec } from '../router/table.ts';
import type { NewEvent, RouteState } from '../store/types.ts';
import { sameList } from './start-state.ts';

/** One change of pause or maintenance; the key that is absent stays as it is. */
export type HoldChange = Partial<Pick<RouteState, 'paused' | 'maintenance'>>;

/** What a release sets beside the live slot and the weights: preview, mirror and sticky routes. */
export type RouteExtras = Pick<RouteState, 'preview' | 'mirror' | 'sticky' | 'retry' | 'faults'>;
export type RoutePatch = RouteExtras & { weights?: Record<SlotName, number> };

/** One change of the route state: the next state, the event that records it, and what the log says. */
export interface Change {
  next: RouteState;
  event: Omit<NewEvent, 'service'>;
  log: [message: string, fields: Record<string, unknown>];
  /** Apply it to an external balancer even when nothing it serves changed (a switch: repairs drift). */
  always?: boolean;
}

/** What switchTo records: all traffic to `slot`, refused when it has no healthy target (unless forced). */
export function switchChange(
  state: RouteState,
  slot: SlotName,
  service: string,
  health: (address: string) => TargetHealth | undefined,
  actor: string,
  reason: string,
  opts: { force?: boolean; releaseId?: string },
): Change {
  const targets = state.slots[slot].targets;
  if (targets.length === 0) throw conflict(`slot ${slot} of ${service} has no targets; deploy to it first`);
  const healthy = targets.filter((a) => health(a)?.healthy);
  if (healthy.length === 0 && !opts.force) {
    throw new CutoverError(
      'CUTOVER_E_SLOT_UNHEALTHY',
      `slot ${slot} of ${service} has no healthy target (${targets.map((a) => `${a}: ${health(a)?.lastError ?? 'not checked yet'}`).join(', ')}); fix it, or pass --force to switch anyway`,
      409,
    );
  }
  // All traffic on one slot: nothing left to pin clients to. Back on the old slot (a rollback),
  // nothing is left to retry or to inject faults into either (controller/shield.ts).
  const next = { ...(switchedSpec(state as RouteSpec, slot) as RouteState), sticky: null };
  if (next.retry && next.retry.from !== slot) next.retry = null;
  if (next.faults && next.faults.slot !== slot) next.faults = null;
  return {
    next,
    event: {
      releaseId: opts.releaseId ?? null,
      type: 'switch',
      actor,
      reason,
      data: { from: state.live, to: slot, generation: next.generation },
    },
    log: ['switched', { live: slot, generation: next.generation, actor }],
    always: true,
  };
}

/** What setSlot records: `slot` runs `deployment` as a new generation; null when it does already. */
export function slotChange(
  state: RouteState,
  slot: SlotName,
  deployment: { version: string | null; targets: string[] },
  actor: string,
  reason: string,
  releaseId?: string,
): Change | null {
  const cur = state.slots[slot];
  if (cur.version === deployment.version && sameList(cur.targets, deployment.targets)) return null;
  const next: RouteState = {
    ...state,
    generation: state.generation + 1,
    slots: { ...state.slots, [slot]: { version: deployment.version, targets: [...deployment.targets] } },
  };
  return {
    next,
    event: {
      releaseId: releaseId ?? null,
      type: 'provider',
      actor,
      reason,
      data: { slot, version: deployment.version, targets: deployment.targets, generation: next.generation },
    },
    log: ['slot set', { slot, version: deployment.version, targets: deployment.targets, generation: next.generation }],
  };
}

/** What setRoutes records: weights, preview, mirror, sticky, retry, faults as a new generation; null when none changed. */
export function routesChange(state: RouteState, patch: RoutePatch, actor: string, reason: string, releaseId?: string): Change | null {
  const next: RouteState = { ...state, ...patch, generation: state.generation + 1 };
  if (patch.weights) next.weights = { blue: patch.weights.blue, green: patch.weights.green };
  if (sameRoutes(state, next)) return null;
  return {
    next,
    event: {
      releaseId: releaseId ?? null,
      type: 'switch',
      actor,
      reason,
      data: {
        live: next.live,
        weights: next.weights,
        preview: next.preview ? next.preview.slot : null,
        mirror: next.mirror ?? null,
        sticky: !!next.sticky,
        retry: next.retry ?? null,
        faults: next.faults ?? null,
        generation: next.generation,
      },
    },
    log: [
      'routes set',
      { weights: next.weights, preview: next.preview?.slot ?? null, mirror: next.mirror?.share ?? null, generation: next.generation },
    ],
  };
}

/** What setHold records: pause or maintenance on or off as a new generation; null when neither changed. */
export function holdChange(state: RouteState, change: HoldChange, actor: string, reason: string): Change | null {
  const next: RouteState = { ...state, generation: state.generation + 1 };
  if ('paused' in change) next.paused = change.paused;
  if ('maintenance' in change) next.maintenance = change.maintenance;
  if (JSON.stringify([state.paused ?? null, state.maintenance ?? null]) === JSON.stringify([next.paused ?? null, next.maintenance ?? null]))
    return null;
  const what = 'paused' in change ? (change.paused ? 'paused' : 'resumed') : change.maintenance ? 'maintenance on' : 'maintenance off';
  return {
    next,
    event: {
      releaseId: null,
      type: 'switch',
      actor,
      reason: `${what}: ${reason}`,
      data: { hold: what, paused: next.paused ?? null, maintenance: next.maintenance ?? null, generation: next.generation },
    },
    log: [what, { paused: next.paused ?? null, maintenance: next.maintenance ?? null, generation: next.generation, actor }],
  };
}

/** What clearLive records: no live slot and no weights; null when no slot was live. */
export function clearLiveChange(state: RouteState, actor: string, reason: string, releaseId?: string): Change | null {
  if (state.live === null) return null;
  const next: RouteState = { ...state, generation: state.generation + 1, live: null, weights: { blue: 0, green: 0 } };
  return {
    next,
    event: {
      releaseId: releaseId ?? null,
      type: 'switch',
      actor,
      reason,
      data: { from: state.live, to: null, generation: next.generation },
    },
    log: ['no live slot', { generation: next.generation, actor }],
  };
}

function sameRoutes(a: RouteState, b: RouteState): boolean {
  const extras = (s: RouteState): string =>
    JSON.stringify([
      s.weights.blue,
      s.weights.green,
      s.preview ?? null,
      s.mirror ?? null,
      s.sticky ?? null,
      s.retry ?? null,
      s.faults ?? null,
    ]);
  return extras(a) === extras(b);
}
