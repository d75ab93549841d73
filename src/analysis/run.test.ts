import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AnalysisRule } from '../config/types.ts';
import { AnalysisRunner, captureBaseline, defaultLookback, type AnalysisRunnerOptions } from './run.ts';
import type { AnalysisEvent, MeasureWindow, Measurement, MetricSource } from './types.ts';

const ER: AnalysisRule = { metric: 'error_rate', max: 0.01 };
const INTERVAL = 20;

/** A source whose every answer comes from `value(window, call)`; `null` as value means no traffic. */
function scripted(
  value: (w: MeasureWindow, call: number) => number | null | Error,
  samples = 500,
): MetricSource & { calls: MeasureWindow[] } {
  const calls: MeasureWindow[] = [];
  return {
    calls,
    async measure(rule, w): Promise<Measurement> {
      calls.push(w);
      const v = value(w, calls.length);
      if (v instanceof Error) throw v;
      const at = new Date().toISOString();
      return { rule, slot: w.slot, value: v, samples: v === null ? 0 : samples, at, from: new Date(w.sinceMs).toISOString() };
    },
  };
}

function runner(
  source: MetricSource,
  extra: Partial<AnalysisRunnerOptions> = {},
  settings: Partial<AnalysisRunnerOptions['settings']> = {},
): { r: AnalysisRunner; events: AnalysisEvent[] } {
  const events: AnalysisEvent[] = [];
  const r = new AnalysisRunner({
    service: 'web',
    label: 'observing',
    slot: 'green',
    version: 'v2',
    settings: { interval: INTERVAL, rules: [ER], minSamples: 20, failureLimit: 2, inconclusive: 'hold', ...settings },
    window: 200,
    sources: { router: source },
    onEvent: (e) => events.push(e),
    ...extra,
  });
  return { r, events };
}

describe('an analysis run', () => {
  test('sustained failure ends the run at the failureLimit-th failed tick, with the rule, value and threshold', async () => {
    const { r, events } = runner(
      scripted(() => 0.3),
      { window: 10_000 },
    );
    const t0 = Date.now();
    await r.start();
    const out = await r.result();
    assert.equal(out.verdict, 'fail');
    assert.equal(out.action, 'rollback');
    assert.equal(out.reason, 'observing failed 2 times in a row: error_rate 30% on green is above the max 1% (over 500 requests)');
    assert.equal(out.results[0]?.value, 0.3);
    assert.equal(out.results[0]?.threshold, 0.01);
    assert.ok(Date.now() - t0 < 2000, 'it does not wait for the 10s window to end');
    const rec = r.record();
    assert.equal(rec.ticks.length, 2);
    assert.deepEqual(
      rec.ticks.map((t) => t.consecutiveFailures),
      [1, 2],
    );
    assert.deepEqual(
      events.map((e) => e.type),
      ['tick', 'tick', 'outcome'],
    );
  });

  test('one bad tick among good ones does not fail the run', async () => {
    const { r } = runner(scripted((_, n) => (n === 2 ? 0.5 : 0)));
    await r.start();
    const out = await r.result();
    assert.equal(out.verdict, 'pass');
    assert.equal(out.action, 'continue');
    assert.match(out.reason, /^observing passed over its whole window \(200ms\): error_rate 0% on green is within the max 1%/);
    const rec = r.record();
    assert.ok(
      rec.ticks.some((t) => t.verdict === 'fail'),
      'the bad tick is on record',
    );
    assert.equal(rec.ticks.at(-1)?.kind, 'window');
  });

  test('each tick looks back over the lookback, and the final judgement over the whole window', async () => {
    const src = scripted(() => 0);
    const { r } = runner(src, { window: 200, lookback: 3 * INTERVAL });
    await r.start();
    const startedAt = Date.parse(r.record().startedAt!);
    await r.result();
    const last = src.calls.at(-1)!;
    assert.equal(last.sinceMs, startedAt, 'the whole window');
    const ticks = r.record().ticks.slice(0, -1);
    for (const tick of ticks) {
      const m = tick.measurements[0]!;
      assert.ok(Date.parse(m.from) >= startedAt, 'never before the run started');
      assert.ok(Date.parse(m.at) - Date.parse(m.from) <= 3 * INTERVAL + 50, 'a tick sees only its lookback');
    }
    assert.ok(ticks.length >= 3, `${ticks.length} interval ticks in 200ms at a 20ms interval`);
  });

  test('a source that errors every time never passes, whatever the policy does with it', async () => {
    for (const policy of ['hold', 'rollback', 'pass'] as const) {
      const { r } = runner(
        scripted(() => new Error('connection refused')),
        { window: 100 },
        { inconclusive: policy },
      );
      await r.start();
      const out = await r.result();
      assert.equal(out.verdict, 'inconclusive', policy);
      assert.equal(out.action, { hold: 'hold', rollback: 'rollback', pass: 'continue' }[policy]);
      assert.match(out.reason, /error_rate could not be measured on green: measuring failed: connection refused/);
      assert.ok(r.record().ticks.every((t) => t.verdict === 'inconclusive'));
      if (policy === 'pass') assert.match(out.warning ?? '', /inconclusive .*continuing only because analysis.inconclusive is pass/);
      else assert.equal(out.warning, undefined);
    }
  });

  test('no traffic is inconclusive at the end of the window', async () => {
    const { r } = runner(
      scripted(() => null),
      { window: 100 },
    );
    await r.start();
    const out = await r.result();
    assert.equal(out.verdict, 'inconclusive');
    assert.equal(out.action, 'hold');
    assert.match(out.reason, /0 requests on green, fewer than minSamples 20: too little traffic to judge/);
  });

  test('a Prometheus rule without a Prometheus source is inconclusive, not skipped', async () => {
    const rule: AnalysisRule = { metric: 'prometheus', query: 'up', min: 1 };
    const { r } = runner(
      scripted(() => 0),
      { window: 60 },
      { rules: [ER, rule] },
    );
    await r.start();
    const out = await r.result();
    assert.equal(out.verdict, 'inconclusive');
    assert.match(out.reason, /no Prometheus source is configured; set analysis.prometheus.url/);
  });

  test('stop() ends the run at once as stopped, inconclusive and held', async () => {
    const { r, events } = runner(
      scripted(() => 0),
      { window: 60_000 },
    );
    await r.start();
    await new Promise((res) => setTimeout(res, 3 * INTERVAL));
    r.stop();
    const out = await r.result();
    assert.deepEqual([out.verdict, out.action, out.stopped], ['inconclusive', 'hold', true]);
    const ticks = r.record().ticks.length;
    await new Promise((res) => setTimeout(res, 3 * INTERVAL));
    assert.equal(r.record().ticks.length, ticks, 'no tick after stop');
    assert.equal(events.at(-1)?.type, 'outcome');
  });

  test('the baseline is measured on the old slot and judges the new one', async () => {
    const p99: AnalysisRule = { metric: 'p99', baseline: 1.5 };
    const src = scripted((w) => (w.slot === 'blue' ? 100 : 160));
    const { r, events } = runner(src, { window: 100 }, { rules: [p99] });
    const b = await r.captureBaseline('blue', 'v1', 30_000);
    assert.equal(b.measurements[0]?.value, 100);
    assert.equal(src.calls[0]?.version, 'v1');
    assert.ok(Date.now() - src.calls[0]!.sinceMs >= 30_000);
    await r.start();
    const out = await r.result();
    assert.equal(out.verdict, 'fail');
    assert.match(out.reason, /p99 160ms on green is above 1.5x blue's 100ms = 150ms/);
    assert.equal(out.results[0]?.baselineValue, 100);
    assert.equal(events[0]?.type, 'baseline');
  });

  test('a baseline read back from the store still matches its rules', async () => {
    const p99: AnalysisRule = { metric: 'p99', max: 1000, baseline: 2 };
    const src = scripted((w) => (w.slot === 'blue' ? 100 : 150));
    const stored = JSON.parse(
      JSON.stringify(await captureBaseline({ router: src }, [ER, p99], { slot: 'blue', version: 'v1', sinceMs: 0 })),
    );
    assert.equal(stored.measurements.length, 1, 'only rules with a baseline are measured');
    const { r } = runner(src, { window: 60, baseline: stored }, { rules: [{ ...p99 }] });
    await r.start();
    assert.equal((await r.result()).verdict, 'pass');
  });

  test('the run record survives a JSON round trip unchanged', async () => {
    const { r } = runner(
      scripted(() => 0.001),
      { window: 80 },
    );
    await r.start();
    await r.result();
    const rec = r.record();
    assert.deepEqual(JSON.parse(JSON.stringify(rec)), rec);
    assert.equal(rec.outcome?.verdict, 'pass');
    assert.equal(rec.settings.lookback, defaultLookback(INTERVAL, 80));
  });

  test('a callback that throws does not change the verdict', async () => {
    const { r } = runner(
      scripted(() => 0),
      {
        window: 60,
        onEvent: () => {
          throw new Error('store down');
        },
      },
    );
    await r.start();
    assert.equal((await r.result()).verdict, 'pass');
  });
});
