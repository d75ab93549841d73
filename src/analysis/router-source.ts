// The router's own per-slot counters as a metric source. The counters only grow, so a window is the
// difference of two snapshots: a ring keeps one every `interval` (and one at every checkpoint), and a
// measurement diffs a fresh snapshot against the newest one taken at or before the window's start.
import type { AnalysisRule, SlotName } from '../config/types.ts';
import { bucketUpperMs, diffSnapshot, quantileMs, type SlotMetricsSnapshot } from '../router/metrics.ts';
import type { MeasureWindow, Measurement, MetricSource } from './types.ts';

/** What RouterHost.metrics() resolves to, or any function that gives the same per-slot snapshots. */
export type SlotSnapshots = { slots: Record<SlotName, SlotMetricsSnapshot> };
export type SnapshotReader = () => SlotSnapshots | Promise<SlotSnapshots>;

export type RouterSourceOptions = {
  /** How often the ring takes a snapshot; the analysis interval is a good value. */
  interval: number;
  /** How far back windows can reach; at least the longest analysis window plus its baseline. */
  retain?: number;
  now?: () => number;
};

export const DEFAULT_RETAIN_MS = 15 * 60_000;
/**
 * Snapshots of the last DENSE_MS are all kept (ticks every 100 ms look back about a second); older
 * ones only SPARSE_MS apart, so a 15-minute ring at a 100 ms interval holds ~900 snapshots, not 9,000.
 * Checkpoints (a run's start) are always kept: a whole-window measurement starts exactly there.
 */
const DENSE_MS = 10_000;
const SPARSE_MS = 1000;

type Entry = { at: number; slots: Record<SlotName, SlotMetricsSnapshot>; pinned?: boolean };

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
  metric: Exclude<AnalysisRule['metric'], 'prometheus'>,
  d: SlotMetricsSnapshot,
  slowAfterMs?: number,
): { value: number | null; samples: number } {
  if (metric === 'error_rate') return { value: errorRate(d), samples: Math.max(0, d.requests) };
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
  private readonly read: SnapshotReader;
  private readonly interval: number;
  private readonly retain: number;
  private readonly now: () => number;
  private readonly ring: Entry[] = [];
  private pending: Promise<Entry> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** ring[0..sparseEnd) is already thinned. */
  private sparseEnd = 1;

  constructor(read: SnapshotReader, opts: RouterSourceOptions) {
    this.read = read;
    this.interval = Math.max(1, opts.interval);
    this.retain = opts.retain ?? DEFAULT_RETAIN_MS;
    this.now = opts.now ?? Date.now;
  }

  /** Takes the first snapshot and one every interval after, until close(). */
  async start(): Promise<void> {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      this.take().catch(() => {}); // a missed snapshot only widens a window; measure() reports read errors
    }, this.interval);
    this.timer.unref();
    await this.take();
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  async checkpoint(): Promise<void> {
    (await this.take()).pinned = true;
  }

  /** How many snapshots the ring holds now. */
  get size(): number {
    return this.ring.length;
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
    if (rule.metric === 'prometheus') return failed('the router source cannot run PromQL; give the analysis a Prometheus source');
    let latest: Entry;
    try {
      latest = await this.take();
    } catch (err) {
      return failed(`reading the router's counters failed: ${(err as Error).message}`);
    }
    const earlier = this.boundary(w.sinceMs, latest);
    const d = diffSnapshot(latest.slots[w.slot], earlier.slots[w.slot]);
    if (d.requests < 0 || d.status.some((c) => c < 0)) {
      // A worker that did not answer in time leaves its counts out of one snapshot.
      return failed("the router's counters went backwards (a router worker restarted or did not answer); measuring again next interval");
    }
    const { value, samples } = valueOf(rule.metric, d, rule.max);
    return { rule, slot: w.slot, value, samples, at: iso(latest.at), from: iso(earlier.at) };
  }

  /** The newest snapshot taken at or before `since`; the oldest one when the ring does not reach back that far. */
  private boundary(since: number, latest: Entry): Entry {
    const i = this.ring.indexOf(latest);
    for (let j = (i < 0 ? this.ring.length : i) - 1; j >= 0; j--) {
      const e = this.ring[j] as Entry;
      if (e.at <= since) return e;
    }
    return this.ring[0] ?? latest;
  }

  /** Entries older than DENSE_MS that follow the one before them by less than SPARSE_MS go (not pinned ones). */
  private thin(now: number): void {
    if (this.sparseEnd < 1) this.sparseEnd = 1;
    while (this.sparseEnd < this.ring.length - 1) {
      const e = this.ring[this.sparseEnd] as Entry;
      if (e.at > now - DENSE_MS) break;
      const prev = this.ring[this.sparseEnd - 1] as Entry;
      if (!e.pinned && e.at - prev.at < SPARSE_MS) this.ring.splice(this.sparseEnd, 1);
      else this.sparseEnd++;
    }
  }

  /** One snapshot now; callers that ask while a read is running share it. */
  private take(): Promise<Entry> {
    if (this.pending !== null) return this.pending;
    const p = (async (): Promise<Entry> => {
      try {
        const m = await this.read();
        const e: Entry = { at: this.now(), slots: { blue: m.slots.blue, green: m.slots.green } };
        this.ring.push(e);
        const cutoff = e.at - this.retain;
        while (this.ring.length > 2 && (this.ring[1] as Entry).at <= cutoff) {
          this.ring.shift();
          this.sparseEnd = Math.max(1, this.sparseEnd - 1);
        }
        this.thin(e.at);
        return e;
      } finally {
        this.pending = null;
      }
    })();
    this.pending = p;
    return p;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
