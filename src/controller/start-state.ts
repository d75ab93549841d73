// The route state a service starts from: the stored one, or a first one written to the store. A
// provider whose addresses are the operator's (fixedTargets: the static provider) has them already
// running, so its service starts with blue live, and a changed config file takes effect at start.
import type { ServiceConfig, SlotName } from '../config/types.ts';
import type { Provider } from '../providers/types.ts';
import type { RouteState, Store } from '../store/types.ts';

/** What the start state needs to know of the service's provider. */
export type StartProvider = Pick<Provider, 'capabilities' | 'configuredTargets'>;

/** The route state a service starts with when the store has none. */
export function initialState(cfg: ServiceConfig, provider: StartProvider): RouteState {
  const targets = (slot: SlotName) => provider.configuredTargets(slot);
  if (provider.capabilities.fixedTargets) {
    // The addresses already run: blue is live from the start.
    return {
      service: cfg.name,
      live: 'blue',
      weights: { blue: 100, green: 0 },
      generation: 1,
      slots: { blue: { version: null, targets: targets('blue') }, green: { version: null, targets: targets('green') } },
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

/** Reads the service's route state, writing the first one (or the provider's fixed addresses) first. */
export async function startState(cfg: ServiceConfig, store: Store, provider: StartProvider): Promise<RouteState> {
  const state = await store.getRouteState(cfg.name);
  if (state === null) {
    const first = initialState(cfg, provider);
    await store.putRouteState(first, {
      expectGeneration: 0,
      event: { service: cfg.name, type: 'switch', actor: 'controller', reason: 'first start', data: { live: first.live } },
    });
    return first;
  }
  if (!provider.capabilities.fixedTargets) return state;
  const blue = provider.configuredTargets('blue');
  const green = provider.configuredTargets('green');
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
