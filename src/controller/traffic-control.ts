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
// A balancer that has not taken the recorded route table (unreachable when the daemon started, or
// when it was put back) is given it again with backoff until it takes it; status says meanwhile.
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
/** A balancer that did not take the recorded route table is asked again after this, doubling up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 10_000;

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
  /** The code of that error (`CUTOVER_E_TRAFFIC_UNREACHABLE`, `CUTOVER_E_TRAFFIC_REFUSED`); null without one. */
  errorCode: string | null;
  /**
   * When the balancer has not taken the recorded route table (unreachable when the daemon started):
   * when cutover applies it again (ISO 8601), until it takes it. Null when nothing waits.
   */
  retryAt: string | null;
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
  #errorCode: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #drifting = false;
  #retry: { timer: NodeJS.Timeout; at: number; delay: number } | null = null;
  /** Applies to the balancer run one at a time: a retry never overtakes a commit, nor a commit a retry. */
  #applying: Promise<unknown> = Promise.resolve();
  #closed = false;

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
      await this.#serial(() => adapter.apply(state));
    } catch (err) {
      // The daemon still starts: status shows the error, and the route table is applied again with
      // backoff until the balancer takes it (or a switch applies one).
      this.#failed(err);
      this.#log.error('the balancer did not take the recorded route table; trying again', { traffic: adapter.kind, error: this.#error });
      this.#scheduleRetry(RETRY_FIRST_MS);
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
    // A retry of the recorded table must not land between this apply and its record: it is taken
    // over here, and scheduled again if this change does not reach the balancer either.
    const retrying = this.#retry !== null;
    this.#cancelRetry();
    try {
      await this.#serial(() => adapter.apply(next));
    } catch (err) {
      const code = isCutoverError(err) ? err.code : 'CUTOVER_E_INTERNAL';
      this.#failed(err);
      if (retrying) this.#scheduleRetry(RETRY_FIRST_MS);
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
      await this.#serial(() => adapter.apply(prev)).catch((e: Error) => {
        this.#failed(e);
        this.#error = `the balancer serves generation ${next.generation}, which the store did not record: ${e.message}; trying again, or run cutover switch`;
        this.#log.error('putting the balancer back failed; trying again', { error: e.message });
        this.#scheduleRetry(RETRY_FIRST_MS);
      });
      throw err;
    }
    this.#error = null;
    this.#errorCode = null;
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
      // While a retry waits, the error that caused it stays: the balancer answers but does not serve the table yet.
      if (this.#retry === null) {
        this.#error = null;
        this.#errorCode = null;
      }
    } catch (err) {
      this.#failed(err);
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
      errorCode: this.#errorCode,
      retryAt: this.#retry === null ? null : new Date(this.#retry.at).toISOString(),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#cancelRetry();
    await this.#applying.catch(() => {});
    await this.#adapter?.close();
  }

  #failed(err: unknown): void {
    this.#error = (err as Error).message;
    this.#errorCode = isCutoverError(err) ? err.code : 'CUTOVER_E_INTERNAL';
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#applying.then(fn, fn);
    this.#applying = p.catch(() => {});
    return p;
  }

  /** Applies the recorded route table again after `delay`, doubling the delay each time the balancer does not take it. */
  #scheduleRetry(delay: number): void {
    const adapter = this.#adapter;
    if (adapter === null || this.#closed) return;
    this.#cancelRetry();
    const timer = setTimeout(() => {
      void this.#serial(async () => {
        if (this.#retry?.timer !== timer) return; // a commit applied a route table meanwhile
        const state = this.#current();
        if (state === null) return;
        try {
          await adapter.apply(state);
        } catch (err) {
          this.#failed(err);
          this.#scheduleRetry(Math.min(RETRY_MAX_MS, delay * 2));
          return;
        }
        this.#retry = null;
        this.#error = null;
        this.#errorCode = null;
        this.#log.info('the balancer took the recorded route table', { traffic: adapter.kind, generation: state.generation });
      }).then(() => this.refresh());
    }, delay);
    timer.unref();
    this.#retry = { timer, at: Date.now() + delay, delay };
  }

  #cancelRetry(): void {
    if (this.#retry !== null) clearTimeout(this.#retry.timer);
    this.#retry = null;
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
