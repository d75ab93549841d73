// Analysis as the controller runs it: one run per shift step (window = hold) and one while observing
// (window = analysis.window), over the runtime's metric sources; every baseline, tick and outcome is
// an `analysis` event of the release. A run's action decides: continue, roll back, or hold until an
// operator promotes (or rolls back). An operator's promote also ends a run early.
import { AnalysisRunner, DEFAULT_BASELINE_WINDOW_MS, captureBaseline } from '../analysis/run.ts';
import { summarize, type AnalysisSummary } from '../analysis/summary.ts';
import type { AnalysisEvent, AnalysisOutcome, AnalysisSettings, Baseline } from '../analysis/types.ts';
import type { ReleaseRecord, StoreEvent } from '../store/types.ts';
import { CONTROLLER, type StepContext } from './context.ts';
import { type Runner, woken } from './wait.ts';

/** A tick that says the same as the last recorded one is recorded at most this often. */
const TICK_RECORD_MS = 1000;

export type Decision = { next: 'continue' } | { next: 'full' } | { next: 'rollback'; reason: string };

export interface AnalyseOptions {
  label: string;
  window: number;
  baseline: Baseline | null;
  runner: Runner;
  /** Told of the run while it lasts (and null after), so status can show it live. */
  track: (run: AnalysisRunner | null) => void;
  /** Settings that differ from the service's analysis (the standby watch's interval and verdicts). */
  settings?: Partial<AnalysisSettings>;
}

/** The old slot's baseline recorded for this release, if any (it survives a restart in the event log). */
export async function loadBaseline(ctx: StepContext, release: ReleaseRecord): Promise<Baseline | null> {
  const events = await ctx.store.events({ releaseId: release.id, order: 'desc', limit: 10_000 });
  const e = events.find((x) => x.type === 'analysis' && x.data.kind === 'baseline');
  return e ? (e.data.baseline as Baseline) : null;
}

/** Measures the old slot's recent traffic before traffic first moves, for rules with `baseline`; once per release. */
export async function ensureBaseline(ctx: StepContext, release: ReleaseRecord): Promise<Baseline | null> {
  const rules = ctx.rt.cfg.analysis.rules;
  const from = release.fromSlot;
  const version = release.data?.fromVersion;
  if (from === null || typeof version !== 'string' || !rules.some((r) => r.baseline !== undefined)) return null;
  const kept = await loadBaseline(ctx, release);
  if (kept !== null) return kept;
  const baseline = await captureBaseline(ctx.rt.sources, rules, { slot: from, version, sinceMs: Date.now() - DEFAULT_BASELINE_WINDOW_MS });
  await ctx.store.appendEvent({
    service: ctx.service,
    releaseId: release.id,
    type: 'analysis',
    actor: CONTROLLER,
    reason: `baseline of ${from} (version ${version}) measured before traffic moves`,
    data: { kind: 'baseline', baseline },
  });
  return baseline;
}

/** Runs one analysis to its decision. Throws the abort reason when the release is taken over. */
export async function analyse(ctx: StepContext, release: ReleaseRecord, opts: AnalyseOptions): Promise<Decision> {
  const { runner, label } = opts;
  const signal = runner.abort.signal;
  // An operator who promoted before this run began (`promote --full` at approval) is not made to wait.
  if (runner.promoted !== null) return operator(runner);
  let recorded: Promise<unknown> = Promise.resolve();
  // Ticks come every interval (100 ms by default): the store gets a tick when its verdict changes,
  // when it fails, and otherwise every 10 intervals (at least a second); status reads every tick
  // from the live run.
  let lastTick: { verdict: string; at: number } | null = null;
  const record = (reason: string, data: Record<string, unknown>): void => {
    recorded = recorded
      .then(() => ctx.store.appendEvent({ service: ctx.service, releaseId: release.id, type: 'analysis', actor: CONTROLLER, reason, data }))
      .catch((err) => ctx.log.warn('cannot record an analysis event', { release: release.id, err }));
  };
  const run: AnalysisRunner = new AnalysisRunner({
    service: ctx.service,
    label,
    slot: release.slot,
    version: release.version,
    settings: { ...ctx.rt.cfg.analysis, ...opts.settings },
    window: opts.window,
    sources: ctx.rt.sources,
    baseline: opts.baseline,
    onEvent: (e: AnalysisEvent) => {
      if (e.type === 'tick') {
        const at = Date.parse(e.tick.at);
        const every = Math.max(TICK_RECORD_MS, 10 * (opts.settings?.interval ?? ctx.rt.cfg.analysis.interval));
        const keep = lastTick === null || e.tick.verdict !== lastTick.verdict || e.tick.verdict === 'fail' || at - lastTick.at >= every;
        if (!keep) return;
        lastTick = { verdict: e.tick.verdict, at };
        const { measurements: _m, ...tick } = e.tick;
        record(`${label}: ${e.tick.verdict}: ${e.tick.reason}`, { kind: 'tick', label, tick });
      } else if (e.type === 'outcome') {
        record(`${label}: ${e.outcome.verdict}, ${e.outcome.action}: ${e.outcome.reason}`, {
          kind: 'outcome',
          label,
          outcome: e.outcome,
          summary: summarize(run.record()),
        });
      }
    },
  });
  const stop = (): void => run.stop();
  signal.addEventListener('abort', stop, { once: true });
  opts.track(run);
  try {
    await run.start();
    let outcome: AnalysisOutcome | null = null;
    while (outcome === null) {
      outcome = await Promise.race([run.result(), woken(runner).then(() => null)]);
      signal.throwIfAborted();
      if (outcome === null && runner.promoted !== null) {
        run.stop();
        await recorded;
        return operator(runner);
      }
    }
    await recorded;
    switch (outcome.action) {
      case 'rollback':
        return { next: 'rollback', reason: outcome.reason };
      case 'continue':
        if (outcome.warning !== undefined)
          record(`${label}: warning: ${outcome.warning}`, { kind: 'warning', label, warning: outcome.warning });
        await recorded;
        return { next: 'continue' };
      case 'hold': {
        record(`${label} holds: ${outcome.reason}; waiting for \`cutover promote ${ctx.service}\` or \`cutover rollback ${ctx.service}\``, {
          kind: 'hold',
          label,
        });
        await recorded;
        while (runner.promoted === null) {
          await woken(runner);
          signal.throwIfAborted();
        }
        return operator(runner);
      }
      default: {
        const never: never = outcome.action;
        throw new Error(`unknown analysis action ${String(never)}`);
      }
    }
  } finally {
    signal.removeEventListener('abort', stop);
    opts.track(null);
  }
}

function operator(runner: Runner): Decision {
  const p = runner.promoted;
  runner.promoted = null;
  return p?.full ? { next: 'full' } : { next: 'continue' };
}

/** The summaries of a release's finished runs (from its events), then the one running now. */
export function analysisSummaries(events: StoreEvent[], running: AnalysisRunner | null): AnalysisSummary[] {
  const done = events.filter((e) => e.type === 'analysis' && e.data.kind === 'outcome').map((e) => e.data.summary as AnalysisSummary);
  if (running !== null) {
    const live = running.record();
    if (live.outcome === null) done.push(summarize(live));
  }
  return done;
}
