// The router's own per-slot counters as a metric source. The counters only grow, so a window is the
// difference of two snapshots (ring.ts): a measurement diffs a fresh snapshot against the newest one
// taken at or before the window's start.
import type { AnalysisRule, SlotName } from '../config/types.ts';
import { bucketUpperMs, diffSnapshot, quantileMs, type SlotMetricsSnapshot } from '../router/metrics.ts';
import { DEFAULT_RETAIN_MS, SnapshotRing, type RingEntry, type RingOptions } from './ring.ts';
import type { MeasureWindow, Measurement, MetricSource } from './types.ts';

/** What RouterHost.metrics() resolves to, or any function that gives the same per-slot snapshots. */
export type SlotSnapshots = { slots: Record<SlotName, SlotMetricsSnapshot> };
export type SnapshotReader = () => SlotSnapshots | Promise<SlotSnapshots>;

export type RouterSourceOptions = RingOptions;
export { DEFAULT_RETAIN_MS };

const QUANTILES = { p50: 0.5, p90: 0.9, p99: 0.99 } as const;

/**
 * Errors over requests in one window of counters: the responses of class 5xx divided by requests.
 * `upstreamErrors` is deliberately not added: every upstream failure is also answered and recorded
 * by the router as a 502/504 (a response cut mid-body is recorded as a 502 too), so adding it would
 * count each such request twice; and one failing exchange can raise upstreamErrors more than once.
 * So 5xx already means "the user got an error", whoever made it: the upstream or the router.
 */
export function errorRate(d: SlotMetricsSnapshot): number | null {
  if (d.requests <= 0) return null;
  return Math.min(1, (d.status[5] ?? 0) / d.requests);
}

/**
 * The value of a router rule over one window of counters, and the requests behind it. With
 * `slowAfterMs` (a latency rule's max), a request still in flight that has run at least that long is
 * counted as a sample of its age so far: it is slow already, and waiting for its answer (2 s, or
 * never) would delay the verdict by as much. Younger requests in flight are left out: not known yet.
 */
export function valueOf(
  metric: Exclude<AnalysisRule['metric'], 'prometheus' | 'web'>,
  d: SlotMetricsSnapshot,
  slowAfterMs?: number,
): { value: number | null; samples: number } {
  if (metric === 'error_rate') return { value: errorRate(d), samples: Math.max(0, d.requests) };
  if (metric === 'mean') {
    let answered = 0;
    for (const c of d.latency) answered += c;
    return { value: answered > 0 ? d.latencySum / answered : null, samples: answered };
  }
  const latency =
    slowAfterMs === undefined || d.inFlightAge === undefined ? d.latency : withSlowInFlight(d.latency, d.inFlightAge, slowAfterMs);
  let samples = 0;
  for (const c of latency) samples += c;
  const q = quantileMs(latency, QUANTILES[metric]);
  return { value: Number.isNaN(q) ? null : q, samples };
}

/**
 * The finished requests' histogram plus the requests in flight in the buckets that reach past
 * `slowAfterMs` (the bucket holding the threshold included: a bucket is ~19% wide, and waiting for the
 * next one would add as much to the time users see a slow version).
 */
function withSlowInFlight(latency: number[], ages: number[], slowAfterMs: number): number[] {
  return latency.map((c, i) => (bucketUpperMs(i) > slowAfterMs ? c + (ages[i] ?? 0) : c));
}

export class RouterSource implements MetricSource {
  private readonly ring: SnapshotRing<Record<SlotName, SlotMetricsSnapshot>>;
  private readonly now: () => number;

  constructor(read: SnapshotReader, opts: RouterSourceOptions) {
    this.now = opts.now ?? Date.now;
    this.ring = new SnapshotRing(async () => {
      const m = await read();
      return { blue: m.slots.blue, green: m.slots.green };
    }, opts);
  }

  /** Takes the first snapshot and one every interval after, until close(). */
  start(): Promise<void> {
    return this.ring.start();
  }

  close(): void {
    this.ring.close();
  }

  checkpoint(): Promise<void> {
    return this.ring.checkpoint();
  }

  /** How many snapshots the ring holds now. */
  get size(): number {
    return this.ring.size;
  }

  async measure(rule: AnalysisRule, w: MeasureWindow): Promise<Measurement> {
    const at = this.now();
    const failed = (error: string): Measurement => ({
      rule,
      slot: w.slot,
      value: null,
      samples: 0,
      error,
      at: iso(at),
      from: iso(w.sinceMs),
    });
    if (rule.metric === 'prometheus' || rule.metric === 'web') return failed(`the router source cannot measure a ${rule.metric} rule`);
    let latest: RingEntry<Record<SlotName, SlotMetricsSnapshot>>;
    try {
      latest = await this.ring.take();
    } catch (err) {
      return failed(`reading the router's counters failed: ${(err as Error).message}`);
    }
    const earlier = this.ring.boundary(w.sinceMs, latest);
    const d = diffSnapshot(latest.value[w.slot], earlier.value[w.slot]);
    if (d.requests < 0 || d.status.some((c) => c < 0)) {
      // A worker that did not answer in time leaves its counts out of one snapshot.
      return failed("the router's counters went backwards (a router worker restarted or did not answer); measuring again next interval");
    }
    const { value, samples } = valueOf(rule.metric, d, rule.max);
    return { rule, slot: w.slot, value, samples, at: iso(latest.at), from: iso(earlier.at) };
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
