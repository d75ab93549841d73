// One analysis run: measures every rule each interval over a sliding lookback, fails as soon as
// failureLimit ticks in a row fail, and otherwise judges the whole window once at its end. Which runs
// exist (one per shift step, one while observing) is the controller's business; how they are judged
// is judge.ts's.
import type { AnalysisRule, SlotName } from '../config/types.ts';
import { combine, decide, judge, nextFailures } from './judge.ts';
import type {
  AnalysisEvent,
  AnalysisOutcome,
  AnalysisRun,
  AnalysisSettings,
  AnalysisTick,
  Baseline,
  MeasureWindow,
  Measurement,
  RuleResult,
  Sources,
  Verdict,
} from './types.ts';

/** The sliding lookback of a tick, in intervals, unless the run is shorter. */
export const LOOKBACK_INTERVALS = 10;
/** How much of the old slot's recent traffic its baseline covers. */
export const DEFAULT_BASELINE_WINDOW_MS = 60_000;

export type AnalysisRunnerOptions = {
  service: string;
  /** What the run watches, for people: `step 10%`, `observing`. */
  label?: string;
  /** The new slot and the version it runs. */
  slot: SlotName;
  version: string;
  /** `service.analysis` from the config does. */
  settings: AnalysisSettings;
  /** How long the run lasts: analysis.window while observing, the step's hold while shifting. */
  window: number;
  /** How far back each tick looks; default 10 intervals, at most the window. */
  lookback?: number;
  sources: Sources;
  /** A baseline captured earlier (before the first step of a progressive shift, or before a restart). */
  baseline?: Baseline | null;
  /** Called with every baseline, tick and outcome, in order; it must not throw (what it throws is dropped). */
  onEvent?: (e: AnalysisEvent) => void;
  now?: () => number;
};

export function defaultLookback(interval: number, window: number): number {
  return Math.max(interval, Math.min(window, interval * LOOKBACK_INTERVALS));
}

/** Identifies what a rule measures, so a baseline read back from the store still matches its rule. */
function measureKey(rule: AnalysisRule): string {
  return [rule.metric, rule.query ?? '', rule.url ?? '', rule.jsonPath ?? '', rule.body ?? ''].join('\u0000');
}

/** Measures every rule once; a source that throws or is missing gives an error measurement, not an exception. */
export async function measureAll(
  sources: Sources,
  rules: readonly AnalysisRule[],
  w: MeasureWindow,
  now: () => number = Date.now,
): Promise<Measurement[]> {
  return Promise.all(
    rules.map(async (rule): Promise<Measurement> => {
      const failed = (error: string): Measurement => ({
        rule,
        slot: w.slot,
        value: null,
        samples: 0,
        error,
        at: new Date(now()).toISOString(),
        from: new Date(w.sinceMs).toISOString(),
      });
      const source = rule.metric === 'prometheus' ? sources.prometheus : rule.metric === 'web' ? sources.web : sources.router;
      if (source === undefined)
        return failed(
          rule.metric === 'web' ? 'no web source is configured' : 'no Prometheus source is configured; set analysis.prometheus.url',
        );
      try {
        return await source.measure(rule, w);
      } catch (err) {
        return failed(`measuring failed: ${(err as Error).message}`);
      }
    }),
  );
}

/** Measures the old slot's recent traffic for every rule with a `baseline`: call it just before the shift. */
export async function captureBaseline(
  sources: Sources,
  rules: readonly AnalysisRule[],
  w: MeasureWindow,
  now: () => number = Date.now,
): Promise<Baseline> {
  const wanted = rules.filter((r) => r.baseline !== undefined);
  const unique = [...new Map(wanted.map((r) => [measureKey(r), r])).values()];
  const measurements = await measureAll(sources, unique, w, now);
  return { slot: w.slot, version: w.version, at: new Date(now()).toISOString(), measurements };
}

export class AnalysisRunner {
  private readonly opts: AnalysisRunnerOptions;
  private readonly now: () => number;
  private readonly run: AnalysisRun;
  private startedAt: number | null = null;
  private endsAt = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private resolve!: (o: AnalysisOutcome) => void;
  private readonly done: Promise<AnalysisOutcome>;

  constructor(opts: AnalysisRunnerOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    const lookback = opts.lookback ?? defaultLookback(opts.settings.interval, opts.window);
    const { interval, rules, minSamples, failureLimit, inconclusive } = opts.settings;
    this.run = {
      service: opts.service,
      label: opts.label ?? 'analysis',
      slot: opts.slot,
      version: opts.version,
      settings: { interval, rules, minSamples, failureLimit, inconclusive, window: opts.window, lookback },
      startedAt: null,
      endsAt: null,
      baseline: opts.baseline ?? null,
      ticks: [],
      outcome: null,
    };
    this.done = new Promise((r) => (this.resolve = r));
  }

  /** Measures the old slot over its last `windowMs` of traffic; call it before traffic moves, then start(). */
  async captureBaseline(oldSlot: SlotName, oldVersion: string, windowMs = DEFAULT_BASELINE_WINDOW_MS): Promise<Baseline> {
    const baseline = await captureBaseline(
      this.opts.sources,
      this.run.settings.rules,
      { slot: oldSlot, version: oldVersion, sinceMs: this.now() - windowMs },
      this.now,
    );
    this.run.baseline = baseline;
    this.emit({ type: 'baseline', baseline });
    return baseline;
  }

  /** Starts the clock: call it right after traffic moved. The window's counts start here. */
  async start(): Promise<void> {
    if (this.startedAt !== null || this.run.outcome !== null) return;
    const { router, prometheus, web } = this.opts.sources;
    await Promise.all([router, prometheus, web].map((s) => s?.checkpoint?.().catch(() => {})));
    if (this.run.outcome !== null) return; // stopped while checkpointing
    this.startedAt = this.now();
    this.endsAt = this.startedAt + Math.max(0, this.opts.window);
    this.run.startedAt = new Date(this.startedAt).toISOString();
    this.run.endsAt = new Date(this.endsAt).toISOString();
    this.schedule();
  }

  /** Ends the run now, if it has not ended: its outcome is inconclusive, `hold`, `stopped`. */
  stop(): void {
    if (this.run.outcome !== null) return;
    this.finish({
      verdict: 'inconclusive',
      action: 'hold',
      reason: `${this.run.label} stopped before its window ended`,
      results: [],
      at: new Date(this.now()).toISOString(),
      stopped: true,
    });
  }

  /** Resolves once, at the first definitive failure, at the end of the window, or at stop(). */
  result(): Promise<AnalysisOutcome> {
    return this.done;
  }

  /** A copy of everything measured and decided so far, for the store and the API. */
  record(): AnalysisRun {
    return structuredClone(this.run);
  }

  private schedule(): void {
    const start = this.startedAt as number;
    const t = this.now();
    const interval = this.run.settings.interval;
    const next = Math.min(start + (Math.floor((t - start) / interval) + 1) * interval, this.endsAt);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        const final = this.now() >= this.endsAt;
        (final ? this.final() : this.tick()).catch((err: Error) => {
          this.finish({
            verdict: 'inconclusive',
            action: decide('inconclusive', err.message, this.run.settings.inconclusive).action,
            reason: `analysis broke: ${err.message}`,
            results: [],
            at: new Date(this.now()).toISOString(),
          });
        });
      },
      Math.max(0, next - t),
    );
  }

  private async measure(
    sinceMs: number,
  ): Promise<{ measurements: Measurement[]; results: RuleResult[]; verdict: Verdict; reason: string }> {
    const { rules, minSamples } = this.run.settings;
    const measurements = await measureAll(
      this.opts.sources,
      rules,
      { slot: this.opts.slot, version: this.opts.version, sinceMs },
      this.now,
    );
    const base = new Map((this.run.baseline?.measurements ?? []).map((m) => [measureKey(m.rule), m]));
    const results = rules.map((rule, i) =>
      judge(rule, measurements[i] as Measurement, { minSamples, baseline: base.get(measureKey(rule)) ?? null }),
    );
    return { measurements, results, ...combine(results) };
  }

  private async tick(): Promise<void> {
    const start = this.startedAt as number;
    const m = await this.measure(Math.max(start, this.now() - this.run.settings.lookback));
    if (this.run.outcome !== null) return;
    this.failures = nextFailures(this.failures, m.verdict);
    const tick: AnalysisTick = { at: new Date(this.now()).toISOString(), kind: 'interval', ...m, consecutiveFailures: this.failures };
    this.run.ticks.push(tick);
    this.emit({ type: 'tick', tick });
    const limit = this.run.settings.failureLimit;
    if (this.failures >= limit) {
      const times = limit === 1 ? 'once' : `${limit} times in a row`;
      this.finish({
        verdict: 'fail',
        action: 'rollback',
        reason: `${this.run.label} failed ${times}: ${m.reason}`,
        results: m.results,
        at: tick.at,
      });
      return;
    }
    this.schedule();
  }

  private async final(): Promise<void> {
    const start = this.startedAt as number;
    const m = await this.measure(start);
    if (this.run.outcome !== null) return;
    const tick: AnalysisTick = { at: new Date(this.now()).toISOString(), kind: 'window', ...m, consecutiveFailures: this.failures };
    this.run.ticks.push(tick);
    this.emit({ type: 'tick', tick });
    const { action, warning } = decide(m.verdict, m.reason, this.run.settings.inconclusive);
    const w = this.opts.window;
    const over = `over its whole window (${w % 1000 === 0 ? `${w / 1000}s` : `${w}ms`})`;
    const reason =
      m.verdict === 'pass'
        ? `${this.run.label} passed ${over}: ${m.reason}`
        : `${this.run.label} ${m.verdict === 'fail' ? 'failed' : 'was inconclusive'} ${over}: ${m.reason}`;
    this.finish({ verdict: m.verdict, action, reason, ...(warning !== undefined ? { warning } : {}), results: m.results, at: tick.at });
  }

  private finish(outcome: AnalysisOutcome): void {
    if (this.run.outcome !== null) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.run.outcome = outcome;
    this.emit({ type: 'outcome', outcome });
    this.resolve(outcome);
  }

  private emit(e: AnalysisEvent): void {
    try {
      this.opts.onEvent?.(structuredClone(e));
    } catch {
      // The callback records; a recording problem must not decide a release.
    }
  }
}
