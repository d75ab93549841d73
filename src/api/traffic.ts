// Recent per-slot traffic for the dashboard's charts: request rate, error rate and p99 per second.
// It samples the routers' counters (as /metrics does) only while a dashboard has asked within the
// last minute, so it costs nothing when nobody looks, and never touches the request path.
import type { SlotName } from '../config/types.ts';
import type { ControlPlane } from './control.ts';
import { diffSnapshot, quantileMs, type SlotMetricsSnapshot } from '../router/metrics.ts';
import type { Route } from './server.ts';

export const SAMPLE_INTERVAL = 1000;
/** Points kept per service: five minutes at one a second. */
const KEEP = 300;
/** Sampling stops this long after the last request for the data. */
const IDLE_AFTER = 60_000;

export interface SlotPoint {
  /** Requests per second. */
  rate: number;
  /** Share of answers that were 5xx, 0..1; null without requests. */
  errorRate: number | null;
  /** Milliseconds; null without requests. */
  p99: number | null;
}

export interface TrafficPoint {
  /** Epoch milliseconds at the end of the interval. */
  t: number;
  blue: SlotPoint;
  green: SlotPoint;
}

export class TrafficSampler {
  private readonly daemon: ControlPlane;
  private readonly series = new Map<string, TrafficPoint[]>();
  private readonly last = new Map<string, { t: number; slots: Record<SlotName, SlotMetricsSnapshot> }>();
  private timer: NodeJS.Timeout | null = null;
  private wantedUntil = 0;
  private sampling = false;

  constructor(daemon: ControlPlane) {
    this.daemon = daemon;
  }

  /** The points so far (and sampling goes on for a minute). */
  async points(service: string): Promise<{ interval: number; points: TrafficPoint[] }> {
    this.wantedUntil = Date.now() + IDLE_AFTER;
    if (this.timer === null) {
      await this.sample();
      this.timer = setInterval(() => void this.sample(), SAMPLE_INTERVAL);
      this.timer.unref();
    }
    return { interval: SAMPLE_INTERVAL, points: this.series.get(service) ?? [] };
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async sample(): Promise<void> {
    if (Date.now() > this.wantedUntil) {
      // Nobody looks: stop, and forget, so a later look does not draw a gap as a line.
      this.close();
      this.last.clear();
      this.series.clear();
      return;
    }
    if (this.sampling) return;
    this.sampling = true;
    try {
      await Promise.all(
        this.daemon.services().map(async (rt) => {
          const m = await rt.metrics();
          const t = Date.now();
          const name = rt.name;
          const prev = this.last.get(name);
          this.last.set(name, { t, slots: m.slots });
          if (!prev) return;
          const secs = (t - prev.t) / 1000;
          const point = (slot: SlotName): SlotPoint => {
            const d = diffSnapshot(m.slots[slot], prev.slots[slot]);
            // A router restart resets its counters: no point rather than a negative one.
            if (d.requests <= 0) return { rate: Math.max(0, d.requests) / secs, errorRate: null, p99: null };
            return { rate: d.requests / secs, errorRate: (d.status[5] ?? 0) / d.requests, p99: quantileMs(d.latency, 0.99) };
          };
          const list = this.series.get(name) ?? [];
          list.push({ t, blue: point('blue'), green: point('green') });
          if (list.length > KEEP) list.splice(0, list.length - KEEP);
          this.series.set(name, list);
        }),
      );
    } catch {
      // A service that is restarting has no metrics this second; the chart shows a gap.
    } finally {
      this.sampling = false;
    }
  }
}

/** GET /api/v1/services/{service}/traffic: what the dashboard's charts draw. */
export function trafficRoute(daemon: ControlPlane, sampler: TrafficSampler): Route {
  return {
    method: 'GET',
    path: '/api/v1/services/{service}/traffic',
    role: 'viewer',
    summary: 'per-slot request rate, error rate and p99 of the last five minutes, one point a second (sampled while a dashboard looks)',
    handler: async (c) => sampler.points(daemon.service(c.params.service!).name),
  };
}
