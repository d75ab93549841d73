// The fleet's per-slot counters, for the analysis of a controller that routes nothing itself: every
// router publishes its counters under `<p>/router-metrics/<id>` (bound to its lease) every second, and
// the controller sums them. The sum must only grow, as the analysis diffs it over windows: a router
// that restarts (its counters start again) or goes away leaves its last counters in a retired total.
import { addSnapshot, emptySnapshot, type SlotMetricsSnapshot } from '../router/metrics.ts';
import type { RouterMetrics } from '../router/router.ts';
import type { FleetLink } from '../store/fleet-link.ts';
import { METRICS_DIR, parseJson } from './keys.ts';

/** How often a router publishes its counters. */
export const METRICS_PUBLISH_MS = 1000;
const READ_TIMEOUT_MS = 2000;

type Slots = RouterMetrics['slots'];

/** What a router publishes: its counters per service, and when it started (a new start resets them). */
export interface RouterCounters {
  since: string;
  services: Record<string, { slots: Slots; connections: number }>;
}

export class FleetMetrics {
  readonly #link: FleetLink;
  readonly #service: string;
  /** The last counters seen per router (keyed by id and start), and what gone routers left. */
  readonly #last = new Map<string, { since: string; slots: Slots }>();
  #retired: Slots = { blue: emptySnapshot(), green: emptySnapshot() };
  #lastSum: RouterMetrics = { generation: 0, slots: { blue: emptySnapshot(), green: emptySnapshot() }, connections: 0 };

  constructor(link: FleetLink, service: string) {
    this.#link = link;
    this.#service = service;
  }

  /** The summed counters of every router of the service; the last sum when etcd does not answer. */
  async read(): Promise<RouterMetrics> {
    const entries = await this.#link.list(METRICS_DIR, READ_TIMEOUT_MS).then(
      (r) => r.entries,
      () => null,
    );
    if (entries === null) return this.#lastSum;
    const seen = new Set<string>();
    let slots: Slots = { blue: emptySnapshot(), green: emptySnapshot() };
    let connections = 0;
    for (const entry of entries) {
      const id = entry.key.slice(METRICS_DIR.length);
      const c = parseJson<RouterCounters>(entry.value);
      const mine = c?.services[this.#service];
      if (c === null || mine === undefined) continue;
      seen.add(id);
      const before = this.#last.get(id);
      if (
        before !== undefined &&
        (before.since !== c.since ||
          mine.slots.blue.requests < before.slots.blue.requests ||
          mine.slots.green.requests < before.slots.green.requests)
      ) {
        this.#retire(before.slots);
      }
      this.#last.set(id, { since: c.since, slots: mine.slots });
      slots = add(slots, mine.slots);
      connections += mine.connections;
    }
    for (const [id, before] of this.#last) {
      if (!seen.has(id)) {
        this.#retire(before.slots);
        this.#last.delete(id);
      }
    }
    this.#lastSum = { generation: 0, slots: add(slots, this.#retired), connections };
    return this.#lastSum;
  }

  #retire(slots: Slots): void {
    const done = (s: SlotMetricsSnapshot): SlotMetricsSnapshot => ({ ...s, inFlight: 0 });
    this.#retired = add(this.#retired, { blue: done(slots.blue), green: done(slots.green) });
  }
}

function add(a: Slots, b: Slots): Slots {
  return { blue: addSnapshot(a.blue, b.blue), green: addSnapshot(a.green, b.green) };
}
