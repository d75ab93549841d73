// Per-slot counters and a latency histogram, kept with a few integer adds per request. The analysis
// reads them in memory by diffing snapshots over its window; /metrics exposes them for Prometheus.

/** Bucket i holds latencies in [BASE * GROWTH^i, BASE * GROWTH^(i+1)) milliseconds: ~19% wide. */
const BASE_MS = 0.05;
const STEPS_PER_DOUBLING = 4;
export const BUCKETS = 88; // up to ~0.05 ms * 2^22 = 210 s; the last bucket takes everything above
const LOG_FACTOR = STEPS_PER_DOUBLING / Math.LN2;

export function bucketOf(ms: number): number {
  if (ms <= BASE_MS) return 0;
  const i = Math.floor(Math.log(ms / BASE_MS) * LOG_FACTOR);
  return i >= BUCKETS ? BUCKETS - 1 : i;
}

/** The upper bound of bucket i, in milliseconds. */
export function bucketUpperMs(i: number): number {
  return BASE_MS * 2 ** ((i + 1) / STEPS_PER_DOUBLING);
}

export interface SlotMetricsSnapshot {
  requests: number;
  /** Responses by status class: index 1..5 for 1xx..5xx. */
  status: number[];
  upstreamErrors: number;
  inFlight: number;
  latency: number[];
  latencySum: number;
  /**
   * A gauge like inFlight: how long each request in flight has been running, by latency bucket, at
   * the snapshot. Absent from a router that does not report it (an older fleet router).
   */
  inFlightAge?: number[];
}

export class SlotMetrics {
  requests = 0;
  readonly status = new Float64Array(6);
  upstreamErrors = 0;
  inFlight = 0;
  readonly latency = new Float64Array(BUCKETS);
  latencySum = 0;

  /** One finished request: its status (the router's own 5xx included) and its latency. */
  record(status: number, ms: number): void {
    this.requests++;
    this.status[(status / 100) | 0]!++;
    this.latency[bucketOf(ms)]!++;
    this.latencySum += ms;
  }

  snapshot(): SlotMetricsSnapshot {
    return {
      requests: this.requests,
      status: Array.from(this.status),
      upstreamErrors: this.upstreamErrors,
      inFlight: this.inFlight,
      latency: Array.from(this.latency),
      latencySum: this.latencySum,
    };
  }
}

export function emptySnapshot(): SlotMetricsSnapshot {
  return { requests: 0, status: [0, 0, 0, 0, 0, 0], upstreamErrors: 0, inFlight: 0, latency: new Array(BUCKETS).fill(0), latencySum: 0 };
}

/** Adds b into a (worker processes' snapshots are summed by the daemon). */
export function addSnapshot(a: SlotMetricsSnapshot, b: SlotMetricsSnapshot): SlotMetricsSnapshot {
  return {
    requests: a.requests + b.requests,
    status: a.status.map((v, i) => v + (b.status[i] ?? 0)),
    upstreamErrors: a.upstreamErrors + b.upstreamErrors,
    inFlight: a.inFlight + b.inFlight,
    latency: a.latency.map((v, i) => v + (b.latency[i] ?? 0)),
    latencySum: a.latencySum + b.latencySum,
    ...(a.inFlightAge !== undefined || b.inFlightAge !== undefined ? { inFlightAge: addCounts(a.inFlightAge, b.inFlightAge) } : {}),
  };
}

function addCounts(a: number[] | undefined, b: number[] | undefined): number[] {
  const out = new Array<number>(BUCKETS).fill(0);
  for (let i = 0; i < BUCKETS; i++) out[i] = (a?.[i] ?? 0) + (b?.[i] ?? 0);
  return out;
}

/** What happened between two snapshots (the later minus the earlier). */
export function diffSnapshot(later: SlotMetricsSnapshot, earlier: SlotMetricsSnapshot): SlotMetricsSnapshot {
  return {
    requests: later.requests - earlier.requests,
    status: later.status.map((v, i) => v - (earlier.status[i] ?? 0)),
    upstreamErrors: later.upstreamErrors - earlier.upstreamErrors,
    inFlight: later.inFlight,
    latency: later.latency.map((v, i) => v - (earlier.latency[i] ?? 0)),
    latencySum: later.latencySum - earlier.latencySum,
    ...(later.inFlightAge !== undefined ? { inFlightAge: [...later.inFlightAge] } : {}),
  };
}

/** The q-quantile (0..1) of a histogram in milliseconds, interpolated inside its bucket; NaN when empty. */
export function quantileMs(latency: number[], q: number): number {
  let total = 0;
  for (const c of latency) total += c;
  if (total === 0) return NaN;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < latency.length; i++) {
    const c = latency[i] as number;
    if (c > 0 && seen + c >= rank) {
      const lower = i === 0 ? 0 : bucketUpperMs(i - 1);
      const upper = bucketUpperMs(i);
      return lower + ((rank - seen) / c) * (upper - lower);
    }
    seen += c;
  }
  return bucketUpperMs(latency.length - 1);
}
