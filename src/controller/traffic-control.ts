// How a change of a service's route state reaches the balancer, in the order that keeps the store
// true, and what the balancer reports meanwhile (status and drift).
//
// The embedded router (and a fleet of them) reads the route table cutover records, so there the
// change is recorded first and then applied, as always. An external balancer (HAProxy, nginx,
// Caddy, DNS, ...) is a separate system that can be down or refuse, so there the order is:
//   1. record the intent (a `traffic` event naming the generation), before anything moves;
//   2. apply it to the balancer; if it refuses or cannot be reached, record that and fail: the
//      route state in the store is unchanged, so the store never shows a switch the balancer did not make;
//   3. record the new route state (with its switch event); if the store refuses now (a conflict, the
//      store is gone), put the balancer back on the previous state and fail.
import type { SlotName } from '../config/types.ts';
import { isCutoverError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { NewEvent, RouteState, Store } from '../store/types.ts';
import { drift } from '../traffic/drift.ts';
import { ROUTER_CAPABILITIES } from '../traffic/index.ts';
import {
  trafficRefused,
  type BalancerCounters,
  type ObservedTraffic,
  type TrafficAdapter,
  type TrafficCapabilities,
} from '../traffic/types.ts';

/** How often the balancer is asked what it does, for status and drift. */
const OBSERVE_INTERVAL_MS = 2000;

export interface TrafficStatus {
  /** `router` for the embedded router, else the adapter's kind. */
  kind: string;
  capabilities: TrafficCapabilities;
  /** What the balancer reported last, and when; null for the embedded router or before its first answer. */
  observed: ObservedTraffic | null;
  observedAt: string | null;
  /** Where the balancer disagrees with the route table; empty when it agrees. `cutover switch` applies again. */
  drift: string[];
  /** Why the balancer could not be asked last time, if it could not. */
  error: string | null;
}

export class TrafficControl {
  readonly #adapter: TrafficAdapter | null;
  readonly #store: Store;
  readonly #log: Logger;
  readonly #service: string;
  readonly #current: () => RouteState | null;
  #observed: ObservedTraffic | null = null;
  #observedAt: string | null = null;
  #error: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #drifting = false;

  /** `current`: the route state the service serves now, to judge drift against. */
  constructor(adapter: TrafficAdapter | null, store: Store, log: Logger, service: string, current: () => RouteState | null) {
    this.#adapter = adapter;
    this.#store = store;
    this.#log = log;
    this.#service = service;
    this.#current = current;
  }

  get capabilities(): TrafficCapabilities {
    return this.#adapter?.capabilities ?? ROUTER_CAPABILITIES;
  }

  /** `router` for the embedded router, else the adapter's kind. */
  get kind(): string {
    return this.#adapter?.kind ?? 'router';
  }

  /** Reads the balancer's per-server counters, when it keeps some cutover can read (HAProxy); null otherwise. */
  get counters(): (() => Promise<BalancerCounters>) | null {
    const adapter = this.#adapter;
    if (adapter?.counters === undefined) return null;
    return () => (adapter.counters as () => Promise<BalancerCounters>).call(adapter);
  }

  /** ms after a switch until clients follow it (DNS: the TTL); 0 when they follow at once. */
  get settleAfter(): number {
    return this.#adapter?.settleAfter ?? 0;
  }

  /** At start: the balancer is given the recorded state (it may have restarted, or drifted, meanwhile). */
  async start(state: RouteState): Promise<void> {
    const adapter = this.#adapter;
    if (adapter === null) return;
    try {
      await adapter.apply(state);
    } catch (err) {
      // The daemon still starts: status shows the error, and the next switch (or `cutover switch`) applies again.
      this.#error = (err as Error).message;
      this.#log.error('the balancer did not take the recorded route table', { traffic: adapter.kind, error: this.#error });
    }
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), OBSERVE_INTERVAL_MS);
    this.#timer.unref();
  }

  /**
   * Records `next` (one generation after `prev`, with `event`) and makes the balancer serve it; see
   * the header for the order. `recorded` runs once the store holds `next` (the embedded router is
   * applied there). Throws without recording anything the balancer did not do. A change the balancer
   * does not see (preview, mirror, sticky) is only recorded, unless `always` (a switch: it repairs drift).
   */
  async commit(
    prev: RouteState,
    next: RouteState,
    event: NewEvent,
    recorded: (state: RouteState) => Promise<void>,
    opts: { always?: boolean } = {},
  ): Promise<void> {
    const adapter = this.#adapter;
    if (adapter === null || (!opts.always && sameTraffic(prev, next))) {
      await this.#store.putRouteState(next, { expectGeneration: prev.generation, event });
      await recorded(next);
      return;
    }
    if (next.weights.blue > 0 && next.weights.green > 0 && !adapter.capabilities.weighted) {
      throw trafficRefused(adapter.kind, 'this balancer cannot split traffic by weights; use shift: instant for this service');
    }
    const base = { service: this.#service, releaseId: event.releaseId ?? null, actor: event.actor };
    await this.#store.appendEvent({
      ...base,
      type: 'traffic',
      reason: `asking ${adapter.kind} to serve generation ${next.generation} (${describe(next)}): ${event.reason}`,
      data: { traffic: adapter.kind, intent: 'apply', generation: next.generation },
    });
    try {
      await adapter.apply(next);
    } catch (err) {
      const code = isCutoverError(err) ? err.code : 'CUTOVER_E_INTERNAL';
      this.#error = (err as Error).message;
      await this.#store
        .appendEvent({
          ...base,
          type: 'traffic',
          reason: `${adapter.kind} did not take generation ${next.generation}, nothing switched: ${(err as Error).message}`,
          data: { traffic: adapter.kind, intent: 'failed', generation: next.generation, code },
        })
        .catch((e: Error) => this.#log.warn('could not record the failed switch', { error: e.message }));
      throw err;
    }
    try {
      await this.#store.putRouteState(next, { expectGeneration: prev.generation, event });
    } catch (err) {
      this.#log.error('the store did not record the switch; putting the balancer back', {
        generation: prev.generation,
        error: (err as Error).message,
      });
      await adapter.apply(prev).catch((e: Error) => {
        this.#error = `the balancer serves generation ${next.generation}, which the store did not record: ${e.message}; run cutover switch`;
        this.#log.error('putting the balancer back failed', { error: e.message });
      });
      throw err;
    }
    this.#error = null;
    await recorded(next);
    await this.refresh();
  }

  /** Asks the balancer what it does now and judges drift against the route table. */
  async refresh(): Promise<void> {
    const adapter = this.#adapter;
    const state = this.#current();
    if (adapter === null || state === null) return;
    try {
      this.#observed = await adapter.observe();
      this.#observedAt = new Date().toISOString();
      this.#error = null;
    } catch (err) {
      this.#error = (err as Error).message;
    }
    const found = this.#observed ? drift(state, this.#observed) : [];
    if (found.length > 0 && !this.#drifting) {
      this.#log.warn('the balancer does not serve the route table; cutover switch applies it again', {
        traffic: adapter.kind,
        drift: found,
      });
    }
    this.#drifting = found.length > 0;
  }

  status(): TrafficStatus {
    const state = this.#current();
    return {
      kind: this.kind,
      capabilities: { ...this.capabilities },
      observed: this.#observed,
      observedAt: this.#observedAt,
      drift: state && this.#observed ? drift(state, this.#observed) : [],
      error: this.#error,
    };
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#adapter?.close();
  }
}

/** Whether two states ask the same of a balancer: live slot, weights, and the slots' targets. */
function sameTraffic(a: RouteState, b: RouteState): boolean {
  const key = (s: RouteState) => JSON.stringify([s.live, s.weights.blue, s.weights.green, s.slots.blue.targets, s.slots.green.targets]);
  return key(a) === key(b);
}

function describe(s: RouteState): string {
  if (s.live === null) return 'no live slot';
  const split = (['blue', 'green'] as SlotName[]).filter((slot) => s.weights[slot] > 0);
  return split.length === 2 ? `blue ${s.weights.blue}% green ${s.weights.green}%` : `${s.live} live`;
}
