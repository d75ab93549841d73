// The fleet's per-slot counters, for the analysis of a controller that routes nothing itself: every
// router publishes its counters under `<p>/router-metrics/<id>` (bound to its lease) every second, and
// the controller sums them. The sum must only grow, as the analysis diffs it over windows: a router
// that restarts (its counters start again) or goes away leaves its last counters in a retired total.
import type { Etcd3 } from 'etcd3';
import { addSnapshot, emptySnapshot, type SlotMetricsSnapshot } from '../router/metrics.ts';
import type { RouterMetrics } from '../router/router.ts';
import { prefixRange } from '../store/etcd-keys.ts';
import { parseJson } from './keys.ts';

/** How often a router publishes its counters. */
export const METRICS_PUBLISH_MS = 1000;
const READ_TIMEOUT_MS = 2000;

type Slots = RouterMetrics['slots'];

/** What a router publishes: its counters per service, and when it started (a new start resets them). */
export interface RouterCounters {
  since: string;
  services: Record<string, { slots: Slots; connections: number }>;
}

export function metricsDir(prefix: string): string {
  return `${prefix.replace(/\/+$/, '')}/router-metrics/`;
}

export class FleetMetrics {
  readonly #client: Etcd3;
  readonly #dir: string;
  readonly #service: string;
  /** The last counters seen per router (keyed by id and start), and what gone routers left. */
  readonly #last = new Map<string, { since: string; slots: Slots }>();
  #retired: Slots = { blue: emptySnapshot(), green: emptySnapshot() };
  #lastSum: RouterMetrics = { generation: 0, slots: { blue: emptySnapshot(), green: emptySnapshot() }, connections: 0 };

  constructor(client: Etcd3, prefix: string, service: string) {
    this.#client = client;
    this.#dir = metricsDir(prefix);
    this.#service = service;
  }

  /** The summed counters of every router of the service; the last sum when etcd does not answer. */
  async read(): Promise<RouterMetrics> {
    const kvs = await this.#client.kv.range({ ...prefixRange(this.#dir) }, { deadline: Date.now() + READ_TIMEOUT_MS }).then(
      (r) => r.kvs,
      () => null,
    );
    if (kvs === null) return this.#lastSum;
    const seen = new Set<string>();
    let slots: Slots = { blue: emptySnapshot(), green: emptySnapshot() };
    let connections = 0;
    for (const kv of kvs) {
      const id = kv.key.toString().slice(this.#dir.length);
      const c = parseJson<RouterCounters>(kv.value);
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
