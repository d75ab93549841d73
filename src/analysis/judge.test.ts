import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AnalysisRule, SlotName } from '../config/types.ts';
import { combine, decide, judge, nextFailures, requiredSamples } from './judge.ts';
import type { Measurement, RuleResult } from './types.ts';

const AT = '2026-01-01T00:00:00.000Z';
function m(rule: AnalysisRule, value: number | null, samples: number, extra: Partial<Measurement> & { slot?: SlotName } = {}): Measurement {
  return { rule, slot: 'green', value, samples, at: AT, from: AT, ...extra };
}
const errorRate: AnalysisRule = { metric: 'error_rate', max: 0.01 };
const p99: AnalysisRule = { metric: 'p99', max: 500, baseline: 1.5 };

describe('judging one measurement', () => {
  test('a value above max fails, and the reason names the rule, the value and the threshold', () => {
    const r = judge(errorRate, m(errorRate, 0.2, 100), { minSamples: 20 });
    assert.equal(r.verdict, 'fail');
    assert.equal(r.threshold, 0.01);
    assert.equal(r.bound, 'max');
    assert.equal(r.reason, 'error_rate 20% on green is above the max 1% (over 100 requests)');
  });

  test('a value exactly at max passes: max means at most', () => {
    const r = judge(errorRate, m(errorRate, 0.01, 100), { minSamples: 20 });
    assert.equal(r.verdict, 'pass');
    assert.match(r.reason, /error_rate 1% on green is within the max 1%/);
  });

  test('a value below min fails', () => {
    const rule: AnalysisRule = { metric: 'prometheus', query: 'up', min: 1 };
    const r = judge(rule, m(rule, 0, 1), { minSamples: 20 });
    assert.equal(r.verdict, 'fail');
    assert.equal(r.bound, 'min');
    assert.match(r.reason, /prometheus `up` 0 on green is below the min 1/);
  });

  test('a baseline rule fails above factor times the old slot value and names both', () => {
    const r = judge(p99, m(p99, 451, 200), { minSamples: 20, baseline: m(p99, 300, 500, { slot: 'blue' }) });
    assert.equal(r.verdict, 'fail');
    assert.equal(r.threshold, 450);
    assert.equal(r.baselineValue, 300);
    assert.equal(r.reason, "p99 451ms on green is above 1.5x blue's 300ms = 450ms (over 200 requests)");
  });

  test('a passing baseline rule reports the tighter of max and the relative bound', () => {
    assert.equal(judge(p99, m(p99, 440, 200), { minSamples: 20, baseline: m(p99, 300, 500, { slot: 'blue' }) }).threshold, 450);
    const r = judge(p99, m(p99, 440, 200), { minSamples: 20, baseline: m(p99, 400, 500, { slot: 'blue' }) });
    assert.equal(r.verdict, 'pass');
    assert.equal(r.threshold, 500, 'max 500 is tighter than 1.5 x 400');
  });

  test('the absolute bound still fails when the baseline is above it', () => {
    const r = judge(p99, m(p99, 550, 200), { minSamples: 20, baseline: m(p99, 400, 500, { slot: 'blue' }) });
    assert.equal(r.verdict, 'fail');
    assert.equal(r.threshold, 500);
  });

  test('without a usable baseline a baseline rule is inconclusive, never a pass', () => {
    const none = judge(p99, m(p99, 100, 200), { minSamples: 20 });
    assert.equal(none.verdict, 'inconclusive');
    assert.match(none.reason, /cannot be compared with the old slot: no baseline was measured/);
    const thin = judge(p99, m(p99, 100, 200), { minSamples: 20, baseline: m(p99, 90, 30, { slot: 'blue' }) });
    assert.equal(thin.verdict, 'inconclusive');
    assert.match(thin.reason, /baseline is unusable \(30 requests on blue, fewer than the 100 a p99 needs/);
    const broken = judge(p99, m(p99, 100, 200), { minSamples: 20, baseline: m(p99, null, 0, { slot: 'blue', error: 'boom' }) });
    assert.equal(broken.verdict, 'inconclusive');
  });

  test('a breach of an absolute bound fails even when the baseline is missing', () => {
    assert.equal(judge(p99, m(p99, 900, 200), { minSamples: 20 }).verdict, 'fail');
  });

  test('fewer requests than minSamples is inconclusive, even when every one of them failed', () => {
    const r = judge(errorRate, m(errorRate, 1, 19), { minSamples: 20 });
    assert.equal(r.verdict, 'inconclusive');
    assert.equal(r.reason, 'error_rate 19 requests on green, fewer than minSamples 20: too little traffic to judge');
    assert.equal(judge(errorRate, m(errorRate, 0, 20), { minSamples: 20 }).verdict, 'pass');
  });

  test('a p99 of fewer than 100 requests is inconclusive: it would only be the slowest request', () => {
    const r = judge(p99, m(p99, 900, 99), { minSamples: 20, baseline: m(p99, 300, 500, { slot: 'blue' }) });
    assert.equal(r.verdict, 'inconclusive');
    assert.match(r.reason, /99 requests on green, fewer than the 100 a p99 needs/);
    assert.equal(requiredSamples({ metric: 'p50', max: 1 }, 20), 20);
    assert.equal(requiredSamples({ metric: 'p90', max: 1 }, 5), 10);
  });

  test('no requests at all is inconclusive even with minSamples 0', () => {
    assert.equal(requiredSamples(errorRate, 0), 1);
    assert.equal(judge(errorRate, m(errorRate, null, 0), { minSamples: 0 }).verdict, 'inconclusive');
  });

  test('a Prometheus result is one sample, so minSamples does not apply to it; an empty result is inconclusive', () => {
    const rule: AnalysisRule = { metric: 'prometheus', query: 'x', max: 5 };
    assert.equal(judge(rule, m(rule, 3, 1), { minSamples: 20 }).verdict, 'pass');
    const empty = judge(rule, m(rule, null, 0), { minSamples: 20 });
    assert.equal(empty.verdict, 'inconclusive');
    assert.match(empty.reason, /returned no data for green/);
  });

  test('a measurement that errored is inconclusive and says why', () => {
    const r = judge(errorRate, m(errorRate, null, 0, { error: 'Prometheus at http://x: ECONNREFUSED' }), { minSamples: 20 });
    assert.equal(r.verdict, 'inconclusive');
    assert.match(r.reason, /could not be measured on green: Prometheus at http:\/\/x: ECONNREFUSED/);
  });
});

describe('a tick and a run', () => {
  const res = (verdict: RuleResult['verdict'], reason: string): RuleResult => ({
    rule: errorRate,
    value: 0,
    samples: 0,
    threshold: 0,
    verdict,
    reason,
  });

  test('one failed rule fails the tick; otherwise one inconclusive rule makes it inconclusive', () => {
    assert.deepEqual(combine([res('pass', 'a'), res('fail', 'b'), res('inconclusive', 'c'), res('fail', 'd')]), {
      verdict: 'fail',
      reason: 'b; d',
    });
    assert.deepEqual(combine([res('pass', 'a'), res('inconclusive', 'c')]), { verdict: 'inconclusive', reason: 'c' });
    assert.deepEqual(combine([res('pass', 'a'), res('pass', 'b')]), { verdict: 'pass', reason: 'a; b' });
  });

  test('failures count in a row: a pass ends the streak, no data neither ends nor extends it', () => {
    const run = (vs: RuleResult['verdict'][]): number => vs.reduce(nextFailures, 0);
    assert.equal(run(['fail', 'fail']), 2);
    assert.equal(run(['fail', 'pass', 'fail']), 1);
    assert.equal(run(['fail', 'inconclusive', 'fail']), 2);
    assert.equal(run(['inconclusive', 'inconclusive']), 0);
  });

  test('a failed run rolls back and a passed one continues, whatever the inconclusive policy', () => {
    for (const policy of ['hold', 'rollback', 'pass'] as const) {
      assert.deepEqual(decide('fail', 'x', policy), { action: 'rollback' });
      assert.deepEqual(decide('pass', 'x', policy), { action: 'continue' });
    }
  });

  test('an inconclusive run holds, rolls back, or continues with a warning, as configured', () => {
    assert.deepEqual(decide('inconclusive', 'x', 'hold'), { action: 'hold' });
    assert.deepEqual(decide('inconclusive', 'x', 'rollback'), { action: 'rollback' });
    const pass = decide('inconclusive', 'too little traffic', 'pass');
    assert.equal(pass.action, 'continue');
    assert.match(pass.warning ?? '', /inconclusive \(too little traffic\); continuing only because analysis.inconclusive is pass/);
  });
});

describe('dry-run rules', () => {
  const dry: AnalysisRule = { metric: 'p99', max: 100, dryRun: true };
  test('a failing dry-run rule does not fail the tick, and its failure is in the reason, marked', () => {
    const results = [judge(errorRate, m(errorRate, 0, 100), { minSamples: 20 }), judge(dry, m(dry, 900, 200), { minSamples: 20 })];
    assert.equal(results[1]?.verdict, 'fail', 'it is still measured and judged');
    const c = combine(results);
    assert.equal(c.verdict, 'pass');
    assert.match(
      c.reason,
      /^error_rate 0% on green is within the max 1% .*; not acted on: p99 \(dry-run\) 900ms on green is above the max 100ms .*\[fail\]$/,
    );
  });

  test('with only dry-run rules a tick passes, saying so', () => {
    const c = combine([judge(dry, m(dry, null, 0), { minSamples: 20 })]);
    assert.equal(c.verdict, 'pass');
    assert.match(c.reason, /^every analysis rule is dry-run; not acted on: p99 \(dry-run\) 0 requests .*\[inconclusive\]$/);
  });
});
