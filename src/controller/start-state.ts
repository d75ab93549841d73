// The route state a service starts from: the stored one, or a first one written to the store. A
// static service's addresses come from the config, so a changed file takes effect at start.
import type { ServiceConfig } from '../config/types.ts';
import type { RouteState, Store } from '../store/types.ts';

/** The route state a service starts with when the store has none. */
export function initialState(cfg: ServiceConfig): RouteState {
  if (cfg.provider.kind === 'static') {
    // A static service's addresses already run: blue is live from the start.
    return {
      service: cfg.name,
      live: 'blue',
      weights: { blue: 100, green: 0 },
      generation: 1,
      slots: { blue: { version: null, targets: cfg.provider.blue }, green: { version: null, targets: cfg.provider.green } },
    };
  }
  return {
    service: cfg.name,
    live: null,
    weights: { blue: 0, green: 0 },
    generation: 1,
    slots: { blue: { version: null, targets: [] }, green: { version: null, targets: [] } },
  };
}

/** Reads the service's route state, writing the first one (or the config's static addresses) first. */
export async function startState(cfg: ServiceConfig, store: Store): Promise<RouteState> {
  const state = await store.getRouteState(cfg.name);
  if (state === null) {
    const first = initialState(cfg);
    await store.putRouteState(first, {
      expectGeneration: 0,
      event: { service: cfg.name, type: 'switch', actor: 'controller', reason: 'first start', data: { live: first.live } },
    });
    return first;
  }
  if (cfg.provider.kind !== 'static') return state;
  const blue = cfg.provider.blue;
  const green = cfg.provider.green;
  if (sameList(blue, state.slots.blue.targets) && sameList(green, state.slots.green.targets)) return state;
  const next: RouteState = {
    ...state,
    generation: state.generation + 1,
    slots: { blue: { ...state.slots.blue, targets: blue }, green: { ...state.slots.green, targets: green } },
  };
  await store.putRouteState(next, {
    expectGeneration: state.generation,
    event: { service: cfg.name, type: 'switch', actor: 'controller', reason: 'static addresses changed in the config', data: {} },
  });
  return next;
}

export function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
