// /metrics for Prometheus. Everything is read at scrape time from what the daemon already keeps (the
// routers' per-slot counters, route state, target health, the store), so the request path does no
// work for it. prom-client writes the exposition; the latency histogram is the router's own, folded
// from its 88 fine buckets into a few `le` bounds.
import { Counter, Gauge, Registry } from 'prom-client';
import type { SlotName } from '../config/types.ts';
import type { ControlPlane } from './control.ts';
import { BUCKETS, bucketUpperMs } from '../router/metrics.ts';
import { PHASES } from '../lifecycle.ts';
import type { Phase } from '../store/types.ts';

/** The histogram's `le` bounds, in seconds: each counts the router's buckets whose upper bound is at most it. */
export const LE_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const SLOTS: readonly SlotName[] = ['blue', 'green'];
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
/** Events read per store call while counting rollbacks. */
const EVENT_PAGE = 1000;

/** For bucket i of the router's histogram: the index in LE_SECONDS of the first bound it fits under. */
const LE_OF_BUCKET: number[] = Array.from({ length: BUCKETS }, (_, i) => {
  const upperS = bucketUpperMs(i) / 1000;
  const k = LE_SECONDS.findIndex((le) => upperS <= le * (1 + 1e-9));
  return k === -1 ? LE_SECONDS.length : k;
});

interface HistogramValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/** Cumulative `le` counts (then +Inf), the sum in seconds and the count, of one slot's histogram. */
export function foldHistogram(latency: readonly number[], sumMs: number): { buckets: number[]; sum: number; count: number } {
  const per = new Array<number>(LE_SECONDS.length + 1).fill(0);
  let count = 0;
  latency.forEach((c, i) => {
    per[LE_OF_BUCKET[i]!]! += c;
    count += c;
  });
  let running = 0;
  const buckets = per.map((c) => (running += c));
  return { buckets, sum: sumMs / 1000, count };
}

export class MetricsExporter {
  readonly registry = new Registry();
  private readonly daemon: ControlPlane;
  private readonly requests: Counter;
  private readonly upstreamErrors: Counter;
  private readonly inFlight: Gauge;
  private readonly healthy: Gauge;
  private readonly live: Gauge;
  private readonly weight: Gauge;
  private readonly generation: Gauge;
  private readonly routerGeneration: Gauge;
  private readonly connections: Gauge;
  private readonly phase: Gauge;
  private readonly rollbacks: Counter;
  private readonly processUp: Gauge;
  private readonly processGeneration: Gauge;
  private readonly processStart: Gauge;
  private readonly processRestarts: Counter;
  private readonly controllers: Gauge;
  private histogram: HistogramValue[] = [];
  /** Rollbacks seen in the store's events so far, per service, and the last event read. */
  private readonly rolledBack = new Map<string, number>();
  private lastSeq = 0;
  /** Scrapes run one after another: each refreshes the values, then writes them. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(daemon: ControlPlane) {
    this.daemon = daemon;
    const registers = [this.registry];
    const sl = ['service', 'slot'];
    this.requests = new Counter({
      name: 'cutover_requests_total',
      help: 'Requests the router answered, by service, slot and status class.',
      labelNames: [...sl, 'class'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'cutover_upstream_errors_total',
      help: 'Requests that failed at the upstream (connect, reset, timeout).',
      labelNames: sl,
      registers,
    });
    this.inFlight = new Gauge({ name: 'cutover_requests_in_flight', help: 'Requests in progress.', labelNames: sl, registers });
    this.registry.registerMetric({
      name: 'cutover_request_duration_seconds',
      get: async () => ({
        name: 'cutover_request_duration_seconds',
        help: 'Time from request to the end of the response, by service and slot.',
        type: 'histogram',
        values: this.histogram,
        aggregator: 'sum',
      }),
    } as never);
    this.healthy = new Gauge({
      name: 'cutover_target_healthy',
      help: '1 when the target passes its health check.',
      labelNames: [...sl, 'target'],
      registers,
    });
    this.live = new Gauge({ name: 'cutover_live_slot', help: '1 for the slot that is live.', labelNames: sl, registers });
    this.weight = new Gauge({ name: 'cutover_slot_weight_percent', help: 'Share of live traffic per slot.', labelNames: sl, registers });
    this.generation = new Gauge({
      name: 'cutover_route_generation',
      help: 'Generation of the stored route state.',
      labelNames: ['service'],
      registers,
    });
    this.routerGeneration = new Gauge({
      name: 'cutover_router_generation',
      help: 'Generation the router serves (every worker).',
      labelNames: ['service'],
      registers,
    });
    this.connections = new Gauge({
      name: 'cutover_client_connections',
      help: 'Open client connections on the router.',
      labelNames: ['service'],
      registers,
    });
    this.phase = new Gauge({
      name: 'cutover_release_phase',
      help: '1 for the phase of the current (or latest) release.',
      labelNames: ['service', 'phase'],
      registers,
    });
    this.rollbacks = new Counter({
      name: 'cutover_rollbacks_total',
      help: 'Releases that ended rolled back (automatic or by an operator).',
      labelNames: ['service'],
      registers,
    });
    const wl = ['service', 'worker'];
    this.processUp = new Gauge({ name: 'cutover_router_process_up', help: '1 while the router process runs.', labelNames: wl, registers });
    this.processGeneration = new Gauge({
      name: 'cutover_router_process_generation',
      help: 'Generation the router process serves.',
      labelNames: wl,
      registers,
    });
    this.processStart = new Gauge({
      name: 'cutover_router_process_start_time_seconds',
      help: 'When the router process started (its uptime is time() minus this).',
      labelNames: wl,
      registers,
    });
    this.processRestarts = new Counter({
      name: 'cutover_router_process_restarts_total',
      help: 'Times the supervisor started the router process again after it died.',
      labelNames: wl,
      registers,
    });
    this.controllers = new Gauge({
      name: 'cutover_supervisor_controllers',
      help: 'Controllers attached to the supervisor (0: the routers serve their last table alone).',
      registers,
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. */
  scrape(): Promise<string> {
    const p = this.queue.then(async () => {
      await this.refresh();
      return this.registry.metrics();
    });
    this.queue = p.catch(() => {});
    return p;
  }

  private async refresh(): Promise<void> {
    const store = this.daemon.store();
    const runtimes = this.daemon.services();
    const [routers, phases, , supervisor] = await Promise.all([
      Promise.all(runtimes.map((rt) => rt.metrics())),
      Promise.all(
        runtimes.map(async (rt) => (await store.activeRelease(rt.name)) ?? (await store.listReleases(rt.name, { limit: 1 }))[0] ?? null),
      ),
      this.countRollbacks(),
      this.daemon.supervisor(),
    ]);
    for (const m of [
      this.requests,
      this.upstreamErrors,
      this.inFlight,
      this.healthy,
      this.live,
      this.weight,
      this.generation,
      this.routerGeneration,
      this.connections,
      this.phase,
      this.rollbacks,
      this.processUp,
      this.processGeneration,
      this.processStart,
      this.processRestarts,
      this.controllers,
    ])
      m.reset();
    if (supervisor !== null) {
      this.controllers.set(supervisor.controllers);
      for (const g of supervisor.routers) {
        for (const p of g.processes) {
          const labels = { service: g.service, worker: String(p.worker) };
          this.processUp.set(labels, p.pid === null ? 0 : 1);
          this.processGeneration.set(labels, p.generation);
          this.processStart.set(labels, Date.parse(p.startedAt) / 1000);
          this.processRestarts.inc(labels, p.restarts);
        }
      }
    }
    const histogram: HistogramValue[] = [];
    runtimes.forEach((rt, k) => {
      const service = rt.name;
      const state = rt.routeState();
      const router = routers[k]!;
      for (const slot of SLOTS) {
        const s = router.slots[slot];
        const labels = { service, slot };
        CLASSES.forEach((cls, i) => this.requests.inc({ ...labels, class: cls }, s.status[i + 1] ?? 0));
        this.upstreamErrors.inc(labels, s.upstreamErrors);
        this.inFlight.set(labels, s.inFlight);
        this.live.set(labels, state.live === slot ? 1 : 0);
        this.weight.set(labels, state.weights[slot]);
        for (const target of state.slots[slot].targets) this.healthy.set({ ...labels, target }, rt.targetHealth(target)?.healthy ? 1 : 0);
        const h = foldHistogram(s.latency, s.latencySum);
        h.buckets.forEach((value, i) =>
          histogram.push({
            metricName: 'cutover_request_duration_seconds_bucket',
            labels: { ...labels, le: i < LE_SECONDS.length ? LE_SECONDS[i]! : '+Inf' },
            value,
          }),
        );
        histogram.push({ metricName: 'cutover_request_duration_seconds_sum', labels, value: h.sum });
        histogram.push({ metricName: 'cutover_request_duration_seconds_count', labels, value: h.count });
      }
      this.generation.set({ service }, state.generation);
      this.routerGeneration.set({ service }, router.generation);
      this.connections.set({ service }, router.connections);
      const current: Phase | null = phases[k]?.phase ?? null;
      for (const phase of PHASES) this.phase.set({ service, phase }, phase === current ? 1 : 0);
      this.rollbacks.inc({ service }, this.rolledBack.get(service) ?? 0);
    });
    this.histogram = histogram;
  }

  /** Reads only the events written since the last scrape. */
  private async countRollbacks(): Promise<void> {
    const store = this.daemon.store();
    for (;;) {
      const events = await store.events({ afterSeq: this.lastSeq, limit: EVENT_PAGE });
      for (const e of events) {
        if (e.type === 'phase' && e.phase === 'rolled-back') this.rolledBack.set(e.service, (this.rolledBack.get(e.service) ?? 0) + 1);
        this.lastSeq = e.seq;
      }
      if (events.length < EVENT_PAGE) return;
    }
  }
}
