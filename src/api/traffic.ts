// Recent per-slot traffic for the dashboard's charts: request rate, error rate and p99 per second.
// It samples the routers' counters (as /metrics does) only while a dashboard has asked within the
// last minute, so it costs nothing when nobody looks, and never touches the request path. Beside the
// points, the marks the charts draw as vertical lines: every switch of traffic and every rollback.
import type { SlotName } from '../config/types.ts';
import type { StoreEvent } from '../store/types.ts';
import type { ControlPlane } from './control.ts';
import { diffSnapshot, quantileMs, type SlotMetricsSnapshot } from '../router/metrics.ts';
import type { Route } from './routes.ts';

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

/** A moment the charts mark: traffic moved (`switch`) or went back to the old slot (`rollback`). */
export interface ChartMark {
  /** Epoch milliseconds. */
  t: number;
  kind: 'switch' | 'rollback';
  /** Short, for the chart: `→ green`, `green 20%`, `rollback → blue`. */
  label: string;
  slot: SlotName | null;
}

/** How far back marks are looked for: the charts' longest span. */
const MARK_SPAN = KEEP * SAMPLE_INTERVAL;
/** A rollback's switch is recorded within this of its release's rolled-back phase. */
const SAME_MOMENT = 5000;

type Weights = Record<SlotName, number>;

/**
 * The marks since `since`, oldest first, from the service's events: a `switch` event that changed who
 * takes the traffic (live slot or weights; preview and mirror changes are not marked), labelled as a
 * rollback when its release was rolled back at that moment.
 */
export function chartMarks(events: readonly StoreEvent[], since: number): ChartMark[] {
  const asc = [...events].sort((a, b) => a.seq - b.seq);
  // A rollback's switch: of its release's switches, the one recorded next to its rolled-back phase.
  const rollbacks = new Set<number>();
  for (const r of asc.filter((e) => e.type === 'phase' && e.phase === 'rolled-back' && e.releaseId !== null)) {
    const near = asc
      .filter((e) => e.type === 'switch' && e.releaseId === r.releaseId && Math.abs(Date.parse(e.time) - Date.parse(r.time)) <= SAME_MOMENT)
      .sort((a, b) => Math.abs(a.seq - r.seq) - Math.abs(b.seq - r.seq))[0];
    if (near) rollbacks.add(near.seq);
  }
  const marks: ChartMark[] = [];
  let before: Weights | null = null;
  for (const e of asc) {
    if (e.type !== 'switch') continue;
    const t = Date.parse(e.time);
    // switchTo and clearLive name the slot all traffic goes to (`to`); setRoutes carries the weights.
    const to = 'to' in e.data ? (e.data.to as SlotName | null) : undefined;
    const w = e.data.weights as Weights | undefined;
    const now: Weights | null =
      to !== undefined ? { blue: to === 'blue' ? 100 : 0, green: to === 'green' ? 100 : 0 } : w ? { blue: w.blue, green: w.green } : null;
    if (now === null) continue;
    const split = now.blue > 0 && now.green > 0;
    // The first event seen is a move when it says so (a switch) or splits traffic; a later one when the weights changed.
    const moved = before === null ? to !== undefined || split : now.blue !== before.blue || now.green !== before.green;
    before = now;
    if (!moved || t < since) continue;
    const rollback = rollbacks.has(e.seq);
    // While split, the slot that gains is the one that is not live (the release's new slot).
    const slot: SlotName | null = split
      ? e.data.live === 'blue'
        ? 'green'
        : 'blue'
      : now.blue === 100
        ? 'blue'
        : now.green === 100
          ? 'green'
          : null;
    const label = slot === null ? 'no live slot' : split ? `${slot} ${now[slot]}%` : `${rollback ? 'rollback ' : ''}→ ${slot}`;
    marks.push({ t, kind: rollback ? 'rollback' : 'switch', label, slot });
  }
  return marks;
}

/** GET /api/v1/services/{service}/traffic: what the dashboard's charts draw. */
export function trafficRoute(daemon: ControlPlane, sampler: TrafficSampler): Route {
  return {
    method: 'GET',
    path: '/api/v1/services/{service}/traffic',
    role: 'viewer',
    summary:
      'per-slot request rate, error rate and p99 of the last five minutes, one point a second (sampled while a dashboard looks), and marks: the switches and rollbacks in that time',
    handler: async (c) => {
      const name = daemon.service(c.params.service!).name;
      const answer = await sampler.points(name);
      const events = await daemon.store().events({ service: name, order: 'desc', limit: 1000 });
      return { ...answer, marks: chartMarks(events, Date.now() - MARK_SPAN) };
    },
  };
}
