import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnalysisRule } from '../config/types.ts';
import type { BalancerCounters } from '../traffic/types.ts';
import { BalancerSource, NoEvidenceSource, deltaOf } from './balancer-source.ts';

const ER: AnalysisRule = { metric: 'error_rate', max: 0.01 };

function counters(process: string, green: Record<string, [requests: number, errors: number, mean?: number]>): BalancerCounters {
  const slot = Object.fromEntries(Object.entries(green).map(([n, [r, e, m]]) => [n, { requests: r, errors: e, recentMeanMs: m ?? null }]));
  return { process, slots: { blue: {}, green: slot } };
}

test('a window of a slot sums what each of its servers counted in it', () => {
  const d = deltaOf(counters('p1', { a: [150, 12, 10], b: [80, 0, 30] }), counters('p1', { a: [100, 2], b: [60, 0] }), 'green');
  assert.deepEqual(d, { requests: 70, errors: 10, meanMs: (50 * 10 + 20 * 30) / 70 });
});

test('after a balancer restart, or a server added again, its counts start from 0 instead of going backwards', () => {
  assert.equal(deltaOf(counters('p2', { a: [30, 3] }), counters('p1', { a: [20, 0] }), 'green').requests, 30, 'a new process');
  assert.deepEqual(deltaOf(counters('p1', { a: [5, 5] }), counters('p1', { a: [900, 0] }), 'green'), {
    requests: 5,
    errors: 5,
    meanMs: null,
  });
  assert.equal(deltaOf(counters('p1', { a: [10, 0], b: [4, 4] }), counters('p1', { a: [10, 0] }), 'green').errors, 4, 'a new server');
});

test('the balancer source judges the error rate of the window from snapshots, and says why it cannot give quantiles', async () => {
  let clock = 1_000_000;
  let now = counters('p1', { a: [0, 0] });
  const src = new BalancerSource(async () => now, { interval: 1000, kind: 'haproxy', now: () => clock });
  await src.checkpoint();
  const since = clock;
  clock += 1000;
  now = counters('p1', { a: [200, 4] });
  const m = await src.measure(ER, { slot: 'green', version: 'v2', sinceMs: since });
  assert.deepEqual([m.value, m.samples, m.error], [0.02, 200, undefined]);
  const p99 = await src.measure({ metric: 'p99', max: 500 }, { slot: 'green', version: 'v2', sinceMs: since });
  assert.equal(p99.value, null);
  assert.match(p99.error ?? '', /haproxy counts no latency quantiles .* p99 \(max 500ms\) .*prometheus or web rule/);
});

test('a balancer that cannot be read measures nothing, with the reason', async () => {
  const src = new BalancerSource(() => Promise.reject(new Error('connection refused')), { interval: 1000, kind: 'haproxy' });
  const m = await src.measure(ER, { slot: 'green', version: 'v2', sinceMs: Date.now() });
  assert.equal(m.value, null);
  assert.match(m.error ?? '', /reading haproxy's counters failed: connection refused/);
});

test('behind a balancer without counters every built-in measurement says there is no evidence and what to use', async () => {
  const m = await new NoEvidenceSource('nginx').measure(ER, { slot: 'green', version: 'v2', sinceMs: Date.now() });
  assert.equal(m.value, null);
  assert.match(m.error ?? '', /through nginx, not cutover's router.*no evidence.*prometheus rule.*web rule/);
});
