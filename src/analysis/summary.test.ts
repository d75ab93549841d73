import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnalysisRule } from '../config/types.ts';
import { AnalysisRunner } from './run.ts';
import { summarize } from './summary.ts';
import type { Measurement, MetricSource } from './types.ts';

const ER: AnalysisRule = { metric: 'error_rate', max: 0.01 };

function source(values: number[]): MetricSource {
  let i = 0;
  return {
    async measure(rule, w): Promise<Measurement> {
      const value = values[Math.min(i++, values.length - 1)] as number;
      const at = new Date().toISOString();
      return { rule, slot: w.slot, value, samples: 500, at, from: at };
    },
  };
}

test('a summary says where the run is and shows each rule against its threshold in its unit', async () => {
  const r = new AnalysisRunner({
    service: 'web',
    label: 'step 10%',
    slot: 'green',
    version: 'v2',
    settings: { interval: 20, rules: [ER], minSamples: 20, failureLimit: 2, inconclusive: 'hold' },
    window: 10_000,
    sources: { router: source([0, 0.5, 0.5]) },
  });
  assert.equal(summarize(r.record()).state, 'waiting');
  await r.start();
  assert.equal(summarize(r.record()).state, 'running');
  await r.result();
  const s = summarize(r.record());
  assert.equal(s.state, 'fail');
  assert.equal(s.action, 'rollback');
  assert.deepEqual(s.ticks, { pass: 1, fail: 2, inconclusive: 0 });
  assert.equal(s.consecutiveFailures, 2);
  assert.deepEqual(
    s.rules.map(({ rule, value, threshold, verdict }) => ({ rule, value, threshold, verdict })),
    [{ rule: 'error_rate', value: '50%', threshold: '<= 1%', verdict: 'fail' }],
  );
  assert.match(s.reason, /^step 10% failed 2 times in a row: error_rate 50% on green is above the max 1%/);
});
