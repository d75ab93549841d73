// An external balancer's per-server counters as the source of the built-in metrics. Behind HAProxy,
// users' requests never pass cutover's router, so the router's counters would judge a bad version on
// no evidence: this source reads the balancer's own counters (HAProxy's `show stat`) instead, sums
// them per slot and diffs two snapshots for a window, like the router source. Counters are diffed
// per server: a server that appears counts from 0, and after a balancer restart (a new process) the
// counts start again from 0 rather than going backwards.
import type { AnalysisRule, SlotName } from '../config/types.ts';
import type { BalancerCounters, ServerCounters } from '../traffic/types.ts';
import { formatValue } from './judge.ts';
import { SnapshotRing, type RingEntry, type RingOptions } from './ring.ts';
import type { MeasureWindow, Measurement, MetricSource } from './types.ts';

export type BalancerSourceOptions = RingOptions & {
  /** The adapter's kind, for messages: `haproxy`. */
  kind: string;
};

/** What the requests of one slot's servers added up to between two snapshots. */
export type SlotDelta = { requests: number; errors: number; meanMs: number | null };

/**
 * Requests and errors of `slot` from `earlier` to `later`, per server. `meanMs` is the balancer's
 * recent average weighted by each server's requests in the window (null when it reports none).
 */
export function deltaOf(later: BalancerCounters, earlier: BalancerCounters, slot: SlotName): SlotDelta {
  const restarted = later.process !== earlier.process;
  let requests = 0;
  let errors = 0;
  let weighted = 0;
  let timed = 0;
  for (const [name, now] of Object.entries(later.slots[slot])) {
    const before: ServerCounters | undefined = restarted ? undefined : earlier.slots[slot][name];
    // A server deleted and added again under the same name (a target reused) starts from 0 as well.
    const fresh = before === undefined || now.requests < before.requests || now.errors < before.errors;
    const r = fresh ? now.requests : now.requests - before.requests;
    const e = fresh ? now.errors : now.errors - before.errors;
    requests += r;
    errors += e;
    if (r > 0 && now.recentMeanMs !== null) {
      weighted += r * now.recentMeanMs;
      timed += r;
    }
  }
  return { requests, errors: Math.min(errors, requests), meanMs: timed > 0 ? weighted / timed : null };
}

export class BalancerSource implements MetricSource {
  private readonly ring: SnapshotRing<BalancerCounters>;
  private readonly kind: string;
  private readonly now: () => number;

  constructor(read: () => Promise<BalancerCounters>, opts: BalancerSourceOptions) {
    this.kind = opts.kind;
    this.now = opts.now ?? Date.now;
    this.ring = new SnapshotRing(read, opts);
  }

  start(): Promise<void> {
    return this.ring.start();
  }

  close(): void {
    this.ring.close();
  }

  checkpoint(): Promise<void> {
    return this.ring.checkpoint();
  }

  async measure(rule: AnalysisRule, w: MeasureWindow): Promise<Measurement> {
    const failed = (error: string): Measurement => ({
      rule,
      slot: w.slot,
      value: null,
      samples: 0,
      error,
      at: new Date(this.now()).toISOString(),
      from: new Date(w.sinceMs).toISOString(),
    });
    if (rule.metric === 'prometheus' || rule.metric === 'web')
      return failed(`the ${this.kind} source cannot measure a ${rule.metric} rule`);
    if (rule.metric !== 'error_rate' && rule.metric !== 'mean') {
      const bound = rule.max !== undefined ? ` (max ${formatValue(rule, rule.max)})` : '';
      return failed(
        `${this.kind} counts no latency quantiles per server (only an average of its recent requests), so ${rule.metric}${bound} cannot be judged behind it; use a mean rule, or measure ${rule.metric} with a prometheus or web rule`,
      );
    }
    let latest: RingEntry<BalancerCounters>;
    try {
      latest = await this.ring.take();
    } catch (err) {
      return failed(`reading ${this.kind}'s counters failed: ${(err as Error).message}`);
    }
    const earlier = this.ring.boundary(w.sinceMs, latest);
    const d = deltaOf(latest.value, earlier.value, w.slot);
    // mean: the balancer's own recent average per server (HAProxy's ttime, over its last 1024
    // requests, which may reach back before the window), weighted by the window's requests.
    const value = rule.metric === 'mean' ? d.meanMs : d.requests > 0 ? d.errors / d.requests : null;
    return {
      rule,
      slot: w.slot,
      value,
      samples: d.requests,
      at: new Date(latest.at).toISOString(),
      from: new Date(earlier.at).toISOString(),
    };
  }
}

/**
 * The built-in metrics behind a balancer that keeps no per-slot counters cutover can read (nginx,
 * Caddy, DNS, a Kubernetes Service): every measurement says so, so the run is inconclusive on no
 * evidence instead of passing on the embedded router's silence.
 */
export class NoEvidenceSource implements MetricSource {
  readonly why: string;
  private readonly now: () => number;

  constructor(kind: string, now: () => number = Date.now) {
    this.now = now;
    this.why = noEvidence(kind);
  }

  async start(): Promise<void> {}

  close(): void {}

  async measure(rule: AnalysisRule, w: MeasureWindow): Promise<Measurement> {
    return {
      rule,
      slot: w.slot,
      value: null,
      samples: 0,
      error: this.why,
      at: new Date(this.now()).toISOString(),
      from: new Date(w.sinceMs).toISOString(),
    };
  }
}

/** Why the built-in metrics have no evidence behind `kind`, and what to configure instead. */
export function noEvidence(kind: string): string {
  return `users' requests go through ${kind}, not cutover's router, and ${kind} offers no per-slot counters cutover reads: the built-in metrics (error_rate, p50, p90, p99, mean) have no evidence behind it; judge the release with a prometheus rule (analysis.prometheus) or a web rule`;
}
